package io.raftmq.logstore;

import static io.raftmq.logstore.BatchHeader.BASE_OFFSET;
import static io.raftmq.logstore.BatchHeader.CRC;
import static io.raftmq.logstore.BatchHeader.HEADER_SIZE;
import static io.raftmq.logstore.BatchHeader.LENGTH;
import static io.raftmq.logstore.BatchHeader.LOG_OVERHEAD;
import static io.raftmq.logstore.BatchHeader.MAGIC;
import static io.raftmq.logstore.BatchHeader.MAGIC_V1;
import static io.raftmq.logstore.BatchHeader.MAX_TIMESTAMP;
import static io.raftmq.logstore.BatchHeader.MIN_LENGTH;
import static io.raftmq.logstore.BatchHeader.RAFT_INDEX;
import static io.raftmq.logstore.BatchHeader.RECORD_COUNT;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.zip.CRC32C;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One segment: a {@code %020d.log} file of contiguous batch frames starting at {@link #baseOffset()},
 * with its {@link OffsetIndex} and {@link TimeIndex} (kept in memory, persisted to {@code .index} /
 * {@code .timeindex} files when the segment is sealed or the log closed).
 *
 * <p>Threading: one writer ({@link #append}, {@link #flush}, {@link #seal}, {@link #delete}); any
 * number of concurrent readers ({@link #read}, {@link #offsetForTimestamp}) that only use positional
 * reads. The writer publishes a batch by the volatile write of {@link #sizeInBytes()} after the whole
 * frame is written and indexed; readers bound every read by one read of it, so they never see a
 * partial frame.
 */
final class LogSegment {
  private static final Logger LOG = LoggerFactory.getLogger(LogSegment.class);

  static final String LOG_SUFFIX = ".log";
  static final String INDEX_SUFFIX = ".index";
  static final String TIME_INDEX_SUFFIX = ".timeindex";
  private static final int SCAN_BUFFER_BYTES = 1 << 20;

  private final long baseOffset;
  private final Path logPath;
  private final Path indexPath;
  private final Path timeIndexPath;
  private final FileChannel channel;
  private final int indexIntervalBytes;
  // Replaced only before the segment is published to readers (open), then only appended to.
  private OffsetIndex offsetIndex = new OffsetIndex();
  private TimeIndex timeIndex = new TimeIndex();

  private volatile long sizeInBytes;
  private volatile long nextOffset;
  private volatile long maxTimestamp = Long.MIN_VALUE;
  private volatile boolean deleted;
  // Writer-only state.
  private long lastRaftIndex = -1;
  private long lastBatchPosition = -1;
  private int lastBatchCrc;
  private int bytesSinceLastIndexEntry;
  private boolean dirty;

  private LogSegment(Path dir, long baseOffset, FileChannel channel, int indexIntervalBytes) {
    this.baseOffset = baseOffset;
    this.logPath = dir.resolve(fileName(baseOffset, LOG_SUFFIX));
    this.indexPath = dir.resolve(fileName(baseOffset, INDEX_SUFFIX));
    this.timeIndexPath = dir.resolve(fileName(baseOffset, TIME_INDEX_SUFFIX));
    this.channel = channel;
    this.indexIntervalBytes = indexIntervalBytes;
    this.nextOffset = baseOffset;
  }

  static String fileName(long baseOffset, String suffix) {
    return String.format("%020d%s", baseOffset, suffix);
  }

  /** Creates a new, empty segment file (it must not exist). */
  static LogSegment create(Path dir, long baseOffset, LogStoreConfig config) throws IOException {
    Path path = dir.resolve(fileName(baseOffset, LOG_SUFFIX));
    Files.deleteIfExists(dir.resolve(fileName(baseOffset, INDEX_SUFFIX)));
    Files.deleteIfExists(dir.resolve(fileName(baseOffset, TIME_INDEX_SUFFIX)));
    FileChannel ch = FileChannel.open(path, StandardOpenOption.CREATE_NEW, StandardOpenOption.READ,
        StandardOpenOption.WRITE);
    return new LogSegment(dir, baseOffset, ch, config.indexIntervalBytes());
  }

  /**
   * Opens a sealed (not last) segment: from its index files if they are valid for the file, else by a
   * full scan that rebuilds and rewrites them.
   *
   * @throws CorruptLogException if the scan finds anything but whole valid batches
   */
  static LogSegment openSealed(Path dir, long baseOffset, LogStoreConfig config) throws IOException {
    FileChannel ch = FileChannel.open(dir.resolve(fileName(baseOffset, LOG_SUFFIX)), StandardOpenOption.READ);
    LogSegment segment = new LogSegment(dir, baseOffset, ch, config.indexIntervalBytes());
    try {
      if (!segment.loadIndexes()) {
        LOG.info("Rebuilding the indexes of segment {}", segment.logPath);
        segment.scan(true);
        segment.writeIndexFiles();
      }
      return segment;
    } catch (IOException | RuntimeException e) {
      ch.close();
      throw e;
    }
  }

  /**
   * Opens the last segment for appending: scans it, rebuilds its indexes and truncates it after the
   * last whole valid batch. The result may be empty.
   */
  static LogSegment recoverLast(Path dir, long baseOffset, LogStoreConfig config) throws IOException {
    FileChannel ch = FileChannel.open(dir.resolve(fileName(baseOffset, LOG_SUFFIX)), StandardOpenOption.READ,
        StandardOpenOption.WRITE);
    LogSegment segment = new LogSegment(dir, baseOffset, ch, config.indexIntervalBytes());
    try {
      segment.scan(false);
      return segment;
    } catch (IOException | RuntimeException e) {
      ch.close();
      throw e;
    }
  }

  long baseOffset() {
    return baseOffset;
  }

  Path logPath() {
    return logPath;
  }

  /** Bytes of whole, published batches. */
  long sizeInBytes() {
    return sizeInBytes;
  }

  /** Offset after the last published record ({@link #baseOffset()} when empty). */
  long nextOffset() {
    return nextOffset;
  }

  long lastRaftIndex() {
    return lastRaftIndex;
  }

  /** Largest maxTimestamp in the segment ({@link Long#MIN_VALUE} when empty). */
  long maxTimestamp() {
    return maxTimestamp;
  }

  boolean isDeleted() {
    return deleted;
  }

  // ---------------------------------------------------------------- writer

  /**
   * Writes one frame ({@code frame[0]} = header with CRC, {@code frame[1]} = payload, whose position is
   * restored) at the end and publishes it. On failure the file is cut back and nothing is published.
   */
  void append(ByteBuffer[] frame, int frameSize, long batchBaseOffset, int recordCount, long raftIndex,
      long batchMaxTimestamp) throws IOException {
    long position = sizeInBytes;
    ByteBuffer header = frame[0];
    ByteBuffer payload = frame[1];
    int payloadPosition = payload.position();
    int crc = header.getInt(CRC);
    try {
      channel.position(position);
      long remaining = frameSize;
      while (remaining > 0) {
        remaining -= channel.write(frame);
      }
    } catch (IOException e) {
      try {
        channel.truncate(position);
      } catch (IOException suppressed) {
        e.addSuppressed(suppressed);
      }
      throw e;
    } finally {
      payload.position(payloadPosition);
    }
    dirty = true;
    onBatch(position, frameSize, batchBaseOffset, recordCount, raftIndex, batchMaxTimestamp, crc);
  }

  /** Indexes a whole batch at {@code position} and publishes it (volatile write of the size last). */
  private void onBatch(long position, int frameSize, long batchBaseOffset, int recordCount, long raftIndex,
      long batchMaxTimestamp, int crc) {
    long newMaxTimestamp = Math.max(maxTimestamp, batchMaxTimestamp);
    boolean indexIt = bytesSinceLastIndexEntry >= indexIntervalBytes;
    bytesSinceLastIndexEntry = indexIt ? frameSize
        : (int) Math.min(Integer.MAX_VALUE, (long) bytesSinceLastIndexEntry + frameSize);
    lastRaftIndex = raftIndex;
    lastBatchPosition = position;
    lastBatchCrc = crc;
    maxTimestamp = newMaxTimestamp;
    nextOffset = batchBaseOffset + recordCount;
    sizeInBytes = position + frameSize;
    // Index entries go in after the size is published, and readers read the indexes before the size:
    // a reader never gets an indexed position beyond the end it sees.
    if (indexIt) {
      int relativeOffset = (int) (batchBaseOffset - baseOffset);
      offsetIndex.append(relativeOffset, (int) position);
      timeIndex.maybeAppend(newMaxTimestamp, relativeOffset);
    }
  }

  /** fsyncs the segment file if it was written since the last flush. */
  void flush() throws IOException {
    if (dirty) {
      channel.force(true);
      dirty = false;
    }
  }

  /** Whether the segment was written since the last flush, clearing the mark (caller holds the writer lock). */
  boolean takeDirty() {
    boolean was = dirty;
    dirty = false;
    return was;
  }

  /** fsyncs the segment file; safe concurrently with appends. */
  void force() throws IOException {
    channel.force(true);
  }

  /** Makes the segment durable as a non-last segment: fsync, then index files. */
  void seal() throws IOException {
    flush();
    writeIndexFiles();
  }

  void writeIndexFiles() throws IOException {
    if (sizeInBytes == 0) {
      return;
    }
    offsetIndex.write(indexPath, baseOffset, new SegmentSummary(sizeInBytes, nextOffset, lastRaftIndex,
        maxTimestamp, lastBatchPosition, lastBatchCrc));
    timeIndex.write(timeIndexPath, baseOffset, sizeInBytes);
  }

  void close() throws IOException {
    channel.close();
  }

  /** Closes the file and deletes it and its index files; later reads of this segment fail. */
  void delete() throws IOException {
    deleted = true;
    channel.close();
    Files.deleteIfExists(logPath);
    Files.deleteIfExists(indexPath);
    Files.deleteIfExists(timeIndexPath);
  }

  // ---------------------------------------------------------------- readers

  /**
   * Whole batches from the one containing {@code offset}, up to {@code maxBytes} (at least one batch).
   * Returns {@code null} if no published batch of this segment contains {@code offset}.
   */
  FetchSlice read(long offset, int maxBytes, long endOffset) throws IOException {
    long limit = sizeInBytes;
    ByteBuffer header = ByteBuffer.allocate(RECORD_COUNT + Integer.BYTES);
    long position = offsetIndex.floorPositionForOffset(offset - baseOffset);
    long firstBaseOffset = -1;
    long firstSize = 0;
    long nextOffset = -1;
    while (position < limit) {
      readAt(header, position, RECORD_COUNT + Integer.BYTES);
      long batchBase = header.getLong(BASE_OFFSET);
      long size = LOG_OVERHEAD + (long) header.getInt(LENGTH);
      if (offset < batchBase + header.getInt(RECORD_COUNT)) {
        if (offset < batchBase) {
          return null;
        }
        firstBaseOffset = batchBase;
        firstSize = size;
        nextOffset = batchBase + header.getInt(RECORD_COUNT);
        break;
      }
      position += size;
    }
    if (firstBaseOffset < 0) {
      return null;
    }
    long budgetEnd = position + Math.max(maxBytes, firstSize);
    long end = position + firstSize;
    if (end < budgetEnd && end < limit) {
      // Jump over whole batches with the index (to a published batch: below limit), then walk frame by
      // frame to the budget. The slice ends where the walk stops: at a batch whose base offset is the
      // slice's next offset, or at the limit, after the last batch the walk took.
      long p = Math.max(end, offsetIndex.floorPosition(Math.min(budgetEnd, limit - 1)));
      while (p < limit) {
        readAt(header, p, RECORD_COUNT + Integer.BYTES);
        long batchBase = header.getLong(BASE_OFFSET);
        long next = p + LOG_OVERHEAD + header.getInt(LENGTH);
        if (next > budgetEnd || batchBase >= endOffset) {
          // past the budget, or appended here but not yet published by the log
          nextOffset = batchBase;
          break;
        }
        nextOffset = batchBase + header.getInt(RECORD_COUNT);
        p = next;
      }
      end = p;
    }
    return new FetchSlice(channel, position, (int) (end - position), firstBaseOffset, nextOffset);
  }

  /**
   * Base offset of the first batch with maxTimestamp &gt;= {@code timestampMs} that holds an offset
   * &gt;= {@code minOffset}, raised to {@code minOffset}; -1 if none.
   */
  long offsetForTimestamp(long timestampMs, long minOffset, long endOffset) throws IOException {
    long olderThroughRelative = timeIndex.lastRelativeOffsetBefore(timestampMs);
    long position = olderThroughRelative < 0 ? 0 : offsetIndex.floorPositionForOffset(olderThroughRelative);
    if (minOffset > baseOffset) {
      position = Math.max(position, offsetIndex.floorPositionForOffset(minOffset - baseOffset));
    }
    long limit = sizeInBytes; // after the index reads: see onBatch
    ByteBuffer header = ByteBuffer.allocate(HEADER_SIZE);
    while (position < limit) {
      readAt(header, position, HEADER_SIZE);
      long batchBase = header.getLong(BASE_OFFSET);
      if (batchBase >= endOffset) {
        return -1; // appended here but not yet published by the log
      }
      if (batchBase + header.getInt(RECORD_COUNT) > minOffset && header.getLong(MAX_TIMESTAMP) >= timestampMs) {
        return Math.max(batchBase, minOffset);
      }
      position += LOG_OVERHEAD + (long) header.getInt(LENGTH);
    }
    return -1;
  }

  private void readAt(ByteBuffer buf, long position, int length) throws IOException {
    buf.clear().limit(length);
    while (buf.hasRemaining()) {
      if (channel.read(buf, position + buf.position()) < 0) {
        throw new EOFException(logPath + " ended at " + (position + buf.position()));
      }
    }
  }

  // ---------------------------------------------------------------- open

  /** Loads valid index files for the current file size; false if they are missing or do not fit. */
  private boolean loadIndexes() throws IOException {
    long size = channel.size();
    OffsetIndex.Loaded loaded = OffsetIndex.load(indexPath, baseOffset, size);
    if (loaded == null) {
      return false;
    }
    SegmentSummary summary = loaded.summary();
    TimeIndex times = TimeIndex.load(timeIndexPath, baseOffset, summary);
    if (times == null) {
      return false;
    }
    // Cheap evidence that the index describes these bytes: the first and last frames are where it says.
    ByteBuffer header = ByteBuffer.allocate(MAGIC);
    readAt(header, 0, MAGIC);
    if (header.getLong(BASE_OFFSET) != baseOffset) {
      return false;
    }
    readAt(header, summary.lastBatchPosition(), MAGIC);
    if (summary.lastBatchPosition() + LOG_OVERHEAD + header.getInt(LENGTH) != size
        || header.getInt(CRC) != summary.lastBatchCrc()) {
      return false;
    }
    offsetIndex = loaded.index();
    timeIndex = times;
    lastRaftIndex = summary.lastRaftIndex();
    lastBatchPosition = summary.lastBatchPosition();
    lastBatchCrc = summary.lastBatchCrc();
    maxTimestamp = summary.maxTimestamp();
    nextOffset = summary.nextOffset();
    sizeInBytes = size;
    return true;
  }

  /**
   * Reads every frame, checking bounds, magic, CRC, contiguous offsets and increasing raft indexes,
   * and rebuilds the indexes. At the first bad frame: {@code strict} throws
   * {@link CorruptLogException}, otherwise the file is truncated there.
   */
  private void scan(boolean strict) throws IOException {
    offsetIndex = new OffsetIndex();
    timeIndex = new TimeIndex();
    long fileSize = channel.size();
    ByteBuffer buf = ByteBuffer.allocate((int) Math.max(HEADER_SIZE, Math.min(SCAN_BUFFER_BYTES, fileSize)));
    long bufStart = 0;
    buf.limit(0);
    CRC32C crc = new CRC32C();
    long position = 0;
    long expectedOffset = baseOffset;
    long previousRaftIndex = -1;
    String problem = null;
    while (position < fileSize) {
      if (fileSize - position < HEADER_SIZE) {
        problem = "a truncated header";
        break;
      }
      if (position > Integer.MAX_VALUE) {
        problem = "a batch beyond 2 GiB";
        break;
      }
      if (position < bufStart || position + HEADER_SIZE > bufStart + buf.limit()) {
        buf = fill(buf, position, HEADER_SIZE);
        bufStart = position;
      }
      int at = (int) (position - bufStart);
      long batchBase = buf.getLong(at + BASE_OFFSET);
      int length = buf.getInt(at + LENGTH);
      int recordCount = buf.getInt(at + RECORD_COUNT);
      long raftIndex = buf.getLong(at + RAFT_INDEX);
      if (length < MIN_LENGTH || length > Integer.MAX_VALUE - LOG_OVERHEAD
          || length > fileSize - position - LOG_OVERHEAD) {
        problem = "a length of " + length + " that does not fit the file";
        break;
      }
      if (buf.get(at + MAGIC) != MAGIC_V1) {
        problem = "magic " + buf.get(at + MAGIC);
        break;
      }
      if (batchBase != expectedOffset || recordCount < 1
          || batchBase + recordCount - baseOffset > Integer.MAX_VALUE || batchBase + recordCount < batchBase) {
        problem = "offsets [" + batchBase + ", +" + recordCount + ") where " + expectedOffset + " was expected";
        break;
      }
      if (raftIndex <= previousRaftIndex) {
        problem = "raft index " + raftIndex + " after " + previousRaftIndex;
        break;
      }
      int frameSize = LOG_OVERHEAD + length;
      if (position + frameSize > bufStart + buf.limit()) {
        buf = fill(buf, position, frameSize);
        bufStart = position;
        at = 0;
      }
      crc.reset();
      crc.update(buf.array(), at + MAGIC, frameSize - MAGIC);
      int storedCrc = buf.getInt(at + CRC);
      if ((int) crc.getValue() != storedCrc) {
        problem = "a CRC mismatch";
        break;
      }
      onBatch(position, frameSize, batchBase, recordCount, raftIndex, buf.getLong(at + MAX_TIMESTAMP), storedCrc);
      position += frameSize;
      expectedOffset = batchBase + recordCount;
      previousRaftIndex = raftIndex;
    }
    if (problem != null) {
      String message = logPath + " holds " + problem + " at position " + position + " (file size " + fileSize
          + ", offset " + expectedOffset + ")";
      if (strict) {
        throw new CorruptLogException(message);
      }
      LOG.warn("Truncating the tail of the log: {}; {} bytes dropped", message, fileSize - position);
      channel.truncate(position);
      channel.force(true);
    }
    sizeInBytes = position;
  }

  /** Reads from {@code position} into {@code buf} (grown to hold {@code needed} bytes) as much as fits. */
  private ByteBuffer fill(ByteBuffer buf, long position, int needed) throws IOException {
    if (buf.capacity() < needed) {
      buf = ByteBuffer.allocate(needed);
    }
    buf.clear();
    while (buf.hasRemaining()) {
      if (channel.read(buf, position + buf.position()) < 0) {
        break;
      }
    }
    buf.flip();
    if (buf.limit() < needed) {
      throw new EOFException(logPath + " ended at " + (position + buf.limit()) + " while scanning");
    }
    return buf;
  }

  @Override
  public String toString() {
    return "LogSegment{" + logPath.getFileName() + ", size=" + sizeInBytes + ", next=" + nextOffset + "}";
  }
}
