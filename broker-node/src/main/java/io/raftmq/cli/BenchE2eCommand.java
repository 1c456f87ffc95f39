package io.raftmq.cli;

import io.raftmq.client.Acks;
import io.raftmq.client.Consumer;
import io.raftmq.client.ConsumerConfig;
import io.raftmq.client.ConsumerRecord;
import io.raftmq.client.Message;
import io.raftmq.client.OffsetReset;
import io.raftmq.client.ProducerConfig;
import io.raftmq.client.RaftMqClient;
import io.raftmq.client.TopicPartition;
import java.io.PrintWriter;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicReference;
import org.HdrHistogram.Histogram;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/**
 * {@code raftmq bench e2e}: one producer sends at a steady rate (the pacing of {@code bench produce}),
 * stamping into a header of each record when it was due to be sent; one group consumer in the same
 * process polls them and records, per record, the time from that stamp to the poll that returned it.
 * Measuring from the scheduled send time rather than the actual one keeps a stall of the producer from
 * hiding itself (coordinated omission).
 */
@Command(name = "e2e", sortOptions = false,
    description = {"Measure end-to-end latency (produce -> poll) at a steady rate, through a consumer group.",
        "Prints: N messages, X msg/s, Y MB/s, end-to-end latency ms p50 A p90 B p99 C p99.9 D max E"})
final class BenchE2eCommand implements Callable<Integer> {
  /** The header carrying the run's id and the record's scheduled send time (System.nanoTime()). */
  static final String STAMP_HEADER = "raftmq-bench-e2e";

  @ParentCommand
  BenchCommand bench;

  @Spec
  CommandSpec spec;

  @Mixin
  BenchCommand.GroupOptions target;

  @Option(names = "--rate", paramLabel = "MSGS/S", defaultValue = "5000",
      description = "Messages per second, paced evenly (default ${DEFAULT-VALUE}).")
  long rate;

  @Option(names = "--size", paramLabel = "BYTES", defaultValue = "1024", description = "Value size (default ${DEFAULT-VALUE}).")
  int sizeBytes;

  @Option(names = "--duration", paramLabel = "DURATION", defaultValue = "30s", converter = Durations.class,
      description = "How long to send, e.g. 30s, 2m (default ${DEFAULT-VALUE}).")
  Duration duration;

  @Option(names = "--acks", paramLabel = "quorum|leader|none", defaultValue = "quorum", description = "Acks (default ${DEFAULT-VALUE}).")
  Acks acks;

  @Option(names = "--timeout", paramLabel = "DURATION", defaultValue = "30s", converter = Durations.class,
      description = "How long the consumer may take to join, and to drain after the last send (default ${DEFAULT-VALUE}).")
  Duration timeout;

  @Override
  public Integer call() throws Exception {
    long messages = messages();
    RaftMqCli cli = bench.cli;
    PrintWriter out = spec.commandLine().getOut();
    PrintWriter err = spec.commandLine().getErr();
    String topic = target.topic;
    String groupId = target.groupId("e2e");
    try (RaftMqClient client = cli.connect()) {
      int partitions = BenchCommand.requireTopic(cli, client, topic).partitions().size();
      long runId = System.nanoTime() ^ Double.doubleToLongBits(Math.random());
      Receiver receiver = new Receiver(runId, messages, BenchCommand.Run.warmup(messages), timeout);
      ConsumerConfig cc = ConsumerConfig.builder().groupId(groupId).autoOffsetReset(OffsetReset.LATEST)
          .fetchMaxWait(Duration.ofMillis(100)).build();
      Thread consumerThread = new Thread(() -> receiver.run(client, cc, topic, partitions), "raftmq-bench-e2e-consumer");
      BenchCommand.Run run = new BenchCommand.Run(messages, 1, rate, sizeBytes,
          (t, value, sentAtNanos) -> stamped(t, value, runId, sentAtNanos));
      try {
        consumerThread.start();
        // Send only once the consumer owns every partition at the end of the log: the join is not latency.
        if (!receiver.ready.await(timeout.toMillis() + cli.requestTimeout().toMillis(), TimeUnit.MILLISECONDS)) {
          receiver.stop();
          throw new TimeoutException("the consumer did not get all " + partitions + " partitions of " + topic
              + " within " + Durations.format(timeout) + " (group " + groupId + ")");
        }
        if (receiver.error.get() == null) {
          run.execute(client, ProducerConfig.builder().acks(acks).build(), topic);
          receiver.producerDone(System.nanoTime());
        } else {
          receiver.stop();
        }
        consumerThread.join();
      } finally {
        receiver.stop();
        consumerThread.join();
        target.deleteMadeGroup(cli, client, err);
      }
      if (receiver.error.get() != null) {
        Throwable e = receiver.error.get();
        throw e instanceof Exception ex ? ex : new RuntimeException(e);
      }
      out.println(receiver.summary());
      out.println("produce: " + run.summary());
      out.println(String.format(Locale.ROOT, "(1 producer paced at %d msg/s for %s, 1 consumer in group %s, "
              + "%d-byte values; end-to-end latency is from the scheduled send time to the poll that returned the record "
              + "and leaves out the first %d records as warm-up)", rate, Durations.format(duration), groupId, sizeBytes,
          receiver.warmup));
      out.flush();
      if (run.failure() != null) {
        err.println(run.failure());
        err.flush();
        return RaftMqCli.EXIT_ERROR;
      }
      if (receiver.received < messages) {
        err.println("error: only " + receiver.received + " of " + messages + " messages arrived within "
            + Durations.format(timeout) + " of the last send");
        err.flush();
        return RaftMqCli.EXIT_ERROR;
      }
    }
    return 0;
  }

  /** Rate times duration; validates both. */
  long messages() {
    BenchCommand.atLeast("--rate", rate, 1);
    BenchCommand.atLeast("--size", sizeBytes, 0);
    if (timeout.isZero()) {
      throw new IllegalArgumentException("--timeout must be positive");
    }
    long n = (long) Math.floor(rate * (duration.toNanos() / 1e9));
    if (n < 1) {
      throw new IllegalArgumentException("--rate times --duration is less than one message");
    }
    return n;
  }

  static Message stamped(String topic, byte[] value, long runId, long sentAtNanos) {
    byte[] stamp = ByteBuffer.allocate(16).putLong(runId).putLong(sentAtNanos).array();
    return Message.builder(topic).value(value).header(STAMP_HEADER, stamp).build();
  }

  /**
   * The scheduled send time of a record this run stamped, or -1 for any other record (another
   * producer's, or an earlier run's still in the group's backlog).
   */
  static long sentAt(ConsumerRecord r, long runId) {
    byte[] stamp = r.headers().get(STAMP_HEADER);
    if (stamp == null || stamp.length != 16) {
      return -1;
    }
    ByteBuffer b = ByteBuffer.wrap(stamp);
    return b.getLong() == runId ? b.getLong() : -1;
  }

  /** The consumer thread: joins, says when it is ready, then measures until all arrived or it is told to stop. */
  static final class Receiver {
    final long runId;
    final long expected;
    final long warmup;
    final Duration drainTimeout;
    final CountDownLatch ready = new CountDownLatch(1);
    final AtomicReference<Throwable> error = new AtomicReference<>();
    /** Microseconds from the scheduled send to the poll; only the consumer thread writes it. */
    final Histogram latencyUs = new Histogram(3);
    private volatile boolean stopped;
    private volatile long producerDoneAt;
    volatile long received;
    volatile long bytes;
    private volatile long firstDueAt;
    private volatile long lastReceivedAt;

    Receiver(long runId, long expected, long warmup, Duration drainTimeout) {
      this.runId = runId;
      this.expected = expected;
      this.warmup = warmup;
      this.drainTimeout = drainTimeout;
    }

    void producerDone(long atNanos) {
      producerDoneAt = atNanos;
    }

    void stop() {
      stopped = true;
    }

    void run(RaftMqClient client, ConsumerConfig config, String topic, int partitions) {
      try (Consumer consumer = client.consumer(config)) {
        consumer.subscribe(List.of(topic));
        awaitAssignment(consumer, partitions);
        ready.countDown();
        measure(consumer);
      } catch (RuntimeException e) {
        error.compareAndSet(null, e);
      } finally {
        ready.countDown();
      }
    }

    private void awaitAssignment(Consumer consumer, int partitions) {
      while (!stopped && consumer.assignment().size() < partitions) {
        // Nothing of this run exists yet: what a poll returns now (an existing group's backlog) is dropped.
        consumer.poll(Duration.ofMillis(100));
      }
      // Resolve the positions now, so that the first records are not timed with a look-up in front.
      Set<TopicPartition> owned = consumer.assignment();
      owned.forEach(consumer::position);
    }

    private void measure(Consumer consumer) {
      while (!stopped && received < expected) {
        long doneAt = producerDoneAt;
        if (doneAt != 0 && System.nanoTime() - Math.max(doneAt, lastReceivedAt) > drainTimeout.toNanos()) {
          return;
        }
        List<ConsumerRecord> records = consumer.poll(Duration.ofMillis(100));
        long now = System.nanoTime();
        for (ConsumerRecord r : records) {
          long due = sentAt(r, runId);
          if (due < 0) {
            continue;
          }
          if (received == 0) {
            firstDueAt = due;
          }
          if (received >= warmup) {
            latencyUs.recordValue(Math.max(0, (now - due) / 1_000));
          }
          received++;
          bytes += r.value() == null ? 0 : r.value().length;
          lastReceivedAt = now;
        }
      }
    }

    String summary() {
      long nanos = received == 0 ? 0 : lastReceivedAt - firstDueAt;
      return received + " messages, " + BenchCommand.rates(received, bytes, nanos) + ", end-to-end latency ms "
          + BenchCommand.percentilesMs(latencyUs, 50, 90, 99, 99.9);
    }
  }
}
