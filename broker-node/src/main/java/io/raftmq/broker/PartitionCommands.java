package io.raftmq.broker;

import io.raftmq.protocol.ErrorCode;
import io.raftmq.protocol.LeaderHint;
import io.raftmq.raft.proto.PartitionCommand;
import io.raftmq.raft.proto.PartitionReply;
import io.raftmq.raft.proto.PartitionStatus;
import io.raftmq.raft.proto.ReadBarrier;
import io.raftmq.raft.proto.TopicRecord;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.ratis.protocol.RaftClientReply;
import org.apache.ratis.protocol.exceptions.LeaderNotReadyException;
import org.apache.ratis.protocol.exceptions.LeaderSteppingDownException;
import org.apache.ratis.protocol.exceptions.NotLeaderException;
import org.apache.ratis.protocol.exceptions.ResourceUnavailableException;

/**
 * Proposes a (non-produce) command to a partition's Raft group through this node, which must lead it,
 * and maps every way that can fail to a protocol error with a leader hint.
 */
final class PartitionCommands {
  /** A command that did not commit, as the client should see it. */
  static final class Failure extends RuntimeException {
    final ErrorCode code;
    final LeaderHint leader;

    Failure(ErrorCode code, String message, LeaderHint leader) {
      super(message, null, false, false);
      this.code = code;
      this.leader = leader;
    }
  }

  private final BrokerContext ctx;

  PartitionCommands(BrokerContext ctx) {
    this.ctx = ctx;
  }

  /** The committed command's reply, or a {@link Failure}. */
  CompletableFuture<PartitionReply> propose(TopicRecord topic, int partition, PartitionCommand command, long timeoutMs) {
    return propose(ctx.partitions.get(topic.getName(), partition), topic, partition, command, timeoutMs);
  }

  /**
   * {@link #propose(TopicRecord, int, PartitionCommand, long)} through replica {@code lp} (null: none
   * here), as the caller looked it up: a caller that reads that replica's state after the command
   * committed reads the state machine that applied it, not one a division restart replaced meanwhile.
   */
  CompletableFuture<PartitionReply> propose(PartitionDirectory.LocalPartition lp, TopicRecord topic, int partition,
      PartitionCommand command, long timeoutMs) {
    if (lp == null || !lp.isLeader()) {
      return CompletableFuture.failedFuture(new Failure(ErrorCode.NOT_LEADER, "node " + ctx.config.nodeId()
          + " does not lead " + topic.getName() + "-" + partition, ctx.leaderHintFor(topic, partition)));
    }
    if (!lp.isLeaderReady()) {
      return CompletableFuture.failedFuture(new Failure(ErrorCode.LEADER_NOT_AVAILABLE,
          "the new leader is not ready yet", null));
    }
    CompletableFuture<RaftClientReply> submitted;
    try {
      submitted = ctx.host.submit(lp.division, ctx.host.nextCallId(), command.toByteArray());
    } catch (Exception e) {
      return CompletableFuture.failedFuture(failure(e));
    }
    CompletableFuture<PartitionReply> result = new CompletableFuture<>();
    submitted.whenComplete((reply, e) -> {
      if (e != null) {
        result.completeExceptionally(failure(e));
      } else if (!reply.isSuccess()) {
        result.completeExceptionally(failure(reply.getNotLeaderException() != null
            ? reply.getNotLeaderException() : reply.getException()));
      } else {
        try {
          result.complete(PartitionReply.parseFrom(reply.getMessage().getContent().asReadOnlyByteBuffer()));
        } catch (Exception ex) {
          result.completeExceptionally(new Failure(ErrorCode.UNKNOWN_SERVER_ERROR, "undecodable reply: " + ex, null));
        }
      }
    });
    ctx.timer.schedule(() -> result.completeExceptionally(new Failure(ErrorCode.REQUEST_TIMED_OUT,
        "not committed within " + timeoutMs + " ms; it may still be", null)), timeoutMs, TimeUnit.MILLISECONDS);
    return result;
  }

  /**
   * Completes once this node has committed a {@code ReadBarrier} as the partition's leader, through
   * replica {@code lp}, after the call: it still led then, and every command committed before the call
   * is applied to {@code lp}'s state machine, so what it holds, read afterwards, is linearizable. Fails
   * with a {@link Failure} (NOT_LEADER with a hint, ...) on a node that no longer leads, including one
   * deposed without knowing it yet.
   */
  CompletableFuture<Void> readBarrier(PartitionDirectory.LocalPartition lp, TopicRecord topic, int partition,
      long timeoutMs) {
    PartitionCommand barrier = PartitionCommand.newBuilder().setLeaderTimeMs(System.currentTimeMillis())
        .setPartition(partition).setReadBarrier(ReadBarrier.getDefaultInstance()).build();
    return propose(lp, topic, partition, barrier, timeoutMs).thenApply(reply -> {
      if (reply.getStatus() != PartitionStatus.DONE) {
        // Only a replica that does not know the command answers so: treat it as unconfirmed.
        throw new Failure(ErrorCode.LEADER_NOT_AVAILABLE, "read barrier: " + reply.getStatus(), null);
      }
      return null;
    });
  }

  private Failure failure(Throwable e) {
    Throwable cause = e;
    while ((cause instanceof CompletionException || cause instanceof ExecutionException) && cause.getCause() != null) {
      cause = cause.getCause();
    }
    if (cause instanceof Failure f) {
      return f;
    }
    if (cause instanceof NotLeaderException nle) {
      var suggested = nle.getSuggestedLeader();
      return new Failure(ErrorCode.NOT_LEADER, "leadership moved", ctx.hint(suggested == null ? null : suggested.getId()));
    }
    if (cause instanceof LeaderNotReadyException || cause instanceof LeaderSteppingDownException) {
      return new Failure(ErrorCode.LEADER_NOT_AVAILABLE, cause.getClass().getSimpleName(), null);
    }
    if (cause instanceof ResourceUnavailableException) {
      return new Failure(ErrorCode.THROTTLED, "the partition's pending-write limit is reached", null);
    }
    return new Failure(ErrorCode.LEADER_NOT_AVAILABLE, String.valueOf(cause), null);
  }

  /** The failure inside {@code e}, wrapped or not. */
  static Failure unwrap(Throwable e) {
    Throwable cause = e;
    while ((cause instanceof CompletionException || cause instanceof ExecutionException) && cause.getCause() != null) {
      cause = cause.getCause();
    }
    if (cause instanceof java.util.concurrent.RejectedExecutionException) {
      // The node is shutting down (its timers are gone): the client retries elsewhere.
      return new Failure(ErrorCode.LEADER_NOT_AVAILABLE, "the node is shutting down", null);
    }
    return cause instanceof Failure f ? f : new Failure(ErrorCode.UNKNOWN_SERVER_ERROR, String.valueOf(cause), null);
  }
}
