package io.raftmq.raft;

import io.raftmq.logstore.LogStoreConfig;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Objects;

/**
 * Everything the multi-raft host of one node needs, in one typed place, with units in the names.
 *
 * @param nodeId this node's id (a peer of the metadata group)
 * @param peers every node of the cluster: id, host and Raft port
 * @param dataDir where Raft logs, snapshots and log-store segments live ({@code dataDir/raft})
 * @param electionTimeoutMin lower bound of the randomized election timeout (heartbeats every half of it)
 * @param electionTimeoutMax upper bound of the randomized election timeout
 * @param snapshotThresholdEntries applied entries between automatic snapshots of a group
 * @param purgePreservationEntries entries kept in the Raft log below a snapshot, so that a briefly
 *     absent follower catches up by AppendEntries rather than by snapshot install
 * @param raftSegmentSizeBytes size of a Raft log segment file
 * @param logStore configuration of each partition's log-store
 */
public record RaftSettings(
    int nodeId,
    List<Peer> peers,
    Path dataDir,
    Duration electionTimeoutMin,
    Duration electionTimeoutMax,
    long snapshotThresholdEntries,
    long purgePreservationEntries,
    long raftSegmentSizeBytes,
    LogStoreConfig logStore) {

  /** One node of the cluster as Raft sees it. */
  public record Peer(int nodeId, String host, int raftPort) {
    public String address() {
      return host + ":" + raftPort;
    }
  }

  public RaftSettings {
    Objects.requireNonNull(peers, "peers");
    Objects.requireNonNull(dataDir, "dataDir");
    if (peers.stream().noneMatch(p -> p.nodeId() == nodeId)) {
      throw new IllegalArgumentException("node " + nodeId + " is not among the peers " + peers);
    }
    if (electionTimeoutMax.compareTo(electionTimeoutMin) <= 0) {
      throw new IllegalArgumentException("election timeout max must exceed min");
    }
  }

  /** Defaults for a node: 1-2 s elections, a snapshot every 4096 entries, 1024 entries preserved. */
  public static RaftSettings defaults(int nodeId, List<Peer> peers, Path dataDir) {
    return new RaftSettings(nodeId, peers, dataDir, Duration.ofMillis(1000), Duration.ofMillis(2000),
        4096, 1024, 16L * 1024 * 1024, LogStoreConfig.defaults());
  }

  public RaftSettings withSnapshots(long thresholdEntries, long preservationEntries) {
    return new RaftSettings(nodeId, peers, dataDir, electionTimeoutMin, electionTimeoutMax, thresholdEntries,
        preservationEntries, raftSegmentSizeBytes, logStore);
  }

  public RaftSettings withLogStore(LogStoreConfig config) {
    return new RaftSettings(nodeId, peers, dataDir, electionTimeoutMin, electionTimeoutMax,
        snapshotThresholdEntries, purgePreservationEntries, raftSegmentSizeBytes, config);
  }

  public Peer self() {
    return peers.stream().filter(p -> p.nodeId() == nodeId).findFirst().orElseThrow();
  }
}
