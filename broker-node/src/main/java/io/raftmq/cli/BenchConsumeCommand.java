package io.raftmq.cli;

import io.raftmq.client.Consumer;
import io.raftmq.client.ConsumerConfig;
import io.raftmq.client.ConsumerRecord;
import io.raftmq.client.GroupDescription;
import io.raftmq.client.OffsetReset;
import io.raftmq.client.PartitionInfo;
import io.raftmq.client.ProducerConfig;
import io.raftmq.client.RaftMqClient;
import io.raftmq.client.RaftMqException;
import io.raftmq.client.TopicPartition;
import io.raftmq.protocol.ErrorCode;
import java.io.PrintWriter;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/**
 * {@code raftmq bench consume}: C threads, each with its own consumer in one group, read a topic's
 * backlog (from what the group committed up to the end offsets when the run starts; or
 * {@code --messages}); the clock runs from the first record any of them receives to the last one
 * counted, so the group join is reported apart. The consumers auto-commit and commit and leave on close, as an application's would.
 */
@Command(name = "consume", sortOptions = false,
    description = {"Measure how fast a consumer group reads a topic's backlog.",
        "Prints: N messages, X msg/s, Y MB/s in T s (from the first record to the last), and the time to join."})
final class BenchConsumeCommand implements Callable<Integer> {
  @ParentCommand
  BenchCommand bench;

  @Spec
  CommandSpec spec;

  @Mixin
  BenchCommand.GroupOptions target;

  @Option(names = "--messages", paramLabel = "N",
      description = "Stop after N messages (default: the backlog, i.e. what the group has not committed at the start; "
          + "where it has committed nothing, from the log start).")
  Long messages;

  @Option(names = "--consumers", paramLabel = "C", defaultValue = "1",
      description = "Consumer threads, each its own member of the group (default ${DEFAULT-VALUE}).")
  int consumers;

  @Option(names = "--produce-first", paramLabel = "N", defaultValue = "0",
      description = "First produce N messages of --size bytes (unthrottled, acks=quorum) to make the backlog.")
  long produceFirst;

  @Option(names = "--size", paramLabel = "BYTES", defaultValue = "1024",
      description = "Value size of the messages --produce-first sends (default ${DEFAULT-VALUE}).")
  int sizeBytes;

  @Option(names = "--timeout", paramLabel = "DURATION", defaultValue = "30s", converter = Durations.class,
      description = "Give up when no record arrived for this long (default ${DEFAULT-VALUE}).")
  Duration timeout;

  @Override
  public Integer call() throws Exception {
    validate();
    RaftMqCli cli = bench.cli;
    PrintWriter out = spec.commandLine().getOut();
    PrintWriter err = spec.commandLine().getErr();
    String topic = target.topic;
    String groupId = target.groupId("consume");
    try (RaftMqClient client = cli.connect()) {
      List<TopicPartition> tps = BenchCommand.requireTopic(cli, client, topic).partitions().stream()
          .map(PartitionInfo::partition).map(p -> new TopicPartition(topic, p)).toList();
      if (produceFirst > 0) {
        BenchCommand.Run run = new BenchCommand.Run(produceFirst, 1, 0, sizeBytes);
        run.execute(client, ProducerConfig.defaults(), topic);
        out.println("produced " + run.summary());
        out.flush();
        if (run.failure() != null) {
          err.println(run.failure());
          err.flush();
          return RaftMqCli.EXIT_ERROR;
        }
      }
      Map<TopicPartition, Long> ends = Map.of();
      if (messages == null) {
        ends = backlog(client, groupId, tps);
        if (ends.isEmpty()) {
          throw new IllegalArgumentException("nothing to consume: group " + groupId + " has no backlog in " + topic
              + "; add --produce-first N");
        }
      }
      ConsumerConfig config = ConsumerConfig.builder().groupId(groupId).autoOffsetReset(OffsetReset.EARLIEST).build();
      Reading reading = new Reading(messages == null ? Long.MAX_VALUE : messages, ends, timeout);
      try {
        reading.run(client, config, topic, consumers);
      } finally {
        target.deleteMadeGroup(cli, client, err);
      }
      out.println(reading.summary());
      out.println(String.format(Locale.ROOT, "(%d consumer%s in group %s; joined and got the first records in %.3f s; "
              + "throughput from the first record to the last)", consumers, consumers == 1 ? "" : "s", groupId,
          reading.joinNanos() / 1e9));
      out.flush();
      if (reading.error.get() != null) {
        throw reading.error.get() instanceof Exception e ? e : new RuntimeException(reading.error.get());
      }
      if (!reading.done()) {
        err.println("error: stopped after " + reading.consumed.get() + " messages: nothing new for "
            + Durations.format(timeout) + (messages == null ? "; not read to the end: " + reading.pending.keySet()
            : " (asked for " + messages + ")"));
        err.flush();
        return RaftMqCli.EXIT_ERROR;
      }
    }
    return 0;
  }

  private void validate() {
    if (messages != null) {
      BenchCommand.atLeast("--messages", messages, 1);
    }
    BenchCommand.atLeast("--consumers", consumers, 1);
    BenchCommand.atLeast("--produce-first", produceFirst, 0);
    BenchCommand.atLeast("--size", sizeBytes, 0);
    if (timeout.isZero()) {
      throw new IllegalArgumentException("--timeout must be positive");
    }
  }

  /**
   * The backlog: the high watermarks of the partitions of {@code tps} in which the group has something
   * left to read (from its committed offset, or the log start where it has none). Refuses a group with
   * live members: they would share the partitions with the benchmark.
   */
  private Map<TopicPartition, Long> backlog(RaftMqClient client, String groupId, List<TopicPartition> tps)
      throws Exception {
    Map<TopicPartition, Long> committed = new HashMap<>();
    try {
      GroupDescription d = bench.cli.await(client.admin().describeGroup(groupId));
      if (!d.members().isEmpty()) {
        throw new IllegalArgumentException("group " + groupId + " has " + d.members().size()
            + " live member(s); the benchmark needs a group to itself");
      }
      for (GroupDescription.PartitionLag p : d.partitions()) {
        committed.put(p.partition(), p.committedOffset());
      }
    } catch (ExecutionException e) {
      if (!(RaftMqCli.unwrap(e) instanceof RaftMqException rme && rme.code() == ErrorCode.UNKNOWN_GROUP)) {
        throw e;
      }
    }
    try (Consumer offsets = client.consumer()) {
      Map<TopicPartition, Long> start = offsets.beginningOffsets(tps);
      Map<TopicPartition, Long> end = offsets.endOffsets(tps);
      Map<TopicPartition, Long> ends = new HashMap<>();
      for (TopicPartition tp : tps) {
        if (end.get(tp) > Math.max(start.get(tp), committed.getOrDefault(tp, -1L))) {
          ends.put(tp, end.get(tp));
        }
      }
      return ends;
    }
  }

  /**
   * The consumer threads and what they counted. They stop once {@code target} records arrived, or once
   * every partition of {@code ends} was read up to its end offset (duplicates a rebalance may bring
   * then do not cut the run short), or after {@code idleTimeout} without a record.
   */
  static final class Reading {
    final long target;
    /** The partitions not yet read to their end offsets. */
    final Map<TopicPartition, Long> pending;
    final Duration idleTimeout;
    final AtomicLong consumed = new AtomicLong();
    final AtomicLong bytes = new AtomicLong();
    final AtomicReference<Throwable> error = new AtomicReference<>();
    private final AtomicLong firstRecordAt = new AtomicLong();
    private final AtomicLong lastRecordAt = new AtomicLong();
    private long startedAt;

    Reading(long target, Map<TopicPartition, Long> ends, Duration idleTimeout) {
      this.target = target;
      this.pending = new ConcurrentHashMap<>(ends);
      this.idleTimeout = idleTimeout;
    }

    boolean done() {
      return consumed.get() >= target || (target == Long.MAX_VALUE && pending.isEmpty());
    }

    void run(RaftMqClient client, ConsumerConfig config, String topic, int threads) throws InterruptedException {
      run(List.of(client), config, topic, threads);
    }

    /** As {@link #run(RaftMqClient, ConsumerConfig, String, int)}, consumer {@code i} on {@code clients[i % size]}. */
    void run(List<RaftMqClient> clients, ConsumerConfig config, String topic, int threads) throws InterruptedException {
      startedAt = System.nanoTime();
      lastRecordAt.set(startedAt);
      List<Thread> ts = new ArrayList<>();
      for (int i = 0; i < threads; i++) {
        RaftMqClient client = clients.get(i % clients.size());
        Thread t = new Thread(() -> consume(client, config, topic), "raftmq-bench-consumer-" + i);
        ts.add(t);
        t.start();
      }
      for (Thread t : ts) {
        t.join();
      }
    }

    private void consume(RaftMqClient client, ConsumerConfig config, String topic) {
      try (Consumer consumer = client.consumer(config)) {
        consumer.subscribe(List.of(topic));
        while (!done() && error.get() == null && System.nanoTime() - lastRecordAt.get() < idleTimeout.toNanos()) {
          List<ConsumerRecord> records = consumer.poll(Duration.ofMillis(200));
          if (records.isEmpty()) {
            continue;
          }
          long now = System.nanoTime();
          firstRecordAt.compareAndSet(0, now);
          long size = 0;
          for (ConsumerRecord r : records) {
            size += (r.value() == null ? 0 : r.value().length) + (r.key() == null ? 0 : r.key().length);
            pending.computeIfPresent(r.topicPartition(), (tp, end) -> r.offset() + 1 >= end ? null : end);
          }
          bytes.addAndGet(size);
          consumed.addAndGet(records.size());
          lastRecordAt.accumulateAndGet(now, Math::max);
        }
      } catch (RuntimeException e) {
        error.compareAndSet(null, e);
      }
    }

    /** From the start to the first record: joining the group, the first assignment and fetch. */
    long joinNanos() {
      return firstRecordAt.get() == 0 ? 0 : firstRecordAt.get() - startedAt;
    }

    /** From the first record to the last (0 before the first). */
    private long elapsedNanos() {
      return firstRecordAt.get() == 0 ? 0 : lastRecordAt.get() - firstRecordAt.get();
    }

    /** Records per second, from the first record to the last. */
    double rate() {
      long nanos = elapsedNanos();
      return nanos == 0 ? 0 : consumed.get() * 1e9 / nanos;
    }

    String summary() {
      long nanos = elapsedNanos();
      return String.format(Locale.ROOT, "%d messages, %s in %.3f s", consumed.get(),
          BenchCommand.rates(consumed.get(), bytes.get(), nanos), nanos / 1e9);
    }
  }
}
