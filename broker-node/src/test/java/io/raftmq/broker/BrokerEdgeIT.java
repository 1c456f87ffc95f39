package io.raftmq.broker;

import static org.assertj.core.api.Assertions.assertThat;

import io.raftmq.protocol.Acks;
import io.raftmq.protocol.ApiKey;
import io.raftmq.protocol.BatchFrames;
import io.raftmq.protocol.CreateTopicRequest;
import io.raftmq.protocol.ErrorCode;
import io.raftmq.protocol.FetchRequest;
import io.raftmq.protocol.MetadataRequest;
import io.raftmq.protocol.PartitionBatch;
import io.raftmq.protocol.PartitionFetch;
import io.raftmq.protocol.ProduceRequest;
import io.raftmq.protocol.RecordCodec;
import io.raftmq.protocol.Request;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import static org.awaitility.Awaitility.await;

/**
 * The broker's edges, spoken to with raw frames on a real three-node cluster: the protocol round trip,
 * and frames that are malformed, oversized or cut off, each of which closes only its own connection.
 */
class BrokerEdgeIT {
  @TempDir
  static Path dir;
  static TestCluster cluster;

  @BeforeAll
  static void startCluster() throws Exception {
    cluster = new TestCluster(dir, 3, b -> b.maxFrameBytes(4 * 1024 * 1024)).start();
    try (RawConnection c = connect(1)) {
      var reply = c.call(Request.newBuilder().setCorrelationId(1).setApiKey(ApiKey.CREATE_TOPIC)
          .setCreateTopic(CreateTopicRequest.newBuilder().setName("edge").setPartitions(1)).build());
      assertThat(reply.header().getCreateTopic().getError()).isEqualTo(ErrorCode.NONE);
    }
    cluster.awaitHealthy();
    cluster.awaitLeaderOf("edge", 0);
  }

  @AfterAll
  static void stopCluster() {
    if (cluster != null) {
      cluster.close();
    }
  }

  static RawConnection connect(int nodeId) throws Exception {
    return new RawConnection("127.0.0.1", cluster.node(nodeId).clientPort());
  }

  static byte[] records(String... values) {
    int size = 0;
    for (String v : values) {
      size += RecordCodec.encodedSize(1L, null, v.getBytes(StandardCharsets.UTF_8), Map.of());
    }
    ByteBuffer buf = ByteBuffer.allocate(size);
    for (String v : values) {
      RecordCodec.write(buf, 1L, null, v.getBytes(StandardCharsets.UTF_8), Map.of());
    }
    return buf.array();
  }

  static Request produce(int correlationId, String topic, byte[] records, int count) {
    return Request.newBuilder().setCorrelationId(correlationId).setApiKey(ApiKey.PRODUCE)
        .setProduce(ProduceRequest.newBuilder().setAcks(Acks.ACKS_QUORUM).addBatches(PartitionBatch.newBuilder()
            .setTopic(topic).setPartition(0).setProducerId(-1).setRecordCount(count)
            .setRecordsSize(records.length).setMaxTimestamp(1)))
        .build();
  }

  static boolean metadataAnswers(RawConnection c) throws Exception {
    var reply = c.call(Request.newBuilder().setCorrelationId(99).setApiKey(ApiKey.METADATA)
        .setMetadata(MetadataRequest.getDefaultInstance()).build());
    return reply.header().getCorrelationId() == 99 && reply.header().getMetadata().getNodesCount() == 3;
  }

  @Test
  void shouldAppendAtTheLeaderAndServeTheCommittedBatchFromEveryReplica() throws Exception {
    int leader = cluster.awaitLeaderOf("edge", 0);
    long base;
    try (RawConnection c = connect(leader)) {
      byte[] recs = records("a", "b", "c");
      c.send(produce(7, "edge", recs, 3), recs);
      var reply = c.receive();
      assertThat(reply.header().getCorrelationId()).isEqualTo(7);
      var result = reply.header().getProduce().getResults(0);
      assertThat(result.getError()).isEqualTo(ErrorCode.NONE);
      base = result.getBaseOffset();
    }
    for (int node = 1; node <= 3; node++) {
      try (RawConnection c = connect(node)) {
        // followers apply asynchronously: long-poll until they have the batch
        var reply = c.call(Request.newBuilder().setCorrelationId(8).setApiKey(ApiKey.FETCH)
            .setFetch(FetchRequest.newBuilder().setMaxWaitMs(5000).setMinBytes(1).setMaxBytes(1 << 20)
                .addPartitions(PartitionFetch.newBuilder().setTopic("edge").setPartition(0).setOffset(base)
                    .setMaxBytes(1 << 20)))
            .build());
        var r = reply.header().getFetch().getResults(0);
        assertThat(r.getError()).isEqualTo(ErrorCode.NONE);
        assertThat(r.getHighWatermark()).isGreaterThanOrEqualTo(base + 3);
        List<String> values = new ArrayList<>();
        BatchFrames.forEach(reply.body(), f -> RecordCodec.decode(f.payload(), f.recordCount(),
            (i, ts, k, v, h) -> {
              if (f.baseOffset() + i >= base) {
                values.add(new String(v, StandardCharsets.UTF_8));
              }
            }));
        assertThat(values).as("node %d", node).startsWith("a", "b", "c");
      }
    }
  }

  @Test
  void shouldAnswerALongPollOnAnIdlePartitionAtItsDeadlineAndLeaveNoWaiterBehind() throws Exception {
    int leader = cluster.awaitLeaderOf("edge", 0);
    var lp = cluster.node(leader).partitionsForTest().get("edge", 0);
    long hw = lp.stateMachine.highWatermark();
    try (RawConnection c = connect(leader)) {
      for (int i = 0; i < 5; i++) {
        long start = System.nanoTime();
        var reply = c.call(Request.newBuilder().setCorrelationId(20 + i).setApiKey(ApiKey.FETCH)
            .setFetch(FetchRequest.newBuilder().setMaxWaitMs(200).setMinBytes(1).setMaxBytes(1 << 20)
                .addPartitions(PartitionFetch.newBuilder().setTopic("edge").setPartition(0).setOffset(hw)
                    .setMaxBytes(1 << 20)))
            .build());
        assertThat(reply.header().getFetch().getResults(0).getRecordsSize()).isZero();
        assertThat(System.nanoTime() - start).isGreaterThanOrEqualTo(Duration.ofMillis(150).toNanos());
      }
    }
    assertThat(lp.waiterCount()).isZero();
  }

  @Test
  void shouldAnswerNotLeaderWithTheLeadersAddressFromAFollower() throws Exception {
    int leader = cluster.awaitLeaderOf("edge", 0);
    int follower = leader == 1 ? 2 : 1;
    try (RawConnection c = connect(follower)) {
      byte[] recs = records("x");
      c.send(produce(3, "edge", recs, 1), recs);
      var result = c.receive().header().getProduce().getResults(0);
      assertThat(result.getError()).isEqualTo(ErrorCode.NOT_LEADER);
      assertThat(result.getLeader().getNodeId()).isEqualTo(leader);
      assertThat(result.getLeader().getPort()).isEqualTo(cluster.node(leader).clientPort());
    }
  }

  @Test
  void shouldRejectCorruptRecordsAndABodyThatDoesNotMatchItsHeader() throws Exception {
    int leader = cluster.awaitLeaderOf("edge", 0);
    long hwBefore = TestCluster.replica(cluster.node(leader), "edge", 0).highWatermark();
    try (RawConnection c = connect(leader)) {
      byte[] garbage = {(byte) 0xFF, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, 1, 2};
      c.send(produce(4, "edge", garbage, 1), garbage);
      assertThat(c.receive().header().getProduce().getResults(0).getError()).isEqualTo(ErrorCode.CORRUPT_MESSAGE);
      byte[] recs = records("one", "two");
      c.send(produce(5, "edge", recs, 3), recs);
      assertThat(c.receive().header().getProduce().getResults(0).getError()).isEqualTo(ErrorCode.CORRUPT_MESSAGE);
      c.send(produce(6, "edge", recs, 2), new byte[3]);
      assertThat(c.receive().header().getError()).isEqualTo(ErrorCode.INVALID_REQUEST);
      assertThat(metadataAnswers(c)).isTrue();
    }
    assertThat(TestCluster.replica(cluster.node(leader), "edge", 0).highWatermark()).isEqualTo(hwBefore);
  }

  @Test
  void shouldCloseOnlyTheConnectionThatSentAMalformedFrame() throws Exception {
    try (RawConnection bad = connect(1); RawConnection good = connect(1)) {
      bad.sendRaw(new byte[] {0, 0, 0, 8, 0, 0, 0, 4, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF});
      assertThat(bad.closedByPeer()).isTrue();
      assertThat(metadataAnswers(good)).isTrue();
    }
  }

  @Test
  void shouldCloseAConnectionAnnouncingAnOversizedFrameWithoutReadingIt() throws Exception {
    try (RawConnection bad = connect(2); RawConnection good = connect(2)) {
      bad.sendRaw(new byte[] {0x40, 0, 0, 0, 0, 0, 0, 4});
      assertThat(bad.closedByPeer()).isTrue();
      assertThat(metadataAnswers(good)).isTrue();
    }
  }

  @Test
  void shouldCloseAConnectionWhoseHeaderLengthOverrunsItsFrame() throws Exception {
    try (RawConnection bad = connect(3); RawConnection good = connect(3)) {
      bad.sendRaw(new byte[] {0, 0, 0, 6, 0, 0, 0, 100, 1, 2});
      assertThat(bad.closedByPeer()).isTrue();
      assertThat(metadataAnswers(good)).isTrue();
    }
  }

  @Test
  void shouldShrugOffAClientThatDisconnectsMidRequest() throws Exception {
    int leader = cluster.awaitLeaderOf("edge", 0);
    try (RawConnection half = connect(leader)) {
      byte[] recs = records("never");
      byte[] header = produce(9, "edge", recs, 1).toByteArray();
      ByteBuffer frame = ByteBuffer.allocate(8 + header.length + recs.length);
      frame.putInt(4 + header.length + recs.length).putInt(header.length).put(header).put(recs);
      half.sendRaw(java.util.Arrays.copyOf(frame.array(), frame.capacity() / 2));
    }
    try (RawConnection c = connect(leader)) {
      assertThat(metadataAnswers(c)).isTrue();
      byte[] recs = records("after");
      c.send(produce(10, "edge", recs, 1), recs);
      assertThat(c.receive().header().getProduce().getResults(0).getError()).isEqualTo(ErrorCode.NONE);
    }
    await().atMost(Duration.ofSeconds(5)).until(() -> cluster.node(leader).health().healthy());
  }
}
