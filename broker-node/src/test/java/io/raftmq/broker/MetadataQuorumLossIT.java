package io.raftmq.broker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.raftmq.client.NewTopic;
import io.raftmq.client.RaftMqClient;
import io.raftmq.raft.proto.MetadataCommand;
import io.raftmq.raft.proto.MetadataStatus;
import io.raftmq.raft.proto.RegisterNode;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A node whose metadata proposals ran out of retries while the metadata group had no quorum. */
class MetadataQuorumLossIT {
  @TempDir
  Path dir;

  @Test
  void aNodeShouldProposeMetadataAgainOnceTheQuorumIsBackAfterAProposalRanOutOfRetries() throws Exception {
    try (TestCluster cluster = new TestCluster(dir).start()) {
      BrokerNode survivor = cluster.node(1);
      MetadataCommand register = MetadataCommand.newBuilder()
          .setLeaderTimeMs(System.currentTimeMillis())
          .setRegisterNode(RegisterNode.newBuilder().setNodeId(1).setHost("127.0.0.1")
              .setClientPort(survivor.clientPort()).setHttpPort(survivor.httpPort()))
          .build();
      cluster.stop(2);
      cluster.stop(3);
      // No quorum: the proposal is retried for about ten seconds, then fails.
      assertThatThrownBy(() -> survivor.raftHost().proposeMetadata(register).get(60, TimeUnit.SECONDS))
          .hasStackTraceContaining("RaftRetryFailureException");

      cluster.start(2);
      cluster.start(3);
      cluster.awaitHealthy();
      // Ratis' client closes its ordered window after a request runs out of retries and fails every
      // later one: the node must have replaced it, or it could never propose again.
      assertThat(survivor.raftHost().proposeMetadata(register).get(30, TimeUnit.SECONDS).getStatus())
          .isEqualTo(MetadataStatus.OK);
      // At least once: another proposal of this node that gave up while the quorum was still away would
      // have replaced the client again, which is as intended.
      assertThat(survivor.raftHost().metadataClientReplacements()).isPositive();
      try (RaftMqClient client = RaftMqClient.connect(cluster.bootstrap(1))) {
        client.admin().createTopic(new NewTopic("after-quorum-loss", 1, 3, Map.of())).get(60, TimeUnit.SECONDS);
      }
    }
  }
}
