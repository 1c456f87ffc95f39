package io.raftmq.client.internal;

import io.raftmq.client.RaftMqException;
import io.raftmq.client.RecordMetadata;
import io.raftmq.client.TopicPartition;
import io.raftmq.protocol.ErrorCode;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;

/**
 * The producer's queue: per partition a deque of batches, oldest first, whose memory comes from a
 * {@link BufferPool}. Senders append; the sender thread {@link #drain}s ready batches (full, lingered
 * long enough, or flushing), up to {@code maxInFlightPerPartition} in flight per partition, in deque
 * order, so that sequence numbers follow the deque. The broker appends an idempotent producer's
 * batches only in sequence order, so several in flight cannot reorder a partition; a batch bounced
 * for a gap ({@code OUT_OF_ORDER_SEQUENCE} behind an unfinished predecessor) is retried after it.
 * Thread-safe: each deque is guarded by its own monitor; nothing blocks while holding one.
 */
public final class RecordAccumulator {
  private final BufferPool pool;
  private final int batchSizeBytes;
  private final long lingerNanos;
  private final long deliveryTimeoutNanos;
  private final ConcurrentHashMap<TopicPartition, Deque<ProducerBatch>> batches = new ConcurrentHashMap<>();
  private final Set<ProducerBatch> incomplete = ConcurrentHashMap.newKeySet();
  private final AtomicInteger flushesInProgress = new AtomicInteger();
  private final Runnable wakeSender;
  private final int maxInFlightPerPartition;
  private volatile boolean closing;

  /**
   * An accumulator; {@code wakeSender} is called whenever a batch may have become ready or a partition
   * unmuted.
   */
  public RecordAccumulator(BufferPool pool, int batchSizeBytes, long lingerNanos, long deliveryTimeoutNanos,
      Runnable wakeSender) {
    this(pool, batchSizeBytes, lingerNanos, deliveryTimeoutNanos, 1, wakeSender);
  }

  /** An accumulator that lets up to {@code maxInFlightPerPartition} batches of a partition be in flight. */
  public RecordAccumulator(BufferPool pool, int batchSizeBytes, long lingerNanos, long deliveryTimeoutNanos,
      int maxInFlightPerPartition, Runnable wakeSender) {
    if (maxInFlightPerPartition < 1) {
      throw new IllegalArgumentException("maxInFlightPerPartition must be >= 1");
    }
    this.maxInFlightPerPartition = maxInFlightPerPartition;
    this.pool = pool;
    this.batchSizeBytes = batchSizeBytes;
    this.lingerNanos = lingerNanos;
    this.deliveryTimeoutNanos = deliveryTimeoutNanos;
    this.wakeSender = wakeSender;
  }

  /**
   * Appends one record of {@code size} encoded bytes to {@code tp}'s open batch, opening a new batch
   * (and reserving its memory, blocking up to {@code maxBlockNanos}) if none has room.
   *
   * @throws RaftMqException {@code THROTTLED} when the memory stayed exhausted, or if the producer is closing
   */
  public CompletableFuture<RecordMetadata> append(TopicPartition tp, long timestamp, byte[] key, byte[] value,
      Map<String, byte[]> headers, int size, long maxBlockNanos) {
    Deque<ProducerBatch> deque = batches.computeIfAbsent(tp, k -> new ArrayDeque<>());
    boolean wake = false;
    synchronized (deque) {
      checkOpen();
      ProducerBatch last = deque.peekLast();
      if (last != null) {
        CompletableFuture<RecordMetadata> f = last.tryAppend(timestamp, key, value, headers, size);
        if (f != null) {
          if (last.sealed) {
            wakeSender.run();
          }
          return f;
        }
        wake = last.sealed;
      }
    }
    if (wake) {
      wakeSender.run();
    }
    int capacity = Math.max(batchSizeBytes, size);
    pool.allocate(capacity, maxBlockNanos);
    synchronized (deque) {
      if (closing) {
        pool.release(capacity);
        checkOpen();
      }
      ProducerBatch last = deque.peekLast();
      if (last != null) {
        CompletableFuture<RecordMetadata> f = last.tryAppend(timestamp, key, value, headers, size);
        if (f != null) {
          // Another thread opened a batch meanwhile.
          pool.release(capacity);
          return f;
        }
      }
      ProducerBatch b = new ProducerBatch(tp, capacity, System.nanoTime(), deliveryTimeoutNanos);
      CompletableFuture<RecordMetadata> f = b.tryAppend(timestamp, key, value, headers, size);
      deque.addLast(b);
      incomplete.add(b);
      // Once per batch: the sender must learn of the new batch's linger deadline.
      wakeSender.run();
      return f;
    }
  }

  private void checkOpen() {
    if (closing) {
      throw new RaftMqException(ErrorCode.INVALID_REQUEST, "the producer is closed", false, null);
    }
  }

  /** Whether {@code tp}'s open batch would take a record of {@code size} bytes without a new batch. */
  public boolean hasRoom(TopicPartition tp, int size) {
    Deque<ProducerBatch> deque = batches.get(tp);
    if (deque == null) {
      return false;
    }
    synchronized (deque) {
      ProducerBatch last = deque.peekLast();
      return last != null && last.hasRoomFor(size);
    }
  }

  /** What {@link #drain} found. */
  public static final class Drained {
    /** Batches to send, grouped by destination, each list within the request size limit. */
    public final Map<HostPort, List<ProducerBatch>> byNode = new HashMap<>();
    /** Partitions with a ready batch but no known leader. */
    public final Set<TopicPartition> unknownLeaders = new HashSet<>();
    /** Earliest time a not-yet-ready batch becomes ready (linger or retry back-off), or Long.MAX_VALUE. */
    public long nextReadyNanos = Long.MAX_VALUE;
  }

  /** Gives a batch its producer id and sequence on its first send; false if it cannot now. */
  @FunctionalInterface
  public interface Stamper {
    boolean stamp(ProducerBatch batch);
  }

  /** {@link #drain} without sequences (tests, and producers that are not idempotent). */
  public Drained drain(long nowNanos, Function<TopicPartition, HostPort> leaderOf, int maxRequestBytes) {
    return drain(nowNanos, leaderOf, maxRequestBytes, -1, b -> true);
  }

  /**
   * Takes ready batches of each partition in deque order, up to {@code maxInFlightPerPartition} in
   * flight, marks them sealed and in flight, stamps first sends with {@code stamper}, and groups them by
   * the leader that {@code leaderOf} names, at most {@code maxRequestBytes} of records per node (at least
   * one batch). A partition's walk stops at the first batch that may not go yet:
   * <ul>
   *   <li>a retry waits until no batch before it is in flight (it would only be bounced for a gap);
   *   <li>a first send waits while a batch before it still carries an older producer id than
   *       {@code currentProducerId}: under a new id it would not be ordered after that batch.
   * </ul>
   */
  public Drained drain(long nowNanos, Function<TopicPartition, HostPort> leaderOf, int maxRequestBytes,
      long currentProducerId, Stamper stamper) {
    Drained d = new Drained();
    Map<HostPort, Integer> bytesByNode = new HashMap<>();
    boolean flushing = flushesInProgress.get() > 0 || closing;
    for (Map.Entry<TopicPartition, Deque<ProducerBatch>> e : batches.entrySet()) {
      Deque<ProducerBatch> deque = e.getValue();
      synchronized (deque) {
        int inFlight = 0;
        boolean olderIdAhead = false;
        ProducerBatch last = deque.peekLast();
        for (ProducerBatch b : deque) {
          if (b.inFlight) {
            inFlight++;
            olderIdAhead |= b.baseSequence >= 0 && b.producerId != currentProducerId;
            continue;
          }
          if (inFlight >= maxInFlightPerPartition || (b.attempts > 0 && inFlight > 0)
              || (b.baseSequence < 0 && olderIdAhead)) {
            break;
          }
          if (b.retryAtNanos > nowNanos) {
            d.nextReadyNanos = Math.min(d.nextReadyNanos, b.retryAtNanos);
            break;
          }
          long lingerEnd = b.createdNanos + lingerNanos;
          boolean ready = b.sealed || b != last || flushing || nowNanos >= lingerEnd || b.attempts > 0;
          if (!ready) {
            d.nextReadyNanos = Math.min(d.nextReadyNanos, lingerEnd);
            break;
          }
          HostPort leader = leaderOf.apply(e.getKey());
          if (leader == null) {
            d.unknownLeaders.add(e.getKey());
            break;
          }
          int used = bytesByNode.getOrDefault(leader, 0);
          if (used > 0 && used + b.sizeBytes() > maxRequestBytes) {
            // Next round; the sender loops again at once.
            d.nextReadyNanos = nowNanos;
            break;
          }
          if (!stamper.stamp(b)) {
            break;
          }
          bytesByNode.put(leader, used + b.sizeBytes());
          b.sealed = true;
          b.inFlight = true;
          inFlight++;
          olderIdAhead |= b.baseSequence >= 0 && b.producerId != currentProducerId;
          d.byNode.computeIfAbsent(leader, k -> new ArrayList<>()).add(b);
        }
      }
    }
    return d;
  }

  /** Whether a batch of {@code b}'s partition queued before it is still unfinished. */
  public boolean hasIncompletePredecessor(ProducerBatch b) {
    Deque<ProducerBatch> deque = batches.get(b.tp);
    synchronized (deque) {
      ProducerBatch first = deque.peekFirst();
      return first != null && first != b;
    }
  }

  /** Puts an in-flight batch back at the head of its partition for a retry at {@code retryAtNanos}. */
  public void reenqueue(ProducerBatch b, long retryAtNanos) {
    Deque<ProducerBatch> deque = batches.get(b.tp);
    synchronized (deque) {
      b.inFlight = false;
      b.retryAtNanos = retryAtNanos;
    }
    wakeSender.run();
  }

  /** Removes a batch whose futures are complete (or about to be), returns its memory and unmutes its partition. */
  public void remove(ProducerBatch b) {
    Deque<ProducerBatch> deque = batches.get(b.tp);
    boolean removed;
    synchronized (deque) {
      removed = deque.remove(b);
      b.inFlight = false;
    }
    if (removed) {
      incomplete.remove(b);
      pool.release(b.capacityBytes);
    }
    wakeSender.run();
  }

  /** Batches past their delivery deadline that are not in flight; removed from the queue. */
  public List<ProducerBatch> expire(long nowNanos) {
    List<ProducerBatch> expired = new ArrayList<>();
    for (Deque<ProducerBatch> deque : batches.values()) {
      synchronized (deque) {
        for (ProducerBatch b : deque) {
          if (!b.inFlight && nowNanos - b.deadlineNanos >= 0) {
            expired.add(b);
          }
        }
      }
    }
    return expired;
  }

  /** Earliest delivery deadline among queued batches, or Long.MAX_VALUE. */
  public long nextDeadlineNanos() {
    long next = Long.MAX_VALUE;
    for (ProducerBatch b : incomplete) {
      next = Math.min(next, b.deadlineNanos);
    }
    return next;
  }

  /** Marks a flush as started: every queued batch is ready regardless of linger. */
  public void beginFlush() {
    flushesInProgress.incrementAndGet();
    wakeSender.run();
  }

  /** Ends a flush started with {@link #beginFlush}. */
  public void endFlush() {
    flushesInProgress.decrementAndGet();
  }

  /** A snapshot of the batches not yet completed. */
  public List<ProducerBatch> incompleteBatches() {
    return new ArrayList<>(incomplete);
  }

  /** Whether any batch is not yet completed. */
  public boolean hasIncomplete() {
    return !incomplete.isEmpty();
  }

  /** Refuses new appends from now on; queued batches are all ready. */
  public void beginClose() {
    closing = true;
    wakeSender.run();
  }

  /** Whether {@link #beginClose} was called. */
  public boolean isClosing() {
    return closing;
  }

  /** The buffer pool. */
  public BufferPool pool() {
    return pool;
  }
}
