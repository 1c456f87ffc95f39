package io.raftmq.broker;

import io.raftmq.metadata.MetadataCore.MetadataView;
import io.raftmq.protocol.ErrorCode;
import io.raftmq.protocol.LeaderHint;
import io.raftmq.protocol.NodeInfo;
import io.raftmq.protocol.PartitionMetadata;
import io.raftmq.protocol.TopicMetadata;
import io.raftmq.raft.RaftHost;
import io.raftmq.raft.proto.NodeRecord;
import io.raftmq.raft.proto.TopicRecord;
import java.util.List;
import org.apache.ratis.protocol.RaftPeerId;

/** What every request handler needs: the node's config, its Raft host, its replicas and its metrics. */
final class BrokerContext {
  final NodeConfig config;
  final RaftHost host;
  final PartitionDirectory partitions;
  final BrokerMetrics metrics;

  BrokerContext(NodeConfig config, RaftHost host, PartitionDirectory partitions, BrokerMetrics metrics) {
    this.config = config;
    this.host = host;
    this.partitions = partitions;
    this.metrics = metrics;
  }

  MetadataView metadata() {
    return host.metadata().view();
  }

  /** A hint naming node {@code nodeId}, or an empty hint (-1) if its address is unknown. */
  LeaderHint hint(int nodeId) {
    NodeRecord n = nodeId < 0 ? null : metadata().nodes().get(nodeId);
    if (n == null) {
      return LeaderHint.newBuilder().setNodeId(-1).build();
    }
    return LeaderHint.newBuilder().setNodeId(n.getNodeId()).setHost(n.getHost()).setPort(n.getClientPort()).build();
  }

  LeaderHint hint(RaftPeerId peer) {
    return peer == null ? hint(-1) : hint(RaftHost.nodeId(peer));
  }

  /** Where a client should go for a partition this node does not lead. */
  LeaderHint leaderHintFor(TopicRecord topic, int partition) {
    PartitionDirectory.LocalPartition lp = partitions.get(topic.getName(), partition);
    if (lp != null && lp.leaderNodeId() >= 0 && !lp.isLeader()) {
      return hint(lp.leaderNodeId());
    }
    List<Integer> replicas = metadata().replicas(topic, partition);
    return hint(replicas.isEmpty() ? -1 : replicas.get(0));
  }

  List<NodeInfo> nodes() {
    return metadata().nodes().values().stream()
        .map(n -> NodeInfo.newBuilder().setNodeId(n.getNodeId()).setHost(n.getHost())
            .setPort(n.getClientPort()).setHttpPort(n.getHttpPort()).build())
        .toList();
  }

  TopicMetadata topicMetadata(TopicRecord topic) {
    TopicMetadata.Builder b = TopicMetadata.newBuilder()
        .setName(topic.getName())
        .setError(ErrorCode.NONE)
        .setReplicationFactor(topic.getReplicationFactor())
        .setTopicId(topic.getTopicId())
        .putAllConfigs(topic.getConfigsMap());
    for (int p = 0; p < topic.getPartitions(); p++) {
      PartitionMetadata.Builder pm = PartitionMetadata.newBuilder()
          .setPartition(p)
          .addAllReplicas(metadata().replicas(topic, p))
          .setLeader(-1)
          .setLogStartOffset(-1)
          .setHighWatermark(-1);
      PartitionDirectory.LocalPartition lp = partitions.get(topic.getName(), p);
      if (lp != null) {
        pm.setLeader(lp.leaderNodeId())
            .setLeaderTerm(lp.term())
            .setLogStartOffset(lp.stateMachine.logStartOffset())
            .setHighWatermark(lp.stateMachine.highWatermark());
      }
      b.addPartitions(pm);
    }
    return b.build();
  }

  /** The largest record a topic accepts: its own max.message.bytes, capped by the node's. */
  int maxMessageBytes(TopicRecord topic) {
    String v = topic.getConfigsMap().get("max.message.bytes");
    int limit = config.maxMessageBytes();
    if (v != null) {
      try {
        limit = (int) Math.min(limit, Long.parseLong(v));
      } catch (NumberFormatException ignored) {
        // validated at creation
      }
    }
    return limit;
  }

  /** Node id of the metadata group's leader as this node knows it, or -1. */
  int metadataLeader() {
    return host.division(RaftHost.METADATA_GROUP_ID)
        .map(d -> d.getInfo().getLeaderId())
        .map(RaftHost::nodeId)
        .orElse(-1);
  }
}
