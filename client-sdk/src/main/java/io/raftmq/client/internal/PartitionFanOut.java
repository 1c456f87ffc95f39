package io.raftmq.client.internal;

import io.raftmq.client.NodeAddress;
import io.raftmq.client.RaftMqException;
import io.raftmq.client.TopicPartition;
import io.raftmq.protocol.ErrorCode;
import io.raftmq.protocol.Errors;
import io.raftmq.protocol.LeaderHint;
import io.raftmq.protocol.Request;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.function.BiFunction;
import java.util.function.Function;

/**
 * Sends one request per leader node for a set of partitions and retries the partitions whose answer
 * is retriable (leader moved, election, timeout) after a metadata refresh, until every partition has
 * a final answer or the time is up. Used for offset commits, claims and look-ups. Thread-safe.
 *
 * @param <R> the per-partition result
 */
final class PartitionFanOut<R> {
  /** One partition's answer. */
  record Outcome<R>(R value, RaftMqException error, LeaderHint leader) {
    static <R> Outcome<R> done(R value) {
      return new Outcome<>(value, null, null);
    }

    static <R> Outcome<R> error(ErrorCode code, String message, LeaderHint leader) {
      return new Outcome<>(null, new RaftMqException(code, message), leader);
    }
  }

  private final ClientRuntime rt;
  private final String what;
  private final Function<List<TopicPartition>, Request.Builder> build;
  private final BiFunction<Reply, List<TopicPartition>, Map<TopicPartition, Outcome<R>>> parse;
  private final long deadline;
  private final Set<TopicPartition> remaining;
  private final Map<TopicPartition, R> results = new LinkedHashMap<>();
  private final CompletableFuture<Map<TopicPartition, R>> future = new CompletableFuture<>();
  private RaftMqException last;

  private PartitionFanOut(ClientRuntime rt, String what, Collection<TopicPartition> partitions,
      Function<List<TopicPartition>, Request.Builder> build,
      BiFunction<Reply, List<TopicPartition>, Map<TopicPartition, Outcome<R>>> parse, Duration timeout) {
    this.rt = rt;
    this.what = what;
    this.build = build;
    this.parse = parse;
    this.deadline = System.nanoTime() + timeout.toNanos();
    this.remaining = new LinkedHashSet<>(partitions);
  }

  /**
   * Runs the fan-out; the future completes with every partition's result, or fails with the first
   * final error (or the last retriable one when time is up).
   */
  static <R> CompletableFuture<Map<TopicPartition, R>> run(ClientRuntime rt, String what,
      Collection<TopicPartition> partitions, Function<List<TopicPartition>, Request.Builder> build,
      BiFunction<Reply, List<TopicPartition>, Map<TopicPartition, Outcome<R>>> parse, Duration timeout) {
    PartitionFanOut<R> f = new PartitionFanOut<>(rt, what, partitions, build, parse, timeout);
    if (f.remaining.isEmpty()) {
      f.future.complete(Map.of());
    } else {
      f.round();
    }
    return f.future;
  }

  private void round() {
    Map<HostPort, List<TopicPartition>> byNode = new LinkedHashMap<>();
    synchronized (this) {
      if (future.isDone()) {
        return;
      }
      for (TopicPartition tp : remaining) {
        NodeAddress leader = rt.metadata().leader(tp);
        if (leader == null) {
          rt.metadata().requestUpdate();
        } else {
          byNode.computeIfAbsent(new HostPort(leader.host(), leader.port()), k -> new ArrayList<>()).add(tp);
        }
      }
    }
    if (byNode.isEmpty()) {
      rt.metadata().refresh().whenComplete((m, e) -> next());
      return;
    }
    int[] pending = {byNode.size()};
    long left = Math.max(1, deadline - System.nanoTime());
    for (Map.Entry<HostPort, List<TopicPartition>> e : byNode.entrySet()) {
      HostPort node = e.getKey();
      List<TopicPartition> tps = e.getValue();
      rt.network().send(node, build.apply(tps), null, Duration.ofNanos(left)).whenComplete((reply, ex) -> {
        try {
          handle(node, tps, reply, ex);
        } finally {
          boolean last;
          synchronized (this) {
            last = --pending[0] == 0;
          }
          if (last) {
            next();
          }
        }
      });
    }
  }

  private void handle(HostPort node, List<TopicPartition> tps, Reply reply, Throwable ex) {
    if (ex != null) {
      RaftMqException err = MetadataCache.asRaftMq(ex);
      rt.metadata().onNodeUnreachable(node);
      synchronized (this) {
        last = err;
        if (!err.isRetriable()) {
          future.completeExceptionally(err);
        }
      }
      return;
    }
    try (reply) {
      if (reply.header().getError() != ErrorCode.NONE) {
        RaftMqException err = new RaftMqException(reply.header().getError(), what + " at " + node + ": "
            + reply.header().getErrorMessage());
        synchronized (this) {
          last = err;
          if (!err.isRetriable()) {
            future.completeExceptionally(err);
          }
        }
        return;
      }
      Map<TopicPartition, Outcome<R>> outcomes;
      try {
        outcomes = parse.apply(reply, tps);
      } catch (RuntimeException e) {
        synchronized (this) {
          future.completeExceptionally(MetadataCache.asRaftMq(e));
        }
        return;
      }
      synchronized (this) {
        for (Map.Entry<TopicPartition, Outcome<R>> o : outcomes.entrySet()) {
          TopicPartition tp = o.getKey();
          if (!remaining.contains(tp)) {
            continue;
          }
          Outcome<R> out = o.getValue();
          if (out.error() == null) {
            results.put(tp, out.value());
            remaining.remove(tp);
            continue;
          }
          RaftMqException err = new RaftMqException(out.error().code(), what + " " + tp + " at " + node + ": "
              + out.error().getMessage(), out.error().isRetriable(), null);
          last = err;
          if (Errors.needsMetadataRefresh(err.code())) {
            rt.metadata().onLeaderError(tp, out.leader());
          }
          if (!err.isRetriable()) {
            future.completeExceptionally(err);
            return;
          }
        }
      }
    }
  }

  private void next() {
    synchronized (this) {
      if (future.isDone()) {
        return;
      }
      if (remaining.isEmpty()) {
        future.complete(results);
        return;
      }
      if (System.nanoTime() + ClientRuntime.RETRY_BACKOFF.toNanos() >= deadline) {
        future.completeExceptionally(new RaftMqException(last == null ? ErrorCode.REQUEST_TIMED_OUT : last.code(),
            what + " for " + remaining + " did not complete in time" + (last == null ? "" : ": " + last.getMessage()),
            true, last));
        return;
      }
    }
    if (!rt.schedule(this::round, ClientRuntime.RETRY_BACKOFF)) {
      future.completeExceptionally(new RaftMqException(ErrorCode.INVALID_REQUEST, "the client is closed", false, last));
    }
  }
}
