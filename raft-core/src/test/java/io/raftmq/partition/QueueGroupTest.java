package io.raftmq.partition;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.ByteString;
import io.raftmq.logstore.LogStoreConfig;
import io.raftmq.logstore.PartitionLog;
import io.raftmq.raft.proto.Acquire;
import io.raftmq.raft.proto.AppendBatch;
import io.raftmq.raft.proto.Expire;
import io.raftmq.raft.proto.Extend;
import io.raftmq.raft.proto.Nack;
import io.raftmq.raft.proto.OffsetDelay;
import io.raftmq.raft.proto.PartitionCommand;
import io.raftmq.raft.proto.PartitionReply;
import io.raftmq.raft.proto.QueueCommand;
import io.raftmq.raft.proto.QueueConfig;
import io.raftmq.raft.proto.QueueEntry;
import io.raftmq.raft.proto.QueueOutcome;
import io.raftmq.raft.proto.QueueResult;
import io.raftmq.raft.proto.QueueSettle;
import io.raftmq.raft.proto.QueueState;
import io.raftmq.raft.proto.Redrive;
import io.raftmq.raft.proto.Reject;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Queue-group commands applied to a partition core over a real log-store. */
class QueueGroupTest {
  @TempDir
  Path dir;
  private PartitionLog log;
  private PartitionCore core;
  private long index;

  private static final QueueConfig DEFAULTS = QueueConfig.newBuilder().setVisibilityTimeoutMs(30_000)
      .setMaxDeliveries(3).setBackoffBaseMs(1000).setBackoffMaxMs(60_000).setMaxInFlight(100).setMaxRedrives(2)
      .build();

  @BeforeEach
  void open() throws IOException {
    log = PartitionLog.open(dir, LogStoreConfig.builder().segmentSizeBytes(1 << 20).build());
    core = new PartitionCore(log);
  }

  @AfterEach
  void close() throws IOException {
    log.close();
  }

  private PartitionReply apply(long time, PartitionCommand.Builder c) throws IOException {
    return core.apply(c.setLeaderTimeMs(time).build(), ++index);
  }

  private void append(int count, long time) throws IOException {
    apply(time, PartitionCommand.newBuilder().setAppendBatch(AppendBatch.newBuilder().setProducerId(-1)
        .setRecordCount(count).setRecords(ByteString.copyFrom(new byte[count]))));
  }

  private PartitionReply queue(long time, QueueCommand.Builder q) throws IOException {
    return apply(time, PartitionCommand.newBuilder().setQueue(q.setGroup("q")));
  }

  private void configure(QueueConfig c) throws IOException {
    queue(0, QueueCommand.newBuilder().setConfigure(c));
  }

  /** Acquires with new records described by their key hashes (from where the group has read so far). */
  private List<QueueResult> acquire(long time, String consumer, int max, long... keys) throws IOException {
    Acquire.Builder a = Acquire.newBuilder().setConsumer(consumer).setMax(max).setLeaseMs(10_000)
        .setFirstNewOffset(core.queueGroup("q").end());
    a.setNewRecordCount(keys.length);
    for (long k : keys) {
      a.addNewKeyHashes(k);
    }
    return leases(queue(time, QueueCommand.newBuilder().setAcquire(a)));
  }

  /** An acquire's lease runs as one result per offset. */
  private static List<QueueResult> leases(PartitionReply r) {
    assertThat(r.getLeasedRunsCount() % 3).as("whole (offset, length, count) triples").isZero();
    List<QueueResult> out = new ArrayList<>();
    long previous = -1;
    for (int i = 0; i < r.getLeasedRunsCount(); i += 3) {
      long first = r.getLeasedRuns(i);
      assertThat(first).as("runs ascend and do not touch unless their counts differ").isGreaterThanOrEqualTo(previous);
      for (long o = first; o < first + r.getLeasedRuns(i + 1); o++) {
        out.add(QueueResult.newBuilder().setOffset(o).setOutcome(QueueOutcome.Q_OK)
            .setEntry(QueueEntry.newBuilder().setOffset(o).setState(QueueState.LEASED)
                .setDeliveryCount((int) r.getLeasedRuns(i + 2)).setLeaseDeadlineMs(r.getLeaseDeadlineMs()))
            .build());
      }
      previous = first + r.getLeasedRuns(i + 1);
    }
    return out;
  }

  private static List<Long> leasedOffsets(PartitionReply r) {
    return leases(r).stream().map(QueueResult::getOffset).toList();
  }

  private List<QueueResult> ack(long time, String consumer, long... offsets) throws IOException {
    QueueSettle.Builder s = QueueSettle.newBuilder().setConsumer(consumer);
    for (long o : offsets) {
      s.addOffsets(o);
    }
    return queue(time, QueueCommand.newBuilder().setAck(s)).getQueueResultsList();
  }

  private List<QueueResult> nack(long time, String consumer, long offset, long delay) throws IOException {
    return queue(time, QueueCommand.newBuilder().setNack(Nack.newBuilder().setConsumer(consumer)
        .addOffsets(OffsetDelay.newBuilder().setOffset(offset).setDelayMs(delay)))).getQueueResultsList();
  }

  private static List<Long> offsets(List<QueueResult> rs) {
    return rs.stream().filter(r -> r.getOutcome() == QueueOutcome.Q_OK).map(QueueResult::getOffset).toList();
  }

  @Test
  void leasesEachMessageToOneConsumerAndAcksSettleIt() throws IOException {
    configure(DEFAULTS);
    append(5, 1);
    assertThat(offsets(acquire(2, "c1", 3, 0, 0, 0, 0, 0))).containsExactly(0L, 1L, 2L);
    assertThat(offsets(acquire(2, "c2", 10))).containsExactly(3L, 4L);
    assertThat(core.queueGroup("q").entry(0).getDeliveryCount()).isEqualTo(1);
    // Not yours, or never leased: refused, nothing changes.
    assertThat(ack(3, "c2", 0).get(0).getOutcome()).isEqualTo(QueueOutcome.Q_NOT_LEASED);
    assertThat(ack(3, "c1", 0, 1)).as("acks that succeed report nothing").isEmpty();
    assertThat(core.queueGroup("q").start()).isEqualTo(2);
    // A lease past its deadline cannot be acked.
    assertThat(ack(20_000, "c1", 2).get(0).getOutcome()).isEqualTo(QueueOutcome.Q_LEASE_EXPIRED);
    assertThat(core.queueGroup("q").entry(2).getState()).isEqualTo(QueueState.LEASED);
  }

  @Test
  void acksCarriedInAnAcquireSettleFirstAndFreeRoomForItsLeases() throws IOException {
    configure(DEFAULTS.toBuilder().setMaxInFlight(3).build());
    append(5, 1);
    assertThat(offsets(acquire(2, "c1", 3, 0, 0, 0, 0, 0))).containsExactly(0L, 1L, 2L);
    // The group is full (3 in flight): acks of 0 and 1 in the same command make room for two leases;
    // an ack of a message not leased to c1 (4) and one of a message never leased (99) are refused.
    Acquire.Builder a = Acquire.newBuilder().setConsumer("c1").setMax(10).setLeaseMs(10_000)
        .setFirstNewOffset(core.queueGroup("q").end()).addAcks(0).addAcks(99).addAcks(1);
    PartitionReply r = queue(3, QueueCommand.newBuilder().setAcquire(a));
    assertThat(leasedOffsets(r)).containsExactly(3L, 4L);
    assertThat(r.getQueueResultsList()).extracting(QueueResult::getOffset, QueueResult::getOutcome)
        .containsExactly(org.assertj.core.groups.Tuple.tuple(99L, QueueOutcome.Q_NOT_LEASED));
    assertThat(core.queueGroup("q").start()).isEqualTo(2);
    assertThat(core.queueGroup("q").stats().inFlight()).isEqualTo(3);
    // Acks with nothing to lease still apply (max 0 leases nothing).
    Acquire.Builder only = Acquire.newBuilder().setConsumer("c1").setMax(0).setLeaseMs(10_000)
        .setFirstNewOffset(core.queueGroup("q").end()).addAcks(2).addAcks(3);
    assertThat(queue(4, QueueCommand.newBuilder().setAcquire(only)).getQueueResultsList()).isEmpty();
    assertThat(core.queueGroup("q").stats().inFlight()).isEqualTo(1);
    assertThat(core.queueGroup("q").start()).isEqualTo(4);
  }

  @Test
  void anAcquireWhoseAcksSettleEverythingKeepsItsTableForTheNewRecords() throws IOException {
    configure(DEFAULTS.toBuilder().setMaxInFlight(10_000).build());
    append(8_000, 1);
    acquire(2, "c1", 4_000, new long[4_000]);
    long[] before = core.queueGroup("q").liveTableForTest().offset;
    // Acks of all 4,000 leases and 4,000 new records in one command: the table is not given back (acks
    // alone would empty it) only to grow again for the appends.
    Acquire.Builder a = Acquire.newBuilder().setConsumer("c1").setMax(4_000).setLeaseMs(10_000)
        .setFirstNewOffset(core.queueGroup("q").end()).setNewRecordCount(4_000);
    for (long o = 0; o < 4_000; o++) {
      a.addAcks(o);
    }
    PartitionReply r = queue(3, QueueCommand.newBuilder().setAcquire(a));
    assertThat(r.getLeasedRunsList()).as("one run: 4,000 consecutive first deliveries")
        .containsExactly(4_000L, 4_000L, 1L);
    assertThat(core.queueGroup("q").liveTableForTest().offset).as("the same arrays").isSameAs(before);
    assertThat(core.queueGroup("q").stats().inFlight()).isEqualTo(4_000);
  }

  @Test
  void anAcquireSettlesAckRunsAfterItsPlainAcksAndRefusesWhatIsNotLeasedInOrder() throws IOException {
    configure(DEFAULTS);
    append(8, 1);
    acquire(2, "c1", 6, new long[8]);
    // Plain ack 5, then runs 0 - 2 and 4 - 7 (6 and 7 were never leased), and a malformed pair
    // (length 0), which every replica skips alike.
    Acquire.Builder a = Acquire.newBuilder().setConsumer("c1").setMax(0).setLeaseMs(10_000)
        .setFirstNewOffset(core.queueGroup("q").end()).addAcks(5)
        .addAckRuns(0).addAckRuns(3).addAckRuns(4).addAckRuns(4).addAckRuns(3).addAckRuns(0);
    PartitionReply r = queue(3, QueueCommand.newBuilder().setAcquire(a));
    assertThat(r.getQueueResultsList()).extracting(QueueResult::getOffset, QueueResult::getOutcome)
        .containsExactly(org.assertj.core.groups.Tuple.tuple(5L, QueueOutcome.Q_NOT_LEASED),
            org.assertj.core.groups.Tuple.tuple(6L, QueueOutcome.Q_NOT_LEASED),
            org.assertj.core.groups.Tuple.tuple(7L, QueueOutcome.Q_NOT_LEASED));
    assertThat(core.queueGroup("q").stats().inFlight()).as("3 still leased: 3 is the only one not acked").isEqualTo(1);
    assertThat(core.queueGroup("q").entry(3).getState()).isEqualTo(QueueState.LEASED);
    assertThat(core.queueGroup("q").start()).isEqualTo(3);
  }

  @Test
  void anAckRunSpanningAcquiresSettlesTheConsumersOwnLeasesAndRefusesOthersAndExpiredOnesInOrder()
      throws IOException {
    configure(DEFAULTS);
    append(16, 1);
    // Each acquire names its consumer with a string of its own (as a parsed command does) and has
    // its own lease deadline: 0 - 3 (c1, until 10_002), 4 - 7 (c2), 8 - 11 (c1, until 10_004), and
    // 12 - 15 (c1, a short lease that has run out by the ack).
    acquireAs(2, new String("c1"), 4, 10_000);
    acquireAs(3, new String("c2"), 4, 10_000);
    acquireAs(4, new String("c1"), 4, 10_000);
    acquireAs(5, new String("c1"), 4, 1);
    Acquire.Builder a = Acquire.newBuilder().setConsumer(new String("c1")).setMax(0).setLeaseMs(10_000)
        .setFirstNewOffset(core.queueGroup("q").end()).addAckRuns(0).addAckRuns(17);
    PartitionReply r = queue(100, QueueCommand.newBuilder().setAcquire(a));
    List<org.assertj.core.groups.Tuple> refused = new ArrayList<>();
    for (long o = 4; o < 8; o++) {
      refused.add(org.assertj.core.groups.Tuple.tuple(o, QueueOutcome.Q_NOT_LEASED));
    }
    for (long o = 12; o < 16; o++) {
      refused.add(org.assertj.core.groups.Tuple.tuple(o, QueueOutcome.Q_LEASE_EXPIRED));
    }
    refused.add(org.assertj.core.groups.Tuple.tuple(16L, QueueOutcome.Q_NOT_LEASED));
    assertThat(r.getQueueResultsList()).extracting(QueueResult::getOffset, QueueResult::getOutcome)
        .containsExactlyElementsOf(refused);
    QueueGroup.Stats stats = core.queueGroup("q").stats();
    assertThat(stats.acked()).isEqualTo(8);
    assertThat(stats.inFlight()).as("c2's four and the four expired ones").isEqualTo(8);
    assertThat(stats.start()).isEqualTo(4);
    assertThat(stats.minLeaseDeadlineMs()).as("the expired leases' deadline, then c2's").isEqualTo(6);
    // The deadlines left are exactly those of the leases left: an expiry returns the expired four,
    // then c2's four once theirs passes, and nothing else.
    assertThat(offsets(queue(200, QueueCommand.newBuilder().setExpire(Expire.newBuilder()))
        .getQueueResultsList()))
        .containsExactly(12L, 13L, 14L, 15L);
    assertThat(core.queueGroup("q").stats().minLeaseDeadlineMs()).isEqualTo(10_003);
    assertThat(offsets(queue(10_003, QueueCommand.newBuilder().setExpire(Expire.newBuilder()))
        .getQueueResultsList()))
        .containsExactly(4L, 5L, 6L, 7L);
    assertThat(core.queueGroup("q").stats().minLeaseDeadlineMs()).isEqualTo(Long.MAX_VALUE);
    assertThat(core.queueGroup("q").stats().inFlight()).isZero();
  }

  @Test
  void anAckRunThatSettlesEveryLiveEntryEmptiesTheTableForTheNextAcquire() throws IOException {
    configure(DEFAULTS);
    append(10, 1);
    acquireAs(2, "c1", 6, 10_000);
    Acquire.Builder a = Acquire.newBuilder().setConsumer("c1").setMax(0).setLeaseMs(10_000)
        .setFirstNewOffset(core.queueGroup("q").end()).addAckRuns(0).addAckRuns(6);
    assertThat(queue(3, QueueCommand.newBuilder().setAcquire(a)).getQueueResultsList()).isEmpty();
    assertThat(core.queueGroup("q").stats().inFlight()).isZero();
    assertThat(core.queueGroup("q").stats().start()).isEqualTo(6);
    // The new records after them are leased from 6 on.
    assertThat(leasedOffsets(queue(4, QueueCommand.newBuilder().setAcquire(Acquire.newBuilder()
        .setConsumer("c1").setMax(10).setLeaseMs(10_000).setFirstNewOffset(core.queueGroup("q").end())
        .setNewRecordCount(4))))).containsExactly(6L, 7L, 8L, 9L);
  }

  /** An acquire of {@code max} with plain new records (no key, no TTL), up to what was appended. */
  private PartitionReply acquireAs(long time, String consumer, int max, long leaseMs) throws IOException {
    long end = core.queueGroup("q").end();
    return queue(time, QueueCommand.newBuilder().setAcquire(Acquire.newBuilder().setConsumer(consumer)
        .setMax(max).setLeaseMs(leaseMs).setFirstNewOffset(end).setNewRecordCount(max)));
  }

  @Test
  void anAcquireReportsItsLeasesAsRunsOfConsecutiveOffsetsWithOneDeliveryCount() throws IOException {
    configure(DEFAULTS);
    append(9, 1);
    acquire(2, "c1", 6, new long[9]);
    nack(3, "c1", 2, 0);
    nack(3, "c1", 3, 0);
    nack(3, "c1", 5, 0);
    Acquire.Builder a = Acquire.newBuilder().setConsumer("c2").setMax(10).setLeaseMs(10_000)
        .setFirstNewOffset(core.queueGroup("q").end());
    PartitionReply r = queue(4, QueueCommand.newBuilder().setAcquire(a));
    // 2 and 3 for the second time, 5 too, then 6 - 8 for the first: the touching runs 5 and 6 - 8
    // differ in their delivery counts.
    assertThat(r.getLeasedRunsList()).containsExactly(2L, 2L, 2L, 5L, 1L, 2L, 6L, 3L, 1L);
  }

  @Test
  void anAcquireAppliedWithoutLeasesInTheReplyChangesTheStateAlike() throws IOException {
    configure(DEFAULTS);
    append(5, 1);
    Acquire.Builder a = Acquire.newBuilder().setConsumer("c1").setMax(3).setLeaseMs(10_000)
        .setFirstNewOffset(core.queueGroup("q").end()).setNewRecordCount(5);
    PartitionReply r = core.apply(PartitionCommand.newBuilder().setLeaderTimeMs(2)
        .setQueue(QueueCommand.newBuilder().setGroup("q").setAcquire(a)).build(), ++index, false);
    assertThat(r.getLeasedRunsCount()).as("a follower's reply lists no leases").isZero();
    assertThat(r.getNextOffset()).isEqualTo(5);
    assertThat(core.queueGroup("q").stats().inFlight()).isEqualTo(3);
    assertThat(core.queueGroup("q").entry(2).getState()).isEqualTo(QueueState.LEASED);
    assertThat(offsets(acquire(3, "c2", 10))).containsExactly(3L, 4L);
  }

  @Test
  void nackedMessagesComeBackAfterTheirDelayAndDieAfterMaxDeliveries() throws IOException {
    configure(DEFAULTS);
    append(1, 1);
    acquire(10, "c", 1, 7);
    nack(20, "c", 0, 1000);
    assertThat(offsets(acquire(500, "c", 1))).as("not visible before its delay").isEmpty();
    assertThat(acquire(1020, "c", 1).get(0).getEntry().getDeliveryCount()).isEqualTo(2);
    nack(1100, "c", 0, 2000);
    assertThat(acquire(3100, "c", 1).get(0).getEntry().getDeliveryCount()).isEqualTo(3);
    QueueResult last = nack(3200, "c", 0, 4000).get(0);
    assertThat(last.getEntry().getState()).isEqualTo(QueueState.DEAD);
    assertThat(last.getEntry().getReason()).isEqualTo(QueueGroup.MAX_DELIVERIES);
    assertThat(last.getEntry().getFirstFailureMs()).isEqualTo(20);
    assertThat(last.getEntry().getLastFailureMs()).isEqualTo(3200);
    assertThat(core.queueGroup("q").start()).isEqualTo(1);
    assertThat(offsets(acquire(100_000, "c", 1))).isEmpty();
  }

  private List<QueueResult> release(long time, String consumer, long... offsets) throws IOException {
    io.raftmq.raft.proto.Settle.Builder s = io.raftmq.raft.proto.Settle.newBuilder().setConsumer(consumer);
    for (long o : offsets) {
      s.addReleases(o);
    }
    return queue(time, QueueCommand.newBuilder().setSettle(s)).getQueueResultsList();
  }

  @Test
  void releasedLeasesComeBackAtOnceWithoutCountingADelivery() throws IOException {
    configure(DEFAULTS);
    append(3, 1);
    acquire(10, "c", 3, 7, 8, 9);
    // Another consumer's release, and a release of nothing leased, are refused and change nothing.
    assertThat(release(20, "d", 0)).singleElement()
        .satisfies(r -> assertThat(r.getOutcome()).isEqualTo(QueueOutcome.Q_NOT_LEASED));
    assertThat(release(20, "c", 99)).singleElement()
        .satisfies(r -> assertThat(r.getOutcome()).isEqualTo(QueueOutcome.Q_NOT_LEASED));
    assertThat(core.queueGroup("q").entry(0).getState()).isEqualTo(QueueState.LEASED);

    List<QueueResult> released = release(30, "c", 1, 2);
    assertThat(released).extracting(QueueResult::getOffset).containsExactly(1L, 2L);
    assertThat(released).allSatisfy(r -> {
      assertThat(r.getOutcome()).isEqualTo(QueueOutcome.Q_OK);
      assertThat(r.getEntry().getState()).isEqualTo(QueueState.AVAILABLE);
      assertThat(r.getEntry().getDeliveryCount()).as("the delivery is taken back").isZero();
      assertThat(r.getEntry().getFirstFailureMs()).as("no failure recorded").isZero();
    });
    assertThat(core.queueGroup("q").stats().inFlight()).isEqualTo(1);
    // Visible at once, in place, and the next lease counts as the first delivery.
    List<QueueResult> again = acquire(31, "d", 5);
    assertThat(offsets(again)).containsExactly(1L, 2L);
    assertThat(again).allSatisfy(r -> assertThat(r.getEntry().getDeliveryCount()).isEqualTo(1));
    // Released again and again, a message never reaches max deliveries (3): it was never delivered.
    for (int round = 0; round < 5; round++) {
      release(40 + round, "d", 1);
      assertThat(offsets(acquire(40 + round, "d", 1))).containsExactly(1L);
    }
    assertThat(core.queueGroup("q").entry(1).getDeliveryCount()).isEqualTo(1);
    assertThat(core.queueGroup("q").stats().dead()).isZero();
    // An expired lease cannot be released: its expiry counts, as a crash's would.
    assertThat(release(20_000, "c", 0)).singleElement()
        .satisfies(r -> assertThat(r.getOutcome()).isEqualTo(QueueOutcome.Q_LEASE_EXPIRED));
  }

  @Test
  void releaseUnderOrderingByKeyKeepsTheKeysOrder() throws IOException {
    configure(DEFAULTS.toBuilder().setOrderingKey(true).build());
    append(3, 1);
    // Offsets 0 and 1 have key 1, offset 2 key 2.
    assertThat(offsets(acquire(10, "c", 10, 1, 1, 2))).containsExactly(0L, 2L);
    release(20, "c", 0);
    assertThat(offsets(acquire(30, "d", 10))).as("key 1's first message again, its second still waits")
        .containsExactly(0L);
  }

  @Test
  void rejectDeadLettersAtOnceWithTheClientsReason() throws IOException {
    configure(DEFAULTS);
    append(1, 1);
    acquire(10, "c", 1, 7);
    QueueResult r = queue(20, QueueCommand.newBuilder().setReject(Reject.newBuilder().setConsumer("c").addOffsets(0)
        .setReason("bad payload").setErrorClass("java.lang.IllegalArgumentException").setErrorMessage("x".repeat(5000))))
        .getQueueResults(0);
    assertThat(r.getEntry().getState()).isEqualTo(QueueState.DEAD);
    assertThat(r.getEntry().getReason()).isEqualTo(QueueGroup.REJECTED);
    assertThat(r.getEntry().getErrorClass()).isEqualTo("java.lang.IllegalArgumentException");
    assertThat(r.getEntry().getErrorMessage()).startsWith("bad payload: xxx").hasSize(QueueGroup.MAX_ERROR_CHARS);
    assertThat(r.getEntry().getDeliveryCount()).isEqualTo(1);
  }

  @Test
  void expiredLeasesReturnWithTheirCountUnlessExtended() throws IOException {
    configure(DEFAULTS);
    append(2, 1);
    acquire(10, "c", 2, 1, 2);
    queue(5000, QueueCommand.newBuilder().setExtend(Extend.newBuilder().setConsumer("c").addOffsets(1).setLeaseMs(60_000)));
    List<QueueResult> expired = queue(10_020, QueueCommand.newBuilder().setExpire(Expire.newBuilder()
        .addOffsets(OffsetDelay.newBuilder().setOffset(0).setDelayMs(500))
        .addOffsets(OffsetDelay.newBuilder().setOffset(1).setDelayMs(500)))).getQueueResultsList();
    assertThat(offsets(expired)).as("the extended lease stays").containsExactly(0L);
    QueueResult again = acquire(10_600, "d", 5).get(0);
    assertThat(again.getOffset()).isZero();
    assertThat(again.getEntry().getDeliveryCount()).isEqualTo(2);
    // A negative extend is refused.
    assertThat(queue(10_700, QueueCommand.newBuilder().setExtend(Extend.newBuilder().setConsumer("d").addOffsets(0)
        .setLeaseMs(-1))).getQueueResults(0).getOutcome()).isEqualTo(QueueOutcome.Q_INVALID);
  }

  @Test
  void orderingByKeyHoldsBackOnlyTheFailingKey() throws IOException {
    configure(DEFAULTS.toBuilder().setOrderingKey(true).build());
    append(4, 1);
    // Offsets 0 and 2 have key 1, offsets 1 and 3 key 2.
    assertThat(offsets(acquire(10, "c", 10, 1, 2, 1, 2))).containsExactly(0L, 1L);
    ack(20, "c", 1);
    assertThat(offsets(acquire(30, "c", 10))).as("key 2 flows, key 1 waits").containsExactly(3L);
    nack(40, "c", 0, 1000);
    assertThat(offsets(acquire(50, "c", 10))).as("key 1 waits out its backoff").isEmpty();
    assertThat(offsets(acquire(1100, "c", 10))).containsExactly(0L);
  }

  @Test
  void strictOrderingParksAKeyUntilRedrive() throws IOException {
    configure(DEFAULTS.toBuilder().setOrderingKey(true).setStrict(true).setMaxDeliveries(1).build());
    append(3, 1);
    acquire(10, "c", 1, 1, 1, 2);
    nack(20, "c", 0, 0); // max deliveries 1: dead
    assertThat(core.queueGroup("q").entry(0).getState()).isEqualTo(QueueState.DEAD);
    assertThat(offsets(acquire(30, "c", 10))).as("key 1 parked, key 2 flows").containsExactly(2L);
    queue(40, QueueCommand.newBuilder().setRedrive(Redrive.newBuilder().setReason(QueueGroup.MAX_DELIVERIES)));
    assertThat(offsets(acquire(50, "c", 10))).containsExactly(0L);
  }

  @Test
  void redriveFiltersAndItsLoopGuard() throws IOException {
    configure(DEFAULTS.toBuilder().setMaxDeliveries(1).build());
    append(3, 1);
    acquire(10, "c", 3, 1, 2, 3);
    nack(20, "c", 0, 0);
    nack(20, "c", 1, 0);
    queue(20, QueueCommand.newBuilder().setReject(Reject.newBuilder().setConsumer("c").addOffsets(2).setReason("no")));
    assertThat(core.queueGroup("q").deadCount()).isEqualTo(3);
    List<QueueResult> r = queue(30, QueueCommand.newBuilder().setRedrive(Redrive.newBuilder()
        .setReason(QueueGroup.MAX_DELIVERIES).setLimit(1))).getQueueResultsList();
    assertThat(offsets(r)).as("filtered by reason, limited").containsExactly(0L);
    assertThat(core.queueGroup("q").entry(0).getDeliveryCount()).isZero();
    // Twice more through death and redrive: the third redrive is refused (max 2).
    for (int round = 0; round < 2; round++) {
      acquire(100 + round, "c", 1);
      nack(100 + round, "c", 0, 0);
      List<QueueResult> results = queue(100 + round, QueueCommand.newBuilder().setRedrive(Redrive.newBuilder()
          .setFromOffset(0).setToOffset(1))).getQueueResultsList();
      assertThat(results).hasSize(1);
      assertThat(results.get(0).getOutcome()).isEqualTo(round == 0 ? QueueOutcome.Q_OK : QueueOutcome.Q_LOOP_GUARD);
    }
    assertThat(core.queueGroup("q").entry(0).getState()).isEqualTo(QueueState.DEAD);
  }

  @Test
  void inFlightIsBoundedAndExpiredMessagesAreDeadLettered() throws IOException {
    configure(DEFAULTS.toBuilder().setMaxInFlight(2).build());
    append(4, 1);
    Acquire.Builder a = Acquire.newBuilder().setConsumer("c").setMax(10).setLeaseMs(1000).setFirstNewOffset(0)
        .setNewRecordCount(4).addNewExpiresAtMs(5).addNewExpiresAtMs(0).addNewExpiresAtMs(0).addNewExpiresAtMs(0);
    List<QueueResult> got = leases(queue(10, QueueCommand.newBuilder().setAcquire(a)));
    assertThat(offsets(got)).containsExactly(1L, 2L);
    assertThat(core.queueGroup("q").entry(0).getReason()).isEqualTo(QueueGroup.EXPIRED);
  }

  @Test
  void queueStateSurvivesASnapshot() throws IOException {
    configure(DEFAULTS);
    append(3, 1);
    acquire(10, "c", 2, 1, 2, 3);
    nack(20, "c", 1, 5000);
    PartitionCore restored = PartitionCore.restore(log, core.snapshot(index));
    assertThat(restored.snapshot(index)).isEqualTo(core.snapshot(index));
    assertThat(restored.queueGroup("q").entry(1).getVisibleAtMs()).isEqualTo(5020);
    assertThat(restored.queueGroup("q").leasedCount()).isEqualTo(1);
  }

  @Test
  void backoffIsExponentialWithFullJitterThatSpreadsAndIsTheSameOnEveryReplica() throws IOException {
    configure(DEFAULTS.toBuilder().setMaxDeliveries(10).setBackoffBaseMs(1000).setBackoffMaxMs(5000).build());
    QueueGroup g = core.queueGroup("q");
    for (int attempt = 1; attempt <= 5; attempt++) {
      long cap = Math.min(1000L << (attempt - 1), 5000);
      java.util.Set<Long> distinct = new java.util.HashSet<>();
      long min = Long.MAX_VALUE;
      long max = 0;
      for (long offset = 0; offset < 200; offset++) {
        long d = g.backoffMs(offset, attempt);
        assertThat(d).isBetween(0L, cap);
        assertThat(g.backoffMs(offset, attempt)).as("deterministic").isEqualTo(d);
        distinct.add(d);
        min = Math.min(min, d);
        max = Math.max(max, d);
      }
      assertThat(distinct).as("attempt %d: jitter spreads", attempt).hasSizeGreaterThan(150);
      assertThat(max - min).isGreaterThan(cap * 8 / 10);
    }
  }

  @Test
  void settleAppliesAcksNacksRejectsAndExtendsInOneCommandAndExpireUsesTheBackoff() throws IOException {
    configure(DEFAULTS.toBuilder().setBackoffBaseMs(1000).setBackoffMaxMs(1000).build());
    append(5, 1);
    acquire(10, "c", 5, 1, 2, 3, 4, 5);
    List<QueueResult> r = queue(20, QueueCommand.newBuilder().setSettle(io.raftmq.raft.proto.Settle.newBuilder()
        .setConsumer("c").addAcks(0).addAcks(0)
        .addNacks(OffsetDelay.newBuilder().setOffset(1).setBackoff(true))
        .addRejects(io.raftmq.raft.proto.RejectItem.newBuilder().setOffset(2).setReason("bad"))
        .addExtends(io.raftmq.raft.proto.ExtendItem.newBuilder().setOffset(3).setLeaseMs(50_000))
        .addExtends(io.raftmq.raft.proto.ExtendItem.newBuilder().setOffset(4).setLeaseMs(-1)))).getQueueResultsList();
    // The first ack succeeds (no result); the second of the same offset is refused; then one per other item.
    assertThat(r).extracting(QueueResult::getOutcome).containsExactly(QueueOutcome.Q_NOT_LEASED,
        QueueOutcome.Q_OK, QueueOutcome.Q_OK, QueueOutcome.Q_OK, QueueOutcome.Q_INVALID);
    QueueGroup g = core.queueGroup("q");
    assertThat(g.entry(1).getVisibleAtMs()).isEqualTo(20 + g.backoffMs(1, 1));
    assertThat(g.entry(2).getState()).isEqualTo(QueueState.DEAD);
    assertThat(g.entry(2).getDeadLetterSequence()).isZero();
    assertThat(g.entry(3).getLeaseDeadlineMs()).isEqualTo(50_020);
    assertThat(g.stats().minLeaseDeadlineMs()).isEqualTo(10_010);
    assertThat(g.stats().unforwarded()).extracting(QueueEntry::getOffset).containsExactly(2L);
    // Expire with no list: every lease past its deadline (offset 4's, not the extended offset 3's).
    List<QueueResult> expired = queue(10_010, QueueCommand.newBuilder().setExpire(Expire.getDefaultInstance()))
        .getQueueResultsList();
    assertThat(offsets(expired)).containsExactly(4L);
    assertThat(g.entry(4).getVisibleAtMs()).isEqualTo(10_010 + g.backoffMs(4, 1));
    assertThat(g.stats().leaseExpiries()).isEqualTo(1);
    assertThat(g.stats().minLeaseDeadlineMs()).isEqualTo(50_020);
    // A disconnected consumer's leases all go back.
    assertThat(offsets(queue(10_020, QueueCommand.newBuilder().setExpire(Expire.newBuilder().setConsumer("c")))
        .getQueueResultsList())).containsExactly(3L);
    assertThat(g.stats().inFlight()).isZero();
  }
}
