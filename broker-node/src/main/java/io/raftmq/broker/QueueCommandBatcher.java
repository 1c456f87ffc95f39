package io.raftmq.broker;

import io.raftmq.protocol.ErrorCode;
import io.raftmq.raft.proto.PartitionCommand;
import io.raftmq.raft.proto.PartitionReply;
import io.raftmq.raft.proto.PartitionStatus;
import io.raftmq.raft.proto.QueueBatch;
import io.raftmq.raft.proto.QueueCommand;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.function.Function;

/**
 * Group commit of one partition's queue commands on its leader: a command proposed while fewer than
 * {@code maxEntriesInFlight} entries of the partition's queue commands are in the Raft pipeline
 * goes out at once, alone; the ones that arrive while the pipeline is full wait, and the first entry to
 * commit sends everything that waited (up to {@link #MAX_COMMANDS} commands or about
 * {@link #MAX_BYTES}) as one {@link QueueBatch} entry. So an idle partition adds no latency, and a busy
 * one writes, replicates, fsyncs and applies one entry for the receives and settles of all its
 * consumers instead of one each. Commands are proposed in the order they were submitted, which is the
 * order they apply in (the receive path's pipelined acquires rely on it). Thread-safe.
 *
 * <p>The broker keeps {@link #MAX_ENTRIES_IN_FLIGHT} = 1: every Raft entry costs the three nodes
 * about as much CPU (appends and commit updates to two followers, three log writes and fsyncs, three
 * applies) as the queue handler spends on thousands of messages, and on this project's 2-core bench
 * a second entry in flight bought no latency worth that: 8 consumers on 4 partitions made ~8 % more
 * entries per message with two, and the queue/stream throughput medians of 30-run invocations were
 * 0.49 - 0.55 with one (four invocations) against 0.42 - 0.49 with two (README, Performance, tenth
 * session).
 */
final class QueueCommandBatcher {
  static final int MAX_ENTRIES_IN_FLIGHT = 1;
  static final int MAX_COMMANDS = 256;
  static final int MAX_BYTES = 4 << 20;

  /** One submitted command and its caller's future (its own reply out of the batch's). */
  private record Waiting(QueueCommand command, int size, CompletableFuture<PartitionReply> reply) {}

  private final int partition;
  /** Entries of this partition's queue commands proposed and not yet committed or failed, at most. */
  private final int maxEntriesInFlight;
  /** Proposes a whole command (stamped with the leader's time) and returns its committed reply. */
  private final Function<PartitionCommand, CompletableFuture<PartitionReply>> propose;
  /** Runs the completion of an entry that failed at once (inside the lock). */
  private final Executor executor;
  private final ArrayDeque<Waiting> waiting = new ArrayDeque<>();
  private int inFlight;
  private long entriesSent;
  private long commandsSent;

  QueueCommandBatcher(int partition, Function<PartitionCommand, CompletableFuture<PartitionReply>> propose,
      Executor executor) {
    this(partition, MAX_ENTRIES_IN_FLIGHT, propose, executor);
  }

  QueueCommandBatcher(int partition, int maxEntriesInFlight,
      Function<PartitionCommand, CompletableFuture<PartitionReply>> propose, Executor executor) {
    if (maxEntriesInFlight < 1) {
      throw new IllegalArgumentException("maxEntriesInFlight must be positive: " + maxEntriesInFlight);
    }
    this.maxEntriesInFlight = maxEntriesInFlight;
    this.partition = partition;
    this.propose = propose;
    this.executor = executor;
  }

  /**
   * Proposes {@code command}, alone or with others; the future gets its own reply once the entry that
   * holds it commits, or the entry's failure.
   */
  CompletableFuture<PartitionReply> submit(QueueCommand command) {
    CompletableFuture<PartitionReply> reply = new CompletableFuture<>();
    synchronized (this) {
      waiting.add(new Waiting(command, command.getSerializedSize(), reply));
      if (inFlight < maxEntriesInFlight) {
        sendLocked();
      }
    }
    return reply;
  }

  /** Entries and commands proposed so far (diagnostics and tests). */
  synchronized long[] sent() {
    return new long[] {entriesSent, commandsSent};
  }

  /** Proposes what waits as one entry. Under the lock, so that entries are proposed in order. */
  private void sendLocked() {
    if (waiting.isEmpty()) {
      return;
    }
    List<Waiting> batch = new ArrayList<>(Math.min(waiting.size(), MAX_COMMANDS));
    long bytes = 0;
    while (!waiting.isEmpty() && batch.size() < MAX_COMMANDS
        && (batch.isEmpty() || bytes + waiting.peek().size() <= MAX_BYTES)) {
      Waiting w = waiting.poll();
      bytes += w.size();
      batch.add(w);
    }
    PartitionCommand.Builder c = PartitionCommand.newBuilder().setLeaderTimeMs(System.currentTimeMillis())
        .setPartition(partition);
    if (batch.size() == 1) {
      c.setQueue(batch.get(0).command());
    } else {
      QueueBatch.Builder b = QueueBatch.newBuilder();
      for (Waiting w : batch) {
        b.addCommands(w.command());
      }
      c.setQueueBatch(b);
    }
    inFlight++;
    entriesSent++;
    commandsSent += batch.size();
    CompletableFuture<PartitionReply> proposed;
    try {
      proposed = propose.apply(c.build());
    } catch (RuntimeException e) {
      proposed = CompletableFuture.failedFuture(e);
    }
    // Callers' futures are never completed under the lock (their continuations take other locks, and
    // submit is called under those): an entry that failed at once is finished on the executor. So is
    // every failed entry: Ratis fails a stepping-down leader's pending entries on the thread holding the
    // division's lock, and finishing there (this lock, then a proposal) deadlocks against a submit that
    // holds this lock while its proposal waits for the division's. Committed entries complete on the
    // apply thread, which holds no lock of Ratis': they finish there.
    proposed.whenComplete((reply, e) -> {
      if (e != null || Thread.holdsLock(this)) {
        try {
          executor.execute(() -> finish(batch, reply, e));
        } catch (RejectedExecutionException shuttingDown) {
          new Thread(() -> finish(batch, reply, e), "queue-batch-finish").start();
        }
      } else {
        finish(batch, reply, e);
      }
    });
  }

  private void finish(List<Waiting> batch, PartitionReply reply, Throwable error) {
    // What waited goes out before this entry's callers run: their continuations read the log and send
    // the leased records, and with one entry in flight the next would wait for all of that.
    synchronized (this) {
      inFlight--;
      sendLocked();
    }
    deliver(batch, reply, error);
  }

  private static void deliver(List<Waiting> batch, PartitionReply reply, Throwable error) {
    if (error != null) {
      batch.forEach(w -> w.reply().completeExceptionally(error));
      return;
    }
    if (batch.size() == 1) {
      batch.get(0).reply().complete(reply);
      return;
    }
    if (reply.getBatchRepliesCount() != batch.size()) {
      // Not one reply per command: the entry as a whole was refused (its status says why), or the answer
      // does not fit the entry. Either way no command may take another's reply (or a DONE with no leases).
      Throwable failure = reply.getStatus() != PartitionStatus.DONE
          ? new PartitionCommands.Failure(ErrorCode.INVALID_REQUEST, reply.getMessage(), null)
          : new PartitionCommands.Failure(ErrorCode.UNKNOWN_SERVER_ERROR, "a batch of " + batch.size()
              + " queue commands got " + reply.getBatchRepliesCount() + " replies", null);
      batch.forEach(w -> w.reply().completeExceptionally(failure));
      return;
    }
    for (int i = 0; i < batch.size(); i++) {
      batch.get(i).reply().complete(reply.getBatchReplies(i));
    }
  }

  /** A reply other than DONE as the failure the queue handler reports (INVALID_REQUEST with its message). */
  static PartitionReply requireDone(PartitionReply reply) {
    if (reply.getStatus() != PartitionStatus.DONE) {
      throw new PartitionCommands.Failure(ErrorCode.INVALID_REQUEST, reply.getMessage(), null);
    }
    return reply;
  }
}
