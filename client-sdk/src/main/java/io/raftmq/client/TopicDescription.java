package io.raftmq.client;

import java.util.List;
import java.util.Map;

/**
 * A topic as metadata describes it.
 *
 * @param name the topic name
 * @param topicId distinguishes this topic from an earlier one of the same name
 * @param replicationFactor replicas per partition
 * @param partitions the partitions, ordered by number
 * @param configs the topic's configuration
 */
public record TopicDescription(
    String name, long topicId, int replicationFactor, List<PartitionInfo> partitions, Map<String, String> configs) {
  /** Copies the collections. */
  public TopicDescription {
    partitions = partitions == null ? List.of() : List.copyOf(partitions);
    configs = configs == null ? Map.of() : Map.copyOf(configs);
  }
}
