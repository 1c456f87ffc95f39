package io.raftmq.partition;

import io.raftmq.logstore.PartitionLog;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * fsyncs every partition's log-store in the background, once per interval. Acks never wait for it
 * (the Raft log's quorum fsync is what makes a batch durable); it keeps the data a snapshot must flush
 * small, so that taking a snapshot on the apply thread does not stall a partition's acks behind a
 * large fsync. One daemon thread per node.
 */
public final class LogFlusher implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(LogFlusher.class);

  private final Set<PartitionStateMachine> partitions = ConcurrentHashMap.newKeySet();
  private final ScheduledExecutorService executor = Executors.newSingleThreadScheduledExecutor(r -> {
    Thread t = new Thread(r, "log-store-flusher");
    t.setDaemon(true);
    return t;
  });

  public LogFlusher(long intervalMs) {
    executor.scheduleWithFixedDelay(this::flushAll, intervalMs, intervalMs, TimeUnit.MILLISECONDS);
  }

  void register(PartitionStateMachine partition) {
    partitions.add(partition);
  }

  void unregister(PartitionStateMachine partition) {
    partitions.remove(partition);
  }

  private void flushAll() {
    for (PartitionStateMachine p : partitions) {
      PartitionLog log = p.log();
      if (log == null) {
        continue;
      }
      try {
        log.flush();
      } catch (Exception e) {
        // A log closed for a snapshot install or a group removal; the next round sees the new one.
        LOG.debug("background flush of {} skipped: {}", p.getGroupId(), e.toString());
      }
    }
  }

  @Override
  public void close() {
    executor.shutdownNow();
  }
}
