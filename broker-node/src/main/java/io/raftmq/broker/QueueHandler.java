package io.raftmq.broker;

import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.util.AttributeKey;
import io.raftmq.client.DeadLetters;
import io.raftmq.logstore.FetchSlice;
import io.raftmq.logstore.PartitionLog;
import io.raftmq.metadata.GroupRules;
import io.raftmq.metadata.TopicRules;
import io.raftmq.partition.QueueGroup;
import io.raftmq.protocol.BatchFrames;
import io.raftmq.protocol.DeadEntry;
import io.raftmq.protocol.DescribeQueueRequest;
import io.raftmq.protocol.DescribeQueueResponse;
import io.raftmq.protocol.ErrorCode;
import io.raftmq.protocol.ExtendItem;
import io.raftmq.protocol.Frames;
import io.raftmq.protocol.LeaderHint;
import io.raftmq.protocol.LeaseRuns;
import io.raftmq.protocol.NackItem;
import io.raftmq.protocol.PartitionReceive;
import io.raftmq.protocol.PartitionReceiveResult;
import io.raftmq.protocol.PartitionSettle;
import io.raftmq.protocol.PartitionSettleResult;
import io.raftmq.protocol.QueueGroupConfig;
import io.raftmq.protocol.QueuePartitionState;
import io.raftmq.protocol.QueueReceiveRequest;
import io.raftmq.protocol.QueueReceiveResponse;
import io.raftmq.protocol.QueueRedriveRequest;
import io.raftmq.protocol.QueueRedriveResponse;
import io.raftmq.protocol.QueueSettleRequest;
import io.raftmq.protocol.QueueSettleResponse;
import io.raftmq.protocol.RecordCodec;
import io.raftmq.protocol.RejectItem;
import io.raftmq.protocol.Request;
import io.raftmq.protocol.Response;
import io.raftmq.protocol.SettleResult;
import io.raftmq.protocol.TopicPartitions;
import io.raftmq.raft.proto.Acquire;
import io.raftmq.raft.proto.Expire;
import io.raftmq.raft.proto.OffsetDelay;
import io.raftmq.raft.proto.PartitionReply;
import io.raftmq.raft.proto.QueueCommand;
import io.raftmq.raft.proto.QueueConfig;
import io.raftmq.raft.proto.QueueEntry;
import io.raftmq.raft.proto.QueueOutcome;
import io.raftmq.raft.proto.QueueResult;
import io.raftmq.raft.proto.Redrive;
import io.raftmq.raft.proto.Settle;
import io.raftmq.raft.proto.TopicRecord;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.ratis.protocol.RaftGroupId;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Queue groups (share groups): receive, settle, describe and redrive. Every state change is a
 * {@link QueueCommand} proposed to the partition's Raft group through this node, which must lead it;
 * apply ({@link QueueGroup}) decides, deterministically, and the replies say what happened.
 *
 * <p>Receive is serialised per (partition, group) on the leader: the leader reads the keys (and
 * time-to-live) of records the group has not seen yet and hands them to the Acquire command, which is
 * only valid if nothing else advanced the group meanwhile. A receive that finds nothing waits (long
 * poll) for the partition to change or a backoff to end, without proposing empty acquires.
 *
 * <p>Leader services: an expiry timer proposes {@code Expire} for leases past their deadline, and a
 * closed connection releases the leases its consumers held (both with the group's backoff).
 */
final class QueueHandler {
  private static final Logger LOG = LoggerFactory.getLogger(QueueHandler.class);
  static final long DEFAULT_VISIBILITY_MS = 30_000;
  static final int DEFAULT_MAX_DELIVERIES = 5;
  static final long DEFAULT_BACKOFF_BASE_MS = 1_000;
  static final long DEFAULT_BACKOFF_MAX_MS = 60_000;
  static final int DEFAULT_MAX_IN_FLIGHT = 50_000;
  static final int DEFAULT_MAX_REDRIVES = 3;
  static final int MAX_IN_FLIGHT_CAP = 100_000;
  static final long MAX_LEASE_MS = 12L * 60 * 60 * 1000;
  private static final int MAX_WAIT_CAP_MS = 60_000;
  private static final int MAX_PER_ACQUIRE = 10_000;
  /** Record bytes of a receive response when the request names no bound (as the SDK's default). */
  static final int DEFAULT_RECEIVE_MAX_BYTES = 16 << 20;
  private static final int COMMAND_TIMEOUT_MS = 10_000;
  private static final long EXPIRY_TICK_MS = 100;
  private static final AttributeKey<Set<Lessee>> LESSEES = AttributeKey.valueOf("raftmq.queue.lessees");

  /** One consumer that received from one partition's group over a connection. */
  private record Lessee(String topic, int partition, RaftGroupId groupId, String group, String consumer) {}

  private record SlotKey(RaftGroupId groupId, String group) {}

  /** Per (partition replica, group) on this leader: receives run one at a time. */
  private static final class Slot {
    /** The group's version after the last acquire that leased nothing (-1: none). */
    volatile long emptyVersion = -1;
    final AtomicBoolean expiring = new AtomicBoolean();
    /** Acquires proposed and not answered yet (guarded by the slot). */
    int acquiresInFlight;
    /** Where the group's unseen offsets will begin once those acquires apply (guarded; -1: unknown). */
    long pendingEnd = -1;
  }

  /**
   * Where a thread reads the new records it describes in an acquire (up to 1 MiB a read): direct, so the
   * file read copies once, and reused, so an acquire allocates nothing for them.
   */
  private static final ThreadLocal<ByteBuffer> SCAN_BUFFER =
      ThreadLocal.withInitial(() -> ByteBuffer.allocateDirect((1 << 20) + (64 << 10)));

  /** Acquires of one group in one partition that may be in the Raft pipeline at once. */
  private static final int MAX_ACQUIRES_IN_FLIGHT = 4;

  private final BrokerContext ctx;
  private final PartitionCommands commands;
  private final ConcurrentHashMap<SlotKey, Slot> slots = new ConcurrentHashMap<>();

  QueueHandler(BrokerContext ctx) {
    this.ctx = ctx;
    this.commands = new PartitionCommands(ctx);
    ctx.timer.scheduleWithFixedDelay(this::expireDueLeases, EXPIRY_TICK_MS, EXPIRY_TICK_MS, TimeUnit.MILLISECONDS);
  }

  void handle(ChannelHandlerContext channel, Request request, long startNanos) {
    switch (request.getBodyCase()) {
      case QUEUE_RECEIVE -> receive(channel, request, startNanos);
      case QUEUE_SETTLE -> settle(channel, request, startNanos);
      case DESCRIBE_QUEUE -> describe(channel, request, startNanos);
      case QUEUE_REDRIVE -> redrive(channel, request, startNanos);
      default -> ClientHandler.replyError(channel, request, ErrorCode.INVALID_REQUEST, "not a queue request");
    }
  }

  // ---- configuration ----

  /** The group's settings: the current ones (or the defaults) with the client's non-zero fields over them. */
  static QueueConfig resolve(QueueGroupConfig req, QueueConfig current, TopicRecord topic, String group) {
    QueueConfig.Builder b = current != null ? current.toBuilder() : QueueConfig.newBuilder()
        .setVisibilityTimeoutMs(DEFAULT_VISIBILITY_MS)
        .setMaxDeliveries(DEFAULT_MAX_DELIVERIES)
        .setBackoffBaseMs(DEFAULT_BACKOFF_BASE_MS)
        .setBackoffMaxMs(DEFAULT_BACKOFF_MAX_MS)
        .setMaxInFlight(DEFAULT_MAX_IN_FLIGHT)
        .setMaxRedrives(DEFAULT_MAX_REDRIVES)
        .setDeadLetterTopic(DeadLetters.defaultTopic(topic.getName(), group));
    if (req.getVisibilityTimeoutMs() < 0 || req.getVisibilityTimeoutMs() > MAX_LEASE_MS) {
      throw new IllegalArgumentException("visibility timeout must be 1 ms .. 12 h");
    }
    if (req.getVisibilityTimeoutMs() > 0) {
      b.setVisibilityTimeoutMs(req.getVisibilityTimeoutMs());
    }
    if (req.getMaxDeliveries() < -1) {
      throw new IllegalArgumentException("max deliveries must be >= 1 (or -1: unlimited)");
    }
    if (req.getMaxDeliveries() != 0) {
      b.setMaxDeliveries(Math.max(0, req.getMaxDeliveries()));
    }
    if (req.getBackoffBaseMs() < 0 || req.getBackoffMaxMs() < 0) {
      throw new IllegalArgumentException("backoff times must not be negative");
    }
    if (req.getBackoffBaseMs() > 0) {
      b.setBackoffBaseMs(req.getBackoffBaseMs());
    }
    if (req.getBackoffMaxMs() > 0) {
      b.setBackoffMaxMs(req.getBackoffMaxMs());
    }
    if (b.getBackoffMaxMs() < b.getBackoffBaseMs()) {
      throw new IllegalArgumentException("backoff max " + b.getBackoffMaxMs() + " ms is below its base "
          + b.getBackoffBaseMs() + " ms");
    }
    if (req.getMaxInFlight() < 0 || req.getMaxInFlight() > MAX_IN_FLIGHT_CAP) {
      throw new IllegalArgumentException("max in-flight must be 1.." + MAX_IN_FLIGHT_CAP);
    }
    if (req.getMaxInFlight() > 0) {
      b.setMaxInFlight(req.getMaxInFlight());
    }
    switch (req.getOrdering()) {
      case "" -> { }
      case "none" -> b.setOrderingKey(false);
      case "key" -> b.setOrderingKey(true);
      default -> throw new IllegalArgumentException("ordering must be 'none' or 'key', not '" + req.getOrdering() + "'");
    }
    switch (req.getKeyFailureMode()) {
      case "" -> { }
      case "lenient" -> b.setStrict(false);
      case "strict" -> b.setStrict(true);
      default -> throw new IllegalArgumentException(
          "key failure mode must be 'lenient' or 'strict', not '" + req.getKeyFailureMode() + "'");
    }
    if (req.getMaxRedrives() < -1) {
      throw new IllegalArgumentException("max redrives must be >= 1 (or -1: unlimited)");
    }
    if (req.getMaxRedrives() != 0) {
      b.setMaxRedrives(Math.max(0, req.getMaxRedrives()));
    }
    if (!req.getDeadLetterTopic().isEmpty()) {
      b.setDeadLetterTopic(req.getDeadLetterTopic());
    }
    String badTopic = TopicRules.validateName(b.getDeadLetterTopic());
    if (badTopic != null) {
      throw new IllegalArgumentException("dead-letter topic: " + badTopic);
    }
    if (b.getDeadLetterTopic().equals(topic.getName())) {
      throw new IllegalArgumentException("a queue group cannot dead-letter into its own topic");
    }
    b.setDropExpired("drop".equals(topic.getConfigsMap().get(AdminHandler.MESSAGE_TTL_ACTION)));
    return b.build();
  }

  // ---- receive ----

  private void receive(ChannelHandlerContext channel, Request request, long startNanos) {
    QueueReceiveRequest r = request.getQueueReceive();
    String bad = GroupRules.validateGroupId(r.getGroup());
    if (bad != null) {
      ClientHandler.replyError(channel, request, ErrorCode.INVALID_GROUP_ID, bad);
      return;
    }
    if (r.getConsumerId().isEmpty() || r.getConsumerId().length() > 200) {
      ClientHandler.replyError(channel, request, ErrorCode.INVALID_REQUEST, "a consumer id of 1..200 characters is needed");
      return;
    }
    if (r.getLeaseMs() < 0 || r.getLeaseMs() > MAX_LEASE_MS) {
      ClientHandler.replyError(channel, request, ErrorCode.INVALID_REQUEST, "lease must be 0 (the group's) .. 12 h");
      return;
    }
    if (r.getMaxBytes() < 0) {
      ClientHandler.replyError(channel, request, ErrorCode.INVALID_REQUEST, "max bytes must not be negative");
      return;
    }
    for (PartitionReceive pr : r.getPartitionsList()) {
      if (pr.getMaxMessages() < 0) {
        ClientHandler.replyError(channel, request, ErrorCode.INVALID_REQUEST, "max messages must not be negative");
        return;
      }
      long runAcks = ackRunTotal(pr);
      if (runAcks < 0) {
        ClientHandler.replyError(channel, request, ErrorCode.INVALID_REQUEST,
            "ack runs are (first offset >= 0, length >= 1) pairs");
        return;
      }
      if (pr.getAcksCount() + runAcks > MAX_IN_FLIGHT_CAP) {
        ClientHandler.replyError(channel, request, ErrorCode.INVALID_REQUEST, "at most " + MAX_IN_FLIGHT_CAP
            + " acks per partition in a receive");
        return;
      }
    }
    long deadline = System.nanoTime()
        + TimeUnit.MILLISECONDS.toNanos(Math.max(0, Math.min(MAX_WAIT_CAP_MS, r.getMaxWaitMs())));
    attemptReceive(channel, request, deadline, startNanos);
  }

  /** What one partition gave: its result and the batch slices holding the delivered records. */
  private record Received(PartitionReceiveResult.Builder result, List<FetchSlice> slices, long nextVisibleAtMs,
      PartitionDirectory.LocalPartition waitOn) {}

  private void attemptReceive(ChannelHandlerContext channel, Request request, long deadlineNanos, long startNanos) {
    if (!channel.channel().isActive()) {
      return;
    }
    QueueReceiveRequest r = request.getQueueReceive();
    List<CompletableFuture<Received>> parts = new ArrayList<>(r.getPartitionsCount());
    for (PartitionReceive pr : r.getPartitionsList()) {
      CompletableFuture<Received> f;
      try {
        f = receivePartition(channel.channel(), r, pr);
      } catch (RuntimeException e) {
        f = CompletableFuture.failedFuture(e);
      }
      parts.add(f.exceptionally(e -> failedReceive(pr, e)));
    }
    CompletableFuture.allOf(parts.toArray(CompletableFuture[]::new)).whenComplete((v, e) ->
        channel.executor().execute(() -> {
          List<Received> got = parts.stream().map(CompletableFuture::join).toList();
          int delivered = 0;
          boolean error = false;
          long wakeAt = Long.MAX_VALUE;
          List<PartitionDirectory.LocalPartition> waitOn = new ArrayList<>();
          for (Received x : got) {
            delivered += LeaseRuns.count(x.result::getLeaseRuns, x.result.getLeaseRunsCount());
            error |= x.result.getError() != ErrorCode.NONE;
            wakeAt = Math.min(wakeAt, x.nextVisibleAtMs);
            if (x.waitOn != null) {
              waitOn.add(x.waitOn);
            }
          }
          // A receive that carried acks answers once they are applied: the consumer waits for them.
          if (delivered > 0 || error || waitOn.isEmpty() || System.nanoTime() - deadlineNanos >= 0
              || carriesAcks(r)) {
            respondReceive(channel, request, got, startNanos);
            return;
          }
          park(channel, request, deadlineNanos, startNanos, waitOn, wakeAt);
        }));
  }

  private static boolean carriesAcks(QueueReceiveRequest r) {
    for (PartitionReceive pr : r.getPartitionsList()) {
      if (pr.getAcksCount() > 0 || pr.getAckRunsCount() > 0) {
        return true;
      }
    }
    return false;
  }

  /** How many acks {@code pr}'s ack runs hold, or -1 if they are not well-formed pairs. */
  static long ackRunTotal(PartitionReceive pr) {
    int n = pr.getAckRunsCount();
    if (n % 2 != 0) {
      return -1;
    }
    long total = 0;
    for (int i = 0; i < n; i += 2) {
      long first = pr.getAckRuns(i);
      long length = pr.getAckRuns(i + 1);
      if (first < 0 || length < 1 || length > MAX_IN_FLIGHT_CAP || first + length < first) {
        return -1;
      }
      total += length;
    }
    return total;
  }

  private Received failedReceive(PartitionReceive pr, Throwable e) {
    PartitionCommands.Failure f = PartitionCommands.unwrap(e);
    PartitionReceiveResult.Builder b = PartitionReceiveResult.newBuilder().setTopic(pr.getTopic())
        .setPartition(pr.getPartition()).setError(f.code).setErrorMessage(String.valueOf(f.getMessage()));
    if (f.leader != null) {
      b.setLeader(f.leader);
    }
    return new Received(b, List.of(), Long.MAX_VALUE, null);
  }

  private void park(ChannelHandlerContext channel, Request request, long deadlineNanos, long startNanos,
      List<PartitionDirectory.LocalPartition> waitOn, long wakeAtMs) {
    AtomicBoolean fired = new AtomicBoolean();
    Runnable[] self = new Runnable[1];
    self[0] = () -> {
      if (fired.compareAndSet(false, true)) {
        for (PartitionDirectory.LocalPartition lp : waitOn) {
          lp.cancelWait(self[0]);
        }
        channel.executor().execute(() -> attemptReceive(channel, request, deadlineNanos, startNanos));
      }
    };
    for (PartitionDirectory.LocalPartition lp : waitOn) {
      lp.awaitChange(self[0]);
    }
    long untilDeadline = Math.max(1, deadlineNanos - System.nanoTime());
    long untilVisible = wakeAtMs == Long.MAX_VALUE ? Long.MAX_VALUE
        : TimeUnit.MILLISECONDS.toNanos(Math.max(1, wakeAtMs - System.currentTimeMillis()));
    channel.executor().schedule(self[0], Math.min(untilDeadline, untilVisible), TimeUnit.NANOSECONDS);
  }

  private CompletableFuture<Received> receivePartition(Channel channel, QueueReceiveRequest r, PartitionReceive pr) {
    PartitionReceiveResult.Builder out = PartitionReceiveResult.newBuilder()
        .setTopic(pr.getTopic()).setPartition(pr.getPartition()).setError(ErrorCode.NONE);
    TopicRecord topic = ctx.metadata().topic(pr.getTopic());
    ErrorCode routing = route(topic, pr.getTopic(), pr.getPartition(), out::setErrorMessage);
    if (routing != ErrorCode.NONE) {
      if (routing == ErrorCode.NOT_LEADER) {
        out.setLeader(ctx.leaderHintFor(topic, pr.getPartition()));
      }
      return done(out.setError(routing));
    }
    PartitionDirectory.LocalPartition lp = ctx.partitions.get(pr.getTopic(), pr.getPartition());
    QueueGroup group = lp.stateMachine.queueGroups().get(r.getGroup());
    QueueConfig wanted;
    try {
      wanted = resolve(r.getConfig(), group == null ? null : group.stats().config(), topic, r.getGroup());
    } catch (IllegalArgumentException e) {
      return done(out.setError(ErrorCode.INVALID_REQUEST).setErrorMessage(e.getMessage()));
    }
    Slot slot = slots.computeIfAbsent(new SlotKey(lp.groupId, r.getGroup()), k -> new Slot());
    if (group != null && group.stats().config().equals(wanted)) {
      return acquire(channel, lp, topic, slot, r, pr, out);
    }
    // A new group here, or new settings: one Configure (a concurrent duplicate is harmless), then acquire.
    return configureIfNeeded(lp, topic, r.getGroup(), wanted)
        .thenCompose(x -> acquire(channel, lp, topic, slot, r, pr, out));
  }

  private CompletableFuture<Void> configureIfNeeded(PartitionDirectory.LocalPartition lp, TopicRecord topic,
      String group, QueueConfig wanted) {
    QueueGroup g = lp.stateMachine.queueGroups().get(group);
    if (g != null && g.stats().config().equals(wanted)) {
      return CompletableFuture.completedFuture(null);
    }
    return propose(lp, topic, QueueCommand.newBuilder().setGroup(group).setConfigure(wanted))
        .thenApply(reply -> null);
  }

  /**
   * Leases messages to the receiver. Acquires of a group in a partition are pipelined (up to
   * {@link #MAX_ACQUIRES_IN_FLIGHT}): each is proposed with the new records that follow those of the
   * acquires still in flight, in proposal order, so they apply in that order. If one of them does not
   * apply (a lost leadership), the ones behind it find the group's end elsewhere and take no new records;
   * nothing is lost, they are offered again.
   */
  private CompletableFuture<Received> acquire(Channel channel, PartitionDirectory.LocalPartition lp,
      TopicRecord topic, Slot slot, QueueReceiveRequest r, PartitionReceive pr, PartitionReceiveResult.Builder out) {
    QueueGroup group = lp.stateMachine.queueGroups().get(r.getGroup());
    if (group == null) {
      return done(out.setError(ErrorCode.LEADER_NOT_AVAILABLE).setErrorMessage("queue group not configured yet"));
    }
    int asked = pr.getAcksOnly() ? 0 : Math.min(MAX_PER_ACQUIRE, pr.getMaxMessages() == 0 ? 100 : pr.getMaxMessages());
    boolean acks = pr.getAcksCount() > 0 || pr.getAckRunsCount() > 0;
    boolean leasing = asked > 0;
    if (!leasing && !acks) {
      return CompletableFuture.completedFuture(new Received(out, List.of(), Long.MAX_VALUE, lp)); // nothing asked
    }
    CompletableFuture<PartitionReply> proposed;
    synchronized (slot) {
      QueueGroup.Stats stats = group.stats();
      long hw = lp.stateMachine.highWatermark();
      // Sized after hw is read: the log's figures then cover every record this acquire may lease (read
      // before, an empty log would bound nothing while records arrive).
      int max = Math.min(asked, fitting(lp, byteShare(r)));
      long now = System.currentTimeMillis();
      long end = slot.acquiresInFlight > 0 && slot.pendingEnd > stats.end() ? slot.pendingEnd : stats.end();
      // Acks always go (they free room, and the consumer waits for them); leases only when some may come.
      boolean worth = acks || slot.acquiresInFlight < MAX_ACQUIRES_IN_FLIGHT
          && stats.inFlight() < stats.config().getMaxInFlight()
          && (end < hw || stats.version() != slot.emptyVersion || now >= stats.nextVisibleAtMs());
      if (!worth) {
        return CompletableFuture.completedFuture(new Received(out, List.of(), stats.nextVisibleAtMs(), lp));
      }
      Acquire.Builder a = Acquire.newBuilder().setConsumer(r.getConsumerId()).setMax(max)
          .setLeaseMs(r.getLeaseMs() > 0 ? r.getLeaseMs() : stats.config().getVisibilityTimeoutMs())
          .setFirstNewOffset(end).addAllAcks(pr.getAcksList())
          .addAllAckRuns(pr.getAckRunsList());
      if (end < hw && max > 0) {
        // With ordering by key, blocked keys are skipped: offer more new records than asked for.
        // Otherwise no more than the in-flight bound leaves room for (after this request's acks, and
        // the new records of acquires still in flight): records taken in but not leased would be leased
        // by a later acquire from wherever this one stopped, cutting producer batches in two (see
        // alignedCount).
        int wantNew = stats.config().getOrderingKey() ? Math.min(MAX_PER_ACQUIRE, max * 4 + 64)
            : (int) Math.max(1, Math.min(max, inFlightRoom(stats, ackRunTotal(pr) + pr.getAcksCount(),
                end - stats.end())));
        try {
          readNewRecords(lp, topic, end, hw, wantNew, a);
        } catch (IOException | RuntimeException e) {
          LOG.warn("queue {}-{}: reading new records at {} failed", lp.topic, lp.partition, end, e);
          return done(out.setError(ErrorCode.LEADER_NOT_AVAILABLE).setErrorMessage("replica is reloading: " + e));
        }
      }
      slot.pendingEnd = end + a.getNewRecordCount();
      slot.acquiresInFlight++;
      proposed = propose(lp, topic, QueueCommand.newBuilder().setGroup(r.getGroup()).setAcquire(a));
    }
    proposed.whenComplete((reply, e) -> {
      synchronized (slot) {
        if (--slot.acquiresInFlight == 0) {
          slot.pendingEnd = -1;
        }
      }
    });
    return proposed.thenApply(reply -> {
      if (acks) {
        // The acks were applied: the refused ones are the reply's results (the acquire adds no other).
        out.setAcksApplied(true);
        for (QueueResult q : reply.getQueueResultsList()) {
          out.addRefusedAcks(settleResult(q));
        }
      }
      if (reply.getLeasedRunsCount() == 0) {
        if (leasing) {
          // Found nothing to lease at this version (an acks-only acquire did not look).
          slot.emptyVersion = reply.getGeneration();
        }
        QueueGroup g = lp.stateMachine.queueGroups().get(r.getGroup());
        return new Received(out, List.of(), g == null ? Long.MAX_VALUE : g.stats().nextVisibleAtMs(), lp);
      }
      out.addAllLeaseRuns(reply.getLeasedRunsList()).setLeaseDeadlineMs(reply.getLeaseDeadlineMs());
      remember(channel, new Lessee(lp.topic, lp.partition, lp.groupId, r.getGroup(), r.getConsumerId()));
      List<FetchSlice> slices;
      try {
        slices = slicesFor(lp.stateMachine.log(), reply);
      } catch (IOException | RuntimeException e) {
        // Leased but unreadable here now: the leases run out and the messages come back.
        LOG.warn("queue {}-{}: reading leased records failed", lp.topic, lp.partition, e);
        out.clearLeaseRuns().clearLeaseDeadlineMs();
        return new Received(out.setError(ErrorCode.LEADER_NOT_AVAILABLE)
            .setErrorMessage("replica is reloading: " + e), List.of(), Long.MAX_VALUE, null);
      }
      return new Received(out, slices, Long.MAX_VALUE, lp);
    });
  }

  /**
   * How many more messages the group's in-flight bound lets be leased once {@code acked} acks are applied,
   * less {@code pendingNew} new records that acquires in flight take in (a guess: those lease them).
   */
  static long inFlightRoom(QueueGroup.Stats stats, long acked, long pendingNew) {
    return (long) stats.config().getMaxInFlight() - stats.inFlight() + Math.max(0, acked)
        - Math.max(0, pendingNew);
  }

  /** One partition's share of the request's record-byte bound. */
  static long byteShare(QueueReceiveRequest r) {
    long total = r.getMaxBytes() > 0 ? r.getMaxBytes() : DEFAULT_RECEIVE_MAX_BYTES;
    int leasing = 0;
    for (int i = 0, n = r.getPartitionsCount(); i < n; i++) {
      if (!r.getPartitions(i).getAcksOnly()) {
        leasing++;
      }
    }
    return total / Math.max(1, leasing);
  }

  /**
   * How many messages of {@code lp} fit in {@code bytes}, judged by the mean size of the records its log
   * holds (batch framing included); at least 1. Leases are given before the records are read, so the
   * size of the ones an acquire will pick is not known: the mean keeps a response near its bound when
   * sizes are alike, and one message always goes, however large.
   */
  static int fitting(PartitionDirectory.LocalPartition lp, long bytes) {
    long records = lp.stateMachine.log().nextOffset() - lp.stateMachine.log().logStartOffset();
    long size = lp.stateMachine.log().sizeInBytes();
    if (records <= 0 || size <= 0) {
      return Integer.MAX_VALUE;
    }
    return (int) Math.max(1, Math.min(Integer.MAX_VALUE, bytes / Math.max(1, size / records)));
  }

  /**
   * Describes up to {@code want} records from {@code from} (below {@code hw}) in the acquire: their
   * count, and their key hashes and expiry times unless all of them are 0 (keyless, no TTL).
   */
  private void readNewRecords(PartitionDirectory.LocalPartition lp, TopicRecord topic, long from, long hw, int want,
      Acquire.Builder a) throws IOException {
    long topicTtl = ttlOf(topic);
    if (topicTtl == 0 && from >= lp.stateMachine.plainFrom() && from >= lp.stateMachine.logStartOffset()) {
      // Plain records (no key, no TTL header; hw was read before plainFrom): nothing to read but how many.
      a.setNewRecordCount(alignedCount(lp.stateMachine.log(), from, (int) Math.min(want, hw - from), hw));
      return;
    }
    NewRecords got = new NewRecords(want);
    got.next = from;
    // About what `want` records of 1 KiB take; the loop reads on when records are larger.
    int budget = Math.min(1 << 20, Math.max(64 << 10, want * 1024));
    while (got.next < hw && got.count < want) {
      FetchSlice slice = lp.stateMachine.log().read(got.next, budget);
      if (slice.isEmpty()) {
        break;
      }
      long before = got.next;
      ByteBuffer frames = slice.readFully(SCAN_BUFFER.get());
      BatchFrames.forEach(frames, frame -> {
        if (got.count >= want || frame.nextOffset() <= got.next || frame.baseOffset() >= hw) {
          return;
        }
        long base = frame.baseOffset();
        RecordCodec.scanKeys(frame.payload(), frame.recordCount(), DeadLetters.TTL_HEADER,
            (index, timestamp, keyHash, ttlHeader) -> {
              long offset = base + index;
              if (offset < got.next || offset >= hw || got.count >= want) {
                return;
              }
              long ttl = topicTtl;
              if (ttlHeader != null) {
                try {
                  ttl = Long.parseLong(ttlHeader.trim());
                } catch (NumberFormatException ignored) {
                  // a malformed header is ignored (the topic's TTL applies)
                }
              }
              got.add(keyHash, ttl > 0 ? timestamp + ttl : 0);
              got.next = offset + 1;
            });
      });
      if (got.next == before) {
        break;
      }
    }
    a.setNewRecordCount(got.count);
    for (int i = 0; got.anyKey && i < got.count; i++) {
      a.addNewKeyHashes(got.keys[i]);
    }
    for (int i = 0; got.anyExpiry && i < got.count; i++) {
      a.addNewExpiresAtMs(got.expiries[i]);
    }
  }

  /**
   * {@code count} new records from {@code from}, cut back to end where a producer batch ends when that
   * leaves at least one whole batch. The leases of an acquire are sent as the batches holding them and a
   * batch is checksummed as a whole, so a range that ends inside a batch sends that batch to two
   * consumers (one acquire's last, the next one's first). With the in-flight room bound of acquire(),
   * this took the bench's bytes per queue message from 1,194 to 1,036, what a stream consumer reads.
   * Costs one header read of the batch at the cut. Unchanged when the range reaches {@code hw} or one
   * batch holds it all.
   */
  static int alignedCount(PartitionLog log, long from, int count, long hw) throws IOException {
    long cut = from + count;
    if (count <= 0 || cut >= hw) {
      return count;
    }
    FetchSlice at = log.read(cut, 1);
    long batchStart = at.isEmpty() ? -1 : at.firstBatchBaseOffset();
    return batchStart > from && batchStart < cut ? (int) (batchStart - from) : count;
  }

  /** The new records read for one acquire: primitive arrays, packed into the command at the end. */
  private static final class NewRecords {
    final long[] keys;
    final long[] expiries;
    int count;
    long next;
    boolean anyKey;
    boolean anyExpiry;

    NewRecords(int want) {
      keys = new long[want];
      expiries = new long[want];
    }

    void add(long key, long expiresAt) {
      keys[count] = key;
      expiries[count] = expiresAt;
      anyKey |= key != 0;
      anyExpiry |= expiresAt != 0;
      count++;
    }
  }

  static long ttlOf(TopicRecord topic) {
    String v = topic.getConfigsMap().get(AdminHandler.MESSAGE_TTL_MS);
    if (v == null) {
      return 0;
    }
    try {
      return Math.max(0, Long.parseLong(v));
    } catch (NumberFormatException e) {
      return 0;
    }
  }

  /** Most bytes one read of a run of leased offsets asks for (the run continues in further reads). */
  private static final int MAX_SLICE_BYTES = 8 << 20;

  /**
   * The batches that hold the leased offsets, each once, in offset order. Each run of consecutive leased
   * offsets (the usual case: with ordering=none an acquire leases the oldest visible messages) is read
   * as few slices as its segments allow, sized by the log's mean record size: one file region to send
   * instead of one per batch. A slice may end with a batch that also holds offsets not leased (the
   * client skips what it was not given); it never repeats a batch.
   */
  static List<FetchSlice> slicesFor(PartitionLog log, PartitionReply reply) throws IOException {
    List<FetchSlice> slices = new ArrayList<>();
    long records = log.nextOffset() - log.logStartOffset();
    long meanBytes = records > 0 ? Math.max(1, log.sizeInBytes() / records) : 1;
    long coveredUntil = -1;
    int n = reply.getLeasedRunsCount();
    int i = 0;
    while (i < n) {
      long first = reply.getLeasedRuns(i);
      long runEnd = first + reply.getLeasedRuns(i + 1);
      i += 3;
      // Runs that differ only in delivery count but touch are one range of the log.
      while (i < n && reply.getLeasedRuns(i) == runEnd) {
        runEnd += reply.getLeasedRuns(i + 1);
        i += 3;
      }
      first = Math.max(first, coveredUntil);
      if (first >= runEnd) {
        continue;
      }
      long from = first;
      while (from < runEnd) {
        FetchSlice slice = log.read(from, (int) Math.min(MAX_SLICE_BYTES, (runEnd - from) * meanBytes));
        if (slice.isEmpty()) {
          break;
        }
        slices.add(slice);
        from = slice.nextOffset();
      }
      coveredUntil = from;
    }
    return slices;
  }

  private void respondReceive(ChannelHandlerContext channel, Request request, List<Received> got, long startNanos) {
    QueueReceiveResponse.Builder resp = QueueReceiveResponse.newBuilder();
    long total = 0;
    ErrorCode first = ErrorCode.NONE;
    for (Received x : got) {
      int size = 0;
      for (FetchSlice s : x.slices) {
        size += s.sizeInBytes();
      }
      x.result.setRecordsSize(size);
      total += size;
      resp.addResults(x.result);
      if (first == ErrorCode.NONE) {
        first = x.result.getError();
      }
    }
    Response response = Response.newBuilder().setCorrelationId(request.getCorrelationId())
        .setQueueReceive(resp).build();
    ByteBuf head = Frames.encodeHead(channel.alloc(), response, total);
    channel.write(head);
    for (Received x : got) {
      for (FetchSlice s : x.slices) {
        channel.write(new SliceRegion(s));
      }
    }
    channel.flush();
    ctx.metrics.request("queue_receive", first, startNanos);
    ctx.metrics.bytesOut(total);
  }

  private static void remember(Channel channel, Lessee lessee) {
    Set<Lessee> set = channel.attr(LESSEES).get();
    if (set == null) {
      Set<Lessee> fresh = ConcurrentHashMap.newKeySet();
      set = channel.attr(LESSEES).setIfAbsent(fresh);
      if (set == null) {
        set = fresh;
      }
    }
    set.add(lessee);
  }

  /** A connection closed: the leases its consumers hold go back to their queues (with backoff). */
  void onDisconnect(Channel channel) {
    Set<Lessee> set = channel.attr(LESSEES).getAndSet(null);
    if (set == null || ctx.closing) {
      // A node shutting down closes every connection: the leases stay, and run out on the next leader.
      return;
    }
    for (Lessee l : set) {
      PartitionDirectory.LocalPartition lp = ctx.partitions.get(l.topic, l.partition);
      TopicRecord topic = ctx.metadata().topic(l.topic);
      if (lp == null || topic == null || !lp.groupId.equals(l.groupId) || !lp.isLeader()) {
        continue; // the new leader lets the leases run out
      }
      propose(lp, topic, QueueCommand.newBuilder().setGroup(l.group)
          .setExpire(Expire.newBuilder().setConsumer(l.consumer))).whenComplete((reply, e) -> {
            if (e != null) {
              LOG.info("releasing leases of disconnected consumer {} on {}-{}: {}", l.consumer, l.topic, l.partition,
                  e.getMessage());
            }
          });
    }
  }

  /** Leader tick: proposes Expire for every group whose earliest lease deadline has passed. */
  private void expireDueLeases() {
    try {
      long now = System.currentTimeMillis();
      for (PartitionDirectory.LocalPartition lp : ctx.partitions.all().values()) {
        if (lp.stateMachine.queueGroups().isEmpty() || !lp.isLeader() || !lp.isLeaderReady()
            || !ctx.partitions.isCurrent(lp)) {
          continue;
        }
        TopicRecord topic = ctx.metadata().topic(lp.topic);
        if (topic == null) {
          continue;
        }
        for (QueueGroup g : lp.stateMachine.queueGroups().values()) {
          QueueGroup.Stats s = g.stats();
          if (s.minLeaseDeadlineMs() > now) {
            continue;
          }
          Slot slot = slots.computeIfAbsent(new SlotKey(lp.groupId, s.group()), k -> new Slot());
          if (!slot.expiring.compareAndSet(false, true)) {
            continue;
          }
          propose(lp, topic, QueueCommand.newBuilder().setGroup(s.group()).setExpire(Expire.getDefaultInstance()))
              .whenComplete((reply, e) -> slot.expiring.set(false));
        }
      }
    } catch (RuntimeException e) {
      LOG.warn("queue expiry tick failed", e);
    }
  }

  // ---- settle ----

  private void settle(ChannelHandlerContext channel, Request request, long startNanos) {
    QueueSettleRequest r = request.getQueueSettle();
    String bad = GroupRules.validateGroupId(r.getGroup());
    if (bad != null) {
      ClientHandler.replyError(channel, request, ErrorCode.INVALID_GROUP_ID, bad);
      return;
    }
    List<CompletableFuture<PartitionSettleResult>> parts = new ArrayList<>();
    for (PartitionSettle ps : r.getPartitionsList()) {
      CompletableFuture<PartitionSettleResult> f;
      try {
        f = settlePartition(r, ps);
      } catch (RuntimeException e) {
        f = CompletableFuture.failedFuture(e);
      }
      parts.add(f.exceptionally(e -> {
        PartitionCommands.Failure fail = PartitionCommands.unwrap(e);
        PartitionSettleResult.Builder b = PartitionSettleResult.newBuilder().setTopic(ps.getTopic())
            .setPartition(ps.getPartition()).setError(fail.code).setErrorMessage(String.valueOf(fail.getMessage()));
        if (fail.leader != null) {
          b.setLeader(fail.leader);
        }
        return b.build();
      }));
    }
    CompletableFuture.allOf(parts.toArray(CompletableFuture[]::new)).whenComplete((v, e) -> {
      QueueSettleResponse.Builder resp = QueueSettleResponse.newBuilder();
      ErrorCode first = ErrorCode.NONE;
      for (CompletableFuture<PartitionSettleResult> p : parts) {
        PartitionSettleResult x = p.join();
        resp.addResults(x);
        if (first == ErrorCode.NONE) {
          first = x.getError();
        }
      }
      ClientHandler.reply(channel, Response.newBuilder().setCorrelationId(request.getCorrelationId())
          .setQueueSettle(resp).build(), null);
      ctx.metrics.request("queue_settle", first, startNanos);
    });
  }

  private CompletableFuture<PartitionSettleResult> settlePartition(QueueSettleRequest r, PartitionSettle ps) {
    PartitionSettleResult.Builder out = PartitionSettleResult.newBuilder().setTopic(ps.getTopic())
        .setPartition(ps.getPartition()).setError(ErrorCode.NONE);
    PartitionDirectory.LocalPartition lp;
    TopicRecord topic = ctx.metadata().topic(ps.getTopic());
    ErrorCode routing = route(topic, ps.getTopic(), ps.getPartition(), out::setErrorMessage);
    if (routing != ErrorCode.NONE) {
      out.setError(routing);
      if (routing == ErrorCode.NOT_LEADER) {
        out.setLeader(ctx.leaderHintFor(topic, ps.getPartition()));
      }
      return CompletableFuture.completedFuture(out.build());
    }
    lp = ctx.partitions.get(ps.getTopic(), ps.getPartition());
    if (lp.stateMachine.queueGroups().get(r.getGroup()) == null) {
      return CompletableFuture.completedFuture(out.setError(ErrorCode.UNKNOWN_QUEUE_GROUP).setErrorMessage(
          "no queue group '" + r.getGroup() + "' on " + ps.getTopic() + "-" + ps.getPartition()).build());
    }
    Settle.Builder s = Settle.newBuilder().setConsumer(r.getConsumerId()).addAllAcks(ps.getAcksList());
    for (NackItem n : ps.getNacksList()) {
      // A delay below -1 is kept as it is: apply refuses it (Q_INVALID) and nothing changes.
      s.addNacks(OffsetDelay.newBuilder().setOffset(n.getOffset()).setDelayMs(n.getDelayMs())
          .setBackoff(n.getDelayMs() == -1).setErrorClass(n.getErrorClass()).setErrorMessage(n.getErrorMessage()));
    }
    for (RejectItem x : ps.getRejectsList()) {
      s.addRejects(io.raftmq.raft.proto.RejectItem.newBuilder().setOffset(x.getOffset()).setReason(x.getReason())
          .setErrorClass(x.getErrorClass()).setErrorMessage(x.getErrorMessage()));
    }
    for (ExtendItem x : ps.getExtendsList()) {
      s.addExtends(io.raftmq.raft.proto.ExtendItem.newBuilder().setOffset(x.getOffset())
          .setLeaseMs(Math.min(x.getLeaseMs(), MAX_LEASE_MS)));
    }
    s.addAllReleases(ps.getReleasesList());
    return propose(lp, topic, QueueCommand.newBuilder().setGroup(r.getGroup()).setSettle(s)).thenApply(reply -> {
      // Refused acks first (successful ones have no result), then every nack, reject, extend and release.
      for (QueueResult q : reply.getQueueResultsList()) {
        out.addResults(settleResult(q));
      }
      return out.build();
    });
  }

  /** One settled item's outcome as the client reads it (from a settle's or a receive's carried acks). */
  static SettleResult settleResult(QueueResult q) {
    return SettleResult.newBuilder().setOffset(q.getOffset()).setError(errorOf(q.getOutcome()))
        .setDeliveryCount(q.getEntry().getDeliveryCount()).setLeaseDeadlineMs(q.getEntry().getLeaseDeadlineMs())
        .build();
  }

  static ErrorCode errorOf(QueueOutcome outcome) {
    return switch (outcome) {
      case Q_OK -> ErrorCode.NONE;
      case Q_NOT_LEASED -> ErrorCode.LEASE_NOT_HELD;
      case Q_LEASE_EXPIRED -> ErrorCode.LEASE_EXPIRED;
      default -> ErrorCode.INVALID_REQUEST;
    };
  }

  /** NONE if this node leads the partition and can propose now, else the error (its message set). */
  private ErrorCode route(TopicRecord topic, String name, int partition, java.util.function.Consumer<String> message) {
    if (topic == null) {
      message.accept("unknown topic '" + name + "'");
      return ErrorCode.UNKNOWN_TOPIC;
    }
    if (partition < 0 || partition >= topic.getPartitions()) {
      message.accept("topic '" + name + "' has no partition " + partition);
      return ErrorCode.UNKNOWN_PARTITION;
    }
    PartitionDirectory.LocalPartition lp = ctx.partitions.get(name, partition);
    if (lp == null || !lp.isLeader()) {
      message.accept("node " + ctx.config.nodeId() + " does not lead " + name + "-" + partition);
      return ErrorCode.NOT_LEADER;
    }
    if (!lp.isLeaderReady()) {
      message.accept("the new leader is not ready yet");
      return ErrorCode.LEADER_NOT_AVAILABLE;
    }
    return ErrorCode.NONE;
  }

  // ---- describe ----

  private void describe(ChannelHandlerContext channel, Request request, long startNanos) {
    DescribeQueueRequest r = request.getDescribeQueue();
    if (!r.getGroup().isEmpty() && GroupRules.validateGroupId(r.getGroup()) != null) {
      ClientHandler.replyError(channel, request, ErrorCode.INVALID_GROUP_ID, GroupRules.validateGroupId(r.getGroup()));
      return;
    }
    DescribeQueueResponse.Builder resp = DescribeQueueResponse.newBuilder();
    int deadLimit = Math.max(0, Math.min(10_000, r.getDeadLimit()));
    for (TopicPartitions tp : r.getPartitionsList()) {
      TopicRecord topic = ctx.metadata().topic(tp.getTopic());
      for (int p : tp.getPartitionsList()) {
        QueuePartitionState.Builder b = QueuePartitionState.newBuilder().setTopic(tp.getTopic()).setPartition(p)
            .setGroup(r.getGroup()).setError(ErrorCode.NONE);
        if (topic == null) {
          resp.addPartitions(b.setError(ErrorCode.UNKNOWN_TOPIC).setErrorMessage("unknown topic '" + tp.getTopic() + "'"));
          continue;
        }
        if (p < 0 || p >= topic.getPartitions()) {
          resp.addPartitions(b.setError(ErrorCode.UNKNOWN_PARTITION)
              .setErrorMessage("topic '" + tp.getTopic() + "' has no partition " + p));
          continue;
        }
        PartitionDirectory.LocalPartition lp = ctx.partitions.get(tp.getTopic(), p);
        if (lp == null) {
          resp.addPartitions(b.setError(ErrorCode.NOT_LEADER).setErrorMessage("no replica here")
              .setLeader(ctx.leaderHintFor(topic, p)));
          continue;
        }
        Map<String, QueueGroup> groups = lp.stateMachine.queueGroups();
        long hw = lp.stateMachine.highWatermark();
        if (!r.getGroup().isEmpty()) {
          QueueGroup g = groups.get(r.getGroup());
          if (g == null) {
            resp.addPartitions(b.setError(ErrorCode.UNKNOWN_QUEUE_GROUP).setErrorMessage(
                "no queue group '" + r.getGroup() + "' on " + tp.getTopic() + "-" + p));
          } else {
            resp.addPartitions(state(b, g, hw, deadLimit));
          }
          continue;
        }
        for (QueueGroup g : groups.values()) {
          resp.addPartitions(state(b.clone().setGroup(g.stats().group()), g, hw, deadLimit));
        }
      }
    }
    ClientHandler.reply(channel, Response.newBuilder().setCorrelationId(request.getCorrelationId())
        .setDescribeQueue(resp).build(), null);
    ctx.metrics.request("describe_queue", ErrorCode.NONE, startNanos);
  }

  private static QueuePartitionState.Builder state(QueuePartitionState.Builder b, QueueGroup g, long hw, int deadLimit) {
    QueueGroup.Stats s = g.stats();
    QueueConfig c = s.config();
    b.setConfig(QueueGroupConfig.newBuilder().setVisibilityTimeoutMs(c.getVisibilityTimeoutMs())
            .setMaxDeliveries(c.getMaxDeliveries() == 0 ? -1 : c.getMaxDeliveries())
            .setBackoffBaseMs(c.getBackoffBaseMs()).setBackoffMaxMs(c.getBackoffMaxMs())
            .setMaxInFlight(c.getMaxInFlight()).setOrdering(c.getOrderingKey() ? "key" : "none")
            .setKeyFailureMode(c.getStrict() ? "strict" : "lenient")
            .setMaxRedrives(c.getMaxRedrives() == 0 ? -1 : c.getMaxRedrives())
            .setDeadLetterTopic(c.getDeadLetterTopic()))
        .setStart(s.start()).setEnd(s.end()).setHighWatermark(hw).setInFlight(s.inFlight())
        .setAvailable(s.available()).setRedelivered(s.redelivered()).setLeaseExpiries(s.leaseExpiries())
        .setDead(s.dead()).putAllDeadByReason(s.deadByReason()).setOldestDeadMs(s.oldestDeadMs())
        .setDeadLetterTopic(c.getDeadLetterTopic()).setAcked(s.acked());
    if (deadLimit > 0) {
      for (QueueEntry e : g.deadView()) {
        if (b.getDeadEntriesCount() >= deadLimit) {
          break;
        }
        b.addDeadEntries(DeadEntry.newBuilder().setOffset(e.getOffset()).setReason(e.getReason())
            .setErrorClass(e.getErrorClass()).setErrorMessage(e.getErrorMessage()).setAttempts(e.getDeliveryCount())
            .setFirstFailureMs(e.getFirstFailureMs()).setLastFailureMs(e.getLastFailureMs())
            .setDeadAtMs(e.getDeadAtMs()).setForwarded(e.getForwarded()).setRedrives(e.getRedrives()));
      }
    }
    return b;
  }

  // ---- redrive and purge ----

  private void redrive(ChannelHandlerContext channel, Request request, long startNanos) {
    QueueRedriveRequest r = request.getQueueRedrive();
    QueueRedriveResponse.Builder out = QueueRedriveResponse.newBuilder().setError(ErrorCode.NONE);
    String bad = GroupRules.validateGroupId(r.getGroup());
    TopicRecord topic = ctx.metadata().topic(r.getTopic());
    ErrorCode code = ErrorCode.NONE;
    if (bad != null) {
      code = ErrorCode.INVALID_GROUP_ID;
      out.setErrorMessage(bad);
    } else if (!r.getReason().isEmpty() && !Set.of(DeadLetters.MAX_DELIVERIES, DeadLetters.REJECTED,
        DeadLetters.EXPIRED).contains(r.getReason())) {
      code = ErrorCode.INVALID_REQUEST;
      out.setErrorMessage("unknown reason '" + r.getReason() + "': use MAX_DELIVERIES, REJECTED or EXPIRED");
    } else if (r.getLimit() < 0 || r.getFromOffset() < 0 || r.getToOffset() < 0 || r.getFromTimeMs() < 0
        || r.getToTimeMs() < 0) {
      code = ErrorCode.INVALID_REQUEST;
      out.setErrorMessage("limits, offsets and times must not be negative");
    } else {
      code = route(topic, r.getTopic(), r.getPartition(), out::setErrorMessage);
      if (code == ErrorCode.NOT_LEADER) {
        out.setLeader(ctx.leaderHintFor(topic, r.getPartition()));
      } else if (code == ErrorCode.NONE && ctx.partitions.get(r.getTopic(), r.getPartition()).stateMachine
          .queueGroups().get(r.getGroup()) == null) {
        code = ErrorCode.UNKNOWN_QUEUE_GROUP;
        out.setErrorMessage("no queue group '" + r.getGroup() + "' on " + r.getTopic() + "-" + r.getPartition());
      }
    }
    if (code != ErrorCode.NONE) {
      replyRedrive(channel, request, out.setError(code), startNanos);
      return;
    }
    PartitionDirectory.LocalPartition lp = ctx.partitions.get(r.getTopic(), r.getPartition());
    Redrive.Builder cmd = Redrive.newBuilder().setReason(r.getReason()).setFromTimeMs(r.getFromTimeMs())
        .setToTimeMs(r.getToTimeMs()).setFromOffset(r.getFromOffset()).setToOffset(r.getToOffset())
        .setLimit(r.getLimit()).setDryRun(r.getDryRun()).setPurge(r.getPurge());
    if (r.getByKey()) {
      cmd.setByKey(true).setKeyHash(RecordCodec.keyHash(r.getKey().toByteArray()));
    }
    propose(lp, topic, QueueCommand.newBuilder().setGroup(r.getGroup()).setRedrive(cmd)).whenComplete((reply, e) -> {
      if (e != null) {
        PartitionCommands.Failure f = PartitionCommands.unwrap(e);
        out.setError(f.code).setErrorMessage(String.valueOf(f.getMessage()));
        if (f.leader != null) {
          out.setLeader(f.leader);
        }
      } else {
        int kept = 0;
        for (QueueResult q : reply.getQueueResultsList()) {
          if (q.getOutcome() == QueueOutcome.Q_OK) {
            out.addOffsets(q.getOffset());
          } else if (q.getOutcome() == QueueOutcome.Q_LOOP_GUARD) {
            kept++;
          }
        }
        out.setKeptByLoopGuard(kept);
      }
      replyRedrive(channel, request, out, startNanos);
    });
  }

  private void replyRedrive(ChannelHandlerContext channel, Request request, QueueRedriveResponse.Builder out,
      long startNanos) {
    ClientHandler.reply(channel, Response.newBuilder().setCorrelationId(request.getCorrelationId())
        .setQueueRedrive(out).build(), null);
    ctx.metrics.request("queue_redrive", out.getError(), startNanos);
  }

  // ---- helpers ----

  /** Proposes a queue command; a reply other than DONE fails the future (INVALID_REQUEST with its message). */
  CompletableFuture<PartitionReply> propose(PartitionDirectory.LocalPartition lp, TopicRecord topic,
      QueueCommand.Builder command) {
    QueueCommandBatcher batcher = lp.queueBatcher(() -> new QueueCommandBatcher(lp.partition, c -> {
      TopicRecord current = ctx.metadata().topic(lp.topic);
      return commands.propose(current != null ? current : topic, lp.partition, c, COMMAND_TIMEOUT_MS);
    }, ctx.timer));
    return batcher.submit(command.build()).thenApply(QueueCommandBatcher::requireDone);
  }

  private static CompletableFuture<Received> done(PartitionReceiveResult.Builder b) {
    return CompletableFuture.completedFuture(new Received(b, List.of(), Long.MAX_VALUE, null));
  }
}
