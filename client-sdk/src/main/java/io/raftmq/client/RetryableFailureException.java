package io.raftmq.client;

/**
 * Thrown by a {@link DeliveryHandler} to say that processing a message failed for a passing reason
 * (a downstream service is down, a lock is held): the default {@link QueueConsumerConfig#retryable()}
 * classification nacks it, so it comes back after the group's backoff, whatever its cause (e.g. an
 * {@link IllegalArgumentException} that would otherwise count as permanent). Found anywhere in a
 * thrown exception's cause chain; the outermost marker wins.
 */
public class RetryableFailureException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  /** A retryable failure saying why. */
  public RetryableFailureException(String message) {
    super(message);
  }

  /** A retryable failure saying why, with its cause. */
  public RetryableFailureException(String message, Throwable cause) {
    super(message, cause);
  }
}
