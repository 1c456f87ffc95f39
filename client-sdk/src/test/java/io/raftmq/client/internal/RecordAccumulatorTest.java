package io.raftmq.client.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.raftmq.client.RaftMqException;
import io.raftmq.client.RecordMetadata;
import io.raftmq.client.TopicPartition;
import io.raftmq.protocol.ErrorCode;
import io.raftmq.protocol.RecordCodec;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class RecordAccumulatorTest {
  private static final TopicPartition TP0 = new TopicPartition("t", 0);
  private static final TopicPartition TP1 = new TopicPartition("t", 1);
  private static final HostPort NODE = new HostPort("n1", 1);
  private static final long LINGER = TimeUnit.MILLISECONDS.toNanos(50);

  private final AtomicInteger wakeups = new AtomicInteger();

  private RecordAccumulator accumulator(int batchSize, long memory) {
    return new RecordAccumulator(new BufferPool(memory), batchSize, LINGER, TimeUnit.SECONDS.toNanos(120),
        wakeups::incrementAndGet);
  }

  private static CompletableFuture<RecordMetadata> append(RecordAccumulator acc, TopicPartition tp, int valueBytes,
      long maxBlockNanos) {
    byte[] value = new byte[valueBytes];
    int size = RecordCodec.encodedSize(1, null, value, Map.of());
    return acc.append(tp, 1, null, value, Map.of(), size, maxBlockNanos);
  }

  @Test
  void shouldPutRecordsOfOnePartitionIntoOneBatchUntilItIsFull() {
    RecordAccumulator acc = accumulator(1024, 1 << 20);
    for (int i = 0; i < 9; i++) {
      append(acc, TP0, 100, 0); // ~104 bytes each: 9 fit in 1024
    }
    append(acc, TP1, 100, 0);
    assertThat(acc.incompleteBatches()).hasSize(2);
    append(acc, TP0, 100, 0); // the 10th does not fit: a second batch, the first is sealed
    assertThat(acc.incompleteBatches()).hasSize(3);
    assertThat(acc.pool().availableBytes()).isEqualTo((1 << 20) - 3 * 1024);

    long now = System.nanoTime();
    RecordAccumulator.Drained d = acc.drain(now, tp -> NODE, 1 << 20);
    // TP0's first batch is sealed (full); TP1's is lingering.
    assertThat(d.byNode.get(NODE)).hasSize(1);
    ProducerBatch sent = d.byNode.get(NODE).get(0);
    assertThat(sent.tp).isEqualTo(TP0);
    assertThat(sent.recordCount).isEqualTo(9);
    assertThat(d.nextReadyNanos).isGreaterThan(now);
  }

  @Test
  void shouldSendALingeringBatchOnlyOnceTheLingerHasPassed() {
    RecordAccumulator acc = accumulator(1024, 1 << 20);
    long before = System.nanoTime();
    append(acc, TP0, 10, 0);
    ProducerBatch b = acc.incompleteBatches().get(0);
    RecordAccumulator.Drained early = acc.drain(b.createdNanos + LINGER - 1, tp -> NODE, 1 << 20);
    assertThat(early.byNode).isEmpty();
    assertThat(early.nextReadyNanos).isEqualTo(b.createdNanos + LINGER);
    RecordAccumulator.Drained late = acc.drain(b.createdNanos + LINGER, tp -> NODE, 1 << 20);
    assertThat(late.byNode.get(NODE)).containsExactly(b);
    assertThat(b.createdNanos).isGreaterThanOrEqualTo(before);
  }

  @Test
  void shouldKeepAtMostOneBatchInFlightPerPartition() {
    RecordAccumulator acc = accumulator(200, 1 << 20);
    append(acc, TP0, 150, 0);
    append(acc, TP0, 150, 0);
    append(acc, TP0, 150, 0);
    long later = System.nanoTime() + LINGER * 10;
    RecordAccumulator.Drained d1 = acc.drain(later, tp -> NODE, 1 << 20);
    assertThat(d1.byNode.get(NODE)).hasSize(1);
    ProducerBatch first = d1.byNode.get(NODE).get(0);
    assertThat(acc.drain(later, tp -> NODE, 1 << 20).byNode).isEmpty(); // muted while in flight

    acc.reenqueue(first, later + 100); // a retry: same batch first again, after its back-off
    assertThat(acc.drain(later, tp -> NODE, 1 << 20).byNode).isEmpty();
    assertThat(acc.drain(later + 100, tp -> NODE, 1 << 20).byNode.get(NODE)).containsExactly(first);

    acc.remove(first);
    List<ProducerBatch> next = acc.drain(later + 100, tp -> NODE, 1 << 20).byNode.get(NODE);
    assertThat(next).hasSize(1).doesNotContain(first);
  }

  @Test
  void shouldGroupByNodeWithinTheRequestSizeLimit() {
    RecordAccumulator acc = accumulator(2048, 1 << 20);
    for (int p = 0; p < 4; p++) {
      append(acc, new TopicPartition("t", p), 1500, 0);
    }
    long later = System.nanoTime() + LINGER * 10;
    RecordAccumulator.Drained d = acc.drain(later, tp -> tp.partition() % 2 == 0 ? NODE : new HostPort("n2", 2), 3200);
    assertThat(d.byNode.get(NODE)).hasSize(2);
    assertThat(d.byNode.get(new HostPort("n2", 2))).hasSize(2);
    RecordAccumulator acc2 = accumulator(2048, 1 << 20);
    for (int p = 0; p < 4; p++) {
      append(acc2, new TopicPartition("t", p), 1500, 0);
    }
    RecordAccumulator.Drained limited = acc2.drain(later, tp -> NODE, 2000);
    assertThat(limited.byNode.get(NODE)).hasSize(1);
  }

  @Test
  void shouldFailWithThrottledWhenBufferMemoryStaysFull() {
    RecordAccumulator acc = accumulator(1024, 2048);
    append(acc, TP0, 1000, 0);
    append(acc, TP1, 1000, 0);
    assertThat(acc.pool().availableBytes()).isZero();
    long start = System.nanoTime();
    assertThatThrownBy(() -> append(acc, new TopicPartition("t", 2), 10, TimeUnit.MILLISECONDS.toNanos(100)))
        .isInstanceOfSatisfying(RaftMqException.class, e -> {
          assertThat(e.code()).isEqualTo(ErrorCode.THROTTLED);
          assertThat(e.getMessage()).contains("BufferExhausted");
        });
    assertThat(System.nanoTime() - start).isGreaterThanOrEqualTo(TimeUnit.MILLISECONDS.toNanos(100));
  }

  @Test
  void shouldBlockForBufferMemoryUntilABatchCompletes() throws Exception {
    RecordAccumulator acc = accumulator(1024, 2048);
    append(acc, TP0, 1000, 0);
    append(acc, TP1, 1000, 0);
    CompletableFuture<CompletableFuture<RecordMetadata>> blocked = CompletableFuture.supplyAsync(
        () -> append(acc, new TopicPartition("t", 2), 10, TimeUnit.SECONDS.toNanos(30)));
    await().during(Duration.ofMillis(100)).atMost(Duration.ofSeconds(1)).until(() -> !blocked.isDone());
    ProducerBatch first = acc.incompleteBatches().stream().filter(b -> b.tp.equals(TP0)).findFirst().orElseThrow();
    acc.remove(first);
    assertThat(blocked.get(5, TimeUnit.SECONDS)).isNotNull();
    assertThat(acc.incompleteBatches()).extracting(b -> b.tp).contains(new TopicPartition("t", 2));
  }

  @Test
  void shouldGiveARecordLargerThanTheBatchSizeItsOwnBatch() {
    RecordAccumulator acc = accumulator(100, 1 << 20);
    append(acc, TP0, 500, 0);
    ProducerBatch b = acc.incompleteBatches().get(0);
    assertThat(b.capacityBytes).isGreaterThanOrEqualTo(500);
    assertThat(b.recordCount).isEqualTo(1);
  }

  @Test
  void shouldExpireQueuedBatchesPastTheDeliveryTimeoutButNotInFlightOnes() {
    RecordAccumulator acc = new RecordAccumulator(new BufferPool(1 << 20), 100, 0, 1000, () -> {});
    append(acc, TP0, 80, 0);
    append(acc, TP1, 80, 0);
    long later = System.nanoTime() + 10_000;
    ProducerBatch inFlight = acc.drain(later, tp -> tp.equals(TP0) ? NODE : null, 1 << 20).byNode.get(NODE).get(0);
    List<ProducerBatch> expired = acc.expire(later);
    assertThat(expired).extracting(b -> b.tp).containsExactly(TP1);
    assertThat(expired).doesNotContain(inFlight);
  }

  @Test
  void shouldKeepAssignedSequencesAcrossRetriesAndRollBackOnlyTheLast() {
    ProducerIdState pid = new ProducerIdState();
    pid.set(7, 0);
    RecordAccumulator acc = accumulator(100, 1 << 20);
    append(acc, TP0, 80, 0);
    append(acc, TP0, 80, 0);
    long later = System.nanoTime() + LINGER * 10;
    ProducerBatch b1 = acc.drain(later, tp -> NODE, 1 << 20).byNode.get(NODE).get(0);
    pid.assign(b1);
    assertThat(b1.baseSequence).isZero();
    acc.reenqueue(b1, later);
    pid.assign(b1); // a retry keeps the sequence
    assertThat(b1.baseSequence).isZero();
    assertThat(pid.nextSequence(TP0)).isEqualTo(1);
    pid.rollback(b1);
    assertThat(pid.nextSequence(TP0)).isZero();
    assertThat(ProducerIdState.increment(Integer.MAX_VALUE, 1)).isZero();
    assertThat(ProducerIdState.increment(Integer.MAX_VALUE - 1, 3)).isEqualTo(1);
  }

  private RecordAccumulator pipelined(int batchSize, int maxInFlight) {
    return new RecordAccumulator(new BufferPool(1 << 20), batchSize, LINGER, TimeUnit.SECONDS.toNanos(120),
        maxInFlight, wakeups::incrementAndGet);
  }

  /** Stamps first sends with consecutive sequences under {@code producerId}, as ProducerIdState does. */
  private static RecordAccumulator.Stamper stamper(long producerId, int[] nextSequence) {
    return b -> {
      if (b.baseSequence < 0) {
        b.producerId = producerId;
        b.baseSequence = nextSequence[0];
        nextSequence[0] += b.recordCount;
      }
      return true;
    };
  }

  @Test
  void shouldKeepUpToMaxInFlightBatchesOfAPartitionInFlightWithSequencesInQueueOrder() {
    RecordAccumulator acc = pipelined(200, 3);
    for (int i = 0; i < 8; i++) {
      append(acc, TP0, 100, 0); // one ~104-byte record per 200-byte batch: 8 batches, 7 sealed
    }
    int[] seq = {0};
    long now = System.nanoTime() + LINGER;
    RecordAccumulator.Drained d = acc.drain(now, tp -> NODE, 1 << 20, 7, stamper(7, seq));
    List<ProducerBatch> sent = d.byNode.get(NODE);
    assertThat(sent).hasSize(3);
    assertThat(sent).extracting(b -> b.baseSequence).containsExactly(0, 1, 2);
    assertThat(acc.drain(now, tp -> NODE, 1 << 20, 7, stamper(7, seq)).byNode).isEmpty();

    acc.remove(sent.get(0));
    RecordAccumulator.Drained next = acc.drain(now, tp -> NODE, 1 << 20, 7, stamper(7, seq));
    assertThat(next.byNode.get(NODE)).extracting(b -> b.baseSequence).containsExactly(3);
  }

  @Test
  void shouldHoldARetryBackUntilNoBatchBeforeItIsInFlight() {
    RecordAccumulator acc = pipelined(200, 5);
    for (int i = 0; i < 3; i++) {
      append(acc, TP0, 100, 0);
    }
    int[] seq = {0};
    long now = System.nanoTime() + LINGER;
    List<ProducerBatch> sent = acc.drain(now, tp -> NODE, 1 << 20, 7, stamper(7, seq)).byNode.get(NODE);
    assertThat(sent).hasSize(3);
    ProducerBatch first = sent.get(0);
    ProducerBatch second = sent.get(1);
    second.attempts = 1;
    acc.reenqueue(second, now); // bounced for a gap while the first is still on its way
    assertThat(acc.hasIncompletePredecessor(second)).isTrue();
    assertThat(acc.hasIncompletePredecessor(first)).isFalse();
    assertThat(acc.drain(now, tp -> NODE, 1 << 20, 7, stamper(7, seq)).byNode).isEmpty();

    acc.remove(first);
    List<ProducerBatch> retried = acc.drain(now, tp -> NODE, 1 << 20, 7, stamper(7, seq)).byNode.get(NODE);
    assertThat(retried).containsExactly(second);
    assertThat(second.baseSequence).as("a retry keeps its sequence").isEqualTo(1);
  }

  @Test
  void shouldNotSendAFirstBatchUnderANewProducerIdWhileAnOlderIdsBatchIsAheadOfIt() {
    RecordAccumulator acc = pipelined(200, 5);
    append(acc, TP0, 100, 0);
    int[] seq = {0};
    long now = System.nanoTime() + LINGER;
    List<ProducerBatch> sent = acc.drain(now, tp -> NODE, 1 << 20, 7, stamper(7, seq)).byNode.get(NODE);
    ProducerBatch old = sent.get(0); // still on its way under id 7, which was then replaced by id 8
    append(acc, TP0, 100, 0);
    int[] newSeq = {0};
    assertThat(acc.drain(now + LINGER, tp -> NODE, 1 << 20, 8, stamper(8, newSeq)).byNode)
        .as("the new batch waits behind the id-7 batch").isEmpty();
    acc.remove(old);
    List<ProducerBatch> fresh = acc.drain(now + LINGER, tp -> NODE, 1 << 20, 8, stamper(8, newSeq)).byNode.get(NODE);
    assertThat(fresh).hasSize(1);
    assertThat(fresh.get(0).producerId).isEqualTo(8);
    assertThat(fresh.get(0).baseSequence).isZero();
  }
}
