package io.raftmq.logstore;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * The sparse offset index of one segment: entries (offset relative to the segment's base, file
 * position of the batch starting there), one per {@link LogStoreConfig#indexIntervalBytes()} bytes,
 * both strictly increasing.
 *
 * <p>One writer (the appender) adds entries; any number of readers look up concurrently without
 * locks: an immutable view (arrays + count) is published through a volatile field after each add;
 * array slots below a published count never change.
 *
 * <p>File ({@code %020d.index}): a header with the segment's summary (so a sealed segment opens
 * without a scan), the entries, a CRC32C; see {@link #write} and {@link #load}.
 */
final class OffsetIndex {
  private static final int MAGIC = 0x52514958; // "RQIX"
  private static final int VERSION = 1;
  private static final int HEADER_BYTES = 4 + 4 + 8 * 6 + 4 + 4;
  private static final int ENTRY_BYTES = 8;

  private record View(int[] relativeOffsets, int[] positions, int count) {}

  private static final View EMPTY = new View(new int[0], new int[0], 0);

  private volatile View view = EMPTY;

  /** Adds an entry; writer only. Both values must exceed the last entry's. */
  void append(int relativeOffset, int position) {
    View v = view;
    int n = v.count;
    if (n > 0 && (relativeOffset <= v.relativeOffsets[n - 1] || position <= v.positions[n - 1])) {
      throw new IllegalStateException("offset index entries must increase: (" + relativeOffset + ", " + position
          + ") after (" + v.relativeOffsets[n - 1] + ", " + v.positions[n - 1] + ")");
    }
    int[] rel = v.relativeOffsets;
    int[] pos = v.positions;
    if (n == rel.length) {
      int capacity = Math.max(16, n * 2);
      rel = Arrays.copyOf(rel, capacity);
      pos = Arrays.copyOf(pos, capacity);
    }
    rel[n] = relativeOffset;
    pos[n] = position;
    view = new View(rel, pos, n + 1);
  }

  /** Removes all entries; only while no reader can see this index (recovery). */
  void clear() {
    view = EMPTY;
  }

  int entryCount() {
    return view.count;
  }

  /** File position of the last entry whose relative offset is &lt;= {@code relativeOffset}; 0 if none. */
  int floorPositionForOffset(long relativeOffset) {
    View v = view;
    int lo = 0;
    int hi = v.count - 1;
    int found = -1;
    while (lo <= hi) {
      int mid = (lo + hi) >>> 1;
      if (v.relativeOffsets[mid] <= relativeOffset) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found < 0 ? 0 : v.positions[found];
  }

  /** The largest indexed batch position &lt;= {@code position}; 0 if none. */
  int floorPosition(long position) {
    View v = view;
    int lo = 0;
    int hi = v.count - 1;
    int found = -1;
    while (lo <= hi) {
      int mid = (lo + hi) >>> 1;
      if (v.positions[mid] <= position) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found < 0 ? 0 : v.positions[found];
  }

  /** Writes this index and the segment summary to {@code file} (atomically, fsynced). */
  void write(Path file, long baseOffset, SegmentSummary summary) throws IOException {
    View v = view;
    ByteBuffer buf = ByteBuffer.allocate(HEADER_BYTES + v.count * ENTRY_BYTES + Integer.BYTES);
    buf.putInt(MAGIC).putInt(VERSION).putLong(baseOffset)
        .putLong(summary.sizeInBytes()).putLong(summary.nextOffset()).putLong(summary.lastRaftIndex())
        .putLong(summary.maxTimestamp()).putLong(summary.lastBatchPosition())
        .putInt(summary.lastBatchCrc()).putInt(v.count);
    for (int i = 0; i < v.count; i++) {
      buf.putInt(v.relativeOffsets[i]).putInt(v.positions[i]);
    }
    IndexFiles.writeAtomically(file, buf);
  }

  /** What {@link #load} found: the index and the summary of the segment it describes. */
  record Loaded(OffsetIndex index, SegmentSummary summary) {}

  /**
   * Reads {@code file}, or returns {@code null} if it is missing, torn, for another base offset, or
   * inconsistent with a segment file of {@code logSizeBytes} bytes.
   */
  static Loaded load(Path file, long baseOffset, long logSizeBytes) throws IOException {
    ByteBuffer buf = IndexFiles.readVerified(file, HEADER_BYTES, HEADER_BYTES + (long) Integer.MAX_VALUE);
    if (buf == null || buf.getInt() != MAGIC || buf.getInt() != VERSION || buf.getLong() != baseOffset) {
      return null;
    }
    SegmentSummary summary = new SegmentSummary(buf.getLong(), buf.getLong(), buf.getLong(), buf.getLong(),
        buf.getLong(), buf.getInt());
    int count = buf.getInt();
    if (summary.sizeInBytes() != logSizeBytes || count < 0 || buf.remaining() != (long) count * ENTRY_BYTES
        || summary.nextOffset() <= baseOffset || summary.lastBatchPosition() < 0
        || summary.lastBatchPosition() + BatchHeader.HEADER_SIZE > logSizeBytes) {
      return null;
    }
    OffsetIndex index = new OffsetIndex();
    long maxRelative = summary.nextOffset() - baseOffset;
    for (int i = 0; i < count; i++) {
      int rel = buf.getInt();
      int pos = buf.getInt();
      View v = index.view;
      boolean increasing = v.count == 0 || (rel > v.relativeOffsets[v.count - 1] && pos > v.positions[v.count - 1]);
      if (rel < 0 || rel >= maxRelative || pos < 0 || pos > summary.lastBatchPosition() || !increasing) {
        return null;
      }
      index.append(rel, pos);
    }
    return new Loaded(index, summary);
  }
}
