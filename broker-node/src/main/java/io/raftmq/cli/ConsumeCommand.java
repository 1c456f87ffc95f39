package io.raftmq.cli;

import io.raftmq.client.Consumer;
import io.raftmq.client.ConsumerConfig;
import io.raftmq.client.ConsumerRecord;
import io.raftmq.client.OffsetReset;
import io.raftmq.client.PartitionInfo;
import io.raftmq.client.RaftMqClient;
import io.raftmq.client.TopicDescription;
import io.raftmq.client.TopicPartition;
import java.io.PrintWriter;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/**
 * {@code raftmq consume TOPIC}: prints records of one or all partitions of a topic until
 * {@code --max-messages} were printed or {@code --timeout} passed without a new record. Like Kafka's
 * console consumer it starts at the end unless told {@code --from earliest} or an offset.
 */
@Command(name = "consume", sortOptions = false,
    description = {"Print records of a topic (all partitions unless --partition).",
        "Stops after --max-messages records, or when --timeout passes without a new one."})
final class ConsumeCommand implements Callable<Integer> {
  @ParentCommand
  RaftMqCli cli;

  @Spec
  CommandSpec spec;

  @Parameters(index = "0", paramLabel = "TOPIC")
  String topic;

  @Option(names = "--partition", paramLabel = "P", description = "Read only partition P.")
  Integer partition;

  @Option(names = "--from", paramLabel = "earliest|latest|OFFSET", defaultValue = "latest",
      converter = StartPosition.Converter.class,
      description = "Where to start: the oldest record, only new records (default), or an offset (in every partition read).")
  StartPosition from;

  @Option(names = {"--max-messages", "-n"}, paramLabel = "N", description = "Stop after N records.")
  Long maxMessages;

  @Option(names = "--timeout", paramLabel = "DURATION", defaultValue = "10s", converter = Durations.class,
      description = "Stop when no record arrived for this long, e.g. 500ms, 5s, 2m, PT1M (default ${DEFAULT-VALUE}).")
  Duration timeout;

  @Option(names = "--format", paramLabel = "FORMAT", defaultValue = "%v",
      description = "Per record: %%t topic, %%p partition, %%o offset, %%k key, %%v value, %%T timestamp, "
          + "%%h headers, %%%% a percent sign; \\n \\t escapes. A newline ends each record (default '${DEFAULT-VALUE}').")
  String format;

  /** Where reading starts: {@code earliest}, {@code latest} or a fixed offset. */
  record StartPosition(OffsetReset reset, long offset) {
    static StartPosition parse(String s) {
      String v = s.trim().toLowerCase(Locale.ROOT);
      switch (v) {
        case "earliest", "beginning", "start", "oldest" -> {
          return new StartPosition(OffsetReset.EARLIEST, -1);
        }
        case "latest", "end", "newest" -> {
          return new StartPosition(OffsetReset.LATEST, -1);
        }
        default -> {
          try {
            long offset = Long.parseLong(v);
            if (offset >= 0) {
              return new StartPosition(OffsetReset.NONE, offset);
            }
          } catch (NumberFormatException e) {
            // fall through to the message below
          }
          throw new IllegalArgumentException("bad --from '" + s + "': expected earliest, latest or an offset >= 0");
        }
      }
    }

    /** picocli's hook. */
    static final class Converter implements ITypeConverter<StartPosition> {
      @Override
      public StartPosition convert(String value) {
        return parse(value);
      }
    }
  }

  @Override
  public Integer call() throws Exception {
    RecordFormat fmt = RecordFormat.compile(format);
    if (maxMessages != null && maxMessages < 1) {
      throw new IllegalArgumentException("--max-messages must be at least 1");
    }
    if (timeout.isZero()) {
      throw new IllegalArgumentException("--timeout must be positive");
    }
    PrintWriter out = spec.commandLine().getOut();
    PrintWriter err = spec.commandLine().getErr();
    long printed = 0;
    try (RaftMqClient client = cli.connect()) {
      List<TopicPartition> tps = partitions(client);
      ConsumerConfig config = ConsumerConfig.builder()
          .autoOffsetReset(from.reset())
          .fetchMaxWait(Duration.ofMillis(Math.min(500, Math.max(1, timeout.toMillis()))))
          .build();
      try (Consumer consumer = client.consumer(config)) {
        consumer.assign(tps);
        switch (from.reset()) {
          case EARLIEST -> consumer.seekToBeginning(tps);
          case LATEST -> consumer.seekToEnd(tps);
          case NONE -> tps.forEach(tp -> consumer.seek(tp, from.offset()));
          default -> throw new IllegalStateException("start " + from);
        }
        long limit = maxMessages == null ? Long.MAX_VALUE : maxMessages;
        long timeoutNanos = timeout.toNanos();
        long lastRecordAt = System.nanoTime();
        while (printed < limit) {
          long remaining = timeoutNanos - (System.nanoTime() - lastRecordAt);
          if (remaining <= 0) {
            break;
          }
          List<ConsumerRecord> records = consumer.poll(Duration.ofNanos(Math.min(remaining, TimeUnit.SECONDS.toNanos(1))));
          if (records.isEmpty()) {
            continue;
          }
          lastRecordAt = System.nanoTime();
          for (ConsumerRecord r : records) {
            out.print(fmt.render(r));
            if (++printed >= limit) {
              break;
            }
          }
          out.flush();
        }
      }
    }
    out.flush();
    err.println("consumed " + printed + " message" + (printed == 1 ? "" : "s") + " from " + topic);
    err.flush();
    return 0;
  }

  /** The partitions to read: the one asked for, or all of the topic's. */
  private List<TopicPartition> partitions(RaftMqClient client) throws Exception {
    TopicDescription d = client.admin().describeTopic(topic)
        .get(cli.requestTimeout().toMillis() + 5_000, TimeUnit.MILLISECONDS);
    List<TopicPartition> all = d.partitions().stream().map(PartitionInfo::partition)
        .map(p -> new TopicPartition(topic, p)).toList();
    if (partition == null) {
      return all;
    }
    TopicPartition tp = new TopicPartition(topic, partition);
    if (!all.contains(tp)) {
      throw new IllegalArgumentException("topic " + topic + " has no partition " + partition
          + " (it has " + all.size() + ")");
    }
    return List.of(tp);
  }
}
