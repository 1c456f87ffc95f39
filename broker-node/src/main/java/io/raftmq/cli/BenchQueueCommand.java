package io.raftmq.cli;

import io.raftmq.client.ClusterMetadata;
import io.raftmq.client.Consumer;
import io.raftmq.client.ConsumerConfig;
import io.raftmq.client.Delivery;
import io.raftmq.client.Message;
import io.raftmq.client.NewTopic;
import io.raftmq.client.NodeAddress;
import io.raftmq.client.Producer;
import io.raftmq.client.ProducerConfig;
import io.raftmq.client.QueueConsumer;
import io.raftmq.client.QueueConsumerConfig;
import io.raftmq.client.QueueGroupDescription;
import io.raftmq.client.RaftMqClient;
import io.raftmq.client.RaftMqException;
import io.raftmq.client.TopicDescription;
import io.raftmq.client.TopicPartition;
import io.raftmq.protocol.ErrorCode;
import java.io.PrintWriter;
import java.lang.management.ManagementFactory;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/**
 * {@code raftmq bench queue}: C queue consumers of one queue group, each on a thread of its own (sharing
 * this command's client, or with {@code --client-per-consumer} a client each), receive and ack a backlog
 * (or what a producer sends meanwhile); reports messages/s, MB/s and the Raft entries the queue commands
 * cost per message acked, from the partitions' applied indexes ({@code raftmq_raft_applied_index} on the
 * nodes' /metrics) before and after, and in backlog mode the CPU time per message of the nodes and of this
 * JVM (where the cost of a queue lies). With {@code --runs} it drains one backlog several times in one JVM
 * (a queue group each, all made before producing), and with {@code --compare-stream} a stream group drains
 * the same backlog after each queue drain, so that the two are compared on the same topic, data and JIT
 * state.
 */
@Command(name = "queue", sortOptions = false,
    description = {"Measure queue-group throughput: C queue consumers (a thread each) receive and ack.",
        "By default a backlog is produced first (--produce-first, 100000 messages), then drained once every "
            + "replica has applied it (a follower still catching up would compete with the drain; at most 2 min); "
            + "--messages N produces N while the consumers run; --duration alone produces and consumes for that "
            + "long.",
        "Prints: N messages received and acked, X msg/s, Y MB/s; and the Raft entries per message acked (from the "
            + "partitions' applied indexes before and after, read from the nodes' /metrics); in backlog mode also "
            + "the CPU time per message of the nodes (their process_cpu_seconds_total; meaningful when each node "
            + "is a process of its own, as with scripts/cluster.sh) and of this client JVM.",
        "--runs R drains the backlog R times in this JVM (a queue group each); --compare-stream drains it with a "
            + "stream group of C consumers after each queue drain and prints the queue/stream throughput ratio."})
final class BenchQueueCommand implements Callable<Integer> {
  /** Backlog of a run that names neither --produce-first, --messages nor --duration. */
  static final long DEFAULT_BACKLOG = 100_000;

  @ParentCommand
  BenchCommand bench;

  @Spec
  CommandSpec spec;

  @Option(names = "--topic", required = true, paramLabel = "TOPIC",
      description = "The topic; created with --partitions if it does not exist.")
  String topic;

  @Option(names = "--partitions", paramLabel = "N", defaultValue = "4",
      description = "Partitions of the topic if it is created (default ${DEFAULT-VALUE}).")
  int partitions;

  @Option(names = "--group", paramLabel = "GROUP",
      description = "The queue group. Default: a new one, raftmq-bench-queue-TIME (queue groups are not deleted).")
  String group;

  @Option(names = "--consumers", paramLabel = "C", defaultValue = "8",
      description = "Queue consumers, each on a thread of its own (default ${DEFAULT-VALUE}).")
  int consumers;

  @Option(names = "--client-per-consumer",
      description = "Give each consumer, queue and stream alike, a client of its own (its own connections, I/O and "
          + "callback threads), as separate processes would have. Default: all consumers share one client, as "
          + "consumers in one application do.")
  boolean clientPerConsumer;

  @Option(names = "--size", paramLabel = "BYTES", defaultValue = "1024",
      description = "Value size of the messages produced (default ${DEFAULT-VALUE}).")
  int sizeBytes;

  @ArgGroup(exclusive = true, multiplicity = "0..1")
  Load load;

  @Option(names = "--duration", paramLabel = "DURATION", converter = Durations.class,
      description = "Stop consuming after this long (with neither --produce-first nor --messages: produce and "
          + "consume for this long).")
  Duration duration;

  @Option(names = "--batch", paramLabel = "N", defaultValue = "8000",
      description = "Messages a consumer asks for per receive, split over the partitions (default ${DEFAULT-VALUE}).")
  int batch;

  @Option(names = "--max-in-flight", paramLabel = "N",
      description = "The group's max in-flight messages per partition (default: the group's, 50000).")
  Integer maxInFlight;

  @Option(names = "--timeout", paramLabel = "DURATION", defaultValue = "30s", converter = Durations.class,
      description = "Give up when no message arrived for this long (default ${DEFAULT-VALUE}).")
  Duration timeout;

  @Option(names = "--runs", paramLabel = "R", defaultValue = "1",
      description = "Drain the backlog R times in this JVM, each time with a queue group of its own made before "
          + "producing (GROUP-1 .. GROUP-R), fresh consumers each time; later runs show warm JITs, here and in the "
          + "nodes (default ${DEFAULT-VALUE}). Backlog mode only.")
  int runs;

  @Option(names = "--compare-stream",
      description = "After each queue drain, drain the same backlog with a stream group of C consumers (made before "
          + "producing, at the end of the topic, deleted afterwards) in this JVM, and print the queue/stream ratio. "
          + "Backlog mode only.")
  boolean compareStream;

  /** Where the messages come from: a backlog produced first, or a producer running alongside. */
  static final class Load {
    @Option(names = "--produce-first", required = true, paramLabel = "N",
        description = "First produce N messages (unthrottled, acks=quorum), then drain them (default " + DEFAULT_BACKLOG
            + ").")
    Long produceFirst;

    @Option(names = "--messages", required = true, paramLabel = "N",
        description = "Produce N messages while the consumers run, and stop once N were acked.")
    Long messages;
  }

  /** Backlog mode (produce, then consume) unless --messages or --duration alone ask for concurrent. */
  boolean backlogMode() {
    return load != null ? load.produceFirst != null : duration == null;
  }

  long backlog() {
    return load != null && load.produceFirst != null ? load.produceFirst : DEFAULT_BACKLOG;
  }

  void validate() {
    BenchCommand.atLeast("--partitions", partitions, 1);
    BenchCommand.atLeast("--consumers", consumers, 1);
    BenchCommand.atLeast("--size", sizeBytes, 0);
    BenchCommand.atLeast("--batch", batch, 1);
    if (load != null && load.produceFirst != null) {
      BenchCommand.atLeast("--produce-first", load.produceFirst, 1);
    }
    if (load != null && load.messages != null) {
      BenchCommand.atLeast("--messages", load.messages, 1);
    }
    if (duration != null && duration.isZero()) {
      throw new IllegalArgumentException("--duration must be positive");
    }
    if (timeout.isZero()) {
      throw new IllegalArgumentException("--timeout must be positive");
    }
    BenchCommand.atLeast("--runs", runs, 1);
    if ((runs > 1 || compareStream) && !backlogMode()) {
      throw new IllegalArgumentException("--runs and --compare-stream drain a backlog: use them with --produce-first "
          + "(or neither --messages nor --duration)");
    }
  }

  @Override
  public Integer call() throws Exception {
    validate();
    RaftMqCli cli = bench.cli;
    PrintWriter out = spec.commandLine().getOut();
    PrintWriter err = spec.commandLine().getErr();
    String groupId = group != null ? group : "raftmq-bench-queue-" + Long.toString(System.currentTimeMillis(), 36);
    List<String> groups = new ArrayList<>();
    for (int i = 1; i <= runs; i++) {
      groups.add(runs == 1 ? groupId : groupId + "-" + i);
    }
    List<String> streamGroups = new ArrayList<>();
    try (RaftMqClient client = cli.connect()) {
      int n = topicPartitions(cli, client, out);
      List<TopicPartition> tps = new ArrayList<>();
      for (int p = 0; p < n; p++) {
        tps.add(new TopicPartition(topic, p));
      }
      Draining setup = new Draining();
      for (String g : groups) {
        ensureGroup(cli, client, n, g, setup);
      }
      try {
        if (compareStream) {
          for (int i = 1; i <= runs; i++) {
            String s = "raftmq-bench-stream-" + Long.toString(System.currentTimeMillis(), 36) + "-" + i;
            startStreamGroupAtEnd(client, s, tps);
            streamGroups.add(s);
          }
        }
        if (!backlogMode()) {
          return concurrentRun(cli, client, n, groups.get(0), out, err);
        }
        Map<TopicPartition, Long> starts = compareStream ? endOffsets(client, tps) : Map.of();
        BenchCommand.Run run = new BenchCommand.Run(backlog(), 1, 0, sizeBytes);
        run.execute(client, ProducerConfig.defaults(), topic);
        out.println("produced " + run.summary());
        out.flush();
        if (run.failure() != null) {
          err.println(run.failure());
          err.flush();
          return RaftMqCli.EXIT_ERROR;
        }
        out.println(awaitReplicas(client, cli));
        out.flush();
        // Where the stream groups must read to: the new end of each partition that got part of the backlog.
        Map<TopicPartition, Long> ends = new HashMap<>();
        if (compareStream) {
          endOffsets(client, tps).forEach((tp, end) -> {
            if (end > starts.get(tp)) {
              ends.put(tp, end);
            }
          });
        }
        List<Double> ratios = new ArrayList<>();
        for (int i = 0; i < runs; i++) {
          String prefix = runs == 1 ? "" : "run " + (i + 1) + "/" + runs + ": ";
          // Everything the group has to process, this backlog and anything left from before.
          long target = cli.await(client.admin().describeQueue(topic, groups.get(i))).backlog();
          Map<Integer, Long> before = appliedIndexes(client, cli, n);
          double[] cpuBefore = cpuSeconds(client, cli);
          Draining draining = new Draining();
          int code = drain(cli, client, groups.get(i), draining, target, null, out, err, prefix);
          double[] cpuAfter = cpuSeconds(client, cli);
          Map<Integer, Long> after = appliedIndexes(client, cli, n);
          out.println(prefix + entriesLine(before, after, draining.acked.get(), n, true));
          out.println(prefix + cpuLine(cpuBefore, cpuAfter, draining.acked.get()));
          out.flush();
          if (code != 0) {
            return code;
          }
          if (compareStream) {
            BenchConsumeCommand.Reading reading = new BenchConsumeCommand.Reading(Long.MAX_VALUE, ends, timeout);
            double[] streamCpuBefore = cpuSeconds(client, cli);
            List<RaftMqClient> readers = new ArrayList<>();
            try {
              for (int c = 0; c < (clientPerConsumer ? consumers : 0); c++) {
                readers.add(cli.connect());
              }
              reading.run(readers.isEmpty() ? List.of(client) : readers,
                  ConsumerConfig.builder().groupId(streamGroups.get(i)).build(), topic, consumers);
            } finally {
              readers.forEach(RaftMqClient::close);
            }
            double[] streamCpuAfter = cpuSeconds(client, cli);
            out.println(prefix + "stream group " + streamGroups.get(i) + ", " + consumers + " consumers: "
                + reading.summary());
            out.println(prefix + "stream group " + cpuLine(streamCpuBefore, streamCpuAfter, reading.consumed.get()));
            if (reading.error.get() != null || !reading.done()) {
              err.println("error: the stream group did not read the backlog: " + (reading.error.get() != null
                  ? RaftMqCli.describe(reading.error.get()) : "not read to the end: " + reading.pending.keySet()));
              err.flush();
              return RaftMqCli.EXIT_ERROR;
            }
            double ratio = draining.rate() / reading.rate();
            ratios.add(ratio);
            out.println(String.format(Locale.ROOT, "%squeue/stream throughput: %.2f", prefix, ratio));
            out.flush();
          }
        }
        ratioSummary(ratios).forEach(out::println);
        out.flush();
        return 0;
      } finally {
        for (String s : streamGroups) {
          BenchCommand.deleteGroup(cli, client, s, err);
        }
      }
    }
  }

  /**
   * The summary of a {@code --compare-stream} invocation's queue/stream ratios: over all runs, and from
   * four runs on also over the later half alone (the JITs of a fresh cluster warm up through the first
   * minutes, the queue's Raft path more slowly than the stream's reads: see the README's Performance);
   * nothing for a single run. The median of an even count is the upper one.
   */
  static List<String> ratioSummary(List<Double> ratios) {
    if (ratios.size() < 2) {
      return List.of();
    }
    List<String> out = new ArrayList<>();
    out.add("queue/stream throughput over " + ratios.size() + " runs: " + medianMinMax(ratios));
    if (ratios.size() >= 4) {
      int from = ratios.size() / 2;
      out.add("queue/stream throughput over runs " + (from + 1) + " - " + ratios.size() + " (the later half): "
          + medianMinMax(ratios.subList(from, ratios.size())));
    }
    return out;
  }

  private static String medianMinMax(List<Double> ratios) {
    List<Double> sorted = ratios.stream().sorted().toList();
    return String.format(Locale.ROOT, "median %.2f, min %.2f, max %.2f", sorted.get(sorted.size() / 2), sorted.get(0),
        sorted.get(sorted.size() - 1));
  }

  /**
   * Drains group {@code g} with {@link #consumers} queue consumers (on {@code shared}, or with
   * {@link #clientPerConsumer} each on a client of its own), until
   * {@code target} messages were acked (or the duration, or the idle timeout); prints the summary. With
   * a {@code producer}, starts it once the consumers exist and waits for it.
   */
  private int drain(RaftMqCli cli, RaftMqClient shared, String g, Draining draining, long target, Thread producer,
      PrintWriter out, PrintWriter err, String prefix) throws Exception {
    QueueConsumerConfig config = consumerConfig(g);
    List<RaftMqClient> clients = new ArrayList<>();
    List<QueueConsumer> qcs = new ArrayList<>();
    try {
      for (int i = 0; i < consumers; i++) {
        RaftMqClient c = shared;
        if (clientPerConsumer) {
          c = cli.connect();
          clients.add(c);
        }
        qcs.add(c.queueConsumer(config));
      }
      if (producer != null) {
        producer.start();
      }
      draining.run(qcs, target, batch, duration, timeout);
      if (producer != null) {
        producer.join();
      }
      for (QueueConsumer qc : qcs) {
        qc.close(Duration.ofSeconds(30)); // sends the last acks and waits for them
      }
    } finally {
      for (QueueConsumer qc : qcs) {
        qc.close(Duration.ofSeconds(5));
      }
      for (RaftMqClient c : clients) {
        c.close();
      }
    }
    out.println(prefix + draining.summary());
    out.println(prefix + String.format(Locale.ROOT, "(%d queue consumer%s of group %s on %s, %s, receiving up to "
            + "%d at a time; %d-byte values; %s; throughput from the first delivery to the last ack)", consumers,
        consumers == 1 ? "" : "s", g, topic, clientPerConsumer ? "each with a client of its own" : "sharing one client",
        batch, sizeBytes,
        backlogMode() ? "backlog produced first" : "produced while consuming"));
    out.flush();
    if (draining.error.get() != null) {
      throw draining.error.get() instanceof Exception e ? e : new RuntimeException(draining.error.get());
    }
    if (draining.failed.get() > 0) {
      err.println("error: " + draining.failed.get() + " acks failed; first: "
          + RaftMqCli.describe(RaftMqCli.unwrap(draining.firstAckError.get())));
      err.flush();
      return RaftMqCli.EXIT_ERROR;
    }
    if (target != Long.MAX_VALUE && draining.acked.get() < target && !draining.timeUp) {
      err.println("error: stopped after " + draining.acked.get() + " of " + target + " messages: nothing new for "
          + Durations.format(timeout));
      err.flush();
      return RaftMqCli.EXIT_ERROR;
    }
    return 0;
  }

  /** The settings of the bench's queue consumers of group {@code g}. */
  private QueueConsumerConfig consumerConfig(String g) {
    QueueConsumerConfig.Builder cb = QueueConsumerConfig.builder().groupId(g).topics(topic);
    if (maxInFlight != null) {
      cb.maxInFlight(maxInFlight);
    }
    return cb.build();
  }

  /** --messages or --duration alone: a producer runs while the consumers drain. */
  private int concurrentRun(RaftMqCli cli, RaftMqClient client, int n, String g, PrintWriter out, PrintWriter err)
      throws Exception {
    Map<Integer, Long> before = appliedIndexes(client, cli, n);
    long toSend = load != null && load.messages != null ? load.messages : Long.MAX_VALUE;
    Draining draining = new Draining();
    AtomicReference<Throwable> produceError = new AtomicReference<>();
    Thread producer = new Thread(() -> produce(client, toSend, draining, produceError), "raftmq-bench-producer");
    int code = drain(cli, client, g, draining, toSend, producer, out, err, "");
    Map<Integer, Long> after = appliedIndexes(client, cli, n);
    out.println(entriesLine(before, after, draining.acked.get(), n, false));
    out.flush();
    if (produceError.get() != null) {
      throw produceError.get() instanceof Exception e ? e : new RuntimeException(produceError.get());
    }
    return code;
  }

  /**
   * Makes stream group {@code g} start at the current end of every partition (as a queue group does):
   * a member joins, commits the end offsets and leaves.
   */
  private void startStreamGroupAtEnd(RaftMqClient client, String g, List<TopicPartition> tps) {
    try (Consumer c = client.consumer(ConsumerConfig.builder().groupId(g).build())) {
      c.subscribe(List.of(topic));
      long deadline = System.nanoTime() + bench.cli.requestTimeout().toNanos();
      while (c.assignment().size() < tps.size()) {
        if (System.nanoTime() > deadline) {
          throw new IllegalStateException("stream group " + g + " was not assigned every partition of " + topic);
        }
        c.poll(Duration.ofMillis(100));
      }
      c.commitSync(c.endOffsets(tps));
    }
  }

  private Map<TopicPartition, Long> endOffsets(RaftMqClient client, List<TopicPartition> tps) {
    try (Consumer c = client.consumer()) {
      return new HashMap<>(c.endOffsets(tps));
    }
  }

  /** The topic's partition count; creates the topic with {@link #partitions} if it does not exist. */
  private int topicPartitions(RaftMqCli cli, RaftMqClient client, PrintWriter out) throws Exception {
    try {
      return cli.await(client.admin().describeTopic(topic)).partitions().size();
    } catch (ExecutionException e) {
      if (!(RaftMqCli.unwrap(e) instanceof RaftMqException rme && rme.code() == ErrorCode.UNKNOWN_TOPIC)) {
        throw e;
      }
    }
    TopicDescription d = cli.await(client.admin().createTopic(new NewTopic(topic, partitions, 0, Map.of())));
    out.println("created topic " + topic + " with " + d.partitions().size() + " partitions");
    out.flush();
    return d.partitions().size();
  }

  /**
   * Makes sure queue group {@code groupId} exists in every partition before anything is produced (a queue
   * group starts at a partition's end on its first receive there): receives (100 ms long polls) until
   * the group shows in all of them, within the request timeout. What those receives lease (a group
   * that existed with a backlog) is acked and counted in {@code draining}.
   */
  private void ensureGroup(RaftMqCli cli, RaftMqClient client, int n, String groupId, Draining draining)
      throws Exception {
    if (groupPartitions(cli, client, groupId) >= n) {
      return;
    }
    long deadline = System.nanoTime() + cli.requestTimeout().toNanos();
    QueueConsumer qc = client.queueConsumer(consumerConfig(groupId));
    try {
      // A receive may leave a partition unasked (its leader not known yet, or backing off after an
      // error on a topic just made): receive again until the group shows everywhere.
      do {
        if (System.nanoTime() > deadline) {
          throw new IllegalStateException("queue group " + groupId + " did not come into being in all " + n
              + " partitions of " + topic + " within " + Durations.format(cli.requestTimeout()));
        }
        draining.ackAll(qc, qc.receive(n, Duration.ofMillis(100)));
      } while (groupPartitions(cli, client, groupId) < n);
    } finally {
      qc.close(Duration.ofSeconds(30));
    }
  }

  private int groupPartitions(RaftMqCli cli, RaftMqClient client, String groupId) throws Exception {
    try {
      QueueGroupDescription d = cli.await(client.admin().describeQueue(topic, groupId));
      return d.partitions().size();
    } catch (ExecutionException e) {
      if (RaftMqCli.unwrap(e) instanceof RaftMqException rme && rme.code() == ErrorCode.UNKNOWN_QUEUE_GROUP) {
        return 0;
      }
      throw e;
    }
  }

  /** Sends {@code count} messages (until the draining stops) of random bytes, unthrottled. */
  private void produce(RaftMqClient client, long count, Draining draining, AtomicReference<Throwable> error) {
    SplittableRandom random = new SplittableRandom(System.nanoTime());
    byte[][] payloads = new byte[BenchCommand.Produce.PAYLOADS][];
    for (int i = 0; i < payloads.length; i++) {
      payloads[i] = new byte[sizeBytes];
      random.nextBytes(payloads[i]);
    }
    try (Producer p = client.producer()) {
      for (long i = 0; i < count && !draining.stopped(); i++) {
        p.send(Message.builder(topic).value(payloads[(int) (i % payloads.length)]).build())
            .whenComplete((md, ex) -> {
              if (ex != null) {
                error.compareAndSet(null, ex);
              }
            });
      }
      p.flush();
    } catch (RuntimeException e) {
      error.compareAndSet(null, e);
    }
  }

  /**
   * The highest applied Raft index of each partition of the topic over all nodes (the leader's), from
   * their /metrics; partitions no node reported are missing.
   */
  private Map<Integer, Long> appliedIndexes(RaftMqClient client, RaftMqCli cli, int n) {
    Map<Integer, Long> max = new HashMap<>();
    appliedIndexesByNode(client, cli).forEach(node -> node.forEach((p, i) -> max.merge(p, i, Math::max)));
    return max;
  }

  /**
   * Waits (up to {@link #CATCH_UP_LIMIT}) until every node that reports a partition of the topic has
   * applied as far as the others: the backlog was acknowledged at a quorum, and a replica still
   * catching up would otherwise compete with the drain for the machine. Returns what to print.
   */
  private String awaitReplicas(RaftMqClient client, RaftMqCli cli) throws InterruptedException {
    long start = System.nanoTime();
    while (true) {
      long behind = entriesBehind(appliedIndexesByNode(client, cli));
      long elapsed = System.nanoTime() - start;
      if (behind == 0) {
        return String.format(Locale.ROOT, "replicas caught up with the backlog in %.1f s", elapsed / 1e9);
      }
      if (elapsed > CATCH_UP_LIMIT.toNanos()) {
        return "replicas still " + behind + " entries behind after " + Durations.format(CATCH_UP_LIMIT)
            + "; draining anyway";
      }
      Thread.sleep(200);
    }
  }

  /** How long the backlog mode waits for lagging replicas before it drains. */
  static final Duration CATCH_UP_LIMIT = Duration.ofSeconds(120);

  /**
   * Over one scrape of every node (each node's applied index per partition): the entries the replicas
   * lack, summed over partitions, each partition's replicas against the furthest of them.
   */
  static long entriesBehind(List<Map<Integer, Long>> byNode) {
    Map<Integer, Long> max = new HashMap<>();
    byNode.forEach(node -> node.forEach((p, i) -> max.merge(p, i, Math::max)));
    long behind = 0;
    for (Map<Integer, Long> node : byNode) {
      for (Map.Entry<Integer, Long> e : node.entrySet()) {
        behind += max.get(e.getKey()) - e.getValue();
      }
    }
    return behind;
  }

  /** Each reachable node's applied Raft index per partition of the topic, from one scrape of its /metrics. */
  private List<Map<Integer, Long>> appliedIndexesByNode(RaftMqClient client, RaftMqCli cli) {
    return scrapeNodes(client, cli).stream().map(body -> appliedIndexes(body, topic)).toList();
  }

  /**
   * CPU time used so far, in seconds: {0: the nodes' (their {@code process_cpu_seconds_total} summed
   * over the nodes that answered), 1: this JVM's}.
   */
  private double[] cpuSeconds(RaftMqClient client, RaftMqCli cli) {
    double nodes = 0;
    for (String body : scrapeNodes(client, cli)) {
      nodes += processCpuSeconds(body);
    }
    double self = 0;
    if (ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os) {
      self = os.getProcessCpuTime() / 1e9;
    }
    return new double[] {nodes, self};
  }

  private static final Pattern PROCESS_CPU = Pattern.compile("^process_cpu_seconds_total\\s+(\\S+)", Pattern.MULTILINE);

  /** {@code process_cpu_seconds_total} in one node's Prometheus text (0 if absent). */
  static double processCpuSeconds(String metrics) {
    Matcher m = PROCESS_CPU.matcher(metrics);
    if (!m.find()) {
      return 0;
    }
    try {
      return Double.parseDouble(m.group(1));
    } catch (NumberFormatException e) {
      return 0;
    }
  }

  /**
   * {@code cpu per message: nodes X us, this client Y us}, from two {@link #cpuSeconds} readings around
   * a drain of {@code messages} (the readings bracket the consumers' start and close too).
   */
  static String cpuLine(double[] before, double[] after, long messages) {
    if (messages <= 0) {
      return "cpu per message: no messages";
    }
    return String.format(Locale.ROOT, "cpu per message: nodes %.2f us, this client %.2f us (process CPU time, "
        + "from before the consumers start to after they close)", (after[0] - before[0]) * 1e6 / messages,
        (after[1] - before[1]) * 1e6 / messages);
  }

  /** The body of every reachable node's /metrics. */
  private List<String> scrapeNodes(RaftMqClient client, RaftMqCli cli) {
    ClusterMetadata md = client.metadata(cli.requestTimeout());
    HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(3)).build();
    List<String> out = new ArrayList<>();
    for (NodeAddress node : md.nodes()) {
      if (node.httpPort() <= 0) {
        continue;
      }
      try {
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(
                URI.create("http://" + node.host() + ":" + node.httpPort() + "/metrics"))
            .timeout(Duration.ofSeconds(5)).GET().build(), HttpResponse.BodyHandlers.ofString());
        if (r.statusCode() == 200) {
          out.add(r.body());
        }
      } catch (java.io.IOException e) {
        // that node's figures are missing; the leader's are what counts
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return out;
      }
    }
    return out;
  }

  private static final Pattern APPLIED = Pattern.compile("^raftmq_raft_applied_index\\{([^}]*)\\}\\s+(\\S+)");
  private static final Pattern LABEL = Pattern.compile("(\\w+)=\"((?:[^\"\\\\]|\\\\.)*)\"");

  /** The {@code raftmq_raft_applied_index} of {@code topic}'s partitions in one node's Prometheus text. */
  static Map<Integer, Long> appliedIndexes(String metrics, String topic) {
    Map<Integer, Long> out = new HashMap<>();
    for (String line : metrics.split("\n")) {
      Matcher m = APPLIED.matcher(line);
      if (!m.find()) {
        continue;
      }
      Map<String, String> labels = new HashMap<>();
      Matcher l = LABEL.matcher(m.group(1));
      while (l.find()) {
        labels.put(l.group(1), l.group(2));
      }
      if (!topic.equals(labels.get("topic")) || labels.get("partition") == null) {
        continue;
      }
      try {
        out.merge(Integer.parseInt(labels.get("partition")), (long) Double.parseDouble(m.group(2)), Math::max);
      } catch (NumberFormatException e) {
        // not a figure
      }
    }
    return out;
  }

  /** The line on Raft entries per message acked: applied-index growth over all partitions / messages. */
  static String entriesLine(Map<Integer, Long> before, Map<Integer, Long> after, long acked, int partitions,
      boolean queueOnly) {
    if (before.size() < partitions || after.size() < partitions || acked == 0) {
      return "raft entries per message acked: unknown (the nodes' /metrics did not give every partition's applied "
          + "index)";
    }
    long entries = 0;
    for (Map.Entry<Integer, Long> e : after.entrySet()) {
      entries += e.getValue() - before.getOrDefault(e.getKey(), e.getValue());
    }
    return String.format(Locale.ROOT, "raft entries per message acked: %.4f (%d entries in %d partitions for %d "
            + "messages; %s)", (double) entries / acked, entries, partitions, acked,
        queueOnly ? "queue commands only: receives, settles, expiries" : "produce batches and queue commands");
  }

  /**
   * The consumer threads and what they counted: each receives up to a batch, acks it with one
   * {@code ackAll} (the SDK batches the acks per leader) and receives again; they stop once {@code target} messages were
   * acked, the duration is up, or nothing arrived for the idle timeout.
   */
  static final class Draining {
    final AtomicLong received = new AtomicLong();
    final AtomicLong acked = new AtomicLong();
    final AtomicLong failed = new AtomicLong();
    final AtomicLong bytes = new AtomicLong();
    final AtomicReference<Throwable> error = new AtomicReference<>();
    final AtomicReference<Throwable> firstAckError = new AtomicReference<>();
    private final AtomicLong firstDeliveryAt = new AtomicLong();
    private final AtomicLong lastAckAt = new AtomicLong();
    private final AtomicLong lastDeliveryAt = new AtomicLong();
    private volatile boolean stop;
    volatile boolean timeUp;

    boolean stopped() {
      return stop;
    }

    void run(List<QueueConsumer> qcs, long target, int batch, Duration duration, Duration idle)
        throws InterruptedException {
      long start = System.nanoTime();
      lastDeliveryAt.set(start);
      long end = duration == null ? Long.MAX_VALUE : start + duration.toNanos();
      List<Thread> ts = new ArrayList<>();
      for (int i = 0; i < qcs.size(); i++) {
        QueueConsumer qc = qcs.get(i);
        Thread t = new Thread(() -> consume(qc, batch), "raftmq-bench-queue-consumer-" + i);
        ts.add(t);
        t.start();
      }
      while (!stop) {
        long now = System.nanoTime();
        if (acked.get() >= target || error.get() != null || now - lastDeliveryAt.get() > idle.toNanos()) {
          stop = true;
        } else if (now >= end) {
          timeUp = true;
          stop = true;
        } else {
          Thread.sleep(20);
        }
      }
      for (Thread t : ts) {
        t.join();
      }
    }

    private void consume(QueueConsumer qc, int batch) {
      try {
        while (!stop) {
          List<Delivery> got = qc.receive(batch, Duration.ofMillis(200));
          if (!got.isEmpty()) {
            ackAll(qc, got);
          }
        }
      } catch (RuntimeException e) {
        error.compareAndSet(null, e);
      }
    }

    /**
     * Acks the deliveries of a receive with one {@link QueueConsumer#ackAll} (as a consumer that
     * processes a whole receive would), counting them when the broker confirms; on a failure all of
     * them count as failed (the bench expects none).
     */
    void ackAll(QueueConsumer qc, List<Delivery> got) {
      if (got.isEmpty()) {
        return;
      }
      long now = System.nanoTime();
      firstDeliveryAt.compareAndSet(0, now);
      lastDeliveryAt.accumulateAndGet(now, Math::max);
      received.addAndGet(got.size());
      long size = 0;
      for (Delivery d : got) {
        size += (d.value() == null ? 0 : d.value().length) + (d.key() == null ? 0 : d.key().length);
      }
      bytes.addAndGet(size);
      int n = got.size();
      qc.ackAll(got).whenComplete((v, ex) -> {
        if (ex == null) {
          acked.addAndGet(n);
          lastAckAt.accumulateAndGet(System.nanoTime(), Math::max);
        } else {
          failed.addAndGet(n);
          firstAckError.compareAndSet(null, ex);
        }
      });
    }

    /** From the first delivery to the last ack (0 before both). */
    private long elapsedNanos() {
      long first = firstDeliveryAt.get();
      return first == 0 || lastAckAt.get() == 0 ? 0 : lastAckAt.get() - first;
    }

    /** Messages acked per second, from the first delivery to the last ack. */
    double rate() {
      long nanos = elapsedNanos();
      return nanos == 0 ? 0 : acked.get() * 1e9 / nanos;
    }

    /** {@code N messages received and acked, X msg/s, Y MB/s in T s}. */
    String summary() {
      long nanos = elapsedNanos();
      long n = acked.get();
      long b = received.get() == 0 ? 0 : bytes.get() * n / received.get();
      return String.format(Locale.ROOT, "%d messages received and acked, %s in %.3f s", n,
          BenchCommand.rates(n, b, nanos), nanos / 1e9);
    }
  }
}
