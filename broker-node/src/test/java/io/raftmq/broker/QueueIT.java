package io.raftmq.broker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.google.protobuf.ByteString;
import io.raftmq.client.ConsumerRecord;
import io.raftmq.client.DeadLetters;
import io.raftmq.client.Message;
import io.raftmq.client.NewTopic;
import io.raftmq.client.Producer;
import io.raftmq.client.RaftMqClient;
import io.raftmq.client.TopicPartition;
import io.raftmq.protocol.ApiKey;
import io.raftmq.protocol.BatchFrames;
import io.raftmq.protocol.DescribeQueueRequest;
import io.raftmq.protocol.ErrorCode;
import io.raftmq.protocol.ExtendItem;
import io.raftmq.protocol.NackItem;
import io.raftmq.protocol.PartitionReceive;
import io.raftmq.protocol.PartitionReceiveResult;
import io.raftmq.protocol.PartitionSettle;
import io.raftmq.protocol.PartitionSettleResult;
import io.raftmq.protocol.QueueGroupConfig;
import io.raftmq.protocol.QueuePartitionState;
import io.raftmq.protocol.QueueReceiveRequest;
import io.raftmq.protocol.QueueRedriveRequest;
import io.raftmq.protocol.QueueRedriveResponse;
import io.raftmq.protocol.QueueSettleRequest;
import io.raftmq.protocol.RecordCodec;
import io.raftmq.protocol.RejectItem;
import io.raftmq.protocol.Request;
import io.raftmq.protocol.SettleResult;
import io.raftmq.protocol.TopicPartitions;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Queue groups on a real three-node cluster, spoken to in the wire protocol (the SDK's QueueConsumer
 * has its own tests): leases, acks, nack backoff with jitter, visibility timeout, dead letters with
 * their headers, rejects, ordering by key, redrive, failover of the partition leader, and bad input.
 */
class QueueIT {
  @TempDir
  static Path dir;
  static TestCluster cluster;
  static RaftMqClient client;

  @BeforeAll
  static void start() {
    cluster = new TestCluster(dir).start();
    client = RaftMqClient.connect(cluster.bootstrap());
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

  // ---- a tiny queue client over raw connections to the partition's leader ----

  /** A delivered record. */
  record Got(long offset, int count, long deadline, String key, String value, long receivedAtMs) {}

  /** One consumer of one partition (partition 0 unless said otherwise), talking to its current leader. */
  static final class Q implements AutoCloseable {
    final String topic;
    final int partition;
    final String group;
    final String consumer;
    final QueueGroupConfig config;
    RawConnection conn;
    int connectedTo = -1;
    int corr;

    Q(String topic, String group, String consumer, QueueGroupConfig config) {
      this(topic, 0, group, consumer, config);
    }

    Q(String topic, int partition, String group, String consumer, QueueGroupConfig config) {
      this.topic = topic;
      this.partition = partition;
      this.group = group;
      this.consumer = consumer;
      this.config = config;
    }

    RawConnection conn() throws IOException {
      int leader = cluster.awaitLeaderOf(topic, partition);
      if (conn == null || leader != connectedTo) {
        if (conn != null) {
          conn.close();
        }
        conn = new RawConnection("127.0.0.1", cluster.node(leader).clientPort());
        connectedTo = leader;
      }
      return conn;
    }

    PartitionReceiveResult receiveRaw(int max, int waitMs, long leaseMs, List<Got> into) throws IOException {
      QueueReceiveRequest.Builder r = QueueReceiveRequest.newBuilder().setGroup(group).setConsumerId(consumer)
          .setMaxWaitMs(waitMs).setLeaseMs(leaseMs)
          .addPartitions(PartitionReceive.newBuilder().setTopic(topic).setPartition(partition).setMaxMessages(max));
      if (config != null) {
        r.setConfig(config);
      }
      RawConnection.Reply reply = conn().call(Request.newBuilder().setCorrelationId(++corr)
          .setApiKey(ApiKey.QUEUE_RECEIVE).setApiVersion(1).setQueueReceive(r).build());
      assertThat(reply.header().getError()).as(reply.header().getErrorMessage()).isEqualTo(ErrorCode.NONE);
      PartitionReceiveResult result = reply.header().getQueueReceive().getResults(0);
      long now = System.currentTimeMillis();
      assertThat(result.getLeaseRunsCount() % 3).as("whole lease runs").isZero();
      Map<Long, Integer> wanted = new HashMap<>();
      for (int i = 0; i < result.getLeaseRunsCount(); i += 3) {
        for (long o = result.getLeaseRuns(i); o < result.getLeaseRuns(i) + result.getLeaseRuns(i + 1); o++) {
          assertThat(wanted.put(o, (int) result.getLeaseRuns(i + 2))).as("offset %d in one run only", o).isNull();
        }
      }
      ByteBuffer body = reply.body();
      TreeMap<Long, Got> found = new TreeMap<>();
      BatchFrames.forEach(body, frame -> RecordCodec.decode(frame.payload(), frame.recordCount(),
          (i, ts, k, v, h) -> {
            long offset = frame.baseOffset() + i;
            Integer count = wanted.get(offset);
            if (count != null) {
              found.put(offset, new Got(offset, count, result.getLeaseDeadlineMs(),
                  k == null ? null : new String(k, StandardCharsets.UTF_8), new String(v, StandardCharsets.UTF_8),
                  now));
            }
          }));
      assertThat(found.keySet()).as("every delivered offset's record is in the body").isEqualTo(wanted.keySet());
      into.addAll(found.values());
      return result;
    }

    List<Got> receive(int max, int waitMs) throws IOException {
      return receive(max, waitMs, 0);
    }

    List<Got> receive(int max, int waitMs, long leaseMs) throws IOException {
      List<Got> out = new ArrayList<>();
      PartitionReceiveResult r = receiveRaw(max, waitMs, leaseMs, out);
      assertThat(r.getError()).as(r.getErrorMessage()).isEqualTo(ErrorCode.NONE);
      return out;
    }

    PartitionSettleResult settle(PartitionSettle.Builder s) throws IOException {
      RawConnection.Reply reply = conn().call(Request.newBuilder().setCorrelationId(++corr)
          .setApiKey(ApiKey.QUEUE_SETTLE).setApiVersion(1).setQueueSettle(QueueSettleRequest.newBuilder()
              .setGroup(group).setConsumerId(consumer)
              .addPartitions(s.setTopic(topic).setPartition(partition))).build());
      assertThat(reply.header().getError()).isEqualTo(ErrorCode.NONE);
      return reply.header().getQueueSettle().getResults(0);
    }

    /** One code per offset: the broker lists refused acks only (in request order); the others succeeded. */
    List<ErrorCode> ack(List<Long> offsets) throws IOException {
      PartitionSettleResult r = settle(PartitionSettle.newBuilder().addAllAcks(offsets));
      assertThat(r.getError()).as(r.getErrorMessage()).isEqualTo(ErrorCode.NONE);
      List<ErrorCode> out = new ArrayList<>();
      int next = 0;
      for (long o : offsets) {
        if (next < r.getResultsCount() && r.getResults(next).getOffset() == o) {
          out.add(r.getResults(next++).getError());
        } else {
          out.add(ErrorCode.NONE);
        }
      }
      assertThat(next).as("every refused ack matches one of the request").isEqualTo(r.getResultsCount());
      return out;
    }

    List<ErrorCode> nack(List<Long> offsets, long delayMs) throws IOException {
      PartitionSettle.Builder s = PartitionSettle.newBuilder();
      offsets.forEach(o -> s.addNacks(NackItem.newBuilder().setOffset(o).setDelayMs(delayMs)
          .setErrorClass("java.io.IOException").setErrorMessage("downstream unavailable")));
      return codes(settle(s));
    }

    List<ErrorCode> reject(long offset, String reason) throws IOException {
      return codes(settle(PartitionSettle.newBuilder().addRejects(RejectItem.newBuilder().setOffset(offset)
          .setReason(reason).setErrorClass("com.example.ValidationException").setErrorMessage("bad total"))));
    }

    QueuePartitionState describe() throws IOException {
      RawConnection.Reply reply = conn().call(Request.newBuilder().setCorrelationId(++corr)
          .setApiKey(ApiKey.DESCRIBE_QUEUE).setApiVersion(1).setDescribeQueue(DescribeQueueRequest.newBuilder()
              .setGroup(group).setDeadLimit(100)
              .addPartitions(TopicPartitions.newBuilder().setTopic(topic).addPartitions(partition))).build());
      return reply.header().getDescribeQueue().getPartitions(0);
    }

    QueueRedriveResponse redrive(QueueRedriveRequest.Builder r) throws IOException {
      RawConnection.Reply reply = conn().call(Request.newBuilder().setCorrelationId(++corr)
          .setApiKey(ApiKey.QUEUE_REDRIVE).setApiVersion(1)
          .setQueueRedrive(r.setGroup(group).setTopic(topic).setPartition(partition)).build());
      return reply.header().getQueueRedrive();
    }

    static List<ErrorCode> codes(PartitionSettleResult r) {
      assertThat(r.getError()).as(r.getErrorMessage()).isEqualTo(ErrorCode.NONE);
      return r.getResultsList().stream().map(SettleResult::getError).toList();
    }

    @Override
    public void close() throws IOException {
      if (conn != null) {
        conn.close();
      }
    }
  }

  private static void createTopic(String topic, int partitions) throws Exception {
    client.admin().createTopic(NewTopic.of(topic, partitions)).get();
  }

  private static void produce(String topic, int partition, List<String[]> keyValues) throws Exception {
    try (Producer p = client.producer()) {
      List<CompletableFuture<?>> fs = new ArrayList<>();
      for (String[] kv : keyValues) {
        fs.add(p.send(Message.builder(topic).partition(partition).key(kv[0]).value(kv[1]).build()));
      }
      for (CompletableFuture<?> f : fs) {
        f.get();
      }
    }
  }

  private static List<String[]> values(String prefix, int n) {
    List<String[]> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      out.add(new String[] {"k" + i, prefix + i});
    }
    return out;
  }

  /** Opens the group (it starts at the log end), then produces. */
  private static void open(Q q) throws IOException {
    assertThat(q.receive(1, 0)).isEmpty();
  }

  private static List<ConsumerRecord> readAll(String topic, int partitions, int atLeast) {
    List<ConsumerRecord> out = new ArrayList<>();
    try (var c = client.consumer()) {
      List<TopicPartition> tps = new ArrayList<>();
      for (int p = 0; p < partitions; p++) {
        tps.add(new TopicPartition(topic, p));
      }
      c.assign(tps);
      c.seekToBeginning(tps);
      await().atMost(Duration.ofSeconds(30)).until(() -> {
        out.addAll(c.poll(Duration.ofMillis(200)));
        return out.size() >= atLeast;
      });
      out.addAll(c.poll(Duration.ofMillis(300)));
    }
    return out;
  }

  private static String header(ConsumerRecord r, String name) {
    byte[] v = r.headers().get(name);
    return v == null ? null : new String(v, StandardCharsets.UTF_8);
  }

  private static List<Long> offsets(List<Got> got) {
    return got.stream().map(Got::offset).toList();
  }

  // ---- tests ----

  @Test
  void leasesEachMessageOnceAcksSettleAndCommandsAreBatched() throws Exception {
    createTopic("q-basic", 1);
    try (Q a = new Q("q-basic", "g", "a", null); Q b = new Q("q-basic", "g", "b", null)) {
      open(a);
      produce("q-basic", 0, values("v", 100));
      List<Got> ga = a.receive(60, 2000);
      List<Got> gb = b.receive(100, 2000);
      assertThat(ga).hasSize(60);
      assertThat(gb).hasSize(40);
      Set<Long> all = new HashSet<>(offsets(ga));
      all.addAll(offsets(gb));
      assertThat(all).as("each offset leased to exactly one consumer").hasSize(100);
      assertThat(ga.get(0).value()).isEqualTo("v0");
      assertThat(ga).allMatch(g -> g.count() == 1);
      assertThat(a.ack(offsets(ga))).containsOnly(ErrorCode.NONE);
      assertThat(b.ack(offsets(gb))).containsOnly(ErrorCode.NONE);
      assertThat(a.receive(10, 300)).as("nothing comes back after acks").isEmpty();
      QueuePartitionState s = a.describe();
      assertThat(s.getAcked()).isEqualTo(100);
      assertThat(s.getInFlight()).isZero();
      assertThat(s.getStart()).isEqualTo(s.getEnd());
    }
  }

  @Test
  void poisonMessageIsDeadLetteredAfterExactlyMaxDeliveriesWithItsHeadersAndRejectAtOnce() throws Exception {
    createTopic("q-poison", 1);
    QueueGroupConfig cfg = QueueGroupConfig.newBuilder().setMaxDeliveries(3).setBackoffBaseMs(50)
        .setBackoffMaxMs(100).build();
    try (Q q = new Q("q-poison", "billing", "c1", cfg)) {
      open(q);
      produce("q-poison", 0, values("order-", 20));
      Map<Long, Integer> attempts = new HashMap<>();
      Set<Long> acked = new HashSet<>();
      long poison = -1;
      long rejected = -1;
      await().atMost(Duration.ofSeconds(30)).until(() -> {
        for (Got g : q.receive(50, 500)) {
          attempts.merge(g.offset(), 1, Integer::sum);
          assertThat(g.count()).as("the delivery count is the broker's").isEqualTo(attempts.get(g.offset()));
          if (g.value().equals("order-7")) {
            assertThat(q.nack(List.of(g.offset()), -1)).containsExactly(ErrorCode.NONE);
          } else if (g.value().equals("order-11")) {
            assertThat(q.reject(g.offset(), "invalid total")).containsExactly(ErrorCode.NONE);
          } else {
            assertThat(q.ack(List.of(g.offset()))).containsExactly(ErrorCode.NONE);
            acked.add(g.offset());
          }
        }
        return acked.size() == 18 && q.describe().getDead() == 2;
      });
      poison = 7;
      rejected = 11;
      assertThat(attempts.get(poison)).as("delivered exactly max-deliveries times").isEqualTo(3);
      assertThat(attempts.get(rejected)).as("a reject dead-letters at once").isEqualTo(1);
      QueuePartitionState s = q.describe();
      assertThat(s.getDeadByReasonMap()).containsEntry("MAX_DELIVERIES", 1L).containsEntry("REJECTED", 1L);
      List<ConsumerRecord> dlq = readAll("q-poison.dlq.billing", 1, 2);
      assertThat(dlq).hasSize(2);
      ConsumerRecord p = dlq.stream().filter(r -> header(r, DeadLetters.ORIGINAL_OFFSET).equals("7")).findFirst()
          .orElseThrow();
      assertThat(new String(p.value(), StandardCharsets.UTF_8)).isEqualTo("order-7");
      assertThat(new String(p.key(), StandardCharsets.UTF_8)).isEqualTo("k7");
      assertThat(header(p, DeadLetters.ORIGINAL_TOPIC)).isEqualTo("q-poison");
      assertThat(header(p, DeadLetters.ORIGINAL_PARTITION)).isEqualTo("0");
      assertThat(header(p, DeadLetters.ORIGINAL_KEY)).isEqualTo("k7");
      assertThat(header(p, DeadLetters.GROUP)).isEqualTo("billing");
      assertThat(header(p, DeadLetters.REASON)).isEqualTo("MAX_DELIVERIES");
      assertThat(header(p, DeadLetters.ERROR_CLASS)).isEqualTo("java.io.IOException");
      assertThat(header(p, DeadLetters.ERROR_MESSAGE)).isEqualTo("downstream unavailable");
      assertThat(header(p, DeadLetters.ATTEMPTS)).isEqualTo("3");
      assertThat(Long.parseLong(header(p, DeadLetters.FIRST_FAILURE_MS)))
          .isPositive().isLessThan(Long.parseLong(header(p, DeadLetters.LAST_FAILURE_MS)));
      ConsumerRecord r = dlq.stream().filter(x -> header(x, DeadLetters.ORIGINAL_OFFSET).equals("11")).findFirst()
          .orElseThrow();
      assertThat(header(r, DeadLetters.REASON)).isEqualTo("REJECTED");
      assertThat(header(r, DeadLetters.ERROR_MESSAGE)).isEqualTo("invalid total: bad total");
      assertThat(header(r, DeadLetters.ATTEMPTS)).isEqualTo("1");
      await().atMost(Duration.ofSeconds(10)).until(() -> q.describe().getDeadEntriesList().stream()
          .allMatch(e -> e.getForwarded()));
    }
  }

  @Test
  void nackBackoffFollowsTheExponentialScheduleAndJitterSpreadsRedeliveries() throws Exception {
    createTopic("q-backoff", 1);
    long base = 1_000;
    QueueGroupConfig cfg = QueueGroupConfig.newBuilder().setMaxDeliveries(10).setBackoffBaseMs(base)
        .setBackoffMaxMs(10_000).build();
    try (Q q = new Q("q-backoff", "g", "c", cfg)) {
      open(q);
      produce("q-backoff", 0, values("m", 40));
      List<Got> first = q.receive(40, 2000);
      assertThat(first).hasSize(40);
      // Attempt 1 failed: each comes back within [0, base]; attempt 2 failed: within [0, 2 * base].
      for (int attempt = 1; attempt <= 2; attempt++) {
        long nackedAt = System.currentTimeMillis();
        assertThat(q.nack(offsets(first), -1)).containsOnly(ErrorCode.NONE);
        List<Got> back = new ArrayList<>();
        await().atMost(Duration.ofSeconds(20)).until(() -> {
          back.addAll(q.receive(40, 200));
          return back.size() == 40;
        });
        long cap = base << (attempt - 1);
        long spread = back.stream().mapToLong(Got::receivedAtMs).max().getAsLong()
            - back.stream().mapToLong(Got::receivedAtMs).min().getAsLong();
        int finalAttempt = attempt;
        assertThat(back).allMatch(g -> g.count() == finalAttempt + 1);
        // Upper bound: the cap plus the machine's scheduling slack; redeliveries are not all together.
        assertThat(back.stream().mapToLong(Got::receivedAtMs).max().getAsLong() - nackedAt)
            .isLessThan(cap + 3_000);
        assertThat(spread).as("jitter spreads the redeliveries over the backoff window").isGreaterThan(cap / 4);
        assertThat(back.stream().map(Got::receivedAtMs).distinct().count()).isGreaterThan(3);
        first = back;
      }
    }
  }

  @Test
  void aSilentConsumerLosesItsLeaseToAnotherAfterTheVisibilityTimeoutWithTheAttemptCounted() throws Exception {
    createTopic("q-visibility", 1);
    QueueGroupConfig cfg = QueueGroupConfig.newBuilder().setVisibilityTimeoutMs(1_500).setBackoffBaseMs(10)
        .setBackoffMaxMs(20).build();
    try (Q silent = new Q("q-visibility", "g", "silent", cfg); Q other = new Q("q-visibility", "g", "other", cfg)) {
      open(silent);
      produce("q-visibility", 0, values("m", 1));
      long leasedAt = System.currentTimeMillis();
      List<Got> got = silent.receive(1, 2000);
      assertThat(got).hasSize(1);
      assertThat(other.receive(1, 300)).as("leased: invisible to others").isEmpty();
      List<Got> taken = new ArrayList<>();
      await().atMost(Duration.ofSeconds(15)).until(() -> {
        taken.addAll(other.receive(1, 500));
        return !taken.isEmpty();
      });
      assertThat(System.currentTimeMillis() - leasedAt).isGreaterThanOrEqualTo(1_500);
      assertThat(taken.get(0).offset()).isEqualTo(got.get(0).offset());
      assertThat(taken.get(0).count()).isEqualTo(2);
      assertThat(silent.ack(List.of(got.get(0).offset()))).as("the expired lease is not the silent one's any more")
          .containsExactly(ErrorCode.LEASE_NOT_HELD);
      assertThat(other.ack(List.of(got.get(0).offset()))).containsExactly(ErrorCode.NONE);
      assertThat(other.describe().getLeaseExpiries()).isEqualTo(1);
    }
  }

  @Test
  void orderingByKeyHoldsBackOnlyTheFailingKeyAndStrictParksItUntilRedrive() throws Exception {
    createTopic("q-keys", 1);
    QueueGroupConfig cfg = QueueGroupConfig.newBuilder().setOrdering("key").setKeyFailureMode("strict")
        .setMaxDeliveries(2).setBackoffBaseMs(100).setBackoffMaxMs(200).build();
    try (Q q = new Q("q-keys", "g", "c", cfg)) {
      open(q);
      List<String[]> msgs = new ArrayList<>();
      for (int i = 0; i < 10; i++) {
        for (int k = 0; k < 5; k++) {
          msgs.add(new String[] {"key" + k, "key" + k + "-" + i});
        }
      }
      produce("q-keys", 0, msgs);
      Map<String, List<Integer>> processed = new HashMap<>();
      List<Got> inFlightPerKeyViolations = new ArrayList<>();
      await().atMost(Duration.ofSeconds(30)).until(() -> {
        List<Got> got = q.receive(50, 300);
        Set<String> keys = new HashSet<>();
        for (Got g : got) {
          if (!keys.add(g.key())) {
            inFlightPerKeyViolations.add(g);
          }
          if (g.key().equals("key3")) {
            q.nack(List.of(g.offset()), -1);
          } else {
            q.ack(List.of(g.offset()));
            processed.computeIfAbsent(g.key(), k -> new ArrayList<>())
                .add(Integer.parseInt(g.value().substring(g.value().indexOf('-') + 1)));
          }
        }
        return processed.values().stream().mapToInt(List::size).sum() == 40 && q.describe().getDead() == 1;
      });
      assertThat(inFlightPerKeyViolations).as("at most one message per key in flight").isEmpty();
      for (int k : new int[] {0, 1, 2, 4}) {
        assertThat(processed.get("key" + k)).as("key%d in order, unblocked", k).containsExactly(0, 1, 2, 3, 4, 5, 6, 7,
            8, 9);
      }
      // strict: key3's later messages stay parked while its first is dead.
      assertThat(q.receive(10, 500)).isEmpty();
      QueuePartitionState s = q.describe();
      assertThat(s.getAvailable()).isEqualTo(9);
      QueueRedriveResponse r = q.redrive(QueueRedriveRequest.newBuilder().setByKey(true)
          .setKey(ByteString.copyFromUtf8("key3")));
      assertThat(r.getError()).isEqualTo(ErrorCode.NONE);
      assertThat(r.getOffsetsCount()).isEqualTo(1);
      List<String> key3 = new ArrayList<>();
      await().atMost(Duration.ofSeconds(20)).until(() -> {
        for (Got g : q.receive(10, 300)) {
          key3.add(g.value());
          q.ack(List.of(g.offset()));
        }
        return key3.size() == 10;
      });
      List<String> expected = new ArrayList<>();
      for (int i = 0; i < 10; i++) {
        expected.add("key3-" + i);
      }
      assertThat(key3).as("after redrive, key3 flows again in order").isEqualTo(expected);
    }
  }

  /**
   * Plain records (no key, no TTL header) are leased without the leader reading them; a keyed record or
   * one with a TTL header after them is still read, so key ordering and expiry hold across the boundary.
   */
  @Test
  void keysAndTtlHeadersStillCountAfterPlainRecords() throws Exception {
    createTopic("q-plain", 1);
    QueueGroupConfig cfg = QueueGroupConfig.newBuilder().setOrdering("key").build();
    try (Q q = new Q("q-plain", "g", "c", cfg); Producer p = client.producer()) {
      open(q);
      for (int i = 0; i < 3; i++) {
        p.send(Message.builder("q-plain").partition(0).value("plain-" + i).build()).get();
      }
      List<Got> first = q.receive(10, 1000);
      assertThat(first).extracting(Got::value).containsExactly("plain-0", "plain-1", "plain-2");
      assertThat(q.ack(offsets(first))).containsOnly(ErrorCode.NONE);

      long minuteAgo = System.currentTimeMillis() - 60_000;
      p.send(Message.builder("q-plain").partition(0).value("expired").timestamp(minuteAgo)
          .header(DeadLetters.TTL_HEADER, "1000".getBytes(StandardCharsets.UTF_8)).build()).get();
      p.send(Message.builder("q-plain").partition(0).key("k").value("k-1").build()).get();
      p.send(Message.builder("q-plain").partition(0).key("k").value("k-2").build()).get();
      p.send(Message.builder("q-plain").partition(0).value("plain-3").build()).get();
      List<Got> second = q.receive(10, 1000);
      assertThat(second).extracting(Got::value).as("one per key in flight; the expired one dead")
          .containsExactly("k-1", "plain-3");
      assertThat(q.describe().getDeadByReasonMap()).containsEntry("EXPIRED", 1L);
      assertThat(q.ack(offsets(second))).containsOnly(ErrorCode.NONE);
      List<Got> third = q.receive(10, 1000);
      assertThat(third).extracting(Got::value).containsExactly("k-2");
      assertThat(q.ack(offsets(third))).containsOnly(ErrorCode.NONE);

      for (int i = 4; i < 6; i++) {
        p.send(Message.builder("q-plain").partition(0).value("plain-" + i).build()).get();
      }
      List<Got> last = q.receive(10, 1000);
      assertThat(last).extracting(Got::value).containsExactly("plain-4", "plain-5");
      assertThat(last).extracting(Got::offset).containsExactly(7L, 8L);
      assertThat(q.ack(offsets(last))).containsOnly(ErrorCode.NONE);
    }
  }

  @Test
  void redriveReturnsDeadMessagesToThatGroupOnlyRespectingFiltersAndLimit() throws Exception {
    createTopic("q-redrive", 1);
    try (Q a = new Q("q-redrive", "a", "c", null); Q b = new Q("q-redrive", "b", "c", null)) {
      open(a);
      open(b);
      produce("q-redrive", 0, values("m", 10));
      List<Got> ga = a.receive(10, 2000);
      assertThat(ga).hasSize(10);
      for (Got g : ga) {
        a.reject(g.offset(), "nope");
      }
      List<Got> gb = b.receive(10, 2000);
      assertThat(b.ack(offsets(gb))).containsOnly(ErrorCode.NONE);
      assertThat(a.describe().getDead()).isEqualTo(10);
      QueueRedriveResponse dry = a.redrive(QueueRedriveRequest.newBuilder().setReason("REJECTED").setFromOffset(2)
          .setToOffset(8).setDryRun(true));
      assertThat(dry.getOffsetsList()).containsExactly(2L, 3L, 4L, 5L, 6L, 7L);
      assertThat(a.describe().getDead()).as("a dry run changes nothing").isEqualTo(10);
      QueueRedriveResponse none = a.redrive(QueueRedriveRequest.newBuilder().setReason("MAX_DELIVERIES"));
      assertThat(none.getOffsetsList()).isEmpty();
      QueueRedriveResponse r = a.redrive(QueueRedriveRequest.newBuilder().setReason("REJECTED").setFromOffset(2)
          .setToOffset(8).setLimit(4));
      assertThat(r.getOffsetsList()).containsExactly(2L, 3L, 4L, 5L);
      List<Got> again = a.receive(10, 2000);
      assertThat(offsets(again)).containsExactly(2L, 3L, 4L, 5L);
      assertThat(again).allMatch(g -> g.count() == 1);
      assertThat(b.receive(10, 500)).as("the other group sees nothing new").isEmpty();
      QueueRedriveResponse purge = a.redrive(QueueRedriveRequest.newBuilder().setPurge(true));
      assertThat(purge.getOffsetsCount()).isEqualTo(6);
      assertThat(a.describe().getDead()).isZero();
    }
  }

  @Test
  void afterTheLeaderIsKilledNoCountGoesBackNoAckedMessageReturnsLeasesHoldAndNothingIsDeadLetteredTwice()
      throws Exception {
    createTopic("q-failover", 1);
    QueueGroupConfig cfg = QueueGroupConfig.newBuilder().setMaxDeliveries(2).setBackoffBaseMs(50)
        .setBackoffMaxMs(100).build();
    try (Q q = new Q("q-failover", "g", "c", cfg)) {
      open(q);
      produce("q-failover", 0, values("m", 30));
      List<Got> got = q.receive(30, 2000);
      assertThat(got).hasSize(30);
      List<Long> acked = offsets(got.subList(0, 10));
      List<Long> nacked = offsets(got.subList(10, 20));
      List<Long> held = offsets(got.subList(20, 30)); // leased for 30 s, not settled
      assertThat(q.ack(acked)).containsOnly(ErrorCode.NONE);
      assertThat(q.nack(nacked, 0)).containsOnly(ErrorCode.NONE);
      // Take the nacked ones again (count 2) and nack them once more: they die (max deliveries 2).
      List<Got> second = new ArrayList<>();
      await().atMost(Duration.ofSeconds(10)).until(() -> {
        second.addAll(q.receive(10, 300));
        return second.size() == 10;
      });
      assertThat(second).allMatch(g -> g.count() == 2);
      assertThat(q.nack(offsets(second), 0)).containsOnly(ErrorCode.NONE);
      await().atMost(Duration.ofSeconds(10)).until(() -> q.describe().getDeadEntriesList().stream()
          .filter(e -> e.getForwarded()).count() == 10);
      long deadlineBefore = got.get(25).deadline();

      int leader = cluster.awaitLeaderOf("q-failover", 0);
      cluster.stop(leader);
      try {
        QueuePartitionState after = null;
        await().atMost(Duration.ofSeconds(30)).ignoreExceptions().until(() -> q.describe().getError() == ErrorCode.NONE
            && cluster.leaderOf("q-failover", 0) >= 0);
        after = q.describe();
        assertThat(after.getDead()).isEqualTo(10);
        assertThat(after.getInFlight()).as("leases survive the failover").isEqualTo(10);
        assertThat(after.getAcked()).isEqualTo(10);
        // The held leases are honoured: nothing is delivered before their deadline.
        assertThat(q.receive(30, 500)).isEmpty();
        assertThat(q.ack(List.of(held.get(5)))).as("the lease is still ours on the new leader")
            .containsExactly(ErrorCode.NONE);
        assertThat(System.currentTimeMillis()).isLessThan(deadlineBefore);
        // Extend works there too, and a negative extend is refused.
        PartitionSettleResult ext = q.settle(PartitionSettle.newBuilder()
            .addExtends(ExtendItem.newBuilder().setOffset(held.get(6)).setLeaseMs(60_000))
            .addExtends(ExtendItem.newBuilder().setOffset(held.get(7)).setLeaseMs(-5)));
        assertThat(Q.codes(ext)).containsExactly(ErrorCode.NONE, ErrorCode.INVALID_REQUEST);
        assertThat(ext.getResults(0).getLeaseDeadlineMs()).isGreaterThan(deadlineBefore);
        assertThat(ext.getResults(0).getDeliveryCount()).as("no count went back").isEqualTo(1);
      } finally {
        cluster.start(leader);
      }
      cluster.awaitHealthy();
      List<ConsumerRecord> dlq = readAll("q-failover.dlq.g", 1, 10);
      assertThat(dlq).as("each dead letter copied exactly once").hasSize(10);
      assertThat(dlq.stream().map(r -> header(r, DeadLetters.ORIGINAL_OFFSET)).distinct().count()).isEqualTo(10);
    }
  }

  @Test
  void acksCarriedInAReceiveAreAppliedBeforeItsLeasesAndItAnswersAtOnce() throws Exception {
    createTopic("q-carry", 1);
    try (Q q = new Q("q-carry", "g", "c", QueueGroupConfig.newBuilder().setMaxInFlight(2).build());
        Q other = new Q("q-carry", "g", "other", null)) {
      open(q);
      produce("q-carry", 0, values("m", 4));
      List<Got> first = q.receive(10, 2000);
      assertThat(offsets(first)).containsExactly(0L, 1L);
      assertThat(q.describe().getInFlight()).as("the group is full").isEqualTo(2);
      // The acks of 0 and 1 (and one of 3, which this consumer does not hold) ride in the next receive:
      // applied first, they make room for the two leases the same command gives.
      RawConnection.Reply reply = q.conn().call(Request.newBuilder().setCorrelationId(500)
          .setApiKey(ApiKey.QUEUE_RECEIVE).setApiVersion(1).setQueueReceive(QueueReceiveRequest.newBuilder()
              .setGroup("g").setConsumerId("c").setMaxWaitMs(5000)
              .addPartitions(PartitionReceive.newBuilder().setTopic("q-carry").setMaxMessages(10)
                  .addAcks(0).addAcks(3).addAcks(1))).build());
      PartitionReceiveResult r = reply.header().getQueueReceive().getResults(0);
      assertThat(r.getError()).isEqualTo(ErrorCode.NONE);
      assertThat(r.getAcksApplied()).isTrue();
      assertThat(r.getRefusedAcksList()).extracting(SettleResult::getOffset, SettleResult::getError)
          .containsExactly(org.assertj.core.groups.Tuple.tuple(3L, ErrorCode.LEASE_NOT_HELD));
      assertThat(r.getLeaseRunsList()).as("2 and 3, first deliveries").containsExactly(2L, 2L, 1L);
      assertThat(q.describe().getInFlight()).isEqualTo(2);
      // Acks with nothing left to lease: answered as soon as they apply, not after the 5 s long poll.
      long start = System.nanoTime();
      reply = q.conn().call(Request.newBuilder().setCorrelationId(501)
          .setApiKey(ApiKey.QUEUE_RECEIVE).setApiVersion(1).setQueueReceive(QueueReceiveRequest.newBuilder()
              .setGroup("g").setConsumerId("c").setMaxWaitMs(5000)
              .addPartitions(PartitionReceive.newBuilder().setTopic("q-carry").setMaxMessages(10)
                  .addAckRuns(2).addAckRuns(2))).build()); // 2 and 3, as the SDK sends them: one run
      r = reply.header().getQueueReceive().getResults(0);
      assertThat(r.getAcksApplied()).isTrue();
      assertThat(r.getRefusedAcksList()).isEmpty();
      assertThat(r.getLeaseRunsList()).isEmpty();
      assertThat(System.nanoTime() - start).as("not parked for the long poll")
          .isLessThan(TimeUnit.MILLISECONDS.toNanos(4000));
      assertThat(q.describe().getInFlight()).isZero();
      // Another consumer's receive carrying acks of messages it never held: refused, nothing changes.
      reply = other.conn().call(Request.newBuilder().setCorrelationId(502)
          .setApiKey(ApiKey.QUEUE_RECEIVE).setApiVersion(1).setQueueReceive(QueueReceiveRequest.newBuilder()
              .setGroup("g").setConsumerId("other")
              .addPartitions(PartitionReceive.newBuilder().setTopic("q-carry").setMaxMessages(10).addAcks(0))).build());
      r = reply.header().getQueueReceive().getResults(0);
      assertThat(r.getRefusedAcksList()).extracting(SettleResult::getError).containsExactly(ErrorCode.LEASE_NOT_HELD);
      assertThat(r.getLeaseRunsList()).isEmpty();
      assertThat(q.describe().getInFlight()).isZero();
      // Acks only (what a receive focused on another partition of the node carries): settled, nothing
      // leased although messages are there, and the next receive still leases them.
      produce("q-carry", 0, values("n", 3));
      assertThat(offsets(q.receive(10, 2000))).containsExactly(4L, 5L);
      reply = q.conn().call(Request.newBuilder().setCorrelationId(503)
          .setApiKey(ApiKey.QUEUE_RECEIVE).setApiVersion(1).setQueueReceive(QueueReceiveRequest.newBuilder()
              .setGroup("g").setConsumerId("c")
              .addPartitions(PartitionReceive.newBuilder().setTopic("q-carry").setAcksOnly(true).setMaxMessages(10)
                  .addAcks(4))).build());
      r = reply.header().getQueueReceive().getResults(0);
      assertThat(r.getError()).isEqualTo(ErrorCode.NONE);
      assertThat(r.getAcksApplied()).isTrue();
      assertThat(r.getLeaseRunsList()).as("acks only: no leases").isEmpty();
      assertThat(q.describe().getInFlight()).isEqualTo(1);
      assertThat(offsets(q.receive(10, 2000))).containsExactly(6L);
    }
  }

  @Test
  void badInputGetsClearErrorsAndChangesNothing() throws Exception {
    createTopic("q-bad", 1);
    try (Q q = new Q("q-bad", "g", "c", null); Q thief = new Q("q-bad", "g", "thief", null)) {
      open(q);
      produce("q-bad", 0, values("m", 3));
      List<Got> got = q.receive(3, 2000);
      assertThat(got).hasSize(3);
      assertThat(thief.ack(List.of(got.get(0).offset()))).containsExactly(ErrorCode.LEASE_NOT_HELD);
      assertThat(q.ack(List.of(999L))).containsExactly(ErrorCode.LEASE_NOT_HELD);
      assertThat(q.describe().getInFlight()).as("nothing changed").isEqualTo(3);
      // Ack runs that are not (offset >= 0, length 1 .. 100,000) pairs: refused whole, nothing settled.
      for (PartitionReceive.Builder bad : List.of(
          PartitionReceive.newBuilder().setTopic("q-bad").addAckRuns(0),
          PartitionReceive.newBuilder().setTopic("q-bad").addAckRuns(0).addAckRuns(0),
          PartitionReceive.newBuilder().setTopic("q-bad").addAckRuns(-1).addAckRuns(2),
          PartitionReceive.newBuilder().setTopic("q-bad").addAckRuns(0).addAckRuns(Long.MAX_VALUE),
          PartitionReceive.newBuilder().setTopic("q-bad").addAckRuns(0).addAckRuns(60_000)
              .addAckRuns(60_000).addAckRuns(60_000))) {
        RawConnection.Reply r = q.conn().call(Request.newBuilder().setCorrelationId(900)
            .setApiKey(ApiKey.QUEUE_RECEIVE).setApiVersion(1).setQueueReceive(QueueReceiveRequest.newBuilder()
                .setGroup("g").setConsumerId("c").addPartitions(bad)).build());
        assertThat(r.header().getError()).as(bad.toString()).isEqualTo(ErrorCode.INVALID_REQUEST);
      }
      assertThat(q.describe().getInFlight()).as("nothing changed").isEqualTo(3);
      try (Q unknown = new Q("q-bad", "nosuchgroup", "c", null)) {
        PartitionSettleResult r = unknown.settle(PartitionSettle.newBuilder().addAcks(0));
        assertThat(r.getError()).isEqualTo(ErrorCode.UNKNOWN_QUEUE_GROUP);
        assertThat(unknown.describe().getError()).isEqualTo(ErrorCode.UNKNOWN_QUEUE_GROUP);
      }
      QueueRedriveResponse badReason = q.redrive(QueueRedriveRequest.newBuilder().setReason("SOMETIMES"));
      assertThat(badReason.getError()).isEqualTo(ErrorCode.INVALID_REQUEST);
      assertThat(badReason.getErrorMessage()).contains("unknown reason");
      try (Q badConfig = new Q("q-bad", "g2", "c", QueueGroupConfig.newBuilder().setOrdering("sorted").build())) {
        List<Got> none = new ArrayList<>();
        PartitionReceiveResult r = badConfig.receiveRaw(1, 0, 0, none);
        assertThat(r.getError()).isEqualTo(ErrorCode.INVALID_REQUEST);
        assertThat(r.getErrorMessage()).contains("ordering");
      }
      RawConnection conn = q.conn();
      RawConnection.Reply r = conn.call(Request.newBuilder().setCorrelationId(77).setApiKey(ApiKey.QUEUE_RECEIVE)
          .setApiVersion(1).setQueueReceive(QueueReceiveRequest.newBuilder().setGroup("bad group!").setConsumerId("c")
              .addPartitions(PartitionReceive.newBuilder().setTopic("q-bad").setMaxMessages(1))).build());
      assertThat(r.header().getError()).isEqualTo(ErrorCode.INVALID_GROUP_ID);
      r = conn.call(Request.newBuilder().setCorrelationId(78).setApiKey(ApiKey.QUEUE_RECEIVE).setApiVersion(1)
          .setQueueReceive(QueueReceiveRequest.newBuilder().setGroup("g").setConsumerId("c")
              .addPartitions(PartitionReceive.newBuilder().setTopic("no-such-topic").setMaxMessages(1))).build());
      assertThat(r.header().getQueueReceive().getResults(0).getError()).isEqualTo(ErrorCode.UNKNOWN_TOPIC);
      r = conn.call(Request.newBuilder().setCorrelationId(79).setApiKey(ApiKey.QUEUE_RECEIVE).setApiVersion(1)
          .setQueueReceive(QueueReceiveRequest.newBuilder().setGroup("g").setConsumerId("c").setMaxBytes(-1)
              .addPartitions(PartitionReceive.newBuilder().setTopic("q-bad").setMaxMessages(1))).build());
      assertThat(r.header().getError()).isEqualTo(ErrorCode.INVALID_REQUEST);
      assertThat(r.header().getErrorMessage()).contains("max bytes");
      assertThat(q.describe().getInFlight()).as("nothing changed").isEqualTo(3);
      assertThat(q.ack(offsets(got))).containsOnly(ErrorCode.NONE);
    }
  }

  @Test
  void expiredMessagesAreDeadLetteredWithReasonExpiredOrDroppedWhereTheTopicSaysSo() throws Exception {
    client.admin().createTopic(new NewTopic("q-ttl", 1, 3, Map.of("message.ttl.ms", "300"))).get();
    client.admin().createTopic(new NewTopic("q-ttl-drop", 1, 3,
        Map.of("message.ttl.ms", "300", "message.ttl.action", "drop"))).get();
    for (String topic : List.of("q-ttl", "q-ttl-drop")) {
      try (Q q = new Q(topic, "g", "c", null)) {
        open(q);
        try (Producer p = client.producer()) {
          // Stamped a minute ago: the topic's 300 ms TTL has run out; the header's 10 minutes have not.
          long minuteAgo = System.currentTimeMillis() - 60_000;
          p.send(Message.builder(topic).partition(0).key("a").value("short-1").timestamp(minuteAgo).build()).get();
          p.send(Message.builder(topic).partition(0).key("b").value("long").timestamp(minuteAgo)
              .header(DeadLetters.TTL_HEADER, "600000".getBytes(StandardCharsets.UTF_8)).build()).get();
          p.send(Message.builder(topic).partition(0).key("c").value("short-2").timestamp(minuteAgo).build()).get();
        }
        List<Got> got = q.receive(10, 1000);
        assertThat(got).extracting(Got::value).as(topic).containsExactly("long");
        QueuePartitionState s = q.describe();
        if (topic.equals("q-ttl")) {
          assertThat(s.getDeadByReasonMap()).containsEntry("EXPIRED", 2L);
          List<ConsumerRecord> dlq = readAll("q-ttl.dlq.g", 1, 2);
          assertThat(dlq).extracting(r -> header(r, DeadLetters.REASON)).containsOnly("EXPIRED");
        } else {
          assertThat(s.getDead()).as("dropped, not dead-lettered").isZero();
        }
        assertThat(q.ack(offsets(got))).containsOnly(ErrorCode.NONE);
      }
    }
  }
}
