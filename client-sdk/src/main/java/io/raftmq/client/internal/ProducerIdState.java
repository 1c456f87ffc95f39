package io.raftmq.client.internal;

import io.raftmq.client.TopicPartition;
import java.util.HashMap;
import java.util.Map;

/**
 * The idempotent producer's identity and its next sequence per partition. A batch takes its sequence
 * when first sent and keeps it for every retry; a batch that definitely failed (never written) gives
 * its sequence back if nothing was assigned after it; a batch whose fate is unknown, or a sequence
 * error, forces a new producer id (sequences restart at 0). Thread-safe (synchronized).
 */
public final class ProducerIdState {
  private long producerId = -1;
  private int epoch;
  private boolean resetRequested = true;
  private final Map<TopicPartition, Integer> nextSequence = new HashMap<>();

  /** Whether a producer id must be (re)initialized before sending. */
  public synchronized boolean needsInit() {
    return resetRequested;
  }

  /** Whether a producer id is set. */
  public synchronized boolean hasId() {
    return producerId >= 0 && !resetRequested;
  }

  /** Installs a new producer id; sequences restart at 0. */
  public synchronized void set(long producerId, int epoch) {
    this.producerId = producerId;
    this.epoch = epoch;
    this.resetRequested = false;
    nextSequence.clear();
  }

  /** Asks for a new producer id before the next first send. */
  public synchronized void requestReset() {
    resetRequested = true;
  }

  /** The current producer id, -1 if none. */
  public synchronized long producerId() {
    return producerId;
  }

  /** Stamps {@code b} with the producer id and its partition's next sequence, if it has none yet. */
  public synchronized void assign(ProducerBatch b) {
    if (b.baseSequence >= 0) {
      return;
    }
    int seq = nextSequence.getOrDefault(b.tp, 0);
    b.producerId = producerId;
    b.producerEpoch = epoch;
    b.baseSequence = seq;
    nextSequence.put(b.tp, increment(seq, b.recordCount));
  }

  /**
   * Stamps {@code b} like {@link #assign} if the producer id is still {@code expectedProducerId} and no
   * reset is pending; true if {@code b} carries a sequence afterwards.
   */
  public synchronized boolean assignIfCurrent(ProducerBatch b, long expectedProducerId) {
    if (b.baseSequence >= 0) {
      return true;
    }
    if (resetRequested || producerId != expectedProducerId || producerId < 0) {
      return false;
    }
    assign(b);
    return true;
  }

  /** Gives back {@code b}'s sequence if it is the last one assigned for its partition under this id. */
  public synchronized void rollback(ProducerBatch b) {
    if (b.baseSequence < 0 || b.producerId != producerId) {
      return;
    }
    Integer next = nextSequence.get(b.tp);
    if (next != null && next == increment(b.baseSequence, b.recordCount)) {
      nextSequence.put(b.tp, b.baseSequence);
    }
  }

  /** The next sequence of {@code tp} (tests). */
  public synchronized int nextSequence(TopicPartition tp) {
    return nextSequence.getOrDefault(tp, 0);
  }

  /** Sequences wrap from Integer.MAX_VALUE to 0, as Kafka's do. */
  public static int increment(int sequence, int by) {
    if (sequence > Integer.MAX_VALUE - by) {
      return by - (Integer.MAX_VALUE - sequence) - 1;
    }
    return sequence + by;
  }
}
