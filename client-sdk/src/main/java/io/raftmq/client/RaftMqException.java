package io.raftmq.client;

import io.raftmq.protocol.ErrorCode;
import io.raftmq.protocol.Errors;

/**
 * The one exception type of the SDK. It carries the wire {@link ErrorCode} the broker answered (or
 * the code the SDK chose for a local failure: {@code REQUEST_TIMED_OUT} for a timeout or a lost
 * connection, {@code THROTTLED} for exhausted producer buffer memory, {@code INVALID_REQUEST} for a
 * bad argument) and whether the same call may succeed later. The message is one line saying what
 * failed. Immutable and thread-safe.
 */
public class RaftMqException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  private final ErrorCode code;
  private final boolean retriable;

  /** An exception for {@code code}; retriable as {@link Errors#isRetriable} says. */
  public RaftMqException(ErrorCode code, String message) {
    this(code, message, Errors.isRetriable(code), null);
  }

  /** An exception for {@code code} with a cause; retriable as {@link Errors#isRetriable} says. */
  public RaftMqException(ErrorCode code, String message, Throwable cause) {
    this(code, message, Errors.isRetriable(code), cause);
  }

  /** An exception whose retriability is given explicitly (e.g. a lost connection). */
  public RaftMqException(ErrorCode code, String message, boolean retriable, Throwable cause) {
    super(code + ": " + message, cause);
    this.code = code;
    this.retriable = retriable;
  }

  /** The wire error code (never {@code NONE}). */
  public ErrorCode code() {
    return code;
  }

  /** Whether the same call may succeed later (after a back-off, perhaps against another node). */
  public boolean isRetriable() {
    return retriable;
  }
}
