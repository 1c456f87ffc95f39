package io.raftmq.logstore;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * The sparse time index of one segment: entries (largest maxTimestamp of all batches up to and
 * including the indexed batch, that batch's offset relative to the segment's base). Both strictly
 * increase. An entry {@code (T, r)} proves that no batch up to and including {@code r} has a
 * timestamp above {@code T}, so a search for the first batch with maxTimestamp &gt;= t may start
 * after the last entry with {@code T < t}.
 *
 * <p>Entries are added at the same points as the {@link OffsetIndex}'s, when the running maximum grew.
 * Concurrency as in {@link OffsetIndex}: one writer, lock-free readers.
 *
 * <p>File ({@code %020d.timeindex}): header, entries, CRC32C.
 */
final class TimeIndex {
  private static final int MAGIC = 0x52515458; // "RQTX"
  private static final int VERSION = 1;
  private static final int HEADER_BYTES = 4 + 4 + 8 + 8 + 4;
  private static final int ENTRY_BYTES = 12;

  private record View(long[] timestamps, int[] relativeOffsets, int count) {}

  private static final View EMPTY = new View(new long[0], new int[0], 0);

  private volatile View view = EMPTY;

  /** Adds an entry if {@code maxTimestampSoFar} exceeds the last entry's timestamp; writer only. */
  void maybeAppend(long maxTimestampSoFar, int relativeOffset) {
    View v = view;
    int n = v.count;
    if (n > 0 && (maxTimestampSoFar <= v.timestamps[n - 1])) {
      return;
    }
    if (n > 0 && relativeOffset <= v.relativeOffsets[n - 1]) {
      throw new IllegalStateException("time index offsets must increase: " + relativeOffset + " after "
          + v.relativeOffsets[n - 1]);
    }
    long[] ts = v.timestamps;
    int[] rel = v.relativeOffsets;
    if (n == ts.length) {
      int capacity = Math.max(16, n * 2);
      ts = Arrays.copyOf(ts, capacity);
      rel = Arrays.copyOf(rel, capacity);
    }
    ts[n] = maxTimestampSoFar;
    rel[n] = relativeOffset;
    view = new View(ts, rel, n + 1);
  }

  /** Removes all entries; only while no reader can see this index (recovery). */
  void clear() {
    view = EMPTY;
  }

  int entryCount() {
    return view.count;
  }

  /**
   * The relative offset of the last entry whose timestamp is below {@code timestampMs} (every batch up
   * to it is older), or -1 if there is none (search from the segment's start).
   */
  long lastRelativeOffsetBefore(long timestampMs) {
    View v = view;
    int lo = 0;
    int hi = v.count - 1;
    int found = -1;
    while (lo <= hi) {
      int mid = (lo + hi) >>> 1;
      if (v.timestamps[mid] < timestampMs) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found < 0 ? -1 : v.relativeOffsets[found];
  }

  /** Writes the index to {@code file} (atomically, fsynced). */
  void write(Path file, long baseOffset, long logSizeBytes) throws IOException {
    View v = view;
    ByteBuffer buf = ByteBuffer.allocate(HEADER_BYTES + v.count * ENTRY_BYTES + Integer.BYTES);
    buf.putInt(MAGIC).putInt(VERSION).putLong(baseOffset).putLong(logSizeBytes).putInt(v.count);
    for (int i = 0; i < v.count; i++) {
      buf.putLong(v.timestamps[i]).putInt(v.relativeOffsets[i]);
    }
    IndexFiles.writeAtomically(file, buf);
  }

  /**
   * Reads {@code file}, or returns {@code null} if it is missing, torn, for another segment or
   * inconsistent with the segment's {@code summary}.
   */
  static TimeIndex load(Path file, long baseOffset, SegmentSummary summary) throws IOException {
    ByteBuffer buf = IndexFiles.readVerified(file, HEADER_BYTES, HEADER_BYTES + (long) Integer.MAX_VALUE);
    if (buf == null || buf.getInt() != MAGIC || buf.getInt() != VERSION || buf.getLong() != baseOffset
        || buf.getLong() != summary.sizeInBytes()) {
      return null;
    }
    int count = buf.getInt();
    if (count < 0 || buf.remaining() != (long) count * ENTRY_BYTES) {
      return null;
    }
    TimeIndex index = new TimeIndex();
    long maxRelative = summary.nextOffset() - baseOffset;
    for (int i = 0; i < count; i++) {
      long ts = buf.getLong();
      int rel = buf.getInt();
      View v = index.view;
      boolean increasing = v.count == 0 || (ts > v.timestamps[v.count - 1] && rel > v.relativeOffsets[v.count - 1]);
      if (rel < 0 || rel >= maxRelative || ts > summary.maxTimestamp() || !increasing) {
        return null;
      }
      index.maybeAppend(ts, rel);
    }
    return index;
  }
}
