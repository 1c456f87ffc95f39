package io.raftmq.client;

import java.util.List;

/**
 * One partition as metadata describes it.
 *
 * @param partition the partition number
 * @param leader node id of the leader, -1 if unknown
 * @param replicas replica node ids; the first is the preferred leader
 * @param logStartOffset the answering node's log start offset, -1 if it holds no replica
 * @param highWatermark the answering node's high watermark, -1 if it holds no replica
 */
public record PartitionInfo(int partition, int leader, List<Integer> replicas, long logStartOffset, long highWatermark) {
  /** Copies {@code replicas}. */
  public PartitionInfo {
    replicas = replicas == null ? List.of() : List.copyOf(replicas);
  }
}
