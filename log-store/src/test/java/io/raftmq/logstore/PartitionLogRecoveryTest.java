package io.raftmq.logstore;

import static io.raftmq.logstore.TestBatches.append;
import static io.raftmq.logstore.TestBatches.appendBatches;
import static io.raftmq.logstore.TestBatches.copyDir;
import static io.raftmq.logstore.TestBatches.deleteIndexFiles;
import static io.raftmq.logstore.TestBatches.logFiles;
import static io.raftmq.logstore.TestBatches.readAll;
import static io.raftmq.logstore.TestBatches.smallSegments;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.raftmq.logstore.TestBatches.Batch;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PartitionLogRecoveryTest {
  @TempDir Path tmp;

  private List<Batch> writeLog(Path dir, LogStoreConfig config, int batches) throws IOException {
    try (PartitionLog log = PartitionLog.open(dir, config)) {
      return appendBatches(log, batches);
    }
  }

  /** Opens {@code dir}, checks it holds exactly {@code expected}, appends {@code next} and checks again after reopen. */
  private void assertRecoveredTo(Path dir, LogStoreConfig config, List<Batch> expected, Batch next) throws IOException {
    try (PartitionLog log = PartitionLog.open(dir, config)) {
      Batch last = expected.get(expected.size() - 1);
      assertThat(log.nextOffset()).isEqualTo(last.nextOffset());
      assertThat(log.lastRaftIndex()).isEqualTo(last.raftIndex());
      assertThat(readAll(log)).containsExactlyElementsOf(expected);
      append(log, next);
      assertThat(log.nextOffset()).isEqualTo(next.nextOffset());
    }
    try (PartitionLog log = PartitionLog.open(dir, config)) {
      List<Batch> all = new ArrayList<>(expected);
      all.add(next);
      assertThat(readAll(log)).containsExactlyElementsOf(all);
      assertThat(log.lastRaftIndex()).isEqualTo(next.raftIndex());
    }
  }

  @Test
  void shouldRecoverToLastWholeBatchWhenTailIsCutAtEveryBytePosition() throws IOException {
    Path original = tmp.resolve("original");
    LogStoreConfig config = LogStoreConfig.defaults();
    List<Batch> batches = writeLog(original, config, 3);
    byte[] bytes = Files.readAllBytes(logFiles(original).get(0));
    int lastStart = bytes.length - batches.get(2).frameSize();
    Batch replacement = TestBatches.batch(batches.get(2).baseOffset(), batches.get(2).raftIndex(), 99);

    for (int cut = lastStart; cut < bytes.length; cut++) {
      Path dir = tmp.resolve("cut-" + cut);
      Files.createDirectories(dir);
      Files.write(dir.resolve(logFiles(original).get(0).getFileName()), Arrays.copyOf(bytes, cut));

      assertRecoveredTo(dir, config, batches.subList(0, 2), replacement);
    }
  }

  @Test
  void shouldRecoverToLastWholeBatchWhenAnyByteOfTheLastBatchIsFlipped() throws IOException {
    Path original = tmp.resolve("original");
    LogStoreConfig config = LogStoreConfig.defaults();
    List<Batch> batches = writeLog(original, config, 3);
    Path segment = logFiles(original).get(0);
    byte[] bytes = Files.readAllBytes(segment);
    int lastStart = bytes.length - batches.get(2).frameSize();
    Batch replacement = TestBatches.batch(batches.get(2).baseOffset(), batches.get(2).raftIndex(), 99);

    for (int i = lastStart; i < bytes.length; i++) {
      Path dir = tmp.resolve("flip-" + i);
      Files.createDirectories(dir);
      byte[] corrupt = bytes.clone();
      corrupt[i] ^= (byte) 0x5A;
      Files.write(dir.resolve(segment.getFileName()), corrupt);

      assertRecoveredTo(dir, config, batches.subList(0, 2), replacement);
      assertThat(Files.size(dir.resolve(segment.getFileName())))
          .isEqualTo(lastStart + (long) replacement.frameSize());
    }
  }

  @Test
  void shouldFallBackToPreviousSegmentWhenTheLastSegmentLosesItsOnlyBatch() throws IOException {
    Path original = tmp.resolve("original");
    LogStoreConfig config = smallSegments(300, 64);
    List<Batch> batches = writeLog(original, config, 12);
    List<Path> segments = logFiles(original);
    assertThat(segments).hasSizeGreaterThan(2);
    Path lastSegment = segments.get(segments.size() - 1);
    long lastBase = Long.parseLong(lastSegment.getFileName().toString().replace(".log", ""));
    List<Batch> inLast = batches.stream().filter(b -> b.baseOffset() >= lastBase).toList();
    List<Batch> before = batches.stream().filter(b -> b.baseOffset() < lastBase).toList();
    byte[] bytes = Files.readAllBytes(lastSegment);
    Batch replacement = TestBatches.batch(lastBase, inLast.get(0).raftIndex(), 77);

    for (int cut = 0; cut < inLast.get(0).frameSize(); cut++) {
      Path dir = tmp.resolve("cut-" + cut);
      copyDir(original, dir);
      Files.write(dir.resolve(lastSegment.getFileName()), Arrays.copyOf(bytes, cut));

      try (PartitionLog log = PartitionLog.open(dir, config)) {
        assertThat(Files.exists(dir.resolve(lastSegment.getFileName()))).isFalse();
        assertThat(log.segmentFiles()).hasSize(segments.size() - 1);
      }
      assertRecoveredTo(dir, config, before, replacement);
    }
  }

  @Test
  void shouldRecoverToAnEmptyLogWhenTheOnlyBatchIsTorn() throws IOException {
    Path dir = tmp.resolve("log");
    List<Batch> batches;
    try (PartitionLog log = PartitionLog.open(dir, LogStoreConfig.defaults())) {
      batches = List.of(TestBatches.batch(500, 9, 1));
      append(log, batches.get(0));
    }
    Path segment = logFiles(dir).get(0);
    try (FileChannel ch = FileChannel.open(segment, StandardOpenOption.WRITE)) {
      ch.truncate(batches.get(0).frameSize() - 1);
    }

    try (PartitionLog log = PartitionLog.open(dir, LogStoreConfig.defaults())) {
      assertThat(log.isEmpty()).isTrue();
      assertThat(log.nextOffset()).isZero();
      assertThat(log.lastRaftIndex()).isEqualTo(-1);
      assertThat(logFiles(dir)).isEmpty();
      Batch restart = TestBatches.batch(500, 9, 2);
      append(log, restart);
      assertThat(readAll(log)).containsExactly(restart);
    }
  }

  @Test
  void shouldThrowCorruptLogExceptionWhenANonLastSegmentIsCut() throws IOException {
    Path dir = tmp.resolve("log");
    LogStoreConfig config = smallSegments(300, 64);
    writeLog(dir, config, 12);
    Path first = logFiles(dir).get(0);
    try (FileChannel ch = FileChannel.open(first, StandardOpenOption.WRITE)) {
      ch.truncate(ch.size() - 1);
    }

    assertThatThrownBy(() -> PartitionLog.open(dir, config))
        .isInstanceOf(CorruptLogException.class)
        .hasMessageContaining(first.getFileName().toString());
  }

  @Test
  void shouldThrowCorruptLogExceptionWhenANonLastSegmentWithoutIndexHasAFlippedPayloadByte() throws IOException {
    Path dir = tmp.resolve("log");
    LogStoreConfig config = smallSegments(300, 64);
    writeLog(dir, config, 12);
    deleteIndexFiles(dir);
    Path second = logFiles(dir).get(1);
    byte[] bytes = Files.readAllBytes(second);
    bytes[BatchHeader.HEADER_SIZE + 3] ^= 1;
    Files.write(second, bytes);

    assertThatThrownBy(() -> PartitionLog.open(dir, config))
        .isInstanceOf(CorruptLogException.class)
        .hasMessageContaining("CRC");
  }

  @Test
  void shouldThrowCorruptLogExceptionWhenASegmentInTheMiddleIsMissing() throws IOException {
    Path dir = tmp.resolve("log");
    LogStoreConfig config = smallSegments(300, 64);
    writeLog(dir, config, 12);
    List<Path> segments = logFiles(dir);
    assertThat(segments).hasSizeGreaterThan(2);
    Files.delete(segments.get(1));

    assertThatThrownBy(() -> PartitionLog.open(dir, config))
        .isInstanceOf(CorruptLogException.class)
        .hasMessageContaining("next segment starts at");
  }

  @Test
  void shouldOpenSegmentFilesCopiedWithoutIndexesAndCutAtTheListedSizes() throws IOException {
    Path source = tmp.resolve("leader");
    Path copy = tmp.resolve("follower");
    LogStoreConfig config = smallSegments(400, 100);
    List<Batch> covered;
    try (PartitionLog log = PartitionLog.open(source, config)) {
      covered = appendBatches(log, 25);
      log.flush();
      List<SegmentFile> files = log.segmentFiles();
      appendBatches(log, 1); // the active segment grows after the listing, as during a snapshot transfer
      Files.createDirectories(copy);
      for (SegmentFile f : files) {
        byte[] bytes = Files.readAllBytes(f.path());
        Files.write(copy.resolve(f.path().getFileName()), Arrays.copyOf(bytes, (int) f.sizeBytes()));
      }
    }
    assertThat(TestBatches.indexFiles(copy)).isEmpty();

    try (PartitionLog log = PartitionLog.open(copy, config)) {
      assertThat(readAll(log)).containsExactlyElementsOf(covered);
      assertThat(log.lastRaftIndex()).isEqualTo(covered.get(covered.size() - 1).raftIndex());
      for (Batch b : covered) {
        assertThat(log.offsetForTimestamp(b.maxTimestamp())).isEqualTo(b.baseOffset());
      }
    }
    assertThat(TestBatches.indexFiles(copy)).isNotEmpty();
  }

  @Test
  void shouldRebuildAnIndexFileThatIsGarbage() throws IOException {
    Path dir = tmp.resolve("log");
    LogStoreConfig config = smallSegments(500, 50);
    List<Batch> batches = writeLog(dir, config, 30);
    for (Path index : TestBatches.indexFiles(dir)) {
      Files.write(index, new byte[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20});
    }

    try (PartitionLog log = PartitionLog.open(dir, config)) {
      assertThat(readAll(log)).containsExactlyElementsOf(batches);
      for (Batch b : batches) {
        assertThat(TestBatches.parse(log.read(b.nextOffset() - 1, 0))).containsExactly(b);
      }
    }
  }

  @Test
  void shouldIgnoreFilesThatAreNotSegmentsOrIndexes() throws IOException {
    Path dir = tmp.resolve("log");
    Files.createDirectories(dir);
    Files.writeString(dir.resolve("README.txt"), "not a segment");
    Files.writeString(dir.resolve("123.log"), "wrong name pattern");
    Files.write(dir.resolve("00000000000000000007.timeindex.tmp"), new byte[] {1});

    List<Batch> batches = writeLog(dir, LogStoreConfig.defaults(), 3);

    try (PartitionLog log = PartitionLog.open(dir, LogStoreConfig.defaults())) {
      assertThat(readAll(log)).containsExactlyElementsOf(batches);
    }
    assertThat(Files.readString(dir.resolve("README.txt"))).isEqualTo("not a segment");
    assertThat(dir.resolve("123.log")).exists();
    assertThat(dir.resolve("00000000000000000007.timeindex.tmp")).doesNotExist();
  }

  @Test
  void shouldOpenAnEmptyDirectoryAsAnEmptyLog() throws IOException {
    try (PartitionLog log = PartitionLog.open(tmp.resolve("new"), LogStoreConfig.defaults())) {
      assertThat(log.isEmpty()).isTrue();
      assertThat(log.nextOffset()).isZero();
      assertThat(log.logStartOffset()).isZero();
      assertThat(log.lastRaftIndex()).isEqualTo(-1);
      assertThat(log.sizeInBytes()).isZero();
      assertThat(log.segmentFiles()).isEmpty();
      assertThat(log.read(0, 100).isEmpty()).isTrue();
      assertThat(log.offsetForTimestamp(0)).isEqualTo(-1);
    }
  }

  @Test
  void shouldKeepFramesByteForByteAsTheProtocolLayoutDescribes() throws IOException {
    Path dir = tmp.resolve("log");
    try (PartitionLog log = PartitionLog.open(dir, LogStoreConfig.defaults())) {
      int size = log.append(42, 3, 7, 1234, 5678, 1, ByteBuffer.wrap(new byte[] {9, 8, 7}));
      assertThat(size).isEqualTo(49);
      ByteBuffer frame = log.read(42, 1000).readFully();
      assertThat(frame.getLong(0)).isEqualTo(42);
      assertThat(frame.getInt(8)).isEqualTo(34 + 3);
      assertThat(frame.get(16)).isEqualTo((byte) 1);
      assertThat(frame.get(17)).isEqualTo((byte) 1);
      assertThat(frame.getInt(18)).isEqualTo(3);
      assertThat(frame.getLong(22)).isEqualTo(7);
      assertThat(frame.getLong(30)).isEqualTo(1234);
      assertThat(frame.getLong(38)).isEqualTo(5678);
      assertThat(frame.get(46)).isEqualTo((byte) 9);
      java.util.zip.CRC32C crc = new java.util.zip.CRC32C();
      crc.update(frame.duplicate().position(16));
      assertThat(frame.getInt(12)).isEqualTo((int) crc.getValue());
    }
  }
}
