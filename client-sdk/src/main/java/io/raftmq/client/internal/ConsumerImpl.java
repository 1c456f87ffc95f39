package io.raftmq.client.internal;

import io.raftmq.client.Consumer;
import io.raftmq.client.ConsumerConfig;
import io.raftmq.client.ConsumerRecord;
import io.raftmq.client.NodeAddress;
import io.raftmq.client.OffsetCommitCallback;
import io.raftmq.client.OffsetReset;
import io.raftmq.client.RebalanceListener;
import io.raftmq.client.RaftMqException;
import io.raftmq.client.TopicPartition;
import io.raftmq.protocol.ApiKey;
import io.raftmq.protocol.CommitOffsetsRequest;
import io.raftmq.protocol.CommitOffsetsResponse;
import io.raftmq.protocol.FetchOffsetsRequest;
import io.raftmq.protocol.OffsetCommit;
import io.raftmq.protocol.PartitionCommitResult;
import io.raftmq.protocol.PartitionCommittedOffset;
import io.raftmq.protocol.TopicPartitions;
import io.raftmq.protocol.BatchFrames;
import io.raftmq.protocol.CorruptRecordException;
import io.raftmq.protocol.ErrorCode;
import io.raftmq.protocol.Errors;
import io.raftmq.protocol.FetchRequest;
import io.raftmq.protocol.FetchResponse;
import io.raftmq.protocol.ListOffsetsRequest;
import io.raftmq.protocol.PartitionFetch;
import io.raftmq.protocol.PartitionFetchResult;
import io.raftmq.protocol.PartitionOffsetQuery;
import io.raftmq.protocol.PartitionOffsetResult;
import io.raftmq.protocol.RecordCodec;
import io.raftmq.protocol.Request;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The {@link Consumer}: per assigned partition a fetch position and a buffer of decoded records. A poll
 * returns buffered records first; otherwise it resolves positions that need a reset (LIST_OFFSETS),
 * sends one FETCH per leader node for the partitions with nothing buffered (at most one in flight per
 * node), and waits for any of them. Responses are decoded on the polling thread. Not thread-safe.
 */
public final class ConsumerImpl implements Consumer {
  private static final Logger log = LoggerFactory.getLogger(ConsumerImpl.class);
  private static final long LIST_OFFSETS_LATEST = -1;
  private static final long LIST_OFFSETS_EARLIEST = -2;
  private static final long BACKOFF_NANOS = TimeUnit.MILLISECONDS.toNanos(100);

  private final ClientRuntime rt;
  private final ConsumerConfig config;
  private final MetadataCache metadata;
  private final Map<TopicPartition, PartitionState> assigned = new LinkedHashMap<>();
  private final Map<HostPort, InFlightFetch> inFlight = new HashMap<>();
  /**
   * Nodes whose last fetch failed as a whole (unreachable, or an error such as a node still starting),
   * with the {@link System#nanoTime} before which no fetch goes to them again: without it, a node that
   * answers at once with a retriable error is asked again at once, thousands of times a second.
   */
  private final Map<HostPort, Long> backoffUntil = new HashMap<>();
  private boolean closed;
  // ---- consumer group (subscribe) ----
  private GroupMembership membership;
  private RebalanceListener listener = RebalanceListener.NONE;
  private final Set<String> subscription = new LinkedHashSet<>();
  private final Set<TopicPartition> paused = new LinkedHashSet<>();
  private final Map<TopicPartition, Long> lastCommitted = new HashMap<>();
  private final List<CompletableFuture<?>> asyncCommits = new ArrayList<>();
  private final ConcurrentLinkedQueue<Runnable> commitCallbacks = new ConcurrentLinkedQueue<>();
  private PendingClaim pendingClaim;
  private long nextAutoCommitNanos;

  /** A consumer with no assignment. */
  public ConsumerImpl(ClientRuntime rt, ConsumerConfig config) {
    this.rt = rt;
    this.config = config;
    this.metadata = rt.metadata();
  }

  private static final class PartitionState {
    /** Next offset to fetch; -1 = unknown. */
    long fetchOffset = -1;
    /** Pending reset (EARLIEST/LATEST), or null. */
    OffsetReset reset;
    final ArrayDeque<ConsumerRecord> buffered = new ArrayDeque<>();
  }

  private record InFlightFetch(CompletableFuture<Reply> future, Map<TopicPartition, Long> offsets) {}

  private record PendingClaim(long generation, Set<TopicPartition> partitions,
      CompletableFuture<Map<TopicPartition, Long>> future) {}

  @Override
  public void assign(Collection<TopicPartition> partitions) {
    ensureOpen();
    if (membership != null) {
      throw new IllegalStateException("this consumer is subscribed to a group: unsubscribe before assign");
    }
    Map<TopicPartition, PartitionState> next = new LinkedHashMap<>();
    for (TopicPartition tp : new LinkedHashSet<>(partitions)) {
      PartitionState s = assigned.get(tp);
      if (s == null) {
        s = new PartitionState();
        s.reset = config.autoOffsetReset() == OffsetReset.NONE ? null : config.autoOffsetReset();
      }
      next.put(tp, s);
    }
    assigned.clear();
    assigned.putAll(next);
  }

  @Override
  public Set<TopicPartition> assignment() {
    return Collections.unmodifiableSet(new LinkedHashSet<>(assigned.keySet()));
  }

  @Override
  public List<ConsumerRecord> poll(Duration timeout) {
    ensureOpen();
    if (assigned.isEmpty() && membership == null) {
      throw new IllegalStateException("poll without assigned partitions: call assign or subscribe first");
    }
    long deadline = System.nanoTime() + timeout.toNanos();
    runCommitCallbacks();
    if (membership != null) {
      membership.polled();
      maybeAutoCommit();
    }
    while (true) {
      if (membership != null) {
        reconcileGroup();
      }
      List<ConsumerRecord> out = drainBuffered();
      if (!out.isEmpty()) {
        return out;
      }
      processCompletedFetches();
      out = drainBuffered();
      if (!out.isEmpty()) {
        return out;
      }
      long remaining = deadline - System.nanoTime();
      if (remaining <= 0) {
        return out;
      }
      if (metadata.needsRefresh()) {
        metadata.maybeRefresh();
      }
      resolvePositions(deadline);
      sendFetches(deadline);
      remaining = deadline - System.nanoTime();
      if (remaining <= 0) {
        continue;
      }
      if (inFlight.isEmpty()) {
        // Nothing could be fetched (leaders unknown, positions unresolved, nodes backing off): wait briefly.
        LockSupport.parkNanos(Math.min(remaining, BACKOFF_NANOS));
      } else {
        CompletableFuture<?>[] fs = inFlight.values().stream().map(InFlightFetch::future)
            .toArray(CompletableFuture<?>[]::new);
        // In a group, wake up regularly to apply assignment changes; with a node backing off, when it ends.
        long wait = membership == null && backoffUntil.isEmpty() ? remaining : Math.min(remaining, BACKOFF_NANOS);
        try {
          CompletableFuture.anyOf(fs).get(wait, TimeUnit.NANOSECONDS);
        } catch (java.util.concurrent.TimeoutException | java.util.concurrent.ExecutionException e) {
          // Timeout: the loop returns; failure: handled in processCompletedFetches.
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new RaftMqException(ErrorCode.REQUEST_TIMED_OUT, "interrupted in poll", true, e);
        }
      }
    }
  }

  private List<ConsumerRecord> drainBuffered() {
    List<ConsumerRecord> out = new ArrayList<>();
    int max = config.maxPollRecords();
    for (Map.Entry<TopicPartition, PartitionState> e : assigned.entrySet()) {
      PartitionState s = e.getValue();
      if (!paused.isEmpty() && paused.contains(e.getKey())) {
        continue;
      }
      while (out.size() < max && !s.buffered.isEmpty()) {
        out.add(s.buffered.poll());
      }
      if (out.size() >= max) {
        break;
      }
    }
    return out;
  }

  private void resolvePositions(long deadline) {
    Map<TopicPartition, Long> queries = new LinkedHashMap<>();
    for (Map.Entry<TopicPartition, PartitionState> e : assigned.entrySet()) {
      PartitionState s = e.getValue();
      if (s.reset != null) {
        queries.put(e.getKey(), s.reset == OffsetReset.EARLIEST ? LIST_OFFSETS_EARLIEST : LIST_OFFSETS_LATEST);
      } else if (s.fetchOffset < 0) {
        throw new RaftMqException(ErrorCode.OFFSET_OUT_OF_RANGE, "no position for " + e.getKey()
            + " and autoOffsetReset is NONE: call seek first", false, null);
      }
    }
    if (queries.isEmpty()) {
      return;
    }
    Map<TopicPartition, Long> found;
    try {
      found = listOffsets(queries, deadline, false);
    } catch (RaftMqException e) {
      if (!e.isRetriable()) {
        throw e;
      }
      log.debug("cannot resolve positions yet: {}", e.getMessage());
      return;
    }
    for (Map.Entry<TopicPartition, Long> e : found.entrySet()) {
      PartitionState s = assigned.get(e.getKey());
      if (s != null && s.reset != null) {
        s.fetchOffset = e.getValue();
        s.reset = null;
        s.buffered.clear();
      }
    }
  }

  private void sendFetches(long deadline) {
    if (!backoffUntil.isEmpty()) {
      // Ended backoffs go, also of nodes no longer asked (else the poll would keep waking for them).
      long now = System.nanoTime();
      backoffUntil.values().removeIf(until -> until - now <= 0);
    }
    Map<HostPort, Map<TopicPartition, Long>> byNode = new LinkedHashMap<>();
    boolean leaderUnknown = false;
    for (Map.Entry<TopicPartition, PartitionState> e : assigned.entrySet()) {
      PartitionState s = e.getValue();
      if (s.reset != null || s.fetchOffset < 0 || !s.buffered.isEmpty() || isFetching(e.getKey())
          || (!paused.isEmpty() && paused.contains(e.getKey()))) {
        continue;
      }
      NodeAddress leader = metadata.leader(e.getKey());
      if (leader == null) {
        leaderUnknown = true;
        continue;
      }
      HostPort node = new HostPort(leader.host(), leader.port());
      if (inFlight.containsKey(node) || backingOff(node)) {
        continue;
      }
      byNode.computeIfAbsent(node, k -> new LinkedHashMap<>()).put(e.getKey(), s.fetchOffset);
    }
    if (leaderUnknown) {
      metadata.requestUpdate();
      metadata.maybeRefresh();
    }
    long remainingMs = Math.max(0, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime()));
    int maxWaitMs = (int) Math.min(config.fetchMaxWait().toMillis(), remainingMs);
    for (Map.Entry<HostPort, Map<TopicPartition, Long>> e : byNode.entrySet()) {
      FetchRequest.Builder fr = FetchRequest.newBuilder().setMaxWaitMs(maxWaitMs).setMinBytes(1)
          .setMaxBytes(config.fetchMaxBytes());
      for (Map.Entry<TopicPartition, Long> p : e.getValue().entrySet()) {
        fr.addPartitions(PartitionFetch.newBuilder().setTopic(p.getKey().topic()).setPartition(p.getKey().partition())
            .setOffset(p.getValue()).setMaxBytes(config.maxPartitionFetchBytes()));
      }
      Duration timeout = rt.config().requestTimeout().plusMillis(maxWaitMs);
      CompletableFuture<Reply> f = rt.network().send(e.getKey(),
          Request.newBuilder().setApiKey(ApiKey.FETCH).setFetch(fr), null, timeout);
      inFlight.put(e.getKey(), new InFlightFetch(f, e.getValue()));
    }
  }

  private boolean backingOff(HostPort node) {
    Long until = backoffUntil.get(node);
    if (until == null) {
      return false;
    }
    if (until - System.nanoTime() > 0) {
      return true;
    }
    backoffUntil.remove(node);
    return false;
  }

  private void backOff(HostPort node) {
    backoffUntil.put(node, System.nanoTime() + BACKOFF_NANOS);
  }

  private boolean isFetching(TopicPartition tp) {
    for (InFlightFetch f : inFlight.values()) {
      if (f.offsets.containsKey(tp)) {
        return true;
      }
    }
    return false;
  }

  private void processCompletedFetches() {
    Iterator<Map.Entry<HostPort, InFlightFetch>> it = inFlight.entrySet().iterator();
    RaftMqException toThrow = null;
    while (it.hasNext()) {
      Map.Entry<HostPort, InFlightFetch> e = it.next();
      InFlightFetch f = e.getValue();
      if (!f.future.isDone()) {
        continue;
      }
      it.remove();
      Reply reply;
      try {
        reply = f.future.join();
      } catch (RuntimeException ex) {
        log.debug("fetch from {} failed: {}", e.getKey(), ex.getMessage());
        metadata.onNodeUnreachable(e.getKey());
        backOff(e.getKey());
        continue;
      }
      try (reply) {
        handleFetchResponse(e.getKey(), f.offsets, reply);
      } catch (RaftMqException ex) {
        // Keep processing the other responses (and releasing them); throw the first error afterwards.
        if (toThrow == null) {
          toThrow = ex;
        }
      }
    }
    if (toThrow != null) {
      throw toThrow;
    }
  }

  private void handleFetchResponse(HostPort node, Map<TopicPartition, Long> requested, Reply reply) {
    ErrorCode error = reply.header().getError();
    if (error != ErrorCode.NONE) {
      if (Errors.isRetriable(error)) {
        log.debug("fetch from {}: {} {}; will retry", node, error, reply.header().getErrorMessage());
      } else {
        log.warn("fetch from {} failed: {} {}", node, error, reply.header().getErrorMessage());
      }
      metadata.requestUpdate();
      backOff(node);
      return;
    }
    FetchResponse resp = reply.header().getFetch();
    int bodyOffset = 0;
    int bodyLength = reply.body() == null ? 0 : reply.body().readableBytes();
    RaftMqException toThrow = null;
    for (PartitionFetchResult r : resp.getResultsList()) {
      int size = r.getRecordsSize();
      if (size < 0 || bodyOffset + size > bodyLength) {
        throw new RaftMqException(ErrorCode.CORRUPT_MESSAGE, "fetch response from " + node
            + " announces more record bytes than its body holds", false, null);
      }
      int start = bodyOffset;
      bodyOffset += size;
      TopicPartition tp = new TopicPartition(r.getTopic(), r.getPartition());
      PartitionState s = assigned.get(tp);
      Long offset = requested.get(tp);
      if (s == null || offset == null || s.fetchOffset != offset || s.reset != null) {
        continue; // unassigned or sought meanwhile: stale
      }
      if (r.getError() == ErrorCode.NONE) {
        if (size > 0) {
          try {
            decode(tp, s, reply.bodySlice(start, size));
          } catch (CorruptRecordException ex) {
            throw new RaftMqException(ErrorCode.CORRUPT_MESSAGE, "corrupt batch in " + tp + " from " + node + ": "
                + ex.getMessage(), false, ex);
          }
        }
      } else if (r.getError() == ErrorCode.OFFSET_OUT_OF_RANGE) {
        if (config.autoOffsetReset() == OffsetReset.NONE) {
          if (toThrow == null) {
            toThrow = new RaftMqException(ErrorCode.OFFSET_OUT_OF_RANGE, "position " + offset + " of " + tp
                + " is outside [" + r.getLogStartOffset() + ", " + r.getHighWatermark() + "]", false, null);
          }
        } else {
          log.info("position {} of {} out of range [{}, {}]; resetting to {}", offset, tp, r.getLogStartOffset(),
              r.getHighWatermark(), config.autoOffsetReset());
          s.reset = config.autoOffsetReset();
        }
      } else if (Errors.isRetriable(r.getError()) || Errors.needsMetadataRefresh(r.getError())) {
        log.debug("fetch {} from {}: {}; will retry", tp, node, r.getError());
        metadata.onLeaderError(tp, r.hasLeader() ? r.getLeader() : null);
      } else if (r.getError() == ErrorCode.CORRUPT_MESSAGE) {
        throw new RaftMqException(r.getError(), "fetch " + tp + " from " + node + ": " + r.getErrorMessage());
      } else {
        log.warn("fetch {} from {} failed: {} {}", tp, node, r.getError(), r.getErrorMessage());
        metadata.requestUpdate();
      }
    }
    if (toThrow != null) {
      throw toThrow;
    }
  }

  private void decode(TopicPartition tp, PartitionState s, ByteBuffer frames) {
    long position = s.fetchOffset;
    long[] next = {position};
    BatchFrames.forEach(frames, frame -> {
      if (frame.nextOffset() <= next[0]) {
        return;
      }
      if (frame.codec() != 0) {
        throw new CorruptRecordException("unsupported codec " + frame.codec() + " at offset " + frame.baseOffset());
      }
      long base = frame.baseOffset();
      long logTime = frame.logTimeMs();
      RecordCodec.decode(frame.payload(), frame.recordCount(), (index, timestamp, key, value, headers) -> {
        long offset = base + index;
        if (offset >= next[0]) {
          s.buffered.add(new ConsumerRecord(tp.topic(), tp.partition(), offset, timestamp, logTime, key, value, headers));
          next[0] = offset + 1;
        }
      });
    });
    s.fetchOffset = next[0];
  }

  @Override
  public void seek(TopicPartition tp, long offset) {
    if (offset < 0) {
      throw new IllegalArgumentException("offset must be >= 0: " + offset);
    }
    PartitionState s = state(tp);
    s.fetchOffset = offset;
    s.reset = null;
    s.buffered.clear();
  }

  @Override
  public void seekToBeginning(Collection<TopicPartition> tps) {
    for (TopicPartition tp : tps) {
      PartitionState s = state(tp);
      s.reset = OffsetReset.EARLIEST;
      s.buffered.clear();
    }
  }

  @Override
  public void seekToEnd(Collection<TopicPartition> tps) {
    for (TopicPartition tp : tps) {
      PartitionState s = state(tp);
      s.reset = OffsetReset.LATEST;
      s.buffered.clear();
    }
  }

  @Override
  public long position(TopicPartition tp) {
    PartitionState s = state(tp);
    if (!s.buffered.isEmpty()) {
      return s.buffered.peek().offset();
    }
    if (s.reset != null) {
      long deadline = System.nanoTime() + rt.config().requestTimeout().toNanos();
      Map<TopicPartition, Long> found = listOffsets(
          Map.of(tp, s.reset == OffsetReset.EARLIEST ? LIST_OFFSETS_EARLIEST : LIST_OFFSETS_LATEST), deadline, true);
      s.fetchOffset = found.get(tp);
      s.reset = null;
    }
    if (s.fetchOffset < 0) {
      throw new RaftMqException(ErrorCode.OFFSET_OUT_OF_RANGE, "no position for " + tp
          + " and autoOffsetReset is NONE: call seek first", false, null);
    }
    return s.fetchOffset;
  }

  @Override
  public Map<TopicPartition, Long> offsetsForTimes(Map<TopicPartition, Long> timestamps) {
    ensureOpen();
    return listOffsets(timestamps, System.nanoTime() + rt.config().requestTimeout().toNanos(), true);
  }

  @Override
  public Map<TopicPartition, Long> beginningOffsets(Collection<TopicPartition> tps) {
    return offsetsForTimes(query(tps, LIST_OFFSETS_EARLIEST));
  }

  @Override
  public Map<TopicPartition, Long> endOffsets(Collection<TopicPartition> tps) {
    return offsetsForTimes(query(tps, LIST_OFFSETS_LATEST));
  }

  private static Map<TopicPartition, Long> query(Collection<TopicPartition> tps, long ts) {
    Map<TopicPartition, Long> q = new LinkedHashMap<>();
    tps.forEach(tp -> q.put(tp, ts));
    return q;
  }

  /**
   * Sends LIST_OFFSETS to each partition's leader until every query is answered or {@code deadline}
   * passes; retriable errors refresh metadata and retry.
   */
  private Map<TopicPartition, Long> listOffsets(Map<TopicPartition, Long> queries, long deadline,
      boolean waitForAll) {
    Map<TopicPartition, Long> remaining = new LinkedHashMap<>(queries);
    Map<TopicPartition, Long> result = new LinkedHashMap<>();
    RaftMqException last = null;
    while (!remaining.isEmpty()) {
      Map<HostPort, List<TopicPartition>> byNode = new LinkedHashMap<>();
      for (TopicPartition tp : remaining.keySet()) {
        NodeAddress leader = metadata.leader(tp);
        if (leader == null) {
          metadata.requestUpdate();
        } else {
          byNode.computeIfAbsent(new HostPort(leader.host(), leader.port()), k -> new ArrayList<>()).add(tp);
        }
      }
      if (byNode.isEmpty()) {
        try {
          long wait = deadline - System.nanoTime();
          if (wait > 0) {
            metadata.refresh().get(wait, TimeUnit.NANOSECONDS);
          }
        } catch (java.util.concurrent.TimeoutException | java.util.concurrent.ExecutionException e) {
          last = MetadataCache.asRaftMq(e);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new RaftMqException(ErrorCode.REQUEST_TIMED_OUT, "interrupted", true, e);
        }
      }
      Map<HostPort, CompletableFuture<Reply>> futures = new LinkedHashMap<>();
      long timeoutNanos = Math.max(1, deadline - System.nanoTime());
      for (Map.Entry<HostPort, List<TopicPartition>> e : byNode.entrySet()) {
        ListOffsetsRequest.Builder lr = ListOffsetsRequest.newBuilder();
        for (TopicPartition tp : e.getValue()) {
          lr.addQueries(PartitionOffsetQuery.newBuilder().setTopic(tp.topic()).setPartition(tp.partition())
              .setTimestamp(remaining.get(tp)));
        }
        futures.put(e.getKey(), rt.network().send(e.getKey(),
            Request.newBuilder().setApiKey(ApiKey.LIST_OFFSETS).setListOffsets(lr), null, Duration.ofNanos(timeoutNanos)));
      }
      for (Map.Entry<HostPort, CompletableFuture<Reply>> e : futures.entrySet()) {
        Reply reply;
        try {
          reply = e.getValue().get(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
        } catch (java.util.concurrent.TimeoutException | java.util.concurrent.ExecutionException ex) {
          e.getValue().thenAccept(Reply::close);
          last = MetadataCache.asRaftMq(ex instanceof java.util.concurrent.ExecutionException ? ex.getCause()
              : new RaftMqException(ErrorCode.REQUEST_TIMED_OUT, "list offsets timed out", true, ex));
          metadata.onNodeUnreachable(e.getKey());
          continue;
        } catch (InterruptedException ex) {
          Thread.currentThread().interrupt();
          throw new RaftMqException(ErrorCode.REQUEST_TIMED_OUT, "interrupted", true, ex);
        }
        try (reply) {
          if (reply.header().getError() != ErrorCode.NONE) {
            last = new RaftMqException(reply.header().getError(), "list offsets at " + e.getKey() + ": "
                + reply.header().getErrorMessage());
            if (!last.isRetriable()) {
              throw last;
            }
            continue;
          }
          for (PartitionOffsetResult r : reply.header().getListOffsets().getResultsList()) {
            TopicPartition tp = new TopicPartition(r.getTopic(), r.getPartition());
            if (!remaining.containsKey(tp)) {
              continue;
            }
            if (r.getError() == ErrorCode.NONE) {
              result.put(tp, r.getOffset());
              remaining.remove(tp);
            } else {
              last = new RaftMqException(r.getError(), "list offsets for " + tp + " at " + e.getKey() + ": "
                  + r.getErrorMessage());
              if (Errors.needsMetadataRefresh(r.getError())) {
                metadata.onLeaderError(tp, r.hasLeader() ? r.getLeader() : null);
              }
              if (!last.isRetriable()) {
                throw last;
              }
            }
          }
        }
      }
      if (remaining.isEmpty()) {
        break;
      }
      long left = deadline - System.nanoTime();
      if (left <= BACKOFF_NANOS) {
        if (!waitForAll) {
          break;
        }
        throw new RaftMqException(last == null ? ErrorCode.REQUEST_TIMED_OUT : last.code(),
            "list offsets for " + remaining.keySet() + " did not complete in time"
                + (last == null ? "" : ": " + last.getMessage()), true, last);
      }
      LockSupport.parkNanos(BACKOFF_NANOS);
    }
    return result;
  }

  private PartitionState state(TopicPartition tp) {
    ensureOpen();
    PartitionState s = assigned.get(tp);
    if (s == null) {
      throw new IllegalStateException(tp + " is not assigned to this consumer");
    }
    return s;
  }

  private void ensureOpen() {
    if (closed) {
      throw new IllegalStateException("the consumer is closed");
    }
  }

  @Override
  public void close() {
    if (closed) {
      return;
    }
    try {
      leaveGroup();
    } catch (RuntimeException e) {
      log.warn("leaving group {} on close failed: {}", config.groupId(), e.toString());
    }
    closed = true;
    for (InFlightFetch f : inFlight.values()) {
      f.future.thenAccept(Reply::close);
    }
    inFlight.clear();
    assigned.clear();
  }

  // ---- consumer groups ----

  @Override
  public void subscribe(Collection<String> topics, RebalanceListener listener) {
    ensureOpen();
    if (config.groupId() == null) {
      throw new IllegalStateException("subscribe needs a group id (ConsumerConfig.groupId)");
    }
    if (topics == null || topics.isEmpty()) {
      throw new IllegalArgumentException("subscribe to at least one topic (or call unsubscribe)");
    }
    if (membership == null && !assigned.isEmpty()) {
      throw new IllegalStateException("this consumer has assigned partitions: assign(empty) before subscribe");
    }
    this.listener = listener == null ? RebalanceListener.NONE : listener;
    subscription.clear();
    subscription.addAll(topics);
    if (membership == null) {
      membership = new GroupMembership(rt, config);
      nextAutoCommitNanos = System.nanoTime() + config.autoCommitInterval().toNanos();
    }
    membership.start(subscription);
  }

  @Override
  public Set<String> subscription() {
    return Collections.unmodifiableSet(new LinkedHashSet<>(subscription));
  }

  @Override
  public void unsubscribe() {
    ensureOpen();
    leaveGroup();
  }

  /** Commits (auto-commit), revokes everything through the listener, and leaves the group. */
  private void leaveGroup() {
    if (membership == null) {
      return;
    }
    try {
      Set<TopicPartition> owned = new LinkedHashSet<>(assigned.keySet());
      if (config.enableAutoCommit() && !owned.isEmpty()) {
        try {
          commitSync(positions(owned));
        } catch (RaftMqException e) {
          log.warn("group {}: commit before leaving failed: {}", config.groupId(), e.getMessage());
        }
      }
      if (!owned.isEmpty()) {
        try {
          listener.onPartitionsRevoked(owned);
        } catch (RuntimeException e) {
          log.warn("group {}: rebalance listener failed on revoke", config.groupId(), e);
        }
      }
      membership.leave(rt.config().requestTimeout().compareTo(Duration.ofSeconds(5)) < 0
          ? rt.config().requestTimeout() : Duration.ofSeconds(5));
    } finally {
      membership = null;
      subscription.clear();
      assigned.clear();
      paused.clear();
      lastCommitted.clear();
      cancelClaim();
    }
  }

  /** Tells the coordinator what this member owns: partitions being claimed count (they may be consumed soon). */
  private void reportOwned() {
    Set<TopicPartition> owning = new LinkedHashSet<>(assigned.keySet());
    if (pendingClaim != null) {
      owning.addAll(pendingClaim.partitions);
    }
    membership.setOwned(owning);
  }

  private void cancelClaim() {
    pendingClaim = null;
  }

  /**
   * Applies the coordinator's latest answer: after a loss drops everything (no commit: others may own
   * the partitions already); revokes partitions no longer assigned (committing first with auto-commit),
   * reports that, and claims newly assigned ones through their Raft logs, which fences their previous
   * owners and returns the committed offsets to resume from.
   */
  private void reconcileGroup() {
    GroupMembership.View view = membership.view();
    if (view.lost()) {
      Set<TopicPartition> lost = new LinkedHashSet<>(assigned.keySet());
      assigned.clear();
      paused.clear();
      lastCommitted.clear();
      cancelClaim();
      if (!lost.isEmpty()) {
        listener.onPartitionsLost(lost);
      }
      membership.rejoin();
      return;
    }
    if (view.generation() <= 0) {
      return;
    }
    Set<TopicPartition> target = view.assignment();
    Set<TopicPartition> revoke = new LinkedHashSet<>(assigned.keySet());
    revoke.removeAll(target);
    if (!revoke.isEmpty()) {
      if (config.enableAutoCommit()) {
        try {
          commitSync(positions(revoke));
        } catch (RaftMqException e) {
          log.warn("group {}: commit before handing over {} failed: {}", config.groupId(), revoke, e.getMessage());
        }
      }
      awaitAsyncCommits();
      listener.onPartitionsRevoked(revoke);
      revoke.forEach(tp -> {
        assigned.remove(tp);
        paused.remove(tp);
        lastCommitted.remove(tp);
      });
      reportOwned();
    }
    if (pendingClaim != null) {
      if (!pendingClaim.future.isDone()) {
        return;
      }
      PendingClaim done = pendingClaim;
      pendingClaim = null;
      Map<TopicPartition, Long> committed;
      try {
        committed = done.future.join();
      } catch (RuntimeException e) {
        RaftMqException ex = MetadataCache.asRaftMq(e);
        log.debug("group {}: claiming {} failed ({}); retrying", config.groupId(), done.partitions, ex.getMessage());
        return;
      }
      Set<TopicPartition> added = new LinkedHashSet<>();
      Set<TopicPartition> still = membership.view().assignment();
      for (Map.Entry<TopicPartition, Long> e : committed.entrySet()) {
        TopicPartition tp = e.getKey();
        if (!still.contains(tp) || assigned.containsKey(tp)) {
          continue;
        }
        PartitionState s = new PartitionState();
        if (e.getValue() >= 0) {
          s.fetchOffset = e.getValue();
          lastCommitted.put(tp, e.getValue());
        } else {
          s.reset = config.autoOffsetReset() == OffsetReset.NONE ? null : config.autoOffsetReset();
        }
        assigned.put(tp, s);
        added.add(tp);
      }
      // Report what is owned now (claimed partitions that were revoked meanwhile are dropped).
      membership.setOwned(assigned.keySet());
      if (!added.isEmpty()) {
        listener.onPartitionsAssigned(added);
      }
      return;
    }
    Set<TopicPartition> add = new LinkedHashSet<>(target);
    add.removeAll(assigned.keySet());
    if (!add.isEmpty()) {
      long generation = view.generation();
      pendingClaim = new PendingClaim(generation, add, claim(add, generation));
      reportOwned();
    }
  }

  /** FETCH_OFFSETS with claim to each partition's leader: committed offset per partition (-1: none). */
  private CompletableFuture<Map<TopicPartition, Long>> claim(Set<TopicPartition> partitions, long generation) {
    String group = membership.group();
    String member = membership.memberId();
    return fetchOffsets(partitions, group, member, generation, true);
  }

  private CompletableFuture<Map<TopicPartition, Long>> fetchOffsets(Collection<TopicPartition> partitions,
      String group, String member, long generation, boolean claim) {
    return PartitionFanOut.run(rt, claim ? "claim" : "fetch committed offsets", partitions,
        tps -> Request.newBuilder().setApiKey(ApiKey.FETCH_OFFSETS).setFetchOffsets(FetchOffsetsRequest.newBuilder()
            .setGroup(group).setMemberId(member).setGeneration(generation).setClaim(claim)
            .addAllPartitions(byTopic(tps))),
        (reply, tps) -> {
          var r = reply.header().getFetchOffsets();
          Map<TopicPartition, PartitionFanOut.Outcome<Long>> out = new LinkedHashMap<>();
          if (r.getError() != ErrorCode.NONE) {
            tps.forEach(tp -> out.put(tp, PartitionFanOut.Outcome.error(r.getError(), r.getErrorMessage(), null)));
            return out;
          }
          for (PartitionCommittedOffset o : r.getResultsList()) {
            TopicPartition tp = new TopicPartition(o.getTopic(), o.getPartition());
            out.put(tp, o.getError() == ErrorCode.NONE ? PartitionFanOut.Outcome.done(o.getOffset())
                : PartitionFanOut.Outcome.error(o.getError(), o.getErrorMessage(), o.hasLeader() ? o.getLeader() : null));
          }
          return out;
        }, rt.config().requestTimeout());
  }

  static List<TopicPartitions> byTopic(Collection<TopicPartition> tps) {
    Map<String, TopicPartitions.Builder> m = new LinkedHashMap<>();
    for (TopicPartition tp : tps) {
      m.computeIfAbsent(tp.topic(), t -> TopicPartitions.newBuilder().setTopic(t)).addPartitions(tp.partition());
    }
    List<TopicPartitions> out = new ArrayList<>();
    m.values().forEach(b -> out.add(b.build()));
    return out;
  }

  /** Positions (next offset to return) of {@code tps} where known. */
  private Map<TopicPartition, Long> positions(Collection<TopicPartition> tps) {
    Map<TopicPartition, Long> out = new LinkedHashMap<>();
    for (TopicPartition tp : tps) {
      PartitionState s = assigned.get(tp);
      if (s == null || s.reset != null) {
        continue;
      }
      long pos = !s.buffered.isEmpty() ? s.buffered.peek().offset() : s.fetchOffset;
      if (pos >= 0) {
        out.put(tp, pos);
      }
    }
    return out;
  }

  /** Positions that moved since the last commit. */
  private Map<TopicPartition, Long> changedPositions() {
    Map<TopicPartition, Long> out = positions(assigned.keySet());
    out.entrySet().removeIf(e -> e.getValue().equals(lastCommitted.get(e.getKey())));
    return out;
  }

  private void maybeAutoCommit() {
    if (!config.enableAutoCommit() || System.nanoTime() < nextAutoCommitNanos) {
      return;
    }
    nextAutoCommitNanos = System.nanoTime() + config.autoCommitInterval().toNanos();
    Map<TopicPartition, Long> offsets = changedPositions();
    if (!offsets.isEmpty()) {
      commitAsync(offsets, (o, e) -> {
        if (e != null) {
          log.warn("group {}: auto-commit failed: {}", config.groupId(), e.getMessage());
        }
      });
    }
  }

  private CompletableFuture<Map<TopicPartition, Long>> sendCommit(Map<TopicPartition, Long> offsets) {
    if (membership == null) {
      throw new IllegalStateException("commit needs a group subscription (subscribe first)");
    }
    long generation = membership.generation();
    if (generation <= 0) {
      return CompletableFuture.failedFuture(new RaftMqException(ErrorCode.UNKNOWN_MEMBER, "group '"
          + config.groupId() + "': not a member yet (joining)", true, null));
    }
    String group = membership.group();
    String member = membership.memberId();
    Map<TopicPartition, Long> copy = new LinkedHashMap<>(offsets);
    return PartitionFanOut.run(rt, "commit offsets of group '" + group + "'", copy.keySet(),
        tps -> {
          CommitOffsetsRequest.Builder b = CommitOffsetsRequest.newBuilder().setGroup(group).setMemberId(member)
              .setGeneration(generation);
          tps.forEach(tp -> b.addOffsets(OffsetCommit.newBuilder().setTopic(tp.topic()).setPartition(tp.partition())
              .setOffset(copy.get(tp))));
          return Request.newBuilder().setApiKey(ApiKey.COMMIT_OFFSETS).setCommitOffsets(b);
        },
        (reply, tps) -> commitOutcomes(reply.header().getCommitOffsets(), tps), rt.config().requestTimeout())
        .thenApply(done -> copy);
  }

  static Map<TopicPartition, PartitionFanOut.Outcome<Long>> commitOutcomes(CommitOffsetsResponse r,
      List<TopicPartition> tps) {
    Map<TopicPartition, PartitionFanOut.Outcome<Long>> out = new LinkedHashMap<>();
    if (r.getError() != ErrorCode.NONE) {
      tps.forEach(tp -> out.put(tp, PartitionFanOut.Outcome.error(r.getError(), r.getErrorMessage(), null)));
      return out;
    }
    for (PartitionCommitResult p : r.getResultsList()) {
      TopicPartition tp = new TopicPartition(p.getTopic(), p.getPartition());
      out.put(tp, p.getError() == ErrorCode.NONE ? PartitionFanOut.Outcome.done(p.getGeneration())
          : PartitionFanOut.Outcome.error(p.getError(), p.getErrorMessage(), p.hasLeader() ? p.getLeader() : null));
    }
    return out;
  }

  @Override
  public void commitSync() {
    ensureOpen();
    commitSync(positions(assigned.keySet()));
  }

  @Override
  public void commitSync(Map<TopicPartition, Long> offsets) {
    ensureOpen();
    if (offsets.isEmpty()) {
      return;
    }
    try {
      sendCommit(offsets).get(rt.config().requestTimeout().toNanos() + TimeUnit.SECONDS.toNanos(1), TimeUnit.NANOSECONDS);
      offsets.forEach(lastCommitted::put);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new RaftMqException(ErrorCode.REQUEST_TIMED_OUT, "interrupted while committing", true, e);
    } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
      Throwable cause = e instanceof java.util.concurrent.ExecutionException ? e.getCause() : e;
      RaftMqException ex = MetadataCache.asRaftMq(cause);
      throw new RaftMqException(ex.code(), "commit failed: " + ex.getMessage(), ex.isRetriable(), ex);
    }
  }

  @Override
  public void commitAsync(OffsetCommitCallback callback) {
    ensureOpen();
    commitAsync(positions(assigned.keySet()), callback);
  }

  @Override
  public void commitAsync(Map<TopicPartition, Long> offsets, OffsetCommitCallback callback) {
    ensureOpen();
    Map<TopicPartition, Long> copy = Map.copyOf(offsets);
    if (copy.isEmpty()) {
      if (callback != null) {
        commitCallbacks.add(() -> callback.onComplete(copy, null));
      }
      return;
    }
    CompletableFuture<Map<TopicPartition, Long>> f = sendCommit(copy);
    asyncCommits.add(f);
    f.whenComplete((v, e) -> commitCallbacks.add(() -> {
      if (e == null) {
        copy.forEach((tp, o) -> {
          if (assigned.containsKey(tp)) {
            lastCommitted.merge(tp, o, Math::max);
          }
        });
      }
      if (callback != null) {
        callback.onComplete(copy, e == null ? null : MetadataCache.asRaftMq(e));
      } else if (e != null) {
        log.warn("group {}: async commit failed: {}", config.groupId(), MetadataCache.asRaftMq(e).getMessage());
      }
    }));
  }

  /** Waits (bounded) for async commits in flight, so a hand-over never races an earlier commit. */
  private void awaitAsyncCommits() {
    asyncCommits.removeIf(CompletableFuture::isDone);
    if (asyncCommits.isEmpty()) {
      return;
    }
    try {
      CompletableFuture.allOf(asyncCommits.toArray(CompletableFuture[]::new))
          .get(rt.config().requestTimeout().toMillis(), TimeUnit.MILLISECONDS);
    } catch (Exception e) {
      log.debug("async commits did not all finish before a hand-over: {}", e.toString());
    }
    asyncCommits.clear();
    runCommitCallbacks();
  }

  private void runCommitCallbacks() {
    asyncCommits.removeIf(CompletableFuture::isDone);
    for (Runnable r; (r = commitCallbacks.poll()) != null; ) {
      try {
        r.run();
      } catch (RuntimeException e) {
        log.warn("commit callback failed", e);
      }
    }
  }

  @Override
  public Map<TopicPartition, Long> committed(Set<TopicPartition> partitions) {
    ensureOpen();
    if (config.groupId() == null) {
      throw new IllegalStateException("committed offsets need a group id (ConsumerConfig.groupId)");
    }
    try {
      Map<TopicPartition, Long> all = fetchOffsets(partitions, config.groupId(), "", -1, false)
          .get(rt.config().requestTimeout().toNanos() + TimeUnit.SECONDS.toNanos(1), TimeUnit.NANOSECONDS);
      Map<TopicPartition, Long> out = new LinkedHashMap<>();
      all.forEach((tp, o) -> {
        if (o >= 0) {
          out.put(tp, o);
        }
      });
      return out;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new RaftMqException(ErrorCode.REQUEST_TIMED_OUT, "interrupted", true, e);
    } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
      throw MetadataCache.asRaftMq(e instanceof java.util.concurrent.ExecutionException ? e.getCause() : e);
    }
  }

  @Override
  public void pause(Collection<TopicPartition> partitions) {
    for (TopicPartition tp : partitions) {
      state(tp);
      paused.add(tp);
    }
  }

  @Override
  public void resume(Collection<TopicPartition> partitions) {
    ensureOpen();
    paused.removeAll(partitions);
  }

  @Override
  public Set<TopicPartition> paused() {
    return Collections.unmodifiableSet(new LinkedHashSet<>(paused));
  }

  @Override
  public void seekToTimestamp(Collection<TopicPartition> partitions, long timestampMs) {
    Map<TopicPartition, Long> q = new LinkedHashMap<>();
    for (TopicPartition tp : partitions) {
      state(tp);
      q.put(tp, timestampMs);
    }
    offsetsForTimes(q).forEach(this::seek);
  }

  @Override
  public long groupGeneration() {
    return membership == null ? -1 : membership.generation();
  }
}
