package io.raftmq.broker;

import io.raftmq.logstore.LogStoreConfig;
import io.raftmq.raft.RaftSettings;
import java.io.IOException;
import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;

/**
 * The configuration of one broker node, in one typed place with units in the names. Built from
 * command-line flags and/or a properties file ({@link #fromProperties}); {@link Builder#build()}
 * rejects bad values with one clear message.
 *
 * <p>Properties keys: {@code node.id}, {@code data.dir}, {@code host}, {@code client.port},
 * {@code raft.port}, {@code http.port}, {@code peers} ({@code 1@127.0.0.1:9191,2@...}),
 * {@code max.message.bytes}, {@code max.frame.bytes}, {@code election.timeout.min.ms},
 * {@code election.timeout.max.ms}, {@code snapshot.threshold.entries},
 * {@code purge.preservation.entries}, {@code segment.size.bytes}, {@code raft.segment.size.bytes}.
 *
 * <p>{@code unsafeAckBeforeCommitForTests} is for the chaos suite only (off by default, not a
 * properties key): it breaks the broker's durability promise on purpose, so the suite can show that
 * its checkers catch a broker that acknowledges a produce before the quorum commit.
 */
public record NodeConfig(
    int nodeId,
    Path dataDir,
    String host,
    int clientPort,
    int raftPort,
    int httpPort,
    List<RaftSettings.Peer> peers,
    int maxMessageBytes,
    int maxFrameBytes,
    Duration electionTimeoutMin,
    Duration electionTimeoutMax,
    long snapshotThresholdEntries,
    long purgePreservationEntries,
    long segmentSizeBytes,
    long raftSegmentSizeBytes,
    boolean unsafeAckBeforeCommitForTests) {

  public static final int DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024;
  public static final int DEFAULT_MAX_FRAME_BYTES = 64 * 1024 * 1024;

  public static Builder builder() {
    return new Builder();
  }

  /** The Raft settings this node runs with. */
  public RaftSettings raftSettings() {
    return new RaftSettings(nodeId, peers, dataDir, electionTimeoutMin, electionTimeoutMax,
        snapshotThresholdEntries, purgePreservationEntries, raftSegmentSizeBytes,
        LogStoreConfig.builder().segmentSizeBytes(segmentSizeBytes).build());
  }

  /** Reads a properties file into a builder; flags given afterwards override it. */
  public static Builder fromProperties(Path file) throws IOException {
    Properties p = new Properties();
    try (Reader r = Files.newBufferedReader(file)) {
      p.load(r);
    }
    Builder b = builder();
    try {
      if (p.containsKey("node.id")) {
        b.nodeId(Integer.parseInt(p.getProperty("node.id").trim()));
      }
      if (p.containsKey("data.dir")) {
        b.dataDir(Path.of(p.getProperty("data.dir").trim()));
      }
      if (p.containsKey("host")) {
        b.host(p.getProperty("host").trim());
      }
      if (p.containsKey("client.port")) {
        b.clientPort(Integer.parseInt(p.getProperty("client.port").trim()));
      }
      if (p.containsKey("raft.port")) {
        b.raftPort(Integer.parseInt(p.getProperty("raft.port").trim()));
      }
      if (p.containsKey("http.port")) {
        b.httpPort(Integer.parseInt(p.getProperty("http.port").trim()));
      }
      if (p.containsKey("peers")) {
        b.peers(p.getProperty("peers").trim());
      }
      if (p.containsKey("max.message.bytes")) {
        b.maxMessageBytes(Integer.parseInt(p.getProperty("max.message.bytes").trim()));
      }
      if (p.containsKey("max.frame.bytes")) {
        b.maxFrameBytes(Integer.parseInt(p.getProperty("max.frame.bytes").trim()));
      }
      if (p.containsKey("election.timeout.min.ms")) {
        b.electionTimeoutMin(Duration.ofMillis(Long.parseLong(p.getProperty("election.timeout.min.ms").trim())));
      }
      if (p.containsKey("election.timeout.max.ms")) {
        b.electionTimeoutMax(Duration.ofMillis(Long.parseLong(p.getProperty("election.timeout.max.ms").trim())));
      }
      if (p.containsKey("snapshot.threshold.entries")) {
        b.snapshotThresholdEntries(Long.parseLong(p.getProperty("snapshot.threshold.entries").trim()));
      }
      if (p.containsKey("purge.preservation.entries")) {
        b.purgePreservationEntries(Long.parseLong(p.getProperty("purge.preservation.entries").trim()));
      }
      if (p.containsKey("raft.segment.size.bytes")) {
        b.raftSegmentSizeBytes(Long.parseLong(p.getProperty("raft.segment.size.bytes").trim()));
      }
      if (p.containsKey("segment.size.bytes")) {
        b.segmentSizeBytes(Long.parseLong(p.getProperty("segment.size.bytes").trim()));
      }
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("bad number in " + file + ": " + e.getMessage());
    }
    return b;
  }

  /** Parses {@code 1@127.0.0.1:9191,2@127.0.0.1:9192}. */
  public static List<RaftSettings.Peer> parsePeers(String spec) {
    List<RaftSettings.Peer> peers = new ArrayList<>();
    if (spec == null || spec.isBlank()) {
      throw new IllegalArgumentException("--peers is empty: expected ID@HOST:PORT,...");
    }
    for (String part : spec.split(",")) {
      String s = part.trim();
      int at = s.indexOf('@');
      int colon = s.lastIndexOf(':');
      if (at <= 0 || colon <= at + 1 || colon == s.length() - 1) {
        throw new IllegalArgumentException("bad peer '" + s + "': expected ID@HOST:PORT");
      }
      try {
        int id = Integer.parseInt(s.substring(0, at));
        int port = Integer.parseInt(s.substring(colon + 1));
        if (id < 0 || port <= 0 || port > 65535) {
          throw new NumberFormatException("out of range");
        }
        if (peers.stream().anyMatch(p -> p.nodeId() == id)) {
          throw new IllegalArgumentException("peer id " + id + " appears twice in --peers");
        }
        peers.add(new RaftSettings.Peer(id, s.substring(at + 1, colon), port));
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException("bad peer '" + s + "': expected ID@HOST:PORT with numbers");
      }
    }
    return peers;
  }

  /** Builds a {@link NodeConfig}; unset values take defaults where there is a sensible one. */
  public static final class Builder {
    private Integer nodeId;
    private Path dataDir;
    private String host;
    private int clientPort = 9091;
    private Integer raftPort;
    private int httpPort = 8081;
    private List<RaftSettings.Peer> peers;
    private int maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES;
    private int maxFrameBytes = DEFAULT_MAX_FRAME_BYTES;
    private Duration electionTimeoutMin = Duration.ofMillis(1000);
    private Duration electionTimeoutMax = Duration.ofMillis(2000);
    private long snapshotThresholdEntries = 4096;
    private long purgePreservationEntries = 1024;
    private long segmentSizeBytes = 128L * 1024 * 1024;
    private long raftSegmentSizeBytes = 16L * 1024 * 1024;
    private boolean unsafeAckBeforeCommitForTests;

    public Builder nodeId(int v) { nodeId = v; return this; }
    public Builder dataDir(Path v) { dataDir = v; return this; }
    public Builder host(String v) { host = v; return this; }
    public Builder clientPort(int v) { clientPort = v; return this; }
    public Builder raftPort(int v) { raftPort = v; return this; }
    public Builder httpPort(int v) { httpPort = v; return this; }
    public Builder peers(String spec) { peers = parsePeers(spec); return this; }
    public Builder peers(List<RaftSettings.Peer> v) { peers = List.copyOf(v); return this; }
    public Builder maxMessageBytes(int v) { maxMessageBytes = v; return this; }
    public Builder maxFrameBytes(int v) { maxFrameBytes = v; return this; }
    public Builder electionTimeoutMin(Duration v) { electionTimeoutMin = v; return this; }
    public Builder electionTimeoutMax(Duration v) { electionTimeoutMax = v; return this; }
    public Builder snapshotThresholdEntries(long v) { snapshotThresholdEntries = v; return this; }
    public Builder purgePreservationEntries(long v) { purgePreservationEntries = v; return this; }
    public Builder segmentSizeBytes(long v) { segmentSizeBytes = v; return this; }
    public Builder raftSegmentSizeBytes(long v) { raftSegmentSizeBytes = v; return this; }
    /** TESTS ONLY: acknowledge acks=quorum produces at the leader's append, before the commit (loses data). */
    public Builder unsafeAckBeforeCommitForTests(boolean v) { unsafeAckBeforeCommitForTests = v; return this; }

    /** @throws IllegalArgumentException naming the first bad or missing value */
    public NodeConfig build() {
      if (nodeId == null) {
        throw new IllegalArgumentException("--id is required");
      }
      if (dataDir == null) {
        throw new IllegalArgumentException("--data-dir is required");
      }
      if (peers == null) {
        throw new IllegalArgumentException("--peers is required (e.g. 1@127.0.0.1:9191,2@127.0.0.1:9192,3@127.0.0.1:9193)");
      }
      RaftSettings.Peer self = peers.stream().filter(p -> p.nodeId() == nodeId).findFirst()
          .orElseThrow(() -> new IllegalArgumentException("--id " + nodeId + " is not among --peers"));
      int raft = raftPort == null ? self.raftPort() : raftPort;
      if (raft != self.raftPort()) {
        throw new IllegalArgumentException("--raft-port " + raft + " differs from this node's port in --peers ("
            + self.raftPort() + ")");
      }
      String h = host == null ? self.host() : host;
      checkPort("--client-port", clientPort);
      checkPort("--http-port", httpPort);
      if (clientPort == raft || httpPort == raft || httpPort == clientPort) {
        throw new IllegalArgumentException("client, raft and http ports must differ");
      }
      if (maxMessageBytes < 1 || maxMessageBytes > 16 * 1024 * 1024) {
        throw new IllegalArgumentException("max.message.bytes must be 1..16777216");
      }
      if (maxFrameBytes < maxMessageBytes + 1024) {
        throw new IllegalArgumentException("max.frame.bytes must exceed max.message.bytes");
      }
      if (electionTimeoutMin.toMillis() < 50 || electionTimeoutMax.compareTo(electionTimeoutMin) <= 0) {
        throw new IllegalArgumentException("election timeouts: need 50 ms <= min < max");
      }
      if (snapshotThresholdEntries < 1 || purgePreservationEntries < 0) {
        throw new IllegalArgumentException("snapshot threshold must be >= 1 and preservation >= 0");
      }
      if (segmentSizeBytes < 4096) {
        throw new IllegalArgumentException("segment.size.bytes must be >= 4096");
      }
      if (raftSegmentSizeBytes < 16 * 1024) {
        throw new IllegalArgumentException("raft.segment.size.bytes must be >= 16384");
      }
      return new NodeConfig(nodeId, dataDir, h, clientPort, raft, httpPort, peers, maxMessageBytes, maxFrameBytes,
          electionTimeoutMin, electionTimeoutMax, snapshotThresholdEntries, purgePreservationEntries,
          segmentSizeBytes, raftSegmentSizeBytes, unsafeAckBeforeCommitForTests);
    }

    private static void checkPort(String name, int port) {
      if (port < 0 || port > 65535) {
        throw new IllegalArgumentException(name + " " + port + " is not a port (0..65535)");
      }
    }
  }
}
