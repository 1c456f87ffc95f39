package io.raftmq.partition;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.ByteString;
import io.raftmq.logstore.LogStoreConfig;
import io.raftmq.logstore.PartitionLog;
import io.raftmq.raft.proto.AppendBatch;
import io.raftmq.raft.proto.ClaimPartition;
import io.raftmq.raft.proto.CommitOffset;
import io.raftmq.raft.proto.PartitionCommand;
import io.raftmq.raft.proto.PartitionReply;
import io.raftmq.raft.proto.PartitionSnapshot;
import io.raftmq.raft.proto.PartitionStatus;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The partition core as a function of its commands, against a real log-store in a temp dir. */
class PartitionCoreTest {
  @TempDir
  Path dir;

  private static final LogStoreConfig SMALL_SEGMENTS = LogStoreConfig.builder().segmentSizeBytes(4096).build();

  private static PartitionCommand append(long producerId, int epoch, int seq, int count, long time) {
    return PartitionCommand.newBuilder()
        .setLeaderTimeMs(time)
        .setAppendBatch(AppendBatch.newBuilder()
            .setProducerId(producerId)
            .setProducerEpoch(epoch)
            .setBaseSequence(seq)
            .setRecordCount(count)
            .setMaxTimestamp(time)
            .setRecords(ByteString.copyFrom(new byte[10 * count])))
        .build();
  }

  @Test
  void shouldAssignDenseOffsetsInApplyOrder() throws IOException {
    try (PartitionLog log = PartitionLog.open(dir, SMALL_SEGMENTS)) {
      PartitionCore core = new PartitionCore(log);
      assertThat(core.apply(append(-1, 0, 0, 3, 1), 1).getBaseOffset()).isEqualTo(0);
      assertThat(core.apply(append(-1, 0, 0, 2, 2), 2).getBaseOffset()).isEqualTo(3);
      assertThat(core.apply(append(7, 0, 0, 5, 3), 4).getBaseOffset()).isEqualTo(5);
      assertThat(core.nextOffset()).isEqualTo(10);
      assertThat(log.nextOffset()).isEqualTo(10);
      assertThat(log.lastRaftIndex()).isEqualTo(4);
    }
  }

  /**
   * plainFrom: the offsets from which every record up to the end was appended as plain. Unknown below
   * the end of what was loaded; a duplicate changes nothing.
   */
  @Test
  void shouldTrackWhereThePlainRecordsBegin() throws IOException {
    try (PartitionLog log = PartitionLog.open(dir, SMALL_SEGMENTS)) {
      PartitionCore core = new PartitionCore(log);
      assertThat(core.plainFrom()).isZero();
      core.apply(plain(append(-1, 0, 0, 3, 1)), 1);
      assertThat(core.plainFrom()).isZero();
      core.apply(append(-1, 0, 0, 2, 2), 2); // offsets 3..4, not plain
      assertThat(core.plainFrom()).isEqualTo(5);
      core.apply(plain(append(7, 0, 0, 4, 3)), 3);
      assertThat(core.plainFrom()).isEqualTo(5);
      assertThat(core.apply(append(7, 0, 0, 4, 4), 4).getStatus()).isEqualTo(PartitionStatus.DUPLICATE);
      assertThat(core.plainFrom()).isEqualTo(5);
      assertThat(core.nextOffset()).isEqualTo(9);

      PartitionCore restored = PartitionCore.restore(log, core.snapshot(4));
      assertThat(restored.plainFrom()).as("unknown below what the snapshot covers").isEqualTo(9);
      restored.apply(plain(append(-1, 0, 0, 1, 5)), 5);
      assertThat(restored.plainFrom()).isEqualTo(9);
    }
  }

  private static PartitionCommand plain(PartitionCommand append) {
    return append.toBuilder().setAppendBatch(append.getAppendBatch().toBuilder().setPlain(true)).build();
  }

  @Test
  void shouldReturnOriginalOffsetsForARetriedBatch() throws IOException {
    try (PartitionLog log = PartitionLog.open(dir, SMALL_SEGMENTS)) {
      PartitionCore core = new PartitionCore(log);
      PartitionReply first = core.apply(append(7, 0, 0, 4, 1), 1);
      core.apply(append(7, 0, 4, 1, 2), 2);
      PartitionReply retry = core.apply(append(7, 0, 0, 4, 3), 3);
      assertThat(retry.getStatus()).isEqualTo(PartitionStatus.DUPLICATE);
      assertThat(retry.getBaseOffset()).isEqualTo(first.getBaseOffset());
      assertThat(core.nextOffset()).isEqualTo(5);
      assertThat(log.nextOffset()).isEqualTo(5);
    }
  }

  @Test
  void shouldRejectASequenceGapAndAnOlderEpochWithoutChangingAnything() throws IOException {
    try (PartitionLog log = PartitionLog.open(dir, SMALL_SEGMENTS)) {
      PartitionCore core = new PartitionCore(log);
      core.apply(append(7, 1, 0, 2, 1), 1);
      assertThat(core.apply(append(7, 1, 5, 1, 2), 2).getStatus()).isEqualTo(PartitionStatus.OUT_OF_ORDER_SEQUENCE);
      assertThat(core.apply(append(7, 0, 2, 1, 3), 3).getStatus()).isEqualTo(PartitionStatus.PRODUCER_FENCED);
      assertThat(core.apply(PartitionCommand.newBuilder().setLeaderTimeMs(4).build(), 4).getStatus())
          .isEqualTo(PartitionStatus.INVALID_COMMAND);
      assertThat(core.nextOffset()).isEqualTo(2);
      assertThat(log.nextOffset()).isEqualTo(2);
      assertThat(core.apply(append(7, 1, 2, 1, 5), 5).getStatus()).isEqualTo(PartitionStatus.APPENDED);
    }
  }

  @Test
  void shouldNeverLetLogTimeGoBackwards() throws IOException {
    try (PartitionLog log = PartitionLog.open(dir, SMALL_SEGMENTS)) {
      PartitionCore core = new PartitionCore(log);
      core.apply(append(-1, 0, 0, 1, 1000), 1);
      PartitionReply r = core.apply(append(-1, 0, 0, 1, 10), 2);
      assertThat(r.getLogTimeMs()).isEqualTo(1000);
    }
  }

  /**
   * Seeded random command sequences with retries, gaps and epochs: replaying the whole log after a
   * restart over the same store, and restoring a snapshot then replaying the rest, both end in the same
   * state and the same replies as the original run, and nothing is stored twice.
   */
  @Test
  void shouldReachTheSameStateBySnapshotPlusReplayAsByFullReplay() throws IOException {
    long seed = System.nanoTime();
    System.out.println("PartitionCoreTest seed=" + seed);
    Random random = new Random(seed);
    for (int round = 0; round < 20; round++) {
      Path roundDir = Files.createDirectory(dir.resolve("round-" + round));
      List<PartitionCommand> commands = randomCommands(random, 50 + random.nextInt(150));
      int snapshotAt = random.nextInt(commands.size());
      List<PartitionReply> replies = new ArrayList<>();
      PartitionSnapshot atSnapshot = null;
      PartitionSnapshot finalState;
      long storedBytes;
      try (PartitionLog log = PartitionLog.open(roundDir, SMALL_SEGMENTS)) {
        PartitionCore core = new PartitionCore(log);
        for (int i = 0; i < commands.size(); i++) {
          replies.add(core.apply(commands.get(i), i + 1));
          if (i == snapshotAt) {
            atSnapshot = core.snapshot(i + 1);
          }
        }
        finalState = core.snapshot(commands.size());
        storedBytes = log.sizeInBytes();
        assertThat(log.nextOffset()).as("seed %d", seed).isEqualTo(core.nextOffset());
      }
      // Restart without a snapshot: Ratis replays from the first entry.
      try (PartitionLog log = PartitionLog.open(roundDir, SMALL_SEGMENTS)) {
        PartitionCore core = new PartitionCore(log);
        for (int i = 0; i < commands.size(); i++) {
          assertThat(core.apply(commands.get(i), i + 1)).as("seed %d entry %d", seed, i + 1).isEqualTo(replies.get(i));
        }
        assertThat(core.snapshot(commands.size())).as("seed %d", seed).isEqualTo(finalState);
        assertThat(log.sizeInBytes()).as("nothing stored twice, seed %d", seed).isEqualTo(storedBytes);
      }
      // Restart from the snapshot: replay only what follows it.
      try (PartitionLog log = PartitionLog.open(roundDir, SMALL_SEGMENTS)) {
        PartitionCore core = PartitionCore.restore(log, atSnapshot);
        for (int i = snapshotAt + 1; i < commands.size(); i++) {
          assertThat(core.apply(commands.get(i), i + 1)).as("seed %d entry %d", seed, i + 1).isEqualTo(replies.get(i));
        }
        assertThat(core.snapshot(commands.size())).as("seed %d", seed).isEqualTo(finalState);
        assertThat(log.sizeInBytes()).isEqualTo(storedBytes);
      }
    }
  }

  private static PartitionCommand commit(String group, long generation, long offset, long time) {
    return PartitionCommand.newBuilder().setLeaderTimeMs(time).setCommitOffset(CommitOffset.newBuilder()
        .setGroup(group).setMemberId("m-" + generation).setGeneration(generation).setOffset(offset)).build();
  }

  private static PartitionCommand claim(String group, String member, long generation) {
    return PartitionCommand.newBuilder().setClaimPartition(ClaimPartition.newBuilder()
        .setGroup(group).setMemberId(member).setGeneration(generation)).build();
  }

  @Test
  void shouldFenceCommitsFromGenerationsOlderThanTheLastClaim() throws IOException {
    try (PartitionLog log = PartitionLog.open(dir, SMALL_SEGMENTS)) {
      PartitionCore core = new PartitionCore(log);
      core.apply(append(-1, 0, 0, 10, 1), 1);
      assertThat(core.apply(commit("g", 3, 4, 2), 2).getStatus()).isEqualTo(PartitionStatus.DONE);
      PartitionReply claimed = core.apply(claim("g", "b", 5), 3);
      assertThat(claimed.getStatus()).isEqualTo(PartitionStatus.DONE);
      assertThat(claimed.getCommittedOffset()).isEqualTo(4);
      PartitionReply zombie = core.apply(commit("g", 4, 9, 3), 4);
      assertThat(zombie.getStatus()).isEqualTo(PartitionStatus.GENERATION_FENCED);
      assertThat(core.groupOffset("g").getOffset()).isEqualTo(4);
      assertThat(core.apply(claim("g", "a", 4), 5).getStatus()).isEqualTo(PartitionStatus.GENERATION_FENCED);
      assertThat(core.apply(commit("g", 6, 7, 4), 6).getStatus()).isEqualTo(PartitionStatus.DONE);
      assertThat(core.groupOffset("g").getGeneration()).isEqualTo(6);
      // Another group is independent.
      assertThat(core.apply(commit("h", 1, 2, 4), 7).getStatus()).isEqualTo(PartitionStatus.DONE);
    }
  }

  @Test
  void shouldRefuseOffsetsBeyondTheHighWatermarkWithoutChangingAnything() throws IOException {
    try (PartitionLog log = PartitionLog.open(dir, SMALL_SEGMENTS)) {
      PartitionCore core = new PartitionCore(log);
      core.apply(append(-1, 0, 0, 10, 1), 1);
      assertThat(core.apply(commit("g", 1, 10, 2), 2).getStatus()).isEqualTo(PartitionStatus.DONE);
      assertThat(core.apply(commit("g", 1, 11, 2), 3).getStatus()).isEqualTo(PartitionStatus.OFFSET_OUT_OF_RANGE);
      assertThat(core.apply(commit("g", 1, -1, 2), 4).getStatus()).isEqualTo(PartitionStatus.OFFSET_OUT_OF_RANGE);
      assertThat(core.groupOffset("g").getOffset()).isEqualTo(10);
    }
  }

  @Test
  void aReadBarrierCommitsAndChangesNothing() throws IOException {
    try (PartitionLog log = PartitionLog.open(dir, SMALL_SEGMENTS)) {
      PartitionCore core = new PartitionCore(log);
      core.apply(append(-1, 0, 0, 10, 1), 1);
      core.apply(commit("g", 2, 7, 2), 2);
      var before = core.snapshot(2);
      PartitionReply reply = core.apply(PartitionCommand.newBuilder().setLeaderTimeMs(2).setPartition(0)
          .setReadBarrier(io.raftmq.raft.proto.ReadBarrier.getDefaultInstance()).build(), 3);
      assertThat(reply.getStatus()).isEqualTo(PartitionStatus.DONE);
      assertThat(core.snapshot(2)).as("no state changed").isEqualTo(before);
      // A replica that predates the command sees an unknown one, which changes nothing either.
      PartitionReply unknown = core.apply(PartitionCommand.newBuilder().setLeaderTimeMs(2).build(), 4);
      assertThat(unknown.getStatus()).isEqualTo(PartitionStatus.INVALID_COMMAND);
      assertThat(core.snapshot(2)).isEqualTo(before);
    }
  }

  @Test
  void shouldKeepGroupOffsetsInTheSnapshot() throws IOException {
    try (PartitionLog log = PartitionLog.open(dir, SMALL_SEGMENTS)) {
      PartitionCore core = new PartitionCore(log);
      core.apply(append(-1, 0, 0, 10, 1), 1);
      core.apply(commit("g", 2, 7, 2), 2);
      PartitionCore restored = PartitionCore.restore(log, core.snapshot(2));
      assertThat(restored.groupOffset("g").getOffset()).isEqualTo(7);
      assertThat(restored.apply(commit("g", 1, 9, 3), 3).getStatus()).isEqualTo(PartitionStatus.GENERATION_FENCED);
      restored.apply(PartitionCommand.newBuilder().setDeleteGroupOffset(
          io.raftmq.raft.proto.DeleteGroupOffset.newBuilder().setGroup("g")).build(), 4);
      assertThat(restored.groupOffset("g")).isNull();
    }
  }

  @Test
  void aQueueBatchAppliesLikeItsCommandsOneByOne() throws IOException {
    Random random = new Random(11);
    try (PartitionLog logA = PartitionLog.open(dir.resolve("a"), SMALL_SEGMENTS);
        PartitionLog logB = PartitionLog.open(dir.resolve("b"), SMALL_SEGMENTS)) {
      PartitionCore single = new PartitionCore(logA);
      PartitionCore batched = new PartitionCore(logB);
      PartitionCommand configure = PartitionCommand.newBuilder().setLeaderTimeMs(1).setQueue(
          io.raftmq.raft.proto.QueueCommand.newBuilder().setGroup("q").setConfigure(
              io.raftmq.raft.proto.QueueConfig.newBuilder().setMaxInFlight(8).setMaxDeliveries(3))).build();
      long index = 1;
      single.apply(configure, index);
      batched.apply(configure, index);
      index++;
      single.apply(append(-1, 0, 0, 30, 1), index);
      batched.apply(append(-1, 0, 0, 30, 1), index);
      long time = 2;
      int batches = 0;
      for (int round = 0; round < 300; round++) {
        time += random.nextInt(3);
        int n = 1 + random.nextInt(6);
        io.raftmq.raft.proto.QueueBatch.Builder batch = io.raftmq.raft.proto.QueueBatch.newBuilder();
        List<PartitionReply> one = new ArrayList<>();
        for (int i = 0; i < n; i++) {
          PartitionCommand c = randomQueueCommand(random, time, random.nextInt(40) == 0);
          if (random.nextInt(3) == 0) {
            // An acquire that takes new records (at the group's end, as the leader would propose it).
            long end = single.queueGroup("q").stats().end();
            c = PartitionCommand.newBuilder().setLeaderTimeMs(time).setQueue(io.raftmq.raft.proto.QueueCommand
                .newBuilder().setGroup("q").setAcquire(io.raftmq.raft.proto.Acquire.newBuilder()
                    .setConsumer("c" + random.nextInt(2)).setMax(3).setLeaseMs(2).setFirstNewOffset(end)
                    .setNewRecordCount((int) Math.min(4, 30 - end)))).build();
          }
          index++;
          one.add(single.apply(c, index));
          batch.addCommands(c.getQueue());
        }
        index++;
        PartitionReply together = batched.apply(PartitionCommand.newBuilder().setLeaderTimeMs(time)
            .setQueueBatch(batch).build(), index);
        assertThat(together.getStatus()).isEqualTo(PartitionStatus.DONE);
        assertThat(together.getBatchRepliesList()).as("round %d", round).isEqualTo(one);
        batches++;
      }
      assertThat(batches).isEqualTo(300);
      assertThat(batched.snapshot(index).getQueueGroupsList()).isEqualTo(single.snapshot(index).getQueueGroupsList());
      QueueGroup.Stats stats = single.queueGroup("q").stats();
      assertThat(stats.end()).as("took in every record").isEqualTo(30);
      assertThat(stats.acked() + stats.redelivered() + stats.dead()).as("settled some").isPositive();
    }
  }

  /** Queue commands on random offsets (many refused: that must be deterministic too). */
  private static PartitionCommand randomQueueCommand(Random random, long time, boolean configure) {
    io.raftmq.raft.proto.QueueCommand.Builder q = io.raftmq.raft.proto.QueueCommand.newBuilder().setGroup("q");
    String consumer = "c" + random.nextInt(2);
    long offset = random.nextInt(30);
    switch (configure ? -1 : random.nextInt(6)) {
      case -1 -> q.setConfigure(io.raftmq.raft.proto.QueueConfig.newBuilder().setMaxInFlight(1 + random.nextInt(5))
          .setMaxDeliveries(1 + random.nextInt(3)).setOrderingKey(random.nextBoolean()).setStrict(random.nextBoolean())
          .setMaxRedrives(random.nextInt(3)));
      case 0 -> {
        io.raftmq.raft.proto.Acquire.Builder a = io.raftmq.raft.proto.Acquire.newBuilder().setConsumer(consumer)
            .setMax(1 + random.nextInt(4)).setLeaseMs(1 + random.nextInt(5)).setFirstNewOffset(random.nextInt(10));
        int k = random.nextInt(5);
        a.setNewRecordCount(k);
        boolean keyed = random.nextBoolean();
        for (int j = 0; keyed && j < k; j++) {
          a.addNewKeyHashes(random.nextInt(3));
        }
        q.setAcquire(a);
      }
      case 1 -> q.setAck(io.raftmq.raft.proto.QueueSettle.newBuilder().setConsumer(consumer).addOffsets(offset));
      case 2 -> q.setNack(io.raftmq.raft.proto.Nack.newBuilder().setConsumer(consumer).addOffsets(
          io.raftmq.raft.proto.OffsetDelay.newBuilder().setOffset(offset).setDelayMs(random.nextInt(3))));
      case 3 -> q.setReject(io.raftmq.raft.proto.Reject.newBuilder().setConsumer(consumer).addOffsets(offset));
      case 4 -> q.setExpire(io.raftmq.raft.proto.Expire.newBuilder().addOffsets(
          io.raftmq.raft.proto.OffsetDelay.newBuilder().setOffset(offset).setDelayMs(random.nextInt(3))));
      default -> q.setRedrive(io.raftmq.raft.proto.Redrive.newBuilder().setLimit(random.nextInt(3)));
    }
    return PartitionCommand.newBuilder().setLeaderTimeMs(time).setQueue(q).build();
  }

  /** A mix of plain appends, idempotent producers in order, retries of recent batches, gaps and old epochs. */
  private static List<PartitionCommand> randomCommands(Random random, int n) {
    List<PartitionCommand> out = new ArrayList<>();
    int[] nextSeq = new int[3];
    int[] epoch = new int[3];
    List<PartitionCommand> sent = new ArrayList<>();
    long time = 1;
    for (int i = 0; i < n; i++) {
      time += random.nextInt(3);
      int kind = random.nextInt(16);
      int p = random.nextInt(3);
      int count = 1 + random.nextInt(5);
      PartitionCommand c;
      if (kind < 2) {
        c = append(-1, 0, 0, count, time);
      } else if (kind < 6) {
        c = append(p, epoch[p], nextSeq[p], count, time);
        nextSeq[p] += count;
      } else if (kind < 8 && !sent.isEmpty()) {
        c = sent.get(Math.max(0, sent.size() - 1 - random.nextInt(Math.min(7, sent.size()))));
      } else if (kind >= 13) {
        c = randomQueueCommand(random, time, i == 0 || kind == 15 && random.nextInt(20) == 0);
      } else if (kind >= 10) {
        String group = "g" + random.nextInt(3);
        long generation = random.nextInt(4);
        c = kind == 12
            ? PartitionCommand.newBuilder().setLeaderTimeMs(time).setClaimPartition(
                ClaimPartition.newBuilder().setGroup(group).setMemberId("m").setGeneration(generation)).build()
            : commit(group, generation, random.nextInt(40), time);
      } else if (kind < 9) {
        c = append(p, epoch[p], nextSeq[p] + 1 + random.nextInt(3), count, time);
      } else {
        epoch[p]++;
        nextSeq[p] = 0;
        c = append(p, epoch[p] - 1 - random.nextInt(1), 0, count, time);
      }
      sent.add(c);
      out.add(c);
    }
    return out;
  }
}
