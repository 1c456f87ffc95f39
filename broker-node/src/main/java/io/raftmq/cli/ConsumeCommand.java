package io.raftmq.cli;

import io.raftmq.client.Consumer;
import io.raftmq.client.ConsumerConfig;
import io.raftmq.client.ConsumerRecord;
import io.raftmq.client.OffsetReset;
import io.raftmq.client.PartitionInfo;
import io.raftmq.client.RaftMqClient;
import io.raftmq.client.RaftMqException;
import io.raftmq.client.TopicDescription;
import io.raftmq.client.TopicPartition;
import io.raftmq.protocol.ErrorCode;
import java.io.PrintWriter;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/**
 * {@code raftmq consume TOPIC}: prints records of one or all partitions of a topic, or of the partitions
 * its consumer group gives it ({@code --group}), until {@code --max-messages} were printed or
 * {@code --timeout} passed without a new record. Like Kafka's console consumer it starts at the end
 * unless told {@code --from earliest} or an offset (in a group: where nothing is committed).
 */
@Command(name = "consume", sortOptions = false,
    description = {"Print records of a topic (all partitions unless --partition; those the group assigns with --group).",
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

  @Option(names = "--group", paramLabel = "GROUP",
      description = {"Join consumer group GROUP (subscribe) instead of reading every partition: the group's members "
          + "share the partitions and resume from its committed offsets. Each poll's records are committed after "
          + "they are printed; on exit the consumer commits and leaves the group.",
          "--from then only says where partitions without a committed offset start (earliest or latest)."})
  String group;

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
    if (group != null && partition != null) {
      throw new ParameterException(spec.commandLine(),
          "--partition and --group cannot be combined: a group assigns the partitions to its members");
    }
    if (group != null && from.reset() == OffsetReset.NONE) {
      throw new ParameterException(spec.commandLine(), "--from OFFSET cannot be used with --group (only earliest or "
          + "latest, for partitions without a committed offset); move a group with 'raftmq group reset-offsets'");
    }
    PrintWriter out = spec.commandLine().getOut();
    PrintWriter err = spec.commandLine().getErr();
    long printed = 0;
    try (RaftMqClient client = cli.connect()) {
      List<TopicPartition> tps = partitions(client);
      ConsumerConfig.Builder config = ConsumerConfig.builder()
          .autoOffsetReset(from.reset())
          .fetchMaxWait(Duration.ofMillis(Math.min(500, Math.max(1, timeout.toMillis()))));
      if (group != null) {
        // Commits are explicit, after printing, and of what was printed only (see below).
        config.groupId(group).enableAutoCommit(false);
      }
      try (Consumer consumer = client.consumer(config.build())) {
        if (group != null) {
          consumer.subscribe(List.of(topic));
        } else {
          consumer.assign(tps);
          switch (from.reset()) {
            case EARLIEST -> consumer.seekToBeginning(tps);
            case LATEST -> consumer.seekToEnd(tps);
            case NONE -> tps.forEach(tp -> consumer.seek(tp, from.offset()));
            default -> throw new IllegalStateException("start " + from);
          }
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
          Map<TopicPartition, Long> printedUpTo = new HashMap<>();
          for (ConsumerRecord r : records) {
            out.print(fmt.render(r));
            printedUpTo.put(r.topicPartition(), r.offset() + 1);
            if (++printed >= limit) {
              break;
            }
          }
          out.flush();
          if (group != null) {
            commit(consumer, printedUpTo, err);
          }
        }
      }
    }
    out.flush();
    err.println("consumed " + printed + " message" + (printed == 1 ? "" : "s") + " from " + topic
        + (group == null ? "" : " in group " + group));
    err.flush();
    return 0;
  }

  /**
   * Commits the offsets after the records of one poll that were printed: printed before committed makes
   * delivery at-least-once, and committing what was printed (not the consumer's position, which may be
   * past records the poll returned beyond --max-messages) loses none. A partition that moved to another member
   * meanwhile is not an error for a console consumer: the new owner resumes from the last commit.
   */
  private static void commit(Consumer consumer, Map<TopicPartition, Long> printedUpTo, PrintWriter err) {
    Map<TopicPartition, Long> owned = new HashMap<>(printedUpTo);
    owned.keySet().retainAll(consumer.assignment());
    if (owned.isEmpty()) {
      return;
    }
    try {
      consumer.commitSync(owned);
    } catch (RaftMqException e) {
      if (e.code() != ErrorCode.GENERATION_FENCED && e.code() != ErrorCode.UNKNOWN_MEMBER) {
        throw e;
      }
      err.println("warning: commit refused (" + RaftMqCli.describe(e) + "); the records since the last commit "
          + "will be delivered again");
      err.flush();
    }
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
