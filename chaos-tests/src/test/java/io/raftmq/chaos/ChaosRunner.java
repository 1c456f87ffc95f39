package io.raftmq.chaos;

import io.raftmq.client.ClusterMetadata;
import io.raftmq.client.NewTopic;
import io.raftmq.client.RaftMqClient;
import io.raftmq.client.TopicDescription;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * Runs one schedule end to end on a fresh cluster: network namespaces and three node processes, a
 * topic, the log workload, the nemesis playing the schedule, then healing, the liveness checks, the
 * final drain, the replica comparison and the history checks. The run's directory (history.jsonl,
 * schedule.json, node logs and data, summary.txt) is deleted when every check passes and moved to
 * {@code target/chaos-failures/} when one fails. Everything it started is stopped and removed in
 * every case.
 */
public final class ChaosRunner {
  static final String TOPIC = "chaos";
  /** Every partition must have a leader this long after healing. */
  static final Duration LEADER_AFTER_HEAL = Duration.ofSeconds(10);
  /** A restarted node's JVM must be up (HTTP answering) within this; it is not the liveness bound. */
  static final Duration PROCESS_UP = Duration.ofSeconds(60);
  static final Duration DRAIN_TIMEOUT = Duration.ofSeconds(60);
  static final Duration REPLICAS_CATCH_UP = Duration.ofSeconds(20);

  /** How to run. */
  public record Options(ChaosCluster.Settings settings, LogWorkload.Config workload, Path workDir,
      Path failureDir, boolean keepAlways, boolean groupConsumers) {
    /**
     * Defaults; {@code -Dchaos.consumers=group} makes the consumers a consumer group, and
     * {@code -Dchaos.queueConsumers=N} adds N consumers of a queue group.
     */
    public static Options defaults() {
      Path target = Path.of(System.getProperty("chaos.target", "target"));
      return new Options(ChaosCluster.Settings.defaults(),
          LogWorkload.Config.defaults().withQueueConsumers(Integer.getInteger("chaos.queueConsumers", 0)),
          target.resolve("chaos-runs"), target.resolve("chaos-failures"), false,
          "group".equals(System.getProperty("chaos.consumers", "assign")));
    }

    public Options unsafe(boolean on) {
      return new Options(settings.unsafe(on), workload, workDir, failureDir, keepAlways, groupConsumers);
    }

    public Options failuresIn(Path dir) {
      return new Options(settings, workload, workDir, dir, keepAlways, groupConsumers);
    }

    public Options groupConsumers(boolean on) {
      return new Options(settings, workload, workDir, failureDir, keepAlways, on);
    }

    /** Also {@code n} consumers of a queue group on the topic (checked by queue-lost, queue-redelivery). */
    public Options queueConsumers(int n) {
      return new Options(settings, workload.withQueueConsumers(n), workDir, failureDir, keepAlways, groupConsumers);
    }
  }

  private final Options options;

  public ChaosRunner(Options options) {
    this.options = options;
  }

  public RunResult run(Schedule schedule) throws Exception {
    long wallStart = System.nanoTime();
    String stamp = LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss"));
    Path dir = options.workDir().resolve(schedule.name() + "-" + stamp).toAbsolutePath();
    deleteTree(dir);
    Files.createDirectories(dir);
    schedule.write(dir.resolve("schedule.json"));
    log("run " + schedule + (options.groupConsumers() ? " with group consumers" : "")
        + (options.workload().queueConsumers() > 0 ? " with queue consumers" : "") + " in " + dir);
    List<CheckResult> checks = new ArrayList<>();
    Map<String, Integer> faults = Map.of();
    long attempted = 0;
    long acked = 0;
    try (History history = new History(dir.resolve("history.jsonl"));
         ChaosNetwork net = ChaosNetwork.create(3);
         ChaosCluster cluster = ChaosCluster.start(net, dir, options.settings(), 3)) {
      log("network " + net);
      Phases phases = new Phases();
      awaitAll(cluster, cluster::healthy, Duration.ofSeconds(120), "every node healthy at start");
      phases.end("nodes-up");
      long topicId;
      int partitions = options.workload().partitions();
      try (RaftMqClient admin = cluster.client("admin", Duration.ofSeconds(30))) {
        createTopic(admin, partitions, Duration.ofSeconds(120));
        topicId = awaitLeaders(admin, partitions, Duration.ofSeconds(60)).topicId();
      }
      phases.end("topic");
      List<RaftMqClient> clients = new java.util.concurrent.CopyOnWriteArrayList<>();
      java.util.function.Function<String, RaftMqClient> clientFor = name -> {
        RaftMqClient c = cluster.client(name);
        clients.add(c);
        return c;
      };
      LogConsumer.Factory consumers = options.groupConsumers()
          ? GroupLogConsumer.factory(clientFor) : AssignLogConsumer.factory(clientFor);
      LogWorkload workload = new LogWorkload(TOPIC, options.workload(), history, clientFor, consumers);
      boolean queues = options.workload().queueConsumers() > 0;
      if (queues) {
        try (RaftMqClient setup = cluster.client("queue-setup", Duration.ofSeconds(10))) {
          await(() -> workload.ensureQueueGroup(setup, Duration.ofSeconds(5)), Duration.ofSeconds(60),
              "the queue group in every partition");
        }
      }
      try (RaftMqClient nemesisClient = cluster.client("nemesis")) {
        workload.start();
        await(() -> workload.acked.get() >= 20, Duration.ofSeconds(60), "first acknowledged sends");
        phases.end("first-acks");
        Nemesis nemesis = new Nemesis(cluster, workload, history, nemesisClient, TOPIC, schedule.seed());
        long start = System.nanoTime();
        nemesis.play(schedule, start);
        sleepUntil(start + TimeUnit.MILLISECONDS.toNanos(schedule.durationMs()));
        nemesis.healAll();
        faults = nemesis.injected();
        phases.end("schedule");

        // Liveness: processes up, then a leader for every partition within the bound.
        awaitAll(cluster, cluster::answers, PROCESS_UP, "every node process answering after healing");
        long healed = System.nanoTime();
        boolean leaders = poll(() -> leadersConfirmed(cluster, nemesisClient, partitions), LEADER_AFTER_HEAL);
        long leaderMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - healed);
        // Every node knows every leader (its /health): bounded more loosely, a slow node only lags.
        boolean healthy = poll(() -> allHealthy(cluster), Duration.ofSeconds(60));
        long healthyMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - healed);
        long ackedAtHeal = workload.acked.get();
        boolean progress = poll(() -> workload.acked.get() >= ackedAtHeal + 20, Duration.ofSeconds(20));
        phases.end("heal-checks");
        boolean stopped = workload.stop(Duration.ofSeconds(60));
        phases.end("workload-stop");
        attempted = workload.attempted.get();
        acked = workload.acked.get();

        Map<Integer, Long> targets = drainTargets(history, partitions);
        boolean drained;
        try (RaftMqClient drainClient = cluster.client("drain")) {
          drained = workload.drain(drainClient, targets, DRAIN_TIMEOUT);
        }
        boolean queueDrained = true;
        if (queues) {
          try (RaftMqClient drainClient = cluster.client("qdrain")) {
            queueDrained = workload.drainQueue(drainClient, DRAIN_TIMEOUT);
          }
        }
        phases.end("drain");
        long catchUpStart = System.nanoTime();
        boolean caughtUp = poll(() -> replicasAgree(cluster, partitions), REPLICAS_CATCH_UP);
        long catchUpMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - catchUpStart);
        if (!caughtUp || !queueDrained) {
          for (int i = 1; i <= cluster.size(); i++) {
            cluster.threadDump(i, dir.resolve("node-" + i + "-threads.txt"));
          }
        }
        for (RaftMqClient c : clients) {
          c.close();
        }
        phases.end("catch-up");
        cluster.stopAll();
        phases.end("stop-nodes");
        checks.addAll(new LogChecker(options.workload().idempotent()).check(history.ops()));
        checks.add(ReplicaComparer.compare(cluster, TOPIC, topicId, partitions));
        phases.end("checks");
        log("phases (ms): " + phases);
        long violations = (leaders ? 0 : 1) + (healthy ? 0 : 1) + (progress ? 0 : 1) + (stopped ? 0 : 1)
            + (drained ? 0 : 1) + (caughtUp ? 0 : 1) + (queueDrained ? 0 : 1);
        List<String> what = new ArrayList<>();
        if (!leaders) {
          what.add("a partition without a leader " + LEADER_AFTER_HEAL.toSeconds() + " s after healing");
        }
        if (!healthy) {
          what.add("a node still not healthy (registered, knowing every leader) 60 s after healing");
        }
        if (!progress) {
          what.add("no new acknowledged sends within 20 s after healing");
        }
        if (!stopped) {
          what.add("sends still outstanding 60 s after the workload stopped");
        }
        if (!drained) {
          what.add("the drain did not reach " + targets + " within " + DRAIN_TIMEOUT.toSeconds() + " s");
        }
        if (!queueDrained) {
          what.add("the queue group still held messages " + DRAIN_TIMEOUT.toSeconds() + " s into its drain");
        }
        if (!caughtUp) {
          what.add("replicas' high watermarks still differ " + REPLICAS_CATCH_UP.toSeconds() + " s after the drain");
        }
        checks.add(new CheckResult("liveness", violations, LogChecker.counts("leaders-after-heal-ms", leaderMillis,
            "all-nodes-healthy-after-heal-ms", healthyMillis,
            "acked-after-heal", workload.acked.get() - ackedAtHeal, "drain-finished", drained ? 1 : 0,
            "replicas-caught-up", caughtUp ? 1 : 0, "replicas-caught-up-after-drain-ms", catchUpMillis), what));
      }
      if (options.settings().snapshotThresholdEntries() > 0) {
        checks.add(snapshotInstalls(cluster, partitions));
      }
    } catch (Exception | AssertionError e) {
      checks.add(new CheckResult("harness", 1, Map.of(), List.of(String.valueOf(e))));
      log("run aborted: " + e);
      e.printStackTrace(System.out);
    }
    // The informational snapshot-install count is not a check of its own.
    List<CheckResult> real = new ArrayList<>();
    CheckResult installs = null;
    for (CheckResult c : checks) {
      if (c.name().equals("snapshot-installs")) {
        installs = c;
      } else {
        real.add(c);
      }
    }
    Map<String, Integer> allFaults = new java.util.TreeMap<>(faults);
    if (installs != null) {
      allFaults.put("(snapshot-installs)", installs.counts().get("installs").intValue());
    }
    long wall = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - wallStart);
    List<KnownIssue> known = List.of();
    if (real.stream().anyMatch(c -> !c.ok())) {
      known = KnownIssue.diagnose(List.of(dir.resolve("node-1.log"), dir.resolve("node-2.log"),
          dir.resolve("node-3.log")));
    }
    RunResult result = new RunResult(schedule, real, attempted, acked, allFaults, wall, null, known);
    Path kept = null;
    if (result.failed() || options.keepAlways()) {
      kept = options.failureDir().resolve(dir.getFileName()).toAbsolutePath();
      Files.createDirectories(kept.getParent());
      deleteTree(kept);
      Files.move(dir, kept);
    } else {
      deleteTree(dir);
    }
    result = new RunResult(schedule, real, attempted, acked, allFaults, wall, kept, known);
    if (kept != null) {
      Files.writeString(kept.resolve("summary.txt"), result.summary());
    }
    log(result.summary());
    return result;
  }

  /** How many snapshot installs the node logs show (each reload of a partition beyond its start-ups). */
  private static CheckResult snapshotInstalls(ChaosCluster cluster, int partitions) throws IOException {
    long installs = 0;
    for (int i = 1; i <= cluster.size(); i++) {
      long loads;
      try (Stream<String> lines = Files.lines(cluster.logFile(i))) {
        loads = lines.filter(l -> l.contains("loaded partition")).count();
      }
      // Each start loads each partition at most once (fewer if killed while creating the topic).
      installs += Math.max(0, loads - (long) cluster.starts(i) * partitions);
    }
    return new CheckResult("snapshot-installs", 0, LogChecker.counts("installs", installs), List.of());
  }

  /** Per partition, the offset after the highest acknowledged or read offset: what the drain must reach. */
  private static Map<Integer, Long> drainTargets(History history, int partitions) {
    Map<Integer, Long> t = new HashMap<>();
    for (Op op : history.ops()) {
      if (op.type() == Op.Type.OK && "send".equals(op.f()) && op.offset() != null && op.offset() >= 0
          && op.partition() != null) {
        t.merge(op.partition(), op.offset() + 1, Math::max);
      }
      if (op.type() == Op.Type.OK && "poll".equals(op.f()) && op.reads() != null) {
        for (Op.Read r : op.reads()) {
          t.merge(r.partition(), r.offset() + 1, Math::max);
        }
      }
    }
    return t;
  }

  /** Creates the topic, retrying while the cluster is slow (an earlier attempt may have created it). */
  private static void createTopic(RaftMqClient admin, int partitions, Duration timeout) throws Exception {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (true) {
      try {
        admin.admin().createTopic(new NewTopic(TOPIC, partitions, 3, Map.of())).get(60, TimeUnit.SECONDS);
        return;
      } catch (Exception e) {
        try {
          if (admin.metadata(Duration.ofSeconds(5)).topic(TOPIC).isPresent()) {
            return;
          }
        } catch (RuntimeException ignored) {
          // not known yet
        }
        if (System.nanoTime() > deadline) {
          throw e;
        }
        log("creating the topic failed, retrying: " + e);
        sleep(1000);
      }
    }
  }

  private static TopicDescription awaitLeaders(RaftMqClient client, int partitions, Duration timeout) {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (System.nanoTime() < deadline) {
      try {
        ClusterMetadata md = client.metadata(Duration.ofSeconds(3));
        var t = md.topic(TOPIC);
        if (t.isPresent() && t.get().partitions().size() == partitions
            && t.get().partitions().stream().allMatch(p -> p.leader() > 0)) {
          return t.get();
        }
      } catch (RuntimeException e) {
        // retry
      }
      sleep(200);
    }
    throw new AssertionError("no leader for every partition of " + TOPIC + " within " + timeout);
  }

  /** The metadata names a leader for every partition, and each named leader says it leads. */
  private static boolean leadersConfirmed(ChaosCluster cluster, RaftMqClient client, int partitions) {
    try {
      var t = client.metadata(Duration.ofSeconds(2)).topic(TOPIC);
      if (t.isEmpty() || t.get().partitions().size() != partitions) {
        return false;
      }
      Map<Integer, Map<Integer, Long>> isLeader = new HashMap<>();
      for (var p : t.get().partitions()) {
        if (p.leader() <= 0) {
          return false;
        }
        Map<Integer, Long> gauge = isLeader.computeIfAbsent(p.leader(),
            n -> cluster.partitionGauge(n, "raftmq_partition_is_leader", TOPIC));
        if (gauge.getOrDefault(p.partition(), 0L) != 1L) {
          return false;
        }
      }
      return true;
    } catch (RuntimeException e) {
      return false;
    }
  }

  private static boolean allHealthy(ChaosCluster cluster) {
    for (int i = 1; i <= cluster.size(); i++) {
      if (!cluster.healthy(i)) {
        return false;
      }
    }
    return true;
  }

  /** Every node reports the same high watermark for every partition. */
  private static boolean replicasAgree(ChaosCluster cluster, int partitions) {
    Map<Integer, Long> first = null;
    for (int i = 1; i <= cluster.size(); i++) {
      Map<Integer, Long> hw = cluster.partitionGauge(i, "raftmq_partition_high_watermark", TOPIC);
      if (hw.size() != partitions || (first != null && !first.equals(hw))) {
        return false;
      }
      first = hw;
    }
    return true;
  }

  private static void awaitAll(ChaosCluster cluster, java.util.function.IntPredicate ok, Duration timeout,
      String what) {
    await(() -> {
      for (int i = 1; i <= cluster.size(); i++) {
        if (!ok.test(i)) {
          return false;
        }
      }
      return true;
    }, timeout, what);
  }

  private static void await(java.util.function.BooleanSupplier ok, Duration timeout, String what) {
    if (!poll(ok, timeout)) {
      throw new AssertionError("timed out after " + timeout.toSeconds() + " s waiting for " + what);
    }
  }

  /** Polls {@code ok} every 100 ms until it holds (true) or {@code timeout} passes (false). */
  static boolean poll(java.util.function.BooleanSupplier ok, Duration timeout) {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (true) {
      if (ok.getAsBoolean()) {
        return true;
      }
      if (System.nanoTime() > deadline) {
        return false;
      }
      sleep(100);
    }
  }

  private static void sleepUntil(long deadline) throws InterruptedException {
    long left = deadline - System.nanoTime();
    if (left > 0) {
      TimeUnit.NANOSECONDS.sleep(left);
    }
  }

  private static void sleep(long ms) {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  static void deleteTree(Path p) throws IOException {
    if (!Files.exists(p)) {
      return;
    }
    try (Stream<Path> s = Files.walk(p)) {
      for (Path x : s.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(x);
      }
    }
  }

  /** Wall time of a run's phases, for finding where a slow run spent it. */
  private static final class Phases {
    private final StringBuilder done = new StringBuilder();
    private long since = System.nanoTime();

    void end(String phase) {
      long now = System.nanoTime();
      done.append(done.length() == 0 ? "" : ", ").append(phase).append(' ')
          .append(TimeUnit.NANOSECONDS.toMillis(now - since));
      since = now;
    }

    @Override
    public String toString() {
      return done.toString();
    }
  }

  static void log(String s) {
    System.out.println("[chaos " + LocalDateTime.now().format(DateTimeFormatter.ofPattern("HH:mm:ss.SSS"))
        + "] " + s);
  }
}
