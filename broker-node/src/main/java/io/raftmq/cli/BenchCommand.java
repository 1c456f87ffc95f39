package io.raftmq.cli;

import io.raftmq.client.Acks;
import io.raftmq.client.Message;
import io.raftmq.client.Producer;
import io.raftmq.client.ProducerConfig;
import io.raftmq.client.RaftMqClient;
import io.raftmq.client.RaftMqException;
import io.raftmq.client.TopicDescription;
import io.raftmq.protocol.ErrorCode;
import java.io.PrintWriter;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import org.HdrHistogram.Histogram;
import org.HdrHistogram.Recorder;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/**
 * {@code raftmq bench produce|consume|e2e|queue}: load generators in the style of {@code nats bench}.
 * The helpers here (topic check, paced sending, percentiles) serve them all.
 */
@Command(name = "bench", description = "Load generators.",
    subcommands = {BenchCommand.Produce.class, BenchConsumeCommand.class, BenchE2eCommand.class,
        BenchQueueCommand.class})
final class BenchCommand implements Callable<Integer> {
  @ParentCommand
  RaftMqCli cli;

  @Spec
  CommandSpec spec;

  @Override
  public Integer call() {
    throw new ParameterException(spec.commandLine(), "missing subcommand: produce, consume, e2e or queue");
  }

  /** The topic's description; a missing topic is one clear line saying how to create it. */
  static TopicDescription requireTopic(RaftMqCli cli, RaftMqClient client, String topic) throws Exception {
    try {
      return cli.await(client.admin().describeTopic(topic));
    } catch (ExecutionException e) {
      if (RaftMqCli.unwrap(e) instanceof RaftMqException rme && rme.code() == ErrorCode.UNKNOWN_TOPIC) {
        throw new IllegalArgumentException("topic " + topic + " does not exist; create it first: raftmq topic create "
            + topic + " --partitions N");
      }
      throw e;
    }
  }

  /** {@code p50 1.234 p99 5.678 max 9.000}: the percentiles of microsecond values, in ms, then the max. */
  static String percentilesMs(Histogram h, double... percentiles) {
    StringBuilder sb = new StringBuilder();
    for (double p : percentiles) {
      String name = p == Math.rint(p) ? String.valueOf((long) p) : String.valueOf(p);
      sb.append(String.format(Locale.ROOT, "p%s %.3f ", name, h.getValueAtPercentile(p) / 1000.0));
    }
    return sb.append(String.format(Locale.ROOT, "max %.3f", h.getMaxValue() / 1000.0)).toString();
  }

  /** Messages per second and MB/s (10^6 bytes) of {@code count} messages and {@code bytes} over {@code nanos}. */
  static String rates(long count, long bytes, long nanos) {
    double seconds = Math.max(nanos, 1) / 1e9;
    return String.format(Locale.ROOT, "%.0f msg/s, %.2f MB/s", count / seconds, bytes / seconds / 1e6);
  }

  /** @throws IllegalArgumentException saying {@code option} must be at least {@code min}, if it is not */
  static void atLeast(String option, long value, long min) {
    if (value < min) {
      throw new IllegalArgumentException(option + " must be " + (min == 0 ? ">= 0" : "at least " + min));
    }
  }

  /** {@code --topic} and {@code --group} of the benchmarks that read through a consumer group. */
  static final class GroupOptions {
    @Option(names = "--topic", required = true, paramLabel = "TOPIC", description = "An existing topic.")
    String topic;

    @Option(names = "--group", paramLabel = "GROUP",
        description = "The consumer group; it must have no live members. Default: a new group, deleted afterwards.")
    String group;

    private String made;

    /** {@code --group}, or the name of a new group for this run: raftmq-bench-KIND-TIME. */
    String groupId(String kind) {
      if (group != null) {
        return group;
      }
      if (made == null) {
        made = "raftmq-bench-" + kind + "-" + Long.toString(System.currentTimeMillis(), 36);
      }
      return made;
    }

    /**
     * Deletes the group if the run made it; failing to is worth a warning, not a failed run. The members'
     * leaves may not have reached the node that answers yet: GROUP_NOT_EMPTY is retried for up to the
     * request timeout.
     */
    void deleteMadeGroup(RaftMqCli cli, RaftMqClient client, PrintWriter err) throws InterruptedException {
      if (made != null) {
        deleteGroup(cli, client, made, err);
      }
    }
  }

  /**
   * Deletes stream group {@code group}; failing to is worth a warning, not a failed run. The members'
   * leaves may not have reached the node that answers yet: GROUP_NOT_EMPTY is retried for up to the
   * request timeout.
   */
  static void deleteGroup(RaftMqCli cli, RaftMqClient client, String group, PrintWriter err)
      throws InterruptedException {
    long deadline = System.nanoTime() + cli.requestTimeout().toNanos();
    while (true) {
      try {
        cli.await(client.admin().deleteGroup(group));
        return;
      } catch (InterruptedException e) {
        throw e;
      } catch (Exception e) {
        if (RaftMqCli.unwrap(e) instanceof RaftMqException rme && rme.code() == ErrorCode.GROUP_NOT_EMPTY
            && System.nanoTime() < deadline) {
          Thread.sleep(100);
          continue;
        }
        err.println("warning: could not delete group " + group + ": " + RaftMqCli.describe(RaftMqCli.unwrap(e)));
        err.flush();
        return;
      }
    }
  }

  /**
   * P threads, each with its own producer, send their share of N messages of random bytes (null keys,
   * so the partitioner spreads them) without waiting for acknowledgements, optionally paced to a total
   * rate. The latency of each message, from its send (or, when paced, from when it was due, so a stall
   * is not hidden) to its acknowledgement, goes into an HdrHistogram.
   */
  @Command(name = "produce", sortOptions = false,
      description = {"Measure produce throughput and latency against an existing topic.",
          "Prints: N messages, X msg/s, Y MB/s, latency ms p50 A p99 B p99.9 C max D"})
  static final class Produce implements Callable<Integer> {
    /** Distinct random payloads per thread, cycled, so that generating bytes does not limit the rate. */
    static final int PAYLOADS = 64;

    @ParentCommand
    BenchCommand bench;

    @Spec
    CommandSpec spec;

    @Option(names = "--topic", required = true, paramLabel = "TOPIC", description = "An existing topic.")
    String topic;

    @Option(names = "--messages", paramLabel = "N", defaultValue = "100000", description = "Messages in total (default ${DEFAULT-VALUE}).")
    long messages;

    @Option(names = "--size", paramLabel = "BYTES", defaultValue = "128", description = "Value size (default ${DEFAULT-VALUE}).")
    int sizeBytes;

    @Option(names = "--producers", paramLabel = "P", defaultValue = "1", description = "Producer threads (default ${DEFAULT-VALUE}).")
    int producers;

    @Option(names = "--acks", paramLabel = "quorum|leader|none", defaultValue = "quorum", description = "Acks (default ${DEFAULT-VALUE}).")
    Acks acks;

    @Option(names = "--rate", paramLabel = "MSGS/S", defaultValue = "0",
        description = "Total messages per second, paced evenly; 0 = as fast as possible (default).")
    long rate;

    @Option(names = "--batch-size", paramLabel = "BYTES", description = "Producer batch size (default: the SDK's).")
    Integer batchSizeBytes;

    @Option(names = "--linger", paramLabel = "MS", description = "Producer linger in ms (default: the SDK's).")
    Long lingerMs;

    @Override
    public Integer call() throws Exception {
      validate();
      RaftMqCli cli = bench.cli;
      PrintWriter out = spec.commandLine().getOut();
      PrintWriter err = spec.commandLine().getErr();
      ProducerConfig.Builder pc = ProducerConfig.builder().acks(acks);
      if (batchSizeBytes != null) {
        pc.batchSizeBytes(batchSizeBytes);
      }
      if (lingerMs != null) {
        pc.linger(Duration.ofMillis(lingerMs));
      }
      ProducerConfig config = pc.build();
      try (RaftMqClient client = cli.connect()) {
        requireTopic(cli, client, topic);
        Run run = new Run(messages, producers, rate, sizeBytes);
        run.execute(client, config, topic);
        out.println(run.summary());
        out.println(run.warmupNote());
        out.flush();
        if (run.failure() != null) {
          err.println(run.failure());
          err.flush();
          return RaftMqCli.EXIT_ERROR;
        }
      }
      return 0;
    }

    private void validate() {
      atLeast("--messages", messages, 1);
      atLeast("--size", sizeBytes, 0);
      atLeast("--producers", producers, 1);
      atLeast("--rate", rate, 0);
      if (lingerMs != null) {
        atLeast("--linger", lingerMs, 0);
      }
    }

  }

  /** Builds the message a benchmark producer sends: {@code value} is one of its random payloads. */
  @FunctionalInterface
  interface MessageMaker {
    /** Just the value, no key (the partitioner spreads them). */
    MessageMaker PLAIN = (topic, value, sentAtNanos) -> Message.builder(topic).value(value).build();

    /**
     * @param sentAtNanos the {@link System#nanoTime()} the message counts as sent at: when it was due
     *     on a paced run, else now
     */
    Message make(String topic, byte[] value, long sentAtNanos);
  }

  /** One benchmark run: the threads, the counters and the histogram. */
  static final class Run {
    final long messages;
    final int threads;
    final long ratePerSecond;
    final int sizeBytes;
    final MessageMaker maker;
    /** Latencies in microseconds, recorded from SDK callback threads. */
    final Recorder latencyUs = new Recorder(3);
    final AtomicLong acknowledged = new AtomicLong();
    final AtomicLong failed = new AtomicLong();
    final AtomicReference<Throwable> firstError = new AtomicReference<>();
    private final AtomicLong outstanding = new AtomicLong();
    private final Object done = new Object();
    private long warmupPerThread;
    private long elapsedNanos;
    private Histogram histogram;

    Run(long messages, int threads, long ratePerSecond, int sizeBytes) {
      this(messages, threads, ratePerSecond, sizeBytes, MessageMaker.PLAIN);
    }

    Run(long messages, int threads, long ratePerSecond, int sizeBytes, MessageMaker maker) {
      this.messages = messages;
      this.threads = threads;
      this.ratePerSecond = ratePerSecond;
      this.sizeBytes = sizeBytes;
      this.maker = maker;
    }

    /** The share of thread {@code i}: N / P, the remainder spread over the first threads. */
    static long share(long messages, int threads, int i) {
      return messages / threads + (i < messages % threads ? 1 : 0);
    }

    /** How many of its first {@code n} messages a sender (or receiver) leaves out of latency: 5%, at most 10,000. */
    static long warmup(long n) {
      return Math.min(10_000, n / 20);
    }

    /** Runs with {@link #threads} producers of {@code client}, closed afterwards. */
    void execute(RaftMqClient client, ProducerConfig config, String topic) throws InterruptedException {
      List<Producer> ps = new ArrayList<>();
      try {
        for (int i = 0; i < threads; i++) {
          ps.add(client.producer(config));
        }
        execute(ps, topic);
      } finally {
        for (Producer p : ps) {
          p.close(Duration.ofSeconds(30));
        }
      }
    }

    void execute(List<Producer> producers, String topic) throws InterruptedException {
      // The first 5% of each thread's messages (at most 10,000) warm up the JVM and the connections:
      // they count for throughput but not for latency.
      warmupPerThread = warmup(share(messages, threads, threads - 1));
      outstanding.set(messages);
      List<Thread> ts = new ArrayList<>();
      long start = System.nanoTime();
      for (int i = 0; i < threads; i++) {
        Producer p = producers.get(i);
        long n = share(messages, threads, i);
        long seed = start + i;
        Thread t = new Thread(() -> sendAll(p, topic, n, seed, start), "raftmq-bench-producer-" + i);
        ts.add(t);
        t.start();
      }
      for (Thread t : ts) {
        t.join();
      }
      synchronized (done) {
        while (outstanding.get() > 0) {
          done.wait();
        }
      }
      elapsedNanos = System.nanoTime() - start;
      histogram = latencyUs.getIntervalHistogram();
    }

    private void sendAll(Producer producer, String topic, long n, long seed, long start) {
      SplittableRandom random = new SplittableRandom(seed);
      byte[][] payloads = new byte[PAYLOADS_PER_THREAD][];
      for (int i = 0; i < payloads.length; i++) {
        payloads[i] = new byte[sizeBytes];
        random.nextBytes(payloads[i]);
      }
      // Each thread paces its own share of the rate; the intended send times are start + i * interval.
      double intervalNanos = ratePerSecond == 0 ? 0 : 1e9 * threads / ratePerSecond;
      for (long i = 0; i < n; i++) {
        long due = start + (long) (i * intervalNanos);
        long now = System.nanoTime();
        if (intervalNanos > 0) {
          while (now < due) {
            LockSupport.parkNanos(due - now);
            now = System.nanoTime();
          }
        }
        long sentAt = intervalNanos > 0 ? due : now;
        boolean record = i >= warmupPerThread;
        Message m = maker.make(topic, payloads[(int) (i % payloads.length)], sentAt);
        try {
          producer.send(m).whenComplete((md, ex) -> complete(sentAt, record, ex));
        } catch (RuntimeException e) {
          complete(sentAt, false, e);
        }
      }
      producer.flush();
    }

    private void complete(long sentAtNanos, boolean record, Throwable ex) {
      if (ex == null) {
        acknowledged.incrementAndGet();
        if (record) {
          latencyUs.recordValue(Math.max(0, (System.nanoTime() - sentAtNanos) / 1_000));
        }
      } else {
        failed.incrementAndGet();
        firstError.compareAndSet(null, ex);
      }
      if (outstanding.decrementAndGet() == 0) {
        synchronized (done) {
          done.notifyAll();
        }
      }
    }

    String summary() {
      long n = acknowledged.get();
      return n + " messages, " + rates(n, n * sizeBytes, elapsedNanos) + ", latency ms "
          + percentilesMs(histogram, 50, 99, 99.9);
    }

    /** The error line of a run in which messages failed, or null. */
    String failure() {
      return failed.get() == 0 ? null : "error: " + failed.get() + " of " + messages + " messages failed; first: "
          + RaftMqCli.describe(RaftMqCli.unwrap(firstError.get()));
    }

    String warmupNote() {
      return String.format(Locale.ROOT,
          "(%d producer%s, %d-byte values, %s; latency is send to ack%s and leaves out each producer's first %d "
              + "messages as warm-up; throughput counts all)",
          threads, threads == 1 ? "" : "s", sizeBytes,
          ratePerSecond == 0 ? "unthrottled" : "paced at " + ratePerSecond + " msg/s",
          ratePerSecond == 0 ? "" : " (from the scheduled send time)", warmupPerThread);
    }

    private static final int PAYLOADS_PER_THREAD = Produce.PAYLOADS;
  }
}
