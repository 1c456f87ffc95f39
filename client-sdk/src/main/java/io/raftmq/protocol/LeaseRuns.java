package io.raftmq.protocol;

import java.util.function.LongConsumer;

/**
 * Leases as runs: consecutive offsets delivered for the same time, written as packed
 * {@code (first offset, length, delivery count)} triples. A receive that leases thousands of new
 * records sends one triple instead of two numbers per message, and nobody encodes, parses or copies
 * a number per message on the way (broker reply, client response, client decode).
 */
public final class LeaseRuns {
  private LeaseRuns() {}

  /** Collects leases in ascending offset order and writes each run once it ends. */
  public static final class Writer {
    private final LongConsumer out;
    private long start = -1;
    private long length;
    private long count;

    public Writer(LongConsumer out) {
      this.out = out;
    }

    /** Adds a lease of {@code offset} for the {@code deliveryCount}-th time. */
    public void add(long offset, int deliveryCount) {
      if (length > 0 && offset == start + length && deliveryCount == count) {
        length++;
        return;
      }
      flush();
      start = offset;
      length = 1;
      count = deliveryCount;
    }

    /** Writes the open run, if any. */
    public void flush() {
      if (length > 0) {
        out.accept(start);
        out.accept(length);
        out.accept(count);
        length = 0;
      }
    }
  }

  /** Checks that {@code runs} (size {@code n}) holds whole triples of sane values; returns the lease count. */
  public static int validate(LongGetter runs, int n) {
    if (n % 3 != 0) {
      throw new CorruptRecordException(n + " numbers do not make (offset, length, delivery count) triples");
    }
    long total = 0;
    for (int i = 0; i < n; i += 3) {
      long offset = runs.get(i);
      long length = runs.get(i + 1);
      long count = runs.get(i + 2);
      if (offset < 0 || length < 1 || count < 1 || count > Integer.MAX_VALUE || offset + length < offset) {
        throw new CorruptRecordException("bad lease run (" + offset + ", " + length + ", " + count + ")");
      }
      total += length;
      if (total > Integer.MAX_VALUE) {
        throw new CorruptRecordException("lease runs of more than " + Integer.MAX_VALUE + " leases");
      }
    }
    return (int) total;
  }

  /** The number of leases in well-formed {@code runs} (size {@code n}). */
  public static int count(LongGetter runs, int n) {
    long total = 0;
    for (int i = 1; i < n; i += 3) {
      total += runs.get(i);
    }
    return (int) total;
  }

  /** Indexed access to a packed list (a protobuf {@code getXxx(int)}). */
  @FunctionalInterface
  public interface LongGetter {
    long get(int index);
  }
}
