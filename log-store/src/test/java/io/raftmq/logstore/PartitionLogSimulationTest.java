package io.raftmq.logstore;

import static io.raftmq.logstore.TestBatches.parse;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.raftmq.logstore.TestBatches.Batch;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Seeded random appends, rolls, reopens, torn tails, retention and flushes against a plain in-memory
 * model, with the invariants checked after every step. A failing seed is printed; pin it in
 * {@link #shouldMatchTheModelForPinnedSeeds()}.
 */
class PartitionLogSimulationTest {
  @TempDir Path tmp;

  @Test
  void shouldMatchTheModelForARandomSeed() throws IOException {
    long seed = System.nanoTime();
    System.out.println("PartitionLogSimulationTest seed=" + seed);
    new Simulation(seed, tmp.resolve("random")).run(2500);
  }

  @Test
  void shouldMatchTheModelForPinnedSeeds() throws IOException {
    for (long seed : new long[] {1, 2, 3, 42}) {
      new Simulation(seed, tmp.resolve("seed-" + seed)).run(800);
    }
  }

  private static final class Simulation {
    private final long seed;
    private final Random random;
    private final Path dir;
    private final LogStoreConfig config;
    private PartitionLog log;
    // The model: the batches the files hold (oldest first) and the log start offset.
    private final List<Batch> batches = new ArrayList<>();
    private long logStart;
    private long raftCounter;
    private int step;

    Simulation(long seed, Path dir) {
      this.seed = seed;
      this.random = new Random(seed);
      this.dir = dir;
      this.config = TestBatches.smallSegments(100 + random.nextInt(3000), random.nextInt(500));
    }

    void run(int steps) throws IOException {
      log = PartitionLog.open(dir, config);
      try {
        for (step = 0; step < steps; step++) {
          int op = random.nextInt(100);
          if (op < 60) {
            append();
          } else if (op < 66) {
            reopen();
          } else if (op < 71) {
            tearTail();
          } else if (op < 76) {
            deleteSegmentsBelow();
          } else if (op < 80) {
            log.flush();
          } else if (op < 82) {
            rejectBadAppend();
          }
          checkInvariants();
        }
      } catch (AssertionError | RuntimeException | IOException e) {
        throw new AssertionError("seed " + seed + " failed at step " + step + " with " + config, e);
      } finally {
        log.close();
      }
    }

    private long next() {
      return batches.isEmpty() ? 0 : batches.get(batches.size() - 1).nextOffset();
    }

    private void append() throws IOException {
      long base = batches.isEmpty() ? random.nextInt(1000) : next();
      raftCounter += 1 + random.nextInt(3);
      byte[] payload = new byte[random.nextInt(300)];
      random.nextBytes(payload);
      Batch b = new Batch(base, 1 + random.nextInt(5), raftCounter, random.nextInt(1_000_000),
          step * 10L + random.nextInt(200) - 100, random.nextInt(8), payload);
      assertThat(TestBatches.append(log, b)).isEqualTo(b.frameSize());
      if (batches.isEmpty()) {
        logStart = base;
      }
      batches.add(b);
    }

    private void rejectBadAppend() {
      long badBase = batches.isEmpty() ? -1 - random.nextInt(5) : next() + 1 + random.nextInt(5);
      assertThatThrownBy(() -> log.append(badBase, 1, raftCounter + 1, 0, 0, 0, java.nio.ByteBuffer.allocate(3)))
          .isInstanceOf(IllegalArgumentException.class);
      if (!batches.isEmpty()) {
        assertThatThrownBy(() -> log.append(next(), 1, log.lastRaftIndex(), 0, 0, 0, java.nio.ByteBuffer.allocate(3)))
            .isInstanceOf(IllegalArgumentException.class);
      }
    }

    private void reopen() throws IOException {
      log.close();
      if (random.nextInt(4) == 0) {
        TestBatches.deleteIndexFiles(dir);
      }
      log = PartitionLog.open(dir, config);
      afterReopen();
    }

    /** Model of reopen: the start is the first remaining segment's base. */
    private void afterReopen() throws IOException {
      List<Path> files = TestBatches.logFiles(dir);
      if (files.isEmpty()) {
        assertThat(batches).isEmpty();
        logStart = 0;
      } else {
        logStart = baseOf(files.get(0));
      }
    }

    private void tearTail() throws IOException {
      log.close();
      List<Path> files = TestBatches.logFiles(dir);
      if (!files.isEmpty()) {
        Path last = files.get(files.size() - 1);
        long lastBase = baseOf(last);
        long size = Files.size(last);
        long cut = random.nextInt(3) == 0 ? size - 1 - random.nextInt(20) : (long) (random.nextDouble() * size);
        cut = Math.max(0, Math.min(size, cut));
        try (FileChannel ch = FileChannel.open(last, StandardOpenOption.WRITE)) {
          ch.truncate(cut);
        }
        long position = 0;
        List<Batch> kept = new ArrayList<>();
        for (Batch b : batches) {
          if (b.baseOffset() < lastBase) {
            kept.add(b);
          } else {
            position += b.frameSize();
            if (position <= cut) {
              kept.add(b);
            }
          }
        }
        batches.clear();
        batches.addAll(kept);
      }
      log = PartitionLog.open(dir, config);
      afterReopen();
    }

    private void deleteSegmentsBelow() throws IOException {
      long target = logStart - 10 + (long) (random.nextDouble() * (next() - logStart + 30));
      log.deleteSegmentsBelow(target);
      logStart = Math.max(logStart, Math.min(target, next()));
      List<Path> files = TestBatches.logFiles(dir);
      if (!files.isEmpty()) {
        long firstBase = baseOf(files.get(0));
        assertThat(firstBase).isLessThanOrEqualTo(logStart);
        if (files.size() > 1) {
          assertThat(baseOf(files.get(1))).as("only whole segments below the start go").isGreaterThan(logStart);
        }
        batches.removeIf(b -> b.baseOffset() < firstBase);
      }
    }

    private static long baseOf(Path file) {
      return Long.parseLong(file.getFileName().toString().replace(".log", ""));
    }

    private void checkInvariants() throws IOException {
      assertThat(log.nextOffset()).as("nextOffset").isEqualTo(next());
      assertThat(log.logStartOffset()).as("logStartOffset").isEqualTo(logStart);
      assertThat(log.isEmpty()).isEqualTo(batches.isEmpty());
      assertThat(log.lastRaftIndex()).isEqualTo(batches.isEmpty() ? -1 : batches.get(batches.size() - 1).raftIndex());
      assertThat(log.sizeInBytes()).isEqualTo(batches.stream().mapToLong(Batch::frameSize).sum());
      if (batches.isEmpty()) {
        assertThat(log.read(0, 10).isEmpty()).isTrue();
        return;
      }
      for (int i = 0; i < 3; i++) {
        long offset = logStart + (long) (random.nextDouble() * (next() - logStart + 1));
        int maxBytes = random.nextInt(2000);
        FetchSlice slice = log.read(offset, maxBytes);
        List<Batch> got = parse(slice);
        if (offset == next()) {
          assertThat(got).isEmpty();
          continue;
        }
        int first = indexContaining(offset);
        assertThat(got).isNotEmpty();
        assertThat(got).containsExactlyElementsOf(batches.subList(first, first + got.size()));
        assertThat(slice.nextOffset()).as("nextOffset of the slice").isEqualTo(got.get(got.size() - 1).nextOffset());
        assertThat(slice.sizeInBytes()).isLessThanOrEqualTo(Math.max(maxBytes, got.get(0).frameSize()));
        long t = random.nextInt(step * 10 + 300) - 200;
        assertThat(log.offsetForTimestamp(t)).as("offsetForTimestamp(%d)", t).isEqualTo(expectedOffsetFor(t));
      }
      if (logStart > 0) {
        assertThatThrownBy(() -> log.read(logStart - 1, 10)).isInstanceOf(OffsetOutOfRangeException.class);
      }
      assertThatThrownBy(() -> log.read(next() + 1, 10)).isInstanceOf(OffsetOutOfRangeException.class);
      if (step % 50 == 0) {
        List<Batch> all = TestBatches.readAll(log, logStart, random.nextInt(5000));
        int first = indexContaining(logStart);
        assertThat(all).containsExactlyElementsOf(batches.subList(first < 0 ? batches.size() : first, batches.size()));
      }
    }

    private int indexContaining(long offset) {
      for (int i = 0; i < batches.size(); i++) {
        if (batches.get(i).contains(offset)) {
          return i;
        }
      }
      return -1;
    }

    private long expectedOffsetFor(long t) {
      for (Batch b : batches) {
        if (b.nextOffset() > logStart && b.maxTimestamp() >= t) {
          return Math.max(b.baseOffset(), logStart);
        }
      }
      return -1;
    }
  }
}
