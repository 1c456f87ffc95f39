package io.raftmq.client;

import java.util.Map;

/** Hears how a {@link Consumer#commitAsync} ended; runs on the polling thread (in a later poll or commit). */
@FunctionalInterface
public interface OffsetCommitCallback {
  /**
   * @param offsets the offsets that were to be committed
   * @param error null on success, else why not (e.g. {@code GENERATION_FENCED}: the partition has
   *     moved to another member)
   */
  void onComplete(Map<TopicPartition, Long> offsets, RaftMqException error);
}
