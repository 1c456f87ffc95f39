package io.raftmq.logstore;

/**
 * A read asked for an offset below {@link PartitionLog#logStartOffset()} or above
 * {@link PartitionLog#nextOffset()}. Carries both bounds as they were seen by the read.
 */
public final class OffsetOutOfRangeException extends RuntimeException {
  private final long requestedOffset;
  private final long logStartOffset;
  private final long nextOffset;

  /** @param requestedOffset the offset asked for; the other two are the log's bounds at that time */
  public OffsetOutOfRangeException(long requestedOffset, long logStartOffset, long nextOffset) {
    super("offset " + requestedOffset + " is out of range [" + logStartOffset + ", " + nextOffset + "]");
    this.requestedOffset = requestedOffset;
    this.logStartOffset = logStartOffset;
    this.nextOffset = nextOffset;
  }

  /** The offset that was asked for. */
  public long requestedOffset() {
    return requestedOffset;
  }

  /** The first offset the log held at the time of the read. */
  public long logStartOffset() {
    return logStartOffset;
  }

  /** The log end offset at the time of the read (readable: {@code [logStartOffset, nextOffset]}). */
  public long nextOffset() {
    return nextOffset;
  }
}
