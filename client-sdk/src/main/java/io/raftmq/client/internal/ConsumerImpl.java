package io.raftmq.client.internal;

import io.raftmq.client.Consumer;
import io.raftmq.client.ConsumerConfig;
import io.raftmq.client.ConsumerRecord;
import io.raftmq.client.NodeAddress;
import io.raftmq.client.OffsetReset;
import io.raftmq.client.RaftMqException;
import io.raftmq.client.TopicPartition;
import io.raftmq.protocol.ApiKey;
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
  private boolean closed;

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

  @Override
  public void assign(Collection<TopicPartition> partitions) {
    ensureOpen();
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
    if (assigned.isEmpty()) {
      throw new IllegalStateException("poll without assigned partitions: call assign first");
    }
    long deadline = System.nanoTime() + timeout.toNanos();
    while (true) {
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
        // Nothing could be fetched (leaders unknown, positions unresolved): back off briefly.
        LockSupport.parkNanos(Math.min(remaining, BACKOFF_NANOS));
      } else {
        CompletableFuture<?>[] fs = inFlight.values().stream().map(InFlightFetch::future)
            .toArray(CompletableFuture<?>[]::new);
        try {
          CompletableFuture.anyOf(fs).get(remaining, TimeUnit.NANOSECONDS);
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
    for (PartitionState s : assigned.values()) {
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
    Map<HostPort, Map<TopicPartition, Long>> byNode = new LinkedHashMap<>();
    boolean leaderUnknown = false;
    for (Map.Entry<TopicPartition, PartitionState> e : assigned.entrySet()) {
      PartitionState s = e.getValue();
      if (s.reset != null || s.fetchOffset < 0 || !s.buffered.isEmpty() || isFetching(e.getKey())) {
        continue;
      }
      NodeAddress leader = metadata.leader(e.getKey());
      if (leader == null) {
        leaderUnknown = true;
        continue;
      }
      HostPort node = new HostPort(leader.host(), leader.port());
      if (inFlight.containsKey(node)) {
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
    if (reply.header().getError() != ErrorCode.NONE) {
      log.warn("fetch from {} failed: {} {}", node, reply.header().getError(), reply.header().getErrorMessage());
      metadata.requestUpdate();
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
    closed = true;
    for (InFlightFetch f : inFlight.values()) {
      f.future.thenAccept(Reply::close);
    }
    inFlight.clear();
    assigned.clear();
  }

  // PLACEHOLDER-GROUPS: being implemented
  @Override
  public void subscribe(Collection<String> topics, io.raftmq.client.RebalanceListener listener) {
    throw new UnsupportedOperationException("in progress");
  }

  @Override
  public Set<String> subscription() {
    return Set.of();
  }

  @Override
  public void unsubscribe() {}

  @Override
  public void commitSync() {
    throw new UnsupportedOperationException("in progress");
  }

  @Override
  public void commitSync(Map<TopicPartition, Long> offsets) {
    throw new UnsupportedOperationException("in progress");
  }

  @Override
  public void commitAsync(io.raftmq.client.OffsetCommitCallback callback) {
    throw new UnsupportedOperationException("in progress");
  }

  @Override
  public void commitAsync(Map<TopicPartition, Long> offsets, io.raftmq.client.OffsetCommitCallback callback) {
    throw new UnsupportedOperationException("in progress");
  }

  @Override
  public Map<TopicPartition, Long> committed(Set<TopicPartition> partitions) {
    throw new UnsupportedOperationException("in progress");
  }

  @Override
  public void pause(Collection<TopicPartition> partitions) {}

  @Override
  public void resume(Collection<TopicPartition> partitions) {}

  @Override
  public Set<TopicPartition> paused() {
    return Set.of();
  }

  @Override
  public void seekToTimestamp(Collection<TopicPartition> partitions, long timestampMs) {
    throw new UnsupportedOperationException("in progress");
  }

  @Override
  public long groupGeneration() {
    return -1;
  }
}
