package io.raftmq.broker;

import static org.assertj.core.api.Assertions.assertThat;

import io.raftmq.protocol.ErrorCode;
import io.raftmq.raft.proto.Expire;
import io.raftmq.raft.proto.PartitionCommand;
import io.raftmq.raft.proto.PartitionReply;
import io.raftmq.raft.proto.PartitionStatus;
import io.raftmq.raft.proto.QueueCommand;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The group commit of queue commands, against a stand-in for the Raft group that commits on demand. */
class QueueCommandBatcherTest {
  private final ExecutorService executor = Executors.newSingleThreadExecutor();
  /** What was proposed, in order, and the futures the stand-in hands back. */
  private final List<PartitionCommand> proposed = new ArrayList<>();
  private final List<CompletableFuture<PartitionReply>> pending = new ArrayList<>();

  @AfterEach
  void stop() {
    executor.shutdownNow();
  }

  /** A batcher with two entries in flight (the pipelining cases); see {@link #batcher(int)}. */
  private QueueCommandBatcher batcher() {
    return batcher(2);
  }

  private QueueCommandBatcher batcher(int maxEntriesInFlight) {
    return new QueueCommandBatcher(3, maxEntriesInFlight, this::propose, executor);
  }

  /** The stand-in for the Raft group: records the command and hands back a future committed on demand. */
  private CompletableFuture<PartitionReply> propose(PartitionCommand c) {
    synchronized (proposed) {
      proposed.add(c);
      CompletableFuture<PartitionReply> f = new CompletableFuture<>();
      pending.add(f);
      return f;
    }
  }

  private static QueueCommand cmd(String group) {
    return QueueCommand.newBuilder().setGroup(group).setExpire(Expire.getDefaultInstance()).build();
  }

  private static PartitionReply done(String message) {
    return PartitionReply.newBuilder().setStatus(PartitionStatus.DONE).setMessage(message).build();
  }

  /** Commits entry {@code i} the way apply would answer it: one reply per command, naming its group. */
  private void commit(int i) {
    PartitionCommand c = proposed.get(i);
    PartitionReply reply;
    if (c.hasQueue()) {
      reply = done(c.getQueue().getGroup());
    } else {
      PartitionReply.Builder b = done("batch").toBuilder();
      c.getQueueBatch().getCommandsList().forEach(q -> b.addBatchReplies(done(q.getGroup())));
      reply = b.build();
    }
    pending.get(i).complete(reply);
  }

  /**
   * Ratis fails a stepping-down leader's pending entries on the thread that holds the division's lock
   * (here: the stand-in's lock, which propose takes too, as Ratis' append does). Finishing such an entry
   * there, which takes the batcher's lock to propose the next one, deadlocked against a submit that held
   * the batcher's lock while its proposal waited for the division's: the division stopped for good
   * (seen in the chaos suite as a follower that never caught up again). Failures finish on the executor.
   */
  @Test
  void anEntryFailedUnderTheDivisionsLockDoesNotDeadlockWithAProposalWaitingForIt() throws Exception {
    QueueCommandBatcher b = batcher();
    CompletableFuture<PartitionReply> first = b.submit(cmd("a"));
    java.util.concurrent.CountDownLatch holding = new java.util.concurrent.CountDownLatch(1);
    Thread[] proposer = new Thread[1];
    Thread stepDown = new Thread(() -> {
      synchronized (proposed) {
        holding.countDown();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (proposer[0] == null || proposer[0].getState() != Thread.State.BLOCKED) {
          if (System.nanoTime() > deadline) {
            return;
          }
          Thread.onSpinWait();
        }
        pending.get(0).completeExceptionally(new IllegalStateException("not the leader any more"));
      }
    }, "step-down");
    proposer[0] = new Thread(() -> {
      try {
        holding.await();
      } catch (InterruptedException e) {
        return;
      }
      b.submit(cmd("b"));
    }, "proposer");
    stepDown.setDaemon(true);
    proposer[0].setDaemon(true);
    stepDown.start();
    proposer[0].start();
    stepDown.join(TimeUnit.SECONDS.toMillis(20));
    proposer[0].join(TimeUnit.SECONDS.toMillis(20));
    assertThat(stepDown.isAlive() || proposer[0].isAlive()).as("deadlocked").isFalse();
    assertThat(first).failsWithin(5, TimeUnit.SECONDS).withThrowableThat()
        .havingRootCause().withMessage("not the leader any more");
    synchronized (proposed) {
      assertThat(proposed).as("the second command was proposed").hasSize(2);
    }
  }

  @Test
  void sendsAloneWhileThePipelineHasRoomThenGathersWhatWaits() throws Exception {
    QueueCommandBatcher b = batcher();
    List<CompletableFuture<PartitionReply>> replies = new ArrayList<>();
    for (int i = 0; i < 7; i++) {
      replies.add(b.submit(cmd("g" + i)));
    }
    assertThat(proposed).hasSize(2);
    assertThat(proposed.get(0).getQueue().getGroup()).isEqualTo("g0");
    assertThat(proposed.get(0).getPartition()).isEqualTo(3);
    assertThat(proposed.get(1).getQueue().getGroup()).isEqualTo("g1");

    commit(0); // frees a slot: the five that waited go out as one entry, in order
    assertThat(proposed).hasSize(3);
    assertThat(proposed.get(2).getQueueBatch().getCommandsList()).extracting(QueueCommand::getGroup)
        .containsExactly("g2", "g3", "g4", "g5", "g6");
    assertThat(replies.get(0).get(1, TimeUnit.SECONDS).getMessage()).isEqualTo("g0");
    assertThat(replies.get(2)).isNotDone();

    commit(2);
    commit(1);
    for (int i = 0; i < 7; i++) {
      assertThat(replies.get(i).get(1, TimeUnit.SECONDS).getMessage()).as("reply %d", i).isEqualTo("g" + i);
    }
    assertThat(b.sent()).containsExactly(3, 7);
  }

  @Test
  void theBrokersBatcherHasOneEntryInFlightAndSendsWhatWaitedBeforeTheCommittedEntrysCallersRun()
      throws Exception {
    QueueCommandBatcher b = new QueueCommandBatcher(3, this::propose, executor);
    CompletableFuture<PartitionReply> first = b.submit(cmd("g0"));
    List<CompletableFuture<PartitionReply>> waited = new ArrayList<>();
    for (int i = 1; i < 5; i++) {
      waited.add(b.submit(cmd("g" + i)));
    }
    assertThat(proposed).as("one entry in flight").hasSize(1);
    // The first command's caller sees the next entry already proposed when its reply arrives.
    int[] proposedWhenAnswered = new int[1];
    first.thenRun(() -> {
      synchronized (proposed) {
        proposedWhenAnswered[0] = proposed.size();
      }
    });
    commit(0);
    assertThat(first.get(1, TimeUnit.SECONDS).getMessage()).isEqualTo("g0");
    assertThat(proposedWhenAnswered[0]).isEqualTo(2);
    assertThat(proposed.get(1).getQueueBatch().getCommandsList()).extracting(QueueCommand::getGroup)
        .containsExactly("g1", "g2", "g3", "g4");
    // Arriving while that entry is in flight: waits for it.
    CompletableFuture<PartitionReply> late = b.submit(cmd("g5"));
    assertThat(proposed).hasSize(2);
    commit(1);
    for (int i = 0; i < 4; i++) {
      assertThat(waited.get(i).get(1, TimeUnit.SECONDS).getMessage()).isEqualTo("g" + (i + 1));
    }
    assertThat(proposed).hasSize(3);
    assertThat(proposed.get(2).getQueue().getGroup()).isEqualTo("g5");
    commit(2);
    assertThat(late.get(1, TimeUnit.SECONDS).getMessage()).isEqualTo("g5");
    assertThat(b.sent()).containsExactly(3, 6);
  }

  @Test
  void aFailedEntryFailsEachOfItsCommandsAndTheNextEntryStillGoes() throws Exception {
    QueueCommandBatcher b = batcher();
    b.submit(cmd("a"));
    b.submit(cmd("b"));
    CompletableFuture<PartitionReply> c = b.submit(cmd("c"));
    CompletableFuture<PartitionReply> d = b.submit(cmd("d"));
    pending.get(0).completeExceptionally(new PartitionCommands.Failure(ErrorCode.NOT_LEADER, "moved", null));
    // A failed entry finishes on the executor, and the next one goes from there.
    org.awaitility.Awaitility.await().atMost(10, TimeUnit.SECONDS).untilAsserted(() -> {
      synchronized (proposed) {
        assertThat(proposed).hasSize(3);
      }
    });
    pending.get(2).completeExceptionally(new PartitionCommands.Failure(ErrorCode.NOT_LEADER, "moved", null));
    org.awaitility.Awaitility.await().atMost(10, TimeUnit.SECONDS).until(() -> c.isDone() && d.isDone());
    assertThat(c).isCompletedExceptionally();
    assertThat(d).isCompletedExceptionally();
    assertThat(PartitionCommands.unwrap(catchFailure(d)).code).isEqualTo(ErrorCode.NOT_LEADER);
  }

  @Test
  void aCommandRefusedInsideABatchFailsAloneThroughRequireDone() throws Exception {
    QueueCommandBatcher b = batcher();
    b.submit(cmd("x"));
    b.submit(cmd("y"));
    CompletableFuture<PartitionReply> ok = b.submit(cmd("ok")).thenApply(QueueCommandBatcher::requireDone);
    CompletableFuture<PartitionReply> bad = b.submit(cmd("bad")).thenApply(QueueCommandBatcher::requireDone);
    commit(0);
    PartitionReply.Builder reply = done("batch").toBuilder().addBatchReplies(done("ok"))
        .addBatchReplies(PartitionReply.newBuilder().setStatus(PartitionStatus.INVALID_COMMAND)
            .setMessage("unknown queue group 'bad'"));
    pending.get(2).complete(reply.build());
    assertThat(ok.get(1, TimeUnit.SECONDS).getMessage()).isEqualTo("ok");
    PartitionCommands.Failure f = PartitionCommands.unwrap(catchFailure(bad));
    assertThat(f.code).isEqualTo(ErrorCode.INVALID_REQUEST);
    assertThat(f.getMessage()).contains("unknown queue group");
  }

  @Test
  void aBatchAnswerThatDoesNotFitTheBatchFailsEveryCommandInIt() throws Exception {
    QueueCommandBatcher b = batcher();
    b.submit(cmd("x"));
    b.submit(cmd("y"));
    CompletableFuture<PartitionReply> p = b.submit(cmd("p"));
    CompletableFuture<PartitionReply> q = b.submit(cmd("q"));
    commit(0); // entry 2: p, q
    CompletableFuture<PartitionReply> r = b.submit(cmd("r"));
    CompletableFuture<PartitionReply> s = b.submit(cmd("s"));
    commit(1); // entry 3: r, s
    assertThat(proposed.get(2).getQueueBatch().getCommandsCount()).isEqualTo(2);
    assertThat(proposed.get(3).getQueueBatch().getCommandsCount()).isEqualTo(2);
    // DONE with one reply for two commands: nobody gets a reply that may be another's.
    pending.get(2).complete(done("batch").toBuilder().addBatchReplies(done("p")).build());
    assertThat(PartitionCommands.unwrap(catchFailure(p)).code).isEqualTo(ErrorCode.UNKNOWN_SERVER_ERROR);
    assertThat(PartitionCommands.unwrap(catchFailure(q)).code).isEqualTo(ErrorCode.UNKNOWN_SERVER_ERROR);
    // The entry refused as a whole (a replica that does not know batches): each command fails with why.
    pending.get(3).complete(PartitionReply.newBuilder().setStatus(PartitionStatus.INVALID_COMMAND)
        .setMessage("unknown command QUEUE_BATCH").build());
    PartitionCommands.Failure f = PartitionCommands.unwrap(catchFailure(s));
    assertThat(f.code).isEqualTo(ErrorCode.INVALID_REQUEST);
    assertThat(f.getMessage()).contains("QUEUE_BATCH");
    assertThat(catchFailure(r)).isNotNull();
  }

  @Test
  void anEntryThatFailsAtOnceCompletesItsCallersOutsideTheLock() throws Exception {
    Thread[] completedOn = new Thread[1];
    boolean[] heldLock = new boolean[1];
    QueueCommandBatcher[] self = new QueueCommandBatcher[1];
    self[0] = new QueueCommandBatcher(0, c -> CompletableFuture.failedFuture(
        new PartitionCommands.Failure(ErrorCode.NOT_LEADER, "not here", null)), executor);
    // Hold the executor so that the failure cannot be delivered before the callback is attached.
    java.util.concurrent.CountDownLatch hold = new java.util.concurrent.CountDownLatch(1);
    executor.execute(() -> {
      try {
        hold.await();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    });
    CompletableFuture<PartitionReply> submitted = self[0].submit(cmd("a"));
    assertThat(submitted).isNotDone();
    CompletableFuture<PartitionReply> f = submitted.whenComplete((r, e) -> {
      completedOn[0] = Thread.currentThread();
      heldLock[0] = Thread.holdsLock(self[0]);
    });
    hold.countDown();
    catchFailure(f);
    assertThat(heldLock[0]).isFalse();
    assertThat(completedOn[0]).isNotEqualTo(Thread.currentThread());
    // The failed entry gave its slot back: the next command is proposed too (and fails the same way).
    assertThat(catchFailure(self[0].submit(cmd("b")))).isNotNull();
    assertThat(self[0].sent()[0]).isEqualTo(2);
  }

  private static Throwable catchFailure(CompletableFuture<?> f) throws InterruptedException {
    try {
      f.get(5, TimeUnit.SECONDS);
      throw new AssertionError("expected a failure");
    } catch (java.util.concurrent.ExecutionException e) {
      return e.getCause();
    } catch (java.util.concurrent.TimeoutException e) {
      throw new AssertionError("not completed", e);
    }
  }
}
