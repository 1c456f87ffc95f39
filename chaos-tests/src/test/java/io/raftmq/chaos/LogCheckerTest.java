package io.raftmq.chaos;

import static org.assertj.core.api.Assertions.assertThat;

import io.raftmq.chaos.Op.Read;
import io.raftmq.chaos.Op.Type;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The checker is checked: synthetic histories with each kind of anomaly planted are caught, and only that kind. */
class LogCheckerTest {
  private final History h = new History();

  /** A history with no anomaly: 3 sends to partition 0 and 2 to partition 1, all read in order. */
  private void cleanBase() {
    send("p1", "p1-0", 0, 0);
    send("p1", "p1-1", 1, 0);
    send("p1", "p1-2", 0, 1);
    send("p2", "p2-0", 0, 2);
    send("p2", "p2-1", 1, 1);
    assign("c1", Map.of(0, 0L, 1, 0L));
    poll("c1", r(0, 0, "p1-0"), r(0, 1, "p1-2"));
    poll("c1", r(0, 2, "p2-0"), r(1, 0, "p1-1"), r(1, 1, "p2-1"));
  }

  private Map<String, Long> violations() {
    return new LogChecker(true).check(h.ops()).stream()
        .collect(Collectors.toMap(CheckResult::name, CheckResult::violations));
  }

  private void assertOnly(String check) {
    Map<String, Long> v = violations();
    assertThat(v.get(check)).as("%s violations in %s", check, v).isPositive();
    v.remove(check);
    assertThat(v.values()).as("other checks %s", v).allMatch(x -> x == 0);
  }

  @Test
  void shouldPassACleanHistory() {
    cleanBase();
    assertThat(violations().values()).allMatch(x -> x == 0);
  }

  @Test
  void shouldCatchALostAcknowledgedSend() {
    cleanBase();
    send("p2", "p2-2", 0, 3);
    assertOnly("lost");
    CheckResult lost = new LogChecker(true).check(h.ops()).get(0);
    assertThat(lost.counts()).containsEntry("lost", 1L).containsEntry("acked", 6L);
  }

  @Test
  void shouldNotCountAnUnknownSendNeverReadAsLost() {
    cleanBase();
    Op inv = h.add(Op.of("p3", Type.INVOKE, "send").withValue("p3-0").withPartition(0));
    h.add(inv.complete(Type.INFO).withError("timeout"));
    assertThat(violations().values()).allMatch(x -> x == 0);
  }

  @Test
  void shouldCatchTwoValuesAtOneOffset() {
    cleanBase();
    poll("c9", r(0, 1, "p2-0"));
    // p2-0 is now also at offset 1 (a duplicate) where p1-2 is (a conflict).
    Map<String, Long> v = violations();
    assertThat(v.get("unique-offsets")).isPositive();
  }

  @Test
  void shouldCatchAnAckAtAnotherOffsetThanRead() {
    send("p1", "p1-0", 0, 5);
    assign("c1", Map.of(0, 0L));
    poll("c1", r(0, 0, "p1-0"));
    assertOnly("unique-offsets");
  }

  @Test
  void shouldCatchADuplicate() {
    cleanBase();
    send("p2", "p2-2", 0, 3);
    poll("c1", r(0, 3, "p2-2"), r(0, 4, "p2-2"));
    assertOnly("duplicates");
  }

  @Test
  void shouldAllowDuplicatesWithoutIdempotence() {
    cleanBase();
    send("p2", "p2-2", 0, 3);
    poll("c1", r(0, 3, "p2-2"), r(0, 4, "p2-2"));
    List<CheckResult> results = new LogChecker(false).check(h.ops());
    assertThat(results).allMatch(CheckResult::ok);
    assertThat(results.stream().filter(c -> c.name().equals("duplicates")).findFirst().orElseThrow().counts())
        .containsEntry("duplicated-values", 1L);
  }

  @Test
  void shouldCatchAPhantomValue() {
    cleanBase();
    poll("c1", r(0, 3, "never-sent"));
    assertOnly("phantoms");
  }

  @Test
  void shouldCatchAnAbortedRead() {
    cleanBase();
    Op inv = h.add(Op.of("p3", Type.INVOKE, "send").withValue("p3-0").withPartition(0));
    h.add(inv.complete(Type.FAIL).withError("certainly not sent"));
    poll("c1", r(0, 3, "p3-0"));
    assertOnly("phantoms");
  }

  @Test
  void shouldCatchARealTimeReordering() {
    send("p1", "p1-0", 0, 1);
    send("p2", "p2-0", 0, 0); // invoked after p1-0 was acked, yet a lower offset
    assign("c1", Map.of(0, 0L));
    poll("c1", r(0, 0, "p2-0"), r(0, 1, "p1-0"));
    assertOnly("real-time-order");
  }

  @Test
  void shouldCatchOneProducersSendsOutOfOrder() {
    // Concurrent sends of one producer (no real-time order between them) stored in reverse order.
    Op a = h.add(Op.of("p1", Type.INVOKE, "send").withValue("p1-0").withPartition(0));
    Op b = h.add(Op.of("p1", Type.INVOKE, "send").withValue("p1-1").withPartition(0));
    h.add(b.complete(Type.OK).withOffset(0));
    h.add(a.complete(Type.OK).withOffset(1));
    assign("c1", Map.of(0, 0L));
    poll("c1", r(0, 0, "p1-1"), r(0, 1, "p1-0"));
    assertOnly("real-time-order");
  }

  @Test
  void shouldCatchAConsumerSkip() {
    cleanBase();
    assign("c2", Map.of(0, 0L));
    poll("c2", r(0, 0, "p1-0"), r(0, 2, "p2-0"));
    assertOnly("consumer-order");
  }

  @Test
  void shouldCatchAConsumerGoingBackwards() {
    cleanBase();
    assign("c2", Map.of(0, 0L));
    poll("c2", r(0, 0, "p1-0"), r(0, 1, "p1-2"));
    poll("c2", r(0, 1, "p1-2"));
    assertOnly("consumer-order");
  }

  @Test
  void shouldCatchAConsumerStartingElsewhereThanItsPosition() {
    cleanBase();
    assign("c2", Map.of(0, 1L));
    poll("c2", r(0, 2, "p2-0"));
    assertOnly("consumer-order");
  }

  @Test
  void shouldAllowRereadingInANewSession() {
    cleanBase();
    assign("c2", Map.of(0, 0L));
    poll("c2", r(0, 0, "p1-0"), r(0, 1, "p1-2"));
    assertThat(violations().values()).allMatch(x -> x == 0);
  }

  @Test
  void shouldCatchCommittedOffsetsGoingBackwards() {
    cleanBase();
    commit("c1", Map.of(0, 3L));
    fetchCommitted("c1", Map.of(0, 2L));
    assertOnly("committed-offsets");
  }

  @Test
  void shouldCatchAFetchedCommitLowerThanAnEarlierFetch() {
    cleanBase();
    fetchCommitted("c1", Map.of(0, 3L));
    fetchCommitted("c2", Map.of(0, 1L));
    assertOnly("committed-offsets");
  }

  @Test
  void shouldAllowAFetchConcurrentWithACommitToSeeTheOldOffset() {
    cleanBase();
    commit("c1", Map.of(0, 1L));
    Op c = h.add(Op.of("c1", Type.INVOKE, "commit").withOffsets(Map.of(0, 3L)).withSession("g"));
    fetchCommitted("c2", Map.of(0, 1L));
    h.add(c.complete(Type.OK));
    assertThat(violations().values()).allMatch(x -> x == 0);
  }

  @Test
  void shouldReadBackAWrittenHistory(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("history.jsonl");
    try (History written = new History(file)) {
      Op inv = written.add(Op.of("p1", Type.INVOKE, "send").withValue("p1-0").withPartition(2));
      written.add(inv.complete(Type.OK).withOffset(7));
      Op poll = written.add(Op.of("c1", Type.INVOKE, "poll").withSession("c1"));
      written.add(poll.complete(Type.OK).withReads(List.of(r(2, 7, "p1-0"))).withSession("c1"));
      Op receive = written.add(Op.of("q1", Type.INVOKE, "q_receive"));
      written.add(receive.complete(Type.OK).withReads(List.of(q(2, 7, "p1-0", 1))));
      Op ack = written.add(Op.of("q1", Type.INVOKE, "q_ack").withPartition(2).withOffset(7).withValue("p1-0"));
      written.add(ack.complete(Type.OK));
    }
    List<Op> ops = History.read(file);
    assertThat(ops).hasSize(8);
    assertThat(ops.get(5).reads()).containsExactly(q(2, 7, "p1-0", 1));
    assertThat(ops.get(1).type()).isEqualTo(Type.OK);
    assertThat(ops.get(1).invokeIndex()).isEqualTo(0L);
    assertThat(ops.get(3).reads()).containsExactly(r(2, 7, "p1-0"));
    assertThat(new LogChecker(true).check(ops)).allMatch(CheckResult::ok);
  }

  /** cleanBase, and a queue group that took and acked every value (p1-2 on its second delivery). */
  private void cleanQueue() {
    cleanBase();
    receive("q1", q(0, 0, "p1-0", 1), q(0, 1, "p1-2", 1), q(1, 0, "p1-1", 1));
    queueAck("q1", 0, 0, "p1-0");
    queueAck("q1", 1, 0, "p1-1");
    receive("q2", q(0, 2, "p2-0", 1), q(1, 1, "p2-1", 1));
    queueAck("q2", 0, 2, "p2-0");
    queueAck("q2", 1, 1, "p2-1");
    receive("q2", q(0, 1, "p1-2", 2)); // q1's lease expired
    queueAck("q2", 0, 1, "p1-2");
  }

  @Test
  void shouldPassACleanQueueHistory() {
    cleanQueue();
    Map<String, Long> v = violations();
    assertThat(v).containsKeys("queue-lost", "queue-redelivery");
    assertThat(v.values()).allMatch(x -> x == 0);
  }

  @Test
  void shouldCheckQueuesOnlyWhereThereWereQueueConsumers() {
    cleanBase();
    assertThat(violations()).doesNotContainKeys("queue-lost", "queue-redelivery");
  }

  @Test
  void shouldCatchASendTheQueueGroupNeverAcked() {
    cleanQueue();
    send("p2", "p2-2", 0, 3);
    poll("c1", r(0, 3, "p2-2"));
    receive("q1", q(0, 3, "p2-2", 1)); // received, never acked
    assertOnly("queue-lost");
  }

  @Test
  void shouldCountAnAckWithUnknownOutcomeAsMaybeApplied() {
    cleanBase();
    receive("q1", q(0, 0, "p1-0", 1), q(0, 1, "p1-2", 1), q(0, 2, "p2-0", 1), q(1, 0, "p1-1", 1), q(1, 1, "p2-1", 1));
    queueAck("q1", 0, 0, "p1-0");
    queueAck("q1", 0, 1, "p1-2");
    queueAck("q1", 0, 2, "p2-0");
    queueAck("q1", 1, 0, "p1-1");
    Op timedOut = h.add(Op.of("q1", Type.INVOKE, "q_ack").withPartition(1).withOffset(1).withValue("p2-1"));
    h.add(timedOut.complete(Type.INFO).withError("timeout"));
    List<CheckResult> results = new LogChecker(true).check(h.ops());
    assertThat(results).allMatch(CheckResult::ok);
    assertThat(results.stream().filter(c -> c.name().equals("queue-lost")).findFirst().orElseThrow().counts())
        .containsEntry("acked-unknown", 1L);
  }

  @Test
  void shouldCatchADeliveryCountThatWentBack() {
    cleanQueue();
    receive("q3", q(0, 2, "p2-0", 1)); // after its ack, and with the count of its first delivery
    Map<String, Long> v = violations();
    assertThat(v.get("queue-redelivery")).isEqualTo(2); // the count went back, and it was acked before
    receive("q3", q(1, 5, "x", 3));
    receive("q3", q(1, 5, "x", 3));
    assertThat(violations().get("queue-redelivery")).isEqualTo(3);
  }

  @Test
  void shouldCatchAnAckedMessageDeliveredAgain() {
    cleanQueue();
    receive("q3", q(1, 1, "p2-1", 2));
    assertOnly("queue-redelivery");
  }

  @Test
  void shouldAllowADeliveryConcurrentWithAnAckOrAnEarlierDelivery() {
    cleanBase();
    Op slow = h.add(Op.of("q1", Type.INVOKE, "q_receive"));
    receive("q2", q(0, 0, "p1-0", 2)); // asked and answered while q1's receive was still open
    h.add(slow.complete(Type.OK).withReads(List.of(q(0, 0, "p1-0", 1))));
    Op ack = h.add(Op.of("q2", Type.INVOKE, "q_ack").withPartition(0).withOffset(0).withValue("p1-0"));
    Op during = h.add(Op.of("q1", Type.INVOKE, "q_receive"));
    h.add(ack.complete(Type.OK));
    h.add(during.complete(Type.OK).withReads(List.of(q(0, 0, "p1-0", 3))));
    assertThat(violations().get("queue-redelivery")).isZero();
  }

  // ---- history builders ----

  private void send(String process, String value, int partition, long offset) {
    Op inv = h.add(Op.of(process, Type.INVOKE, "send").withValue(value).withPartition(partition));
    h.add(inv.complete(Type.OK).withOffset(offset));
  }

  private void assign(String process, Map<Integer, Long> starts) {
    Op inv = h.add(Op.of(process, Type.INVOKE, "assign").withSession(process));
    h.add(inv.complete(Type.OK).withOffsets(new HashMap<>(starts)));
  }

  private void poll(String process, Read... reads) {
    Op inv = h.add(Op.of(process, Type.INVOKE, "poll").withSession(process));
    h.add(inv.complete(Type.OK).withReads(new ArrayList<>(List.of(reads))).withSession(process));
  }

  private void commit(String process, Map<Integer, Long> offsets) {
    Op inv = h.add(Op.of(process, Type.INVOKE, "commit").withOffsets(offsets).withSession("g"));
    h.add(inv.complete(Type.OK));
  }

  private void fetchCommitted(String process, Map<Integer, Long> offsets) {
    Op inv = h.add(Op.of(process, Type.INVOKE, "fetch_committed").withSession("g"));
    h.add(inv.complete(Type.OK).withOffsets(offsets));
  }

  private void receive(String process, Read... leased) {
    Op inv = h.add(Op.of(process, Type.INVOKE, "q_receive"));
    h.add(inv.complete(Type.OK).withReads(new ArrayList<>(List.of(leased))));
  }

  private void queueAck(String process, int partition, long offset, String value) {
    Op inv = h.add(Op.of(process, Type.INVOKE, "q_ack").withPartition(partition).withOffset(offset).withValue(value));
    h.add(inv.complete(Type.OK));
  }

  private static Read r(int partition, long offset, String value) {
    return new Read(partition, offset, value);
  }

  private static Read q(int partition, long offset, String value, int deliveryCount) {
    return new Read(partition, offset, value, deliveryCount);
  }
}
