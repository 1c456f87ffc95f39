package io.raftmq.logstore;

import static io.raftmq.logstore.TestBatches.appendBatches;
import static io.raftmq.logstore.TestBatches.logFiles;
import static io.raftmq.logstore.TestBatches.readAll;
import static io.raftmq.logstore.TestBatches.smallSegments;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.raftmq.logstore.TestBatches.Batch;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RetentionTest {
  @TempDir Path dir;
  private final LogStoreConfig config = smallSegments(500, 100);

  private static long base(SegmentFile f) {
    return Long.parseLong(f.path().getFileName().toString().replace(".log", ""));
  }

  @Test
  void shouldDeleteOnlyWholeSegmentsBelowTheNewLogStart() throws IOException {
    try (PartitionLog log = PartitionLog.open(dir, config)) {
      List<Batch> batches = appendBatches(log, 60);
      List<SegmentFile> before = log.segmentFiles();
      assertThat(before).hasSizeGreaterThan(4);
      long thirdBase = base(before.get(2));
      long newStart = thirdBase + 1; // inside the third segment

      log.deleteSegmentsBelow(newStart);

      assertThat(log.logStartOffset()).isEqualTo(newStart);
      assertThat(log.segmentFiles()).containsExactlyElementsOf(before.subList(2, before.size()));
      assertThat(logFiles(dir)).hasSize(before.size() - 2);
      assertThat(TestBatches.indexFiles(dir)).noneMatch(p -> p.getFileName().toString().startsWith(
          before.get(0).path().getFileName().toString().replace(".log", "")));
      assertThat(log.sizeInBytes()).isEqualTo(before.subList(2, before.size()).stream().mapToLong(SegmentFile::sizeBytes).sum());
      assertThatThrownBy(() -> log.read(newStart - 1, 100))
          .isInstanceOfSatisfying(OffsetOutOfRangeException.class, e -> {
            assertThat(e.logStartOffset()).isEqualTo(newStart);
            assertThat(e.nextOffset()).isEqualTo(log.nextOffset());
          });
      // The batch straddling the new start is still readable from the new start.
      List<Batch> remaining = readAll(log, newStart, 1000);
      assertThat(remaining.get(0).contains(newStart)).isTrue();
      assertThat(remaining).containsExactlyElementsOf(batches.subList(batches.indexOf(remaining.get(0)), batches.size()));
      assertThat(log.offsetForTimestamp(Long.MIN_VALUE)).isEqualTo(newStart);
    }
  }

  @Test
  void shouldNeverDeleteTheActiveSegmentAndClampToNextOffset() throws IOException {
    try (PartitionLog log = PartitionLog.open(dir, config)) {
      List<Batch> batches = appendBatches(log, 40);
      List<SegmentFile> before = log.segmentFiles();
      long end = log.nextOffset();

      log.deleteSegmentsBelow(end + 1000);

      assertThat(log.logStartOffset()).isEqualTo(end);
      assertThat(log.segmentFiles()).containsExactly(before.get(before.size() - 1));
      assertThat(log.read(end, 100).isEmpty()).isTrue();
      assertThat(log.isEmpty()).isFalse();
      assertThat(log.offsetForTimestamp(Long.MIN_VALUE)).isEqualTo(-1);
      Batch next = TestBatches.batch(end, batches.get(batches.size() - 1).raftIndex() + 1, 5);
      TestBatches.append(log, next);
      assertThat(readAll(log, end, 100)).containsExactly(next);
    }
  }

  @Test
  void shouldNotMoveTheLogStartBackwards() throws IOException {
    try (PartitionLog log = PartitionLog.open(dir, config)) {
      appendBatches(log, 40);
      log.deleteSegmentsBelow(30);
      int segments = log.segmentFiles().size();

      log.deleteSegmentsBelow(10);

      assertThat(log.logStartOffset()).isEqualTo(30);
      assertThat(log.segmentFiles()).hasSize(segments);
    }
  }

  @Test
  void shouldStartAtTheFirstRemainingSegmentAfterReopen() throws IOException {
    List<Batch> batches;
    long firstKept;
    try (PartitionLog log = PartitionLog.open(dir, config)) {
      batches = appendBatches(log, 60);
      long newStart = base(log.segmentFiles().get(3)) + 2;
      log.deleteSegmentsBelow(newStart);
      firstKept = base(log.segmentFiles().get(0));
      assertThat(firstKept).isLessThan(newStart);
    }

    try (PartitionLog log = PartitionLog.open(dir, config)) {
      // Documented: the log start is not persisted; it is the first remaining segment's base.
      assertThat(log.logStartOffset()).isEqualTo(firstKept);
      assertThat(log.nextOffset()).isEqualTo(batches.get(batches.size() - 1).nextOffset());
      assertThatThrownBy(() -> log.read(firstKept - 1, 10)).isInstanceOf(OffsetOutOfRangeException.class);
      List<Batch> kept = batches.stream().filter(b -> b.baseOffset() >= firstKept).toList();
      assertThat(readAll(log)).containsExactlyElementsOf(kept);
      log.deleteSegmentsBelow(firstKept + 2);
      assertThat(log.logStartOffset()).isEqualTo(firstKept + 2);
    }
  }
}
