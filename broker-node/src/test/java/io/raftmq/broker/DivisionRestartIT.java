package io.raftmq.broker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.raftmq.client.NewTopic;
import io.raftmq.client.Producer;
import io.raftmq.client.ProducerConfig;
import io.raftmq.client.RaftMqClient;
import io.raftmq.partition.PartitionStateMachine;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.ratis.server.RaftServer;
import org.apache.ratis.util.LifeCycle;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A partition division that Ratis closes by itself (as its log worker does when a snapshot install
 * races with older appends: {@code SegmentedRaftLogWorker hit exception}, {@code current state is
 * CLOSED}) is restarted by its node from its storage, catches up, and is served by the broker again,
 * without a node restart.
 */
class DivisionRestartIT {
  @TempDir
  Path dir;

  @Test
  void shouldRestartAReplicaWhoseDivisionRatisClosedAndCatchItUpWithoutANodeRestart() throws Exception {
    try (TestCluster cluster = new TestCluster(dir, 3, b -> b.snapshotThresholdEntries(40)
        .purgePreservationEntries(5).segmentSizeBytes(32 * 1024).raftSegmentSizeBytes(32 * 1024)).start();
        RaftMqClient client = RaftMqClient.connect(cluster.bootstrap())) {
      client.admin().createTopic(new NewTopic("heal", 1, 3, Map.of())).get(60, TimeUnit.SECONDS);
      int leader = cluster.awaitLeaderOf("heal", 0);
      int victim = leader % 3 + 1;
      Workload w = new Workload("heal", 1);
      ProducerConfig smallBatches = ProducerConfig.builder().linger(Duration.ofMillis(1)).batchSizeBytes(256).build();
      try (Producer producer = client.producer(smallBatches)) {
        w.send(producer, 0, 300);
        producer.flush();
        w.awaitSends(Duration.ofSeconds(60));
      }
      BrokerNode node = cluster.node(victim);
      RaftServer.Division closed = TestCluster.division(node, "heal", 0);
      await().atMost(Duration.ofSeconds(30))
          .until(() -> TestCluster.replica(node, "heal", 0).highWatermark() == 300);

      // What Ratis' log worker does after an internal failure: it closes the division.
      closed.close();
      assertThat(closed.getInfo().getLifeCycleState()).isEqualTo(LifeCycle.State.CLOSED);

      try (Producer producer = client.producer(smallBatches)) {
        w.send(producer, 300, 3_000);
        producer.flush();
        w.awaitSends(Duration.ofSeconds(120));
      }
      assertThat(w.failed).isEmpty();

      await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
        assertThat(node.raftHost().divisionRestarts()).isEqualTo(1);
        RaftServer.Division restarted = TestCluster.division(node, "heal", 0);
        assertThat(restarted).isNotNull().isNotSameAs(closed);
        assertThat(restarted.getInfo().isAlive()).isTrue();
      });
      ReplicatedLogIT.awaitReplicasIdentical(cluster, "heal", 1);

      // The broker serves the new division and state machine, not the closed ones.
      await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
        PartitionDirectory.LocalPartition lp = node.partitionsForTest().get("heal", 0);
        assertThat(lp).isNotNull();
        assertThat(lp.division).isSameAs(TestCluster.division(node, "heal", 0));
        PartitionStateMachine sm = TestCluster.replica(node, "heal", 0);
        assertThat(lp.stateMachine).isSameAs(sm);
        assertThat(lp.stateMachine.highWatermark()).isEqualTo(3_000);
      });
      assertThat(w.verify(Workload.readAll(client, "heal", 1, 3_000, Duration.ofSeconds(60)))).isEqualTo(3_000);
      assertThat(node.raftHost().divisionRestarts()).as("restarted once, then stayed up").isEqualTo(1);
    }
  }
}
