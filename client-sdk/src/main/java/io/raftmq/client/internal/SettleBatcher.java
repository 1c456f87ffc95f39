package io.raftmq.client.internal;

import io.raftmq.client.NodeAddress;
import io.raftmq.client.RaftMqException;
import io.raftmq.client.TopicPartition;
import io.raftmq.protocol.ApiKey;
import io.raftmq.protocol.ErrorCode;
import io.raftmq.protocol.Errors;
import io.raftmq.protocol.ExtendItem;
import io.raftmq.protocol.NackItem;
import io.raftmq.protocol.PartitionSettle;
import io.raftmq.protocol.PartitionReceiveResult;
import io.raftmq.protocol.PartitionSettleResult;
import io.raftmq.protocol.QueueSettleRequest;
import io.raftmq.protocol.QueueSettleResponse;
import io.raftmq.protocol.RejectItem;
import io.raftmq.protocol.Request;
import io.raftmq.protocol.SettleResult;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Batches the settles (acks, nacks, rejects, extends) of one queue consumer: callers push them onto a
 * lock-free queue; after a short linger with no new settle (at most ten lingers after the first), or at
 * once when {@code maxBatch} are queued, the queue is
 * detached and sent as one {@code QUEUE_SETTLE} per leader node carrying every partition's items
 * (one Raft entry per partition on the broker) — except that the consumer's next receive takes the
 * queued acks of the partitions it asks ({@link #takeAcks}) and carries them in the same Raft command
 * as the new leases, sending only the rest here. Per-offset results complete the callers' futures;
 * partitions whose leader moved (NOT_LEADER, no leader, a lost connection) are retried after a
 * metadata refresh until the client's request timeout. Thread-safe.
 */
final class SettleBatcher {
  private static final Logger log = LoggerFactory.getLogger(SettleBatcher.class);
  /**
   * Queued settles that trigger a send without waiting for the linger (above a receive's usual batch); a
   * run of acks counts its offsets.
   */
  static final int DEFAULT_MAX_BATCH = 20_000;
  /** The longest a settle waits for others while more keep coming, in lingers. */
  static final int MAX_HOLD_LINGERS = 10;

  private final ClientRuntime rt;
  private final String group;
  private final String consumerId;
  private final Duration linger;
  private final int maxBatch;
  private final long timeoutNanos;
  /** Newest first; detached whole by a flush. */
  private final AtomicReference<SettleOp> head = new AtomicReference<>();
  private final AtomicInteger queued = new AtomicInteger();
  private final AtomicBoolean flushScheduled = new AtomicBoolean();
  /** When the scheduled linger began, and how many were queued when it (or its last extension) began. */
  private volatile long lingerStartNanos;
  private volatile int lingerSeen;
  /** Settles accepted and not completed yet. */
  private final AtomicInteger outstanding = new AtomicInteger();
  private final AtomicInteger requestsSent = new AtomicInteger();
  private volatile boolean closed;

  /** Runs a task after a delay; false if it cannot (the client is closing). */
  interface Timer {
    boolean schedule(Runnable task, Duration delay);
  }

  private final Timer timer;

  SettleBatcher(ClientRuntime rt, String group, String consumerId, Duration linger, int maxBatch) {
    this(rt, group, consumerId, linger, maxBatch, rt::schedule);
  }

  /** With a timer of the test's own (to run lingers by hand). */
  SettleBatcher(ClientRuntime rt, String group, String consumerId, Duration linger, int maxBatch, Timer timer) {
    this.timer = timer;
    this.rt = rt;
    this.group = group;
    this.consumerId = consumerId;
    this.linger = linger;
    this.maxBatch = maxBatch;
    this.timeoutNanos = rt.config().requestTimeout().toNanos();
  }

  /** Queues {@code op} and returns it (it is the caller's future). */
  SettleOp add(SettleOp op) {
    if (closed) {
      op.completeExceptionally(new RaftMqException(ErrorCode.INVALID_REQUEST, "the queue consumer is closed: "
          + op + " was not sent", false, null));
      return op;
    }
    op.deadlineNanos = System.nanoTime() + timeoutNanos;
    outstanding.incrementAndGet();
    push(op);
    return op;
  }

  /**
   * Queues {@code ops} (acks of one {@link BulkAck}, say) with one deadline, one counter update and one
   * push of the whole chain: what {@link #add} costs per settle, paid once.
   */
  void addAll(java.util.List<SettleOp> ops) {
    int n = ops.size();
    if (n == 0) {
      return;
    }
    if (closed) {
      for (SettleOp op : ops) {
        op.completeExceptionally(new RaftMqException(ErrorCode.INVALID_REQUEST, "the queue consumer is closed: "
            + op + " was not sent", false, null));
      }
      return;
    }
    long deadline = System.nanoTime() + timeoutNanos;
    // Linked newest first, as single pushes leave them: the queue is detached in reverse.
    SettleOp first = ops.get(n - 1);
    for (int i = n - 1; i >= 0; i--) {
      SettleOp op = ops.get(i);
      op.deadlineNanos = deadline;
      op.next = i > 0 ? ops.get(i - 1) : null;
    }
    SettleOp last = ops.get(0);
    outstanding.addAndGet(n);
    pushChain(first, last, (int) Math.min(Integer.MAX_VALUE, offsetsOf(ops)));
  }

  private void push(SettleOp op) {
    pushChain(op, op, op.length);
  }

  /**
   * Pushes the chain {@code first} .. {@code last} (linked through next; {@code n}: the offsets they
   * settle) onto the queue.
   */
  private void pushChain(SettleOp first, SettleOp last, int n) {
    SettleOp h;
    do {
      h = head.get();
      last.next = h;
    } while (!head.compareAndSet(h, first));
    if (queued.addAndGet(n) >= maxBatch) {
      flush();
    } else if (!flushScheduled.get() && flushScheduled.compareAndSet(false, true)) {
      lingerStartNanos = System.nanoTime();
      lingerSeen = queued.get();
      if (!timer.schedule(this::lingerEnded, linger)) {
        flush(); // the client's timer is gone: send now (it will fail as closed)
      }
    }
  }

  /**
   * The linger ran out. While settles are still arriving (a consumer working through a large receive,
   * acking as it goes) it starts again, up to {@link #MAX_HOLD_LINGERS} lingers after the first settle:
   * the consumer's next receive then carries them all in its acquire, one Raft command for the lot,
   * where a flush in the middle would have cost one more. A quiet linger sends what is queued.
   */
  private void lingerEnded() {
    int now = queued.get();
    if (now > lingerSeen && !closed
        && System.nanoTime() - lingerStartNanos < MAX_HOLD_LINGERS * linger.toNanos()) {
      lingerSeen = now;
      if (timer.schedule(this::lingerEnded, linger)) {
        return;
      }
    }
    flush();
  }

  /** Sends everything queued now. */
  void flush() {
    SettleOp fifo = detach();
    if (fifo != null) {
      send(fifo);
    }
  }

  /** Takes everything queued, oldest first (linked through {@link SettleOp#next}); null if nothing. */
  private SettleOp detach() {
    flushScheduled.set(false);
    SettleOp list = head.getAndSet(null);
    // The queue is newest first: reverse it so that a partition's items keep their call order.
    SettleOp fifo = null;
    int n = 0;
    while (list != null) {
      SettleOp next = list.next;
      list.next = fifo;
      fifo = list;
      list = next;
      n += fifo.length;
    }
    queued.addAndGet(-n);
    return fifo;
  }

  /**
   * Takes the queued acks of {@code partitions} for a receive to carry (per partition, in call order) and
   * sends everything else queued now, ahead of that receive on the same connections. The caller hands
   * each list back through {@link #carriedAcks} or {@link #carriedAcksFailed}.
   */
  Map<TopicPartition, List<SettleOp>> takeAcks(java.util.Set<TopicPartition> partitions) {
    return takeAcks(partitions, true);
  }

  /**
   * As {@link #takeAcks(java.util.Set)}; with {@code sendRest} false, everything else stays queued (for
   * its linger, or a later receive of its partition) instead of being sent now.
   */
  Map<TopicPartition, List<SettleOp>> takeAcks(java.util.Set<TopicPartition> partitions, boolean sendRest) {
    SettleOp fifo = detach();
    Map<TopicPartition, List<SettleOp>> taken = new HashMap<>();
    SettleOp restHead = null;
    SettleOp restTail = null;
    for (SettleOp op = fifo; op != null; ) {
      SettleOp next = op.next;
      op.next = null;
      if (op.kind == SettleOp.Kind.ACK && partitions.contains(op.tp)) {
        taken.computeIfAbsent(op.tp, k -> new ArrayList<>()).add(op);
      } else if (restTail == null) {
        restHead = op;
        restTail = op;
      } else {
        restTail.next = op;
        restTail = op;
      }
      op = next;
    }
    if (restHead != null) {
      if (sendRest) {
        send(restHead);
      } else {
        // Back in the queue, oldest first (settles queued meanwhile end up behind them in a flush:
        // each offset has one settle at most, so only the order of different offsets changes).
        for (SettleOp op = restHead; op != null; ) {
          SettleOp next = op.next;
          op.next = null;
          push(op);
          op = next;
        }
      }
    }
    return taken;
  }

  /** Completes acks a receive carried, by its result for their partition. */
  void carriedAcks(TopicPartition tp, HostPort node, List<SettleOp> acks, PartitionReceiveResult r) {
    if (!r.getAcksApplied()) {
      // Not applied, unless the error hides an unfinished proposal that committed (a timeout, a leader
      // stepping down): the client cannot tell which, so they are retried as possibly applied.
      RaftMqException err = r.getError() == ErrorCode.NONE
          ? new RaftMqException(ErrorCode.UNKNOWN_SERVER_ERROR, "receive " + tp + " at " + node
              + ": acks neither applied nor refused", true, null)
          : new RaftMqException(r.getError(), "acks carried by a receive " + tp + " at " + node + ": "
              + r.getErrorMessage());
      retryOrFail(acks, err, true);
      return;
    }
    SettleResult[] refusal = matchRefused(acks, r.getRefusedAcksList());
    if (refusal == null) {
      RaftMqException err = new RaftMqException(ErrorCode.UNKNOWN_SERVER_ERROR, "receive " + tp + " at " + node
          + ": " + r.getRefusedAcksCount() + " refused ack(s) match no ack it carried");
      acks.forEach(op -> finish(op, err));
      return;
    }
    for (int i = 0; i < refusal.length; i++) {
      if (refusal[i] == null) {
        finish(acks.get(i), null);
      } else {
        complete(acks.get(i), refusal[i], tp, node);
      }
    }
  }

  /** Retries (or fails, if {@code err} is final) acks a receive carried that got no answer. */
  void carriedAcksFailed(java.util.Collection<List<SettleOp>> acks, RaftMqException err) {
    for (List<SettleOp> ops : acks) {
      retryOrFail(ops, err, true);
    }
  }

  /**
   * Pairs refused acks (in request order) with {@code acks}: the refusal of each, or null where it
   * succeeded; null if the refusals do not fit the acks (then none may be completed as acked).
   */
  static SettleResult[] matchRefused(List<SettleOp> acks, List<SettleResult> refused) {
    SettleResult[] refusal = new SettleResult[acks.size()];
    int next = 0;
    for (int i = 0; i < refusal.length && next < refused.size(); i++) {
      // A run of acks takes every refusal inside it and fails with the first (its bulk ack fails anyway).
      SettleOp op = acks.get(i);
      while (next < refused.size() && op.covers(refused.get(next).getOffset())) {
        if (refusal[i] == null) {
          refusal[i] = refused.get(next);
        }
        next++;
      }
    }
    return next < refused.size() ? null : refusal;
  }

  /** How many offsets {@code acks} settle (runs count each of theirs). */
  static long offsetsOf(List<SettleOp> acks) {
    long n = 0;
    for (SettleOp op : acks) {
      n += op.length;
    }
    return n;
  }

  /** One partition's items of a request, by kind, in call order. */
  static final class PartitionItems {
    final TopicPartition tp;
    final List<SettleOp> acks = new ArrayList<>();
    final List<SettleOp> nacks = new ArrayList<>();
    final List<SettleOp> rejects = new ArrayList<>();
    final List<SettleOp> extendOps = new ArrayList<>();
    final List<SettleOp> releases = new ArrayList<>();

    PartitionItems(TopicPartition tp) {
      this.tp = tp;
    }

    void add(SettleOp op) {
      switch (op.kind) {
        case ACK -> acks.add(op);
        case NACK -> nacks.add(op);
        case REJECT -> rejects.add(op);
        case EXTEND -> extendOps.add(op);
        case RELEASE -> releases.add(op);
        default -> throw new IllegalStateException("unknown settle kind " + op.kind);
      }
    }

    /** The items in the order of the broker's results: acks, nacks, rejects, extends, releases. */
    List<SettleOp> ordered() {
      List<SettleOp> out = new ArrayList<>(acks.size() + nacks.size() + rejects.size() + extendOps.size()
          + releases.size());
      out.addAll(acks);
      out.addAll(others());
      return out;
    }

    /** The items that get a result each, in the broker's order: nacks, rejects, extends, releases. */
    List<SettleOp> others() {
      List<SettleOp> out = new ArrayList<>(nacks.size() + rejects.size() + extendOps.size() + releases.size());
      out.addAll(nacks);
      out.addAll(rejects);
      out.addAll(extendOps);
      out.addAll(releases);
      return out;
    }

    PartitionSettle.Builder toProto() {
      PartitionSettle.Builder b = PartitionSettle.newBuilder().setTopic(tp.topic()).setPartition(tp.partition());
      for (SettleOp op : acks) {
        for (int k = 0; k < op.length; k++) {
          b.addAcks(op.offset() + k);
        }
      }
      for (SettleOp op : nacks) {
        b.addNacks(NackItem.newBuilder().setOffset(op.offset()).setDelayMs(op.millis)
            .setErrorClass(op.errorClass).setErrorMessage(op.errorMessage));
      }
      for (SettleOp op : rejects) {
        b.addRejects(RejectItem.newBuilder().setOffset(op.offset()).setReason(op.reason)
            .setErrorClass(op.errorClass).setErrorMessage(op.errorMessage));
      }
      for (SettleOp op : extendOps) {
        b.addExtends(ExtendItem.newBuilder().setOffset(op.offset()).setLeaseMs(op.millis));
      }
      for (SettleOp op : releases) {
        b.addReleases(op.offset());
      }
      return b;
    }
  }

  /** Groups a detached FIFO list by partition, in order of first appearance. */
  static Map<TopicPartition, PartitionItems> byPartition(SettleOp fifo) {
    Map<TopicPartition, PartitionItems> out = new LinkedHashMap<>();
    for (SettleOp op = fifo; op != null; ) {
      SettleOp next = op.next;
      op.next = null;
      out.computeIfAbsent(op.tp, PartitionItems::new).add(op);
      op = next;
    }
    return out;
  }

  private void send(SettleOp fifo) {
    Map<HostPort, List<PartitionItems>> byNode = new LinkedHashMap<>();
    List<SettleOp> noLeader = new ArrayList<>();
    for (PartitionItems items : byPartition(fifo).values()) {
      NodeAddress leader = rt.metadata().leader(items.tp);
      if (leader == null) {
        noLeader.addAll(items.ordered());
      } else {
        byNode.computeIfAbsent(new HostPort(leader.host(), leader.port()), k -> new ArrayList<>()).add(items);
      }
    }
    if (!noLeader.isEmpty()) {
      rt.metadata().requestUpdate();
      rt.metadata().maybeRefresh();
      retry(noLeader, new RaftMqException(ErrorCode.LEADER_NOT_AVAILABLE, "no known leader"), false);
    }
    for (Map.Entry<HostPort, List<PartitionItems>> e : byNode.entrySet()) {
      HostPort node = e.getKey();
      QueueSettleRequest.Builder req = QueueSettleRequest.newBuilder().setGroup(group).setConsumerId(consumerId);
      Map<TopicPartition, PartitionItems> sent = new HashMap<>();
      for (PartitionItems items : e.getValue()) {
        req.addPartitions(items.toProto());
        sent.put(items.tp, items);
      }
      requestsSent.incrementAndGet();
      rt.network().send(node, Request.newBuilder().setApiKey(ApiKey.QUEUE_SETTLE).setQueueSettle(req), null,
          rt.config().requestTimeout()).whenComplete((reply, ex) -> {
            if (ex != null) {
              RaftMqException err = MetadataCache.asRaftMq(ex);
              if (err.isRetriable()) {
                // A dead node may have led these partitions: look for their new leaders before retrying.
                rt.metadata().onNodeUnreachable(node);
                rt.metadata().maybeRefresh();
              }
              sent.values().forEach(items -> retryOrFail(items.ordered(), err, true));
              return;
            }
            try (reply) {
              handle(node, sent, reply);
            } catch (RuntimeException bug) {
              RaftMqException err = MetadataCache.asRaftMq(bug);
              sent.values().forEach(items -> items.ordered().forEach(op -> finish(op, err)));
            }
          });
    }
  }

  private void handle(HostPort node, Map<TopicPartition, PartitionItems> sent, Reply reply) {
    if (reply.header().getError() != ErrorCode.NONE) {
      RaftMqException err = new RaftMqException(reply.header().getError(), "settle at " + node + ": "
          + reply.header().getErrorMessage());
      sent.values().forEach(items -> retryOrFail(items.ordered(), err, false));
      return;
    }
    QueueSettleResponse resp = reply.header().getQueueSettle();
    for (PartitionSettleResult r : resp.getResultsList()) {
      TopicPartition tp = new TopicPartition(r.getTopic(), r.getPartition());
      PartitionItems items = sent.remove(tp);
      if (items == null) {
        continue;
      }
      if (r.getError() != ErrorCode.NONE) {
        List<SettleOp> ops = items.ordered();
        RaftMqException err = new RaftMqException(r.getError(), "settle " + tp + " at " + node + ": "
            + r.getErrorMessage());
        if (Errors.needsMetadataRefresh(r.getError())) {
          rt.metadata().onLeaderError(tp, r.hasLeader() ? r.getLeader() : null);
          if (MetadataCache.toHostPort(r.hasLeader() ? r.getLeader() : null) == null) {
            rt.metadata().maybeRefresh(); // no hint to follow: ask for the leaders
          }
        }
        retryOrFail(ops, err, false);
        continue;
      }
      // Refused acks come first (an ack without a result succeeded), then one per nack, reject, extend,
      // release.
      List<SettleOp> others = items.others();
      int refusedAcks = r.getResultsCount() - others.size();
      if (refusedAcks < 0 || refusedAcks > offsetsOf(items.acks)) {
        RaftMqException err = new RaftMqException(ErrorCode.UNKNOWN_SERVER_ERROR, "settle " + tp + " at " + node
            + ": " + r.getResultsCount() + " results for " + items.acks.size() + " acks and " + others.size()
            + " other items");
        items.ordered().forEach(op -> finish(op, err));
        continue;
      }
      // The broker settles acks in request order, so refused ones come in that order too. Match them all
      // before completing anything: an answer that does not fit the request acks nothing.
      SettleResult[] refusal = matchRefused(items.acks, r.getResultsList().subList(0, refusedAcks));
      if (refusal == null) {
        RaftMqException err = new RaftMqException(ErrorCode.UNKNOWN_SERVER_ERROR, "settle " + tp + " at " + node
            + ": refused ack(s) match no ack of the request");
        items.ordered().forEach(op -> finish(op, err));
        continue;
      }
      for (int i = 0; i < refusal.length; i++) {
        if (refusal[i] == null) {
          finish(items.acks.get(i), null);
        } else {
          complete(items.acks.get(i), refusal[i], tp, node);
        }
      }
      for (int i = 0; i < others.size(); i++) {
        complete(others.get(i), r.getResults(refusedAcks + i), tp, node);
      }
    }
    for (PartitionItems items : sent.values()) {
      RaftMqException err = new RaftMqException(ErrorCode.UNKNOWN_SERVER_ERROR, "settle " + items.tp + " at " + node
          + ": the response has no result for the partition");
      items.ordered().forEach(op -> finish(op, err));
    }
  }

  private void complete(SettleOp op, SettleResult r, TopicPartition tp, HostPort node) {
    if (!op.covers(r.getOffset())) {
      finish(op, new RaftMqException(ErrorCode.UNKNOWN_SERVER_ERROR, "settle " + tp + " at " + node
          + ": result for offset " + r.getOffset() + " where " + op.offset() + " was expected"));
      return;
    }
    if (r.getError() == ErrorCode.NONE) {
      if (op.kind == SettleOp.Kind.EXTEND && r.getLeaseDeadlineMs() > 0) {
        op.delivery.leaseDeadlineMs(r.getLeaseDeadlineMs());
      }
      finish(op, null);
      return;
    }
    String why = switch (r.getError()) {
      case LEASE_NOT_HELD -> "not leased to this consumer";
      case LEASE_EXPIRED -> "the lease ran out";
      default -> "refused";
    };
    finish(op, new RaftMqException(r.getError(), op + ": " + why
        + (op.ambiguous ? " (an earlier attempt whose answer was lost may have taken effect)" : "")));
  }

  private void retryOrFail(List<SettleOp> ops, RaftMqException err, boolean ambiguous) {
    if (err.isRetriable() || Errors.needsMetadataRefresh(err.code()) && err.code() != ErrorCode.UNKNOWN_TOPIC) {
      retry(ops, err, ambiguous);
    } else {
      ops.forEach(op -> finish(op, err));
    }
  }

  private void retry(List<SettleOp> ops, RaftMqException err, boolean ambiguous) {
    long giveUpAt = System.nanoTime() + ClientRuntime.RETRY_BACKOFF.toNanos();
    List<SettleOp> again = new ArrayList<>(ops.size());
    for (SettleOp op : ops) {
      if (giveUpAt - op.deadlineNanos >= 0) {
        finish(op, new RaftMqException(err.code(), op + " gave up after "
            + TimeUnit.NANOSECONDS.toMillis(timeoutNanos) + " ms: " + err.getMessage(), true, err));
      } else {
        op.ambiguous |= ambiguous;
        again.add(op);
      }
    }
    if (again.isEmpty()) {
      return;
    }
    log.debug("retrying {} settle(s) of group {}: {}", again.size(), group, err.getMessage());
    if (!rt.schedule(() -> again.forEach(this::push), ClientRuntime.RETRY_BACKOFF)) {
      RaftMqException closedErr = new RaftMqException(ErrorCode.INVALID_REQUEST, "the client is closed", false, err);
      again.forEach(op -> finish(op, closedErr));
    }
  }

  private void finish(SettleOp op, RaftMqException error) {
    if (error == null) {
      op.complete(null);
    } else {
      op.completeExceptionally(error);
    }
    if (outstanding.decrementAndGet() == 0 && closed) {
      synchronized (this) {
        notifyAll();
      }
    }
  }

  /** Settles queued or in flight. */
  int outstanding() {
    return outstanding.get();
  }

  /** QUEUE_SETTLE requests sent so far (for tests and diagnostics). */
  int requestsSent() {
    return requestsSent.get();
  }

  /**
   * Refuses new settles, sends the queued ones and waits up to {@code timeout} for every outstanding
   * settle to complete; returns whether they all did.
   */
  boolean close(Duration timeout) {
    closed = true;
    flush();
    long deadline = System.nanoTime() + timeout.toNanos();
    synchronized (this) {
      while (outstanding.get() > 0) {
        long left = deadline - System.nanoTime();
        if (left <= 0) {
          log.warn("queue consumer {} of group {} closed with {} settle(s) unanswered", consumerId, group,
              outstanding.get());
          return false;
        }
        try {
          TimeUnit.NANOSECONDS.timedWait(this, left);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          return false;
        }
      }
    }
    return true;
  }
}
