package io.raftmq.logstore;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import java.util.zip.CRC32C;

/** Test helpers: batches as values, a strict frame parser, and shortcuts for appending and reading. */
final class TestBatches {
  private TestBatches() {}

  /** One batch as the tests expect to read it back. */
  record Batch(long baseOffset, int recordCount, long raftIndex, long logTimeMs, long maxTimestamp, int attributes,
      byte[] payload) {
    long nextOffset() {
      return baseOffset + recordCount;
    }

    int frameSize() {
      return BatchHeader.HEADER_SIZE + payload.length;
    }

    boolean contains(long offset) {
      return offset >= baseOffset && offset < nextOffset();
    }

    @Override
    public boolean equals(Object o) {
      return o instanceof Batch b && b.baseOffset == baseOffset && b.recordCount == recordCount
          && b.raftIndex == raftIndex && b.logTimeMs == logTimeMs && b.maxTimestamp == maxTimestamp
          && b.attributes == attributes && Arrays.equals(b.payload, payload);
    }

    @Override
    public int hashCode() {
      return Long.hashCode(baseOffset) * 31 + Long.hashCode(raftIndex);
    }

    @Override
    public String toString() {
      return "Batch{base=" + baseOffset + ", count=" + recordCount + ", raft=" + raftIndex + ", maxTs=" + maxTimestamp
          + ", payload=" + payload.length + "B}";
    }
  }

  /** A batch with a deterministic shape derived from {@code i}. */
  static Batch batch(long baseOffset, long raftIndex, int i) {
    Random r = new Random(i * 7919L + 17);
    byte[] payload = new byte[20 + (i * 37) % 90];
    r.nextBytes(payload);
    return new Batch(baseOffset, 1 + i % 4, raftIndex, 1_000_000L + i, 5_000L + i * 10L, i % 3, payload);
  }

  /** Appends {@code n} deterministic batches after the log's end; returns them. */
  static List<Batch> appendBatches(PartitionLog log, int n) throws IOException {
    List<Batch> out = new ArrayList<>();
    long base = log.nextOffset();
    long raft = log.lastRaftIndex() + 1;
    for (int i = 0; i < n; i++) {
      Batch b = batch(base, raft + 2L * i, (int) (base % 1000) + i);
      append(log, b);
      out.add(b);
      base = b.nextOffset();
    }
    return out;
  }

  static int append(PartitionLog log, Batch b) throws IOException {
    return log.append(b.baseOffset, b.recordCount, b.raftIndex, b.logTimeMs, b.maxTimestamp, b.attributes,
        ByteBuffer.wrap(b.payload));
  }

  /**
   * Parses whole frames from position to limit, failing on anything that is not a sequence of whole,
   * CRC-valid frames.
   */
  static List<Batch> parse(ByteBuffer buf) {
    List<Batch> out = new ArrayList<>();
    int pos = buf.position();
    while (pos < buf.limit()) {
      if (buf.limit() - pos < BatchHeader.HEADER_SIZE) {
        throw new AssertionError("truncated header at " + pos);
      }
      int length = buf.getInt(pos + BatchHeader.LENGTH);
      if (length < BatchHeader.MIN_LENGTH || length > buf.limit() - pos - BatchHeader.LOG_OVERHEAD) {
        throw new AssertionError("bad length " + length + " at " + pos);
      }
      if (buf.get(pos + BatchHeader.MAGIC) != BatchHeader.MAGIC_V1) {
        throw new AssertionError("bad magic at " + pos);
      }
      int frameSize = BatchHeader.LOG_OVERHEAD + length;
      CRC32C crc = new CRC32C();
      crc.update(buf.duplicate().position(pos + BatchHeader.MAGIC).limit(pos + frameSize));
      if ((int) crc.getValue() != buf.getInt(pos + BatchHeader.CRC)) {
        throw new AssertionError("CRC mismatch at " + pos);
      }
      byte[] payload = new byte[frameSize - BatchHeader.HEADER_SIZE];
      buf.get(pos + BatchHeader.HEADER_SIZE, payload);
      out.add(new Batch(buf.getLong(pos + BatchHeader.BASE_OFFSET), buf.getInt(pos + BatchHeader.RECORD_COUNT),
          buf.getLong(pos + BatchHeader.RAFT_INDEX), buf.getLong(pos + BatchHeader.LOG_TIME),
          buf.getLong(pos + BatchHeader.MAX_TIMESTAMP), buf.get(pos + BatchHeader.ATTRIBUTES) & 0xFF, payload));
      pos += frameSize;
    }
    return out;
  }

  /** Parses a slice and checks its batches are contiguous and start at its first batch base offset. */
  static List<Batch> parse(FetchSlice slice) throws IOException {
    List<Batch> batches = parse(slice.readFully());
    if (batches.isEmpty() != slice.isEmpty()) {
      throw new AssertionError("slice " + slice + " parsed to " + batches);
    }
    if (!batches.isEmpty() && batches.get(0).baseOffset() != slice.firstBatchBaseOffset()) {
      throw new AssertionError("slice says first base " + slice.firstBatchBaseOffset() + " but holds " + batches.get(0));
    }
    assertContiguous(batches);
    return batches;
  }

  static void assertContiguous(List<Batch> batches) {
    for (int i = 1; i < batches.size(); i++) {
      if (batches.get(i).baseOffset() != batches.get(i - 1).nextOffset()) {
        throw new AssertionError("not contiguous: " + batches.get(i - 1) + " then " + batches.get(i));
      }
    }
  }

  /** Every batch from {@code from} to the end, fetched with {@code maxBytes} per read. */
  static List<Batch> readAll(PartitionLog log, long from, int maxBytes) throws IOException {
    List<Batch> out = new ArrayList<>();
    long offset = from;
    while (offset < log.nextOffset()) {
      List<Batch> got = parse(log.read(offset, maxBytes));
      if (got.isEmpty()) {
        throw new AssertionError("empty slice at " + offset + " < " + log.nextOffset());
      }
      out.addAll(got);
      offset = got.get(got.size() - 1).nextOffset();
    }
    assertContiguous(out);
    return out;
  }

  static List<Batch> readAll(PartitionLog log) throws IOException {
    return readAll(log, log.logStartOffset(), 1 << 20);
  }

  /** The {@code .log} files of {@code dir}, oldest first. */
  static List<Path> logFiles(Path dir) throws IOException {
    try (Stream<Path> s = Files.list(dir)) {
      return s.filter(p -> p.getFileName().toString().endsWith(".log")).sorted().toList();
    }
  }

  static List<Path> indexFiles(Path dir) throws IOException {
    try (Stream<Path> s = Files.list(dir)) {
      return s.filter(p -> p.getFileName().toString().endsWith("index")).sorted().toList();
    }
  }

  static void deleteIndexFiles(Path dir) throws IOException {
    for (Path p : indexFiles(dir)) {
      Files.delete(p);
    }
  }

  static void copyDir(Path from, Path to) throws IOException {
    Files.createDirectories(to);
    try (Stream<Path> s = Files.list(from)) {
      for (Path p : s.toList()) {
        Files.copy(p, to.resolve(p.getFileName()));
      }
    }
  }

  static LogStoreConfig smallSegments(long segmentSizeBytes, int indexIntervalBytes) {
    return LogStoreConfig.builder().segmentSizeBytes(segmentSizeBytes).indexIntervalBytes(indexIntervalBytes).build();
  }
}
