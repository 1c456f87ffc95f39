package io.raftmq.broker;

import static org.awaitility.Awaitility.await;

import io.raftmq.partition.PartitionStateMachine;
import io.raftmq.raft.RaftHost;
import io.raftmq.raft.RaftSettings;
import io.raftmq.raft.proto.TopicRecord;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.stream.Collectors;
import org.apache.ratis.server.RaftServer;

/**
 * Three (or N) real broker nodes in this JVM: real Ratis servers on loopback ports, real sockets, real
 * files under a temp dir. Nodes can be stopped and started again on the same ports and data.
 */
public final class TestCluster implements AutoCloseable {
  private final Path dir;
  private final Map<Integer, NodeConfig> configs = new LinkedHashMap<>();
  private final Map<Integer, BrokerNode> nodes = new LinkedHashMap<>();

  public TestCluster(Path dir, int size, Consumer<NodeConfig.Builder> tweak) {
    this.dir = dir;
    List<RaftSettings.Peer> peers = new ArrayList<>();
    int[][] ports = new int[size][];
    for (int i = 0; i < size; i++) {
      ports[i] = freePorts(3);
      peers.add(new RaftSettings.Peer(i + 1, "127.0.0.1", ports[i][1]));
    }
    for (int i = 0; i < size; i++) {
      NodeConfig.Builder b = NodeConfig.builder()
          .nodeId(i + 1)
          .dataDir(dir.resolve("node-" + (i + 1)))
          .clientPort(ports[i][0])
          .raftPort(ports[i][1])
          .httpPort(ports[i][2])
          .peers(peers)
          .electionTimeoutMin(Duration.ofMillis(1000))
          .electionTimeoutMax(Duration.ofMillis(2000));
      tweak.accept(b);
      configs.put(i + 1, b.build());
    }
  }

  public TestCluster(Path dir) {
    this(dir, 3, b -> {});
  }

  private static int[] freePorts(int n) {
    int[] ports = new int[n];
    for (int i = 0; i < n; i++) {
      ports[i] = TestPorts.next();
    }
    return ports;
  }

  public TestCluster start() {
    configs.keySet().forEach(this::start);
    awaitHealthy();
    return this;
  }

  public void start(int nodeId) {
    try {
      nodes.put(nodeId, BrokerNode.start(configs.get(nodeId)));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Stops a node: its Raft server, sockets and files are closed; its data stays. */
  public void stop(int nodeId) {
    BrokerNode node = nodes.remove(nodeId);
    if (node != null) {
      node.close();
    }
  }

  public void stopAll() {
    new ArrayList<>(nodes.keySet()).forEach(this::stop);
  }

  public void awaitHealthy() {
    await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(100))
        .until(() -> nodes.values().stream().allMatch(n -> n.health().healthy()));
  }

  public String bootstrap() {
    return configs.values().stream().map(c -> "127.0.0.1:" + c.clientPort()).collect(Collectors.joining(","));
  }

  public String bootstrap(int nodeId) {
    return "127.0.0.1:" + configs.get(nodeId).clientPort();
  }

  public BrokerNode node(int nodeId) {
    return nodes.get(nodeId);
  }

  public boolean isRunning(int nodeId) {
    return nodes.containsKey(nodeId);
  }

  /** The node that currently leads a partition, as the running replicas see it; -1 if none. */
  public int leaderOf(String topic, int partition) {
    for (BrokerNode n : nodes.values()) {
      var division = division(n, topic, partition);
      if (division != null && division.getInfo().isLeader()) {
        return n.config().nodeId();
      }
    }
    return -1;
  }

  public int awaitLeaderOf(String topic, int partition) {
    return await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(50))
        .until(() -> leaderOf(topic, partition), id -> id > 0);
  }

  static RaftServer.Division division(BrokerNode node, String topic, int partition) {
    RaftHost host = node.raftHost();
    TopicRecord t = host.metadata().view().topic(topic);
    if (t == null) {
      return null;
    }
    return host.division(RaftHost.partitionGroupId(topic, t.getTopicId(), partition)).orElse(null);
  }

  static PartitionStateMachine replica(BrokerNode node, String topic, int partition) {
    RaftServer.Division d = division(node, topic, partition);
    return d == null ? null : (PartitionStateMachine) d.getStateMachine();
  }

  public Path dir() {
    return dir;
  }

  @Override
  public void close() {
    stopAll();
  }
}
