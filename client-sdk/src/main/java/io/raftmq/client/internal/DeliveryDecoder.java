package io.raftmq.client.internal;

import io.raftmq.client.TopicPartition;
import io.raftmq.protocol.BatchFrames;
import io.raftmq.protocol.CorruptRecordException;
import io.raftmq.protocol.LeaseRuns;
import io.raftmq.protocol.PartitionReceiveResult;
import io.raftmq.protocol.RecordCodec;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

/**
 * Turns one partition's part of a {@code QUEUE_RECEIVE} response into deliveries: walks the batch
 * frames (verifying their checksums), skips frames holding no delivered offset, and decodes only the
 * delivered offsets' records, which it pairs with their delivery counts and lease deadlines. Stateless.
 */
final class DeliveryDecoder {
  private DeliveryDecoder() {}

  /** What {@link #decode} found: the deliveries in offset order, and offsets whose record was missing. */
  record Decoded(List<DeliveryImpl> deliveries, long[] missing) {}

  /**
   * Decodes {@code frames} (position to limit) for the leased offsets of one partition's result.
   *
   * @param leaseMs the lease length to assume for extensions; 0: estimate from the lease deadline
   * @param maxLeases the most leases the result may hold (what the receive asked for and has not got yet)
   * @throws CorruptRecordException on a bad frame, an unsupported codec, or more leases than {@code maxLeases}
   */
  static Decoded decode(TopicPartition tp, PartitionReceiveResult result, ByteBuffer frames, long leaseMs,
      SettleBatcher settles, int maxLeases) {
    int runs = result.getLeaseRunsCount();
    int n = LeaseRuns.validate(result::getLeaseRuns, runs);
    if (n > maxLeases) {
      throw new CorruptRecordException(n + " leases in " + tp + " for a receive that asked for at most "
          + Math.max(0, maxLeases));
    }
    long[] offsets = new long[n];
    int[] counts = new int[n];
    int k = 0;
    for (int i = 0; i < runs; i += 3) {
      long first = result.getLeaseRuns(i);
      int count = (int) result.getLeaseRuns(i + 2);
      for (long j = 0, len = result.getLeaseRuns(i + 1); j < len; j++) {
        offsets[k] = first + j;
        counts[k++] = count;
      }
    }
    return decode(tp, offsets, counts, result.getLeaseDeadlineMs(), frames, leaseMs, settles);
  }

  /** Decodes {@code frames} for {@code offsets} (leased {@code counts[i]} times, until {@code deadlineMs}). */
  static Decoded decode(TopicPartition tp, long[] offsets, int[] counts, long deadlineMs, ByteBuffer frames,
      long leaseMs, SettleBatcher settles) {
    int n = offsets.length;
    if (!sorted(offsets)) {
      // The broker lists them ascending; sort a copy of the pairs if one does not.
      long[][] pairs = new long[n][];
      for (int i = 0; i < n; i++) {
        pairs[i] = new long[] {offsets[i], counts[i]};
      }
      Arrays.sort(pairs, Comparator.comparingLong(p -> p[0]));
      offsets = new long[n];
      counts = new int[n];
      for (int i = 0; i < n; i++) {
        offsets[i] = pairs[i][0];
        counts[i] = (int) pairs[i][1];
      }
    }
    long[] sortedOffsets = offsets;
    int[] sortedCounts = counts;
    DeliveryImpl[] found = new DeliveryImpl[n];
    long nowNanos = System.nanoTime();
    long lease = leaseMs > 0 ? leaseMs : estimateLeaseMs(deadlineMs, System.currentTimeMillis());
    BatchFrames.forEach(frames, frame -> {
      long base = frame.baseOffset();
      long next = frame.nextOffset();
      int first = lowerBound(sortedOffsets, base);
      if (first == n || sortedOffsets[first] >= next) {
        return; // no delivered offset in this frame
      }
      if (frame.codec() != 0) {
        throw new CorruptRecordException("unsupported codec " + frame.codec() + " at offset " + base);
      }
      long logTime = frame.logTimeMs();
      // Offsets ascend, and so do the records of a frame: walk both together.
      int[] cursor = {first};
      RecordCodec.decode(frame.payload(), frame.recordCount(),
          i -> {
            long offset = base + i;
            while (cursor[0] < n && sortedOffsets[cursor[0]] < offset) {
              cursor[0]++;
            }
            return cursor[0] < n && sortedOffsets[cursor[0]] == offset;
          },
          (i, timestamp, key, value, headers) -> {
            int idx = cursor[0];
            if (found[idx] == null) {
              found[idx] = new DeliveryImpl(tp, base + i, timestamp, logTime, key, value, headers,
                  sortedCounts[idx], deadlineMs, lease, nowNanos, settles);
            }
          });
    });
    List<DeliveryImpl> out = new ArrayList<>(n);
    int missingCount = 0;
    for (DeliveryImpl d : found) {
      if (d != null) {
        out.add(d);
      } else {
        missingCount++;
      }
    }
    long[] missing = new long[missingCount];
    for (int i = 0, m = 0; i < n; i++) {
      if (found[i] == null) {
        missing[m++] = sortedOffsets[i];
      }
    }
    return new Decoded(out, missing);
  }

  /**
   * The lease length implied by a deadline in the leader's clock, read with this client's clock: at
   * least 100 ms; the default visibility timeout when the clocks disagree too much to tell.
   */
  static long estimateLeaseMs(long deadlineMs, long nowMs) {
    long left = deadlineMs - nowMs;
    if (left <= 0 || left > io.raftmq.client.QueueConsumerConfig.MAX_VISIBILITY_TIMEOUT.toMillis()) {
      return io.raftmq.client.QueueConsumerConfig.DEFAULT_VISIBILITY_TIMEOUT.toMillis();
    }
    return Math.max(100, left);
  }

  private static boolean sorted(long[] offsets) {
    for (int i = 1; i < offsets.length; i++) {
      if (offsets[i - 1] >= offsets[i]) {
        return false;
      }
    }
    return true;
  }

  /** The first index whose offset is at least {@code offset}. */
  private static int lowerBound(long[] offsets, long offset) {
    int lo = 0;
    int hi = offsets.length;
    while (lo < hi) {
      int mid = (lo + hi) >>> 1;
      if (offsets[mid] < offset) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    return lo;
  }
}
