package io.raftmq.client.internal;

import io.raftmq.client.RaftMqException;

/** What one attempt of a retried request came to: a value, a retriable error, or a final error. */
public final class Attempt<T> {
  final T value;
  final RaftMqException error;
  final boolean retry;

  private Attempt(T value, RaftMqException error, boolean retry) {
    this.value = value;
    this.error = error;
    this.retry = retry;
  }

  /** Success with {@code value}. */
  public static <T> Attempt<T> done(T value) {
    return new Attempt<>(value, null, false);
  }

  /** Retry after the back-off if time remains, else fail with {@code error}. */
  public static <T> Attempt<T> retry(RaftMqException error) {
    return new Attempt<>(null, error, true);
  }

  /** Fail now with {@code error}. */
  public static <T> Attempt<T> fail(RaftMqException error) {
    return new Attempt<>(null, error, false);
  }

  /** Retry if the error is retriable, else fail. */
  public static <T> Attempt<T> of(RaftMqException error) {
    return new Attempt<>(null, error, error.isRetriable());
  }
}
