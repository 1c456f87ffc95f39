package io.raftmq.broker;

import io.raftmq.metadata.MetadataCore.MetadataView;
import io.raftmq.partition.PartitionListener;
import io.raftmq.partition.PartitionStateMachine;
import io.raftmq.raft.RaftHost;
import io.raftmq.raft.proto.TopicRecord;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.ratis.protocol.RaftGroupId;
import org.apache.ratis.server.RaftServer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Which partition replicas this node hosts, kept in line with the metadata: when a topic appears, the
 * node creates the Raft groups of its replicas; when a topic is deleted, it removes them. Also the
 * place where long-polling fetches wait for new data on a partition.
 *
 * <p>Reconciliation runs on one background thread; lookups are lock-free reads of an immutable map.
 */
final class PartitionDirectory implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(PartitionDirectory.class);

  /** A partition replica hosted here. */
  static final class LocalPartition implements PartitionListener {
    final String topic;
    final int partition;
    final RaftGroupId groupId;
    /** The creation of the topic this replica belongs to (a recreated topic gets new groups). */
    final long topicId;
    final PartitionStateMachine stateMachine;
    final RaftServer.Division division;
    private final ConcurrentLinkedQueue<Runnable> waiters = new ConcurrentLinkedQueue<>();
    /** This replica's group commit of queue commands while it leads (made on first use). */
    private volatile QueueCommandBatcher queueBatcher;

    LocalPartition(String topic, int partition, RaftGroupId groupId, long topicId, PartitionStateMachine stateMachine,
        RaftServer.Division division) {
      this.topic = topic;
      this.partition = partition;
      this.groupId = groupId;
      this.topicId = topicId;
      this.stateMachine = stateMachine;
      this.division = division;
    }

    /** The queue-command batcher of this replica, made by {@code factory} the first time. */
    QueueCommandBatcher queueBatcher(java.util.function.Supplier<QueueCommandBatcher> factory) {
      QueueCommandBatcher b = queueBatcher;
      if (b == null) {
        synchronized (this) {
          b = queueBatcher;
          if (b == null) {
            b = factory.get();
            queueBatcher = b;
          }
        }
      }
      return b;
    }

    /** The queue-command batcher if this replica has proposed queue commands, else null. */
    QueueCommandBatcher queueBatcherIfAny() {
      return queueBatcher;
    }

    /** Runs {@code waiter} once, at the next change of the high watermark or of leadership. */
    void awaitChange(Runnable waiter) {
      waiters.add(waiter);
    }

    /** Fetches parked here (for tests and metrics). */
    int waiterCount() {
      return waiters.size();
    }

    /** Forgets a waiter that no longer needs waking (its fetch answered for another reason). */
    void cancelWait(Runnable waiter) {
      waiters.remove(waiter);
    }

    @Override
    public void onHighWatermark(long highWatermark) {
      wakeAll();
    }

    @Override
    public void onLeaderChanged() {
      wakeAll();
    }

    private void wakeAll() {
      for (Runnable r; (r = waiters.poll()) != null; ) {
        r.run();
      }
    }

    boolean isLeader() {
      return division.getInfo().isLeader();
    }

    boolean isLeaderReady() {
      return division.getInfo().isLeaderReady();
    }

    /** Node id of the leader this replica knows, or -1. */
    int leaderNodeId() {
      var id = division.getInfo().getLeaderId();
      return id == null ? -1 : RaftHost.nodeId(id);
    }

    long term() {
      return division.getInfo().getCurrentTerm();
    }
  }

  record Key(String topic, int partition) {}

  private final RaftHost host;
  private final int selfId;
  private final ScheduledExecutorService executor = Executors.newSingleThreadScheduledExecutor(r -> {
    Thread t = new Thread(r, "partition-reconciler");
    t.setDaemon(true);
    return t;
  });
  private final AtomicBoolean scheduled = new AtomicBoolean();
  private volatile Map<Key, LocalPartition> partitions = Map.of();

  PartitionDirectory(RaftHost host, int selfId) {
    this.host = host;
    this.selfId = selfId;
    // A restarted division is a new object: look the replica up again.
    host.addDivisionRestartListener(groupId -> reconcileSoon());
  }

  /** Metadata changed: reconcile soon (coalesced). Called on the metadata apply thread. */
  void onMetadata(MetadataView view) {
    reconcileSoon();
  }

  private void reconcileSoon() {
    if (scheduled.compareAndSet(false, true)) {
      executor.execute(this::reconcile);
    }
  }

  private void reconcile() {
    scheduled.set(false);
    MetadataView view = host.metadata().view();
    boolean failed = false;
    Map<Key, LocalPartition> next = new HashMap<>();
    for (TopicRecord topic : view.topics().values()) {
      for (int p = 0; p < topic.getPartitions(); p++) {
        List<Integer> replicas = view.replicas(topic, p);
        if (!replicas.contains(selfId)) {
          continue;
        }
        RaftGroupId gid = RaftHost.partitionGroupId(topic.getName(), topic.getTopicId(), p);
        Key key = new Key(topic.getName(), p);
        LocalPartition existing = partitions.get(key);
        if (existing != null && existing.groupId.equals(gid)
            && host.division(gid).orElse(null) == existing.division) {
          next.put(key, existing);
          continue;
        }
        try {
          host.ensureGroup(gid, replicas);
          var division = host.division(gid).orElseThrow();
          var sm = (PartitionStateMachine) division.getStateMachine();
          LocalPartition lp = new LocalPartition(topic.getName(), p, gid, topic.getTopicId(), sm, division);
          sm.setListener(lp);
          next.put(key, lp);
        } catch (Exception e) {
          failed = true;
          LOG.warn("node {}: cannot create replica of {}-{} yet: {}", selfId, topic.getName(), p, e.toString());
        }
      }
    }
    for (TopicRecord deleted : view.deletedTopics()) {
      for (int p = 0; p < deleted.getPartitions(); p++) {
        RaftGroupId gid = RaftHost.partitionGroupId(deleted.getName(), deleted.getTopicId(), p);
        try {
          host.removeGroup(gid);
        } catch (Exception e) {
          failed = true;
          LOG.warn("node {}: cannot remove replica of deleted {}-{} yet: {}", selfId, deleted.getName(), p,
              e.toString());
        }
      }
    }
    partitions = Map.copyOf(next);
    if (failed && scheduled.compareAndSet(false, true)) {
      executor.schedule(this::reconcile, 500, TimeUnit.MILLISECONDS);
    }
  }

  /** The local replica of a partition, or null if this node hosts none (yet). */
  LocalPartition get(String topic, int partition) {
    LocalPartition lp = partitions.get(new Key(topic, partition));
    if (lp == null) {
      return null;
    }
    // Until reconciliation catches up with a topic deleted and created again under the same name, the
    // replica here is the old topic's: serving it would write into (or read from) a group being removed.
    TopicRecord current = host.metadata().view().topic(topic);
    return current != null && current.getTopicId() == lp.topicId ? lp : null;
  }

  /** Whether {@code lp} still belongs to the topic of that name in the metadata (not a deleted one's). */
  boolean isCurrent(LocalPartition lp) {
    TopicRecord current = host.metadata().view().topic(lp.topic);
    return current != null && current.getTopicId() == lp.topicId;
  }

  Map<Key, LocalPartition> all() {
    return partitions;
  }

  @Override
  public void close() {
    executor.shutdownNow();
  }
}
