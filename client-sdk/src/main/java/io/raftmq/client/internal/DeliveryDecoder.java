package io.raftmq.client.internal;

import io.raftmq.client.TopicPartition;
import io.raftmq.protocol.BatchFrames;
import io.raftmq.protocol.CorruptRecordException;
import io.raftmq.protocol.QueueDelivery;
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
   * Decodes {@code frames} (position to limit) for {@code deliveries}.
   *
   * @param leaseMs the lease length to assume for extensions; 0: estimate from each lease deadline
   * @throws CorruptRecordException on a bad frame or an unsupported codec
   */
  static Decoded decode(TopicPartition tp, List<QueueDelivery> deliveries, ByteBuffer frames, long leaseMs,
      SettleBatcher settles) {
    int n = deliveries.size();
    QueueDelivery[] ds = deliveries.toArray(new QueueDelivery[0]);
    if (!sorted(ds)) {
      Arrays.sort(ds, Comparator.comparingLong(QueueDelivery::getOffset));
    }
    long[] offsets = new long[n];
    for (int i = 0; i < n; i++) {
      offsets[i] = ds[i].getOffset();
    }
    DeliveryImpl[] found = new DeliveryImpl[n];
    long nowNanos = System.nanoTime();
    long nowMs = System.currentTimeMillis();
    BatchFrames.forEach(frames, frame -> {
      long base = frame.baseOffset();
      long next = frame.nextOffset();
      int first = lowerBound(offsets, base);
      if (first == n || offsets[first] >= next) {
        return; // no delivered offset in this frame
      }
      if (frame.codec() != 0) {
        throw new CorruptRecordException("unsupported codec " + frame.codec() + " at offset " + base);
      }
      long logTime = frame.logTimeMs();
      RecordCodec.decode(frame.payload(), frame.recordCount(),
          i -> Arrays.binarySearch(offsets, first, n, base + i) >= 0,
          (i, timestamp, key, value, headers) -> {
            int idx = Arrays.binarySearch(offsets, first, n, base + i);
            if (found[idx] == null) {
              QueueDelivery d = ds[idx];
              long lease = leaseMs > 0 ? leaseMs : estimateLeaseMs(d.getLeaseDeadlineMs(), nowMs);
              found[idx] = new DeliveryImpl(tp, base + i, timestamp, logTime, key, value, headers,
                  d.getDeliveryCount(), d.getLeaseDeadlineMs(), lease, nowNanos, settles);
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
        missing[m++] = offsets[i];
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

  private static boolean sorted(QueueDelivery[] ds) {
    for (int i = 1; i < ds.length; i++) {
      if (ds[i - 1].getOffset() > ds[i].getOffset()) {
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
