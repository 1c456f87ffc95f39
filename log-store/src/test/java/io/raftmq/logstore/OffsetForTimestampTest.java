package io.raftmq.logstore;

import static io.raftmq.logstore.TestBatches.append;
import static io.raftmq.logstore.TestBatches.smallSegments;
import static org.assertj.core.api.Assertions.assertThat;

import io.raftmq.logstore.TestBatches.Batch;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class OffsetForTimestampTest {
  @TempDir Path dir;

  private static long expected(List<Batch> batches, long timestampMs) {
    for (Batch b : batches) {
      if (b.maxTimestamp() >= timestampMs) {
        return b.baseOffset();
      }
    }
    return -1;
  }

  private static List<Batch> appendWithTimestamps(PartitionLog log, long[] maxTimestamps) throws IOException {
    List<Batch> out = new ArrayList<>();
    long base = log.nextOffset();
    for (int i = 0; i < maxTimestamps.length; i++) {
      Batch b = new Batch(base, 2, log.lastRaftIndex() + 1, i, maxTimestamps[i], 0, new byte[30 + i % 20]);
      append(log, b);
      out.add(b);
      base = b.nextOffset();
    }
    return out;
  }

  @Test
  void shouldFindTheFirstBatchAtOrAfterATimestampAcrossSegmentRolls() throws IOException {
    try (PartitionLog log = PartitionLog.open(dir, smallSegments(600, 150))) {
      long[] ts = new long[300];
      for (int i = 0; i < ts.length; i++) {
        ts[i] = 1000 + i * 10L;
      }
      List<Batch> batches = appendWithTimestamps(log, ts);
      assertThat(log.segmentFiles()).hasSizeGreaterThan(10);

      assertThat(log.offsetForTimestamp(Long.MIN_VALUE)).isEqualTo(0);
      assertThat(log.offsetForTimestamp(0)).isEqualTo(0);
      assertThat(log.offsetForTimestamp(1000)).isEqualTo(0);
      assertThat(log.offsetForTimestamp(1001)).isEqualTo(2);
      assertThat(log.offsetForTimestamp(ts[ts.length - 1])).isEqualTo(batches.get(ts.length - 1).baseOffset());
      assertThat(log.offsetForTimestamp(ts[ts.length - 1] + 1)).isEqualTo(-1);
      for (long t = 990; t <= 4000; t++) {
        assertThat(log.offsetForTimestamp(t)).as("t=%d", t).isEqualTo(expected(batches, t));
      }
    }
  }

  @Test
  void shouldReturnTheFirstOfBatchesWithEqualTimestamps() throws IOException {
    try (PartitionLog log = PartitionLog.open(dir, smallSegments(400, 60))) {
      List<Batch> batches = appendWithTimestamps(log, new long[] {5, 7, 7, 7, 7, 7, 7, 7, 7, 9, 9, 9, 9, 9, 9, 12});
      assertThat(log.segmentFiles()).hasSizeGreaterThan(1);

      assertThat(log.offsetForTimestamp(6)).isEqualTo(batches.get(1).baseOffset());
      assertThat(log.offsetForTimestamp(7)).isEqualTo(batches.get(1).baseOffset());
      assertThat(log.offsetForTimestamp(8)).isEqualTo(batches.get(9).baseOffset());
      assertThat(log.offsetForTimestamp(9)).isEqualTo(batches.get(9).baseOffset());
      assertThat(log.offsetForTimestamp(12)).isEqualTo(batches.get(15).baseOffset());
      assertThat(log.offsetForTimestamp(13)).isEqualTo(-1);
    }
  }

  @Test
  void shouldMatchABruteForceSearchWhenTimestampsAreNotMonotonic() throws IOException {
    long seed = System.nanoTime();
    System.out.println("OffsetForTimestampTest seed=" + seed);
    Random random = new Random(seed);
    try (PartitionLog log = PartitionLog.open(dir, smallSegments(500, 1 + random.nextInt(200)))) {
      long[] ts = new long[400];
      for (int i = 0; i < ts.length; i++) {
        ts[i] = random.nextInt(2000) + i * 3L;
      }
      List<Batch> batches = appendWithTimestamps(log, ts);
      for (long t = -5; t < 3300; t += 1 + random.nextInt(3)) {
        assertThat(log.offsetForTimestamp(t)).as("seed=%d t=%d", seed, t).isEqualTo(expected(batches, t));
      }
    }
  }
}
