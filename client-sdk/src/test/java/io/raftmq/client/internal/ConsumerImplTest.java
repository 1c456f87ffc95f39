package io.raftmq.client.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.raftmq.client.ClientConfig;
import io.raftmq.client.Consumer;
import io.raftmq.client.ConsumerConfig;
import io.raftmq.client.ConsumerRecord;
import io.raftmq.client.OffsetReset;
import io.raftmq.client.RaftMqClient;
import io.raftmq.client.RaftMqException;
import io.raftmq.client.TopicPartition;
import io.raftmq.protocol.ApiKey;
import io.raftmq.protocol.ErrorCode;
import io.raftmq.protocol.FetchResponse;
import io.raftmq.protocol.ListOffsetsResponse;
import io.raftmq.protocol.PartitionFetch;
import io.raftmq.protocol.PartitionFetchResult;
import io.raftmq.protocol.PartitionOffsetQuery;
import io.raftmq.protocol.PartitionOffsetResult;
import io.raftmq.protocol.Response;
import io.raftmq.protocol.TestBatches;
import io.raftmq.protocol.TestBatches.Rec;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class ConsumerImplTest {
  private static final TopicPartition TP = new TopicPartition("t", 0);
  /** The partition's log: frames at offsets 0..2 and 3..4. */
  private final ByteBuffer log = TestBatches.concat(
      TestBatches.frame(0, 1, 1000, List.of(Rec.of("a", "v0"), Rec.of("b", "v1"), Rec.of(null, "v2"))),
      TestBatches.frame(3, 2, 2000, List.of(Rec.of("c", "v3"), Rec.of("d", null))));
  private FakeNode node;
  private RaftMqClient client;

  @BeforeEach
  void setUp() throws Exception {
    node = new FakeNode(1);
    node.topics.put("t", new int[] {1});
    node.on(ApiKey.LIST_OFFSETS, ex -> {
      ListOffsetsResponse.Builder r = ListOffsetsResponse.newBuilder();
      for (PartitionOffsetQuery q : ex.request.getListOffsets().getQueriesList()) {
        long offset = q.getTimestamp() == -2 ? 0 : q.getTimestamp() == -1 ? 5 : 3;
        r.addResults(PartitionOffsetResult.newBuilder().setTopic(q.getTopic()).setPartition(q.getPartition()).setOffset(offset));
      }
      return FakeBroker.Reply.of(Response.newBuilder().setListOffsets(r));
    });
    node.on(ApiKey.FETCH, ex -> {
      PartitionFetch pf = ex.request.getFetch().getPartitions(0);
      PartitionFetchResult.Builder r = PartitionFetchResult.newBuilder().setTopic(pf.getTopic())
          .setPartition(pf.getPartition()).setHighWatermark(5).setLogStartOffset(0);
      if (pf.getOffset() > 5) {
        r.setError(ErrorCode.OFFSET_OUT_OF_RANGE);
        return FakeBroker.Reply.of(Response.newBuilder().setFetch(FetchResponse.newBuilder().addResults(r)));
      }
      // The whole log whatever the offset: the consumer must skip what lies below its position.
      ByteBuffer body = pf.getOffset() >= 5 ? ByteBuffer.allocate(0) : log.duplicate();
      r.setRecordsSize(body.remaining());
      return new FakeBroker.Reply(Response.newBuilder().setFetch(FetchResponse.newBuilder().addResults(r)), body);
    });
    client = RaftMqClient.connect(ClientConfig.builder().bootstrap(node.bootstrap()).requestTimeout(Duration.ofSeconds(5)).build());
  }

  @AfterEach
  void tearDown() {
    client.close();
    node.close();
  }

  private static List<ConsumerRecord> pollUntil(Consumer c, int n) {
    List<ConsumerRecord> out = new ArrayList<>();
    long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
    while (out.size() < n && System.nanoTime() < deadline) {
      out.addAll(c.poll(Duration.ofMillis(200)));
    }
    return out;
  }

  @Test
  void shouldReadFromTheBeginningAndBufferBeyondMaxPollRecords() {
    Consumer c = client.consumer(ConsumerConfig.builder().autoOffsetReset(OffsetReset.EARLIEST).maxPollRecords(2).build());
    c.assign(List.of(TP));
    List<ConsumerRecord> first = pollUntil(c, 1);
    assertThat(first).extracting(ConsumerRecord::offset).containsExactly(0L, 1L);
    assertThat(first.get(0).valueAsString()).isEqualTo("v0");
    assertThat(first.get(0).keyAsString()).isEqualTo("a");
    assertThat(first.get(0).logTimeMs()).isEqualTo(1000);
    assertThat(c.position(TP)).isEqualTo(2);
    int fetchesSoFar = node.received(ApiKey.FETCH).size();
    List<ConsumerRecord> second = c.poll(Duration.ofSeconds(5));
    assertThat(second).extracting(ConsumerRecord::offset).containsExactly(2L, 3L);
    assertThat(second.get(0).key()).isNull();
    List<ConsumerRecord> third = c.poll(Duration.ofSeconds(5));
    assertThat(third).extracting(ConsumerRecord::offset).containsExactly(4L);
    assertThat(third.get(0).value()).isNull();
    assertThat(node.received(ApiKey.FETCH).size()).isEqualTo(fetchesSoFar); // all from one fetch
    assertThat(c.position(TP)).isEqualTo(5);
  }

  @Test
  void shouldSkipRecordsBelowTheSoughtPositionInsideABatch() {
    Consumer c = client.consumer(ConsumerConfig.builder().build());
    c.assign(List.of(TP));
    c.seek(TP, 1);
    List<ConsumerRecord> got = pollUntil(c, 4);
    assertThat(got).extracting(ConsumerRecord::offset).containsExactly(1L, 2L, 3L, 4L);
    assertThat(node.received(ApiKey.FETCH).get(0).request.getFetch().getPartitions(0).getOffset()).isEqualTo(1);
  }

  @Test
  void shouldStartAtTheEndByDefaultAndReturnEmptyWhenNothingArrives() {
    Consumer c = client.consumer(ConsumerConfig.builder().fetchMaxWait(Duration.ofMillis(50)).build());
    c.assign(List.of(TP));
    assertThat(c.poll(Duration.ofMillis(300))).isEmpty();
    assertThat(c.position(TP)).isEqualTo(5);
  }

  @Test
  void shouldThrowOnOutOfRangeWhenResetIsNone() {
    Consumer c = client.consumer(ConsumerConfig.builder().autoOffsetReset(OffsetReset.NONE).build());
    c.assign(List.of(TP));
    assertThatThrownBy(() -> c.poll(Duration.ofMillis(100))).isInstanceOf(RaftMqException.class)
        .hasMessageContaining("seek");
    c.seek(TP, 42);
    assertThatThrownBy(() -> pollUntil(c, 1)).isInstanceOfSatisfying(RaftMqException.class,
        e -> assertThat(e.code()).isEqualTo(ErrorCode.OFFSET_OUT_OF_RANGE));
  }

  @Test
  void shouldResetToEarliestOnOutOfRange() {
    Consumer c = client.consumer(ConsumerConfig.builder().autoOffsetReset(OffsetReset.EARLIEST).build());
    c.assign(List.of(TP));
    c.seek(TP, 42);
    assertThat(pollUntil(c, 5)).extracting(ConsumerRecord::offset).containsExactly(0L, 1L, 2L, 3L, 4L);
  }

  @Test
  void shouldAnswerOffsetQueries() {
    Consumer c = client.consumer();
    assertThat(c.beginningOffsets(List.of(TP))).isEqualTo(Map.of(TP, 0L));
    assertThat(c.endOffsets(List.of(TP))).isEqualTo(Map.of(TP, 5L));
    assertThat(c.offsetsForTimes(Map.of(TP, 1500L))).isEqualTo(Map.of(TP, 3L));
  }

  @Test
  void shouldBackOffFromANodeThatAnswersEveryFetchWithARetriableErrorAndReadOnceItRecovers() {
    FakeBroker.Handler serving = node.handler(ApiKey.FETCH);
    node.on(ApiKey.FETCH, ex -> FakeBroker.Reply.of(Response.newBuilder().setError(ErrorCode.METADATA_BEHIND)
        .setErrorMessage("node 1 is starting")));
    Consumer c = client.consumer(ConsumerConfig.builder().autoOffsetReset(OffsetReset.EARLIEST).build());
    c.assign(List.of(TP));
    long start = System.nanoTime();
    assertThat(c.poll(Duration.ofSeconds(1))).isEmpty();
    double seconds = (System.nanoTime() - start) / 1e9;
    // One fetch per 100 ms backoff (and one at once): without the backoff, thousands in this second.
    assertThat(node.received(ApiKey.FETCH).size()).as("fetches in %.1f s", seconds)
        .isBetween(2, (int) (seconds * 10) + 3);
    node.on(ApiKey.FETCH, serving);
    assertThat(pollUntil(c, 5)).extracting(ConsumerRecord::offset).containsExactly(0L, 1L, 2L, 3L, 4L);
  }
}
