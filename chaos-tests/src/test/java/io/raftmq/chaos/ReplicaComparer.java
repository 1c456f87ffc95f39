package io.raftmq.chaos;

import io.raftmq.logstore.FetchSlice;
import io.raftmq.logstore.LogStoreConfig;
import io.raftmq.logstore.PartitionLog;
import io.raftmq.raft.RaftHost;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.zip.CRC32C;

/**
 * The replica check, run on the node data directories once every node is stopped: each partition's
 * log-store on each node (under {@code raft/<group>/sm/log}) is read batch by batch, and every batch
 * below the smallest of the replicas' ends must be byte-identical, at the same base offset, on every
 * node. Replicas that end at different offsets are reported too (they had not caught up).
 */
final class ReplicaComparer {
  private ReplicaComparer() {}

  /** One replica's batches: base offset to (record count, CRC32C of the whole stored frame). */
  record Replica(int node, long start, long end, Map<Long, long[]> batches) {}

  static Path logDir(Path nodeDataDir, String topic, long topicId, int partition) {
    String group = RaftHost.partitionGroupId(topic, topicId, partition).getUuid().toString();
    return nodeDataDir.resolve("raft").resolve(group).resolve("sm").resolve("log");
  }

  static Replica read(int node, Path dir) throws IOException {
    Map<Long, long[]> batches = new TreeMap<>();
    if (!Files.isDirectory(dir)) {
      return new Replica(node, 0, 0, batches);
    }
    try (PartitionLog log = PartitionLog.open(dir, LogStoreConfig.builder().build())) {
      long offset = log.logStartOffset();
      long end = log.nextOffset();
      while (offset < end) {
        FetchSlice slice = log.read(offset, 1 << 20);
        if (slice.isEmpty()) {
          break;
        }
        ByteBuffer buf = slice.readFully();
        long before = offset;
        while (buf.remaining() >= 12) {
          int pos = buf.position();
          long base = buf.getLong(pos);
          int length = buf.getInt(pos + 8);
          int count = buf.getInt(pos + 18);
          if (length <= 0 || buf.remaining() < 12 + length) {
            break;
          }
          CRC32C crc = new CRC32C();
          ByteBuffer frame = buf.duplicate();
          frame.limit(pos + 12 + length);
          crc.update(frame);
          batches.put(base, new long[] {count, crc.getValue()});
          buf.position(pos + 12 + length);
          offset = base + count;
        }
        if (offset == before) {
          throw new IOException("no progress reading " + dir + " at " + offset);
        }
      }
      return new Replica(node, log.logStartOffset(), end, batches);
    }
  }

  /** Compares the replicas of every partition; violations are batches that differ across nodes. */
  static CheckResult compare(ChaosCluster cluster, String topic, long topicId, int partitions) throws IOException {
    long divergent = 0;
    long compared = 0;
    long lagging = 0;
    List<String> examples = new ArrayList<>();
    for (int p = 0; p < partitions; p++) {
      List<Replica> replicas = new ArrayList<>();
      for (int i = 1; i <= cluster.size(); i++) {
        replicas.add(read(i, logDir(cluster.dataDir(i), topic, topicId, p)));
      }
      long commonEnd = replicas.stream().mapToLong(Replica::end).min().orElse(0);
      long maxEnd = replicas.stream().mapToLong(Replica::end).max().orElse(0);
      if (commonEnd != maxEnd) {
        lagging++;
        if (examples.size() < 10) {
          examples.add("partition " + p + " replicas end at " + replicas.stream().map(r -> "n" + r.node() + ":"
              + r.end()).toList() + " (not caught up; not a divergence)");
        }
      }
      Replica first = replicas.get(0);
      for (var e : first.batches().entrySet()) {
        long base = e.getKey();
        if (base >= commonEnd) {
          break;
        }
        compared++;
        for (Replica other : replicas.subList(1, replicas.size())) {
          if (base < other.start()) {
            continue;
          }
          long[] mine = e.getValue();
          long[] theirs = other.batches().get(base);
          if (theirs == null || theirs[0] != mine[0] || theirs[1] != mine[1]) {
            divergent++;
            if (examples.size() < 10) {
              examples.add("partition " + p + " batch at " + base + ": n" + first.node() + " has " + mine[0]
                  + " records crc " + Long.toHexString(mine[1]) + ", n" + other.node() + " has "
                  + (theirs == null ? "no batch there" : theirs[0] + " records crc " + Long.toHexString(theirs[1])));
            }
          }
        }
      }
      // Batches the other replicas have below the common end that the first lacks.
      for (Replica other : replicas.subList(1, replicas.size())) {
        for (long base : other.batches().keySet()) {
          if (base < commonEnd && base >= first.start() && !first.batches().containsKey(base)) {
            divergent++;
            if (examples.size() < 10) {
              examples.add("partition " + p + ": n" + other.node() + " has a batch at " + base + ", n"
                  + first.node() + " does not");
            }
          }
        }
      }
    }
    return new CheckResult("replicas-identical", divergent, LogChecker.counts("batches-compared", compared,
        "divergent-batches", divergent, "partitions-not-caught-up", lagging), examples);
  }
}
