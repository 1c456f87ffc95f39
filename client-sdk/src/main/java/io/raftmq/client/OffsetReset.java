package io.raftmq.client;

/** Where a consumer starts reading a partition that has no position, or whose position is out of range. */
public enum OffsetReset {
  /** At the log start offset (the oldest retained record). */
  EARLIEST,
  /** At the high watermark: only records committed after the reset. */
  LATEST,
  /** Nowhere: {@link Consumer#poll} throws a {@link RaftMqException} until the caller seeks. */
  NONE
}
