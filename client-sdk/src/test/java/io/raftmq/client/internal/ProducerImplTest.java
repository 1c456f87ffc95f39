package io.raftmq.client.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.raftmq.client.Acks;
import io.raftmq.client.ClientConfig;
import io.raftmq.client.Message;
import io.raftmq.client.Producer;
import io.raftmq.client.ProducerConfig;
import io.raftmq.client.RaftMqClient;
import io.raftmq.client.RaftMqException;
import io.raftmq.client.RecordMetadata;
import io.raftmq.protocol.ApiKey;
import io.raftmq.protocol.ErrorCode;
import io.raftmq.protocol.InitProducerResponse;
import io.raftmq.protocol.LeaderHint;
import io.raftmq.protocol.PartitionBatch;
import io.raftmq.protocol.PartitionProduceResult;
import io.raftmq.protocol.ProduceRequest;
import io.raftmq.protocol.ProduceResponse;
import io.raftmq.protocol.RecordCodec;
import io.raftmq.protocol.Response;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class ProducerImplTest {
  private FakeNode node;
  private RaftMqClient client;
  /** Errors to answer the next produce batches with, in order; NONE when empty. */
  private final Deque<ErrorCode> script = new ConcurrentLinkedDeque<>();
  private long nextOffset = 100;

  @BeforeEach
  void setUp() throws Exception {
    node = new FakeNode(1);
    node.topics.put("t", new int[] {1, 1, 1});
    node.on(ApiKey.INIT_PRODUCER, ex -> FakeBroker.Reply.of(Response.newBuilder()
        .setInitProducer(InitProducerResponse.newBuilder().setProducerId(42).setProducerEpoch(3))));
    node.on(ApiKey.PRODUCE, ex -> FakeBroker.Reply.of(Response.newBuilder().setProduce(answer(ex.request.getProduce()))));
    client = RaftMqClient.connect(ClientConfig.builder().bootstrap(node.bootstrap()).requestTimeout(Duration.ofSeconds(5)).build());
  }

  private synchronized ProduceResponse.Builder answer(ProduceRequest req) {
    ProduceResponse.Builder resp = ProduceResponse.newBuilder();
    for (PartitionBatch b : req.getBatchesList()) {
      ErrorCode e = script.isEmpty() ? ErrorCode.NONE : script.poll();
      PartitionProduceResult.Builder r = PartitionProduceResult.newBuilder().setTopic(b.getTopic())
          .setPartition(b.getPartition()).setError(e).setBaseOffset(-1).setLogTimeMs(555);
      if (e == ErrorCode.NONE) {
        r.setBaseOffset(nextOffset);
        nextOffset += b.getRecordCount();
      }
      resp.addResults(r);
    }
    return resp;
  }

  @AfterEach
  void tearDown() {
    client.close();
    node.close();
  }

  private static ProducerConfig.Builder fast() {
    return ProducerConfig.builder().linger(Duration.ofMillis(20)).retryBackoff(Duration.ofMillis(10));
  }

  private List<PartitionBatch> producedBatches() {
    List<PartitionBatch> out = new ArrayList<>();
    node.received(ApiKey.PRODUCE).forEach(e -> out.addAll(e.request.getProduce().getBatchesList()));
    return out;
  }

  @Test
  void shouldKeepTheSequenceAcrossRetriesAndCompleteWithOffsetsOfTheBatch() throws Exception {
    script.add(ErrorCode.NOT_LEADER);
    script.add(ErrorCode.REQUEST_TIMED_OUT);
    Producer p = client.producer(fast().build());
    List<CompletableFuture<RecordMetadata>> fs = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      fs.add(p.send(Message.builder("t").partition(1).value("v" + i).build()));
    }
    for (int i = 0; i < 3; i++) {
      RecordMetadata md = fs.get(i).get(10, TimeUnit.SECONDS);
      assertThat(md.offset()).isEqualTo(100 + i);
      assertThat(md.partition()).isEqualTo(1);
      assertThat(md.timestamp()).isEqualTo(555);
    }
    List<PartitionBatch> attempts = producedBatches();
    assertThat(attempts).hasSize(3);
    assertThat(attempts).extracting(PartitionBatch::getBaseSequence).containsOnly(0);
    assertThat(attempts).extracting(PartitionBatch::getProducerId).containsOnly(42L);
    assertThat(attempts).extracting(PartitionBatch::getProducerEpoch).containsOnly(3);
    assertThat(attempts).extracting(PartitionBatch::getRecordCount).containsOnly(3);

    // The body holds the records, RecordCodec layout.
    FakeBroker.Exchange last = node.received(ApiKey.PRODUCE).get(2);
    List<String> values = new ArrayList<>();
    RecordCodec.decode(ByteBuffer.wrap(last.body), 3, (i, ts, k, v, h) -> values.add(new String(v)));
    assertThat(values).containsExactly("v0", "v1", "v2");
    assertThat(node.received(ApiKey.INIT_PRODUCER)).hasSize(1);

    p.send(Message.builder("t").partition(1).value("next").build()).get(10, TimeUnit.SECONDS);
    assertThat(producedBatches().get(3).getBaseSequence()).isEqualTo(3);
  }

  @Test
  void shouldTreatDuplicateSequenceAsWrittenWithUnknownOffset() throws Exception {
    script.add(ErrorCode.DUPLICATE_SEQUENCE);
    Producer p = client.producer(fast().build());
    RecordMetadata md = p.send(Message.builder("t").partition(0).value("x").build()).get(10, TimeUnit.SECONDS);
    assertThat(md.offset()).isEqualTo(-1);
  }

  @Test
  void shouldFailTheBatchOnAFatalErrorAndReuseItsSequence() throws Exception {
    script.add(ErrorCode.MESSAGE_TOO_LARGE);
    Producer p = client.producer(fast().build());
    CompletableFuture<RecordMetadata> f = p.send(Message.builder("t").partition(0).value("x").build());
    ExecutionException e = org.junit.jupiter.api.Assertions.assertThrows(ExecutionException.class,
        () -> f.get(10, TimeUnit.SECONDS));
    assertThat(e.getCause()).isInstanceOfSatisfying(RaftMqException.class, x -> {
      assertThat(x.code()).isEqualTo(ErrorCode.MESSAGE_TOO_LARGE);
      assertThat(x.isRetriable()).isFalse();
    });
    p.send(Message.builder("t").partition(0).value("y").build()).get(10, TimeUnit.SECONDS);
    assertThat(producedBatches()).extracting(PartitionBatch::getBaseSequence).containsExactly(0, 0);
  }

  @Test
  void shouldFailAfterTheDeliveryTimeoutWhileTheBrokerKeepsThrottling() throws Exception {
    node.on(ApiKey.PRODUCE, ex -> {
      ProduceResponse.Builder r = ProduceResponse.newBuilder();
      ex.request.getProduce().getBatchesList().forEach(b -> r.addResults(PartitionProduceResult.newBuilder()
          .setTopic(b.getTopic()).setPartition(b.getPartition()).setError(ErrorCode.THROTTLED)));
      return FakeBroker.Reply.of(Response.newBuilder().setProduce(r));
    });
    Producer p = client.producer(fast().deliveryTimeout(Duration.ofMillis(400)).build());
    CompletableFuture<RecordMetadata> f = p.send(Message.of("t", "k", "v"));
    ExecutionException e = org.junit.jupiter.api.Assertions.assertThrows(ExecutionException.class,
        () -> f.get(10, TimeUnit.SECONDS));
    assertThat(((RaftMqException) e.getCause()).code()).as(e.getCause().toString())
        .isIn(ErrorCode.THROTTLED, ErrorCode.REQUEST_TIMED_OUT);
    assertThat(node.received(ApiKey.PRODUCE).size()).as(e.getCause().toString()).isGreaterThan(1);
  }

  @Test
  void shouldRejectAMessageAboveMaxMessageBytesWithoutSendingIt() {
    Producer p = client.producer(fast().maxMessageBytes(100).build());
    CompletableFuture<RecordMetadata> f = p.send(Message.builder("t").value(new byte[200]).build());
    assertThat(f).isCompletedExceptionally();
    ExecutionException e = org.junit.jupiter.api.Assertions.assertThrows(ExecutionException.class, f::get);
    assertThat(((RaftMqException) e.getCause()).code()).isEqualTo(ErrorCode.MESSAGE_TOO_LARGE);
  }

  @Test
  void shouldRouteKeysByMurmur2AndFollowALeaderHint() throws Exception {
    try (FakeNode other = new FakeNode(2)) {
      node.nodes.add(other);
      other.nodes.clear();
      other.nodes.addAll(node.nodes);
      other.topics.put("t", new int[] {2, 2, 2}); // the new leader knows it leads
      other.on(ApiKey.PRODUCE, ex -> FakeBroker.Reply.of(Response.newBuilder().setProduce(answer(ex.request.getProduce()))));
      node.on(ApiKey.PRODUCE, ex -> {
        node.topics.put("t", new int[] {2, 2, 2}); // the rejecting node knows the new leader
        ProduceResponse.Builder r = ProduceResponse.newBuilder();
        ex.request.getProduce().getBatchesList().forEach(b -> r.addResults(PartitionProduceResult.newBuilder()
            .setTopic(b.getTopic()).setPartition(b.getPartition()).setError(ErrorCode.NOT_LEADER)
            .setLeader(LeaderHint.newBuilder().setNodeId(2).setHost("127.0.0.1").setPort(other.broker.port()))));
        return FakeBroker.Reply.of(Response.newBuilder().setProduce(r));
      });
      Producer p = client.producer(fast().build());
      RecordMetadata md = p.send(Message.of("t", "foobar", "v")).get(10, TimeUnit.SECONDS);
      assertThat(md.partition()).isEqualTo(Murmur2.partition("foobar".getBytes(), 3));
      assertThat(p.partitionFor("t", "foobar".getBytes())).isEqualTo(md.partition());
      assertThat(other.received(ApiKey.PRODUCE)).hasSize(1);
      assertThat(other.received(ApiKey.PRODUCE).get(0).request.getProduce().getBatches(0).getBaseSequence()).isZero();
    }
  }

  @Test
  void shouldCompleteAcksNoneSendsOnceWritten() throws Exception {
    node.on(ApiKey.PRODUCE, ex -> null);
    Producer p = client.producer(fast().acks(Acks.NONE).build());
    RecordMetadata md = p.send(Message.of("t", "k", "v")).get(10, TimeUnit.SECONDS);
    assertThat(md.offset()).isEqualTo(-1);
    await().atMost(Duration.ofSeconds(5)).until(() -> !producedBatches().isEmpty()); // written, then read
    PartitionBatch b = producedBatches().get(0);
    assertThat(b.getProducerId()).isEqualTo(-1);
    assertThat(node.received(ApiKey.PRODUCE).get(0).request.getProduce().getAcks())
        .isEqualTo(io.raftmq.protocol.Acks.ACKS_NONE);
  }

  @Test
  void shouldFailForAnUnknownTopic() {
    Producer p = client.producer(fast().build());
    CompletableFuture<RecordMetadata> f = p.send(Message.of("nope", "k", "v"));
    ExecutionException e = org.junit.jupiter.api.Assertions.assertThrows(ExecutionException.class,
        () -> f.get(10, TimeUnit.SECONDS));
    assertThat(((RaftMqException) e.getCause()).code()).isEqualTo(ErrorCode.UNKNOWN_TOPIC);
  }

  @Test
  void flushShouldSendLingeringBatchesAtOnce() throws Exception {
    Producer p = client.producer(fast().linger(Duration.ofMinutes(10)).build());
    CompletableFuture<RecordMetadata> f = p.send(Message.builder("t").partition(2).value("x").build());
    await().during(Duration.ofMillis(100)).atMost(Duration.ofSeconds(1)).until(() -> !f.isDone());
    p.flush();
    assertThat(f).isCompleted();
    assertThat(f.get().offset()).isEqualTo(100);
  }

  @Test
  void nullKeysShouldStickToAPartitionPerBatch() throws Exception {
    Producer p = client.producer(fast().linger(Duration.ofMinutes(10)).build());
    List<CompletableFuture<RecordMetadata>> fs = new ArrayList<>();
    for (int i = 0; i < 10; i++) {
      fs.add(p.send(Message.builder("t").value("x" + i).build()));
    }
    p.flush();
    assertThat(fs.stream().map(f -> f.join().partition()).distinct().count()).isEqualTo(1);
  }
}
