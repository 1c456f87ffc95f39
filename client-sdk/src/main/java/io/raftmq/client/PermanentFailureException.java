package io.raftmq.client;

/**
 * Thrown by a {@link DeliveryHandler} to say that processing a message can never succeed (a poison
 * message): the default {@link QueueConsumerConfig#retryable()} classification rejects it at once, and
 * the broker dead-letters it with this exception's class and message, without further attempts. Found
 * anywhere in a thrown exception's cause chain.
 */
public class PermanentFailureException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  /** A permanent failure saying why. */
  public PermanentFailureException(String message) {
    super(message);
  }

  /** A permanent failure saying why, with its cause. */
  public PermanentFailureException(String message, Throwable cause) {
    super(message, cause);
  }
}
