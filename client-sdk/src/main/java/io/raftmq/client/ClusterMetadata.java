package io.raftmq.client;

import java.util.List;
import java.util.Optional;

/**
 * One node's answer to a metadata request.
 *
 * @param nodes every node's addresses
 * @param metadataLeader node id of the metadata group's leader, -1 if unknown
 * @param answeringNode node id of the node that answered
 * @param topics the topics with their partitions and leaders
 */
public record ClusterMetadata(List<NodeAddress> nodes, int metadataLeader, int answeringNode, List<TopicDescription> topics) {
  /** Copies the lists. */
  public ClusterMetadata {
    nodes = nodes == null ? List.of() : List.copyOf(nodes);
    topics = topics == null ? List.of() : List.copyOf(topics);
  }

  /** The topic named {@code name}, if this answer lists it. */
  public Optional<TopicDescription> topic(String name) {
    return topics.stream().filter(t -> t.name().equals(name)).findFirst();
  }

  /** The node with id {@code nodeId}, if known. */
  public Optional<NodeAddress> node(int nodeId) {
    return nodes.stream().filter(n -> n.nodeId() == nodeId).findFirst();
  }
}
