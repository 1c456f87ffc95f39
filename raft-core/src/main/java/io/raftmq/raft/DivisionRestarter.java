package io.raftmq.raft;

import java.io.Closeable;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.apache.ratis.protocol.RaftGroupId;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Brings back partition divisions that Ratis closed by itself while this node is still one of their
 * replicas.
 *
 * <p>Ratis closes a division on its own when an internal check fails, for instance when its log worker
 * hits an exception (a follower whose log was reset by a snapshot install while older appends were
 * still being written: {@code SegmentedRaftLogWorker hit exception}, then {@code current state is
 * CLOSED}). Nothing in Ratis reopens it: the replica would stay behind until its node restarts. This
 * does what such a restart does, for that one group: every {@code interval}, it asks the host to
 * restart each partition division found closed ({@link RaftHost#restartIfClosed}), which removes the
 * closed division (keeping its storage) and adds the group again from that storage; the new division
 * recovers its snapshot and Raft log, and its leader catches it up.
 *
 * <p>One daemon thread; a failed restart is retried at the next tick.
 */
final class DivisionRestarter implements Closeable {
  private static final Logger LOG = LoggerFactory.getLogger(DivisionRestarter.class);

  private final RaftHost host;
  private final ScheduledExecutorService executor;

  DivisionRestarter(RaftHost host, Duration interval) {
    this.host = host;
    this.executor = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "node-" + host.settings().nodeId() + "-division-restarter");
      t.setDaemon(true);
      return t;
    });
    long ms = interval.toMillis();
    executor.scheduleWithFixedDelay(this::tick, ms, ms, TimeUnit.MILLISECONDS);
  }

  private void tick() {
    List<RaftGroupId> groups;
    try {
      groups = host.partitionGroupIds();
    } catch (RuntimeException e) {
      return; // the server is closing
    }
    for (RaftGroupId gid : groups) {
      try {
        host.restartIfClosed(gid);
      } catch (Exception e) {
        LOG.error("node {}: restarting the closed division of group {} failed, retrying: {}",
            host.settings().nodeId(), gid, e.toString(), e);
      }
    }
  }

  @Override
  public void close() {
    executor.shutdownNow();
    try {
      executor.awaitTermination(30, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
