package io.raftmq.client.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.raftmq.client.ClientConfig;
import io.raftmq.client.Delivery;
import io.raftmq.client.QueueConsumer;
import io.raftmq.client.QueueConsumerConfig;
import io.raftmq.client.RaftMqClient;
import io.raftmq.client.RaftMqException;
import io.raftmq.protocol.ApiKey;
import io.raftmq.protocol.PartitionReceive;
import io.raftmq.protocol.QueueGroupConfig;
import io.raftmq.protocol.QueueReceiveRequest;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class QueueConsumerImplTest {
  private FakeNode node1;
  private FakeNode node2;
  private FakeQueue queue;
  private RaftMqClient client;

  @BeforeEach
  void setUp() throws Exception {
    node1 = new FakeNode(1);
    node2 = new FakeNode(2);
    node1.nodes.add(node2);
    node2.nodes.clear();
    node2.nodes.addAll(node1.nodes);
    node1.topics.put("t", new int[] {1, 2, 1, 2});
    node2.topics.put("t", new int[] {1, 2, 1, 2});
    queue = new FakeQueue("t").serve(node1).serve(node2);
    queue.hint = node2;
    client = RaftMqClient.connect(ClientConfig.builder().bootstrap(node1.bootstrap())
        .requestTimeout(Duration.ofSeconds(5)).build());
  }

  @AfterEach
  void tearDown() {
    client.close();
    queue.close();
    node1.close();
    node2.close();
  }

  private QueueConsumer consumer(QueueConsumerConfig.Builder b) {
    return client.queueConsumer(b.groupId("g").topics("t").build());
  }

  private static List<Delivery> receiveUntil(QueueConsumer c, int n) {
    List<Delivery> out = new ArrayList<>();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (out.size() < n && System.nanoTime() < deadline) {
      out.addAll(c.receive(n - out.size(), Duration.ofMillis(200)));
    }
    return out;
  }

  private static QueueReceiveRequest firstReceive(FakeNode node) {
    return node.received(ApiKey.QUEUE_RECEIVE).get(0).request.getQueueReceive();
  }

  @Test
  void aBatchReceiveAsksTwoPartitionsAloneFirstThenSplitsTheMaximumWithOneRequestPerLeader() {
    // The focus of consumer "me" among the four partitions (all leaders free), and the next one in turn,
    // are empty; only the partition after them has records.
    int focus = Math.floorMod("me".hashCode() & 0x7fffffff, 4);
    int next = (focus + 1) % 4;
    int full = (focus + 2) % 4;
    queue.produce(full, "a", "b", "c");
    QueueConsumer c = consumer(QueueConsumerConfig.builder().consumerId("me"));
    List<Delivery> got = c.receive(8, Duration.ofSeconds(5));
    assertThat(got).extracting(Delivery::partition).containsOnly(full);
    assertThat(got).extracting(Delivery::valueAsString).containsExactly("a", "b");
    assertThat(got).allSatisfy(d -> assertThat(d.deliveryCount()).isEqualTo(1));
    for (int i = 0; i < 2; i++) {
      QueueReceiveRequest probe = queue.receives.get(i);
      assertThat(probe.getPartitionsList()).extracting(PartitionReceive::getPartition)
          .containsExactly(i == 0 ? focus : next);
      assertThat(probe.getPartitions(0).getMaxMessages()).as("the whole receive").isEqualTo(8);
      assertThat(probe.getMaxWaitMs()).as("no long poll on one partition alone").isZero();
    }
    // Both had nothing: the next round asked every partition, 2 each, one request per leader.
    await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> {
      QueueReceiveRequest r1 = firstWide(node1);
      QueueReceiveRequest r2 = firstWide(node2);
      assertThat(r1.getGroup()).isEqualTo("g");
      assertThat(r1.getConsumerId()).isEqualTo("me");
      assertThat(r1.getMaxWaitMs()).isPositive();
      assertThat(r1.getPartitionsList()).extracting(PartitionReceive::getPartition).containsExactly(0, 2);
      assertThat(r2.getPartitionsList()).extracting(PartitionReceive::getPartition).containsExactly(1, 3);
      assertThat(r1.getPartitionsList()).extracting(PartitionReceive::getMaxMessages).containsExactly(2, 2);
      assertThat(r2.getPartitionsList()).extracting(PartitionReceive::getMaxMessages).containsExactly(2, 2);
    });
  }

  @Test
  void aFocusThatFillsTheReceiveIsKeptForAFewReceivesThenTheNextPartitionsTurnComes() {
    for (int p = 0; p < 4; p++) {
      for (int i = 0; i < 100; i++) {
        queue.produce(p, "v" + i);
      }
    }
    QueueConsumer c = consumer(QueueConsumerConfig.builder().consumerId("me"));
    int focus = Math.floorMod("me".hashCode() & 0x7fffffff, 4);
    for (int i = 0; i < QueueConsumerImpl.MAX_FOCUS_TURNS + 1; i++) {
      assertThat(c.receive(8, Duration.ofSeconds(5))).hasSize(8);
    }
    List<Integer> asked = queue.receives.stream().map(r -> r.getPartitions(0).getPartition()).toList();
    assertThat(asked.subList(0, QueueConsumerImpl.MAX_FOCUS_TURNS)).as("the focus, receive after receive")
        .allMatch(p -> p == focus);
    assertThat(asked.get(QueueConsumerImpl.MAX_FOCUS_TURNS)).as("then another partition's turn").isNotEqualTo(focus);
    assertThat(queue.receives).allSatisfy(r -> assertThat(r.getPartitionsCount()).isEqualTo(1));
  }

  private static QueueReceiveRequest firstWide(FakeNode node) {
    return node.received(ApiKey.QUEUE_RECEIVE).stream().map(e -> e.request.getQueueReceive())
        .filter(r -> r.getPartitionsCount() > 1).findFirst().orElseThrow();
  }

  @Test
  void acksShouldRideInTheNextReceiveOfTheirPartitionAndCompleteByItsResult() throws Exception {
    // Both partitions led by node 1: receiveUntil ends on node 1's answer, so no receive to node 1 is in
    // flight when the acks are queued (a receive still parked at node 2 carries none of them). Acks of a
    // partition whose node is still being asked are sent on their own, ahead of the next receive.
    queue.produce(0, "a", "b", "c");
    queue.produce(2, "d");
    // A linger longer than the test: only a receive can send these acks.
    QueueConsumer c = consumer(QueueConsumerConfig.builder().settleLinger(Duration.ofSeconds(30)));
    List<Delivery> got = receiveUntil(c, 4);
    assertThat(got).hasSize(4);
    List<CompletableFuture<Void>> acks = new ArrayList<>();
    for (Delivery d : got) {
      acks.add(d.ack());
    }
    // Longer than the 200 ms long polls receiveUntil may have left in flight: every node is asked again.
    int receivesBefore = queue.receives.size();
    assertThat(c.receive(10, Duration.ofMillis(500))).isEmpty();
    for (CompletableFuture<Void> f : acks) {
      f.get(5, TimeUnit.SECONDS);
    }
    // The acks went inside the receives (no QUEUE_SETTLE), each with its own partition.
    assertThat(node1.received(ApiKey.QUEUE_SETTLE)).isEmpty();
    assertThat(node2.received(ApiKey.QUEUE_SETTLE)).isEmpty();
    List<PartitionReceive> carried = new ArrayList<>();
    queue.receives.subList(receivesBefore, queue.receives.size())
        .forEach(r -> r.getPartitionsList().stream().filter(p -> !FakeQueue.allAcks(p).isEmpty())
            .forEach(carried::add));
    assertThat(carried).extracting(PartitionReceive::getPartition).containsExactlyInAnyOrder(0, 2);
    assertThat(carried.stream().filter(p -> p.getPartition() == 0).findFirst().orElseThrow().getAckRunsList())
        .as("0, 1 and 2 as one run").containsExactly(0L, 3L);
    assertThat(queue.acked(0)).containsExactly(0L, 1L, 2L);
    assertThat(queue.acked(2)).containsExactly(0L);
  }

  @Test
  void receiveShouldRotateWhichPartitionsASmallMaximumGoesTo() {
    for (int p = 0; p < 4; p++) {
      queue.produce(p, "x", "y", "z");
    }
    QueueConsumer c = consumer(QueueConsumerConfig.builder());
    Set<Integer> asked = new java.util.TreeSet<>();
    for (int i = 0; i < 4; i++) {
      int before = queue.receives.size();
      assertThat(receiveUntil(c, 1)).hasSize(1);
      queue.receives.subList(before, queue.receives.size()).forEach(r -> r.getPartitionsList()
          .forEach(p -> asked.add(p.getPartition())));
    }
    assertThat(asked).containsExactly(0, 1, 2, 3);
    assertThat(queue.receives).allSatisfy(r -> assertThat(r.getPartitionsList()
        .stream().mapToInt(PartitionReceive::getMaxMessages).sum()).isLessThanOrEqualTo(1));
  }

  @Test
  void receiveShouldSendOnlyTheGroupSettingsThatWereSet() {
    queue.produce(0, "a");
    QueueConsumer plain = consumer(QueueConsumerConfig.builder());
    assertThat(receiveUntil(plain, 1)).hasSize(1);
    QueueReceiveRequest r = firstReceive(node1);
    assertThat(r.hasConfig()).isFalse();
    assertThat(r.getLeaseMs()).isZero();

    queue.produce(0, "b");
    QueueConsumer tuned = consumer(QueueConsumerConfig.builder().visibilityTimeout(Duration.ofSeconds(5))
        .maxDeliveries(3).ordering(io.raftmq.client.QueueOrdering.KEY));
    assertThat(receiveUntil(tuned, 1)).hasSize(1);
    QueueReceiveRequest t = queue.receives.stream().filter(QueueReceiveRequest::hasConfig).findFirst().orElseThrow();
    assertThat(t.getConfig()).isEqualTo(QueueGroupConfig.newBuilder().setVisibilityTimeoutMs(5000).setMaxDeliveries(3)
        .setOrdering("key").build());
    assertThat(t.getLeaseMs()).isEqualTo(5000);
  }

  @Test
  void receiveShouldMoveToTheNewLeaderAfterNotLeader() {
    node1.topics.put("t", new int[] {1});
    node2.topics.put("t", new int[] {1});
    QueueConsumer c = consumer(QueueConsumerConfig.builder());
    assertThat(c.receive(1, Duration.ofMillis(100))).isEmpty(); // node 1 leads, nothing there yet
    assertThat(node1.received(ApiKey.QUEUE_RECEIVE)).isNotEmpty();
    // Leadership moves to node 2: node 1 answers NOT_LEADER naming it, and metadata says so too.
    queue.notLeader.add(0);
    node1.topics.put("t", new int[] {2});
    node2.topics.put("t", new int[] {2});
    FakeQueue onNode2 = new FakeQueue("t").produce(0, "from-2").serve(node2);
    try {
      List<Delivery> got = receiveUntil(c, 1);
      assertThat(got).extracting(Delivery::valueAsString).containsExactly("from-2");
    } finally {
      onNode2.close();
    }
  }

  @Test
  void receiveShouldRefuseBadArgumentsAndUseAfterClose() {
    QueueConsumer c = consumer(QueueConsumerConfig.builder());
    assertThatThrownBy(() -> c.receive(0, Duration.ZERO)).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> c.receive(1, Duration.ofMillis(-1))).isInstanceOf(IllegalArgumentException.class);
    c.close();
    assertThatThrownBy(() -> c.receive(1, Duration.ZERO)).isInstanceOf(IllegalStateException.class);
    assertThatThrownBy(() -> c.subscribe(d -> {})).isInstanceOf(IllegalStateException.class);
  }

  @Test
  void receivedDeliveriesShouldBeSettledThroughTheBroker() throws Exception {
    queue.produce(0, "a", "b", "c");
    QueueConsumer c = consumer(QueueConsumerConfig.builder());
    List<Delivery> got = receiveUntil(c, 3);
    got.get(0).ack().get(5, TimeUnit.SECONDS);
    got.get(1).nack(Duration.ofSeconds(2)).get(5, TimeUnit.SECONDS);
    got.get(2).reject("no").get(5, TimeUnit.SECONDS);
    assertThat(queue.acked(0)).containsExactly(0L);
    assertThat(queue.nacks()).singleElement().satisfies(n -> assertThat(n.getDelayMs()).isEqualTo(2000));
    assertThat(queue.rejects()).singleElement().satisfies(x -> assertThat(x.getReason()).isEqualTo("no"));
    // The nacked one comes back, counted.
    List<Delivery> again = receiveUntil(c, 1);
    assertThat(again).singleElement().satisfies(d -> {
      assertThat(d.offset()).isEqualTo(1);
      assertThat(d.deliveryCount()).isEqualTo(2);
    });
  }

  @Test
  void ackAllShouldAckAReceiveWithOneFutureAndFailWithTheFirstRefusal() throws Exception {
    queue.produce(0, "a", "b", "c", "d");
    // A linger longer than the test: only the next receive can send these acks.
    QueueConsumer c = consumer(QueueConsumerConfig.builder().settleLinger(Duration.ofSeconds(30)));
    List<Delivery> got = receiveUntil(c, 4);
    assertThat(got).hasSize(4);
    CompletableFuture<Void> single = got.get(3).ack(); // settled already: ackAll refuses it, acks the rest
    int receivesBefore = queue.receives.size();
    CompletableFuture<Void> all = c.ackAll(got);
    assertThat(all).isNotDone();
    assertThat(c.receive(10, Duration.ofMillis(500))).isEmpty();
    assertThatThrownBy(() -> all.get(5, TimeUnit.SECONDS)).hasCauseInstanceOf(RaftMqException.class)
        .hasMessageContaining("already acked");
    single.get(5, TimeUnit.SECONDS);
    assertThat(queue.acked(0)).containsExactlyInAnyOrder(0L, 1L, 2L, 3L);
    List<PartitionReceive> carried = new ArrayList<>();
    queue.receives.subList(receivesBefore, queue.receives.size())
        .forEach(r -> r.getPartitionsList().stream().filter(p -> !FakeQueue.allAcks(p).isEmpty())
            .forEach(carried::add));
    assertThat(carried).singleElement().satisfies(p -> assertThat(p.getAckRunsList())
        .as("0 - 3 as one run in the receive").containsExactly(0L, 4L));
    assertThat(c.ackAll(List.of())).isCompleted();
    // Delivered and acked again: refused without reaching the broker.
    assertThatThrownBy(() -> c.ackAll(got.subList(0, 1)).get(5, TimeUnit.SECONDS))
        .hasMessageContaining("already acked");
  }

  @Test
  void subscribeShouldAckSuccessesNackRetryableFailuresAndRejectPermanentOnes() {
    queue.produce(0, "ok", "bad", "io");
    QueueConsumer c = consumer(QueueConsumerConfig.builder().handlerThreads(2));
    c.subscribe(d -> {
      switch (d.valueAsString()) {
        case "bad" -> throw new NumberFormatException("not a number: bad");
        case "io" -> throw new IOException("downstream unavailable");
        default -> { }
      }
    });
    assertThatThrownBy(() -> c.receive(1, Duration.ZERO)).isInstanceOf(IllegalStateException.class);
    assertThatThrownBy(() -> c.subscribe(d -> {})).isInstanceOf(IllegalStateException.class);
    await().atMost(10, TimeUnit.SECONDS).untilAsserted(() -> {
      assertThat(queue.acked(0)).contains(0L);
      assertThat(queue.rejects()).extracting(x -> x.getOffset()).contains(1L);
      assertThat(queue.nacks()).extracting(n -> n.getOffset()).contains(2L);
    });
    assertThat(queue.rejects()).filteredOn(x -> x.getOffset() == 1).first().satisfies(x -> {
      assertThat(x.getReason()).isEqualTo("not a number: bad");
      assertThat(x.getErrorClass()).isEqualTo("java.lang.NumberFormatException");
      assertThat(x.getErrorMessage()).isEqualTo("not a number: bad");
    });
    assertThat(queue.nacks()).filteredOn(n -> n.getOffset() == 2).first().satisfies(n -> {
      assertThat(n.getDelayMs()).isEqualTo(-1);
      assertThat(n.getErrorClass()).isEqualTo("java.io.IOException");
    });
    c.close();
  }

  @Test
  void subscribeShouldLeaveADeliveryTheHandlerSettledItselfAlone() {
    queue.produce(0, "self");
    QueueConsumer c = consumer(QueueConsumerConfig.builder());
    c.subscribe(d -> {
      d.nack(Duration.ofSeconds(9));
      throw new IllegalArgumentException("would otherwise reject");
    });
    await().atMost(10, TimeUnit.SECONDS).until(() -> !queue.nacks().isEmpty());
    c.close();
    assertThat(queue.nacks()).first().satisfies(n -> assertThat(n.getDelayMs()).isEqualTo(9000));
    assertThat(queue.rejects()).isEmpty();
    assertThat(queue.acked(0)).isEmpty();
  }

  @Test
  void subscribeShouldExtendTheLeaseOfALongRunningHandlerRepeatedly() throws Exception {
    queue.produce(0, "slow");
    CountDownLatch release = new CountDownLatch(1);
    QueueConsumer c = consumer(QueueConsumerConfig.builder().visibilityTimeout(Duration.ofMillis(300)));
    c.subscribe(d -> {
      if (!release.await(20, TimeUnit.SECONDS)) {
        throw new IllegalStateException("not released");
      }
    });
    await().atMost(10, TimeUnit.SECONDS).until(() -> queue.extendItems().size() >= 2);
    release.countDown();
    await().atMost(10, TimeUnit.SECONDS).until(() -> queue.acked(0).contains(0L));
    assertThat(queue.extendItems()).allSatisfy(x -> {
      assertThat(x.getOffset()).isZero();
      assertThat(x.getLeaseMs()).isEqualTo(300);
    });
    c.close();
  }

  @Test
  void closeShouldReleaseWhatWasReceivedButNeverHandedOut() throws Exception {
    queue.produce(0, "m0", "m1", "m2", "m3", "m4", "m5");
    CountDownLatch started = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    QueueConsumer c = consumer(QueueConsumerConfig.builder().handlerThreads(1));
    List<Long> handled = new java.util.concurrent.CopyOnWriteArrayList<>();
    c.subscribe(d -> {
      handled.add(d.offset());
      started.countDown();
      if (!release.await(20, TimeUnit.SECONDS)) {
        throw new IllegalStateException("not released");
      }
    });
    assertThat(started.await(10, TimeUnit.SECONDS)).isTrue();
    // One handler runs, one more message waits for it (2 slots per thread).
    await().atMost(10, TimeUnit.SECONDS).until(() -> queue.delivered.get() >= 2);
    Thread closer = new Thread(() -> c.close(Duration.ofSeconds(10)));
    closer.start();
    await().atMost(10, TimeUnit.SECONDS).until(() -> !queue.releases().isEmpty());
    release.countDown();
    closer.join(15_000);
    assertThat(closer.isAlive()).isFalse();
    assertThat(handled).containsExactly(0L);
    assertThat(queue.acked(0)).containsExactly(0L);
    // Given back as released (uncounted), not nacked: no handler saw them.
    assertThat(queue.nacks()).isEmpty();
    assertThat(queue.releases()).doesNotContain(0L).isNotEmpty().doesNotHaveDuplicates();
  }
}
