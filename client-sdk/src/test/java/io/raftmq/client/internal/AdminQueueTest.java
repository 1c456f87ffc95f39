package io.raftmq.client.internal;

import static org.assertj.core.api.Assertions.assertThat;

import io.raftmq.client.ClientConfig;
import io.raftmq.client.KeyFailureMode;
import io.raftmq.client.QueueGroupDescription;
import io.raftmq.client.QueueGroupListing;
import io.raftmq.client.QueueOrdering;
import io.raftmq.client.RaftMqClient;
import io.raftmq.client.RaftMqException;
import io.raftmq.client.RedriveFilter;
import io.raftmq.client.RedriveResult;
import io.raftmq.client.TopicPartition;
import io.raftmq.protocol.ApiKey;
import io.raftmq.protocol.DescribeQueueResponse;
import io.raftmq.protocol.ErrorCode;
import io.raftmq.protocol.QueueGroupConfig;
import io.raftmq.protocol.QueuePartitionState;
import io.raftmq.protocol.QueueRedriveRequest;
import io.raftmq.protocol.QueueRedriveResponse;
import io.raftmq.protocol.Response;
import io.raftmq.protocol.TopicPartitions;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class AdminQueueTest {
  private FakeNode node;
  private RaftMqClient client;
  /** Per partition of topic "t": dead offsets of group "g" still to redrive. */
  private final Map<Integer, List<Long>> dead = new ConcurrentHashMap<>();

  private static QueuePartitionState state(String topic, int p, String group, int inFlight, int deadCount,
      Map<String, Long> reasons, long oldest) {
    return QueuePartitionState.newBuilder().setTopic(topic).setPartition(p).setGroup(group).setStart(10).setEnd(20)
        .setHighWatermark(25).setInFlight(inFlight).setAvailable(2).setRedelivered(3).setLeaseExpiries(1)
        .setAcked(7).setDead(deadCount).putAllDeadByReason(reasons).setOldestDeadMs(oldest).build();
  }

  @BeforeEach
  void setUp() throws Exception {
    node = new FakeNode(1);
    node.topics.put("t", new int[] {1, 1});
    node.topics.put("t.dlq.g", new int[] {1});
    node.on(ApiKey.DESCRIBE_QUEUE, ex -> {
      DescribeQueueResponse.Builder r = DescribeQueueResponse.newBuilder();
      String group = ex.request.getDescribeQueue().getGroup();
      for (TopicPartitions tps : ex.request.getDescribeQueue().getPartitionsList()) {
        for (int p : tps.getPartitionsList()) {
          if (!tps.getTopic().equals("t")) {
            continue; // no queue groups there: no rows
          }
          if (group.isEmpty() || group.equals("g")) {
            if (p == 1 && group.equals("g")) {
              r.addPartitions(QueuePartitionState.newBuilder().setTopic("t").setPartition(1).setGroup("g")
                  .setError(ErrorCode.UNKNOWN_QUEUE_GROUP));
            } else if (p == 0) {
              r.addPartitions(state("t", 0, "g", 4, 2, Map.of("REJECTED", 2L), 500).toBuilder()
                  .setConfig(QueueGroupConfig.newBuilder().setVisibilityTimeoutMs(5000).setOrdering("key")));
            }
            if (group.isEmpty()) {
              r.addPartitions(state("t", p, "h", 1, 1, Map.of("MAX_DELIVERIES", 1L), 300 + p));
            }
          } else {
            r.addPartitions(QueuePartitionState.newBuilder().setTopic("t").setPartition(p).setGroup(group)
                .setError(ErrorCode.UNKNOWN_QUEUE_GROUP));
          }
        }
      }
      return FakeBroker.Reply.of(Response.newBuilder().setDescribeQueue(r));
    });
    node.on(ApiKey.QUEUE_REDRIVE, ex -> {
      QueueRedriveRequest q = ex.request.getQueueRedrive();
      QueueRedriveResponse.Builder r = QueueRedriveResponse.newBuilder();
      if (!q.getGroup().equals("g")) {
        return FakeBroker.Reply.of(Response.newBuilder().setQueueRedrive(r.setError(ErrorCode.UNKNOWN_QUEUE_GROUP)));
      }
      List<Long> left = dead.getOrDefault(q.getPartition(), new ArrayList<>());
      int n = q.getLimit() == 0 ? left.size() : Math.min(q.getLimit(), left.size());
      List<Long> taken = new ArrayList<>(left.subList(0, n));
      if (!q.getDryRun()) {
        left.subList(0, n).clear();
      }
      return FakeBroker.Reply.of(Response.newBuilder().setQueueRedrive(r.addAllOffsets(taken).setKeptByLoopGuard(1)));
    });
    client = RaftMqClient.connect(ClientConfig.builder().bootstrap(node.bootstrap())
        .requestTimeout(Duration.ofSeconds(5)).build());
  }

  @AfterEach
  void tearDown() {
    client.close();
    node.close();
  }

  @Test
  void describeQueueShouldListThePartitionsWhereTheGroupExistsWithDefaultsFilledIn() throws Exception {
    QueueGroupDescription d = client.admin().describeQueue("t", "g").get(5, TimeUnit.SECONDS);
    assertThat(d.partitions()).singleElement().satisfies(p -> {
      assertThat(p.partition()).isZero();
      assertThat(p.inFlight()).isEqualTo(4);
      assertThat(p.unseen()).isEqualTo(5);
      assertThat(p.backlog()).isEqualTo(5 + 2 + 4);
      assertThat(p.deadByReason()).containsEntry("REJECTED", 2L);
      assertThat(p.deadLetterTopic()).isEqualTo("t.dlq.g");
      assertThat(p.settings().visibilityTimeoutMs()).isEqualTo(5000);
      assertThat(p.settings().ordering()).isEqualTo(QueueOrdering.KEY);
      assertThat(p.settings().maxDeliveries()).isEqualTo(5);
      assertThat(p.settings().keyFailureMode()).isEqualTo(KeyFailureMode.LENIENT);
      assertThat(p.settings().backoffMaxMs()).isEqualTo(60_000);
    });
    assertThat(d.dead()).isEqualTo(2);
    assertThat(d.oldestDeadMs()).isEqualTo(500);
  }

  @Test
  void describeQueueShouldFailForAGroupThatExistsNowhere() {
    ExecutionException e = org.junit.jupiter.api.Assertions.assertThrows(ExecutionException.class,
        () -> client.admin().describeQueue("t", "nobody").get(5, TimeUnit.SECONDS));
    assertThat(e.getCause()).isInstanceOfSatisfying(RaftMqException.class,
        x -> assertThat(x.code()).isEqualTo(ErrorCode.UNKNOWN_QUEUE_GROUP));
    ExecutionException t = org.junit.jupiter.api.Assertions.assertThrows(ExecutionException.class,
        () -> client.admin().describeQueue("nosuchtopic", "g").get(5, TimeUnit.SECONDS));
    assertThat(t.getCause()).isInstanceOfSatisfying(RaftMqException.class,
        x -> assertThat(x.code()).isEqualTo(ErrorCode.UNKNOWN_TOPIC));
  }

  @Test
  void listQueueGroupsShouldSumEachGroupOverItsPartitions() throws Exception {
    List<QueueGroupListing> all = client.admin().listQueueGroups().get(5, TimeUnit.SECONDS);
    assertThat(all).extracting(QueueGroupListing::topic, QueueGroupListing::group)
        .containsExactly(org.assertj.core.groups.Tuple.tuple("t", "g"), org.assertj.core.groups.Tuple.tuple("t", "h"));
    QueueGroupListing h = all.get(1);
    assertThat(h.partitions()).isEqualTo(2);
    assertThat(h.inFlight()).isEqualTo(2);
    assertThat(h.dead()).isEqualTo(2);
    assertThat(h.acked()).isEqualTo(14);
    assertThat(h.backlog()).isEqualTo(2 * (5 + 2 + 1));
    assertThat(h.oldestDeadMs()).isEqualTo(300);
    assertThat(h.topReason()).isEqualTo("MAX_DELIVERIES");
    assertThat(h.deadLetterTopic()).isEqualTo("t.dlq.h");
  }

  @Test
  void redriveShouldAskEveryPartitionWithTheFilterAndSumTheAnswers() throws Exception {
    dead.put(0, new ArrayList<>(List.of(1L, 2L)));
    dead.put(1, new ArrayList<>(List.of(5L)));
    RedriveFilter f = RedriveFilter.builder().reason("REJECTED").key("k1").fromOffset(1).toOffset(9)
        .fromTime(Instant.ofEpochMilli(100)).toTime(Instant.ofEpochMilli(200)).build();
    RedriveResult dry = client.admin().redrive("t", "g", f, true).get(5, TimeUnit.SECONDS);
    assertThat(dry.offsets()).isEqualTo(Map.of(0, List.of(1L, 2L), 1, List.of(5L)));
    assertThat(dry.keptByLoopGuardTotal()).isEqualTo(2);
    QueueRedriveRequest sent = node.received(ApiKey.QUEUE_REDRIVE).get(0).request.getQueueRedrive();
    assertThat(sent.getReason()).isEqualTo("REJECTED");
    assertThat(sent.getByKey()).isTrue();
    assertThat(sent.getKey().toStringUtf8()).isEqualTo("k1");
    assertThat(sent.getFromOffset()).isEqualTo(1);
    assertThat(sent.getToOffset()).isEqualTo(9);
    assertThat(sent.getFromTimeMs()).isEqualTo(100);
    assertThat(sent.getToTimeMs()).isEqualTo(200);
    assertThat(sent.getDryRun()).isTrue();
    assertThat(sent.getPurge()).isFalse();
    RedriveResult purge = client.admin().purgeDeadLetters("t", "g", RedriveFilter.all(), false).get(5, TimeUnit.SECONDS);
    assertThat(purge.purged()).isTrue();
    assertThat(purge.count()).isEqualTo(3);
    assertThat(node.received(ApiKey.QUEUE_REDRIVE)).filteredOn(e -> e.request.getQueueRedrive().getPurge()).hasSize(2);
    ExecutionException e = org.junit.jupiter.api.Assertions.assertThrows(ExecutionException.class,
        () -> client.admin().redrive("t", "other", RedriveFilter.all(), false).get(5, TimeUnit.SECONDS));
    assertThat(((RaftMqException) e.getCause()).code()).isEqualTo(ErrorCode.UNKNOWN_QUEUE_GROUP);
  }

  @Test
  void pacedRedriveShouldSpreadTheRateOverPartitionsAndStopWhenNothingMatches() throws Exception {
    dead.put(0, new ArrayList<>(List.of(1L, 2L, 3L)));
    dead.put(1, new ArrayList<>(List.of(7L)));
    long start = System.nanoTime();
    RedriveResult r = client.admin().redrive("t", "g", RedriveFilter.all(), 2).get(10, TimeUnit.SECONDS);
    long tookMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
    assertThat(r.offsets()).isEqualTo(Map.of(0, List.of(1L, 2L, 3L), 1, List.of(7L)));
    assertThat(r.keptByLoopGuard()).containsEntry(0, 1);
    List<QueueRedriveRequest> sent = node.received(ApiKey.QUEUE_REDRIVE).stream()
        .map(x -> x.request.getQueueRedrive()).toList();
    // Round 1: one each; round 2: partition 1 had nothing more, partition 0 gets the whole rate.
    assertThat(sent).allSatisfy(q -> assertThat(q.getLimit()).isBetween(1, 2));
    assertThat(sent.stream().filter(q -> q.getPartition() == 1)).hasSize(2);
    assertThat(tookMs).as("rounds are a second apart").isGreaterThanOrEqualTo(1000);
    assertThat(dead.get(0)).isEmpty();
  }

  @Test
  void scanShouldTreatMissingRowsAndUnknownGroupsAsNoGroup() {
    List<TopicPartition> asked = List.of(new TopicPartition("t", 0), new TopicPartition("t", 1));
    DescribeQueueResponse r = DescribeQueueResponse.newBuilder()
        .addPartitions(QueuePartitionState.newBuilder().setTopic("t").setPartition(0).setGroup("g")
            .setError(ErrorCode.UNKNOWN_QUEUE_GROUP))
        .build();
    var out = AdminImpl.QueueGroupScan.outcomes(r, asked);
    assertThat(out).hasSize(2);
    assertThat(out.values()).allSatisfy(o -> {
      assertThat(o.error()).isNull();
      assertThat(o.value()).isEmpty();
    });
    DescribeQueueResponse moved = DescribeQueueResponse.newBuilder()
        .addPartitions(QueuePartitionState.newBuilder().setTopic("t").setPartition(1).setError(ErrorCode.NOT_LEADER))
        .build();
    assertThat(AdminImpl.QueueGroupScan.outcomes(moved, asked).get(new TopicPartition("t", 1)).error().code())
        .isEqualTo(ErrorCode.NOT_LEADER);
  }
}
