package io.raftmq.cli;

import io.raftmq.client.ConsumerRecord;
import io.raftmq.client.Delivery;
import io.raftmq.client.QueueConsumer;
import io.raftmq.client.QueueConsumerConfig;
import io.raftmq.client.RaftMqClient;
import io.raftmq.client.RaftMqException;
import io.raftmq.client.TopicDescription;
import io.raftmq.protocol.ErrorCode;
import java.io.PrintWriter;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/** {@code raftmq queue receive}: take messages from a queue group and settle them. */
@Command(name = "queue", description = "Receive messages as a member of a queue group (leases, ack, nack, reject).",
    subcommands = QueueCommand.Receive.class)
final class QueueCommand implements Callable<Integer> {
  @ParentCommand
  RaftMqCli cli;

  @Spec
  CommandSpec spec;

  @Override
  public Integer call() {
    throw new ParameterException(spec.commandLine(), "missing subcommand: receive");
  }

  /** How {@code queue receive} settles what it printed. */
  enum Settle {
    ACK, NACK, REJECT
  }

  /**
   * Leases up to {@code --max} messages of a topic in a queue group, prints each and settles it: ack
   * (the default, so that nothing stays leased, as an SQS receive followed by a delete or a RabbitMQ
   * {@code get} with ack mode {@code ack_requeue_false}), nack (back to the queue after the group's
   * backoff or {@code --delay}), or reject (dead-letter now with a reason).
   */
  @Command(name = "receive", sortOptions = false,
      description = {"Lease messages of TOPIC in queue group GROUP, print them and settle them: ack them (the default: "
          + "nothing stays leased and the group never delivers them again), nack them (--nack: they come back after "
          + "the group's backoff, or after --delay) or reject them (--reject REASON: dead-lettered at once).",
          "Stops after --max messages, or when --wait passes without a new one. Each message's delivery count "
              + "(%%c) says how often the group delivered it.",
          "A queue group comes into being on its first receive and starts at the end of each partition: it gets the "
              + "messages produced from then on. Several receivers of one group share its messages."})
  static final class Receive implements Callable<Integer> {
    /** Most messages asked for in one receive. */
    static final int MAX_BATCH = 500;

    @ParentCommand
    QueueCommand queue;

    @Spec
    CommandSpec spec;

    @Parameters(index = "0", paramLabel = "TOPIC")
    String topic;

    @Option(names = "--group", required = true, paramLabel = "GROUP", description = "The queue group.")
    String group;

    @Option(names = {"--max", "-n"}, paramLabel = "N", defaultValue = "1",
        description = "Stop after N messages (default ${DEFAULT-VALUE}).")
    long max;

    @Option(names = "--wait", paramLabel = "DURATION", defaultValue = "5s", converter = Durations.class,
        description = "Stop when no message came for this long; 0s asks once (default ${DEFAULT-VALUE}).")
    Duration wait;

    @ArgGroup(exclusive = true, multiplicity = "0..1", heading = "How to settle what was received (one; default --ack):%n")
    SettleChoice settle;

    @Option(names = "--delay", paramLabel = "DURATION", converter = Durations.class,
        description = "With --nack: make the messages available again after this delay instead of the group's backoff "
            + "(0s: at once).")
    Duration delay;

    @Option(names = "--format", paramLabel = "FORMAT", defaultValue = "partition=%p offset=%o delivery=%c key=%k value=%v",
        description = "Per message: %%t topic, %%p partition, %%o offset, %%c delivery count, %%k key, %%v value, "
            + "%%T timestamp, %%h headers, %%%% a percent sign; \\n \\t escapes (default '${DEFAULT-VALUE}').")
    String format;

    /** Exactly one way of settling. */
    static final class SettleChoice {
      @Option(names = "--ack", required = true,
          description = "Acknowledge: done, the group never delivers them again (the default).")
      boolean ack;

      @Option(names = "--nack", required = true,
          description = "Negative-acknowledge: back to the queue after the group's backoff (or --delay), counted as a "
              + "failed delivery; dead-lettered (MAX_DELIVERIES) if it was the last one allowed.")
      boolean nack;

      @Option(names = "--reject", required = true, paramLabel = "REASON",
          description = "Reject as a poison message: dead-lettered at once with reason REJECTED and this text.")
      String reject;
    }

    /** The settle verb chosen; ack when none was. */
    Settle mode() {
      if (settle == null || settle.ack) {
        return Settle.ACK;
      }
      return settle.nack ? Settle.NACK : Settle.REJECT;
    }

    /** Checks the options that picocli cannot; throws before any connection is made. */
    void validate() {
      if (max < 1) {
        throw new IllegalArgumentException("--max must be at least 1");
      }
      if (delay != null && mode() != Settle.NACK) {
        throw new ParameterException(spec.commandLine(), "--delay only goes with --nack");
      }
      if (mode() == Settle.REJECT && settle.reject.isBlank()) {
        throw new IllegalArgumentException("--reject needs a reason (it is kept with the dead letter)");
      }
    }

    @Override
    public Integer call() throws Exception {
      validate();
      RecordFormat fmt = RecordFormat.compileForDeliveries(format);
      RaftMqCli cli = queue.cli;
      PrintWriter out = spec.commandLine().getOut();
      PrintWriter err = spec.commandLine().getErr();
      Settle mode = mode();
      long received = 0;
      List<String> failures = new ArrayList<>();
      try (RaftMqClient client = cli.connect()) {
        QueueConsumerConfig config = QueueConsumerConfig.builder().groupId(group).topics(topic).build();
        TopicDescription t = BenchCommand.requireTopic(cli, client, topic);
        boolean isNew = !groupExists(cli, client);
        try (QueueConsumer consumer = client.queueConsumer(config)) {
          if (isNew) {
            // The first receive of a group creates it in the partitions it asks: ask them all at once.
            // A new group starts at each partition's end, so this leases nothing (unless another
            // receiver created the group meanwhile: then what it got is printed and settled as usual).
            err.println("note: queue group " + group + " is new on " + topic + ": it starts at the end of every "
                + "partition and gets the messages produced from now on");
            err.flush();
            List<Delivery> got = consumer.receive(Math.max(1, t.partitions().size()), Duration.ZERO);
            received += handle(got, fmt, mode, out, failures);
          }
          long idleNanos = wait.toNanos();
          long lastAt = System.nanoTime();
          boolean first = true;
          while (received < max) {
            long remaining = idleNanos - (System.nanoTime() - lastAt);
            if (remaining <= 0 && !first) {
              break;
            }
            first = false;
            int ask = (int) Math.min(max - received, MAX_BATCH);
            // Short rounds, so that with a small --max the receives rotate over the partitions.
            Duration round = Duration.ofNanos(Math.max(0, Math.min(remaining, TimeUnit.SECONDS.toNanos(1))));
            List<Delivery> got = consumer.receive(ask, round);
            if (got.isEmpty()) {
              continue;
            }
            lastAt = System.nanoTime();
            received += handle(got, fmt, mode, out, failures);
          }
        }
      }
      out.flush();
      failures.forEach(err::println);
      err.println(summary(received, received - failures.size(), mode, delay, topic, group));
      err.flush();
      return failures.isEmpty() ? 0 : RaftMqCli.EXIT_ERROR;
    }

    /** Whether the queue group exists on the topic (in at least one partition). */
    private boolean groupExists(RaftMqCli cli, RaftMqClient client) throws Exception {
      try {
        cli.await(client.admin().describeQueue(topic, group));
        return true;
      } catch (ExecutionException e) {
        if (RaftMqCli.unwrap(e) instanceof RaftMqException rme && rme.code() == ErrorCode.UNKNOWN_QUEUE_GROUP) {
          return false;
        }
        throw e;
      }
    }

    /**
     * Prints each delivery, settles them all and waits for the answers; a settle that failed adds an
     * error line to {@code failures}. Returns how many were handled.
     */
    private int handle(List<Delivery> got, RecordFormat fmt, Settle mode, PrintWriter out, List<String> failures)
        throws InterruptedException {
      List<CompletableFuture<Void>> settles = new ArrayList<>();
      for (Delivery d : got) {
        out.print(fmt.render(record(d), d.deliveryCount()));
        settles.add(switch (mode) {
          case ACK -> d.ack();
          case NACK -> delay == null ? d.nack() : d.nack(delay);
          case REJECT -> d.reject(settle.reject);
        });
      }
      out.flush();
      long deadline = System.nanoTime() + queue.cli.requestTimeout().toNanos() + TimeUnit.SECONDS.toNanos(5);
      for (int i = 0; i < got.size(); i++) {
        Delivery d = got.get(i);
        try {
          settles.get(i).get(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
        } catch (ExecutionException | java.util.concurrent.TimeoutException e) {
          failures.add("error: " + verb(mode) + " of " + d.topic() + " partition " + d.partition() + " offset "
              + d.offset() + " failed: " + RaftMqCli.describe(RaftMqCli.unwrap(e)));
        }
      }
      return got.size();
    }

    /** A delivery as the record {@link RecordFormat} renders. */
    static ConsumerRecord record(Delivery d) {
      return new ConsumerRecord(d.topic(), d.partition(), d.offset(), d.timestamp(), d.logTimeMs(), d.key(), d.value(),
          d.headers());
    }

    private static String verb(Settle mode) {
      return switch (mode) {
        case ACK -> "ack";
        case NACK -> "nack";
        case REJECT -> "reject";
      };
    }

    /** The closing line on stderr: how many were received and what became of them. */
    static String summary(long received, long settled, Settle mode, Duration delay, String topic, String group) {
      StringBuilder sb = new StringBuilder("received ").append(received).append(" message")
          .append(received == 1 ? "" : "s").append(" from ").append(topic).append(" in queue group ").append(group);
      if (received == 0) {
        return sb.toString();
      }
      sb.append("; ");
      switch (mode) {
        case ACK -> sb.append("acked ").append(settled);
        case NACK -> sb.append("nacked ").append(settled).append(delay == null
            ? " (they come back after the group's backoff)"
            : " (they come back after " + Durations.format(delay) + ")");
        case REJECT -> sb.append("rejected ").append(settled).append(" (dead-lettered; see 'raftmq dlq show ")
            .append(topic).append(" --group ").append(group).append("')");
        default -> throw new IllegalStateException(String.valueOf(mode));
      }
      if (settled < received) {
        sb.append("; ").append(received - settled).append(" could not be settled (see above)");
      }
      return sb.toString();
    }
  }
}
