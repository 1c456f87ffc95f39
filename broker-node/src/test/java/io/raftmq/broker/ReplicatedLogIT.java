package io.raftmq.broker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.raftmq.client.NewTopic;
import io.raftmq.client.Producer;
import io.raftmq.client.ProducerConfig;
import io.raftmq.client.RaftMqClient;
import io.raftmq.logstore.FetchSlice;
import io.raftmq.partition.PartitionStateMachine;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The replicated log on three real nodes in one JVM: delivery, failover, restarts, snapshot install. */
class ReplicatedLogIT {
  @TempDir
  Path dir;

  @Test
  void shouldReadBackEveryAckedMessageExactlyOnceInOrderWithKeysPinnedToPartitions() throws Exception {
    try (TestCluster cluster = new TestCluster(dir).start();
        RaftMqClient client = RaftMqClient.connect(cluster.bootstrap())) {
      client.admin().createTopic(new NewTopic("orders", 4, 3, Map.of())).get(60, TimeUnit.SECONDS);
      Workload w = new Workload("orders", 4);
      try (Producer producer = client.producer()) {
        w.send(producer, 0, 20_000);
        producer.flush();
        w.awaitSends(Duration.ofSeconds(120));
      }
      assertThat(w.failed).isEmpty();
      assertThat(w.acked).hasSize(20_000);
      assertThat(w.verify(Workload.readAll(client, "orders", 4, 20_000, Duration.ofSeconds(60)))).isEqualTo(20_000);
      assertThat(w.acked.values().stream().map(m -> m.partition()).distinct().count()).isEqualTo(4);
    }
  }

  @Test
  void shouldKeepEveryAckedMessageThroughLeaderFailoverRestartAndFullClusterRestart() throws Exception {
    try (TestCluster cluster = new TestCluster(dir).start();
        RaftMqClient client = RaftMqClient.connect(cluster.bootstrap())) {
      client.admin().createTopic(new NewTopic("failover", 4, 3, Map.of())).get(60, TimeUnit.SECONDS);
      Workload w = new Workload("failover", 4);
      int victim = cluster.awaitLeaderOf("failover", 0);
      try (Producer producer = client.producer(ProducerConfig.builder().linger(Duration.ofMillis(2))
          .batchSizeBytes(16 * 1024).build())) {
        w.send(producer, 0, 5_000);
        await().atMost(Duration.ofSeconds(60)).until(() -> w.acked.size() >= 2_000);
        cluster.stop(victim);
        w.send(producer, 5_000, 15_000);
        producer.flush();
        w.awaitSends(Duration.ofSeconds(150));
      }
      assertThat(w.failed).as("the producer carries on against the new leaders").isEmpty();
      assertThat(w.acked).hasSize(15_000);
      assertThat(cluster.awaitLeaderOf("failover", 0)).isNotEqualTo(victim);
      assertThat(w.verify(Workload.readAll(client, "failover", 4, 15_000, Duration.ofSeconds(60)))).isEqualTo(15_000);

      cluster.start(victim);
      cluster.awaitHealthy();
      awaitReplicasIdentical(cluster, "failover", 4);

      cluster.stopAll();
      cluster.start();
      assertThat(w.verify(Workload.readAll(client, "failover", 4, 15_000, Duration.ofSeconds(60)))).isEqualTo(15_000);
      awaitReplicasIdentical(cluster, "failover", 4);
    }
  }

  @Test
  void shouldCatchUpAFollowerWhoseEntriesWerePurgedThroughASnapshotWithTheLogSegments() throws Exception {
    try (TestCluster cluster = new TestCluster(dir, 3, b -> b.snapshotThresholdEntries(40)
        .purgePreservationEntries(5).segmentSizeBytes(32 * 1024).raftSegmentSizeBytes(32 * 1024)).start();
        RaftMqClient client = RaftMqClient.connect(cluster.bootstrap())) {
      client.admin().createTopic(new NewTopic("snap", 1, 3, Map.of())).get(60, TimeUnit.SECONDS);
      int leader = cluster.awaitLeaderOf("snap", 0);
      int follower = leader % 3 + 1;
      Workload w = new Workload("snap", 1);
      ProducerConfig smallBatches = ProducerConfig.builder().linger(Duration.ofMillis(1)).batchSizeBytes(256).build();
      try (Producer producer = client.producer(smallBatches)) {
        w.send(producer, 0, 300);
        producer.flush();
        w.awaitSends(Duration.ofSeconds(60));
      }
      long followerApplied = TestCluster.division(cluster.node(follower), "snap", 0).getInfo().getLastAppliedIndex();
      cluster.stop(follower);
      try (Producer producer = client.producer(smallBatches)) {
        w.send(producer, 300, 3_000);
        producer.flush();
        w.awaitSends(Duration.ofSeconds(120));
      }
      int currentLeader = cluster.awaitLeaderOf("snap", 0);
      await().atMost(Duration.ofSeconds(30)).until(() ->
          TestCluster.division(cluster.node(currentLeader), "snap", 0).getRaftLog().getStartIndex()
              > followerApplied + 1);

      cluster.start(follower);
      cluster.awaitHealthy();
      awaitReplicasIdentical(cluster, "snap", 1);
      PartitionStateMachine caughtUp = TestCluster.replica(cluster.node(follower), "snap", 0);
      assertThat(caughtUp.log().segmentFiles()).as("segments came with the snapshot").hasSizeGreaterThan(1);
      assertThat(caughtUp.log().logStartOffset()).isZero();
      assertThat(w.failed).isEmpty();
      assertThat(w.verify(Workload.readAll(client, "snap", 1, 3_000, Duration.ofSeconds(60)))).isEqualTo(3_000);
    }
  }

  /** Every running replica of each partition reaches the same high watermark with byte-identical logs. */
  static void awaitReplicasIdentical(TestCluster cluster, String topic, int partitions) {
    // A replica swapping in an installed snapshot closes its old log for a moment: read again.
    await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(200))
        .ignoreException(IllegalStateException.class).untilAsserted(() -> {
      for (int p = 0; p < partitions; p++) {
        ByteBuffer reference = null;
        long referenceHw = -1;
        for (int node = 1; node <= 3; node++) {
          if (!cluster.isRunning(node)) {
            continue;
          }
          PartitionStateMachine replica = TestCluster.replica(cluster.node(node), topic, p);
          assertThat(replica).as("node %d hosts %s-%d", node, topic, p).isNotNull();
          long hw = replica.highWatermark();
          ByteBuffer bytes = readWholeLog(replica);
          if (reference == null) {
            reference = bytes;
            referenceHw = hw;
          } else {
            assertThat(hw).as("hw of %s-%d on node %d", topic, p, node).isEqualTo(referenceHw);
            assertThat(bytes).as("log of %s-%d on node %d", topic, p, node).isEqualTo(reference);
          }
        }
      }
    });
  }

  static ByteBuffer readWholeLog(PartitionStateMachine replica) throws Exception {
    long offset = replica.log().logStartOffset();
    long end = replica.highWatermark();
    ByteBuffer all = ByteBuffer.allocate((int) replica.log().sizeInBytes());
    while (offset < end) {
      FetchSlice slice = replica.log().read(offset, 1 << 20);
      ByteBuffer chunk = slice.readFully();
      all.put(chunk.duplicate());
      long[] next = {offset};
      io.raftmq.protocol.BatchFrames.forEach(chunk, f -> next[0] = f.nextOffset());
      offset = next[0];
    }
    return all.flip();
  }
}
