package io.raftmq.chaos;

import io.raftmq.client.ClientConfig;
import io.raftmq.client.ClusterMetadata;
import io.raftmq.client.PartitionInfo;
import io.raftmq.client.RaftMqClient;
import io.raftmq.client.TopicDescription;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

/**
 * Three broker node processes ({@code raftmq node start}), node i in namespace i of a
 * {@link ChaosNetwork}, with the process faults the nemesis needs: SIGKILL and restart, SIGSTOP and
 * SIGCONT. Every process it starts it ends itself, by PID. Thread-safe.
 */
public final class ChaosCluster implements AutoCloseable {
  static final int CLIENT_PORT = 7101;
  static final int RAFT_PORT = 7201;
  static final int HTTP_PORT = 7301;

  /**
   * Node settings for a run.
   *
   * @param raftSegmentSizeBytes Raft log segment size; 0 keeps the broker's default (16 MiB). Small
   *     segments (e.g. 32 KiB) let Ratis purge its log often, so snapshot installs happen after almost
   *     every fault (scripts/chaos.sh --install-stress)
   */
  public record Settings(long electionTimeoutMinMs, long electionTimeoutMaxMs, long snapshotThresholdEntries,
      long purgePreservationEntries, long raftSegmentSizeBytes, boolean unsafeAckBeforeCommit) {
    /**
     * Defaults for chaos runs: 1–2 s elections, snapshots every 64 entries keeping 16 (so a follower
     * that was away for a while gets a snapshot install), the broker's Raft segment size; the
     * {@code chaos.raftSegmentBytes} system property overrides the last.
     */
    public static Settings defaults() {
      return new Settings(1000, 2000, 64, 16, Long.getLong("chaos.raftSegmentBytes", 0L), false);
    }

    Settings unsafe(boolean on) {
      return new Settings(electionTimeoutMinMs, electionTimeoutMaxMs, snapshotThresholdEntries,
          purgePreservationEntries, raftSegmentSizeBytes, on);
    }
  }

  private final ChaosNetwork net;
  private final Path dir;
  private final Settings settings;
  private final int size;
  private final Process[] processes;
  private final boolean[] paused;
  private final int[] starts;
  private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();

  private ChaosCluster(ChaosNetwork net, Path dir, Settings settings, int size) {
    this.net = net;
    this.dir = dir;
    this.settings = settings;
    this.size = size;
    this.processes = new Process[size + 1];
    this.paused = new boolean[size + 1];
    this.starts = new int[size + 1];
  }

  /** Starts {@code size} nodes in {@code net}, data and logs under {@code dir}; does not wait for them. */
  public static ChaosCluster start(ChaosNetwork net, Path dir, Settings settings, int size) throws IOException {
    ChaosCluster c = new ChaosCluster(net, dir, settings, size);
    try {
      for (int i = 1; i <= size; i++) {
        c.startNode(i);
      }
    } catch (IOException | RuntimeException e) {
      c.close();
      throw e;
    }
    return c;
  }

  public int size() {
    return size;
  }

  public ChaosNetwork network() {
    return net;
  }

  /** The client bootstrap list (every node's client address). */
  public String bootstrap() {
    return IntStream.rangeClosed(1, size).mapToObj(i -> net.address(i) + ":" + CLIENT_PORT)
        .collect(Collectors.joining(","));
  }

  /** A client of this cluster with timeouts suited to faults (short requests, fast metadata refresh). */
  public RaftMqClient client(String clientId) {
    return client(clientId, Duration.ofSeconds(5));
  }

  /** A client with the given per-request timeout (admin requests wait for Raft groups to form). */
  public RaftMqClient client(String clientId, Duration requestTimeout) {
    return RaftMqClient.connect(ClientConfig.builder().bootstrap(bootstrap()).clientId(clientId)
        .requestTimeout(requestTimeout).connectTimeout(Duration.ofSeconds(2))
        .metadataMaxAge(Duration.ofSeconds(2)).build());
  }

  public Path dataDir(int i) {
    return dir.resolve("node-" + i);
  }

  public Path logFile(int i) {
    return dir.resolve("node-" + i + ".log");
  }

  /** How many times node {@code i} was started. */
  public synchronized int starts(int i) {
    return starts[i];
  }

  /** Starts node {@code i} (after {@link #kill}); does not wait for it. */
  public synchronized void startNode(int i) throws IOException {
    if (processes[i] != null && processes[i].isAlive()) {
      throw new IllegalStateException("node " + i + " is running");
    }
    Files.createDirectories(dataDir(i));
    Path config = dir.resolve("node-" + i + ".properties");
    String peers = IntStream.rangeClosed(1, size).mapToObj(n -> n + "@" + net.address(n) + ":" + RAFT_PORT)
        .collect(Collectors.joining(","));
    Files.writeString(config, String.join("\n",
        "node.id=" + i,
        "data.dir=" + dataDir(i),
        "host=" + net.address(i),
        "client.port=" + CLIENT_PORT,
        "raft.port=" + RAFT_PORT,
        "http.port=" + HTTP_PORT,
        "peers=" + peers,
        "election.timeout.min.ms=" + settings.electionTimeoutMinMs(),
        "election.timeout.max.ms=" + settings.electionTimeoutMaxMs(),
        "snapshot.threshold.entries=" + settings.snapshotThresholdEntries(),
        "purge.preservation.entries=" + settings.purgePreservationEntries(),
        "segment.size.bytes=" + (256 * 1024),
        settings.raftSegmentSizeBytes() > 0 ? "raft.segment.size.bytes=" + settings.raftSegmentSizeBytes() : "",
        ""));
    List<String> cmd = new ArrayList<>(net.execIn(i));
    cmd.addAll(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-Xmx320m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xss512k",
        "-cp", nodeClasspath(),
        "io.raftmq.cli.RaftMqCli", "node", "start", "--config", config.toString()));
    if (settings.unsafeAckBeforeCommit()) {
      cmd.add("--unsafe-ack-before-commit-for-tests");
    }
    Files.writeString(logFile(i), "==== start " + (starts[i] + 1) + " of node " + i + " ====\n",
        java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.APPEND);
    processes[i] = new ProcessBuilder(cmd).redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.appendTo(logFile(i).toFile())).start();
    paused[i] = false;
    starts[i]++;
  }

  private static String nodeClasspath;

  /**
   * The node processes' class path: a private copy of this JVM's, taken once, so that a build running
   * next to the suite (another {@code mvn install} replacing jars or classes) cannot change the code
   * of nodes that are running or restarting.
   */
  static synchronized String nodeClasspath() throws IOException {
    if (nodeClasspath == null) {
      Path root = Path.of(System.getProperty("chaos.target", "target"), "chaos-classpath",
          String.valueOf(ProcessHandle.current().pid())).toAbsolutePath();
      ChaosRunner.deleteTree(root);
      // Copies of JVMs that are gone are removed; this one's when the JVM exits.
      try (var others = Files.list(root.getParent() == null ? root : root.getParent())) {
        for (Path other : others.toList()) {
          String name = other.getFileName().toString();
          if (name.matches("\\d+") && ProcessHandle.of(Long.parseLong(name)).isEmpty()) {
            ChaosRunner.deleteTree(other);
          }
        }
      } catch (java.nio.file.NoSuchFileException e) {
        // first copy
      }
      Runtime.getRuntime().addShutdownHook(new Thread(() -> {
        try {
          ChaosRunner.deleteTree(root);
        } catch (IOException ignored) {
          // best effort
        }
      }, "chaos-classpath-cleanup"));
      List<String> copied = new ArrayList<>();
      int n = 0;
      for (String entry : System.getProperty("java.class.path").split(java.io.File.pathSeparator)) {
        Path src = Path.of(entry);
        if (!Files.exists(src)) {
          continue;
        }
        Path dst = root.resolve((n++) + "-" + src.getFileName());
        if (Files.isDirectory(src)) {
          try (var walk = Files.walk(src)) {
            for (Path f : walk.toList()) {
              Path t = dst.resolve(src.relativize(f).toString());
              if (Files.isDirectory(f)) {
                Files.createDirectories(t);
              } else {
                Files.copy(f, t);
              }
            }
          }
        } else {
          Files.createDirectories(root);
          Files.copy(src, dst);
        }
        copied.add(dst.toString());
      }
      nodeClasspath = String.join(java.io.File.pathSeparator, copied);
    }
    return nodeClasspath;
  }

  /** SIGKILL of node {@code i}, waiting until it is gone. */
  public synchronized void kill(int i) {
    Process p = processes[i];
    if (p != null && p.isAlive()) {
      p.destroyForcibly();
      try {
        p.waitFor(30, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    paused[i] = false;
  }

  public synchronized boolean isRunning(int i) {
    return processes[i] != null && processes[i].isAlive();
  }

  /** Writes node {@code i}'s thread dump (jcmd Thread.print) to {@code file}, if it is running. */
  public synchronized void threadDump(int i, Path file) {
    if (!isRunning(i)) {
      return;
    }
    try {
      Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "jcmd").toString(),
          String.valueOf(processes[i].pid()), "Thread.print").redirectErrorStream(true)
          .redirectOutput(file.toFile()).start();
      p.waitFor(30, TimeUnit.SECONDS);
    } catch (IOException e) {
      // best effort: a diagnostic
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** SIGSTOP of node {@code i}. */
  public synchronized void pause(int i) throws IOException {
    if (isRunning(i)) {
      ChaosNetwork.sh("kill", "-STOP", String.valueOf(processes[i].pid()));
      paused[i] = true;
    }
  }

  /** SIGCONT of node {@code i}. */
  public synchronized void resume(int i) throws IOException {
    if (isRunning(i) && paused[i]) {
      ChaosNetwork.sh("kill", "-CONT", String.valueOf(processes[i].pid()));
    }
    paused[i] = false;
  }

  /** SIGTERM of every node (a clean stop, which flushes the log-stores), then SIGKILL after 30 s. */
  public synchronized void stopAll() {
    for (int i = 1; i <= size; i++) {
      try {
        resume(i);
      } catch (IOException ignored) {
        // killed below anyway
      }
      if (isRunning(i)) {
        processes[i].destroy();
      }
    }
    for (int i = 1; i <= size; i++) {
      kill(i);
    }
  }

  /** /health of node {@code i}: 200 when it is registered and every local partition has a leader. */
  public boolean healthy(int i) {
    return httpGet(i, "/health").map(r -> r.statusCode() == 200).orElse(false);
  }

  /** Whether node {@code i}'s HTTP endpoint answers at all. */
  public boolean answers(int i) {
    return httpGet(i, "/health").isPresent();
  }

  /** Node {@code i}'s gauge {@code name} per partition of {@code topic}, from /metrics. */
  public Map<Integer, Long> partitionGauge(int i, String name, String topic) {
    Map<Integer, Long> out = new HashMap<>();
    Optional<HttpResponse<String>> r = httpGet(i, "/metrics");
    if (r.isEmpty() || r.get().statusCode() != 200) {
      return out;
    }
    Pattern p = Pattern.compile("^" + name + "\\{([^}]*)\\}\\s+(\\S+)", Pattern.MULTILINE);
    Matcher m = p.matcher(r.get().body());
    while (m.find()) {
      String labels = m.group(1);
      if (labels.contains("topic=\"" + topic + "\"")) {
        Matcher pm = Pattern.compile("partition=\"(\\d+)\"").matcher(labels);
        if (pm.find()) {
          out.put(Integer.parseInt(pm.group(1)), (long) Double.parseDouble(m.group(2)));
        }
      }
    }
    return out;
  }

  private Optional<HttpResponse<String>> httpGet(int i, String path) {
    try {
      return Optional.of(http.send(HttpRequest.newBuilder(URI.create("http://" + net.address(i) + ":" + HTTP_PORT
          + path)).timeout(Duration.ofSeconds(2)).build(), HttpResponse.BodyHandlers.ofString()));
    } catch (IOException e) {
      return Optional.empty();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return Optional.empty();
    }
  }

  /** The leader of {@code topic}'s {@code partition} as the cluster's metadata says, or -1. */
  public static int leaderOf(RaftMqClient client, String topic, int partition) {
    try {
      ClusterMetadata md = client.metadata(Duration.ofSeconds(3));
      return md.topic(topic).map(TopicDescription::partitions)
          .filter(ps -> ps.size() > partition).map(ps -> ps.get(partition).leader()).orElse(-1);
    } catch (RuntimeException e) {
      return -1;
    }
  }

  /** The replicas of {@code topic}'s {@code partition}, or an empty list. */
  public static List<Integer> replicasOf(RaftMqClient client, String topic, int partition) {
    try {
      ClusterMetadata md = client.metadata(Duration.ofSeconds(3));
      return md.topic(topic).map(TopicDescription::partitions)
          .filter(ps -> ps.size() > partition).map(ps -> ps.get(partition)).map(PartitionInfo::replicas)
          .orElse(List.of());
    } catch (RuntimeException e) {
      return List.of();
    }
  }

  /** Kills every node still running (SIGCONT first for paused ones). */
  @Override
  public synchronized void close() {
    for (int i = 1; i <= size; i++) {
      try {
        resume(i);
      } catch (IOException ignored) {
        // killing anyway
      }
      kill(i);
    }
  }
}
