package io.raftmq.client;

import java.util.Collection;

/**
 * Hears about partitions a group member gains and loses. Called on the thread that calls
 * {@link Consumer#poll} (or {@link Consumer#close}), never concurrently. Rebalances are cooperative:
 * only partitions that move are revoked; the member keeps consuming the others meanwhile.
 */
public interface RebalanceListener {
  /**
   * The member is about to stop consuming {@code partitions} (they move to another member, or the
   * consumer unsubscribes or closes). Commit what was processed here: the next owner resumes from the
   * committed offsets. With auto-commit on, positions were committed just before this call.
   */
  void onPartitionsRevoked(Collection<TopicPartition> partitions);

  /** The member now owns {@code partitions}; positions are already set from committed offsets. */
  void onPartitionsAssigned(Collection<TopicPartition> partitions);

  /**
   * The member lost {@code partitions} without a hand-over (its session expired): others may own them
   * already, so committing is pointless (it would be fenced). Defaults to {@link #onPartitionsRevoked}.
   */
  default void onPartitionsLost(Collection<TopicPartition> partitions) {
    onPartitionsRevoked(partitions);
  }

  /** A listener that does nothing. */
  RebalanceListener NONE = new RebalanceListener() {
    @Override
    public void onPartitionsRevoked(Collection<TopicPartition> partitions) {}

    @Override
    public void onPartitionsAssigned(Collection<TopicPartition> partitions) {}
  };
}
