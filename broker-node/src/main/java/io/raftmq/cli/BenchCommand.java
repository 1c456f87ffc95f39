package io.raftmq.cli;

import io.raftmq.client.Acks;
import io.raftmq.client.Message;
import io.raftmq.client.Producer;
import io.raftmq.client.ProducerConfig;
import io.raftmq.client.RaftMqClient;
import io.raftmq.client.RaftMqException;
import io.raftmq.protocol.ErrorCode;
import java.io.PrintWriter;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
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

/** {@code raftmq bench produce}: a load generator in the style of {@code nats bench}. */
@Command(name = "bench", description = "Load generators.", subcommands = BenchCommand.Produce.class)
final class BenchCommand implements Callable<Integer> {
  @ParentCommand
  RaftMqCli cli;

  @Spec
  CommandSpec spec;

  @Override
  public Integer call() {
    throw new ParameterException(spec.commandLine(), "missing subcommand: produce");
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
        requireTopic(client, cli.requestTimeout());
        Run run = new Run(messages, producers, rate, sizeBytes);
        List<Producer> ps = new ArrayList<>();
        try {
          for (int i = 0; i < producers; i++) {
            ps.add(client.producer(config));
          }
          run.execute(ps, topic);
        } finally {
          for (Producer p : ps) {
            p.close(Duration.ofSeconds(30));
          }
        }
        out.println(run.summary());
        out.println(run.warmupNote());
        out.flush();
        if (run.failed.get() > 0) {
          err.println("error: " + run.failed.get() + " of " + messages + " messages failed; first: "
              + RaftMqCli.describe(RaftMqCli.unwrap(run.firstError.get())));
          err.flush();
          return RaftMqCli.EXIT_ERROR;
        }
      }
      return 0;
    }

    private void validate() {
      if (messages < 1) {
        throw new IllegalArgumentException("--messages must be at least 1");
      }
      if (sizeBytes < 0) {
        throw new IllegalArgumentException("--size must be >= 0");
      }
      if (producers < 1) {
        throw new IllegalArgumentException("--producers must be at least 1");
      }
      if (rate < 0) {
        throw new IllegalArgumentException("--rate must be >= 0");
      }
      if (lingerMs != null && lingerMs < 0) {
        throw new IllegalArgumentException("--linger must be >= 0");
      }
    }

    private void requireTopic(RaftMqClient client, Duration timeout) throws Exception {
      try {
        client.admin().describeTopic(topic).get(timeout.toMillis() + 5_000, TimeUnit.MILLISECONDS);
      } catch (ExecutionException e) {
        if (RaftMqCli.unwrap(e) instanceof RaftMqException rme && rme.code() == ErrorCode.UNKNOWN_TOPIC) {
          throw new IllegalArgumentException("topic " + topic + " does not exist; create it first: raftmq topic create "
              + topic + " --partitions N");
        }
        throw e;
      }
    }
  }

  /** One benchmark run: the threads, the counters and the histogram. */
  static final class Run {
    final long messages;
    final int threads;
    final long ratePerSecond;
    final int sizeBytes;
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
      this.messages = messages;
      this.threads = threads;
      this.ratePerSecond = ratePerSecond;
      this.sizeBytes = sizeBytes;
    }

    /** The share of thread {@code i}: N / P, the remainder spread over the first threads. */
    static long share(long messages, int threads, int i) {
      return messages / threads + (i < messages % threads ? 1 : 0);
    }

    void execute(List<Producer> producers, String topic) throws InterruptedException {
      // The first 5% of each thread's messages (at most 10,000) warm up the JVM and the connections:
      // they count for throughput but not for latency.
      warmupPerThread = Math.min(10_000, share(messages, threads, threads - 1) / 20);
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
        Message m = Message.builder(topic).value(payloads[(int) (i % payloads.length)]).build();
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
      double seconds = Math.max(elapsedNanos, 1) / 1e9;
      double msgsPerSec = acknowledged.get() / seconds;
      double mbPerSec = acknowledged.get() * (double) sizeBytes / seconds / 1e6;
      return String.format(Locale.ROOT,
          "%d messages, %.0f msg/s, %.2f MB/s, latency ms p50 %.3f p99 %.3f p99.9 %.3f max %.3f",
          acknowledged.get(), msgsPerSec, mbPerSec,
          ms(histogram.getValueAtPercentile(50)), ms(histogram.getValueAtPercentile(99)),
          ms(histogram.getValueAtPercentile(99.9)), ms(histogram.getMaxValue()));
    }

    String warmupNote() {
      return String.format(Locale.ROOT,
          "(%d producer%s, %d-byte values, %s; latency is send to ack%s and leaves out each producer's first %d "
              + "messages as warm-up; throughput counts all)",
          threads, threads == 1 ? "" : "s", sizeBytes,
          ratePerSecond == 0 ? "unthrottled" : "paced at " + ratePerSecond + " msg/s",
          ratePerSecond == 0 ? "" : " (from the scheduled send time)", warmupPerThread);
    }

    private static double ms(long micros) {
      return micros / 1000.0;
    }

    private static final int PAYLOADS_PER_THREAD = Produce.PAYLOADS;
  }
}
