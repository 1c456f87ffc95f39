package io.raftmq.broker;

import io.raftmq.metadata.MetadataCore.MetadataView;
import io.raftmq.protocol.ErrorCode;
import io.raftmq.protocol.LeaderHint;
import io.raftmq.protocol.NodeInfo;
import io.raftmq.protocol.PartitionMetadata;
import io.raftmq.protocol.Response;
import io.raftmq.protocol.TopicMetadata;
import io.raftmq.raft.RaftHost;
import io.raftmq.raft.proto.MetadataCommand;
import io.raftmq.raft.proto.NodeRecord;
import io.raftmq.raft.proto.ReadBarrier;
import io.raftmq.raft.proto.TopicRecord;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.function.Supplier;
import org.apache.ratis.protocol.RaftPeerId;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** What every request handler needs: the node's config, its Raft host, its replicas and its metrics. */
final class BrokerContext {
  private static final Logger LOG = LoggerFactory.getLogger(BrokerContext.class);
  final NodeConfig config;
  final RaftHost host;
  final PartitionDirectory partitions;
  final BrokerMetrics metrics;
  /** Timers of the request handlers (metadata waits, commit time-outs); never blocks. */
  final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(r -> {
    Thread t = new Thread(r, "broker-timer");
    t.setDaemon(true);
    return t;
  });
  private final ConcurrentLinkedQueue<Runnable> metadataWaiters = new ConcurrentLinkedQueue<>();
  /** Set when the node starts shutting down: connection closes are then not consumers leaving. */
  volatile boolean closing;
  /** The consumer groups' coordinator (active while this node leads the metadata group). */
  final GroupCoordinator coordinator;

  BrokerContext(NodeConfig config, RaftHost host, PartitionDirectory partitions, BrokerMetrics metrics) {
    this.config = config;
    this.host = host;
    this.partitions = partitions;
    this.metrics = metrics;
    this.coordinator = new GroupCoordinator(this);
  }

  /** Metadata log index this node must have applied before it serves clients; MAX until registered. */
  private volatile long readyIndex = Long.MAX_VALUE;
  private volatile boolean ready;
  private static final long BARRIER_TIMEOUT_MS = 10_000;

  /** Opens the readiness gate once the local metadata replica has applied {@code index}. */
  void readyOnceApplied(long index) {
    readyIndex = Math.max(0, index);
  }

  /**
   * Whether this node serves client requests: its metadata replica has applied its own registration,
   * committed after it started, so it knows at least everything committed before it came up.
   */
  boolean ready() {
    if (ready) {
      return true;
    }
    long index = readyIndex;
    if (index != Long.MAX_VALUE && host.metadata().appliedIndex() >= index) {
      ready = true;
      LOG.info("node {} ready: its metadata replica applied index {}", config.nodeId(), index);
    }
    return ready;
  }

  /**
   * {@code answer}, built once this node's metadata replica has applied a {@code ReadBarrier}
   * committed in the metadata group after the call: an admin read answered by any node then sees
   * every admin write completed before it, through whichever node (the metadata twin of
   * {@link PartitionCommands#readBarrier}; Ratis' ReadIndex would let a deposed leader answer from
   * stale state). {@code response} with LEADER_NOT_AVAILABLE when the barrier does not commit, or
   * this replica does not apply it, within the time-out.
   */
  CompletableFuture<Response.Builder> afterMetadataBarrier(Response.Builder response,
      Supplier<Response.Builder> answer) {
    return host.proposeMetadataAt(readBarrier())
        .thenCompose(c -> awaitApplied(c.logIndex()).thenApply(v -> {
          if (host.metadata().appliedIndex() < c.logIndex()) {
            throw new IllegalStateException("this replica did not apply the read barrier (index "
                + c.logIndex() + ") within " + BARRIER_TIMEOUT_MS + " ms");
          }
          return c;
        }))
        .handle((c, e) -> {
          if (e != null) {
            return response.setError(ErrorCode.LEADER_NOT_AVAILABLE)
                .setErrorMessage("metadata read barrier: " + e.getMessage());
          }
          try {
            return answer.get();
          } catch (RuntimeException ex) {
            LOG.error("node {}: metadata read failed", config.nodeId(), ex);
            return response.setError(ErrorCode.UNKNOWN_SERVER_ERROR).setErrorMessage(ex.toString());
          }
        });
  }

  private static MetadataCommand readBarrier() {
    return MetadataCommand.newBuilder().setLeaderTimeMs(System.currentTimeMillis())
        .setReadBarrier(ReadBarrier.getDefaultInstance()).build();
  }

  /**
   * Completes once this node's metadata replica has applied {@code index} (a command it saw commit),
   * or after {@link #BARRIER_TIMEOUT_MS} (the caller re-checks); nudges first ({@link #nudgeIfBehind}).
   */
  CompletableFuture<Void> awaitApplied(long index) {
    if (!nudgeIfBehind(index)) {
      return CompletableFuture.completedFuture(null);
    }
    return awaitMetadata(v -> host.metadata().appliedIndex() >= index, BARRIER_TIMEOUT_MS).thenApply(v -> null);
  }

  /**
   * Whether this node's metadata replica has not applied {@code index} (committed) yet; if so, proposes
   * one more barrier, not waited for. A follower learns that an entry committed from the leader's next
   * append or heartbeat (RaftMQ turns Ratis' commit-index records off), up to half an election
   * time-out later; the barrier's append carries the commit index along at once.
   */
  boolean nudgeIfBehind(long index) {
    if (host.metadata().appliedIndex() >= index) {
      return false;
    }
    host.proposeMetadata(readBarrier());
    return true;
  }

  MetadataView metadata() {
    return host.metadata().view();
  }

  /** Called after every metadata apply: re-checks the requests waiting for this node to catch up. */
  void onMetadata(MetadataView view) {
    for (int n = metadataWaiters.size(); n > 0; n--) {
      Runnable r = metadataWaiters.poll();
      if (r == null) {
        break;
      }
      r.run();
    }
  }

  /**
   * Completes with this node's metadata once {@code condition} holds for it, or with the metadata as
   * it is after {@code timeoutMs} (the caller re-checks). Used where a client knows of a change (a
   * group generation) that this node may not have applied yet.
   */
  CompletableFuture<MetadataView> awaitMetadata(Predicate<MetadataView> condition, long timeoutMs) {
    CompletableFuture<MetadataView> result = new CompletableFuture<>();
    Runnable check = new Runnable() {
      @Override
      public void run() {
        MetadataView v = metadata();
        if (condition.test(v)) {
          result.complete(v);
        } else if (!result.isDone()) {
          metadataWaiters.add(this);
          // Re-check after queueing, in case an apply ran in between.
          if (condition.test(metadata())) {
            metadataWaiters.remove(this);
            result.complete(metadata());
          }
        }
      }
    };
    check.run();
    if (!result.isDone()) {
      timer.schedule(() -> result.complete(metadata()), timeoutMs, TimeUnit.MILLISECONDS);
      result.whenComplete((v, e) -> metadataWaiters.remove(check));
    }
    return result;
  }

  /** A hint naming node {@code nodeId}, or an empty hint (-1) if its address is unknown. */
  LeaderHint hint(int nodeId) {
    NodeRecord n = nodeId < 0 ? null : metadata().nodes().get(nodeId);
    if (n == null) {
      return LeaderHint.newBuilder().setNodeId(-1).build();
    }
    return LeaderHint.newBuilder().setNodeId(n.getNodeId()).setHost(n.getHost()).setPort(n.getClientPort()).build();
  }

  LeaderHint hint(RaftPeerId peer) {
    return peer == null ? hint(-1) : hint(RaftHost.nodeId(peer));
  }

  /** Where a client should go for a partition this node does not lead. */
  LeaderHint leaderHintFor(TopicRecord topic, int partition) {
    PartitionDirectory.LocalPartition lp = partitions.get(topic.getName(), partition);
    if (lp != null && lp.leaderNodeId() >= 0 && !lp.isLeader()) {
      return hint(lp.leaderNodeId());
    }
    List<Integer> replicas = metadata().replicas(topic, partition);
    return hint(replicas.isEmpty() ? -1 : replicas.get(0));
  }

  List<NodeInfo> nodes() {
    return metadata().nodes().values().stream()
        .map(n -> NodeInfo.newBuilder().setNodeId(n.getNodeId()).setHost(n.getHost())
            .setPort(n.getClientPort()).setHttpPort(n.getHttpPort()).build())
        .toList();
  }

  TopicMetadata topicMetadata(TopicRecord topic) {
    TopicMetadata.Builder b = TopicMetadata.newBuilder()
        .setName(topic.getName())
        .setError(ErrorCode.NONE)
        .setReplicationFactor(topic.getReplicationFactor())
        .setTopicId(topic.getTopicId())
        .putAllConfigs(topic.getConfigsMap());
    for (int p = 0; p < topic.getPartitions(); p++) {
      PartitionMetadata.Builder pm = PartitionMetadata.newBuilder()
          .setPartition(p)
          .addAllReplicas(metadata().replicas(topic, p))
          .setLeader(-1)
          .setLogStartOffset(-1)
          .setHighWatermark(-1);
      PartitionDirectory.LocalPartition lp = partitions.get(topic.getName(), p);
      if (lp != null) {
        pm.setLeader(lp.leaderNodeId())
            .setLeaderTerm(lp.term())
            .setLogStartOffset(lp.stateMachine.logStartOffset())
            .setHighWatermark(lp.stateMachine.highWatermark());
      }
      b.addPartitions(pm);
    }
    return b.build();
  }

  /** The largest record a topic accepts: its own max.message.bytes, capped by the node's. */
  int maxMessageBytes(TopicRecord topic) {
    String v = topic.getConfigsMap().get("max.message.bytes");
    int limit = config.maxMessageBytes();
    if (v != null) {
      try {
        limit = (int) Math.min(limit, Long.parseLong(v));
      } catch (NumberFormatException ignored) {
        // validated at creation
      }
    }
    return limit;
  }

  /** Node id of the metadata group's leader as this node knows it, or -1. */
  int metadataLeader() {
    return host.division(RaftHost.METADATA_GROUP_ID)
        .map(d -> d.getInfo().getLeaderId())
        .map(RaftHost::nodeId)
        .orElse(-1);
  }
}
