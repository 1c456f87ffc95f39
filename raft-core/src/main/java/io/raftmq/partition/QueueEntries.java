package io.raftmq.partition;

import java.util.Arrays;

/**
 * The live (unsettled, not dead) entries of one queue group in one partition, in offset order, as
 * parallel primitive arrays: no object, box or map node per message. Entries are addressed by their
 * index, which stays valid until {@link #compact()}; new offsets are appended at the tail (the group's
 * end only grows), settled ones become free slots that the head skips and {@link #compact()} squeezes
 * out once they outnumber the live ones. Lookup by offset is a binary search. Not thread-safe (the
 * partition's apply thread).
 */
final class QueueEntries {
  static final byte FREE = 0;
  static final byte AVAILABLE = 1;
  static final byte LEASED = 2;

  private static final int INITIAL_CAPACITY = 64;
  /** Compactions over which the most live entries decide whether the table may shrink. */
  static final int SHRINK_WINDOW = 256;

  long[] offset = new long[INITIAL_CAPACITY];
  byte[] state = new byte[INITIAL_CAPACITY];
  int[] deliveries = new int[INITIAL_CAPACITY];
  long[] keyHash = new long[INITIAL_CAPACITY];
  long[] expiresAt = new long[INITIAL_CAPACITY];
  long[] visibleAt = new long[INITIAL_CAPACITY];
  long[] leaseDeadline = new long[INITIAL_CAPACITY];
  /** The lessee (the command's own string: one reference per entry, no copy). */
  String[] consumer = new String[INITIAL_CAPACITY];
  long[] firstFailure = new long[INITIAL_CAPACITY];
  long[] lastFailure = new long[INITIAL_CAPACITY];
  int[] redrives = new int[INITIAL_CAPACITY];

  /** Slots [head, tail) hold entries in offset order, some of them free. */
  private int head;
  private int tail;
  private int live;
  /** Where {@link #find} looks first: the slot after the one it found last (a guess, always checked). */
  private int findHint;
  /** The most live entries since the last shrink decision, and compactions since then. */
  private int peakLive;
  private int compactions;

  int size() {
    return live;
  }

  boolean isEmpty() {
    return live == 0;
  }

  int head() {
    return head;
  }

  int tail() {
    return tail;
  }

  /** The lowest live offset (only if not empty). */
  long firstOffset() {
    return offset[head];
  }

  /** The index of the live entry at {@code off}, or -1. */
  int find(long off) {
    // A settle names its offsets in ascending order, mostly adjacent ones: try the slot after the last
    // one found before searching (indices move on compaction, so the hint is only a guess, checked).
    int h = findHint;
    if (h >= head && h < tail && offset[h] == off && state[h] != FREE) {
      findHint = h + 1;
      return h;
    }
    int i = lowerBound(off);
    if (i < tail && offset[i] == off && state[i] != FREE) {
      findHint = i + 1;
      return i;
    }
    return -1;
  }

  /** The first index in [head, tail) whose offset is at least {@code off} (tail: none). */
  int lowerBound(long off) {
    int lo = head;
    int hi = tail;
    while (lo < hi) {
      int mid = (lo + hi) >>> 1;
      if (offset[mid] < off) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    return lo;
  }

  /** Adds an AVAILABLE entry above every offset held; returns its index. */
  int append(long off, long key, long expires) {
    if (tail > head && offset[tail - 1] >= off) {
      throw new IllegalArgumentException("offset " + off + " is not above " + offset[tail - 1]);
    }
    if (tail == offset.length) {
      makeRoom();
    }
    int i = tail++;
    fill(i, off, key, expires);
    return i;
  }

  /** Slot {@code i} becomes a new AVAILABLE entry. */
  private void fill(int i, long off, long key, long expires) {
    offset[i] = off;
    state[i] = AVAILABLE;
    deliveries[i] = 0;
    keyHash[i] = key;
    expiresAt[i] = expires;
    visibleAt[i] = 0;
    leaseDeadline[i] = 0;
    consumer[i] = null;
    firstFailure[i] = 0;
    lastFailure[i] = 0;
    redrives[i] = 0;
    live++;
  }

  /**
   * Adds an entry at an offset that may lie below others (a redriven dead letter, a snapshot's
   * entries in any order); returns its index. Shifts the entries above it: a rare path.
   */
  int insert(long off, long key, long expires) {
    if (tail == head || offset[tail - 1] < off) {
      return append(off, key, expires);
    }
    int at = lowerBound(off);
    if (offset[at] == off) {
      if (state[at] != FREE) {
        throw new IllegalArgumentException("offset " + off + " is live already");
      }
    } else {
      if (tail == offset.length) {
        makeRoom();
        at = lowerBound(off);
      }
      shiftUp(at);
    }
    fill(at, off, key, expires);
    return at;
  }

  /**
   * Adds AVAILABLE entries at offsets [first, first + n), keyless and without expiry, above every offset
   * held: one reservation and one fill per column instead of n appends.
   */
  void appendRun(long first, int n) {
    if (n <= 0) {
      return;
    }
    if (tail > head && offset[tail - 1] >= first) {
      throw new IllegalArgumentException("offset " + first + " is not above " + offset[tail - 1]);
    }
    reserve(n);
    int from = tail;
    int to = tail + n;
    for (int k = 0; k < n; k++) {
      offset[from + k] = first + k;
    }
    Arrays.fill(state, from, to, AVAILABLE);
    Arrays.fill(deliveries, from, to, 0);
    Arrays.fill(keyHash, from, to, 0L);
    Arrays.fill(expiresAt, from, to, 0L);
    Arrays.fill(visibleAt, from, to, 0L);
    Arrays.fill(leaseDeadline, from, to, 0L);
    Arrays.fill(consumer, from, to, null);
    Arrays.fill(firstFailure, from, to, 0L);
    Arrays.fill(lastFailure, from, to, 0L);
    Arrays.fill(redrives, from, to, 0);
    tail = to;
    live += n;
  }

  /**
   * Frees the entry at {@code i} and leaves the head where it is, so that indices stay valid for a run of
   * removals; {@link #settleHead()} must follow before anything else reads the table.
   */
  void free(int i) {
    state[i] = FREE;
    consumer[i] = null;
    live--;
  }

  /** Moves the head past free slots (after {@link #free}). */
  void settleHead() {
    while (head < tail && state[head] == FREE) {
      head++;
    }
    if (live == 0) {
      head = 0;
      tail = 0;
    }
  }

  /** Frees the entry at {@code i}; the head moves past free slots. */
  void remove(int i) {
    state[i] = FREE;
    consumer[i] = null;
    live--;
    while (head < tail && state[head] == FREE) {
      head++;
    }
    if (live == 0) {
      head = 0;
      tail = 0;
    }
  }

  /**
   * Squeezes out free slots once they outnumber the live entries (amortised O(1) per removal). Moves
   * entries: indices held before are void afterwards.
   */
  void compact() {
    if (tail - head - live > live + 64) {
      squeeze();
    }
    // Give back what a burst made the table take (idle groups are many and long-lived), but not to
    // regrow it at once: a drained table shrinks at once, one in use only when its most live entries
    // over the last SHRINK_WINDOW compactions needed less than a quarter of it.
    peakLive = Math.max(peakLive, live);
    if (live == 0 || ++compactions >= SHRINK_WINDOW) {
      // Room for twice the peak: appends grow the table at three quarters full.
      int want = live == 0 ? INITIAL_CAPACITY : Math.max(INITIAL_CAPACITY, Integer.highestOneBit(peakLive) * 4);
      if (want < offset.length) {
        squeeze();
        grow(want);
      }
      peakLive = live;
      compactions = 0;
    }
  }

  /** Slots allocated (for tests). */
  int capacity() {
    return offset.length;
  }

  /**
   * Makes room for {@code n} appends with one reallocation at most (appends alone would double the
   * table once per doubling of its size: after a drained table shrank, a few hundred KiB of new arrays
   * and copies, ten times over, for one large acquire).
   */
  void reserve(int n) {
    if (n <= 0 || tail + n <= offset.length) {
      return;
    }
    if (tail - head - live > 0 || head > 0) {
      squeeze();
    }
    long need = (long) tail + n;
    if (need > offset.length * 3L / 4) {
      long capacity = offset.length;
      while (capacity * 3 / 4 < need) {
        capacity *= 2;
      }
      grow((int) Math.min(Integer.MAX_VALUE - 8, capacity));
    }
  }

  private void makeRoom() {
    if (tail - head - live > 0 || head > 0) {
      squeeze();
    }
    if (tail > offset.length * 3 / 4) {
      grow(offset.length * 2);
    }
  }

  /**
   * Moves the live entries to [0, live), in order. Settles mostly free whole stretches, so the live
   * entries lie in runs: each run moves with one array copy per column.
   */
  private void squeeze() {
    int w = 0;
    int r = head;
    while (r < tail) {
      while (r < tail && state[r] == FREE) {
        r++;
      }
      int start = r;
      while (r < tail && state[r] != FREE) {
        r++;
      }
      int length = r - start;
      if (length > 0 && w != start) {
        moveSlots(start, w, length);
      }
      w += length;
    }
    Arrays.fill(consumer, w, tail, null);
    Arrays.fill(state, w, tail, FREE);
    head = 0;
    tail = w;
  }

  /** Copies slots [from, from + length) to [to, to + length), every column (the ranges may overlap). */
  private void moveSlots(int from, int to, int length) {
    System.arraycopy(offset, from, offset, to, length);
    System.arraycopy(state, from, state, to, length);
    System.arraycopy(deliveries, from, deliveries, to, length);
    System.arraycopy(keyHash, from, keyHash, to, length);
    System.arraycopy(expiresAt, from, expiresAt, to, length);
    System.arraycopy(visibleAt, from, visibleAt, to, length);
    System.arraycopy(leaseDeadline, from, leaseDeadline, to, length);
    System.arraycopy(consumer, from, consumer, to, length);
    System.arraycopy(firstFailure, from, firstFailure, to, length);
    System.arraycopy(lastFailure, from, lastFailure, to, length);
    System.arraycopy(redrives, from, redrives, to, length);
  }

  /** Reallocates every array at {@code capacity} (at least the slots in use). */
  private void grow(int capacity) {
    offset = Arrays.copyOf(offset, capacity);
    state = Arrays.copyOf(state, capacity);
    deliveries = Arrays.copyOf(deliveries, capacity);
    keyHash = Arrays.copyOf(keyHash, capacity);
    expiresAt = Arrays.copyOf(expiresAt, capacity);
    visibleAt = Arrays.copyOf(visibleAt, capacity);
    leaseDeadline = Arrays.copyOf(leaseDeadline, capacity);
    consumer = Arrays.copyOf(consumer, capacity);
    firstFailure = Arrays.copyOf(firstFailure, capacity);
    lastFailure = Arrays.copyOf(lastFailure, capacity);
    redrives = Arrays.copyOf(redrives, capacity);
  }

  /** Opens slot {@code at} by moving [at, tail) up by one (capacity permitting). */
  private void shiftUp(int at) {
    moveSlots(at, at + 1, tail - at);
    tail++;
  }
}
