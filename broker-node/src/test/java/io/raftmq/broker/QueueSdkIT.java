package io.raftmq.broker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.raftmq.client.ClientConfig;
import io.raftmq.client.ConsumerRecord;
import io.raftmq.client.DeadLetterEntry;
import io.raftmq.client.DeadLetters;
import io.raftmq.client.Delivery;
import io.raftmq.client.Message;
import io.raftmq.client.NewTopic;
import io.raftmq.client.PermanentFailureException;
import io.raftmq.client.Producer;
import io.raftmq.client.ProducerConfig;
import io.raftmq.client.QueueConsumer;
import io.raftmq.client.QueueConsumerConfig;
import io.raftmq.client.QueueGroupDescription;
import io.raftmq.client.QueueGroupListing;
import io.raftmq.client.RaftMqClient;
import io.raftmq.client.RaftMqException;
import io.raftmq.client.RedriveFilter;
import io.raftmq.client.RedriveResult;
import io.raftmq.client.TopicDescription;
import io.raftmq.client.TopicPartition;
import io.raftmq.protocol.ErrorCode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The SDK's queue consumer and queue admin against a real three-node cluster (the broker's queue
 * semantics are QueueIT's, in the wire protocol): subscribe with its classification, retries and dead
 * letters, describe, list, redrive; receive shared by two consumers, and settles that follow a leader
 * failover.
 */
class QueueSdkIT {
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

  private static void produce(String topic, List<String> values) throws Exception {
    try (Producer p = client.producer()) {
      List<CompletableFuture<?>> fs = new ArrayList<>();
      for (String v : values) {
        fs.add(p.send(Message.of(topic, v, v)));
      }
      for (CompletableFuture<?> f : fs) {
        f.get(30, TimeUnit.SECONDS);
      }
    }
  }

  /**
   * Waits until the group exists in every partition of the topic (it starts at each log end), receiving
   * with {@code opener} meanwhile: a receive to a partition whose leader is not ready yet opens nothing,
   * so one receive alone may never open it. Nothing is produced yet, so nothing may be delivered.
   */
  private static void awaitGroupOpen(String topic, String group, int partitions) {
    await().atMost(Duration.ofSeconds(30)).ignoreExceptions().until(() ->
        client.admin().describeQueue(topic, group).get(5, TimeUnit.SECONDS).partitions().size() == partitions);
  }

  private static void awaitGroupOpen(String topic, String group, int partitions, QueueConsumer opener) {
    await().atMost(Duration.ofSeconds(30)).ignoreExceptions().until(() -> {
      assertThat(opener.receive(partitions, Duration.ZERO)).isEmpty();
      return client.admin().describeQueue(topic, group).get(5, TimeUnit.SECONDS).partitions().size() == partitions;
    });
  }

  private static QueueGroupDescription describe(String topic, String group) throws Exception {
    return client.admin().describeQueue(topic, group, 100).get(10, TimeUnit.SECONDS);
  }

  private static List<ConsumerRecord> readAll(String topic, int atLeast) {
    TopicDescription t = await().atMost(Duration.ofSeconds(30)).ignoreExceptions()
        .until(() -> client.admin().describeTopic(topic).get(5, TimeUnit.SECONDS), d -> d != null);
    List<TopicPartition> tps = new ArrayList<>();
    t.partitions().forEach(p -> tps.add(new TopicPartition(topic, p.partition())));
    List<ConsumerRecord> out = new ArrayList<>();
    try (var c = client.consumer()) {
      c.assign(tps);
      c.seekToBeginning(tps);
      await().atMost(Duration.ofSeconds(30)).until(() -> {
        out.addAll(c.poll(Duration.ofMillis(200)));
        return out.size() >= atLeast;
      });
    }
    return out;
  }

  private static String header(ConsumerRecord r, String name) {
    byte[] v = r.headers().get(name);
    return v == null ? null : new String(v, StandardCharsets.UTF_8);
  }

  @Test
  void subscribeProcessesEveryMessageRetriesFlakyOnesDeadLettersPoisonAndRedriveBringsItBack() throws Exception {
    String topic = "sdk-q";
    String group = "workers";
    client.admin().createTopic(NewTopic.of(topic, 3)).get(30, TimeUnit.SECONDS);
    Set<String> processed = ConcurrentHashMap.newKeySet();
    Map<String, Integer> lastCount = new ConcurrentHashMap<>();
    AtomicBoolean poisonFixed = new AtomicBoolean();
    List<String> values = new ArrayList<>();
    for (int i = 0; i < 25; i++) {
      values.add("ok-" + i);
    }
    List<String> flaky = List.of("flaky-0", "flaky-1", "flaky-2");
    List<String> poison = List.of("poison-0", "poison-1");
    values.addAll(flaky);
    values.addAll(poison);

    try (QueueConsumer q = client.queueConsumer(QueueConsumerConfig.builder().groupId(group).topics(topic)
        .backoffBase(Duration.ofMillis(50)).backoffMax(Duration.ofMillis(100)).maxDeliveries(3)
        .handlerThreads(4).build())) {
      q.subscribe(d -> {
        String v = d.valueAsString();
        lastCount.put(v, d.deliveryCount());
        if (v.startsWith("poison") && !poisonFixed.get()) {
          throw new PermanentFailureException("cannot parse " + v);
        }
        if (v.startsWith("flaky") && d.deliveryCount() == 1) {
          throw new IOException("downstream not ready for " + v);
        }
        processed.add(v);
      });
      awaitGroupOpen(topic, group, 3);
      produce(topic, values);

      List<String> good = new ArrayList<>(values);
      good.removeAll(poison);
      await().atMost(Duration.ofSeconds(60)).until(() -> processed.containsAll(good));
      flaky.forEach(v -> assertThat(lastCount.get(v)).as(v + " succeeded on its second delivery").isEqualTo(2));
      await().atMost(Duration.ofSeconds(30)).until(() -> describe(topic, group).dead() == 2);
      QueueGroupDescription d = describe(topic, group);
      assertThat(d.deadByReason()).containsEntry(DeadLetters.REJECTED, 2L);
      List<DeadLetterEntry> dead = new ArrayList<>();
      d.partitions().forEach(p -> dead.addAll(p.deadEntries()));
      assertThat(dead).hasSize(2).allSatisfy(e -> {
        assertThat(e.reason()).isEqualTo(DeadLetters.REJECTED);
        assertThat(e.errorClass()).isEqualTo(PermanentFailureException.class.getName());
        assertThat(e.errorMessage()).startsWith("cannot parse poison-");
        assertThat(e.attempts()).isEqualTo(1);
      });
      assertThat(poison).allSatisfy(v -> assertThat(lastCount.get(v)).isEqualTo(1));

      // The copies in the dead-letter topic carry the client's reason.
      List<ConsumerRecord> dlq = readAll(DeadLetters.defaultTopic(topic, group), 2);
      assertThat(dlq).extracting(ConsumerRecord::valueAsString).containsExactlyInAnyOrderElementsOf(poison);
      assertThat(dlq).allSatisfy(r -> {
        assertThat(header(r, DeadLetters.REASON)).isEqualTo(DeadLetters.REJECTED);
        assertThat(header(r, DeadLetters.ERROR_CLASS)).isEqualTo(PermanentFailureException.class.getName());
      });

      List<QueueGroupListing> listed = client.admin().listQueueGroups().get(10, TimeUnit.SECONDS);
      assertThat(listed).filteredOn(l -> l.topic().equals(topic) && l.group().equals(group)).singleElement()
          .satisfies(l -> {
            assertThat(l.partitions()).isEqualTo(3);
            assertThat(l.dead()).isEqualTo(2);
            assertThat(l.topReason()).isEqualTo(DeadLetters.REJECTED);
            assertThat(l.deadLetterTopic()).isEqualTo(DeadLetters.defaultTopic(topic, group));
          });

      // A dry run changes nothing; the redrive (paced) puts both back in this group's queue.
      RedriveResult dry = client.admin().redrive(topic, group, RedriveFilter.builder().reason("REJECTED").build(), true)
          .get(10, TimeUnit.SECONDS);
      assertThat(dry.count()).isEqualTo(2);
      assertThat(dry.dryRun()).isTrue();
      assertThat(describe(topic, group).dead()).isEqualTo(2);
      poisonFixed.set(true);
      RedriveResult done = client.admin().redrive(topic, group, RedriveFilter.all(), 10).get(30, TimeUnit.SECONDS);
      assertThat(done.count()).isEqualTo(2);
      assertThat(done.offsets()).isEqualTo(dry.offsets());
      await().atMost(Duration.ofSeconds(30)).until(() -> processed.containsAll(poison));
      await().atMost(Duration.ofSeconds(30)).until(() -> {
        QueueGroupDescription after = describe(topic, group);
        return after.dead() == 0 && after.inFlight() == 0 && after.backlog() == 0;
      });
    }
  }

  /**
   * A consumer closed while a delivery waits for its only handler thread: that delivery, which no handler
   * saw, is released (visible again at once, not counted), so the next consumer gets it as a first
   * delivery; the running handler's message is acked as the close waits for it.
   */
  @Test
  void closeReleasesWhatNoHandlerSawWithoutCountingADelivery() throws Exception {
    String topic = "sdk-release";
    String group = "release";
    client.admin().createTopic(NewTopic.of(topic, 1)).get(30, TimeUnit.SECONDS);
    try (QueueConsumer opener = client.queueConsumer(QueueConsumerConfig.builder().groupId(group).topics(topic)
        .build())) {
      awaitGroupOpen(topic, group, 1, opener);
    }
    produce(topic, List.of("m0", "m1", "m2", "m3"));
    // One handler thread, blocked on its first message: the loop leases one more for the handler's
    // queue (two slots per thread), which no handler starts before close.
    java.util.concurrent.CountDownLatch started = new java.util.concurrent.CountDownLatch(1);
    java.util.concurrent.CountDownLatch finish = new java.util.concurrent.CountDownLatch(1);
    List<String> handled = new java.util.concurrent.CopyOnWriteArrayList<>();
    QueueConsumer first = client.queueConsumer(QueueConsumerConfig.builder().groupId(group).topics(topic)
        .handlerThreads(1).build());
    first.subscribe(d -> {
      handled.add(d.valueAsString());
      started.countDown();
      assertThat(finish.await(30, TimeUnit.SECONDS)).isTrue();
    });
    assertThat(started.await(30, TimeUnit.SECONDS)).isTrue();
    await().atMost(Duration.ofSeconds(30)).until(() -> describe(topic, group).inFlight() >= 2);
    Thread closer = new Thread(() -> first.close(Duration.ofSeconds(30)));
    closer.start();
    // The queued delivery is given back while the running handler still holds its own.
    await().atMost(Duration.ofSeconds(30)).until(() -> describe(topic, group).inFlight() == 1);
    finish.countDown();
    closer.join(30_000);
    assertThat(closer.isAlive()).isFalse();
    assertThat(handled).hasSize(1);

    // The others come again as first deliveries: the released one was not counted.
    Map<String, Integer> counts = new ConcurrentHashMap<>();
    try (QueueConsumer second = client.queueConsumer(QueueConsumerConfig.builder().groupId(group).topics(topic)
        .build())) {
      await().atMost(Duration.ofSeconds(30)).until(() -> {
        for (Delivery d : second.receive(10, Duration.ofMillis(200))) {
          counts.put(d.valueAsString(), d.deliveryCount());
          d.ack().get(10, TimeUnit.SECONDS);
        }
        return counts.size() == 3;
      });
    }
    assertThat(counts.keySet()).doesNotContain(handled.get(0));
    assertThat(counts.values()).containsOnly(1);
    QueueGroupDescription d = describe(topic, group);
    assertThat(d.redelivered()).isZero();
    assertThat(d.inFlight()).isZero();
  }

  /**
   * A backlog of large messages bigger than the client's frame limit: each receive leases only what fits
   * its byte bound (half the frame limit), so every message arrives on its first delivery. Without the
   * bound the broker leased the whole backlog into one response the client could not read, the broken
   * connection released the leases with backoff, and messages burned attempts they were never seen in.
   */
  @Test
  void receiveLeasesOnlyWhatFitsTheResponseByteBoundSoLargeMessagesCostNoAttempts() throws Exception {
    String topic = "sdk-large";
    String group = "large";
    int valueBytes = 100_000;
    int count = 30; // 3 MB in all, three times the client's 1 MiB frame limit
    client.admin().createTopic(NewTopic.of(topic, 1)).get(30, TimeUnit.SECONDS);
    try (RaftMqClient small = RaftMqClient.connect(ClientConfig.builder().bootstrap(cluster.bootstrap())
        .maxFrameBytes(1 << 20).build());
        QueueConsumer q = small.queueConsumer(QueueConsumerConfig.builder().groupId(group).topics(topic).build())) {
      awaitGroupOpen(topic, group, 1, q);
      // One record per batch: a response carries whole batches, and a batch of several such records would
      // not fit the 1 MiB frame whatever the bound.
      try (Producer p = client.producer(ProducerConfig.builder().batchSizeBytes(valueBytes + 1024).build())) {
        List<CompletableFuture<?>> fs = new ArrayList<>();
        for (int i = 0; i < count; i++) {
          byte[] value = new byte[valueBytes];
          java.util.Arrays.fill(value, (byte) i);
          fs.add(p.send(Message.of(topic, ("k" + i).getBytes(StandardCharsets.UTF_8), value)));
        }
        for (CompletableFuture<?> f : fs) {
          f.get(30, TimeUnit.SECONDS);
        }
      }
      Map<String, Integer> deliveries = new ConcurrentHashMap<>();
      List<Integer> batchSizes = new ArrayList<>();
      await().atMost(Duration.ofSeconds(60)).until(() -> {
        List<Delivery> got = q.receive(count, Duration.ofMillis(500));
        if (!got.isEmpty()) {
          batchSizes.add(got.size());
        }
        for (Delivery d : got) {
          assertThat(d.value()).hasSize(valueBytes);
          deliveries.merge(new String(d.key(), StandardCharsets.UTF_8), d.deliveryCount(), Math::max);
          d.ack().get(10, TimeUnit.SECONDS);
        }
        return deliveries.size() == count;
      });
      assertThat(deliveries.values()).as("every message on its first delivery").containsOnly(1);
      // Half of 1 MiB over ~100 KB records: at most 5 a response (each response one node's, one partition).
      assertThat(batchSizes).allSatisfy(n -> assertThat(n).isLessThanOrEqualTo(5));
      QueueGroupDescription d = describe(topic, group);
      assertThat(d.redelivered()).isZero();
      assertThat(d.inFlight()).isZero();
    }
  }

  @Test
  void receiveSharesMessagesBetweenConsumersAndSettlesFollowALeaderFailover() throws Exception {
    String topic = "sdk-f";
    String group = "g";
    client.admin().createTopic(NewTopic.of(topic, 1)).get(30, TimeUnit.SECONDS);
    QueueConsumerConfig.Builder cfg = QueueConsumerConfig.builder().groupId(group).topics(topic)
        .backoffBase(Duration.ofMillis(50)).backoffMax(Duration.ofMillis(100));
    try (QueueConsumer a = client.queueConsumer(cfg.consumerId("a").build());
        QueueConsumer b = client.queueConsumer(cfg.consumerId("b").build())) {
      // The receive may return before its Configure applied: produce only once the group exists, or the
      // group would start after these messages.
      awaitGroupOpen(topic, group, 1, a);
      produce(topic, List.of("m0", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "m9"));
      List<Delivery> ga = new ArrayList<>();
      await().atMost(Duration.ofSeconds(30)).until(() -> {
        ga.addAll(a.receive(6 - ga.size(), Duration.ofMillis(500)));
        return ga.size() == 6;
      });
      List<Delivery> gb = new ArrayList<>();
      await().atMost(Duration.ofSeconds(30)).until(() -> {
        gb.addAll(b.receive(10, Duration.ofMillis(500)));
        return gb.size() == 4;
      });
      Set<Long> offsets = new HashSet<>();
      ga.forEach(d -> offsets.add(d.offset()));
      gb.forEach(d -> offsets.add(d.offset()));
      assertThat(offsets).as("each message leased to one consumer").hasSize(10);
      assertThat(b.receive(10, Duration.ofMillis(200))).as("nothing left to lease").isEmpty();

      // Settle some, nack one back at once, extend one.
      CompletableFuture.allOf(gb.stream().map(Delivery::ack).toArray(CompletableFuture[]::new)).get(10, TimeUnit.SECONDS);
      ga.get(0).nack(Duration.ZERO).get(10, TimeUnit.SECONDS);
      long before = ga.get(1).leaseDeadlineMs();
      ga.get(1).extend(Duration.ofSeconds(90)).get(10, TimeUnit.SECONDS);
      assertThat(ga.get(1).leaseDeadlineMs()).isGreaterThan(before);
      ExecutionException twice = org.junit.jupiter.api.Assertions.assertThrows(ExecutionException.class,
          () -> gb.get(0).ack().get(10, TimeUnit.SECONDS));
      assertThat(((RaftMqException) twice.getCause()).code()).isEqualTo(ErrorCode.INVALID_REQUEST);
      List<Delivery> back = new ArrayList<>();
      await().atMost(Duration.ofSeconds(30)).until(() -> {
        back.addAll(b.receive(1, Duration.ofMillis(500)));
        return !back.isEmpty();
      });
      assertThat(back.get(0).offset()).isEqualTo(ga.get(0).offset());
      assertThat(back.get(0).deliveryCount()).isEqualTo(2);
      back.get(0).ack().get(10, TimeUnit.SECONDS);
      // a nacked it: a's delivery refuses any further settle locally.
      ExecutionException settled = org.junit.jupiter.api.Assertions.assertThrows(ExecutionException.class,
          () -> ga.get(0).extend(Duration.ofSeconds(1)).get(10, TimeUnit.SECONDS));
      assertThat(((RaftMqException) settled.getCause()).code()).isEqualTo(ErrorCode.INVALID_REQUEST);

      // Kill the leader with five of a's leases open: the SDK's acks find the new leader, where the leases hold.
      int leader = cluster.awaitLeaderOf(topic, 0);
      cluster.stop(leader);
      try {
        List<CompletableFuture<Void>> acks = new ArrayList<>();
        ga.subList(1, 6).forEach(d -> acks.add(d.ack()));
        CompletableFuture.allOf(acks.toArray(CompletableFuture[]::new)).get(60, TimeUnit.SECONDS);
      } finally {
        cluster.start(leader);
      }
      cluster.awaitHealthy();
      await().atMost(Duration.ofSeconds(30)).ignoreExceptions().until(() -> {
        QueueGroupDescription d = describe(topic, group);
        return d.partitions().get(0).acked() == 10 && d.inFlight() == 0;
      });
      assertThat(describe(topic, group).redelivered()).isEqualTo(1);
    }
  }
}
