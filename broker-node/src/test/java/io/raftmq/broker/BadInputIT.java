package io.raftmq.broker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.raftmq.client.Consumer;
import io.raftmq.client.ConsumerConfig;
import io.raftmq.client.Message;
import io.raftmq.client.NewTopic;
import io.raftmq.client.OffsetReset;
import io.raftmq.client.Producer;
import io.raftmq.client.ProducerConfig;
import io.raftmq.client.RaftMqClient;
import io.raftmq.client.RaftMqException;
import io.raftmq.client.TopicPartition;
import io.raftmq.protocol.ErrorCode;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Bad input through the SDK gets a clear error and changes nothing. */
class BadInputIT {
  @TempDir
  static Path dir;
  static TestCluster cluster;
  static RaftMqClient client;

  @BeforeAll
  static void start() throws Exception {
    cluster = new TestCluster(dir).start();
    client = RaftMqClient.connect(cluster.bootstrap());
    client.admin().createTopic(new NewTopic("good", 2, 3, Map.of())).get(60, TimeUnit.SECONDS);
  }

  @AfterAll
  static void stop() {
    if (client != null) {
      client.close();
    }
    if (cluster != null) {
      cluster.close();
    }
  }

  private static ErrorCode codeOf(Throwable t) {
    Throwable c = t instanceof ExecutionException ? t.getCause() : t;
    assertThat(c).isInstanceOf(RaftMqException.class);
    return ((RaftMqException) c).code();
  }

  /** The sum of the partitions' high watermarks as their leaders report them. */
  private static long totalHighWatermark(String topic) throws Exception {
    int partitions = client.admin().describeTopic(topic).get(30, TimeUnit.SECONDS).partitions().size();
    List<TopicPartition> tps = new ArrayList<>();
    for (int p = 0; p < partitions; p++) {
      tps.add(new TopicPartition(topic, p));
    }
    try (Consumer c = client.consumer()) {
      return c.endOffsets(tps).values().stream().mapToLong(Long::longValue).sum();
    }
  }

  @Test
  void shouldRejectAMessageOverTheMaximumSizeAndStoreNothing() throws Exception {
    long before = totalHighWatermark("good");
    // The client would refuse it itself; let it through to see the broker refuse it.
    try (Producer producer = client.producer(ProducerConfig.builder().maxMessageBytes(4 * 1024 * 1024)
        .deliveryTimeout(Duration.ofSeconds(20)).build())) {
      var f = producer.send(Message.builder("good").partition(0).value(new byte[1024 * 1024 + 1]).build());
      assertThatThrownBy(() -> f.get(30, TimeUnit.SECONDS))
          .satisfies(t -> assertThat(codeOf(t)).isEqualTo(ErrorCode.MESSAGE_TOO_LARGE));
      var ok = producer.send(Message.builder("good").partition(0).value(new byte[1024 * 1024 - 100]).build());
      assertThat(ok.get(30, TimeUnit.SECONDS).offset()).isGreaterThanOrEqualTo(0);
    }
    assertThat(totalHighWatermark("good")).isEqualTo(before + 1);
  }

  @Test
  void shouldFailSendsToAnUnknownTopic() {
    try (Producer producer = client.producer(ProducerConfig.builder().deliveryTimeout(Duration.ofSeconds(10)).build())) {
      var f = producer.send(Message.of("no-such-topic", "k", "v"));
      assertThatThrownBy(() -> f.get(30, TimeUnit.SECONDS))
          .satisfies(t -> assertThat(codeOf(t)).isEqualTo(ErrorCode.UNKNOWN_TOPIC));
    }
  }

  @Test
  void shouldRefuseBadTopicDefinitionsAndCreateNothing() throws Exception {
    assertThatThrownBy(() -> client.admin().createTopic(NewTopic.of("bad name!", 1)).get(30, TimeUnit.SECONDS))
        .satisfies(t -> assertThat(codeOf(t)).isEqualTo(ErrorCode.INVALID_TOPIC_NAME));
    assertThatThrownBy(() -> client.admin().createTopic(NewTopic.of("zero", 0)).get(30, TimeUnit.SECONDS))
        .satisfies(t -> assertThat(codeOf(t)).isEqualTo(ErrorCode.INVALID_PARTITIONS));
    assertThatThrownBy(() -> client.admin().createTopic(new NewTopic("five", 1, 5, Map.of())).get(30, TimeUnit.SECONDS))
        .satisfies(t -> assertThat(codeOf(t)).isEqualTo(ErrorCode.INVALID_REPLICATION_FACTOR));
    assertThatThrownBy(() -> client.admin().createTopic(new NewTopic("cfg", 1, 3, Map.of("nope", "1")))
        .get(30, TimeUnit.SECONDS))
        .satisfies(t -> assertThat(codeOf(t)).isEqualTo(ErrorCode.INVALID_CONFIG));
    assertThatThrownBy(() -> client.admin().createTopic(NewTopic.of("good", 3)).get(30, TimeUnit.SECONDS))
        .satisfies(t -> assertThat(codeOf(t)).isEqualTo(ErrorCode.TOPIC_ALREADY_EXISTS));
    assertThat(client.admin().listTopics().get(30, TimeUnit.SECONDS)).containsExactly("good");
    assertThat(client.admin().describeTopic("good").get(30, TimeUnit.SECONDS).partitions()).hasSize(2);
  }

  @Test
  void shouldRefuseOffsetsOutsideTheLog() throws Exception {
    TopicPartition tp = new TopicPartition("good", 1);
    try (Consumer consumer = client.consumer(ConsumerConfig.builder().autoOffsetReset(OffsetReset.NONE).build())) {
      consumer.assign(List.of(tp));
      assertThatThrownBy(() -> consumer.seek(tp, -5)).isInstanceOf(IllegalArgumentException.class);
      consumer.seek(tp, 1_000_000);
      assertThatThrownBy(() -> consumer.poll(Duration.ofSeconds(5)))
          .isInstanceOf(RaftMqException.class)
          .satisfies(t -> assertThat(((RaftMqException) t).code()).isEqualTo(ErrorCode.OFFSET_OUT_OF_RANGE));
    }
    // Only the leader judges an offset past the end: a follower applies after the leader, so a consumer
    // may already have read past its high watermark there. It sends the asker to the leader instead
    // (an out-of-range answer would make the consumer reset its position and read again from 0).
    int leader = cluster.leaderOf("good", 1);
    for (int node = 1; node <= 3; node++) {
      try (RawConnection raw = new RawConnection("127.0.0.1", cluster.node(node).clientPort())) {
        var r = raw.call(io.raftmq.protocol.Request.newBuilder().setCorrelationId(7).setApiKey(io.raftmq.protocol.ApiKey.FETCH)
            .setFetch(io.raftmq.protocol.FetchRequest.newBuilder().setMaxWaitMs(0).setMaxBytes(1 << 20)
                .addPartitions(io.raftmq.protocol.PartitionFetch.newBuilder().setTopic("good").setPartition(1)
                    .setOffset(1_000_000).setMaxBytes(1 << 20)))
            .build()).header().getFetch().getResults(0);
        if (node == leader) {
          assertThat(r.getError()).as("the leader, node %d", node).isEqualTo(ErrorCode.OFFSET_OUT_OF_RANGE);
        } else {
          assertThat(r.getError()).as("follower %d", node).isEqualTo(ErrorCode.NOT_LEADER);
          assertThat(r.hasLeader()).as("with a hint").isTrue();
        }
      }
    }
    assertThatThrownBy(() -> client.admin().describeTopic("missing").get(30, TimeUnit.SECONDS))
        .satisfies(t -> assertThat(codeOf(t)).isEqualTo(ErrorCode.UNKNOWN_TOPIC));
  }
}
