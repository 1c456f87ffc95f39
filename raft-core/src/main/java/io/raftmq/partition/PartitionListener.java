package io.raftmq.partition;

/**
 * Told about a partition replica's progress; the broker uses it to wake long-polling fetches. Called on
 * the apply thread: implementations must be quick and must not block.
 */
public interface PartitionListener {
  /** New records are readable below {@code highWatermark}. */
  default void onHighWatermark(long highWatermark) {}

  /** This replica's role or the group's leader changed. */
  default void onLeaderChanged() {}
}
