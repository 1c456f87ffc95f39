package io.raftmq.logstore;

import static io.raftmq.logstore.TestBatches.append;
import static io.raftmq.logstore.TestBatches.appendBatches;
import static io.raftmq.logstore.TestBatches.parse;
import static io.raftmq.logstore.TestBatches.readAll;
import static io.raftmq.logstore.TestBatches.smallSegments;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import io.raftmq.logstore.TestBatches.Batch;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.WritableByteChannel;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PartitionLogReadTest {
  @TempDir Path dir;

  @Test
  void shouldReadTheBatchContainingTheFirstMiddleAndLastOffset() throws IOException {
    try (PartitionLog log = PartitionLog.open(dir, LogStoreConfig.defaults())) {
      Batch a = new Batch(100, 5, 1, 10, 20, 0, new byte[] {1, 2, 3});
      Batch b = new Batch(105, 3, 2, 11, 21, 0, new byte[] {4});
      append(log, a);
      append(log, b);

      assertThat(parse(log.read(100, 1))).containsExactly(a);
      assertThat(parse(log.read(102, 1))).containsExactly(a);
      assertThat(parse(log.read(104, 1))).containsExactly(a);
      assertThat(parse(log.read(105, 1))).containsExactly(b);
      assertThat(parse(log.read(107, 1))).containsExactly(b);
      assertThat(parse(log.read(103, 10_000))).containsExactly(a, b);
      assertThat(log.read(103, 10_000).firstBatchBaseOffset()).isEqualTo(100);
    }
  }

  @Test
  void shouldReturnAnEmptySliceAtNextOffset() throws IOException {
    try (PartitionLog log = PartitionLog.open(dir, LogStoreConfig.defaults())) {
      appendBatches(log, 3);
      FetchSlice slice = log.read(log.nextOffset(), 1000);
      assertThat(slice.isEmpty()).isTrue();
      assertThat(slice.sizeInBytes()).isZero();
      assertThat(slice.readFully().remaining()).isZero();
    }
  }

  @Test
  void shouldThrowOffsetOutOfRangeWithTheBoundsOnBothSides() throws IOException {
    try (PartitionLog log = PartitionLog.open(dir, LogStoreConfig.defaults())) {
      append(log, new Batch(50, 10, 1, 0, 0, 0, new byte[8]));

      OffsetOutOfRangeException below = catchThrowableOfType(OffsetOutOfRangeException.class, () -> log.read(49, 100));
      assertThat(below.logStartOffset()).isEqualTo(50);
      assertThat(below.nextOffset()).isEqualTo(60);
      assertThat(below.requestedOffset()).isEqualTo(49);

      OffsetOutOfRangeException above = catchThrowableOfType(OffsetOutOfRangeException.class, () -> log.read(61, 100));
      assertThat(above.logStartOffset()).isEqualTo(50);
      assertThat(above.nextOffset()).isEqualTo(60);
    }
  }

  @Test
  void shouldReturnOneWholeBatchWhenMaxBytesIsSmallerThanIt() throws IOException {
    try (PartitionLog log = PartitionLog.open(dir, LogStoreConfig.defaults())) {
      List<Batch> batches = appendBatches(log, 3);
      for (int maxBytes : new int[] {0, 1, BatchHeader.HEADER_SIZE, batches.get(0).frameSize() - 1,
          batches.get(0).frameSize()}) {
        FetchSlice slice = log.read(0, maxBytes);
        assertThat(parse(slice)).containsExactly(batches.get(0));
        assertThat(slice.sizeInBytes()).isEqualTo(batches.get(0).frameSize());
      }
      int two = batches.get(0).frameSize() + batches.get(1).frameSize();
      assertThat(parse(log.read(0, two))).containsExactly(batches.get(0), batches.get(1));
      assertThat(parse(log.read(0, two + batches.get(2).frameSize() - 1))).containsExactly(batches.get(0), batches.get(1));
    }
  }

  @Test
  void shouldReadEveryOffsetAcrossSegmentRollsWithSlicesWithinOneSegment() throws IOException {
    LogStoreConfig config = smallSegments(700, 100);
    try (PartitionLog log = PartitionLog.open(dir, config)) {
      List<Batch> batches = appendBatches(log, 200);
      assertThat(log.segmentFiles()).hasSizeGreaterThan(20);
      assertThat(log.sizeInBytes()).isEqualTo(batches.stream().mapToLong(Batch::frameSize).sum());

      for (int maxBytes : new int[] {0, 150, 450, 10_000}) {
        assertThat(readAll(log, 0, maxBytes)).containsExactlyElementsOf(batches);
      }
      for (Batch b : batches) {
        for (long offset = b.baseOffset(); offset < b.nextOffset(); offset++) {
          FetchSlice slice = log.read(offset, 300);
          List<Batch> got = parse(slice);
          assertThat(got.get(0)).isEqualTo(b);
          assertThat(slice.nextOffset()).isEqualTo(got.get(got.size() - 1).nextOffset());
          assertThat(slice.sizeInBytes()).isLessThanOrEqualTo(Math.max(300, b.frameSize()));
          assertThat(got).isSubsetOf(batches);
          long segmentBase = segmentBaseOf(log, offset);
          long segmentEnd = log.segmentFiles().stream()
              .map(f -> Long.parseLong(f.path().getFileName().toString().replace(".log", "")))
              .filter(base -> base > segmentBase).findFirst().orElse(Long.MAX_VALUE);
          assertThat(got.get(got.size() - 1).nextOffset()).isLessThanOrEqualTo(segmentEnd);
        }
      }
    }
  }

  private static long segmentBaseOf(PartitionLog log, long offset) {
    long found = -1;
    for (SegmentFile f : log.segmentFiles()) {
      long base = Long.parseLong(f.path().getFileName().toString().replace(".log", ""));
      if (base <= offset) {
        found = base;
      }
    }
    return found;
  }

  @Test
  void shouldTransferASliceToAChannel() throws IOException {
    try (PartitionLog log = PartitionLog.open(dir, LogStoreConfig.defaults())) {
      List<Batch> batches = appendBatches(log, 10);
      FetchSlice slice = log.read(0, 1 << 20);
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      WritableByteChannel target = Channels.newChannel(out);
      long sent = 0;
      while (sent < slice.sizeInBytes()) {
        sent += slice.transferTo(target, sent, 100);
      }
      assertThat(sent).isEqualTo(slice.sizeInBytes());
      assertThat(parse(ByteBuffer.wrap(out.toByteArray()))).containsExactlyElementsOf(batches);
      assertThat(slice.transferTo(target, slice.sizeInBytes(), 100)).isZero();
    }
  }

  @Test
  void shouldNotConsumeThePayloadBuffer() throws IOException {
    try (PartitionLog log = PartitionLog.open(dir, LogStoreConfig.defaults())) {
      ByteBuffer payload = ByteBuffer.wrap(new byte[] {0, 1, 2, 3, 4, 5}).position(2).limit(5);
      log.append(0, 1, 1, 0, 0, 0, payload);
      assertThat(payload.position()).isEqualTo(2);
      assertThat(payload.limit()).isEqualTo(5);
      assertThat(parse(log.read(0, 100)).get(0).payload()).containsExactly(2, 3, 4);
    }
  }

  @Test
  void shouldPutABatchLargerThanTheSegmentSizeIntoASegmentOfItsOwn() throws IOException {
    try (PartitionLog log = PartitionLog.open(dir, smallSegments(100, 10))) {
      Batch big1 = new Batch(0, 2, 1, 0, 0, 0, new byte[500]);
      Batch big2 = new Batch(2, 2, 2, 0, 0, 0, new byte[300]);
      append(log, big1);
      append(log, big2);

      assertThat(log.segmentFiles()).extracting(SegmentFile::sizeBytes)
          .containsExactly((long) big1.frameSize(), (long) big2.frameSize());
      assertThat(parse(log.read(1, 0))).containsExactly(big1);
      assertThat(parse(log.read(0, 10_000))).containsExactly(big1);
      assertThat(parse(log.read(3, 10_000))).containsExactly(big2);
    }
  }
}
