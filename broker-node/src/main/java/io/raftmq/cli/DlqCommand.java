package io.raftmq.cli;

import io.raftmq.client.Admin;
import io.raftmq.client.Consumer;
import io.raftmq.client.ConsumerConfig;
import io.raftmq.client.ConsumerRecord;
import io.raftmq.client.DeadLetterEntry;
import io.raftmq.client.DeadLetters;
import io.raftmq.client.OffsetReset;
import io.raftmq.client.PartitionInfo;
import io.raftmq.client.QueueGroupDescription;
import io.raftmq.client.QueueGroupListing;
import io.raftmq.client.RaftMqClient;
import io.raftmq.client.RaftMqException;
import io.raftmq.client.RedriveFilter;
import io.raftmq.client.RedriveResult;
import io.raftmq.client.TopicDescription;
import io.raftmq.client.TopicPartition;
import io.raftmq.protocol.ErrorCode;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/**
 * {@code raftmq dlq list|show|redrive|purge}: the dead messages of queue groups. A queue group's dead
 * messages are kept in its source partitions (so they can be listed, redriven in place or purged), and
 * a copy of each goes to its dead-letter topic ({@code <topic>.dlq.<group>} unless configured), an
 * ordinary topic with provenance headers.
 */
@Command(name = "dlq", description = "Dead letters of queue groups: list, show, redrive (back to the queue), purge.",
    subcommands = {DlqCommand.ListDlqs.class, DlqCommand.Show.class, DlqCommand.Redrive.class, DlqCommand.Purge.class})
final class DlqCommand implements Callable<Integer> {
  /** Most dead entries the broker lists per partition in one describe. */
  static final int MAX_DEAD_LIMIT = 10_000;
  /** Longest a text cell (key, value, error) is printed without --wide. */
  static final int CELL_WIDTH = 40;

  @ParentCommand
  RaftMqCli cli;

  @Spec
  CommandSpec spec;

  @Override
  public Integer call() {
    throw new ParameterException(spec.commandLine(), "missing subcommand: list, show, redrive or purge");
  }

  /** TOPIC and --group: which queue group's dead letters. */
  static final class Target {
    @Parameters(index = "0", paramLabel = "TOPIC", description = "The source topic (not the dead-letter topic).")
    String topic;

    @Option(names = "--group", required = true, paramLabel = "GROUP", description = "The queue group.")
    String group;
  }

  /** The filters of redrive and purge: which dead messages. Every filter given must hold. */
  static final class Filters {
    @Option(names = "--reason", paramLabel = "REASON",
        description = "Only messages dead for this reason: MAX_DELIVERIES, REJECTED or EXPIRED.")
    String reason;

    @Option(names = "--since", paramLabel = "TIME", converter = DateTimes.OrAgo.class,
        description = "Only messages that died at or after TIME: ISO-8601 (2024-05-01T12:00:00Z; without an offset "
            + "the time is UTC) or a duration ago (30m, 2h).")
    Instant since;

    @Option(names = "--until", paramLabel = "TIME", converter = DateTimes.OrAgo.class,
        description = "Only messages that died before TIME (same forms as --since).")
    Instant until;

    @Option(names = "--key", paramLabel = "KEY", description = "Only messages with this key (UTF-8).")
    String key;

    @Option(names = "--from-offset", paramLabel = "N", description = "Only offsets >= N (in every partition).")
    Long fromOffset;

    @Option(names = "--to-offset", paramLabel = "N", description = "Only offsets < N (in every partition).")
    Long toOffset;

    @Option(names = "--limit", paramLabel = "N", description = "At most N messages per partition.")
    Integer limit;

    /**
     * The filter; throws {@link IllegalArgumentException} naming the option on a bad or empty range. The
     * reason is sent in upper case; the broker refuses an unknown one ({@code INVALID_REQUEST}).
     */
    RedriveFilter build() {
      RedriveFilter.Builder b = RedriveFilter.builder();
      if (reason != null) {
        if (reason.isBlank()) {
          throw new IllegalArgumentException("--reason must not be empty (MAX_DELIVERIES, REJECTED or EXPIRED)");
        }
        b.reason(reason.trim().toUpperCase(Locale.ROOT));
      }
      if (since != null && until != null && !since.isBefore(until)) {
        throw new IllegalArgumentException("--since (" + since + ") must be before --until (" + until + ")");
      }
      b.fromTime(since).toTime(until);
      if (key != null) {
        b.key(key);
      }
      if (fromOffset != null) {
        BenchCommand.atLeast("--from-offset", fromOffset, 0);
        b.fromOffset(fromOffset);
      }
      if (toOffset != null) {
        BenchCommand.atLeast("--to-offset", toOffset, 1);
        if (fromOffset != null && fromOffset >= toOffset) {
          throw new IllegalArgumentException("--from-offset (" + fromOffset + ") must be below --to-offset ("
              + toOffset + ")");
        }
        b.toOffset(toOffset);
      }
      if (limit != null) {
        BenchCommand.atLeast("--limit", limit, 1);
        b.limit(limit);
      }
      return b.build();
    }
  }

  @Command(name = "list", description = {"List every queue group with its dead-letter queue: SOURCE-TOPIC GROUP DLQ-TOPIC "
      + "DEPTH OLDEST-AGE TOP-REASON.",
      "DEPTH counts the group's dead messages (those that can still be redriven or purged); OLDEST-AGE is how long "
          + "ago the oldest of them died; TOP-REASON the most frequent reason."})
  static final class ListDlqs implements Callable<Integer> {
    @ParentCommand
    DlqCommand dlq;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
      List<QueueGroupListing> groups = dlq.cli.admin(Admin::listQueueGroups);
      print(spec.commandLine().getOut(), render(groups, System.currentTimeMillis()));
      return 0;
    }

    /** The table; nothing at all when there are no queue groups (as {@code group list}). */
    static String render(List<QueueGroupListing> groups, long nowMs) {
      if (groups.isEmpty()) {
        return "";
      }
      Table t = new Table("SOURCE-TOPIC", "GROUP", "DLQ-TOPIC", "DEPTH", "OLDEST-AGE", "TOP-REASON");
      for (QueueGroupListing g : groups) {
        t.row(g.topic(), g.group(), g.deadLetterTopic(), g.dead(),
            g.dead() == 0 || g.oldestDeadMs() <= 0 ? "-" : age(nowMs - g.oldestDeadMs()),
            g.topReason().isEmpty() ? "-" : g.topReason());
      }
      return t.render();
    }
  }

  /** One dead message as {@code dlq show} prints it. */
  record Row(int partition, long offset, int attempts, String reason, String errorClass, String errorMessage,
      long deadAtMs, byte[] key, byte[] value, boolean found, Boolean stillDead) {}

  @Command(name = "show", sortOptions = false,
      description = {"Show a queue group's dead messages, oldest first: PARTITION OFFSET ATTEMPTS REASON AGE ERROR KEY "
          + "VALUE.",
          "By default those still dead (not redriven or purged), with key and value read from the source topic. "
              + "With --all every copy in the group's dead-letter topic, and whether it is still dead."})
  static final class Show implements Callable<Integer> {
    @ParentCommand
    DlqCommand dlq;

    @Spec
    CommandSpec spec;

    @Mixin
    Target target;

    @Option(names = {"-n", "--max"}, paramLabel = "N", defaultValue = "20",
        description = "Show at most N (default ${DEFAULT-VALUE}).")
    int max;

    @Option(names = "--all", description = "Every dead letter copied to the dead-letter topic, redriven and purged "
        + "ones too (STILL-DEAD says which are not).")
    boolean all;

    @Option(names = "--wide", description = "Print keys, values and errors whole (default: cut at "
        + CELL_WIDTH + " characters).")
    boolean wide;

    @Override
    public Integer call() throws Exception {
      BenchCommand.atLeast("-n", max, 1);
      RaftMqCli cli = dlq.cli;
      PrintWriter out = spec.commandLine().getOut();
      PrintWriter err = spec.commandLine().getErr();
      String topic = target.topic;
      String group = target.group;
      try (RaftMqClient client = cli.connect()) {
        QueueGroupDescription d = cli.await(client.admin().describeQueue(topic, group, all ? MAX_DEAD_LIMIT : max));
        List<Row> rows;
        String note;
        if (all) {
          Set<String> dlqTopics = new TreeSet<>();
          d.partitions().forEach(p -> dlqTopics.add(p.deadLetterTopic()));
          rows = readDeadLetterTopics(cli, client, dlqTopics, d);
          long still = rows.stream().filter(r -> Boolean.TRUE.equals(r.stillDead())).count();
          note = rows.size() + " dead letter" + (rows.size() == 1 ? "" : "s") + " of queue group " + group + " on "
              + topic + " in " + String.join(", ", dlqTopics) + (rows.size() >= max ? " (the first " + max + ")" : "")
              + "; " + still + " of them still dead";
        } else {
          rows = stillDead(cli, client, d);
          note = rows.size() + " of " + d.dead() + " dead message" + (d.dead() == 1 ? "" : "s") + " of queue group "
              + group + " on " + topic + ", oldest first" + (rows.size() < d.dead() ? "; -n N shows more" : "");
        }
        print(out, render(rows, all, wide, System.currentTimeMillis()));
        print(err, note + "\n");
      }
      return 0;
    }

    /** The oldest {@link #max} dead entries over all partitions, with their records from the source topic. */
    private List<Row> stillDead(RaftMqCli cli, RaftMqClient client, QueueGroupDescription d) throws Exception {
      record Dead(int partition, DeadLetterEntry e) {}
      List<Dead> dead = new ArrayList<>();
      d.partitions().forEach(p -> p.deadEntries().forEach(e -> dead.add(new Dead(p.partition(), e))));
      dead.sort(Comparator.comparingLong((Dead x) -> x.e().deadAtMs()).thenComparingInt(Dead::partition)
          .thenComparingLong(x -> x.e().offset()));
      List<Dead> shown = dead.subList(0, Math.min(max, dead.size()));
      Map<TopicPartition, Set<Long>> wanted = new HashMap<>();
      shown.forEach(x -> wanted.computeIfAbsent(new TopicPartition(d.topic(), x.partition()), k -> new TreeSet<>())
          .add(x.e().offset()));
      Map<TopicPartition, Map<Long, ConsumerRecord>> records = readRecords(cli, client, wanted);
      List<Row> rows = new ArrayList<>();
      for (Dead x : shown) {
        DeadLetterEntry e = x.e();
        ConsumerRecord r = records.getOrDefault(new TopicPartition(d.topic(), x.partition()), Map.of()).get(e.offset());
        rows.add(new Row(x.partition(), e.offset(), e.attempts(), e.reason(), e.errorClass(), e.errorMessage(),
            e.deadAtMs(), r == null ? null : r.key(), r == null ? null : r.value(), r != null, null));
      }
      return rows;
    }

    /**
     * The records at {@code wanted} offsets of the source topic: per partition, seeks to each offset not
     * read yet and polls until it is passed. Offsets below the log start (removed by retention) are left out.
     */
    static Map<TopicPartition, Map<Long, ConsumerRecord>> readRecords(RaftMqCli cli, RaftMqClient client,
        Map<TopicPartition, Set<Long>> wanted) {
      Map<TopicPartition, Map<Long, ConsumerRecord>> found = new HashMap<>();
      if (wanted.isEmpty()) {
        return found;
      }
      try (Consumer c = client.consumer(ConsumerConfig.builder().autoOffsetReset(OffsetReset.NONE)
          .fetchMaxWait(Duration.ofMillis(200)).build())) {
        Map<TopicPartition, Long> starts = c.beginningOffsets(wanted.keySet());
        Map<TopicPartition, Long> ends = c.endOffsets(wanted.keySet());
        for (Map.Entry<TopicPartition, Set<Long>> w : wanted.entrySet()) {
          TopicPartition tp = w.getKey();
          Map<Long, ConsumerRecord> got = found.computeIfAbsent(tp, k -> new HashMap<>());
          c.assign(List.of(tp));
          for (long offset : w.getValue()) {
            if (got.containsKey(offset) || offset < starts.get(tp) || offset >= ends.get(tp)) {
              continue;
            }
            c.seek(tp, offset);
            long deadline = System.nanoTime() + cli.requestTimeout().toNanos();
            boolean passed = false;
            while (!passed && System.nanoTime() < deadline) {
              for (ConsumerRecord r : c.poll(Duration.ofMillis(200))) {
                if (w.getValue().contains(r.offset())) {
                  got.put(r.offset(), r);
                }
                passed |= r.offset() >= offset;
              }
            }
          }
        }
      }
      return found;
    }

    /**
     * The copies in the dead-letter topics that came from {@code d}'s topic and group, oldest first, at
     * most {@link #max}: read from each topic's start up to its end when the reading began. STILL-DEAD
     * compares each copy with the partition's dead entries (same offset and time of death).
     */
    private List<Row> readDeadLetterTopics(RaftMqCli cli, RaftMqClient client, Set<String> dlqTopics,
        QueueGroupDescription d) throws Exception {
      Map<Integer, Map<Long, Long>> deadAt = new HashMap<>();
      d.partitions().forEach(p -> p.deadEntries().forEach(e ->
          deadAt.computeIfAbsent(p.partition(), k -> new HashMap<>()).put(e.offset(), e.deadAtMs())));
      List<TopicPartition> tps = new ArrayList<>();
      for (String t : dlqTopics) {
        TopicDescription td;
        try {
          td = cli.await(client.admin().describeTopic(t));
        } catch (ExecutionException e) {
          if (RaftMqCli.unwrap(e) instanceof RaftMqException rme && rme.code() == ErrorCode.UNKNOWN_TOPIC) {
            continue; // nothing was dead-lettered to it yet
          }
          throw e;
        }
        for (PartitionInfo p : td.partitions()) {
          tps.add(new TopicPartition(t, p.partition()));
        }
      }
      List<Row> rows = new ArrayList<>();
      if (tps.isEmpty()) {
        return rows;
      }
      try (Consumer c = client.consumer(ConsumerConfig.builder().autoOffsetReset(OffsetReset.EARLIEST)
          .fetchMaxWait(Duration.ofMillis(200)).build())) {
        c.assign(tps);
        c.seekToBeginning(tps);
        Map<TopicPartition, Long> ends = new HashMap<>(c.endOffsets(tps));
        ends.entrySet().removeIf(e -> e.getValue() <= 0);
        long idleDeadline = System.nanoTime() + cli.requestTimeout().toNanos();
        while (!ends.isEmpty() && System.nanoTime() < idleDeadline) {
          List<ConsumerRecord> batch = c.poll(Duration.ofMillis(200));
          if (!batch.isEmpty()) {
            idleDeadline = System.nanoTime() + cli.requestTimeout().toNanos();
          }
          for (ConsumerRecord r : batch) {
            TopicPartition tp = r.topicPartition();
            Long end = ends.get(tp);
            if (end == null || r.offset() >= end) {
              continue;
            }
            if (r.offset() + 1 >= end) {
              ends.remove(tp);
            }
            Row row = fromCopy(r, d.topic(), d.group(), deadAt);
            if (row != null) {
              rows.add(row);
            }
          }
        }
      }
      rows.sort(Comparator.comparingLong(Row::deadAtMs).thenComparingInt(Row::partition)
          .thenComparingLong(Row::offset));
      return new ArrayList<>(rows.subList(0, Math.min(max, rows.size())));
    }

    /** A dead-letter copy as a row, or null if it is another topic's or group's (a shared DLQ topic). */
    static Row fromCopy(ConsumerRecord r, String topic, String group, Map<Integer, Map<Long, Long>> deadAt) {
      if (!topic.equals(header(r, DeadLetters.ORIGINAL_TOPIC)) || !group.equals(header(r, DeadLetters.GROUP))) {
        return null;
      }
      int partition = (int) number(header(r, DeadLetters.ORIGINAL_PARTITION));
      long offset = number(header(r, DeadLetters.ORIGINAL_OFFSET));
      long deadAtMs = number(header(r, DeadLetters.DEAD_AT_MS));
      Long now = deadAt.getOrDefault(partition, Map.of()).get(offset);
      return new Row(partition, offset, (int) number(header(r, DeadLetters.ATTEMPTS)),
          orEmpty(header(r, DeadLetters.REASON)), orEmpty(header(r, DeadLetters.ERROR_CLASS)),
          orEmpty(header(r, DeadLetters.ERROR_MESSAGE)), deadAtMs, r.key(), r.value(), true,
          now != null && now == deadAtMs);
    }

    /** The rows as a table; nothing when there are none. */
    static String render(List<Row> rows, boolean all, boolean wide, long nowMs) {
      if (rows.isEmpty()) {
        return "";
      }
      Table t = all
          ? new Table("PARTITION", "OFFSET", "ATTEMPTS", "REASON", "AGE", "ERROR", "KEY", "VALUE", "STILL-DEAD")
          : new Table("PARTITION", "OFFSET", "ATTEMPTS", "REASON", "AGE", "ERROR", "KEY", "VALUE");
      int width = wide ? Integer.MAX_VALUE : CELL_WIDTH;
      for (Row r : rows) {
        String key = r.found() ? cell(r.key(), width) : "?";
        String value = r.found() ? cell(r.value(), width) : "(no longer in the log)";
        String age = r.deadAtMs() <= 0 ? "-" : age(nowMs - r.deadAtMs());
        String error = cell(error(r.errorClass(), r.errorMessage(), wide), width);
        if (all) {
          t.row(r.partition(), r.offset(), r.attempts(), orDash(r.reason()), age, error, key, value,
              Boolean.TRUE.equals(r.stillDead()) ? "yes" : "no");
        } else {
          t.row(r.partition(), r.offset(), r.attempts(), orDash(r.reason()), age, error, key, value);
        }
      }
      return t.render();
    }

    /** {@code SimpleClass: message} (the full class name when wide), the message alone, or empty. */
    static String error(String errorClass, String message, boolean wide) {
      String cls = errorClass == null ? "" : errorClass;
      if (!wide && cls.lastIndexOf('.') >= 0) {
        cls = cls.substring(cls.lastIndexOf('.') + 1);
      }
      String msg = message == null ? "" : message;
      if (cls.isEmpty()) {
        return msg;
      }
      return msg.isEmpty() ? cls : cls + ": " + msg;
    }
  }

  @Command(name = "redrive", sortOptions = false,
      description = {"Return a queue group's dead messages to its queue, in place: they are delivered again to that "
          + "group only (other groups see nothing), with a fresh delivery count; no payload is republished.",
          "A dry run that prints the plan (per partition how many, and how many the loop guard keeps dead: those "
              + "redriven max-redrives times already) unless --execute. --rate paces it."})
  static final class Redrive implements Callable<Integer> {
    @ParentCommand
    DlqCommand dlq;

    @Spec
    CommandSpec spec;

    @Mixin
    Target target;

    @Mixin
    Filters filters;

    @Option(names = "--rate", paramLabel = "MSGS/S",
        description = "Redrive at most this many messages per second over all partitions (default: all at once).")
    Integer rate;

    @Option(names = "--execute", description = "Redrive (without it nothing changes).")
    boolean execute;

    @Override
    public Integer call() throws Exception {
      RedriveFilter filter = filters.build();
      if (rate != null) {
        BenchCommand.atLeast("--rate", rate, 1);
      }
      RaftMqCli cli = dlq.cli;
      PrintWriter out = spec.commandLine().getOut();
      PrintWriter err = spec.commandLine().getErr();
      String topic = target.topic;
      String group = target.group;
      try (RaftMqClient client = cli.connect()) {
        RedriveResult plan = cli.await(client.admin().redrive(topic, group, filter, true));
        if (!execute || plan.count() == 0) {
          print(out, renderPlan(plan));
          print(err, (plan.count() == 0 ? "nothing to redrive: no dead message of queue group " + group + " on "
              + topic + " matches" + kept(plan)
              : "dry run: nothing changed; add --execute to return " + these(plan.count(), "message")
                  + " to queue group " + group + (rate == null ? "" : " at " + rate + " msg/s") + kept(plan))
              + "\n");
          return 0;
        }
        RedriveResult done;
        if (rate == null) {
          done = cli.await(client.admin().redrive(topic, group, filter, false));
        } else {
          // Paced: rounds a second apart until the partitions run dry; bound the wait by the plan.
          long bound = cli.requestTimeout().toMillis() + 5_000 + 2_000L * (plan.count() / rate + 2);
          done = client.admin().redrive(topic, group, filter, rate).get(bound, TimeUnit.MILLISECONDS);
        }
        print(out, renderPlan(done));
        print(err, "returned " + count(done.count()) + " of queue group " + group + " on " + topic
            + " to its queue" + kept(done) + "\n");
      }
      return 0;
    }
  }

  @Command(name = "purge", sortOptions = false,
      description = {"Drop a queue group's dead messages for good: they are no longer listed or redrivable. Their "
          + "copies in the dead-letter topic stay (it is an ordinary topic, trimmed by its retention).",
          "A dry run that prints what would be dropped unless --execute."})
  static final class Purge implements Callable<Integer> {
    @ParentCommand
    DlqCommand dlq;

    @Spec
    CommandSpec spec;

    @Mixin
    Target target;

    @Mixin
    Filters filters;

    @Option(names = "--execute", description = "Purge (without it nothing changes).")
    boolean execute;

    @Override
    public Integer call() throws Exception {
      RedriveFilter filter = filters.build();
      PrintWriter out = spec.commandLine().getOut();
      PrintWriter err = spec.commandLine().getErr();
      String topic = target.topic;
      String group = target.group;
      RedriveResult r = dlq.cli.admin(a -> a.purgeDeadLetters(topic, group, filter, !execute));
      print(out, renderPlan(r));
      print(err, (r.count() == 0 ? "nothing to purge: no dead message of queue group " + group + " on " + topic
          + " matches"
          : r.dryRun() ? "dry run: nothing changed; add --execute to purge " + these(r.count(), "dead message")
          : "purged " + r.count() + " dead message" + (r.count() == 1 ? "" : "s") + " of queue group " + group + " on "
              + topic
              + "; their copies stay in the dead-letter topic") + "\n");
      return 0;
    }
  }

  /**
   * A redrive's or purge's plan (or outcome) by partition: how many, how many the loop guard keeps (for
   * a redrive), and which offsets ({@code 2-7,9}); nothing when no partition has any.
   */
  static String renderPlan(RedriveResult r) {
    Set<Integer> partitions = new TreeSet<>(r.offsets().keySet());
    partitions.addAll(r.keptByLoopGuard().keySet());
    if (partitions.isEmpty()) {
      return "";
    }
    Table t = r.purged()
        ? new Table("TOPIC", "PARTITION", "MESSAGES", "OFFSETS")
        : new Table("TOPIC", "PARTITION", "MESSAGES", "KEPT-BY-LOOP-GUARD", "OFFSETS");
    for (int p : partitions) {
      List<Long> offsets = r.offsets().getOrDefault(p, List.of());
      String ranges = offsets.isEmpty() ? "-" : truncate(ranges(offsets), 60);
      if (r.purged()) {
        t.row(r.topic(), p, offsets.size(), ranges);
      } else {
        t.row(r.topic(), p, offsets.size(), r.keptByLoopGuard().getOrDefault(p, 0), ranges);
      }
    }
    return t.render();
  }

  /** Sorted offsets as ranges: {@code 2-7,9,12-13}. */
  static String ranges(List<Long> offsets) {
    List<Long> sorted = new ArrayList<>(new TreeSet<>(offsets));
    StringBuilder sb = new StringBuilder();
    int i = 0;
    while (i < sorted.size()) {
      int j = i;
      while (j + 1 < sorted.size() && sorted.get(j + 1) == sorted.get(j) + 1) {
        j++;
      }
      if (sb.length() > 0) {
        sb.append(',');
      }
      sb.append(sorted.get(i));
      if (j > i) {
        sb.append('-').append(sorted.get(j));
      }
      i = j + 1;
    }
    return sb.toString();
  }

  /** A short age: {@code 45s}, {@code 3m20s}, {@code 42m}, {@code 5h10m}, {@code 12h}, {@code 3d4h}, {@code 40d}. */
  static String age(long ms) {
    long s = Math.max(0, ms) / 1000;
    if (s < 60) {
      return s + "s";
    }
    long m = s / 60;
    if (m < 10) {
      return m + "m" + (s % 60 == 0 ? "" : s % 60 + "s");
    }
    if (m < 60) {
      return m + "m";
    }
    long h = m / 60;
    if (h < 10) {
      return h + "h" + (m % 60 == 0 ? "" : m % 60 + "m");
    }
    if (h < 24) {
      return h + "h";
    }
    long d = h / 24;
    if (d < 10) {
      return d + "d" + (h % 24 == 0 ? "" : h % 24 + "h");
    }
    return d + "d";
  }

  /** A key, value or text for a table cell: UTF-8, control characters escaped, cut at {@code width}; null is {@code -}. */
  static String cell(byte[] bytes, int width) {
    return bytes == null ? "-" : cell(new String(bytes, StandardCharsets.UTF_8), width);
  }

  static String cell(String s, int width) {
    if (s == null || s.isEmpty()) {
      return "-";
    }
    StringBuilder sb = new StringBuilder(s.length());
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '\n' -> sb.append("\\n");
        case '\r' -> sb.append("\\r");
        case '\t' -> sb.append("\\t");
        default -> sb.append(Character.isISOControl(c) ? '?' : c);
      }
    }
    return truncate(sb.toString(), width);
  }

  static String truncate(String s, int width) {
    return s.length() <= width ? s : s.substring(0, Math.max(0, width - 3)) + "...";
  }

  /** {@code this message} or {@code these 3 messages}. */
  static String these(long n, String noun) {
    return n == 1 ? "this " + noun : "these " + n + " " + noun + "s";
  }

  private static String count(long n) {
    return n + " message" + (n == 1 ? "" : "s");
  }

  private static String kept(RedriveResult r) {
    long kept = r.keptByLoopGuardTotal();
    return kept == 0 ? "" : "; " + kept + " stay" + (kept == 1 ? "s" : "") + " dead (loop guard: redriven too often "
        + "already)";
  }

  private static String header(ConsumerRecord r, String name) {
    byte[] v = r.headers().get(name);
    return v == null ? null : new String(v, StandardCharsets.UTF_8);
  }

  private static long number(String s) {
    if (s == null) {
      return -1;
    }
    try {
      return Long.parseLong(s.trim());
    } catch (NumberFormatException e) {
      return -1;
    }
  }

  private static String orEmpty(String s) {
    return s == null ? "" : s;
  }

  private static String orDash(String s) {
    return s == null || s.isEmpty() ? "-" : s;
  }

  private static void print(PrintWriter out, String text) {
    out.print(text);
    out.flush();
  }
}
