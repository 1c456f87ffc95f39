package io.raftmq.client;

/**
 * Processes one message for {@link QueueConsumer#subscribe}. Runs on one of the consumer's handler
 * threads ({@link QueueConsumerConfig#handlerThreads()}), several at once: an implementation must be
 * thread-safe.
 *
 * <p>Returning normally acks the delivery; throwing nacks it (retry after the group's backoff) when
 * {@link QueueConsumerConfig#retryable()} classifies the exception as retryable, or rejects it
 * (dead-letter now, with the exception's class and message) when it is permanent. A handler may also
 * settle the delivery itself ({@code ack}, {@code nack(Duration)}, {@code reject}); the consumer then
 * leaves it alone. While the handler runs, the consumer extends the lease every half visibility
 * timeout.
 */
@FunctionalInterface
public interface DeliveryHandler {
  /** Processes {@code delivery}; throw to make it fail. */
  void handle(Delivery delivery) throws Exception;
}
