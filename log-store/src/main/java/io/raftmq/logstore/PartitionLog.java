package io.raftmq.logstore;

import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.zip.CRC32C;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The committed batches of one partition: a directory of segment files ({@code %020d.log}, named by
 * base offset) with a sparse offset index ({@code .index}) and time index ({@code .timeindex}) each.
 *
 * <h2>Threading</h2>
 * <ul>
 *   <li>Writer methods ({@link #append}, {@link #flush}, {@link #deleteSegmentsBelow}, {@link #close})
 *       are meant for one thread (the Raft apply thread); they are also mutually exclusive (a lock), so
 *       e.g. a flusher thread may call {@link #flush} too.
 *   <li>State getters ({@link #nextOffset()} etc.) and readers ({@link #read}, {@link #offsetForTimestamp})
 *       are lock-free and safe from any thread, concurrently with the writer. A batch becomes visible to
 *       them only once it is completely written (volatile publication after each append).
 * </ul>
 *
 * <h2>Durability</h2>
 * {@link #append} does not fsync; {@link #flush} does. Rolling to a new segment fsyncs the sealed one
 * and writes its index files, so only the last segment can ever have a torn tail.
 *
 * <h2>Recovery</h2>
 * {@link #open} scans the last segment (truncating a torn or corrupt tail to the last whole valid batch;
 * if that leaves it empty it is deleted and the previous one becomes the last). Other segments are opened
 * from their index files, which record the segment's size and summary; a segment whose index files are
 * missing or do not match (e.g. a directory of {@code .log} files copied from another replica) is scanned
 * and its indexes rebuilt. The log start offset is not persisted: after {@link #open} it is the base
 * offset of the first segment (re-apply {@link #deleteSegmentsBelow} to restore a higher one).
 */
public final class PartitionLog implements Closeable {
  private static final Logger LOG = LoggerFactory.getLogger(PartitionLog.class);
  private static final Pattern LOG_FILE = Pattern.compile("(\\d{20})\\.log");
  private static final Pattern INDEX_FILE = Pattern.compile("(\\d{20})\\.(index|timeindex)(\\.tmp)?");
  private static final LogSegment[] NO_SEGMENTS = new LogSegment[0];

  private final Path dir;
  private final LogStoreConfig config;
  private final Object writeLock = new Object();
  private final Object flushLock = new Object();

  // Published state: replaced/written only by the writer, read by anyone.
  private volatile LogSegment[] segments;
  /** Bumped whenever {@link #segments} is replaced (a segment created, rolled or deleted). */
  private volatile long segmentsVersion;
  private volatile long logStartOffset;
  private volatile long nextOffset;
  private volatile long lastRaftIndex;
  private volatile long sizeInBytes;
  private volatile boolean closed;

  // Writer-only scratch, reused by every append.
  private final ByteBuffer header = ByteBuffer.allocate(BatchHeader.HEADER_SIZE);
  private final ByteBuffer[] frame = new ByteBuffer[2];
  private final CRC32C crc = new CRC32C();
  private boolean dirSyncNeeded;

  private PartitionLog(Path dir, LogStoreConfig config, LogSegment[] segments) {
    this.dir = dir;
    this.config = config;
    this.segments = segments;
    if (segments.length == 0) {
      this.logStartOffset = 0;
      this.nextOffset = 0;
      this.lastRaftIndex = -1;
    } else {
      LogSegment last = segments[segments.length - 1];
      this.logStartOffset = segments[0].baseOffset();
      this.nextOffset = last.nextOffset();
      this.lastRaftIndex = last.lastRaftIndex();
    }
    long size = 0;
    for (LogSegment s : segments) {
      size += s.sizeInBytes();
    }
    this.sizeInBytes = size;
  }

  /**
   * Opens (creating if absent) the store in {@code dir} and recovers it (see the class comment). Files
   * in {@code dir} that are not segment or index files are ignored; stale temporary index files and
   * index files without a segment are deleted.
   *
   * @throws CorruptLogException if a segment other than the last is corrupt, or segments are not contiguous
   */
  public static PartitionLog open(Path dir, LogStoreConfig config) throws IOException {
    Objects.requireNonNull(config, "config");
    Files.createDirectories(dir);
    List<Long> bases = new ArrayList<>();
    List<Path> indexFiles = new ArrayList<>();
    try (DirectoryStream<Path> files = Files.newDirectoryStream(dir)) {
      for (Path f : files) {
        String name = f.getFileName().toString();
        Matcher m = LOG_FILE.matcher(name);
        if (m.matches()) {
          bases.add(Long.parseLong(m.group(1)));
        } else if (INDEX_FILE.matcher(name).matches()) {
          indexFiles.add(f);
        }
      }
    }
    bases.sort(null);
    for (Path f : indexFiles) {
      Matcher m = INDEX_FILE.matcher(f.getFileName().toString());
      if (m.matches() && (m.group(3) != null || !bases.contains(Long.parseLong(m.group(1))))) {
        Files.deleteIfExists(f);
      }
    }

    List<LogSegment> opened = new ArrayList<>();
    LogSegment last = null;
    try {
      int lastIndex = bases.size() - 1;
      for (; lastIndex >= 0; lastIndex--) {
        LogSegment candidate = LogSegment.recoverLast(dir, bases.get(lastIndex), config);
        if (candidate.sizeInBytes() > 0) {
          last = candidate;
          break;
        }
        LOG.warn("Deleting segment {}: no whole batch survived recovery", candidate.logPath());
        candidate.delete();
      }
      for (int i = 0; i < lastIndex; i++) {
        opened.add(LogSegment.openSealed(dir, bases.get(i), config));
      }
      if (last != null) {
        opened.add(last);
        last = null;
      }
      for (int i = 0; i + 1 < opened.size(); i++) {
        LogSegment s = opened.get(i);
        long nextBase = opened.get(i + 1).baseOffset();
        if (s.nextOffset() != nextBase) {
          throw new CorruptLogException(s.logPath() + " ends at offset " + s.nextOffset()
              + " but the next segment starts at " + nextBase);
        }
      }
      PartitionLog log = new PartitionLog(dir, config, opened.toArray(NO_SEGMENTS));
      log.dirSyncNeeded = true;
      LOG.info("Opened {}: offsets [{}, {}), last raft index {}, {} segments", dir, log.logStartOffset,
          log.nextOffset, log.lastRaftIndex, opened.size());
      return log;
    } catch (IOException | RuntimeException e) {
      if (last != null) {
        opened.add(last);
      }
      for (LogSegment s : opened) {
        try {
          s.close();
        } catch (IOException suppressed) {
          e.addSuppressed(suppressed);
        }
      }
      throw e;
    }
  }

  // ---------------------------------------------------------------- writer

  /**
   * Appends one batch frame built from these fields and {@code payload} (its position..limit; the
   * buffer is not consumed). Rolls to a new segment first if the active one would exceed
   * {@link LogStoreConfig#segmentSizeBytes()}. Not fsynced (see {@link #flush()}).
   *
   * <p>Preconditions (else {@link IllegalArgumentException}, and nothing changes): {@code baseOffset ==
   * nextOffset()}, or any {@code baseOffset >= 0} if the log {@link #isEmpty()}; {@code recordCount >= 1};
   * {@code raftIndex > lastRaftIndex()}; {@code attributes} fits a byte (0..255).
   *
   * <p>Writer thread only.
   *
   * @return the frame's size in bytes
   * @throws IOException if the write fails (the log is then unchanged)
   */
  public int append(long baseOffset, int recordCount, long raftIndex, long logTimeMs, long maxTimestamp,
      int attributes, ByteBuffer payload) throws IOException {
    Objects.requireNonNull(payload, "payload");
    synchronized (writeLock) {
      ensureOpen();
      boolean empty = isEmpty();
      if (empty ? baseOffset < 0 : baseOffset != nextOffset) {
        throw new IllegalArgumentException("baseOffset " + baseOffset + " must be "
            + (empty ? ">= 0 in an empty log" : "nextOffset " + nextOffset));
      }
      if (recordCount < 1 || baseOffset > Long.MAX_VALUE - recordCount) {
        throw new IllegalArgumentException("recordCount must be >= 1 (and offsets must fit a long): " + recordCount);
      }
      if (raftIndex <= lastRaftIndex) {
        throw new IllegalArgumentException("raftIndex " + raftIndex + " must be > lastRaftIndex " + lastRaftIndex);
      }
      if ((attributes & ~0xFF) != 0) {
        throw new IllegalArgumentException("attributes must fit a byte: " + attributes);
      }
      if (payload.remaining() > BatchHeader.MAX_PAYLOAD_BYTES) {
        throw new IllegalArgumentException("payload too large: " + payload.remaining());
      }
      int frameSize = BatchHeader.HEADER_SIZE + payload.remaining();
      LogSegment active = activeSegmentFor(baseOffset, recordCount, frameSize);
      BatchHeader.write(header, crc, baseOffset, attributes, recordCount, raftIndex, logTimeMs, maxTimestamp, payload);
      frame[0] = header;
      frame[1] = payload;
      try {
        active.append(frame, frameSize, baseOffset, recordCount, raftIndex, maxTimestamp);
      } finally {
        frame[1] = null;
      }
      if (empty) {
        logStartOffset = baseOffset;
      }
      lastRaftIndex = raftIndex;
      sizeInBytes += frameSize;
      nextOffset = baseOffset + recordCount; // publishes the batch to readers of the log's state
      return frameSize;
    }
  }

  /** The segment to append to, rolling (or creating the first) if needed. */
  private LogSegment activeSegmentFor(long baseOffset, int recordCount, int frameSize) throws IOException {
    LogSegment[] segs = segments;
    LogSegment active = segs.length == 0 ? null : segs[segs.length - 1];
    if (active != null && active.sizeInBytes() == 0 && active.baseOffset() != baseOffset) {
      // Only possible in an empty log whose first append failed after creating the segment.
      active.delete();
      segs = NO_SEGMENTS;
      segments = segs;
      segmentsVersion++;
      active = null;
    }
    boolean roll = active != null && active.sizeInBytes() > 0
        && (active.sizeInBytes() + frameSize > config.segmentSizeBytes()
            || baseOffset + recordCount - active.baseOffset() > Integer.MAX_VALUE);
    if (active != null && !roll) {
      return active;
    }
    if (active != null) {
      active.seal();
    }
    LogSegment created = LogSegment.create(dir, baseOffset, config);
    LogSegment[] next = Arrays.copyOf(segs, segs.length + 1);
    next[segs.length] = created;
    segments = next;
    segmentsVersion++;
    dirSyncNeeded = true;
    return created;
  }

  /**
   * fsyncs every segment with unflushed writes (index files are fsynced whenever they are written) and
   * the directory if segments were created or deleted. Any thread: it holds the writer lock only to
   * collect the dirty segments, and fsyncs outside it, so a background flush never stalls appends; a
   * flush returns only after every fsync it depends on (its own or a concurrent one) completed.
   */
  public void flush() throws IOException {
    // One flush at a time: a flush must not return while another's fsync of the same data is still
    // running (it would have cleared the dirty marks).
    synchronized (flushLock) {
      flushDirty();
    }
  }

  private void flushDirty() throws IOException {
    List<LogSegment> dirty = new ArrayList<>(2);
    synchronized (writeLock) {
      ensureOpen();
      for (LogSegment s : segments) {
        if (s.takeDirty()) {
          dirty.add(s);
        }
      }
      if (dirSyncNeeded) {
        syncDirectory();
        dirSyncNeeded = false;
      }
    }
    // fsync outside the writer lock, so that a background flush never stalls the appender. An append
    // that lands meanwhile marks its segment dirty again and is covered by the next flush.
    for (LogSegment s : dirty) {
      try {
        s.force();
      } catch (ClosedChannelException e) {
        if (!s.isDeleted()) {
          throw e;
        }
      }
    }
  }


  private void syncDirectory() {
    try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
      ch.force(true);
    } catch (IOException e) {
      // Not supported on every platform (e.g. Windows); the files themselves are fsynced.
      LOG.debug("Could not fsync directory {}", dir, e);
    }
  }

  // ---------------------------------------------------------------- state

  /** First offset still stored (or as advanced by {@link #deleteSegmentsBelow}); 0 for an empty log. Any thread. */
  public long logStartOffset() {
    return logStartOffset;
  }

  /** Offset after the last stored record (the log end offset); 0 for an empty new log. Any thread. */
  public long nextOffset() {
    return nextOffset;
  }

  /** Raft index of the last stored batch, -1 if none. Any thread. */
  public long lastRaftIndex() {
    return lastRaftIndex;
  }

  /** Bytes of whole batches in all segment files. Any thread. */
  public long sizeInBytes() {
    return sizeInBytes;
  }

  /**
   * Whether the log holds no batch at all (then the next append may start at any offset). A log whose
   * start was advanced to its end by {@link #deleteSegmentsBelow} still holds its active segment and is
   * not empty. Any thread.
   */
  public boolean isEmpty() {
    return lastRaftIndex < 0;
  }

  // ---------------------------------------------------------------- readers

  /**
   * Whole batches starting with the one that contains {@code offset}, up to {@code maxBytes} in total
   * but at least one whole batch if any exists at or after {@code offset}. Only batches completely
   * appended before the call are visible. A slice never spans two segments (it may hold fewer bytes
   * than allowed; fetch again from the offset after it). Any thread, lock-free.
   *
   * @param maxBytes byte budget, &gt;= 0
   * @return an empty slice if {@code offset == nextOffset()}
   * @throws OffsetOutOfRangeException if {@code offset < logStartOffset()} or {@code offset > nextOffset()}
   */
  public FetchSlice read(long offset, int maxBytes) throws IOException {
    if (maxBytes < 0) {
      throw new IllegalArgumentException("maxBytes must be >= 0: " + maxBytes);
    }
    ensureOpen();
    long end = nextOffset; // read first: everything it covers is visible below
    long start = logStartOffset;
    if (offset < start || offset > end) {
      throw new OffsetOutOfRangeException(offset, start, end);
    }
    if (offset == end) {
      return FetchSlice.empty();
    }
    LogSegment segment = floorSegment(segments, offset);
    if (segment == null) {
      throw new OffsetOutOfRangeException(offset, logStartOffset, nextOffset);
    }
    FetchSlice slice;
    try {
      slice = segment.read(offset, maxBytes, end);
    } catch (ClosedChannelException e) {
      if (segment.isDeleted()) {
        throw new OffsetOutOfRangeException(offset, logStartOffset, nextOffset);
      }
      throw e;
    }
    if (slice == null) {
      throw new IllegalStateException("offset " + offset + " < nextOffset " + end + " is not in " + segment);
    }
    return slice;
  }

  /**
   * Offset of the first batch whose maxTimestamp is &gt;= {@code timestampMs}, or -1 if none. That is
   * the batch's base offset, except that a batch straddling {@link #logStartOffset()} yields the log
   * start offset (the first readable offset). Uses the time index, then scans within a segment from the
   * indexed position. Any thread, lock-free.
   */
  public long offsetForTimestamp(long timestampMs) throws IOException {
    ensureOpen();
    long end = nextOffset; // read first: only batches published to the log's readers count
    long start = logStartOffset; // volatile read: orders the reads below after the last published append
    for (LogSegment segment : segments) {
      if (segment.nextOffset() <= start || segment.maxTimestamp() < timestampMs) {
        continue;
      }
      try {
        long found = segment.offsetForTimestamp(timestampMs, start, end);
        if (found >= 0) {
          return found;
        }
      } catch (ClosedChannelException e) {
        if (!segment.isDeleted()) {
          throw e;
        }
        // Deleted by retention meanwhile: its batches are below the log start now.
      }
    }
    return -1;
  }

  private static LogSegment floorSegment(LogSegment[] segs, long offset) {
    int lo = 0;
    int hi = segs.length - 1;
    LogSegment found = null;
    while (lo <= hi) {
      int mid = (lo + hi) >>> 1;
      if (segs[mid].baseOffset() <= offset) {
        found = segs[mid];
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found;
  }

  // ---------------------------------------------------------------- retention

  /**
   * Sets {@code logStartOffset = max(logStartOffset, min(newLogStartOffset, nextOffset()))} and deletes
   * the segments all of whose offsets are below it, never the active (last) segment. Reads below the new
   * start then throw {@link OffsetOutOfRangeException}; slices already handed out for deleted segments
   * fail with {@link ClosedChannelException}. The new start is not persisted (see the class comment).
   * Writer thread.
   */
  public void deleteSegmentsBelow(long newLogStartOffset) throws IOException {
    synchronized (writeLock) {
      ensureOpen();
      long target = Math.min(newLogStartOffset, nextOffset);
      if (target > logStartOffset) {
        logStartOffset = target;
      }
      long start = logStartOffset;
      LogSegment[] segs = segments;
      int n = 0;
      while (n + 1 < segs.length && segs[n + 1].baseOffset() <= start) {
        n++;
      }
      if (n == 0) {
        return;
      }
      segments = Arrays.copyOfRange(segs, n, segs.length);
      segmentsVersion++;
      dirSyncNeeded = true;
      for (int i = 0; i < n; i++) {
        sizeInBytes -= segs[i].sizeInBytes();
        LOG.info("Deleting segment {} below log start offset {}", segs[i].logPath(), start);
        segs[i].delete();
      }
    }
  }

  /**
   * Changes whenever the set of segment files changes (one created, rolled or deleted); not when the
   * active segment grows. Any thread.
   */
  public long segmentsVersion() {
    return segmentsVersion;
  }

  /**
   * The current segment {@code .log} files, oldest first, each with its size of whole batches. Call
   * {@link #flush()} first if the files are to be copied as durable state. Any thread.
   */
  public List<SegmentFile> segmentFiles() {
    LogSegment[] segs = segments;
    List<SegmentFile> out = new ArrayList<>(segs.length);
    for (LogSegment s : segs) {
      out.add(new SegmentFile(s.logPath(), s.sizeInBytes()));
    }
    return List.copyOf(out);
  }

  /** The directory this log lives in. */
  public Path directory() {
    return dir;
  }

  /** The configuration the log was opened with. */
  public LogStoreConfig config() {
    return config;
  }

  /**
   * Flushes, writes the active segment's index files and closes every file. Idempotent. Later calls of
   * other methods throw {@link IllegalStateException}; slices handed out before fail on use.
   */
  @Override
  public void close() throws IOException {
    synchronized (writeLock) {
      if (closed) {
        return;
      }
      closed = true;
      IOException failure = null;
      LogSegment[] segs = segments;
      for (int i = 0; i < segs.length; i++) {
        try {
          if (i == segs.length - 1) {
            segs[i].seal();
          } else {
            segs[i].flush();
          }
        } catch (IOException e) {
          failure = addFailure(failure, e);
        }
        try {
          segs[i].close();
        } catch (IOException e) {
          failure = addFailure(failure, e);
        }
      }
      if (dirSyncNeeded) {
        syncDirectory();
      }
      if (failure != null) {
        throw failure;
      }
    }
  }

  private static IOException addFailure(IOException failure, IOException e) {
    if (failure == null) {
      return e;
    }
    failure.addSuppressed(e);
    return failure;
  }

  private void ensureOpen() {
    if (closed) {
      throw new IllegalStateException("log " + dir + " is closed");
    }
  }

  @Override
  public String toString() {
    return "PartitionLog{" + dir + ", offsets [" + logStartOffset + ", " + nextOffset + "), lastRaftIndex "
        + lastRaftIndex + "}";
  }
}
