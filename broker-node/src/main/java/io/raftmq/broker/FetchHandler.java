package io.raftmq.broker;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.raftmq.logstore.FetchSlice;
import io.raftmq.logstore.OffsetOutOfRangeException;
import io.raftmq.protocol.ErrorCode;
import io.raftmq.protocol.FetchRequest;
import io.raftmq.protocol.FetchResponse;
import io.raftmq.protocol.Frames;
import io.raftmq.protocol.PartitionFetch;
import io.raftmq.protocol.PartitionFetchResult;
import io.raftmq.protocol.Request;
import io.raftmq.protocol.Response;
import io.raftmq.raft.proto.TopicRecord;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Fetch: reads committed batches from the partition's log-store, up to this replica's high watermark,
 * and sends them from the segment files without copying them ({@link SliceRegion}). With max_wait, a
 * fetch that finds less than min_bytes parks until a partition's high watermark moves or time is up.
 */
final class FetchHandler {
  private static final Logger LOG = LoggerFactory.getLogger(FetchHandler.class);
  private static final int MAX_WAIT_CAP_MS = 60_000;

  private final BrokerContext ctx;

  FetchHandler(BrokerContext ctx) {
    this.ctx = ctx;
  }

  void handle(ChannelHandlerContext channel, Request request, long startNanos) {
    FetchRequest fetch = request.getFetch();
    long deadlineNanos = System.nanoTime()
        + TimeUnit.MILLISECONDS.toNanos(Math.max(0, Math.min(MAX_WAIT_CAP_MS, fetch.getMaxWaitMs())));
    attempt(channel, request, deadlineNanos, startNanos);
  }

  private void attempt(ChannelHandlerContext channel, Request request, long deadlineNanos, long startNanos) {
    if (!channel.channel().isActive()) {
      return;
    }
    FetchRequest fetch = request.getFetch();
    int maxBytes = fetch.getMaxBytes() > 0 ? fetch.getMaxBytes() : 8 * 1024 * 1024;
    int minBytes = Math.max(1, fetch.getMinBytes());
    List<PartitionFetchResult> results = new ArrayList<>(fetch.getPartitionsCount());
    List<FetchSlice> slices = new ArrayList<>(fetch.getPartitionsCount());
    List<PartitionDirectory.LocalPartition> waitOn = new ArrayList<>();
    long total = 0;
    boolean anyError = false;
    for (PartitionFetch pf : fetch.getPartitionsList()) {
      PartitionFetchResult.Builder r = PartitionFetchResult.newBuilder()
          .setTopic(pf.getTopic()).setPartition(pf.getPartition()).setError(ErrorCode.NONE)
          .setHighWatermark(-1).setLogStartOffset(-1);
      FetchSlice slice = FetchSlice.empty();
      TopicRecord topic = ctx.metadata().topic(pf.getTopic());
      PartitionDirectory.LocalPartition lp = topic == null ? null : ctx.partitions.get(pf.getTopic(), pf.getPartition());
      if (topic == null) {
        r.setError(ErrorCode.UNKNOWN_TOPIC).setErrorMessage("unknown topic '" + pf.getTopic() + "'");
      } else if (pf.getPartition() < 0 || pf.getPartition() >= topic.getPartitions()) {
        r.setError(ErrorCode.UNKNOWN_PARTITION)
            .setErrorMessage("topic '" + pf.getTopic() + "' has no partition " + pf.getPartition());
      } else if (lp == null) {
        r.setError(ErrorCode.NOT_LEADER).setErrorMessage("no replica of this partition on node " + ctx.config.nodeId())
            .setLeader(ctx.leaderHintFor(topic, pf.getPartition()));
      } else {
        long hw = lp.stateMachine.highWatermark();
        long logStart = lp.stateMachine.logStartOffset();
        r.setHighWatermark(hw).setLogStartOffset(logStart);
        if (pf.getOffset() > hw && !(lp.isLeader() && lp.isLeaderReady())) {
          // Past this replica's high watermark, but it may not know the end of the log: a follower (or a
          // leader not ready yet) applies after the leader, so the asker may well have read that far
          // from the leader already. Only the ready leader says out of range (and the consumer then
          // resets its position); here the asker is sent to the leader.
          if (lp.isLeader()) {
            r.setError(ErrorCode.LEADER_NOT_AVAILABLE).setErrorMessage("the new leader is not ready yet");
          } else {
            r.setError(ErrorCode.NOT_LEADER).setErrorMessage("offset " + pf.getOffset() + " is past node "
                + ctx.config.nodeId() + "'s high watermark " + hw + " (a follower); ask the leader")
                .setLeader(ctx.leaderHintFor(topic, pf.getPartition()));
          }
        } else if (pf.getOffset() < logStart || pf.getOffset() > hw) {
          r.setError(ErrorCode.OFFSET_OUT_OF_RANGE)
              .setErrorMessage("offset " + pf.getOffset() + " is outside [" + logStart + ", " + hw + "]");
        } else if (pf.getOffset() < hw && total < maxBytes) {
          int partitionMax = pf.getMaxBytes() > 0 ? pf.getMaxBytes() : 1024 * 1024;
          int budget = (int) Math.max(1, Math.min(partitionMax, maxBytes - total));
          try {
            slice = lp.stateMachine.log().read(pf.getOffset(), budget);
          } catch (OffsetOutOfRangeException e) {
            r.setError(ErrorCode.OFFSET_OUT_OF_RANGE).setErrorMessage(e.getMessage());
          } catch (IOException | RuntimeException e) {
            LOG.warn("fetch {}-{} at {} failed", pf.getTopic(), pf.getPartition(), pf.getOffset(), e);
            r.setError(ErrorCode.LEADER_NOT_AVAILABLE).setErrorMessage("replica is reloading: " + e.getMessage());
          }
        } else if (pf.getOffset() == hw) {
          waitOn.add(lp);
        }
      }
      anyError |= r.getError() != ErrorCode.NONE;
      r.setRecordsSize(slice.sizeInBytes());
      total += slice.sizeInBytes();
      results.add(r.build());
      slices.add(slice);
    }
    boolean timeUp = System.nanoTime() - deadlineNanos >= 0;
    if (total >= minBytes || anyError || timeUp || waitOn.isEmpty()) {
      respond(channel, request, results, slices, total, startNanos);
      return;
    }
    ParkedFetch parked = new ParkedFetch(channel, request, deadlineNanos, startNanos, waitOn);
    for (PartitionDirectory.LocalPartition lp : waitOn) {
      lp.awaitChange(parked);
    }
    // The high watermark may have moved between reading it and registering.
    for (PartitionDirectory.LocalPartition lp : waitOn) {
      if (lp.stateMachine.highWatermark() > offsetOf(fetch, lp)) {
        parked.run();
      }
    }
    channel.executor().schedule(parked, Math.max(1, deadlineNanos - System.nanoTime()), TimeUnit.NANOSECONDS);
  }

  /** A fetch waiting for data: retried once, at the first change on one of its partitions or at its deadline. */
  private final class ParkedFetch implements Runnable {
    private final ChannelHandlerContext channel;
    private final Request request;
    private final long deadlineNanos;
    private final long startNanos;
    private final List<PartitionDirectory.LocalPartition> waitOn;
    private final AtomicBoolean fired = new AtomicBoolean();

    ParkedFetch(ChannelHandlerContext channel, Request request, long deadlineNanos, long startNanos,
        List<PartitionDirectory.LocalPartition> waitOn) {
      this.channel = channel;
      this.request = request;
      this.deadlineNanos = deadlineNanos;
      this.startNanos = startNanos;
      this.waitOn = waitOn;
    }

    @Override
    public void run() {
      if (fired.compareAndSet(false, true)) {
        // Leave no waiter behind on an idle partition, or long polls would pile up there.
        for (PartitionDirectory.LocalPartition lp : waitOn) {
          lp.cancelWait(this);
        }
        channel.executor().execute(() -> attempt(channel, request, deadlineNanos, startNanos));
      }
    }
  }

  private static long offsetOf(FetchRequest fetch, PartitionDirectory.LocalPartition lp) {
    for (PartitionFetch pf : fetch.getPartitionsList()) {
      if (pf.getTopic().equals(lp.topic) && pf.getPartition() == lp.partition) {
        return pf.getOffset();
      }
    }
    return Long.MAX_VALUE;
  }

  private void respond(ChannelHandlerContext channel, Request request, List<PartitionFetchResult> results,
      List<FetchSlice> slices, long total, long startNanos) {
    Response response = Response.newBuilder()
        .setCorrelationId(request.getCorrelationId())
        .setFetch(FetchResponse.newBuilder().addAllResults(results))
        .build();
    ByteBuf head = Frames.encodeHead(channel.alloc(), response, total);
    channel.write(head);
    for (FetchSlice slice : slices) {
      if (!slice.isEmpty()) {
        channel.write(new SliceRegion(slice));
      }
    }
    channel.flush();
    ctx.metrics.request("fetch", ErrorCode.NONE, startNanos);
    ctx.metrics.bytesOut(total);
  }
}
