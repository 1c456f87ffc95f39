package io.raftmq.client.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.raftmq.client.ClientConfig;
import io.raftmq.client.RaftMqException;
import io.raftmq.client.TopicPartition;
import io.raftmq.protocol.ApiKey;
import io.raftmq.protocol.ErrorCode;
import io.raftmq.protocol.LeaderHint;
import io.raftmq.protocol.PartitionSettle;
import io.raftmq.protocol.PartitionSettleResult;
import io.raftmq.protocol.QueueSettleRequest;
import io.raftmq.protocol.QueueSettleResponse;
import io.raftmq.protocol.Response;
import io.raftmq.protocol.SettleResult;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class SettleBatcherTest {
  private FakeNode node1;
  private FakeNode node2;
  private ClientRuntime rt;
  /** Offsets (any partition) the fake answers LEASE_NOT_HELD for. */
  private final Set<Long> notHeld = ConcurrentHashMap.newKeySet();
  /** Offsets the fake reports as refused acks although no ack of the request names them (a broken answer). */
  private final Set<Long> bogusRefusals = ConcurrentHashMap.newKeySet();
  /** Partitions node 1 answers NOT_LEADER (hint: node 2) for. */
  private final Set<Integer> movedToNode2 = ConcurrentHashMap.newKeySet();

  @BeforeEach
  void setUp() throws Exception {
    node1 = new FakeNode(1);
    node2 = new FakeNode(2);
    node1.nodes.add(node2);
    node2.nodes.clear();
    node2.nodes.addAll(node1.nodes);
    node1.topics.put("t", new int[] {1, 2, 1});
    node2.topics.put("t", new int[] {1, 2, 1});
    node1.on(ApiKey.QUEUE_SETTLE, this::answer);
    node2.on(ApiKey.QUEUE_SETTLE, this::answer);
    rt = new ClientRuntime(ClientConfig.builder().bootstrap(node1.bootstrap()).requestTimeout(Duration.ofSeconds(5))
        .build(), HostPort.parseList(node1.bootstrap()));
    rt.metadata().refresh().get(5, TimeUnit.SECONDS);
  }

  @AfterEach
  void tearDown() {
    rt.close();
    node1.close();
    node2.close();
  }

  private FakeBroker.Reply answer(FakeBroker.Exchange ex) {
    boolean isNode1 = ex.channel.localAddress().toString().endsWith(":" + node1.broker.port());
    QueueSettleResponse.Builder resp = QueueSettleResponse.newBuilder();
    for (PartitionSettle ps : ex.request.getQueueSettle().getPartitionsList()) {
      PartitionSettleResult.Builder r = PartitionSettleResult.newBuilder().setTopic(ps.getTopic())
          .setPartition(ps.getPartition());
      if (isNode1 && movedToNode2.contains(ps.getPartition())) {
        resp.addResults(r.setError(ErrorCode.NOT_LEADER).setLeader(LeaderHint.newBuilder().setNodeId(2)
            .setHost("127.0.0.1").setPort(node2.broker.port())));
        continue;
      }
      // Like the broker: an ack has a result only if it was refused.
      ps.getAcksList().stream().filter(notHeld::contains).forEach(o -> r.addResults(result(o, 0)));
      bogusRefusals.forEach(o -> r.addResults(SettleResult.newBuilder().setOffset(o)
          .setError(ErrorCode.LEASE_NOT_HELD).build()));
      ps.getNacksList().forEach(n -> r.addResults(result(n.getOffset(), 0)));
      ps.getRejectsList().forEach(x -> r.addResults(result(x.getOffset(), 0)));
      ps.getExtendsList().forEach(x -> r.addResults(result(x.getOffset(), 777_000 + x.getLeaseMs())));
      ps.getReleasesList().forEach(o -> r.addResults(result(o, 0)));
      resp.addResults(r);
    }
    return FakeBroker.Reply.of(Response.newBuilder().setQueueSettle(resp));
  }

  private SettleResult result(long offset, long deadline) {
    return SettleResult.newBuilder().setOffset(offset)
        .setError(notHeld.contains(offset) ? ErrorCode.LEASE_NOT_HELD : ErrorCode.NONE)
        .setLeaseDeadlineMs(deadline).build();
  }

  private static DeliveryImpl delivery(SettleBatcher b, int partition, long offset) {
    return new DeliveryImpl(new TopicPartition("t", partition), offset, 1, 2, null, null, Map.of(), 1, 100, 30_000,
        System.nanoTime(), b);
  }

  private static QueueSettleRequest onlySettle(FakeNode node) {
    List<FakeBroker.Exchange> got = node.received(ApiKey.QUEUE_SETTLE);
    assertThat(got).hasSize(1);
    return got.get(0).request.getQueueSettle();
  }

  private static RaftMqException failure(CompletableFuture<Void> f) {
    ExecutionException e = org.junit.jupiter.api.Assertions.assertThrows(ExecutionException.class,
        () -> f.get(5, TimeUnit.SECONDS));
    assertThat(e.getCause()).isInstanceOf(RaftMqException.class);
    return (RaftMqException) e.getCause();
  }

  @Test
  void aQueuedAckDoesNotKeepItsDeliveryAlive() throws Exception {
    SettleBatcher b = new SettleBatcher(rt, "g", "c1", Duration.ofHours(1), 1000);
    DeliveryImpl d = new DeliveryImpl(new TopicPartition("t", 0), 9, 1, 2, null, new byte[1 << 20], Map.of(), 1, 100,
        30_000, System.nanoTime(), b);
    java.lang.ref.WeakReference<DeliveryImpl> ref = new java.lang.ref.WeakReference<>(d);
    CompletableFuture<Void> ack = d.ack();
    d = null;
    // The ack lingers (an hour), yet the delivery and its 1 MiB value can be collected already.
    org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(10)).until(() -> {
      System.gc();
      return ref.get() == null;
    });
    assertThat(ack).isNotDone();
    b.flush();
    ack.get(5, TimeUnit.SECONDS);
    assertThat(onlySettle(node1).getPartitions(0).getAcksList()).containsExactly(9L);
  }

  @Test
  void shouldSendOneRequestPerLeaderNodeWithEveryPartitionsItemsInOrder() throws Exception {
    SettleBatcher b = new SettleBatcher(rt, "g", "c1", Duration.ofHours(1), 1000);
    notHeld.add(5L);
    notHeld.add(9L);
    CompletableFuture<Void> released = delivery(b, 0, 8).release();
    CompletableFuture<Void> releaseRefused = delivery(b, 0, 9).release();
    CompletableFuture<Void> ack1 = delivery(b, 0, 1).ack();
    CompletableFuture<Void> ackP1 = delivery(b, 1, 1).ack();
    CompletableFuture<Void> nack = delivery(b, 0, 2).nack(-1, new IOException("disk"));
    CompletableFuture<Void> reject = delivery(b, 2, 3).reject("poison", new IllegalArgumentException("bad"));
    DeliveryImpl extended = delivery(b, 0, 4);
    CompletableFuture<Void> extend = extended.extend(Duration.ofSeconds(7));
    CompletableFuture<Void> ack5 = delivery(b, 0, 5).ack();
    CompletableFuture<Void> nackNow = delivery(b, 2, 6).nack(Duration.ZERO);
    assertThat(b.requestsSent()).isZero(); // lingering
    b.flush();
    CompletableFuture.allOf(ack1, ackP1, nack, reject, extend, nackNow, released).get(5, TimeUnit.SECONDS);

    QueueSettleRequest r1 = onlySettle(node1);
    assertThat(r1.getGroup()).isEqualTo("g");
    assertThat(r1.getConsumerId()).isEqualTo("c1");
    assertThat(r1.getPartitionsList()).extracting(PartitionSettle::getPartition).containsExactly(0, 2);
    PartitionSettle p0 = r1.getPartitions(0);
    assertThat(p0.getAcksList()).containsExactly(1L, 5L);
    assertThat(p0.getNacksList()).singleElement().satisfies(n -> {
      assertThat(n.getOffset()).isEqualTo(2);
      assertThat(n.getDelayMs()).isEqualTo(-1);
      assertThat(n.getErrorClass()).isEqualTo("java.io.IOException");
      assertThat(n.getErrorMessage()).isEqualTo("disk");
    });
    assertThat(p0.getExtendsList()).singleElement().satisfies(x -> {
      assertThat(x.getOffset()).isEqualTo(4);
      assertThat(x.getLeaseMs()).isEqualTo(7000);
    });
    // Releases go last, after the extends, and so do their results.
    assertThat(p0.getReleasesList()).containsExactly(8L, 9L);
    PartitionSettle p2 = r1.getPartitions(1);
    assertThat(p2.getRejectsList()).singleElement().satisfies(x -> {
      assertThat(x.getReason()).isEqualTo("poison");
      assertThat(x.getErrorClass()).isEqualTo("java.lang.IllegalArgumentException");
    });
    assertThat(p2.getNacksList()).singleElement().satisfies(n -> assertThat(n.getDelayMs()).isZero());
    assertThat(onlySettle(node2).getPartitionsList()).singleElement()
        .satisfies(p -> assertThat(p.getAcksList()).containsExactly(1L));
    assertThat(b.requestsSent()).isEqualTo(2);

    // Per-offset results: the extend moved the deadline, the ack of a lease not held failed with its code.
    assertThat(extended.leaseDeadlineMs()).isEqualTo(777_000 + 7000);
    assertThat(failure(ack5).code()).isEqualTo(ErrorCode.LEASE_NOT_HELD);
    assertThat(failure(releaseRefused).code()).isEqualTo(ErrorCode.LEASE_NOT_HELD);
  }

  @Test
  void shouldAckNothingWhenARefusalMatchesNoAckOfTheRequest() throws Exception {
    SettleBatcher b = new SettleBatcher(rt, "g", "c1", Duration.ofHours(1), 1000);
    bogusRefusals.add(99L);
    CompletableFuture<Void> a = delivery(b, 0, 1).ack();
    CompletableFuture<Void> c = delivery(b, 0, 2).ack();
    b.flush();
    assertThat(failure(a).code()).isEqualTo(ErrorCode.UNKNOWN_SERVER_ERROR);
    assertThat(failure(c).code()).isEqualTo(ErrorCode.UNKNOWN_SERVER_ERROR);
  }

  @Test
  void aBulkAckShouldQueueItsRunInCallOrderAmongSingleOnesAndCountItsOffsetsTowardsTheMaximum() throws Exception {
    SettleBatcher b = new SettleBatcher(rt, "g", "c1", Duration.ofHours(1), 4);
    CompletableFuture<Void> first = delivery(b, 0, 1).ack();
    BulkAck bulk = new BulkAck(3);
    for (long o = 2; o <= 4; o++) {
      assertThat(delivery(b, 0, o).claimForBulk(b, bulk)).isTrue();
    }
    BulkAck other = new BulkAck(1);
    assertThat(delivery(b, 0, 9).claimForBulk(new SettleBatcher(rt, "g", "c2", Duration.ofHours(1), 4), other))
        .as("a delivery of another consumer").isFalse();
    assertThat(other.future()).isCompletedExceptionally();
    b.addAll(List.of(new SettleOp(new TopicPartition("t", 0), 2, 3, bulk)));
    assertThat(b.requestsSent()).as("one single ack and a run of three queued: the maximum").isEqualTo(1);
    first.get(5, TimeUnit.SECONDS);
    bulk.future().get(5, TimeUnit.SECONDS);
    assertThat(onlySettle(node1).getPartitions(0).getAcksList()).containsExactly(1L, 2L, 3L, 4L);
  }

  @Test
  void aRefusalInsideARunOfAcksFailsItsBulkAckAndTheOtherRunsSucceed() throws Exception {
    SettleBatcher b = new SettleBatcher(rt, "g", "c1", Duration.ofHours(1), 1000);
    notHeld.add(12L);
    notHeld.add(13L);
    BulkAck bulk = new BulkAck(10);
    SettleOp low = new SettleOp(new TopicPartition("t", 0), 0, 5, bulk);
    SettleOp high = new SettleOp(new TopicPartition("t", 0), 10, 5, bulk);
    b.addAll(List.of(low, high));
    b.flush();
    low.get(5, TimeUnit.SECONDS);
    assertThat(failure(high).code()).isEqualTo(ErrorCode.LEASE_NOT_HELD);
    assertThat(failure(high)).hasMessageContaining("t-0@10..14");
    assertThat(failure(bulk.future()).code()).isEqualTo(ErrorCode.LEASE_NOT_HELD);
    assertThat(onlySettle(node1).getPartitions(0).getAcksList())
        .containsExactly(0L, 1L, 2L, 3L, 4L, 10L, 11L, 12L, 13L, 14L);
    // finish() completes a settle, then counts it done.
    await().atMost(5, TimeUnit.SECONDS).until(() -> b.outstanding() == 0);
  }

  @Test
  void refusalsPairWithTheRunsThatHoldThemOrWithNothing() {
    TopicPartition tp = new TopicPartition("t", 0);
    BulkAck bulk = new BulkAck(7);
    List<SettleOp> acks = List.of(new SettleOp(tp, 3, 4, bulk), new SettleOp(tp, 20, 1, bulk),
        new SettleOp(tp, 30, 2, bulk));
    SettleResult r4 = SettleResult.newBuilder().setOffset(4).setError(ErrorCode.LEASE_EXPIRED).build();
    SettleResult r5 = SettleResult.newBuilder().setOffset(5).setError(ErrorCode.LEASE_NOT_HELD).build();
    SettleResult r31 = SettleResult.newBuilder().setOffset(31).setError(ErrorCode.LEASE_NOT_HELD).build();
    assertThat(SettleBatcher.matchRefused(acks, List.of(r4, r5, r31))).containsExactly(r4, null, r31);
    assertThat(SettleBatcher.matchRefused(acks, List.of())).containsExactly(null, null, null);
    SettleResult r7 = SettleResult.newBuilder().setOffset(7).setError(ErrorCode.LEASE_NOT_HELD).build();
    assertThat(SettleBatcher.matchRefused(acks, List.of(r7))).as("7 is in no run").isNull();
    assertThat(SettleBatcher.matchRefused(acks, List.of(r31, r4))).as("out of request order").isNull();
    assertThat(SettleBatcher.offsetsOf(acks)).isEqualTo(7);
  }

  @Test
  void shouldSendAtOnceWhenMaxBatchItemsAreQueued() throws Exception {
    SettleBatcher b = new SettleBatcher(rt, "g", "c1", Duration.ofHours(1), 3);
    CompletableFuture<Void> a = delivery(b, 0, 1).ack();
    CompletableFuture<Void> c = delivery(b, 0, 2).ack();
    assertThat(b.requestsSent()).isZero();
    CompletableFuture<Void> d = delivery(b, 0, 3).ack();
    assertThat(b.requestsSent()).isEqualTo(1);
    CompletableFuture.allOf(a, c, d).get(5, TimeUnit.SECONDS);
    assertThat(onlySettle(node1).getPartitions(0).getAcksList()).containsExactly(1L, 2L, 3L);
  }

  @Test
  void shouldSendAfterTheLingerWithoutAFlush() throws Exception {
    SettleBatcher b = new SettleBatcher(rt, "g", "c1", Duration.ofMillis(20), 1000);
    CompletableFuture<Void> a = delivery(b, 2, 1).ack();
    CompletableFuture<Void> c = delivery(b, 2, 2).ack();
    CompletableFuture.allOf(a, c).get(5, TimeUnit.SECONDS);
    assertThat(b.requestsSent()).isEqualTo(1);
    assertThat(onlySettle(node1).getPartitions(0).getAcksList()).containsExactly(1L, 2L);
  }

  @Test
  void theLingerStartsAgainWhileSettlesKeepComingUpToTenLingers() throws Exception {
    java.util.concurrent.ConcurrentLinkedQueue<Runnable> lingers = new java.util.concurrent.ConcurrentLinkedQueue<>();
    SettleBatcher b = new SettleBatcher(rt, "g", "c1", Duration.ofMillis(5), 1000, (task, delay) -> lingers.add(task));
    List<CompletableFuture<Void>> acks = new java.util.ArrayList<>();
    acks.add(delivery(b, 2, 1).ack());
    assertThat(lingers).hasSize(1);
    acks.add(delivery(b, 2, 2).ack());
    lingers.poll().run(); // more came within the linger: it starts again, nothing is sent
    assertThat(b.requestsSent()).isZero();
    assertThat(lingers).hasSize(1);
    acks.add(delivery(b, 2, 3).ack());
    lingers.poll().run(); // again
    assertThat(b.requestsSent()).isZero();
    lingers.poll().run(); // a quiet linger: all three go, in one request
    assertThat(lingers).isEmpty();
    CompletableFuture.allOf(acks.toArray(new CompletableFuture[0])).get(5, TimeUnit.SECONDS);
    assertThat(b.requestsSent()).isEqualTo(1);
    assertThat(onlySettle(node1).getPartitions(0).getAcksList()).containsExactly(1L, 2L, 3L);
  }

  @Test
  void aLingerKeptGoingBySettlesEndsAfterTenLingers() throws Exception {
    java.util.concurrent.ConcurrentLinkedQueue<Runnable> lingers = new java.util.concurrent.ConcurrentLinkedQueue<>();
    // A linger of 40 ms: ten of them have passed once the test has waited 400 ms for the last one.
    SettleBatcher b = new SettleBatcher(rt, "g", "c1", Duration.ofMillis(40), 1000, (task, delay) -> lingers.add(task));
    long start = System.nanoTime();
    CompletableFuture<Void> first = delivery(b, 2, 1).ack();
    CompletableFuture<Void> second = delivery(b, 2, 2).ack();
    org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(5))
        .until(() -> System.nanoTime() - start > TimeUnit.MILLISECONDS.toNanos(400));
    lingers.poll().run(); // settles came meanwhile, but the hold is over: sent
    CompletableFuture.allOf(first, second).get(5, TimeUnit.SECONDS);
    assertThat(b.requestsSent()).isEqualTo(1);
    assertThat(lingers).isEmpty();
  }

  @Test
  void shouldRetryAPartitionAtTheHintedLeaderAfterNotLeader() throws Exception {
    movedToNode2.add(0);
    SettleBatcher b = new SettleBatcher(rt, "g", "c1", Duration.ofMillis(1), 1000);
    delivery(b, 0, 9).ack().get(5, TimeUnit.SECONDS);
    assertThat(node1.received(ApiKey.QUEUE_SETTLE)).hasSize(1);
    assertThat(onlySettle(node2).getPartitions(0).getAcksList()).containsExactly(9L);
    assertThat(rt.metadata().leader(new TopicPartition("t", 0)).nodeId()).isEqualTo(2);
  }

  @Test
  void shouldRefuseASecondSettleAndBadArgumentsWithoutAskingTheBroker() throws Exception {
    SettleBatcher b = new SettleBatcher(rt, "g", "c1", Duration.ofMillis(1), 1000);
    DeliveryImpl d = delivery(b, 0, 1);
    d.ack().get(5, TimeUnit.SECONDS);
    assertThat(failure(d.ack()).code()).isEqualTo(ErrorCode.INVALID_REQUEST);
    assertThat(failure(d.nack()).code()).isEqualTo(ErrorCode.INVALID_REQUEST);
    assertThat(failure(d.reject("x")).code()).isEqualTo(ErrorCode.INVALID_REQUEST);
    assertThat(failure(d.extend(Duration.ofSeconds(1))).code()).isEqualTo(ErrorCode.INVALID_REQUEST);
    DeliveryImpl e = delivery(b, 0, 2);
    assertThat(failure(e.nack(Duration.ofMillis(-1))).code()).isEqualTo(ErrorCode.INVALID_REQUEST);
    assertThat(failure(e.extend(Duration.ZERO)).code()).isEqualTo(ErrorCode.INVALID_REQUEST);
    assertThat(e.isSettled()).isFalse();
    assertThat(onlySettle(node1).getPartitions(0).getAcksList()).containsExactly(1L);
  }

  @Test
  void closeShouldSendWhatIsQueuedAndThenRefuseNewSettles() throws Exception {
    SettleBatcher b = new SettleBatcher(rt, "g", "c1", Duration.ofHours(1), 1000);
    CompletableFuture<Void> queued = delivery(b, 0, 1).ack();
    assertThat(b.close(Duration.ofSeconds(5))).isTrue();
    assertThat(queued).isCompleted();
    assertThat(b.outstanding()).isZero();
    assertThat(failure(delivery(b, 0, 2).ack()).code()).isEqualTo(ErrorCode.INVALID_REQUEST);
    assertThat(onlySettle(node1).getPartitions(0).getAcksList()).containsExactly(1L);
  }
}
