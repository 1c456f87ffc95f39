package io.raftmq.client.internal;

import io.raftmq.client.Delivery;
import io.raftmq.client.DeliveryHandler;
import io.raftmq.client.NodeAddress;
import io.raftmq.client.PartitionInfo;
import io.raftmq.client.QueueConsumer;
import io.raftmq.client.QueueConsumerConfig;
import io.raftmq.client.RaftMqException;
import io.raftmq.client.TopicDescription;
import io.raftmq.client.TopicPartition;
import io.raftmq.protocol.ApiKey;
import io.raftmq.protocol.CorruptRecordException;
import io.raftmq.protocol.ErrorCode;
import io.raftmq.protocol.Errors;
import io.raftmq.protocol.LeaseRuns;
import io.raftmq.protocol.PartitionReceive;
import io.raftmq.protocol.PartitionReceiveResult;
import io.raftmq.protocol.QueueGroupConfig;
import io.raftmq.protocol.QueueReceiveRequest;
import io.raftmq.protocol.Request;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.Semaphore;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The {@link QueueConsumer}. A receive splits its maximum over the topics' partitions (rotating the
 * start), sends one {@code QUEUE_RECEIVE} per leader node that has none in flight (a long poll on the
 * broker), and returns as soon as deliveries arrive; responses that come later are buffered for the
 * next receive (their leases run meanwhile). Responses are decoded on the SDK callback thread. Settles
 * go through a {@link SettleBatcher}. {@link #subscribe} adds a loop thread, a handler pool and a timer
 * that extends the leases of running handlers. Thread-safe: the receive state is guarded by this
 * object's monitor, which response callbacks also take (once per response, not per message).
 */
public final class QueueConsumerImpl implements QueueConsumer {
  private static final Logger log = LoggerFactory.getLogger(QueueConsumerImpl.class);
  /** Back-off when nothing can be asked (no leader known) and after a failed loop round. */
  private static final long BACKOFF_NANOS = TimeUnit.MILLISECONDS.toNanos(100);
  /** How long a receive waits past its own wait for long polls in flight to answer. */
  private static final long ANSWER_GRACE_NANOS = TimeUnit.MILLISECONDS.toNanos(200);
  /** Long-poll wait of the subscribe loop. */
  static final Duration LOOP_WAIT = Duration.ofMillis(500);
  /** Pause of the subscribe loop after an error. */
  private static final Duration LOOP_ERROR_BACKOFF = Duration.ofSeconds(1);

  private final ClientRuntime rt;
  private final QueueConsumerConfig config;
  private final Runnable onClose;
  private final SettleBatcher settles;
  /** The group settings sent with every receive; null when none was set. */
  private final QueueGroupConfig groupConfig;
  /** Lease asked for (0: the group's) and assumed for extensions (0: estimated per delivery). */
  private final long leaseMs;
  /** Record bytes one receive response may carry: the config's, within half the frame limit. */
  private final int receiveMaxBytes;

  // ---- guarded by this ----
  private final ArrayDeque<DeliveryImpl> buffered = new ArrayDeque<>();
  private final Map<HostPort, CompletableFuture<Reply>> inFlight = new LinkedHashMap<>();
  /** Nodes not asked again before this time ({@link System#nanoTime()}): their last answer was an error. */
  private final Map<HostPort, Long> backoffUntil = new java.util.HashMap<>();
  private RaftMqException pendingError;
  private int rotation;
  /** The partition a receive asks alone first (see {@link #sendFocused}); null: the next one in turn. */
  private TopicPartition focus;
  /** Where the turn of focus partitions stands (consumers of a group start at different ones). */
  private int focusRotation;
  /** Receives the focus has served in a row. */
  private int focusTurns;
  /** Receives in a row one focus serves at most, so that a busy partition cannot starve the others. */
  static final int MAX_FOCUS_TURNS = 8;
  /** Partitions a receive asks alone, one after the other, before it asks every partition. */
  static final int MAX_PROBES = 2;
  private volatile boolean closed;

  // ---- subscribe ----
  private volatile Thread loop;
  private volatile boolean stopping;
  private final CountDownLatch stopSignal = new CountDownLatch(1);
  private ThreadPoolExecutor handlers;
  private ScheduledExecutorService extender;
  private Semaphore slots;

  /** A consumer that has not asked anything yet; {@code onClose} runs once closed. */
  public QueueConsumerImpl(ClientRuntime rt, QueueConsumerConfig config, Runnable onClose) {
    this.rt = rt;
    this.config = Objects.requireNonNull(config, "config");
    this.onClose = onClose;
    this.settles = new SettleBatcher(rt, config.groupId(), config.consumerId(), config.settleLinger(),
        SettleBatcher.DEFAULT_MAX_BATCH);
    this.groupConfig = wireConfig(config);
    this.leaseMs = config.explicitVisibilityTimeout().map(Duration::toMillis).orElse(0L);
    this.receiveMaxBytes = Math.min(config.receiveMaxBytes(), rt.config().maxFrameBytes() / 2);
    this.focusRotation = config.consumerId().hashCode() & 0x7fffffff;
  }

  /** The group settings the user set, as the wire carries them (0 / empty: unset); null if none. */
  static QueueGroupConfig wireConfig(QueueConsumerConfig c) {
    if (!c.hasGroupSettings()) {
      return null;
    }
    QueueGroupConfig.Builder b = QueueGroupConfig.newBuilder();
    c.explicitVisibilityTimeout().ifPresent(d -> b.setVisibilityTimeoutMs(d.toMillis()));
    c.explicitMaxDeliveries().ifPresent(b::setMaxDeliveries);
    c.explicitBackoffBase().ifPresent(d -> b.setBackoffBaseMs(d.toMillis()));
    c.explicitBackoffMax().ifPresent(d -> b.setBackoffMaxMs(d.toMillis()));
    c.explicitMaxInFlight().ifPresent(b::setMaxInFlight);
    c.explicitOrdering().ifPresent(o -> b.setOrdering(o.name().toLowerCase(java.util.Locale.ROOT)));
    c.explicitKeyFailureMode().ifPresent(m -> b.setKeyFailureMode(m.name().toLowerCase(java.util.Locale.ROOT)));
    c.explicitMaxRedrives().ifPresent(b::setMaxRedrives);
    c.deadLetterTopic().ifPresent(b::setDeadLetterTopic);
    return b.build();
  }

  @Override
  public String groupId() {
    return config.groupId();
  }

  @Override
  public String consumerId() {
    return config.consumerId();
  }

  @Override
  public CompletableFuture<Void> ackAll(java.util.Collection<? extends Delivery> deliveries) {
    BulkAck bulk = new BulkAck(deliveries.size());
    // Deliveries come as a receive gave them: runs of consecutive offsets of a partition. Each run is one
    // settle (one future, one queue entry, one ack run on the wire), not one per delivery.
    List<SettleOp> ops = new ArrayList<>();
    TopicPartition runTp = null;
    long runStart = -1;
    int runLength = 0;
    for (Delivery d : deliveries) {
      if (!(d instanceof DeliveryImpl di)) {
        bulk.done(new RaftMqException(ErrorCode.INVALID_REQUEST, d + " was not received by a queue consumer"));
        continue;
      }
      if (!di.claimForBulk(settles, bulk)) {
        continue;
      }
      TopicPartition tp = di.topicPartition();
      long offset = di.offset();
      if (runLength > 0 && offset == runStart + runLength && tp.equals(runTp)) {
        runLength++;
        continue;
      }
      if (runLength > 0) {
        ops.add(new SettleOp(runTp, runStart, runLength, bulk));
      }
      runTp = tp;
      runStart = offset;
      runLength = 1;
    }
    if (runLength > 0) {
      ops.add(new SettleOp(runTp, runStart, runLength, bulk));
    }
    settles.addAll(ops);
    return bulk.future();
  }

  @Override
  public List<Delivery> receive(int maxMessages, Duration wait) {
    if (maxMessages < 1) {
      throw new IllegalArgumentException("maxMessages must be positive: " + maxMessages);
    }
    if (wait == null || wait.isNegative()) {
      throw new IllegalArgumentException("wait must not be negative: " + wait);
    }
    if (closed) {
      throw new IllegalStateException("the queue consumer is closed");
    }
    if (loop != null) {
      throw new IllegalStateException("this queue consumer is subscribed: its loop receives");
    }
    return List.copyOf(doReceive(maxMessages, wait));
  }

  /**
   * Receives up to {@code max} deliveries within {@code wait}; empty once closed. Asks at least once
   * (so a zero wait still makes one round trip), and waits a little past {@code wait} for long polls in
   * flight, whose answers arrive just after the broker's wait ends.
   */
  List<DeliveryImpl> doReceive(int max, Duration wait) {
    long deadline = System.nanoTime() + wait.toNanos();
    ensureTopics();
    // Settles still lingering go out with the receives (sendReceives): the acks of a partition asked
    // inside its receive, everything else ahead of it on the same connection. Either way they free
    // in-flight room before the broker leases again, and need not wait out the linger.
    // The first rounds ask a focus partition alone (sendFocused); once they have answered with nothing,
    // a round asks every partition (at least once, even with no wait left), then more while time is left.
    boolean wide = false;
    int probes = 0;
    HostPort probeNode = null;
    CompletableFuture<Reply> probe = null;
    synchronized (this) {
      while (true) {
        if (closed) {
          return List.of();
        }
        if (!buffered.isEmpty()) {
          List<DeliveryImpl> out = new ArrayList<>(Math.min(max, buffered.size()));
          while (out.size() < max && !buffered.isEmpty()) {
            out.add(buffered.poll());
          }
          return out;
        }
        if (pendingError != null) {
          RaftMqException e = pendingError;
          pendingError = null;
          throw e;
        }
        long now = System.nanoTime();
        long remaining = deadline - now;
        // Its answer and its deliveries land together, under this monitor.
        boolean probing = probe != null && inFlight.get(probeNode) == probe;
        if (!probing && (remaining > 0 || !wide)) {
          if (rt.metadata().needsRefresh()) {
            rt.metadata().maybeRefresh();
          }
          // A focus with nothing (its group's in-flight bound reached by other consumers focused there,
          // or drained) has moved on: the next partition in turn is asked alone too, up to MAX_PROBES.
          Map.Entry<HostPort, CompletableFuture<Reply>> sent = !wide && probes < MAX_PROBES ? sendFocused(max, now) : null;
          if (sent != null) {
            probes++;
            probeNode = sent.getKey();
            probe = sent.getValue();
          } else {
            sendReceives(max, Math.max(0, remaining), now);
            wide = true;
          }
        }
        if (remaining <= 0 && (wide && inFlight.isEmpty() || remaining <= -ANSWER_GRACE_NANOS)) {
          return List.of();
        }
        long waitNanos = inFlight.isEmpty() ? Math.min(remaining, BACKOFF_NANOS) : remaining + ANSWER_GRACE_NANOS;
        try {
          TimeUnit.NANOSECONDS.timedWait(this, Math.max(1, waitNanos));
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new RaftMqException(ErrorCode.REQUEST_TIMED_OUT, "interrupted in receive", true, e);
        }
      }
    }
  }

  /** Makes sure the metadata knows every topic (blocking on the first receive); UNKNOWN_TOPIC if one does not exist. */
  private void ensureTopics() {
    for (String topic : config.topics()) {
      if (rt.metadata().topic(topic) == null) {
        rt.metadata().awaitTopic(topic, rt.config().requestTimeout(), ClientRuntime.RETRY_BACKOFF);
      }
    }
  }

  /**
   * The first rounds of a receive: asks one partition, its focus, for all of {@code max}, without a long
   * poll (and, if that has nothing, the next partition in turn the same way: {@link #MAX_PROBES}). A
   * busy queue is then served by one request and one Raft command (an acquire carrying the partition's
   * acks) per receive instead of one per leader node and partition: on a 2-core machine,
   * Raft entries and requests are most of what a queue message costs the nodes. The focus stays while
   * it fills at least half a receive, for {@link #MAX_FOCUS_TURNS} receives at most (the consumers of a
   * group start at different partitions, from their ids), and moves on to the next partition in turn
   * then, or when it fails. When the probes have nothing, the next round asks every partition as before
   * (long poll included), so a message on any partition is still received within the wait. Only for
   * batch receives (at least two messages per partition asked); a smaller receive asks a few
   * partitions in turn anyway. Returns the node asked and the answer's future; null, sending nothing,
   * when there is no choice to make (fewer than two partitions whose leader is known and free) or the
   * receive is small. Holds the monitor.
   */
  private Map.Entry<HostPort, CompletableFuture<Reply>> sendFocused(int max, long nowNanos) {
    List<TopicPartition> candidates = new ArrayList<>();
    List<HostPort> nodes = new ArrayList<>();
    for (String topic : config.topics()) {
      TopicDescription t = rt.metadata().topic(topic);
      if (t == null) {
        continue;
      }
      for (PartitionInfo p : t.partitions()) {
        TopicPartition tp = new TopicPartition(topic, p.partition());
        NodeAddress leader = rt.metadata().leader(tp);
        if (leader == null) {
          continue;
        }
        HostPort node = new HostPort(leader.host(), leader.port());
        Long until = backoffUntil.get(node);
        if ((until == null || nowNanos - until >= 0) && !inFlight.containsKey(node)) {
          candidates.add(tp);
          nodes.add(node);
        }
      }
    }
    if (candidates.size() < 2 || max < 2 * candidates.size()) {
      return null; // a small receive asks a few partitions in turn anyway (see shares)
    }
    int at = focus == null || focusTurns >= MAX_FOCUS_TURNS ? -1 : candidates.indexOf(focus);
    if (at < 0) {
      at = Math.floorMod(focusRotation++, candidates.size());
      focusTurns = 0;
    }
    focusTurns++;
    TopicPartition tp = candidates.get(at);
    HostPort node = nodes.get(at);
    focus = tp;
    // The acks of every partition that node leads ride along (the focus's in its acquire, the others'
    // as acks-only entries); those of other nodes' partitions stay queued for their linger or a later
    // receive of theirs.
    java.util.Set<TopicPartition> sameNode = new java.util.HashSet<>();
    for (String topic : config.topics()) {
      TopicDescription t = rt.metadata().topic(topic);
      for (PartitionInfo p : t == null ? List.<PartitionInfo>of() : t.partitions()) {
        TopicPartition other = new TopicPartition(topic, p.partition());
        NodeAddress leader = rt.metadata().leader(other);
        if (leader != null && node.equals(new HostPort(leader.host(), leader.port()))) {
          sameNode.add(other);
        }
      }
    }
    sameNode.add(tp);
    Map<TopicPartition, List<SettleOp>> carried = settles.takeAcks(sameNode, false);
    QueueReceiveRequest.Builder req = QueueReceiveRequest.newBuilder().setGroup(config.groupId())
        .setConsumerId(config.consumerId()).setMaxWaitMs(0).setLeaseMs(leaseMs)
        .setMaxBytes(receiveMaxBytes);
    PartitionReceive.Builder pr = PartitionReceive.newBuilder()
        .setTopic(tp.topic()).setPartition(tp.partition()).setMaxMessages(max);
    List<SettleOp> acks = carried.get(tp);
    if (acks != null) {
      addAckRuns(pr, acks);
    }
    req.addPartitions(pr);
    for (Map.Entry<TopicPartition, List<SettleOp>> e : carried.entrySet()) {
      if (!e.getKey().equals(tp)) {
        PartitionReceive.Builder only = PartitionReceive.newBuilder().setTopic(e.getKey().topic())
            .setPartition(e.getKey().partition()).setAcksOnly(true);
        addAckRuns(only, e.getValue());
        req.addPartitions(only);
      }
    }
    if (groupConfig != null) {
      req.setConfig(groupConfig);
    }
    CompletableFuture<Reply> f = rt.network().send(node,
        Request.newBuilder().setApiKey(ApiKey.QUEUE_RECEIVE).setQueueReceive(req), null, rt.config().requestTimeout());
    inFlight.put(node, f);
    Map<TopicPartition, List<SettleOp>> settled = carried;
    f.whenComplete((reply, ex) -> {
      try {
        settleCarriedAcks(node, settled, reply, ex);
      } finally {
        synchronized (this) {
          if (tp.equals(focus) && leased(reply, ex) < Math.max(1, max / 2)) {
            focus = null;
          }
        }
        onResponse(node, f, reply, ex, max);
      }
    });
    return Map.entry(node, f);
  }

  /**
   * Sorts {@code acks} by offset, in place (the broker settles them, and lists refusals, in that order),
   * and adds them to {@code pr} as runs of consecutive offsets (merging the runs of bulk acks): a whole
   * receive acked is one pair.
   */
  static void addAckRuns(PartitionReceive.Builder pr, List<SettleOp> acks) {
    acks.sort(java.util.Comparator.comparingLong(SettleOp::offset));
    long first = -1;
    long length = 0;
    for (SettleOp op : acks) {
      long o = op.offset();
      if (length > 0 && o == first + length) {
        length += op.length;
        continue;
      }
      if (length > 0) {
        pr.addAckRuns(first).addAckRuns(length);
      }
      first = o;
      length = op.length;
    }
    if (length > 0) {
      pr.addAckRuns(first).addAckRuns(length);
    }
  }

  /** How many messages a (single-partition) receive response leased; 0 for a failed one. */
  private static int leased(Reply reply, Throwable ex) {
    if (ex != null || reply.header().getError() != ErrorCode.NONE) {
      return 0;
    }
    int n = 0;
    for (PartitionReceiveResult r : reply.header().getQueueReceive().getResultsList()) {
      if (r.getError() == ErrorCode.NONE) {
        n += LeaseRuns.count(r::getLeaseRuns, r.getLeaseRunsCount());
      }
    }
    return n;
  }

  /**
   * Sends a receive to every leader node without one in flight, splitting {@code max} over their
   * partitions from a rotating start. Returns whether anything was sent. Holds the monitor.
   */
  private boolean sendReceives(int max, long remainingNanos, long nowNanos) {
    List<TopicPartition> eligible = new ArrayList<>();
    List<HostPort> nodes = new ArrayList<>();
    boolean leaderUnknown = false;
    for (String topic : config.topics()) {
      TopicDescription t = rt.metadata().topic(topic);
      if (t == null) {
        leaderUnknown = true;
        continue;
      }
      for (PartitionInfo p : t.partitions()) {
        TopicPartition tp = new TopicPartition(topic, p.partition());
        NodeAddress leader = rt.metadata().leader(tp);
        if (leader == null) {
          leaderUnknown = true;
          continue;
        }
        HostPort node = new HostPort(leader.host(), leader.port());
        Long until = backoffUntil.get(node);
        if (until != null && nowNanos - until < 0) {
          continue;
        }
        if (!inFlight.containsKey(node)) {
          eligible.add(tp);
          nodes.add(node);
        }
      }
    }
    if (leaderUnknown) {
      rt.metadata().requestUpdate();
      rt.metadata().maybeRefresh();
    }
    int n = eligible.size();
    if (n == 0) {
      return false;
    }
    int[] shares = shares(max, n, Math.floorMod(rotation++, n));
    java.util.Set<TopicPartition> asked = new java.util.HashSet<>();
    for (int i = 0; i < n; i++) {
      if (shares[i] > 0) {
        asked.add(eligible.get(i));
      }
    }
    // The acks of the partitions asked ride in their receives (one Raft command each, not two).
    Map<TopicPartition, List<SettleOp>> acks = settles.takeAcks(asked);
    Map<HostPort, List<PartitionReceive>> byNode = new LinkedHashMap<>();
    Map<HostPort, Map<TopicPartition, List<SettleOp>>> acksByNode = new java.util.HashMap<>();
    for (int i = 0; i < n; i++) {
      if (shares[i] > 0) {
        TopicPartition tp = eligible.get(i);
        PartitionReceive.Builder pr = PartitionReceive.newBuilder()
            .setTopic(tp.topic()).setPartition(tp.partition()).setMaxMessages(shares[i]);
        List<SettleOp> carried = acks.get(tp);
        if (carried != null) {
          addAckRuns(pr, carried);
          acksByNode.computeIfAbsent(nodes.get(i), k -> new java.util.HashMap<>()).put(tp, carried);
        }
        byNode.computeIfAbsent(nodes.get(i), k -> new ArrayList<>()).add(pr.build());
      }
    }
    int maxWaitMs = (int) Math.min(Integer.MAX_VALUE, TimeUnit.NANOSECONDS.toMillis(remainingNanos));
    Duration timeout = rt.config().requestTimeout().plusMillis(maxWaitMs);
    for (Map.Entry<HostPort, List<PartitionReceive>> e : byNode.entrySet()) {
      HostPort node = e.getKey();
      QueueReceiveRequest.Builder req = QueueReceiveRequest.newBuilder().setGroup(config.groupId())
          .setConsumerId(config.consumerId()).setMaxWaitMs(maxWaitMs).setLeaseMs(leaseMs)
          .setMaxBytes(receiveMaxBytes).addAllPartitions(e.getValue());
      if (groupConfig != null) {
        req.setConfig(groupConfig);
      }
      CompletableFuture<Reply> f = rt.network().send(node,
          Request.newBuilder().setApiKey(ApiKey.QUEUE_RECEIVE).setQueueReceive(req), null, timeout);
      inFlight.put(node, f);
      Map<TopicPartition, List<SettleOp>> carried = acksByNode.getOrDefault(node, Map.of());
      int askedOfNode = e.getValue().stream().mapToInt(PartitionReceive::getMaxMessages).sum();
      f.whenComplete((reply, ex) -> {
        try {
          settleCarriedAcks(node, carried, reply, ex);
        } finally {
          onResponse(node, f, reply, ex, askedOfNode);
        }
      });
    }
    return true;
  }

  /**
   * How many messages each of {@code n} partitions is asked for so that they sum to {@code max}: an
   * even split, the remainder (or, with fewer messages than partitions, everything) going to the
   * partitions from {@code start} on, cyclically, so that successive calls favour different partitions.
   */
  static int[] shares(int max, int n, int start) {
    int[] out = new int[n];
    int each = max / n;
    int extra = max % n;
    Arrays.fill(out, each);
    for (int k = 0; k < extra; k++) {
      out[(start + k) % n]++;
    }
    return out;
  }

  /** Completes (or retries) the acks a receive carried, by its answer; before the answer is decoded. */
  private void settleCarriedAcks(HostPort node, Map<TopicPartition, List<SettleOp>> carried, Reply reply,
      Throwable ex) {
    if (carried.isEmpty()) {
      return;
    }
    Map<TopicPartition, List<SettleOp>> open = new java.util.HashMap<>(carried);
    if (ex != null) {
      settles.carriedAcksFailed(open.values(), MetadataCache.asRaftMq(ex));
      return;
    }
    if (reply.header().getError() != ErrorCode.NONE) {
      settles.carriedAcksFailed(open.values(), new RaftMqException(reply.header().getError(), "queue receive at "
          + node + ": " + reply.header().getErrorMessage()));
      return;
    }
    for (PartitionReceiveResult r : reply.header().getQueueReceive().getResultsList()) {
      TopicPartition tp = new TopicPartition(r.getTopic(), r.getPartition());
      List<SettleOp> acks = open.remove(tp);
      if (acks != null) {
        settles.carriedAcks(tp, node, acks, r);
      }
    }
    if (!open.isEmpty()) {
      settles.carriedAcksFailed(open.values(), new RaftMqException(ErrorCode.UNKNOWN_SERVER_ERROR,
          "queue receive at " + node + ": no result for partitions " + open.keySet(), true, null));
    }
  }

  /** Takes in a receive's answer; {@code asked}: the messages the request asked for in all. */
  private void onResponse(HostPort node, CompletableFuture<Reply> f, Reply reply, Throwable ex, int asked) {
    List<DeliveryImpl> got = List.of();
    RaftMqException error = null;
    boolean[] failed = {ex != null};
    if (ex != null) {
      RaftMqException e = MetadataCache.asRaftMq(ex);
      log.debug("queue receive from {} failed: {}", node, e.getMessage());
      if (e.isRetriable()) {
        rt.metadata().onNodeUnreachable(node);
      } else {
        error = e;
      }
    } else {
      try (reply) {
        got = new ArrayList<>();
        error = handleResponse(node, reply, got, failed, asked);
      } catch (RaftMqException e) {
        error = e;
        failed[0] = true;
      } catch (RuntimeException e) {
        error = MetadataCache.asRaftMq(e);
        failed[0] = true;
      }
    }
    boolean late;
    synchronized (this) {
      inFlight.remove(node, f);
      if (failed[0]) {
        backoffUntil.put(node, System.nanoTime() + BACKOFF_NANOS);
      } else {
        backoffUntil.remove(node);
      }
      late = closed;
      if (!late) {
        buffered.addAll(got);
        if (error != null && pendingError == null) {
          pendingError = error;
        }
      }
      notifyAll();
    }
    if (late) {
      // Received after close: given back at once, uncounted (no one saw them).
      got.forEach(DeliveryImpl::release);
    }
  }

  /**
   * Decodes a response into {@code out}; returns the first final error of a partition, or null. Sets
   * {@code failed[0]} if any partition (or the whole request) failed, so that the node is not asked
   * again at once.
   */
  private RaftMqException handleResponse(HostPort node, Reply reply, List<DeliveryImpl> out, boolean[] failed,
      int asked) {
    if (reply.header().getError() != ErrorCode.NONE) {
      failed[0] = true;
      RaftMqException e = new RaftMqException(reply.header().getError(), "queue receive at " + node + ": "
          + reply.header().getErrorMessage());
      if (e.isRetriable()) {
        rt.metadata().requestUpdate();
        return null;
      }
      return e;
    }
    RaftMqException error = null;
    int bodyOffset = 0;
    int bodyLength = reply.body() == null ? 0 : reply.body().readableBytes();
    for (PartitionReceiveResult r : reply.header().getQueueReceive().getResultsList()) {
      int size = r.getRecordsSize();
      if (size < 0 || bodyOffset + size > bodyLength) {
        throw new RaftMqException(ErrorCode.CORRUPT_MESSAGE, "queue receive response from " + node
            + " announces more record bytes than its body holds", false, null);
      }
      int start = bodyOffset;
      bodyOffset += size;
      TopicPartition tp = new TopicPartition(r.getTopic(), r.getPartition());
      if (r.getError() != ErrorCode.NONE) {
        failed[0] = true;
        if (Errors.needsMetadataRefresh(r.getError())) {
          rt.metadata().onLeaderError(tp, r.hasLeader() ? r.getLeader() : null);
        }
        if (!Errors.isRetriable(r.getError()) && error == null) {
          error = new RaftMqException(r.getError(), "queue receive " + tp + " at " + node + ": "
              + r.getErrorMessage());
        } else {
          log.debug("queue receive {} at {}: {}; will retry", tp, node, r.getError());
        }
        continue;
      }
      if (r.getLeaseRunsCount() == 0) {
        continue;
      }
      DeliveryDecoder.Decoded d;
      try {
        // A broker never leases more than was asked: more is a broken answer, refused before it allocates.
        d = DeliveryDecoder.decode(tp, r, reply.bodySlice(start, size), leaseMs, settles, asked - out.size());
      } catch (CorruptRecordException e) {
        throw new RaftMqException(ErrorCode.CORRUPT_MESSAGE, "corrupt batch in " + tp + " from " + node + ": "
            + e.getMessage(), false, e);
      }
      if (d.missing().length > 0) {
        log.warn("queue receive {} at {}: no record for leased offsets {}; they return after their lease",
            tp, node, Arrays.toString(d.missing()));
      }
      out.addAll(d.deliveries());
    }
    return error;
  }

  // ---- subscribe ----

  @Override
  public synchronized void subscribe(DeliveryHandler handler) {
    Objects.requireNonNull(handler, "handler");
    if (closed) {
      throw new IllegalStateException("the queue consumer is closed");
    }
    if (loop != null) {
      throw new IllegalStateException("this queue consumer is subscribed already");
    }
    int threads = config.handlerThreads();
    handlers = new ThreadPoolExecutor(threads, threads, 0, TimeUnit.MILLISECONDS, new LinkedBlockingQueue<>(),
        ClientRuntime.daemon("raftmq-queue-handler-" + config.groupId()));
    extender = Executors.newSingleThreadScheduledExecutor(
        ClientRuntime.daemon("raftmq-queue-extender-" + config.groupId()));
    // Up to one message waiting per handler thread besides the running ones.
    slots = new Semaphore(2 * threads);
    Thread t = new Thread(() -> runLoop(handler), "raftmq-queue-loop-" + config.groupId());
    t.setDaemon(true);
    loop = t;
    t.start();
  }

  private void runLoop(DeliveryHandler handler) {
    while (!stopping) {
      int n = 0;
      try {
        if (!slots.tryAcquire(LOOP_WAIT.toMillis(), TimeUnit.MILLISECONDS)) {
          continue;
        }
        n = 1 + slots.drainPermits();
        List<DeliveryImpl> got = doReceive(n, LOOP_WAIT);
        slots.release(n - got.size());
        n = 0;
        for (DeliveryImpl d : got) {
          HandlerTask task = new HandlerTask(d, handler);
          try {
            if (stopping) {
              throw new RejectedExecutionException("stopping");
            }
            handlers.execute(task);
          } catch (RejectedExecutionException e) {
            d.release();
            slots.release();
          }
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      } catch (RuntimeException e) {
        if (n > 0) {
          slots.release(n);
        }
        if (stopping) {
          return;
        }
        log.warn("queue consumer {} of group {}: receive failed, retrying in {} ms: {}", config.consumerId(),
            config.groupId(), LOOP_ERROR_BACKOFF.toMillis(), e.toString());
        try {
          if (stopSignal.await(LOOP_ERROR_BACKOFF.toMillis(), TimeUnit.MILLISECONDS)) {
            return;
          }
        } catch (InterruptedException ie) {
          Thread.currentThread().interrupt();
          return;
        }
      }
    }
  }

  /** Runs the handler on one delivery, settles it by the outcome, and extends its lease meanwhile. */
  private final class HandlerTask implements Runnable {
    final DeliveryImpl delivery;
    final DeliveryHandler handler;
    volatile ScheduledFuture<?> extension;
    volatile boolean done;

    HandlerTask(DeliveryImpl delivery, DeliveryHandler handler) {
      this.delivery = delivery;
      this.handler = handler;
    }

    @Override
    public void run() {
      try {
        long firstExtendNanos = delivery.receivedAtNanos() + TimeUnit.MILLISECONDS.toNanos(delivery.leaseMs() / 2)
            - System.nanoTime();
        scheduleExtension(Math.max(0, firstExtendNanos));
        try {
          handler.handle(delivery);
          if (!delivery.isSettled()) {
            delivery.ack();
          }
        } catch (Throwable t) {
          if (!delivery.isSettled()) {
            settleFailure(t);
          }
        }
      } finally {
        done = true;
        ScheduledFuture<?> e = extension;
        if (e != null) {
          e.cancel(false);
        }
        slots.release();
      }
    }

    private void settleFailure(Throwable t) {
      boolean retryable;
      try {
        retryable = config.retryable().test(t);
      } catch (RuntimeException e) {
        log.warn("the retryable predicate of group {} failed on {}; treating it as retryable", config.groupId(),
            t.toString(), e);
        retryable = true;
      }
      if (retryable) {
        log.debug("handler failed on {} (retryable): {}", delivery, t.toString());
        delivery.nack(-1, t);
      } else {
        log.debug("handler failed on {} (permanent): {}", delivery, t.toString());
        String reason = t.getMessage() == null ? t.getClass().getName() : t.getMessage();
        delivery.reject(reason, t);
      }
    }

    private void scheduleExtension(long delayNanos) {
      try {
        extension = extender.schedule(this::extend, delayNanos, TimeUnit.NANOSECONDS);
      } catch (RejectedExecutionException e) {
        // closing: the lease runs its course
      }
    }

    private void extend() {
      if (done || delivery.isSettled()) {
        return;
      }
      long lease = delivery.leaseMs();
      delivery.extend(Duration.ofMillis(lease)).whenComplete((v, e) -> {
        if (e != null) {
          log.warn("could not extend the lease of {} for a running handler: {}", delivery,
              MetadataCache.asRaftMq(e).getMessage());
          return;
        }
        if (!done && !delivery.isSettled()) {
          scheduleExtension(TimeUnit.MILLISECONDS.toNanos(lease / 2));
        }
      });
    }
  }

  // ---- close ----

  @Override
  public void close(Duration timeout) {
    List<CompletableFuture<Reply>> receives;
    synchronized (this) {
      if (closed) {
        return;
      }
      closed = true;
      stopping = true;
      notifyAll();
    }
    long deadline = System.nanoTime() + timeout.toNanos();
    stopSignal.countDown();
    Thread t = loop;
    try {
      if (t != null) {
        t.join(Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime())));
        List<Runnable> notStarted = new ArrayList<>();
        handlers.getQueue().drainTo(notStarted);
        for (Runnable r : notStarted) {
          ((HandlerTask) r).delivery.release();
          slots.release();
        }
        handlers.shutdown();
        if (!handlers.awaitTermination(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS)) {
          log.warn("queue consumer {} of group {} closed with {} handler(s) still running; their messages "
              + "come back when their leases run out", config.consumerId(), config.groupId(), handlers.getActiveCount());
        }
        extender.shutdownNow();
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    List<DeliveryImpl> neverHandedOut;
    synchronized (this) {
      neverHandedOut = new ArrayList<>(buffered);
      buffered.clear();
      receives = new ArrayList<>(inFlight.values());
    }
    // Never handed out: given back uncounted, as AMQP 1.0's "released" (a nack would count a delivery
    // no application saw, and a consumer closed often enough would dead-letter messages unseen).
    neverHandedOut.forEach(DeliveryImpl::release);
    // Deliveries of receives still in flight are given back as they arrive (onResponse sees closed).
    for (CompletableFuture<Reply> f : receives) {
      try {
        f.handle((r, e) -> null).get(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        break;
      } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
        break;
      }
    }
    settles.close(Duration.ofNanos(Math.max(0, deadline - System.nanoTime())));
    if (onClose != null) {
      onClose.run();
    }
  }

  /** The settle batcher (for tests). */
  SettleBatcher settles() {
    return settles;
  }
}
