package io.raftmq.client;

import java.time.Duration;
import java.util.List;

/**
 * A member of a queue group ({@link QueueConsumerConfig#groupId()}, a "share group"): any number of
 * consumers of the group read the same partitions, and the broker leases each message to one of them
 * at a time. A message is acked, nacked (retried after a backoff), rejected (dead-lettered) or
 * extended through its {@link Delivery}; a lease that runs out returns the message to the queue with
 * its delivery counted. Every such change is a command in the partition's Raft log, so a leader
 * failover resets no delivery count and loses no lease. A queue group starts in a partition at its
 * log end the first time a consumer of the group receives from it.
 *
 * <p>Two ways to use it: call {@link #receive} and settle each delivery yourself, or hand a
 * {@link DeliveryHandler} to {@link #subscribe} and let the consumer run it on a pool, ack, retry,
 * dead-letter and extend for you. Not both on one consumer.
 *
 * <p>Thread-safe: {@link #receive} may be called from several threads, and deliveries settled from any.
 * Close it (or the client) when done.
 */
public interface QueueConsumer extends AutoCloseable {
  /**
   * Leases up to {@code maxMessages} messages of the subscribed topics, waiting up to {@code wait} for
   * at least one (a long poll on the brokers). The maximum is split over the partitions, with a
   * rotating start so that none starves; one request goes to each partition leader. Returns what it
   * got (an empty list if nothing came in time), in offset order per partition. Partitions whose
   * leader moved are retried on the next call after a metadata refresh.
   *
   * @throws IllegalArgumentException if {@code maxMessages} is not positive or {@code wait} negative
   * @throws IllegalStateException after {@link #subscribe} or {@link #close}
   * @throws RaftMqException on a final error from the broker, e.g. {@code UNKNOWN_TOPIC},
   *     {@code INVALID_CONFIG} for group settings it refuses
   */
  List<Delivery> receive(int maxMessages, Duration wait);

  /**
   * Starts processing in the background and returns at once: a loop thread receives messages and runs
   * {@code handler} on {@link QueueConsumerConfig#handlerThreads()} threads, never holding more
   * messages than the threads can start soon. A handler that returns normally acks its delivery (unless
   * it settled it itself). One that throws nacks it with the group's backoff if
   * {@link QueueConsumerConfig#retryable()} says the exception is retryable, or rejects it (dead-letter
   * now, with the exception's class and message) if permanent. While a handler runs, its lease is
   * extended every half visibility timeout. Errors of the loop itself (a broker refusing the group's
   * settings, say) are logged and retried after a back-off.
   *
   * @throws IllegalStateException if already subscribed, or after {@link #close}
   */
  void subscribe(DeliveryHandler handler);

  /**
   * Acks {@code deliveries}, all received by this consumer, as one: the same acks as calling
   * {@link Delivery#ack()} on each (batched alike, carried by the next receive or sent after the
   * settle linger), without a future per delivery. The returned future completes when every ack has
   * an outcome: normally if all were acked, else with the first failure (for example
   * {@code LEASE_EXPIRED}, or {@code INVALID_REQUEST} for a delivery already settled or received by
   * another consumer); the other acks take effect regardless. Meant for consumers that process a
   * whole receive and then ack it.
   */
  java.util.concurrent.CompletableFuture<Void> ackAll(java.util.Collection<? extends Delivery> deliveries);

  /** The queue group. */
  String groupId();

  /** This consumer's id within the group (the broker's lease owner). */
  String consumerId();

  /**
   * Stops: ends the receive loop, waits up to {@code timeout} for running handlers to finish (and
   * settle), gives back at once what was received but never handed out (released: visible again at
   * once, and not counted as a delivery, since no application saw it), and sends
   * the queued settles, waiting for their answers within what is left of {@code timeout}. Messages of
   * handlers still running after it keep their leases until they run out. Idempotent.
   */
  void close(Duration timeout);

  /** {@link #close(Duration)} with 30 seconds. */
  @Override
  default void close() {
    close(Duration.ofSeconds(30));
  }
}
