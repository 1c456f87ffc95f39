package io.raftmq.client.internal;

import io.raftmq.client.ClusterMetadata;
import io.raftmq.client.NodeAddress;
import io.raftmq.client.PartitionInfo;
import io.raftmq.client.RaftMqException;
import io.raftmq.client.TopicDescription;
import io.raftmq.client.TopicPartition;
import io.raftmq.protocol.ApiKey;
import io.raftmq.protocol.ErrorCode;
import io.raftmq.protocol.LeaderHint;
import io.raftmq.protocol.MetadataRequest;
import io.raftmq.protocol.MetadataResponse;
import io.raftmq.protocol.NodeInfo;
import io.raftmq.protocol.PartitionMetadata;
import io.raftmq.protocol.Request;
import io.raftmq.protocol.Response;
import io.raftmq.protocol.TopicMetadata;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The client's view of the cluster: node addresses, topics, partition leaders, the metadata leader.
 * Refreshed from any reachable node (known nodes first, then the bootstrap list), at most one refresh
 * at a time; a refresh is due when something asked for one (NOT_LEADER, a lost connection, an unknown
 * partition) or the view is older than {@code metadataMaxAge}. Leader hints from NOT_LEADER replies
 * patch the view at once. Thread-safe; reads are lock-free on an immutable snapshot.
 */
public final class MetadataCache {
  private static final Logger log = LoggerFactory.getLogger(MetadataCache.class);

  /** An immutable view. */
  record Snapshot(Map<Integer, NodeAddress> nodes, Map<String, TopicDescription> topics, int metadataLeader,
      long fetchedAtNanos) {}

  private final NetworkClient network;
  private final List<HostPort> bootstrap;
  private final Duration requestTimeout;
  private final long maxAgeNanos;
  private final AtomicInteger rotation = new AtomicInteger();
  private volatile Snapshot snapshot = new Snapshot(Map.of(), Map.of(), -1, 0);
  private volatile boolean updateRequested = true;
  private volatile HostPort metadataLeaderHint;
  private final java.util.Map<HostPort, Long> unreachableSince = new java.util.concurrent.ConcurrentHashMap<>();
  private CompletableFuture<ClusterMetadata> inFlight; // guarded by this

  /** A cache that refreshes through {@code network}. */
  public MetadataCache(NetworkClient network, List<HostPort> bootstrap, Duration requestTimeout, Duration maxAge) {
    this.network = network;
    this.bootstrap = List.copyOf(bootstrap);
    this.requestTimeout = requestTimeout;
    this.maxAgeNanos = maxAge.toNanos();
  }

  /** Marks the view stale; the next {@link #maybeRefresh()} refreshes it. */
  public void requestUpdate() {
    updateRequested = true;
  }

  /** Whether a refresh is due. */
  public boolean needsRefresh() {
    return updateRequested || System.nanoTime() - snapshot.fetchedAtNanos > maxAgeNanos;
  }

  /** Starts a refresh if one is due; returns the in-flight or a completed future. */
  public CompletableFuture<ClusterMetadata> maybeRefresh() {
    if (needsRefresh()) {
      return refresh();
    }
    synchronized (this) {
      return inFlight != null ? inFlight : CompletableFuture.completedFuture(null);
    }
  }

  /** Refreshes now (joining a refresh already in flight). */
  public synchronized CompletableFuture<ClusterMetadata> refresh() {
    if (inFlight != null) {
      return inFlight;
    }
    updateRequested = false;
    CompletableFuture<ClusterMetadata> f = fetch(List.of());
    inFlight = f;
    f.whenComplete((m, e) -> {
      synchronized (this) {
        inFlight = null;
      }
      if (e != null) {
        updateRequested = true;
      }
    });
    return f;
  }

  /**
   * A fresh metadata request for {@code topics} (all when empty), tried against each candidate node in
   * turn until one answers; the answer also updates the cache when it covers all topics.
   */
  public CompletableFuture<ClusterMetadata> fetch(List<String> topics) {
    CompletableFuture<ClusterMetadata> result = new CompletableFuture<>();
    List<HostPort> candidates = candidates();
    long deadline = System.nanoTime() + requestTimeout.toNanos();
    tryFetch(candidates, 0, topics, deadline, result, null);
    return result;
  }

  private void tryFetch(List<HostPort> candidates, int i, List<String> topics, long deadline,
      CompletableFuture<ClusterMetadata> result, RaftMqException last) {
    long remaining = deadline - System.nanoTime();
    if (i >= candidates.size() || remaining <= 0) {
      result.completeExceptionally(new RaftMqException(ErrorCode.LEADER_NOT_AVAILABLE,
          "no node answered a metadata request (tried " + candidates + ")"
              + (last == null ? "" : "; last error: " + last.getMessage()), true, last));
      return;
    }
    HostPort target = candidates.get(i);
    Request.Builder req = Request.newBuilder().setApiKey(ApiKey.METADATA)
        .setMetadata(MetadataRequest.newBuilder().addAllTopics(topics));
    network.send(target, req, null, Duration.ofNanos(remaining)).whenComplete((reply, e) -> {
      if (e != null) {
        tryFetch(candidates, i + 1, topics, deadline, result, asRaftMq(e));
        return;
      }
      try (reply) {
        Response r = reply.header();
        if (r.getError() != ErrorCode.NONE || !r.hasMetadata()) {
          tryFetch(candidates, i + 1, topics, deadline, result,
              new RaftMqException(r.getError() == ErrorCode.NONE ? ErrorCode.INVALID_REQUEST : r.getError(),
                  "metadata from " + target + ": " + r.getErrorMessage()));
          return;
        }
        ClusterMetadata m = convert(r.getMetadata());
        if (topics.isEmpty()) {
          update(m);
        }
        result.complete(m);
      } catch (RuntimeException ex) {
        result.completeExceptionally(ex);
      }
    });
  }

  /** Known node addresses (rotated so load spreads) followed by bootstrap addresses not among them. */
  public List<HostPort> candidates() {
    LinkedHashSet<HostPort> set = new LinkedHashSet<>();
    List<NodeAddress> nodes = new ArrayList<>(snapshot.nodes.values());
    if (!nodes.isEmpty()) {
      int start = Math.floorMod(rotation.getAndIncrement(), nodes.size());
      for (int k = 0; k < nodes.size(); k++) {
        NodeAddress n = nodes.get((start + k) % nodes.size());
        set.add(new HostPort(n.host(), n.port()));
      }
    }
    set.addAll(bootstrap);
    return new ArrayList<>(set);
  }

  /** The metadata leader if known (from metadata or a hint), else some node. */
  public HostPort metadataLeaderOrAny() {
    HostPort hint = metadataLeaderHint;
    if (hint != null && !recentlyUnreachable(hint)) {
      return hint;
    }
    NodeAddress leader = snapshot.nodes.get(snapshot.metadataLeader);
    if (leader != null) {
      HostPort hp = new HostPort(leader.host(), leader.port());
      if (!recentlyUnreachable(hp)) {
        return hp;
      }
    }
    return anyNode();
  }

  /** Some node, rotating over known nodes and bootstrap addresses, avoiding ones that just failed. */
  public HostPort anyNode() {
    List<HostPort> candidates = candidates(); // already rotated
    for (HostPort hp : candidates) {
      if (!recentlyUnreachable(hp)) {
        return hp;
      }
    }
    return candidates.get(0);
  }

  /** How long a node that could not be reached is passed over when any node would do. */
  private static final long UNREACHABLE_AVOID_NANOS = java.util.concurrent.TimeUnit.SECONDS.toNanos(5);

  private boolean recentlyUnreachable(HostPort node) {
    Long since = unreachableSince.get(node);
    return since != null && System.nanoTime() - since < UNREACHABLE_AVOID_NANOS;
  }

  /** Remembers where the metadata leader is (from a NOT_LEADER hint); null forgets it. */
  public void metadataLeaderHint(LeaderHint hint) {
    HostPort hp = toHostPort(hint);
    metadataLeaderHint = hp;
    if (hp == null) {
      requestUpdate();
    }
  }

  /** A request to {@code node} failed on the network: forget it as metadata leader and refresh soon. */
  public void onNodeUnreachable(HostPort node) {
    unreachableSince.put(node, System.nanoTime());
    if (node.equals(metadataLeaderHint)) {
      metadataLeaderHint = null;
    }
    requestUpdate();
  }

  /** The cached topic, or null. */
  public TopicDescription topic(String name) {
    return snapshot.topics.get(name);
  }

  /** The address of {@code tp}'s leader, or null if unknown. */
  public NodeAddress leader(TopicPartition tp) {
    Snapshot s = snapshot;
    TopicDescription t = s.topics.get(tp.topic());
    if (t == null || tp.partition() < 0 || tp.partition() >= t.partitions().size()) {
      return null;
    }
    int leader = t.partitions().get(tp.partition()).leader();
    return leader < 0 ? null : s.nodes.get(leader);
  }

  /** Node addresses by id. */
  public Map<Integer, NodeAddress> nodes() {
    return snapshot.nodes;
  }

  /**
   * Applies a NOT_LEADER (or similar) reply for {@code tp}: uses the hint's leader at once if it names
   * one, and asks for a refresh in any case.
   */
  public void onLeaderError(TopicPartition tp, LeaderHint hint) {
    requestUpdate();
    if (hint == null || hint.getNodeId() < 0 || hint.getHost().isEmpty() || hint.getPort() <= 0) {
      return;
    }
    synchronized (this) {
      Snapshot s = snapshot;
      TopicDescription t = s.topics.get(tp.topic());
      if (t == null || tp.partition() >= t.partitions().size()) {
        return;
      }
      Map<Integer, NodeAddress> nodes = s.nodes;
      NodeAddress known = nodes.get(hint.getNodeId());
      if (known == null || !known.host().equals(hint.getHost()) || known.port() != hint.getPort()) {
        nodes = new HashMap<>(nodes);
        nodes.put(hint.getNodeId(), new NodeAddress(hint.getNodeId(), hint.getHost(), hint.getPort(),
            known == null ? 0 : known.httpPort()));
        nodes = Map.copyOf(nodes);
      }
      List<PartitionInfo> parts = new ArrayList<>(t.partitions());
      PartitionInfo p = parts.get(tp.partition());
      parts.set(tp.partition(), new PartitionInfo(p.partition(), hint.getNodeId(), p.replicas(), p.logStartOffset(),
          p.highWatermark()));
      Map<String, TopicDescription> topics = new HashMap<>(s.topics);
      topics.put(t.name(), new TopicDescription(t.name(), t.topicId(), t.replicationFactor(), parts, t.configs()));
      snapshot = new Snapshot(nodes, Map.copyOf(topics), s.metadataLeader, s.fetchedAtNanos);
    }
  }

  /**
   * Blocks until the cache lists {@code topic}, refreshing as needed, for at most {@code maxWait}.
   * Fails with {@code UNKNOWN_TOPIC} once three consecutive answers lacked the topic.
   */
  public TopicDescription awaitTopic(String topic, Duration maxWait, Duration backoff) {
    TopicDescription t = topic(topic);
    if (t != null && !t.partitions().isEmpty()) {
      return t;
    }
    long deadline = System.nanoTime() + maxWait.toNanos();
    int misses = 0;
    RaftMqException last = null;
    while (true) {
      try {
        long remaining = deadline - System.nanoTime();
        refresh().get(Math.max(1, remaining), TimeUnit.NANOSECONDS);
        t = topic(topic);
        if (t != null && !t.partitions().isEmpty()) {
          return t;
        }
        if (++misses >= 3) {
          throw new RaftMqException(ErrorCode.UNKNOWN_TOPIC, "topic '" + topic + "' does not exist");
        }
      } catch (java.util.concurrent.TimeoutException e) {
        break;
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new RaftMqException(ErrorCode.REQUEST_TIMED_OUT, "interrupted while waiting for metadata", true, e);
      } catch (java.util.concurrent.ExecutionException e) {
        last = asRaftMq(e.getCause());
      }
      if (System.nanoTime() + backoff.toNanos() >= deadline) {
        break;
      }
      sleepNanos(Math.max(backoff.toNanos(), TimeUnit.MILLISECONDS.toNanos(10)));
    }
    throw new RaftMqException(ErrorCode.REQUEST_TIMED_OUT, "no metadata for topic '" + topic + "' within "
        + maxWait.toMillis() + " ms" + (last == null ? "" : ": " + last.getMessage()), true, last);
  }

  private static void sleepNanos(long nanos) {
    try {
      TimeUnit.NANOSECONDS.sleep(nanos);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new RaftMqException(ErrorCode.REQUEST_TIMED_OUT, "interrupted while waiting for metadata", true, e);
    }
  }

  /** Replaces the cached view with {@code m}. */
  public void update(ClusterMetadata m) {
    Map<Integer, NodeAddress> nodes = new HashMap<>();
    for (NodeAddress n : m.nodes()) {
      nodes.put(n.nodeId(), n);
    }
    Map<String, TopicDescription> topics = new HashMap<>();
    for (TopicDescription t : m.topics()) {
      topics.put(t.name(), t);
    }
    synchronized (this) {
      snapshot = new Snapshot(Map.copyOf(nodes), Map.copyOf(topics), m.metadataLeader(), System.nanoTime());
      if (m.metadataLeader() >= 0) {
        metadataLeaderHint = null;
      }
    }
    log.debug("metadata from node {}: {} nodes, {} topics, metadata leader {}", m.answeringNode(), nodes.size(),
        topics.size(), m.metadataLeader());
  }

  /** Converts a wire metadata response; topics with an error are left out. */
  public static ClusterMetadata convert(MetadataResponse r) {
    List<NodeAddress> nodes = new ArrayList<>();
    for (NodeInfo n : r.getNodesList()) {
      nodes.add(new NodeAddress(n.getNodeId(), n.getHost(), n.getPort(), n.getHttpPort()));
    }
    List<TopicDescription> topics = new ArrayList<>();
    for (TopicMetadata t : r.getTopicsList()) {
      if (t.getError() == ErrorCode.NONE) {
        topics.add(convert(t));
      }
    }
    return new ClusterMetadata(nodes, r.getMetadataLeader(), r.getAnsweringNode(), topics);
  }

  /** Converts one wire topic; partitions are ordered by number. */
  public static TopicDescription convert(TopicMetadata t) {
    List<PartitionInfo> parts = new ArrayList<>();
    for (PartitionMetadata p : t.getPartitionsList()) {
      parts.add(new PartitionInfo(p.getPartition(), p.getLeader(), p.getReplicasList(), p.getLogStartOffset(),
          p.getHighWatermark()));
    }
    parts.sort(java.util.Comparator.comparingInt(PartitionInfo::partition));
    return new TopicDescription(t.getName(), t.getTopicId(), t.getReplicationFactor(), parts, t.getConfigsMap());
  }

  /** The hint's address, or null when it names none. */
  public static HostPort toHostPort(LeaderHint hint) {
    if (hint == null || hint.getHost().isEmpty() || hint.getPort() <= 0) {
      return null;
    }
    return new HostPort(hint.getHost(), hint.getPort());
  }

  /** {@code e} (or its cause) as a RaftMqException. */
  public static RaftMqException asRaftMq(Throwable e) {
    while ((e instanceof java.util.concurrent.CompletionException || e instanceof java.util.concurrent.ExecutionException)
        && e.getCause() != null) {
      e = e.getCause();
    }
    if (e instanceof RaftMqException r) {
      return r;
    }
    return new RaftMqException(ErrorCode.UNKNOWN_SERVER_ERROR, String.valueOf(e), false, e);
  }

  /** Partition numbers of a topic as a set (for tests and diagnostics). */
  Set<Integer> partitionsOf(String topic) {
    TopicDescription t = topic(topic);
    Set<Integer> s = new LinkedHashSet<>();
    if (t != null) {
      t.partitions().forEach(p -> s.add(p.partition()));
    }
    return s;
  }
}
