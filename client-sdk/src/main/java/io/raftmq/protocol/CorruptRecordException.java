package io.raftmq.protocol;

/** Bytes that should hold records or batch frames do not decode, or fail their checksum. */
public final class CorruptRecordException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  public CorruptRecordException(String message) {
    super(message);
  }
}
