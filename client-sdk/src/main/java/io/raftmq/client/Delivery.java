package io.raftmq.client;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

/**
 * A message leased to a {@link QueueConsumer}: the record (where it is stored, what it holds), how
 * often it was delivered, until when the lease runs, and the verbs that settle it. The lease means no
 * other consumer of the group gets the message until it is settled or the lease runs out.
 *
 * <p>Exactly one of {@link #ack()}, {@link #nack()} (or its variants) and {@link #reject} settles a
 * delivery; a second one fails with {@code INVALID_REQUEST} without asking the broker.
 * {@link #extend} may be called any number of times before that. Settles are not sent one by one: they
 * are queued per partition and sent as one {@code QUEUE_SETTLE} request per leader node after a linger
 * of about a millisecond (or sooner when many are queued), so calling them for every message is cheap.
 * Each returned future completes on the SDK callback thread once the partition's leader has committed
 * the settle (don't block that thread), or fails with a {@link RaftMqException}: {@code LEASE_NOT_HELD}
 * (the message is not leased to this consumer any more: settled already, or re-leased to another after
 * the lease ran out), {@code LEASE_EXPIRED} (the lease's deadline passed; the message goes back to the
 * queue), {@code INVALID_REQUEST} (a bad argument, a second settle, a closed consumer) or a retriable
 * code when the leader could not be reached in time (the settle may or may not have taken effect).
 *
 * <p>Thread-safe: a delivery may be settled from any thread.
 */
public interface Delivery {
  /** The topic. */
  String topic();

  /** The partition. */
  int partition();

  /** The record's offset in its partition. */
  long offset();

  /** The key, or null. */
  byte[] key();

  /** The value, or null. */
  byte[] value();

  /** The headers (insertion order); never null. */
  Map<String, byte[]> headers();

  /** The producer's timestamp (ms since the epoch). */
  long timestamp();

  /** The leader's append time of the record's batch (ms since the epoch). */
  long logTimeMs();

  /** How often the message was delivered to the group, this delivery included (1 the first time). */
  int deliveryCount();

  /**
   * When the lease runs out, in the partition leader's clock (ms since the epoch); moved by a
   * successful {@link #extend}. After it, a settle fails with {@code LEASE_EXPIRED} and the message goes
   * back to the queue (counted as a failed attempt, with backoff).
   */
  long leaseDeadlineMs();

  /** {@link #leaseDeadlineMs()} as an instant. */
  default Instant leaseDeadline() {
    return Instant.ofEpochMilli(leaseDeadlineMs());
  }

  /** The key decoded as UTF-8, or null. */
  default String keyAsString() {
    byte[] k = key();
    return k == null ? null : new String(k, StandardCharsets.UTF_8);
  }

  /** The value decoded as UTF-8, or null. */
  default String valueAsString() {
    byte[] v = value();
    return v == null ? null : new String(v, StandardCharsets.UTF_8);
  }

  /** The record's topic and partition. */
  default TopicPartition topicPartition() {
    return new TopicPartition(topic(), partition());
  }

  /**
   * Processing succeeded: the broker marks the message done for this group, which never delivers it
   * again (other groups are not affected).
   */
  CompletableFuture<Void> ack();

  /**
   * Processing failed for now: the broker puts the message back in the group's queue after the
   * group's backoff for this attempt ({@code min(base * 2^(attempt-1), max)}, full jitter), or
   * dead-letters it ({@code MAX_DELIVERIES}) if this was the last allowed delivery.
   */
  CompletableFuture<Void> nack();

  /**
   * As {@link #nack()}, and the broker keeps {@code error}'s class and message with the message, so
   * that its dead letter says why if this was the last allowed delivery.
   */
  CompletableFuture<Void> nack(Throwable error);

  /**
   * Processing failed for now: the broker makes the message available again after {@code delay}
   * (zero: at once), instead of the group's backoff; still dead-lettered after the last allowed
   * delivery. A negative {@code delay} fails the future with {@code INVALID_REQUEST}.
   */
  CompletableFuture<Void> nack(Duration delay);

  /**
   * Processing can never succeed (a poison message): the broker dead-letters it at once with reason
   * {@code REJECTED} and {@code reason} (bounded to 1024 characters), without further attempts; its
   * copy goes to the group's dead-letter topic.
   */
  CompletableFuture<Void> reject(String reason);

  /** As {@link #reject(String)}, also keeping {@code error}'s class and message with the dead letter. */
  CompletableFuture<Void> reject(String reason, Throwable error);

  /**
   * Still working: the broker moves the lease's deadline to {@code leaseTime} from now (the leader's
   * now); {@link #leaseDeadlineMs()} reflects it once the future completes. Does not count as a
   * delivery. A {@code leaseTime} that is not positive fails the future with {@code INVALID_REQUEST}.
   */
  CompletableFuture<Void> extend(Duration leaseTime);
}
