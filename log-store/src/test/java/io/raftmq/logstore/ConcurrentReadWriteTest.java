package io.raftmq.logstore;

import static io.raftmq.logstore.TestBatches.parse;
import static io.raftmq.logstore.TestBatches.smallSegments;
import static org.assertj.core.api.Assertions.assertThat;

import io.raftmq.logstore.TestBatches.Batch;
import java.nio.channels.ClosedChannelException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Queue;
import java.util.Random;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ConcurrentReadWriteTest {
  @TempDir Path dir;

  @Test
  void shouldOnlyEverShowReadersWholeValidContiguousBatchesWhileOneThreadAppendsAndDeletes() throws Exception {
    int batchCount = 6000;
    int readers = 4;
    long seed = System.nanoTime();
    System.out.println("ConcurrentReadWriteTest seed=" + seed);
    Queue<Throwable> failures = new ConcurrentLinkedQueue<>();
    AtomicBoolean done = new AtomicBoolean();
    AtomicLong slicesChecked = new AtomicLong();
    CountDownLatch readersStarted = new CountDownLatch(readers);
    ExecutorService pool = Executors.newFixedThreadPool(readers + 1);
    try (PartitionLog log = PartitionLog.open(dir, smallSegments(4096, 256))) {
      List<Future<?>> readerFutures = new java.util.ArrayList<>();
      for (int r = 0; r < readers; r++) {
        Random random = new Random(seed + r);
        readerFutures.add(pool.submit(() -> {
          readersStarted.countDown();
          while (!done.get() && failures.isEmpty()) {
            long end = log.nextOffset();
            long start = log.logStartOffset();
            long offset = start + (long) (random.nextDouble() * (end - start + 1));
            try {
              FetchSlice slice = log.read(offset, random.nextInt(3000));
              List<Batch> batches = parse(slice);
              if (offset < end) {
                assertThat(batches).isNotEmpty();
                assertThat(batches.get(0).contains(offset)).as("first batch contains %d", offset).isTrue();
                assertThat(slice.nextOffset()).as("next offset of a slice read at %d", offset)
                    .isEqualTo(batches.get(batches.size() - 1).nextOffset());
              }
              for (Batch b : batches) {
                assertThat(b.raftIndex()).isEqualTo(b.baseOffset() * 3 + 1);
                assertThat(b.payload()).hasSize((int) (b.baseOffset() % 200));
                assertThat(b.nextOffset()).isLessThanOrEqualTo(log.nextOffset());
              }
              long t = log.offsetForTimestamp(random.nextInt(batchCount));
              assertThat(t).isLessThanOrEqualTo(log.nextOffset());
              slicesChecked.incrementAndGet();
            } catch (OffsetOutOfRangeException | ClosedChannelException e) {
              // Fine only if retention moved the start past the offset meanwhile.
              if (offset >= log.logStartOffset()) {
                failures.add(new AssertionError("offset " + offset + " in range, seed " + seed, e));
              }
            } catch (Throwable e) {
              failures.add(new AssertionError("reader failed at offset " + offset + ", seed " + seed, e));
            }
          }
          return null;
        }));
      }
      Future<?> writer = pool.submit(() -> {
        readersStarted.await();
        for (int i = 0; i < batchCount && failures.isEmpty(); i++) {
          long base = log.nextOffset();
          log.append(base, 1, base * 3 + 1, i, i, 0, java.nio.ByteBuffer.allocate((int) (base % 200)));
          if (i % 1000 == 999) {
            log.deleteSegmentsBelow(base - 500);
          }
        }
        done.set(true);
        return null;
      });
      Awaitility.await().atMost(Duration.ofMinutes(2)).until(writer::isDone);
      writer.get();
      pool.shutdown();
      assertThat(pool.awaitTermination(1, TimeUnit.MINUTES)).isTrue();
      for (Future<?> f : readerFutures) {
        f.get();
      }
      failures.forEach(Throwable::printStackTrace);
      assertThat(failures).isEmpty();
      assertThat(slicesChecked.get()).isGreaterThan(100);
      assertThat(log.nextOffset()).isEqualTo(batchCount);
      assertThat(TestBatches.readAll(log)).hasSize((int) (batchCount - log.logStartOffset()));
    } finally {
      pool.shutdownNow();
    }
  }
}
