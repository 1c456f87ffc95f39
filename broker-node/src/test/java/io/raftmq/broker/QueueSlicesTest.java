package io.raftmq.broker;

import static org.assertj.core.api.Assertions.assertThat;

import io.raftmq.logstore.FetchSlice;
import io.raftmq.logstore.LogStoreConfig;
import io.raftmq.logstore.PartitionLog;
import io.raftmq.protocol.LeaseRuns;
import io.raftmq.raft.proto.PartitionReply;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link QueueHandler#slicesFor}: which file regions a queue receive sends for its leased offsets. */
class QueueSlicesTest {
  @TempDir
  Path dir;

  /** One batch frame seen in a slice: base offset, record count. */
  private record Frame(long base, int count) {
    boolean contains(long offset) {
      return offset >= base && offset < base + count;
    }
  }

  @Test
  void everyLeasedOffsetIsSentOnceAndARunIsOneRegionPerSegment() throws IOException {
    try (PartitionLog log = PartitionLog.open(dir, LogStoreConfig.builder().segmentSizeBytes(1 << 20).build())) {
      append(log, 400, 20, 1000, new Random(1)); // 8,000 records of ~1 KiB in batches of 20: ~8 segments
      List<Long> leased = new ArrayList<>();
      for (long o = 1_003; o < 3_003; o++) {
        leased.add(o);
      }
      List<FetchSlice> slices = QueueHandler.slicesFor(log, reply(leased));
      List<Frame> frames = frames(slices);
      assertCovered(frames, leased);
      long segmentsSpanned = log.segmentFiles().stream()
          .filter(f -> {
            long base = Long.parseLong(f.path().getFileName().toString().replace(".log", ""));
            return base <= 3_003;
          }).count();
      assertThat(slices.size()).as("regions for one run of 2,000 offsets").isLessThanOrEqualTo((int) segmentsSpanned + 2);
      assertThat(frames.size()).as("frames sent, at most one without a leased offset at the end")
          .isLessThanOrEqualTo(2_000 / 20 + 2);
    }
  }

  @Test
  void scatteredAndRunningOffsetsOfUnevenBatchesAreEachCoveredOnce() throws IOException {
    Random random = new Random(7);
    try (PartitionLog log = PartitionLog.open(dir, LogStoreConfig.builder().segmentSizeBytes(64 << 10)
        .indexIntervalBytes(512).build())) {
      append(log, 600, 0, 0, random); // batches of 1-40 records, 10 B - 3 KiB each
      long end = log.nextOffset();
      for (int round = 0; round < 200; round++) {
        TreeSet<Long> pick = new TreeSet<>();
        int runs = 1 + random.nextInt(30);
        for (int r = 0; r < runs; r++) {
          long from = (long) (random.nextDouble() * end);
          int length = random.nextInt(4) == 0 ? 1 : 1 + random.nextInt(300);
          for (long o = from; o < Math.min(end, from + length); o++) {
            pick.add(o);
          }
        }
        List<Long> leased = new ArrayList<>(pick);
        assertCovered(frames(QueueHandler.slicesFor(log, reply(leased))), leased);
      }
    }
  }

  @Test
  void noLeasesNoRegions() throws IOException {
    try (PartitionLog log = PartitionLog.open(dir, LogStoreConfig.defaults())) {
      append(log, 10, 5, 100, new Random(3));
      assertThat(QueueHandler.slicesFor(log, reply(List.of()))).isEmpty();
    }
  }

  @Test
  void newRecordsOfAnAcquireEndWhereABatchEndsUnlessThatLeavesNone() throws IOException {
    try (PartitionLog log = PartitionLog.open(dir, LogStoreConfig.builder().segmentSizeBytes(64 << 10)
        .indexIntervalBytes(512).build())) {
      append(log, 100, 10, 100, new Random(5)); // offsets 0-999 in batches of 10, over several segments
      long hw = log.nextOffset();
      assertThat(QueueHandler.alignedCount(log, 0, 25, hw)).as("cut inside the third batch").isEqualTo(20);
      assertThat(QueueHandler.alignedCount(log, 20, 30, hw)).as("already at a boundary").isEqualTo(30);
      assertThat(QueueHandler.alignedCount(log, 40, 7, hw)).as("less than one batch: kept").isEqualTo(7);
      assertThat(QueueHandler.alignedCount(log, 43, 12, hw)).as("from inside a batch to inside the next")
          .isEqualTo(7);
      assertThat(QueueHandler.alignedCount(log, 990, 10, hw)).as("up to the high watermark").isEqualTo(10);
      assertThat(QueueHandler.alignedCount(log, 995, 3, 998)).as("cut at hw, inside a batch").isEqualTo(3);
      assertThat(QueueHandler.alignedCount(log, 0, 0, hw)).isZero();
      // Acquire after acquire, each ends where the next starts, on a batch boundary.
      long from = 0;
      Random random = new Random(9);
      while (from < hw) {
        int want = (int) Math.min(hw - from, 1 + random.nextInt(60));
        int got = QueueHandler.alignedCount(log, from, want, hw);
        assertThat(got).isBetween(1, want);
        if (want >= 10) {
          assertThat((from + got) % 10).as("an acquire of %d from %d ends on a batch", want, from).isZero();
        }
        from += got;
      }
      assertThat(from).isEqualTo(hw);
    }
  }

  /** Appends {@code batches} batches of {@code count} records of {@code size} bytes (0: random). */
  private static void append(PartitionLog log, int batches, int count, int size, Random random) throws IOException {
    long base = log.nextOffset() < 0 ? 0 : log.nextOffset();
    for (int i = 0; i < batches; i++) {
      int n = count > 0 ? count : 1 + random.nextInt(40);
      int bytes = size > 0 ? size * n : 10 + random.nextInt(3_000);
      log.append(base, n, i + 1, i, i, 0, ByteBuffer.allocate(bytes));
      base += n;
    }
  }

  private static PartitionReply reply(List<Long> leased) {
    PartitionReply.Builder b = PartitionReply.newBuilder();
    LeaseRuns.Writer runs = new LeaseRuns.Writer(b::addLeasedRuns);
    for (long o : leased) {
      runs.add(o, 1);
    }
    runs.flush();
    return b.build();
  }

  private static List<Frame> frames(List<FetchSlice> slices) throws IOException {
    List<Frame> out = new ArrayList<>();
    for (FetchSlice s : slices) {
      ByteBuffer b = s.readFully();
      long last = -1;
      while (b.hasRemaining()) {
        int at = b.position();
        Frame f = new Frame(b.getLong(at), b.getInt(at + 18));
        out.add(f);
        last = f.base + f.count;
        b.position(at + 12 + b.getInt(at + 8));
      }
      assertThat(s.nextOffset()).as("the slice's next offset").isEqualTo(last);
    }
    return out;
  }

  private static void assertCovered(List<Frame> frames, List<Long> leased) {
    Set<Long> bases = new HashSet<>();
    for (Frame f : frames) {
      assertThat(bases.add(f.base)).as("batch at %d sent once", f.base).isTrue();
    }
    for (int i = 1; i < frames.size(); i++) {
      assertThat(frames.get(i).base).as("frames in offset order").isGreaterThan(frames.get(i - 1).base);
    }
    for (long o : leased) {
      assertThat(frames.stream().filter(f -> f.contains(o)).count()).as("frames holding offset %d", o).isEqualTo(1);
    }
  }
}
