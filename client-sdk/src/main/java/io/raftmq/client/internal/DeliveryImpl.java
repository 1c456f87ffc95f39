package io.raftmq.client.internal;

import io.raftmq.client.Delivery;
import io.raftmq.client.RaftMqException;
import io.raftmq.client.TopicPartition;
import io.raftmq.protocol.ErrorCode;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicIntegerFieldUpdater;

/**
 * A {@link Delivery}: the decoded record, its lease, and a guard that lets one settling verb through.
 * Settles go to the consumer's {@link SettleBatcher}. Thread-safe (the guard is a field updater, so a
 * delivery costs no allocation beyond itself).
 */
final class DeliveryImpl implements Delivery {
  private static final AtomicIntegerFieldUpdater<DeliveryImpl> SETTLED =
      AtomicIntegerFieldUpdater.newUpdater(DeliveryImpl.class, "settled");

  private final TopicPartition tp;
  private final long offset;
  private final long timestamp;
  private final long logTimeMs;
  private final byte[] key;
  private final byte[] value;
  private final Map<String, byte[]> headers;
  private final int deliveryCount;
  private final SettleBatcher settles;
  /** The lease length this consumer assumes (to extend it); the client's monotonic receive time. */
  private final long leaseMs;
  private final long receivedAtNanos;
  private volatile long leaseDeadlineMs;
  /** 0 until ack, nack or reject was called. */
  private volatile int settled;

  DeliveryImpl(TopicPartition tp, long offset, long timestamp, long logTimeMs, byte[] key, byte[] value,
      Map<String, byte[]> headers, int deliveryCount, long leaseDeadlineMs, long leaseMs, long receivedAtNanos,
      SettleBatcher settles) {
    this.tp = tp;
    this.offset = offset;
    this.timestamp = timestamp;
    this.logTimeMs = logTimeMs;
    this.key = key;
    this.value = value;
    this.headers = headers == null ? Map.of() : headers;
    this.deliveryCount = deliveryCount;
    this.leaseDeadlineMs = leaseDeadlineMs;
    this.leaseMs = leaseMs;
    this.receivedAtNanos = receivedAtNanos;
    this.settles = settles;
  }

  /** The lease length this consumer assumes: the visibility timeout if configured, else as estimated at receipt. */
  long leaseMs() {
    return leaseMs;
  }

  /** When the response that carried this delivery arrived ({@link System#nanoTime()}). */
  long receivedAtNanos() {
    return receivedAtNanos;
  }

  @Override
  public String topic() {
    return tp.topic();
  }

  @Override
  public int partition() {
    return tp.partition();
  }

  @Override
  public TopicPartition topicPartition() {
    return tp;
  }

  @Override
  public long offset() {
    return offset;
  }

  @Override
  public byte[] key() {
    return key;
  }

  @Override
  public byte[] value() {
    return value;
  }

  @Override
  public Map<String, byte[]> headers() {
    return headers;
  }

  @Override
  public long timestamp() {
    return timestamp;
  }

  @Override
  public long logTimeMs() {
    return logTimeMs;
  }

  @Override
  public int deliveryCount() {
    return deliveryCount;
  }

  @Override
  public long leaseDeadlineMs() {
    return leaseDeadlineMs;
  }

  void leaseDeadlineMs(long deadline) {
    this.leaseDeadlineMs = deadline;
  }

  /** Whether ack, nack or reject was called. */
  boolean isSettled() {
    return settled != 0;
  }

  @Override
  public CompletableFuture<Void> ack() {
    if (!claim()) {
      return alreadySettled();
    }
    return settles.add(new SettleOp(this, SettleOp.Kind.ACK, 0, null, null, null));
  }

  @Override
  public CompletableFuture<Void> nack() {
    return nack(-1, null);
  }

  @Override
  public CompletableFuture<Void> nack(Throwable error) {
    return nack(-1, error);
  }

  @Override
  public CompletableFuture<Void> nack(Duration delay) {
    if (delay == null || delay.isNegative()) {
      return invalid("nack delay must not be negative: " + delay);
    }
    return nack(delay.toMillis(), null);
  }

  /** A nack after {@code delayMs} (-1: the group's backoff), keeping {@code error} with the message. */
  CompletableFuture<Void> nack(long delayMs, Throwable error) {
    if (!claim()) {
      return alreadySettled();
    }
    return settles.add(new SettleOp(this, SettleOp.Kind.NACK, delayMs, null, errorClass(error),
        errorMessage(error)));
  }

  /**
   * Gives the lease back unseen, for a delivery the SDK never handed to the application (buffered when
   * its consumer closed, or its handler never started): visible again at once, and not counted as a
   * delivery.
   */
  CompletableFuture<Void> release() {
    if (!claim()) {
      return alreadySettled();
    }
    return settles.add(new SettleOp(this, SettleOp.Kind.RELEASE, 0, null, null, null));
  }

  @Override
  public CompletableFuture<Void> reject(String reason) {
    return reject(reason, null);
  }

  @Override
  public CompletableFuture<Void> reject(String reason, Throwable error) {
    if (!claim()) {
      return alreadySettled();
    }
    return settles.add(new SettleOp(this, SettleOp.Kind.REJECT, 0, reason == null ? "" : reason,
        errorClass(error), errorMessage(error)));
  }

  @Override
  public CompletableFuture<Void> extend(Duration leaseTime) {
    if (leaseTime == null || leaseTime.toMillis() <= 0) {
      return invalid("extend needs a positive lease time: " + leaseTime);
    }
    if (isSettled()) {
      return alreadySettled();
    }
    return settles.add(new SettleOp(this, SettleOp.Kind.EXTEND, leaseTime.toMillis(), null, null, null));
  }

  private boolean claim() {
    return SETTLED.compareAndSet(this, 0, 1);
  }

  /**
   * Claims this delivery for an ack of {@code bulk}, which the caller queues (with its neighbours, as a
   * run); false (and {@code bulk} told of the failure) if it was settled already or came from another
   * consumer.
   */
  boolean claimForBulk(SettleBatcher owner, BulkAck bulk) {
    if (owner != settles) {
      bulk.done(new RaftMqException(ErrorCode.INVALID_REQUEST, this + " was received by another queue consumer"));
      return false;
    }
    if (!claim()) {
      bulk.done(new RaftMqException(ErrorCode.INVALID_REQUEST, alreadySettledMessage()));
      return false;
    }
    return true;
  }

  private CompletableFuture<Void> alreadySettled() {
    return invalid(alreadySettledMessage());
  }

  private String alreadySettledMessage() {
    return "offset " + offset + " of " + tp + " was already acked, nacked or rejected";
  }

  private static CompletableFuture<Void> invalid(String message) {
    return CompletableFuture.failedFuture(new RaftMqException(ErrorCode.INVALID_REQUEST, message));
  }

  /** Bound of the error text sent to the broker (it keeps at most 1024 characters anyway). */
  private static final int MAX_ERROR_CHARS = 1024;

  static String errorClass(Throwable error) {
    return error == null ? "" : error.getClass().getName();
  }

  static String errorMessage(Throwable error) {
    if (error == null || error.getMessage() == null) {
      return "";
    }
    String m = error.getMessage();
    return m.length() <= MAX_ERROR_CHARS ? m : m.substring(0, MAX_ERROR_CHARS);
  }

  @Override
  public String toString() {
    return "Delivery{" + tp + "@" + offset + ", deliveryCount=" + deliveryCount + ", leaseDeadlineMs="
        + leaseDeadlineMs + "}";
  }
}
