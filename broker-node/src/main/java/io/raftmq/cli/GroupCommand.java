package io.raftmq.cli;

import io.raftmq.client.GroupDescription;
import io.raftmq.client.GroupListing;
import io.raftmq.client.OffsetResetPlan;
import io.raftmq.client.OffsetResetSpec;
import io.raftmq.client.QueueGroupDescription;
import io.raftmq.client.QueueGroupListing;
import io.raftmq.client.QueueGroupSettings;
import io.raftmq.client.QueueOrdering;
import io.raftmq.client.RaftMqClient;
import io.raftmq.client.RaftMqException;
import io.raftmq.client.TopicPartition;
import io.raftmq.protocol.ErrorCode;
import java.io.PrintWriter;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.stream.Collectors;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/**
 * {@code raftmq group list|describe|reset-offsets|delete}: consumer groups (stream groups), and queue
 * groups in list and describe.
 */
@Command(name = "group", description = "List and describe consumer groups and queue groups; reset the offsets of, and "
    + "delete, consumer groups.",
    subcommands = {GroupCommand.ListGroups.class, GroupCommand.Describe.class, GroupCommand.ResetOffsets.class,
        GroupCommand.Delete.class})
final class GroupCommand implements Callable<Integer> {
  @ParentCommand
  RaftMqCli cli;

  @Spec
  CommandSpec spec;

  @Override
  public Integer call() {
    throw new ParameterException(spec.commandLine(), "missing subcommand: list, describe, reset-offsets or delete");
  }

  @Command(name = "list", description = {"List consumer groups: stream groups (state, generation, members, topics) and "
      + "queue groups (the topics where they exist).", "TYPE is stream (a consumer group with members and committed "
      + "offsets) or queue (a queue group: leases, acks, dead letters; see 'raftmq queue' and 'raftmq dlq')."})
  static final class ListGroups implements Callable<Integer> {
    @ParentCommand
    GroupCommand group;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
      List<GroupListing> streams;
      List<QueueGroupListing> queues;
      try (RaftMqClient client = group.cli.connect()) {
        CompletableFuture<List<GroupListing>> s = client.admin().listGroups();
        CompletableFuture<List<QueueGroupListing>> q = client.admin().listQueueGroups();
        streams = group.cli.await(s);
        queues = group.cli.await(q);
      }
      print(spec.commandLine().getOut(), render(streams, queues));
      return 0;
    }

    /** The table; nothing at all when there are no groups (as {@code topic list}). */
    static String render(List<GroupListing> groups) {
      return render(groups, List.of());
    }

    /**
     * Stream and queue groups in one table sorted by name (a stream group before a queue group of the
     * same name); a queue group is one row with every topic where it exists. Nothing when there are none.
     */
    static String render(List<GroupListing> groups, List<QueueGroupListing> queues) {
      if (groups.isEmpty() && queues.isEmpty()) {
        return "";
      }
      record Row(String name, int type, Object[] cells) {}
      List<Row> rows = new ArrayList<>();
      for (GroupListing g : groups) {
        rows.add(new Row(g.name(), 0, new Object[] {g.name(), "stream", g.state(), g.generation(), g.members(),
            g.topics().isEmpty() ? "-" : String.join(",", g.topics())}));
      }
      Map<String, TreeSet<String>> queueTopics = new TreeMap<>();
      queues.forEach(q -> queueTopics.computeIfAbsent(q.group(), k -> new TreeSet<>()).add(q.topic()));
      queueTopics.forEach((name, topics) ->
          rows.add(new Row(name, 1, new Object[] {name, "queue", "-", "-", "-", String.join(",", topics)})));
      rows.sort(Comparator.comparing(Row::name).thenComparingInt(Row::type));
      Table t = new Table("GROUP", "TYPE", "STATE", "GENERATION", "MEMBERS", "TOPICS");
      rows.forEach(r -> t.row(r.cells()));
      return t.render();
    }
  }

  @Command(name = "describe",
      description = {"Show a group's state and generation, its committed offsets and lag per partition, and its members.",
          "CURRENT-OFFSET is the committed offset (- if none), LOG-END-OFFSET the high watermark, LAG their "
              + "difference (the whole log if nothing is committed).",
          "For a queue group (when no stream group has the name): its settings and per partition IN-FLIGHT (leased "
              + "now), AVAILABLE (waiting: new or back after a failure), REDELIVERED (deliveries after the first, a "
              + "running total), DEAD (dead messages kept for redrive), LEASE-EXPIRIES (a running total), BACKLOG "
              + "(still to process: not yet seen, available and in flight) and ACKED (a running total)."})
  static final class Describe implements Callable<Integer> {
    @ParentCommand
    GroupCommand group;

    @Spec
    CommandSpec spec;

    @Parameters(index = "0", paramLabel = "GROUP")
    String name;

    @Override
    public Integer call() throws Exception {
      RaftMqCli cli = group.cli;
      try (RaftMqClient client = cli.connect()) {
        GroupDescription d;
        try {
          d = cli.await(client.admin().describeGroup(name));
        } catch (ExecutionException e) {
          if (!(RaftMqCli.unwrap(e) instanceof RaftMqException rme && rme.code() == ErrorCode.UNKNOWN_GROUP)) {
            throw e;
          }
          // Not a stream group: a queue group of that name, or neither (then the stream group's error).
          List<QueueGroupDescription> queues = describeQueueGroup(cli, client, name);
          if (queues.isEmpty()) {
            throw e;
          }
          print(spec.commandLine().getOut(), renderQueue(name, queues));
          return 0;
        }
        print(spec.commandLine().getOut(), render(d));
      }
      return 0;
    }

    /** The queue group {@code name} on every topic where it exists; empty if none. */
    static List<QueueGroupDescription> describeQueueGroup(RaftMqCli cli, RaftMqClient client, String name)
        throws Exception {
      List<QueueGroupDescription> out = new ArrayList<>();
      for (QueueGroupListing q : cli.await(client.admin().listQueueGroups())) {
        if (q.group().equals(name)) {
          out.add(cli.await(client.admin().describeQueue(q.topic(), name)));
        }
      }
      return out;
    }

    /** A queue group: the header, its settings (one line per distinct set) and the partition table. */
    static String renderQueue(String name, List<QueueGroupDescription> topics) {
      StringBuilder sb = new StringBuilder();
      sb.append("GROUP: ").append(name).append("  TYPE: queue  TOPICS: ")
          .append(topics.stream().map(QueueGroupDescription::topic).collect(Collectors.joining(","))).append('\n');
      Map<QueueGroupSettings, Map<String, TreeSet<Integer>>> bySettings = new LinkedHashMap<>();
      for (QueueGroupDescription d : topics) {
        for (QueueGroupDescription.Partition p : d.partitions()) {
          bySettings.computeIfAbsent(p.settings(), k -> new TreeMap<>())
              .computeIfAbsent(d.topic(), k -> new TreeSet<>()).add(p.partition());
        }
      }
      for (Map.Entry<QueueGroupSettings, Map<String, TreeSet<Integer>>> e : bySettings.entrySet()) {
        sb.append("SETTINGS");
        if (bySettings.size() > 1) {
          sb.append(" (").append(e.getValue().entrySet().stream()
              .map(t -> t.getKey() + ":" + t.getValue().stream().map(String::valueOf).collect(Collectors.joining(",")))
              .collect(Collectors.joining(" "))).append(')');
        }
        sb.append(": ").append(settings(e.getKey())).append('\n');
      }
      sb.append('\n');
      Table t = new Table("TOPIC", "PARTITION", "IN-FLIGHT", "AVAILABLE", "REDELIVERED", "DEAD", "LEASE-EXPIRIES",
          "BACKLOG", "ACKED");
      for (QueueGroupDescription d : topics) {
        for (QueueGroupDescription.Partition p : d.partitions()) {
          t.row(d.topic(), p.partition(), p.inFlight(), p.available(), p.redelivered(), p.dead(), p.leaseExpiries(),
              p.backlog(), p.acked());
        }
      }
      sb.append(t.render());
      return sb.toString();
    }

    /** {@code visibility-timeout=30s max-deliveries=5 backoff=1s..60s ...}. */
    static String settings(QueueGroupSettings s) {
      StringBuilder sb = new StringBuilder();
      sb.append("visibility-timeout=").append(Durations.format(Duration.ofMillis(s.visibilityTimeoutMs())))
          .append(" max-deliveries=").append(s.maxDeliveries() < 0 ? "unlimited" : String.valueOf(s.maxDeliveries()))
          .append(" backoff=").append(Durations.format(Duration.ofMillis(s.backoffBaseMs()))).append("..")
          .append(Durations.format(Duration.ofMillis(s.backoffMaxMs())))
          .append(" max-in-flight=").append(s.maxInFlight())
          .append(" ordering=").append(s.ordering().name().toLowerCase(Locale.ROOT));
      if (s.ordering() == QueueOrdering.KEY) {
        sb.append(" key-failure=").append(s.keyFailureMode().name().toLowerCase(Locale.ROOT));
      }
      sb.append(" max-redrives=").append(s.maxRedrives() < 0 ? "unlimited" : String.valueOf(s.maxRedrives()))
          .append(" dead-letter-topic=").append(s.deadLetterTopic());
      return sb.toString();
    }

    /** The header line, the partition table and the member table. */
    static String render(GroupDescription d) {
      StringBuilder sb = new StringBuilder();
      sb.append("GROUP: ").append(d.name())
          .append("  STATE: ").append(d.state())
          .append("  GENERATION: ").append(d.generation())
          .append("  ASSIGNOR: ").append(d.assignor()).append('\n');
      sb.append('\n');
      if (d.partitions().isEmpty()) {
        sb.append("no partitions: the group's topics are gone or it subscribed to none\n");
      } else {
        Table t = new Table("TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "MEMBER", "HOST");
        List<GroupDescription.PartitionLag> rows = d.partitions().stream()
            .sorted(Comparator.comparing((GroupDescription.PartitionLag p) -> p.partition().topic())
                .thenComparingInt(p -> p.partition().partition()))
            .toList();
        for (GroupDescription.PartitionLag p : rows) {
          t.row(p.partition().topic(), p.partition().partition(), offset(p.committedOffset()),
              offset(p.logEndOffset()), offset(p.lag()), orDash(p.memberId()), orDash(p.host()));
        }
        sb.append(t.render());
      }
      sb.append('\n');
      if (d.members().isEmpty()) {
        sb.append("no active members\n");
      } else {
        Table m = new Table("MEMBER", "CLIENT-ID", "HOST", "ASSIGNMENT");
        for (GroupDescription.Member member : d.members()) {
          m.row(member.memberId(), orDash(member.clientId()), orDash(member.host()), assignment(member));
        }
        sb.append(m.render());
      }
      return sb.toString();
    }

    /**
     * What a member consumes, as {@code topic:0,1 other:2}; {@code idle} when the assignor gives it
     * nothing; during a hand-over also where it is going, e.g. {@code t:0,1 (target t:0)}.
     */
    static String assignment(GroupDescription.Member m) {
      if (m.assignment().equals(m.target())) {
        return m.idle() ? "idle" : partitions(m.assignment());
      }
      String now = m.assignment().isEmpty() ? "none" : partitions(m.assignment());
      return now + " (target " + (m.idle() ? "idle" : partitions(m.target())) + ")";
    }

    /** {@code topic:0,1,2 other:0}, topics and partitions sorted. */
    static String partitions(Collection<TopicPartition> tps) {
      Map<String, TreeSet<Integer>> byTopic = new TreeMap<>();
      for (TopicPartition tp : tps) {
        byTopic.computeIfAbsent(tp.topic(), k -> new TreeSet<>()).add(tp.partition());
      }
      return byTopic.entrySet().stream()
          .map(e -> e.getKey() + ":" + e.getValue().stream().map(String::valueOf).collect(Collectors.joining(",")))
          .collect(Collectors.joining(" "));
    }
  }

  @Command(name = "reset-offsets", sortOptions = false,
      description = {"Move a group's committed offsets in every partition of a topic (clamped to the log start and end).",
          "A dry run that prints the plan unless --execute. Refused while the group has live members: stop them first."})
  static final class ResetOffsets implements Callable<Integer> {
    @ParentCommand
    GroupCommand group;

    @Spec
    CommandSpec spec;

    @Parameters(index = "0", paramLabel = "GROUP")
    String name;

    @Option(names = "--topic", required = true, paramLabel = "TOPIC", description = "The topic whose offsets move.")
    String topic;

    @ArgGroup(exclusive = true, multiplicity = "1", heading = "Where to (exactly one):%n")
    Target target;

    @Option(names = "--execute", description = "Commit the new offsets (without it nothing changes).")
    boolean execute;

    /** Exactly one of the five ways of saying where the offsets go. */
    static final class Target {
      @Option(names = "--to-earliest", required = true, description = "To each partition's log start offset.")
      boolean earliest;

      @Option(names = "--to-latest", required = true, description = "To each partition's end: skip everything so far.")
      boolean latest;

      @Option(names = "--to-offset", required = true, paramLabel = "N", description = "To offset N in every partition.")
      Long offset;

      @Option(names = "--to-datetime", required = true, paramLabel = "ISO", converter = DateTimes.class,
          description = "To the first record at or after this time: ISO-8601 like 2024-05-01T12:00:00Z or "
              + "2024-05-01T14:00+02:00; without an offset (2024-05-01T12:00, 2024-05-01) the time is UTC.")
      Instant datetime;

      @Option(names = "--shift-by", required = true, paramLabel = "N",
          description = "By N records from the committed offset (negative: back).")
      Long shiftBy;

      OffsetResetSpec spec() {
        if (earliest) {
          return new OffsetResetSpec.ToEarliest();
        }
        if (latest) {
          return new OffsetResetSpec.ToLatest();
        }
        if (offset != null) {
          if (offset < 0) {
            throw new IllegalArgumentException("--to-offset must be >= 0");
          }
          return new OffsetResetSpec.ToOffset(offset);
        }
        if (datetime != null) {
          return new OffsetResetSpec.ToDatetime(datetime);
        }
        return new OffsetResetSpec.ShiftBy(shiftBy);
      }
    }

    @Override
    public Integer call() throws Exception {
      OffsetResetSpec resetSpec = target.spec();
      OffsetResetPlan plan = group.cli.admin(a -> a.resetOffsets(name, topic, resetSpec, execute));
      print(spec.commandLine().getOut(), render(plan));
      print(spec.commandLine().getErr(), (plan.executed()
          ? "reset the offsets of group " + name + " in " + plan.rows().size() + " partition"
              + (plan.rows().size() == 1 ? "" : "s") + " of " + topic
          : "dry run: nothing changed; add --execute to commit these offsets") + "\n");
      return 0;
    }

    /** The plan as a table, by partition. */
    static String render(OffsetResetPlan plan) {
      Table t = new Table("TOPIC", "PARTITION", "CURRENT-OFFSET", "NEW-OFFSET");
      plan.rows().stream()
          .sorted(Comparator.comparing((OffsetResetPlan.Row r) -> r.partition().topic())
              .thenComparingInt(r -> r.partition().partition()))
          .forEach(r -> t.row(r.partition().topic(), r.partition().partition(), offset(r.currentOffset()),
              r.newOffset()));
      return t.render();
    }
  }

  @Command(name = "delete", description = "Delete a group without live members, with its committed offsets.")
  static final class Delete implements Callable<Integer> {
    @ParentCommand
    GroupCommand group;

    @Spec
    CommandSpec spec;

    @Parameters(index = "0", paramLabel = "GROUP")
    String name;

    @Override
    public Integer call() throws Exception {
      group.cli.admin(a -> a.deleteGroup(name));
      print(spec.commandLine().getOut(), "deleted group " + name + "\n");
      return 0;
    }
  }

  /** Prints {@code text} as it is (tables end with a newline) and flushes. */
  private static void print(PrintWriter out, String text) {
    out.print(text);
    out.flush();
  }

  /** An offset, or {@code -} for -1 (none, unknown). */
  static String offset(long offset) {
    return offset < 0 ? "-" : String.valueOf(offset);
  }

  private static String orDash(String s) {
    return s == null || s.isEmpty() ? "-" : s;
  }
}
