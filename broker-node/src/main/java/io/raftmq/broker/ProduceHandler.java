package io.raftmq.broker;

import com.google.protobuf.UnsafeByteOperations;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.raftmq.client.DeadLetters;
import io.raftmq.metadata.MetadataCore.MetadataView;
import io.raftmq.protocol.Acks;
import io.raftmq.protocol.ErrorCode;
import io.raftmq.protocol.PartitionBatch;
import io.raftmq.protocol.PartitionProduceResult;
import io.raftmq.protocol.ProduceRequest;
import io.raftmq.protocol.ProduceResponse;
import io.raftmq.protocol.RecordCodec;
import io.raftmq.protocol.Request;
import io.raftmq.protocol.Response;
import io.raftmq.raft.proto.AppendBatch;
import io.raftmq.raft.proto.PartitionCommand;
import io.raftmq.raft.proto.PartitionReply;
import io.raftmq.raft.proto.TopicRecord;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.ratis.protocol.RaftClientReply;
import org.apache.ratis.protocol.exceptions.LeaderNotReadyException;
import org.apache.ratis.protocol.exceptions.LeaderSteppingDownException;
import org.apache.ratis.protocol.exceptions.NotLeaderException;
import org.apache.ratis.protocol.exceptions.RaftException;
import org.apache.ratis.protocol.exceptions.ResourceUnavailableException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Produce: each batch of a request becomes one {@code AppendBatch} entry in its partition's Raft log,
 * proposed to the local leader. With acks=quorum the answer waits for the entry's quorum commit and the
 * leader's apply, which assigns the offsets.
 */
final class ProduceHandler {
  private static final Logger LOG = LoggerFactory.getLogger(ProduceHandler.class);
  /** Room for the command's own fields inside one Raft entry (the appender's byte limit is 4 MiB). */
  static final int MAX_BATCH_BYTES = 4 * 1024 * 1024 - 64 * 1024;
  private static final int DEFAULT_TIMEOUT_MS = 30_000;
  /** Records without a key and without this header are appended as plain (AppendBatch.plain). */
  private static final byte[] TTL_HEADER = DeadLetters.TTL_HEADER.getBytes(StandardCharsets.UTF_8);

  private final BrokerContext ctx;

  ProduceHandler(BrokerContext ctx) {
    this.ctx = ctx;
    if (ctx.config.unsafeAckBeforeCommitForTests()) {
      LOG.warn("!!!!! node {} runs the UNSAFE TEST MODE: produces are acknowledged before their quorum commit "
          + "and acknowledged messages WILL be lost on failover (chaos-suite self-test only) !!!!!",
          ctx.config.nodeId());
    }
  }

  /** Starts every batch of the request; the body must stay readable only until this returns. */
  void handle(ChannelHandlerContext channel, Request request, ByteBuf body, long startNanos) {
    ProduceRequest produce = request.getProduce();
    Acks acks = produce.getAcks() == Acks.ACKS_UNSPECIFIED ? Acks.ACKS_QUORUM : produce.getAcks();
    int count = produce.getBatchesCount();
    long declared = 0;
    for (PartitionBatch b : produce.getBatchesList()) {
      declared += Math.max(0, b.getRecordsSize());
    }
    if (declared != body.readableBytes()) {
      ClientHandler.replyError(channel, request, ErrorCode.INVALID_REQUEST,
          "batches declare " + declared + " bytes but the body has " + body.readableBytes());
      return;
    }
    PartitionProduceResult[] results = new PartitionProduceResult[count];
    AtomicInteger remaining = new AtomicInteger(count);
    int timeoutMs = produce.getTimeoutMs() > 0 ? produce.getTimeoutMs() : DEFAULT_TIMEOUT_MS;
    MetadataView view = ctx.metadata();
    int position = body.readerIndex();
    for (int i = 0; i < count; i++) {
      PartitionBatch batch = produce.getBatches(i);
      ByteBuffer records = body.nioBuffer(position, batch.getRecordsSize());
      position += batch.getRecordsSize();
      int index = i;
      CompletableFuture<PartitionProduceResult> result = start(channel, view, batch, records, acks, timeoutMs);
      result.whenComplete((r, e) -> {
        results[index] = r != null ? r : error(batch, ErrorCode.UNKNOWN_SERVER_ERROR, String.valueOf(e));
        if (remaining.decrementAndGet() == 0) {
          finish(channel, request, acks, results, startNanos);
        }
      });
    }
    if (count == 0) {
      finish(channel, request, acks, results, startNanos);
    }
  }

  private void finish(ChannelHandlerContext channel, Request request, Acks acks, PartitionProduceResult[] results,
      long startNanos) {
    ErrorCode first = ErrorCode.NONE;
    for (PartitionProduceResult r : results) {
      if (r.getError() != ErrorCode.NONE) {
        first = r.getError();
        break;
      }
    }
    ctx.metrics.request("produce", first, startNanos);
    if (acks == Acks.ACKS_NONE) {
      return;
    }
    ProduceResponse.Builder response = ProduceResponse.newBuilder();
    for (PartitionProduceResult r : results) {
      response.addResults(r);
    }
    ClientHandler.reply(channel, Response.newBuilder()
        .setCorrelationId(request.getCorrelationId())
        .setProduce(response)
        .build(), null);
  }

  private CompletableFuture<PartitionProduceResult> start(ChannelHandlerContext channel, MetadataView view,
      PartitionBatch batch, ByteBuffer records, Acks acks, int timeoutMs) {
    TopicRecord topic = view.topic(batch.getTopic());
    if (topic == null) {
      return done(error(batch, ErrorCode.UNKNOWN_TOPIC, "unknown topic '" + batch.getTopic() + "'"));
    }
    if (batch.getPartition() < 0 || batch.getPartition() >= topic.getPartitions()) {
      return done(error(batch, ErrorCode.UNKNOWN_PARTITION,
          "topic '" + batch.getTopic() + "' has no partition " + batch.getPartition()));
    }
    PartitionDirectory.LocalPartition lp = ctx.partitions.get(batch.getTopic(), batch.getPartition());
    if (lp == null || !lp.isLeader()) {
      return done(error(batch, ErrorCode.NOT_LEADER, "node " + ctx.config.nodeId() + " does not lead "
          + batch.getTopic() + "-" + batch.getPartition()).toBuilder()
          .setLeader(ctx.leaderHintFor(topic, batch.getPartition())).build());
    }
    if (!lp.isLeaderReady()) {
      return done(error(batch, ErrorCode.LEADER_NOT_AVAILABLE, "the new leader is not ready yet"));
    }
    if (batch.getRecordCount() < 1 || batch.getRecordsSize() < 1) {
      return done(error(batch, ErrorCode.CORRUPT_MESSAGE, "a batch needs at least one record"));
    }
    if (batch.getRecordsSize() > MAX_BATCH_BYTES) {
      return done(error(batch, ErrorCode.MESSAGE_TOO_LARGE,
          "batch of " + batch.getRecordsSize() + " bytes exceeds " + MAX_BATCH_BYTES));
    }
    int maxMessageBytes = ctx.maxMessageBytes(topic);
    boolean plain = false;
    switch (RecordCodec.validate(records, batch.getRecordCount(), maxMessageBytes, TTL_HEADER)) {
      case PLAIN:
        plain = true;
        break;
      case OK:
        break;
      case TOO_LARGE:
        return done(error(batch, ErrorCode.MESSAGE_TOO_LARGE,
            "a record exceeds the maximum message size of " + maxMessageBytes + " bytes"));
      case CORRUPT:
      default:
        return done(error(batch, ErrorCode.CORRUPT_MESSAGE,
            "records do not decode as " + batch.getRecordCount() + " records"));
    }
    byte[] command = PartitionCommand.newBuilder()
        .setLeaderTimeMs(System.currentTimeMillis())
        .setPartition(batch.getPartition())
        .setAppendBatch(AppendBatch.newBuilder()
            .setProducerId(batch.getProducerId())
            .setProducerEpoch(batch.getProducerEpoch())
            .setBaseSequence(batch.getBaseSequence())
            .setRecordCount(batch.getRecordCount())
            .setMaxTimestamp(batch.getMaxTimestamp())
            .setRecords(UnsafeByteOperations.unsafeWrap(records))
            .setPlain(plain))
        .build()
        .toByteArray();
    CompletableFuture<PartitionProduceResult> result = new CompletableFuture<>();
    long callId = ctx.host.nextCallId();
    if (acks != Acks.ACKS_QUORUM) {
      lp.stateMachine.onLeaderAppend(callId, () -> result.complete(ok(batch, -1, -1)));
    } else if (ctx.config.unsafeAckBeforeCommitForTests()) {
      // TESTS ONLY (the chaos suite's planted bug): an acks=quorum produce answered at the leader's
      // append, before the quorum commit, so a failover loses acknowledged messages.
      lp.stateMachine.onLeaderAppend(callId, () -> result.complete(ok(batch, -1, -1)));
    }
    CompletableFuture<RaftClientReply> submitted;
    try {
      submitted = ctx.host.submit(lp.division, callId, command);
    } catch (Exception e) {
      lp.stateMachine.cancelLeaderAppend(callId);
      return done(fromException(batch, e));
    }
    submitted.whenComplete((reply, e) -> {
      lp.stateMachine.cancelLeaderAppend(callId);
      result.complete(e != null ? fromException(batch, e) : fromReply(batch, reply));
    });
    channel.executor().schedule(() -> {
      if (result.complete(error(batch, ErrorCode.REQUEST_TIMED_OUT,
          "not committed within " + timeoutMs + " ms; it may still be"))) {
        lp.stateMachine.cancelLeaderAppend(callId);
      }
    }, timeoutMs, TimeUnit.MILLISECONDS);
    return result;
  }

  private PartitionProduceResult fromReply(PartitionBatch batch, RaftClientReply reply) {
    if (reply.isSuccess()) {
      PartitionReply r;
      try {
        r = PartitionReply.parseFrom(reply.getMessage().getContent().asReadOnlyByteBuffer());
      } catch (Exception e) {
        return error(batch, ErrorCode.UNKNOWN_SERVER_ERROR, "undecodable partition reply: " + e);
      }
      switch (r.getStatus()) {
        case APPENDED:
          ctx.metrics.messagesIn(batch.getTopic(), batch.getRecordCount(), batch.getRecordsSize());
          return ok(batch, r.getBaseOffset(), r.getLogTimeMs());
        case DUPLICATE:
          return ok(batch, r.getBaseOffset(), r.getLogTimeMs());
        case DUPLICATE_UNKNOWN_OFFSET:
          return error(batch, ErrorCode.DUPLICATE_SEQUENCE, r.getMessage());
        case OUT_OF_ORDER_SEQUENCE:
          return error(batch, ErrorCode.OUT_OF_ORDER_SEQUENCE, r.getMessage());
        case PRODUCER_FENCED:
          return error(batch, ErrorCode.PRODUCER_FENCED, r.getMessage());
        default:
          return error(batch, ErrorCode.INVALID_REQUEST, r.getStatus() + ": " + r.getMessage());
      }
    }
    if (reply.getNotLeaderException() != null) {
      return notLeader(batch, reply.getNotLeaderException());
    }
    return fromException(batch, reply.getException());
  }

  private PartitionProduceResult fromException(PartitionBatch batch, Throwable e) {
    Throwable cause = e;
    while ((cause instanceof CompletionException || cause instanceof java.util.concurrent.ExecutionException)
        && cause.getCause() != null) {
      cause = cause.getCause();
    }
    if (cause instanceof NotLeaderException nle) {
      return notLeader(batch, nle);
    }
    if (cause instanceof LeaderNotReadyException) {
      return error(batch, ErrorCode.LEADER_NOT_AVAILABLE, "the new leader is not ready yet");
    }
    if (cause instanceof LeaderSteppingDownException) {
      return error(batch, ErrorCode.NOT_LEADER, "the leader is stepping down");
    }
    if (cause instanceof ResourceUnavailableException) {
      return error(batch, ErrorCode.THROTTLED, "the partition's pending-write limit is reached: " + cause.getMessage());
    }
    if (cause instanceof RaftException) {
      LOG.warn("produce to {}-{} failed: {}", batch.getTopic(), batch.getPartition(), cause.toString());
      return error(batch, ErrorCode.LEADER_NOT_AVAILABLE, cause.getClass().getSimpleName() + ": " + cause.getMessage());
    }
    LOG.warn("produce to {}-{} failed", batch.getTopic(), batch.getPartition(), cause);
    return error(batch, ErrorCode.UNKNOWN_SERVER_ERROR, String.valueOf(cause));
  }

  private PartitionProduceResult notLeader(PartitionBatch batch, NotLeaderException e) {
    var suggested = e.getSuggestedLeader();
    return error(batch, ErrorCode.NOT_LEADER, "leadership moved").toBuilder()
        .setLeader(ctx.hint(suggested == null ? null : suggested.getId()))
        .build();
  }

  private static CompletableFuture<PartitionProduceResult> done(PartitionProduceResult r) {
    return CompletableFuture.completedFuture(r);
  }

  private static PartitionProduceResult ok(PartitionBatch batch, long baseOffset, long logTimeMs) {
    return PartitionProduceResult.newBuilder()
        .setTopic(batch.getTopic())
        .setPartition(batch.getPartition())
        .setError(ErrorCode.NONE)
        .setBaseOffset(baseOffset)
        .setLogTimeMs(logTimeMs)
        .build();
  }

  static PartitionProduceResult error(PartitionBatch batch, ErrorCode code, String message) {
    return PartitionProduceResult.newBuilder()
        .setTopic(batch.getTopic())
        .setPartition(batch.getPartition())
        .setError(code)
        .setErrorMessage(message)
        .setBaseOffset(-1)
        .build();
  }
}
