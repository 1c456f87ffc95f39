package io.raftmq.client;

import java.util.List;

/**
 * What {@link Admin#resetOffsets} did, or would do on a dry run.
 *
 * @param group the group
 * @param executed false for a dry run (nothing changed)
 * @param rows one per partition
 */
public record OffsetResetPlan(String group, boolean executed, List<Row> rows) {
  /**
   * One partition's move.
   *
   * @param partition the partition
   * @param currentOffset the committed offset before, -1 if none
   * @param newOffset the offset committed (or to be)
   */
  public record Row(TopicPartition partition, long currentOffset, long newOffset) {}
}
