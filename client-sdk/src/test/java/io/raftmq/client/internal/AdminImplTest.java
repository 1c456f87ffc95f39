package io.raftmq.client.internal;

import static org.assertj.core.api.Assertions.assertThat;

import io.raftmq.client.ClientConfig;
import io.raftmq.client.ClusterMetadata;
import io.raftmq.client.NewTopic;
import io.raftmq.client.RaftMqClient;
import io.raftmq.client.RaftMqException;
import io.raftmq.client.TopicDescription;
import io.raftmq.protocol.ApiKey;
import io.raftmq.protocol.CreateTopicResponse;
import io.raftmq.protocol.DescribeTopicResponse;
import io.raftmq.protocol.ErrorCode;
import io.raftmq.protocol.LeaderHint;
import io.raftmq.protocol.ListTopicsResponse;
import io.raftmq.protocol.Response;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class AdminImplTest {
  private FakeNode follower;
  private FakeNode leader;
  private RaftMqClient client;

  @BeforeEach
  void setUp() throws Exception {
    follower = new FakeNode(1);
    leader = new FakeNode(2);
    follower.nodes.add(leader);
    leader.nodes.clear();
    leader.nodes.addAll(follower.nodes);
    follower.metadataLeader = -1; // does not know yet
    follower.on(ApiKey.CREATE_TOPIC, ex -> FakeBroker.Reply.of(Response.newBuilder().setCreateTopic(
        CreateTopicResponse.newBuilder().setError(ErrorCode.NOT_LEADER)
            .setLeader(LeaderHint.newBuilder().setNodeId(2).setHost("127.0.0.1").setPort(leader.broker.port())))));
    AtomicInteger polls = new AtomicInteger();
    leader.on(ApiKey.CREATE_TOPIC, ex -> {
      // Leaders appear only on the second metadata poll.
      leader.topics.put(ex.request.getCreateTopic().getName(), new int[] {-1, 2});
      follower.topics.put(ex.request.getCreateTopic().getName(), new int[] {-1, 2});
      return FakeBroker.Reply.of(Response.newBuilder().setCreateTopic(CreateTopicResponse.getDefaultInstance()));
    });
    FakeBroker.Handler metadata = ex -> {
      FakeNode self = ex.channel.localAddress().toString().endsWith(":" + leader.broker.port()) ? leader : follower;
      if (polls.incrementAndGet() > 1 && self.topics.containsKey("orders")) {
        self.topics.put("orders", new int[] {1, 2});
      }
      return FakeBroker.Reply.of(Response.newBuilder().setMetadata(self.metadata()));
    };
    follower.on(ApiKey.METADATA, metadata);
    leader.on(ApiKey.METADATA, metadata);
    client = RaftMqClient.connect(ClientConfig.builder().bootstrap(follower.bootstrap())
        .requestTimeout(Duration.ofSeconds(5)).build());
  }

  @AfterEach
  void tearDown() {
    client.close();
    follower.close();
    leader.close();
  }

  @Test
  void createTopicShouldFollowTheLeaderHintAndWaitForEveryPartitionLeader() throws Exception {
    TopicDescription t = client.admin().createTopic(NewTopic.of("orders", 2)).get(10, TimeUnit.SECONDS);
    assertThat(t.name()).isEqualTo("orders");
    assertThat(t.partitions()).extracting(p -> p.leader()).containsExactly(1, 2);
    assertThat(follower.received(ApiKey.CREATE_TOPIC)).hasSize(1);
    assertThat(leader.received(ApiKey.CREATE_TOPIC)).hasSize(1);
    assertThat(leader.received(ApiKey.CREATE_TOPIC).get(0).request.getCreateTopic().getPartitions()).isEqualTo(2);
  }

  @Test
  void describeAndListShouldReportBrokerAnswers() throws Exception {
    follower.on(ApiKey.LIST_TOPICS, ex -> FakeBroker.Reply.of(Response.newBuilder()
        .setListTopics(ListTopicsResponse.newBuilder().addNames("b").addNames("a"))));
    leader.on(ApiKey.LIST_TOPICS, ex -> FakeBroker.Reply.of(Response.newBuilder()
        .setListTopics(ListTopicsResponse.newBuilder().addNames("b").addNames("a"))));
    FakeBroker.Handler describe = ex -> FakeBroker.Reply.of(Response.newBuilder().setDescribeTopic(
        DescribeTopicResponse.newBuilder().setError(ErrorCode.UNKNOWN_TOPIC).setErrorMessage("no such topic")));
    follower.on(ApiKey.DESCRIBE_TOPIC, describe);
    leader.on(ApiKey.DESCRIBE_TOPIC, describe);
    assertThat(client.admin().listTopics().get(10, TimeUnit.SECONDS)).containsExactly("a", "b");
    ExecutionException e = org.junit.jupiter.api.Assertions.assertThrows(ExecutionException.class,
        () -> client.admin().describeTopic("zz").get(10, TimeUnit.SECONDS));
    assertThat(e.getCause()).isInstanceOfSatisfying(RaftMqException.class, x -> {
      assertThat(x.code()).isEqualTo(ErrorCode.UNKNOWN_TOPIC);
      assertThat(x.isRetriable()).isFalse();
    });
  }

  @Test
  void metadataShouldListNodes() {
    ClusterMetadata m = client.metadata(Duration.ofSeconds(5));
    assertThat(m.nodes()).extracting(n -> n.nodeId()).containsExactlyInAnyOrder(1, 2);
  }

  @Test
  void connectShouldFailFastOnABadAddressList() {
    for (String bad : List.of("", "host", "host:", ":12", "host:abc", "host:70000", "::1:5")) {
      org.junit.jupiter.api.Assertions.assertThrows(RaftMqException.class, () -> RaftMqClient.connect(bad), bad);
    }
    assertThat(HostPort.parseList("a:1, [::1]:2")).containsExactly(new HostPort("a", 1), new HostPort("::1", 2));
  }
}
