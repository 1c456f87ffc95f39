package io.raftmq.partition;

import java.util.Arrays;

/**
 * A multiset of longs with its minimum, as sorted parallel arrays of distinct values and counts: no
 * box per add or remove. Made for lease deadlines, which arrive nearly in order (one value per
 * acquire, shared by all its leases), so adds land at the end and removals drain the front. Not
 * thread-safe.
 */
final class LongMultiset {
  private long[] values = new long[16];
  private int[] counts = new int[16];
  /** Distinct values in [head, tail), ascending; some may have count 0 until squeezed out. */
  private int head;
  private int tail;
  /** Slots in [head, tail) whose count is 0. */
  private int zeros;
  private long size;
  /** The slot of the last removal: where {@link #remove} looks first. */
  private int removeHint;

  boolean isEmpty() {
    return size == 0;
  }

  long size() {
    return size;
  }

  /** The smallest value (only if not empty). */
  long min() {
    return values[head];
  }

  void add(long value, int n) {
    if (n <= 0) {
      return;
    }
    size += n;
    int at = tail > head && values[tail - 1] >= value ? lowerBound(value) : tail;
    if (at < tail && values[at] == value) {
      if (counts[at] == 0) {
        zeros--;
      }
      counts[at] += n;
      return;
    }
    if (tail == values.length) {
      squeeze();
      if (tail > values.length / 2) {
        values = Arrays.copyOf(values, values.length * 2);
        counts = Arrays.copyOf(counts, counts.length * 2);
      }
      at = tail > head && values[tail - 1] > value ? lowerBound(value) : tail;
    }
    System.arraycopy(values, at, values, at + 1, tail - at);
    System.arraycopy(counts, at, counts, at + 1, tail - at);
    values[at] = value;
    counts[at] = n;
    tail++;
  }

  /** Removes one occurrence of {@code value}; false if it is not held. */
  boolean remove(long value) {
    return remove(value, 1);
  }

  /**
   * Removes {@code n} occurrences of {@code value} (as many as are held, if fewer); false if none is.
   */
  boolean remove(long value, int n) {
    // The acks of one settle mostly share a deadline (that of the acquire that leased them): try the
    // slot of the last removal before searching (slots move on insert and squeeze: checked).
    int at = removeHint;
    if (at < head || at >= tail || values[at] != value) {
      at = lowerBound(value);
    }
    removeHint = at;
    if (at == tail || values[at] != value || counts[at] == 0) {
      return false;
    }
    int k = Math.min(n, counts[at]);
    size -= k;
    counts[at] -= k;
    if (counts[at] == 0) {
      zeros++;
    }
    while (head < tail && counts[head] == 0) {
      head++;
      zeros--;
    }
    if (head == tail) {
      head = 0;
      tail = 0;
    } else if (zeros > 32 && zeros > (tail - head) / 2) {
      squeeze();
    }
    return true;
  }

  private int lowerBound(long value) {
    int lo = head;
    int hi = tail;
    while (lo < hi) {
      int mid = (lo + hi) >>> 1;
      if (values[mid] < value) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    return lo;
  }

  private void squeeze() {
    int w = 0;
    for (int r = head; r < tail; r++) {
      if (counts[r] != 0) {
        values[w] = values[r];
        counts[w] = counts[r];
        w++;
      }
    }
    head = 0;
    tail = w;
    zeros = 0;
  }
}
