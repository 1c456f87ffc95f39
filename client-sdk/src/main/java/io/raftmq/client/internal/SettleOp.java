package io.raftmq.client.internal;

import io.raftmq.client.TopicPartition;

import java.util.concurrent.CompletableFuture;

/**
 * One queued settle of one delivery, and the future the caller holds (this object itself, so a settle
 * costs one allocation). Linked into the {@link SettleBatcher}'s queue through {@link #next}.
 */
final class SettleOp extends CompletableFuture<Void> {
  /** What the settle does; the order is the order of a partition's items in a request and its results. */
  enum Kind {
    ACK, NACK, REJECT, EXTEND,
    /** A lease given back unseen (never handed to the application): not counted as a delivery. */
    RELEASE
  }

  /**
   * The delivery settled, kept only by an extend (which updates its lease deadline): the others keep
   * its partition and offset, so that a delivery the application dropped after ack() is garbage at
   * once, its key and value with it, instead of living on until the settle's answer.
   */
  final DeliveryImpl delivery;
  final TopicPartition tp;
  private final long offset;
  /** ACK: how many consecutive offsets from {@link #offset()} it settles (a run of a bulk ack); else 1. */
  final int length;
  final Kind kind;
  /** NACK: the delay in ms (-1: the group's backoff); EXTEND: the lease length in ms. */
  final long millis;
  final String reason;
  final String errorClass;
  final String errorMessage;
  /** Next in the batcher's queue (set before publication, read after the queue is detached). */
  SettleOp next;
  /** Set when first queued: when the settle gives up retrying. */
  long deadlineNanos;
  /** An earlier attempt may have taken effect (its connection broke before the answer). */
  boolean ambiguous;

  SettleOp(DeliveryImpl delivery, Kind kind, long millis, String reason, String errorClass, String errorMessage) {
    this.delivery = kind == Kind.EXTEND ? delivery : null;
    this.tp = delivery.topicPartition();
    this.offset = delivery.offset();
    this.length = 1;
    this.kind = kind;
    this.millis = millis;
    this.reason = reason;
    this.errorClass = errorClass;
    this.errorMessage = errorMessage;
  }

  /**
   * The acks of {@code length} consecutive offsets of {@code tp} from {@code offset}, all part of
   * {@code bulk}: deliveries a receive handed out in a run, acked together, cost one settle, not one each.
   */
  SettleOp(TopicPartition tp, long offset, int length, BulkAck bulk) {
    if (length < 1) {
      throw new IllegalArgumentException("a run of acks needs a positive length: " + length);
    }
    this.delivery = null;
    this.tp = tp;
    this.offset = offset;
    this.length = length;
    this.kind = Kind.ACK;
    this.millis = 0;
    this.reason = null;
    this.errorClass = null;
    this.errorMessage = null;
    this.bulk = bulk;
  }

  /** Whether {@code o} is one of the offsets this settles. */
  boolean covers(long o) {
    return o >= offset && o - offset < length;
  }

  long offset() {
    return offset;
  }

  /** The bulk ack this settle is part of, told of its outcome; null for a single settle. */
  BulkAck bulk;

  @Override
  public boolean complete(Void value) {
    boolean done = super.complete(value);
    if (done && bulk != null) {
      bulk.done(null, length);
    }
    return done;
  }

  @Override
  public boolean completeExceptionally(Throwable ex) {
    boolean done = super.completeExceptionally(ex);
    if (done && bulk != null) {
      bulk.done(ex, length);
    }
    return done;
  }

  @Override
  public String toString() {
    return length == 1 ? kind + " " + tp + "@" + offset : kind + " " + tp + "@" + offset + ".." + (offset + length - 1);
  }
}
