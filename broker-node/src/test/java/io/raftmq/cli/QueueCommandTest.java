package io.raftmq.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.raftmq.cli.RaftMqCliTest.Run;
import io.raftmq.client.ConsumerRecord;
import io.raftmq.client.DeadLetters;
import io.raftmq.client.GroupListing;
import io.raftmq.client.KeyFailureMode;
import io.raftmq.client.QueueGroupDescription;
import io.raftmq.client.QueueGroupListing;
import io.raftmq.client.QueueGroupSettings;
import io.raftmq.client.QueueOrdering;
import io.raftmq.client.RedriveFilter;
import io.raftmq.client.RedriveResult;
import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** Parsing, validation and rendering of {@code queue receive}, {@code dlq ...}, queue groups in {@code group} and {@code bench queue}, without a cluster. */
class QueueCommandTest {
  private static final String NL = System.lineSeparator();

  private static Run run(String... args) {
    return RaftMqCliTest.run(args);
  }

  /** Arguments that parse, run against a port nothing listens on: any exit but 2 means they parsed. */
  private static Run offline(String... args) {
    String[] all = new String[args.length + 4];
    System.arraycopy(new String[] {"--bootstrap", "127.0.0.1:" + RaftMqCliTest.deadPort(), "--request-timeout",
        "300ms"}, 0, all, 0, 4);
    System.arraycopy(args, 0, all, 4, args.length);
    return run(all);
  }

  /** The user object of the last subcommand picocli parsed from {@code args}. */
  @SuppressWarnings("unchecked")
  private static <T> T parsed(String... args) {
    CommandLine cmd = new CommandLine(new RaftMqCli(new ByteArrayInputStream(new byte[0])));
    CommandLine.ParseResult pr = cmd.parseArgs(args);
    while (pr.hasSubcommand()) {
      pr = pr.subcommand();
    }
    return (T) pr.commandSpec().userObject();
  }

  private static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  // ---- queue receive ----

  @Test
  void shouldAckByDefaultAndParseEachSettleMode() {
    QueueCommand.Receive plain = parsed("queue", "receive", "orders", "--group", "billing");
    assertThat(plain.mode()).isEqualTo(QueueCommand.Settle.ACK);
    assertThat(plain.max).isEqualTo(1);
    assertThat(plain.wait).isEqualTo(Duration.ofSeconds(5));
    QueueCommand.Receive nack = parsed("queue", "receive", "orders", "--group", "g", "--nack", "--delay", "250ms",
        "--max", "10", "--wait", "0s");
    assertThat(nack.mode()).isEqualTo(QueueCommand.Settle.NACK);
    assertThat(nack.delay).isEqualTo(Duration.ofMillis(250));
    assertThat(nack.max).isEqualTo(10);
    assertThat(nack.wait).isZero();
    QueueCommand.Receive reject = parsed("queue", "receive", "orders", "--group", "g", "--reject", "bad total");
    assertThat(reject.mode()).isEqualTo(QueueCommand.Settle.REJECT);
    assertThat(reject.settle.reject).isEqualTo("bad total");
    assertThat(((QueueCommand.Receive) parsed("queue", "receive", "t", "--group", "g", "--ack")).mode())
        .isEqualTo(QueueCommand.Settle.ACK);
  }

  @Test
  void shouldRefuseContradictorySettleOptionsAsUsageErrors() {
    Run both = run("queue", "receive", "t", "--group", "g", "--nack", "--reject", "bad");
    assertThat(both.exitCode()).isEqualTo(RaftMqCli.EXIT_USAGE);
    assertThat(both.err().lines()).singleElement().asString().contains("mutually exclusive")
        .contains("raftmq queue receive --help");
    assertThat(both.out()).isEmpty();

    Run ackNack = run("queue", "receive", "t", "--group", "g", "--ack", "--nack");
    assertThat(ackNack.exitCode()).isEqualTo(RaftMqCli.EXIT_USAGE);

    Run delay = run("queue", "receive", "t", "--group", "g", "--delay", "5s");
    assertThat(delay.exitCode()).isEqualTo(RaftMqCli.EXIT_USAGE);
    assertThat(delay.err().lines()).singleElement().asString().startsWith("error: --delay only goes with --nack");
    Run delayReject = run("queue", "receive", "t", "--group", "g", "--reject", "x", "--delay", "5s");
    assertThat(delayReject.exitCode()).isEqualTo(RaftMqCli.EXIT_USAGE);

    Run noGroup = run("queue", "receive", "t");
    assertThat(noGroup.exitCode()).isEqualTo(RaftMqCli.EXIT_USAGE);
    assertThat(noGroup.err()).contains("--group");
    Run noReason = run("queue", "receive", "t", "--group", "g", "--reject");
    assertThat(noReason.exitCode()).isEqualTo(RaftMqCli.EXIT_USAGE);
    Run badWait = run("queue", "receive", "t", "--group", "g", "--wait", "5");
    assertThat(badWait.exitCode()).isEqualTo(RaftMqCli.EXIT_USAGE);
    assertThat(badWait.err()).contains("bad duration '5'");
    Run negativeDelay = run("queue", "receive", "t", "--group", "g", "--nack", "--delay", "-PT1S");
    assertThat(negativeDelay.exitCode()).isEqualTo(RaftMqCli.EXIT_USAGE);
    assertThat(negativeDelay.err()).contains("negative");
    Run missing = run("queue");
    assertThat(missing.exitCode()).isEqualTo(RaftMqCli.EXIT_USAGE);
    assertThat(missing.err()).startsWith("error: missing subcommand: receive");
  }

  @Test
  void shouldRefuseBadReceiveValuesBeforeConnecting() {
    Run zero = run("queue", "receive", "t", "--group", "g", "--max", "0");
    assertThat(zero.exitCode()).isEqualTo(RaftMqCli.EXIT_ERROR);
    assertThat(zero.err()).isEqualTo("error: --max must be at least 1" + NL);
    Run blank = run("queue", "receive", "t", "--group", "g", "--reject", " ");
    assertThat(blank.exitCode()).isEqualTo(RaftMqCli.EXIT_ERROR);
    assertThat(blank.err()).startsWith("error: --reject needs a reason");
    Run format = run("queue", "receive", "t", "--group", "g", "--format", "%q");
    assertThat(format.exitCode()).isEqualTo(RaftMqCli.EXIT_ERROR);
    assertThat(format.err()).contains("unknown placeholder '%q'").contains("%c");
    // Parses and gets as far as connecting.
    Run r = offline("queue", "receive", "t", "--group", "g", "--nack", "--delay", "1s", "-n", "3");
    assertThat(r.exitCode()).isEqualTo(RaftMqCli.EXIT_ERROR);
    assertThat(r.err().lines()).singleElement().asString().startsWith("error: ");
  }

  @Test
  void shouldRenderADeliveryWithItsCountAndSummarizeTheSettles() {
    RecordFormat f = RecordFormat.compileForDeliveries("partition=%p offset=%o delivery=%c key=%k value=%v");
    ConsumerRecord r = new ConsumerRecord("t", 2, 17, 0, 0, utf8("k7"), utf8("order-7"), Map.of());
    assertThat(f.render(r, 3)).isEqualTo("partition=2 offset=17 delivery=3 key=k7 value=order-7\n");
    assertThatThrownBy(() -> RecordFormat.compile("%c")).hasMessageContaining("unknown placeholder '%c'");

    assertThat(QueueCommand.Receive.summary(0, 0, QueueCommand.Settle.ACK, null, "t", "g"))
        .isEqualTo("received 0 messages from t in queue group g");
    assertThat(QueueCommand.Receive.summary(2, 2, QueueCommand.Settle.ACK, null, "t", "g"))
        .isEqualTo("received 2 messages from t in queue group g; acked 2");
    assertThat(QueueCommand.Receive.summary(1, 1, QueueCommand.Settle.NACK, Duration.ofSeconds(5), "t", "g"))
        .isEqualTo("received 1 message from t in queue group g; nacked 1 (they come back after 5s)");
    assertThat(QueueCommand.Receive.summary(3, 2, QueueCommand.Settle.REJECT, null, "t", "g"))
        .isEqualTo("received 3 messages from t in queue group g; rejected 2 (dead-lettered; see 'raftmq dlq show t "
            + "--group g'); 1 could not be settled (see above)");
  }

  // ---- dlq ----

  @Test
  void shouldBuildRedriveFiltersFromTheOptions() {
    DlqCommand.Redrive r = parsed("dlq", "redrive", "orders", "--group", "g", "--reason", "rejected", "--since",
        "2024-05-01T12:00:00Z", "--until", "2024-05-02", "--key", "k1", "--from-offset", "2", "--to-offset", "8",
        "--limit", "4", "--rate", "10", "--execute");
    RedriveFilter f = r.filters.build();
    assertThat(f.reason()).contains("REJECTED");
    assertThat(f.fromTime()).contains(Instant.parse("2024-05-01T12:00:00Z"));
    assertThat(f.toTime()).contains(Instant.parse("2024-05-02T00:00:00Z"));
    assertThat(f.key()).hasValueSatisfying(k -> assertThat(k).isEqualTo(utf8("k1")));
    assertThat(f.fromOffset()).isEqualTo(2);
    assertThat(f.toOffset()).isEqualTo(8);
    assertThat(f.limit()).isEqualTo(4);
    assertThat(r.rate).isEqualTo(10);
    assertThat(r.execute).isTrue();
    assertThat(r.target.topic).isEqualTo("orders");
    assertThat(r.target.group).isEqualTo("g");

    DlqCommand.Purge p = parsed("dlq", "purge", "orders", "--group", "g");
    RedriveFilter all = p.filters.build();
    assertThat(all.reason()).isEmpty();
    assertThat(all.fromTime()).isEmpty();
    assertThat(all.key()).isEmpty();
    assertThat(all.toOffset()).isZero();
    assertThat(p.execute).isFalse();
  }

  @Test
  void shouldReadTimesAsIsoOrAsADurationAgo() {
    Instant now = Instant.parse("2024-05-01T12:00:00Z");
    assertThat(DateTimes.parseOrAgo("30m", now)).isEqualTo(Instant.parse("2024-05-01T11:30:00Z"));
    assertThat(DateTimes.parseOrAgo("PT2H", now)).isEqualTo(Instant.parse("2024-05-01T10:00:00Z"));
    assertThat(DateTimes.parseOrAgo("2024-04-30T14:00:00+02:00", now)).isEqualTo(Instant.parse("2024-04-30T12:00:00Z"));
    assertThat(DateTimes.parseOrAgo("2024-04-30", now)).isEqualTo(Instant.parse("2024-04-30T00:00:00Z"));
    assertThatThrownBy(() -> DateTimes.parseOrAgo("yesterday", now)).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("bad time 'yesterday'").hasMessageContaining("duration ago");
  }

  @Test
  void shouldRefuseBadFiltersAndRatesWithOneLine() {
    Run negativeRate = run("dlq", "redrive", "t", "--group", "g", "--rate", "-5", "--execute");
    assertThat(negativeRate.exitCode()).isEqualTo(RaftMqCli.EXIT_ERROR);
    assertThat(negativeRate.err()).isEqualTo("error: --rate must be at least 1" + NL);
    Run zeroRate = run("dlq", "redrive", "t", "--group", "g", "--rate", "0");
    assertThat(zeroRate.err()).isEqualTo("error: --rate must be at least 1" + NL);

    Run backwards = run("dlq", "redrive", "t", "--group", "g", "--since", "2024-05-02", "--until", "2024-05-01");
    assertThat(backwards.exitCode()).isEqualTo(RaftMqCli.EXIT_ERROR);
    assertThat(backwards.err().lines()).singleElement().asString().startsWith("error: --since (2024-05-02T00:00:00Z) "
        + "must be before --until (2024-05-01T00:00:00Z)");

    Run emptyRange = run("dlq", "purge", "t", "--group", "g", "--from-offset", "5", "--to-offset", "5");
    assertThat(emptyRange.exitCode()).isEqualTo(RaftMqCli.EXIT_ERROR);
    assertThat(emptyRange.err()).isEqualTo("error: --from-offset (5) must be below --to-offset (5)" + NL);
    Run negativeOffset = run("dlq", "purge", "t", "--group", "g", "--from-offset", "-1");
    assertThat(negativeOffset.err()).isEqualTo("error: --from-offset must be >= 0" + NL);
    Run zeroTo = run("dlq", "redrive", "t", "--group", "g", "--to-offset", "0");
    assertThat(zeroTo.err()).isEqualTo("error: --to-offset must be at least 1" + NL);
    Run limit = run("dlq", "redrive", "t", "--group", "g", "--limit", "0");
    assertThat(limit.err()).isEqualTo("error: --limit must be at least 1" + NL);
    Run emptyReason = run("dlq", "redrive", "t", "--group", "g", "--reason", "");
    assertThat(emptyReason.exitCode()).isEqualTo(RaftMqCli.EXIT_ERROR);
    assertThat(emptyReason.err()).startsWith("error: --reason must not be empty");

    Run badTime = run("dlq", "redrive", "t", "--group", "g", "--since", "yesterday");
    assertThat(badTime.exitCode()).isEqualTo(RaftMqCli.EXIT_USAGE);
    assertThat(badTime.err().lines()).singleElement().asString().contains("bad time 'yesterday'");
    Run noGroup = run("dlq", "show", "t");
    assertThat(noGroup.exitCode()).isEqualTo(RaftMqCli.EXIT_USAGE);
    assertThat(noGroup.err()).contains("--group");
    Run showZero = run("dlq", "show", "t", "--group", "g", "-n", "0");
    assertThat(showZero.err()).isEqualTo("error: -n must be at least 1" + NL);
    Run missing = run("dlq");
    assertThat(missing.exitCode()).isEqualTo(RaftMqCli.EXIT_USAGE);
    assertThat(missing.err()).startsWith("error: missing subcommand: list, show, redrive or purge");
    // A reason the broker does not know is its to refuse (INVALID_REQUEST); here it parses.
    Run unknownReason = offline("dlq", "redrive", "t", "--group", "g", "--reason", "SOMETIMES");
    assertThat(unknownReason.exitCode()).isEqualTo(RaftMqCli.EXIT_ERROR);
  }

  @Test
  void shouldListDeadLetterQueuesWithDepthAgeAndTopReason() {
    long now = 1_700_000_000_000L;
    String s = DlqCommand.ListDlqs.render(List.of(
        new QueueGroupListing("orders", "billing", "orders.dlq.billing", 4, 0, 0, 0, 9, 1, 100, 7,
            Map.of("MAX_DELIVERIES", 2L, "REJECTED", 5L), now - 200_000),
        new QueueGroupListing("orders", "audit", "orders.dlq.audit", 4, 3, 1, 4, 0, 0, 50, 0, Map.of(), 0)), now);
    assertThat(s).isEqualTo("""
        SOURCE-TOPIC  GROUP    DLQ-TOPIC           DEPTH  OLDEST-AGE  TOP-REASON
        orders        billing  orders.dlq.billing  7      3m20s       REJECTED
        orders        audit    orders.dlq.audit    0      -           -
        """);
    assertThat(DlqCommand.ListDlqs.render(List.of(), now)).isEmpty();
  }

  @Test
  void shouldPrintShortAges() {
    assertThat(DlqCommand.age(-5)).isEqualTo("0s");
    assertThat(DlqCommand.age(45_999)).isEqualTo("45s");
    assertThat(DlqCommand.age(180_000)).isEqualTo("3m");
    assertThat(DlqCommand.age(200_000)).isEqualTo("3m20s");
    assertThat(DlqCommand.age(42 * 60_000L + 5_000)).isEqualTo("42m");
    assertThat(DlqCommand.age(5 * 3_600_000L + 10 * 60_000L)).isEqualTo("5h10m");
    assertThat(DlqCommand.age(12 * 3_600_000L + 10 * 60_000L)).isEqualTo("12h");
    assertThat(DlqCommand.age(76 * 3_600_000L)).isEqualTo("3d4h");
    assertThat(DlqCommand.age(40 * 86_400_000L + 5)).isEqualTo("40d");
  }

  @Test
  void shouldShowDeadMessagesCutAndEscapedUnlessWide() {
    long now = 1_700_000_000_000L;
    List<DlqCommand.Row> rows = List.of(
        new DlqCommand.Row(0, 7, 5, "MAX_DELIVERIES", "java.io.IOException", "downstream unavailable", now - 90_000,
            utf8("k7"), utf8("line one\nline two"), true, null),
        new DlqCommand.Row(2, 11, 1, "REJECTED", "", "invalid total", now - 5_000, null, utf8("x".repeat(50)), true,
            null),
        new DlqCommand.Row(1, 3, 2, "EXPIRED", "", "", now - 1_000, null, null, false, null));
    assertThat(DlqCommand.Show.render(rows, false, false, now)).isEqualTo("""
        PARTITION  OFFSET  ATTEMPTS  REASON          AGE    ERROR                                KEY  VALUE
        0          7       5         MAX_DELIVERIES  1m30s  IOException: downstream unavailable  k7   line one\\nline two
        2          11      1         REJECTED        5s     invalid total                        -    %s
        1          3       2         EXPIRED         1s     -                                    ?    (no longer in the log)
        """.formatted("x".repeat(37) + "..."));
    assertThat(DlqCommand.Show.render(rows.subList(0, 2), false, true, now))
        .contains("java.io.IOException: downstream unavailable").contains("x".repeat(50));
    assertThat(DlqCommand.Show.render(List.of(), false, false, now)).isEmpty();
  }

  @Test
  void shouldReadADeadLetterCopyAndTellWhetherItIsStillDead() {
    Map<String, byte[]> h = new LinkedHashMap<>();
    h.put(DeadLetters.ORIGINAL_TOPIC, utf8("orders"));
    h.put(DeadLetters.ORIGINAL_PARTITION, utf8("2"));
    h.put(DeadLetters.ORIGINAL_OFFSET, utf8("11"));
    h.put(DeadLetters.GROUP, utf8("billing"));
    h.put(DeadLetters.REASON, utf8("REJECTED"));
    h.put(DeadLetters.ERROR_MESSAGE, utf8("bad total"));
    h.put(DeadLetters.ATTEMPTS, utf8("1"));
    h.put(DeadLetters.DEAD_AT_MS, utf8("1000"));
    ConsumerRecord copy = new ConsumerRecord("orders.dlq.billing", 0, 0, 0, 0, utf8("k"), utf8("v"), h);
    Map<Integer, Map<Long, Long>> deadAt = new HashMap<>();
    deadAt.put(2, Map.of(11L, 1000L));
    DlqCommand.Row row = DlqCommand.Show.fromCopy(copy, "orders", "billing", deadAt);
    assertThat(row).isNotNull();
    assertThat(row.partition()).isEqualTo(2);
    assertThat(row.offset()).isEqualTo(11);
    assertThat(row.attempts()).isEqualTo(1);
    assertThat(row.reason()).isEqualTo("REJECTED");
    assertThat(row.errorMessage()).isEqualTo("bad total");
    assertThat(row.stillDead()).isTrue();
    assertThat(DlqCommand.Show.fromCopy(copy, "orders", "billing", Map.of(2, Map.of(11L, 999L))).stillDead())
        .as("dead again later: another copy").isFalse();
    assertThat(DlqCommand.Show.fromCopy(copy, "orders", "billing", Map.of()).stillDead()).isFalse();
    assertThat(DlqCommand.Show.fromCopy(copy, "orders", "audit", deadAt)).as("another group's copy").isNull();
    assertThat(DlqCommand.Show.render(List.of(row), true, false, 61_000)).isEqualTo("""
        PARTITION  OFFSET  ATTEMPTS  REASON    AGE  ERROR      KEY  VALUE  STILL-DEAD
        2          11      1         REJECTED  1m   bad total  k    v      yes
        """);
  }

  @Test
  void shouldRenderARedrivePlanByPartitionWithRanges() {
    RedriveResult plan = new RedriveResult("orders", "g", true, false,
        Map.of(0, List.of(2L, 3L, 4L, 5L, 6L, 7L, 9L), 2, List.of(12L)), Map.of(0, 1, 1, 3));
    assertThat(DlqCommand.renderPlan(plan)).isEqualTo("""
        TOPIC   PARTITION  MESSAGES  KEPT-BY-LOOP-GUARD  OFFSETS
        orders  0          7         1                   2-7,9
        orders  1          0         3                   -
        orders  2          1         0                   12
        """);
    RedriveResult purge = new RedriveResult("orders", "g", false, true, Map.of(1, List.of(4L, 5L)), Map.of());
    assertThat(DlqCommand.renderPlan(purge)).isEqualTo("""
        TOPIC   PARTITION  MESSAGES  OFFSETS
        orders  1          2         4-5
        """);
    assertThat(DlqCommand.renderPlan(new RedriveResult("t", "g", true, false, Map.of(), Map.of()))).isEmpty();
    assertThat(DlqCommand.ranges(List.of(9L, 1L, 2L, 3L, 5L))).isEqualTo("1-3,5,9");
    assertThat(DlqCommand.cell("a\tb", 40)).isEqualTo("a\\tb");
    assertThat(DlqCommand.truncate("abcdefgh", 6)).isEqualTo("abc...");
    assertThat(DlqCommand.these(1, "message")).isEqualTo("this message");
    assertThat(DlqCommand.these(3, "dead message")).isEqualTo("these 3 dead messages");
  }

  // ---- group list / describe with queue groups ----

  @Test
  void shouldListStreamAndQueueGroupsWithATypeColumn() {
    String s = GroupCommand.ListGroups.render(
        List.of(new GroupListing("billing", "Stable", 12, 3, List.of("orders", "refunds"))),
        List.of(new QueueGroupListing("refunds", "audit", "refunds.dlq.audit", 2, 0, 0, 0, 0, 0, 0, 0, Map.of(), 0),
            new QueueGroupListing("orders", "audit", "orders.dlq.audit", 4, 0, 0, 0, 0, 0, 0, 0, Map.of(), 0),
            new QueueGroupListing("orders", "billing", "orders.dlq.billing", 4, 0, 0, 0, 0, 0, 0, 0, Map.of(), 0)));
    assertThat(s).isEqualTo("""
        GROUP    TYPE    STATE   GENERATION  MEMBERS  TOPICS
        audit    queue   -       -           -        orders,refunds
        billing  stream  Stable  12          3        orders,refunds
        billing  queue   -       -           -        orders
        """);
    assertThat(GroupCommand.ListGroups.render(List.of(), List.of())).isEmpty();
  }

  private static QueueGroupDescription.Partition partition(int p, int inFlight, int available, long redelivered,
      int dead, long expiries, long unseen, long acked, QueueGroupSettings settings) {
    return new QueueGroupDescription.Partition(p, 0, 100, 100 + unseen, inFlight, available, redelivered, expiries,
        acked, dead, Map.of(), 0, settings.deadLetterTopic(), settings, List.of());
  }

  @Test
  void shouldDescribeAQueueGroupWithItsSettingsAndQueueColumns() {
    QueueGroupSettings defaults = new QueueGroupSettings(30_000, 5, 1_000, 60_000, 1000, QueueOrdering.NONE,
        KeyFailureMode.LENIENT, 3, "orders.dlq.g");
    QueueGroupDescription d = new QueueGroupDescription("orders", "g", List.of(
        partition(0, 2, 5, 3, 1, 1, 10, 40, defaults),
        partition(1, 0, 0, 0, 0, 0, 0, 7, defaults)));
    assertThat(GroupCommand.Describe.renderQueue("g", List.of(d))).isEqualTo("""
        GROUP: g  TYPE: queue  TOPICS: orders
        SETTINGS: visibility-timeout=30s max-deliveries=5 backoff=1s..60s max-in-flight=1000 ordering=none \
        max-redrives=3 dead-letter-topic=orders.dlq.g

        TOPIC   PARTITION  IN-FLIGHT  AVAILABLE  REDELIVERED  DEAD  LEASE-EXPIRIES  BACKLOG  ACKED
        orders  0          2          5          3            1     1               17       40
        orders  1          0          0          0            0     0               0        7
        """);

    QueueGroupSettings keyed = new QueueGroupSettings(500, -1, 50, 100, 10, QueueOrdering.KEY, KeyFailureMode.STRICT,
        -1, "dead");
    QueueGroupDescription other = new QueueGroupDescription("refunds", "g", List.of(partition(0, 0, 0, 0, 0, 0, 0, 0,
        keyed)));
    assertThat(GroupCommand.Describe.renderQueue("g", List.of(d, other)))
        .startsWith("GROUP: g  TYPE: queue  TOPICS: orders,refunds\n")
        .contains("SETTINGS (orders:0,1): visibility-timeout=30s ")
        .contains("SETTINGS (refunds:0): visibility-timeout=500ms max-deliveries=unlimited backoff=50ms..100ms "
            + "max-in-flight=10 ordering=key key-failure=strict max-redrives=unlimited dead-letter-topic=dead\n")
        .containsPattern("(?m)^refunds +0 +0 +0 +0 +0 +0 +0 +0$");
  }

  // ---- bench queue ----

  @Test
  void shouldPickTheBenchQueueModeAndValidateItsOptions() {
    BenchQueueCommand defaults = parsed("bench", "queue", "--topic", "t");
    assertThat(defaults.backlogMode()).isTrue();
    assertThat(defaults.backlog()).isEqualTo(BenchQueueCommand.DEFAULT_BACKLOG);
    assertThat(defaults.consumers).isEqualTo(8);
    assertThat(defaults.partitions).isEqualTo(4);
    assertThat(defaults.sizeBytes).isEqualTo(1024);
    BenchQueueCommand first = parsed("bench", "queue", "--topic", "t", "--produce-first", "500", "--duration", "1m");
    assertThat(first.backlogMode()).isTrue();
    assertThat(first.backlog()).isEqualTo(500);
    assertThat(((BenchQueueCommand) parsed("bench", "queue", "--topic", "t", "--messages", "9")).backlogMode()).isFalse();
    assertThat(((BenchQueueCommand) parsed("bench", "queue", "--topic", "t", "--duration", "10s")).backlogMode())
        .isFalse();

    Run both = run("bench", "queue", "--topic", "t", "--produce-first", "5", "--messages", "5");
    assertThat(both.exitCode()).isEqualTo(RaftMqCli.EXIT_USAGE);
    assertThat(both.err()).contains("mutually exclusive");
    Run consumers = run("bench", "queue", "--topic", "t", "--consumers", "0");
    assertThat(consumers.exitCode()).isEqualTo(RaftMqCli.EXIT_ERROR);
    assertThat(consumers.err()).isEqualTo("error: --consumers must be at least 1" + NL);
    Run messages = run("bench", "queue", "--topic", "t", "--messages", "-3");
    assertThat(messages.err()).isEqualTo("error: --messages must be at least 1" + NL);
    Run partitions = run("bench", "queue", "--topic", "t", "--partitions", "0");
    assertThat(partitions.err()).isEqualTo("error: --partitions must be at least 1" + NL);
    Run duration = run("bench", "queue", "--topic", "t", "--duration", "0s");
    assertThat(duration.err()).isEqualTo("error: --duration must be positive" + NL);
    assertThat(run("bench", "queue").exitCode()).isEqualTo(RaftMqCli.EXIT_USAGE);
    assertThat(defaults.runs).isEqualTo(1);
    assertThat(defaults.compareStream).isFalse();
    Run runs = run("bench", "queue", "--topic", "t", "--runs", "0");
    assertThat(runs.err()).isEqualTo("error: --runs must be at least 1" + NL);
    Run runsWhileProducing = run("bench", "queue", "--topic", "t", "--runs", "2", "--messages", "9");
    assertThat(runsWhileProducing.exitCode()).isEqualTo(RaftMqCli.EXIT_ERROR);
    assertThat(runsWhileProducing.err()).startsWith("error: --runs and --compare-stream drain a backlog");
    Run compareWhileProducing = run("bench", "queue", "--topic", "t", "--compare-stream", "--duration", "5s");
    assertThat(compareWhileProducing.err()).startsWith("error: --runs and --compare-stream drain a backlog");
  }

  @Test
  void shouldReadAppliedIndexesFromPrometheusText() {
    String metrics = """
        # HELP raftmq_raft_applied_index Last Raft index applied by this replica
        # TYPE raftmq_raft_applied_index gauge
        raftmq_raft_applied_index{partition="0",topic="orders"} 120.0
        raftmq_raft_applied_index{partition="1",topic="orders"} 1.5E7
        raftmq_raft_applied_index{topic="orders",partition="2"} 7
        raftmq_raft_applied_index{partition="0",topic="orders.dlq.g"} 99.0
        raftmq_raft_term{partition="0",topic="orders"} 3.0
        """;
    assertThat(BenchQueueCommand.appliedIndexes(metrics, "orders"))
        .containsExactlyInAnyOrderEntriesOf(Map.of(0, 120L, 1, 15_000_000L, 2, 7L));
    assertThat(BenchQueueCommand.entriesLine(Map.of(0, 100L, 1, 10L), Map.of(0, 130L, 1, 30L), 100, 2, true))
        .isEqualTo("raft entries per message acked: 0.5000 (50 entries in 2 partitions for 100 messages; queue "
            + "commands only: receives, settles, expiries)");
    assertThat(BenchQueueCommand.entriesLine(Map.of(0, 100L), Map.of(0, 130L), 100, 2, true)).contains("unknown");
    // The ratios' summary: all runs, and from four runs on the later half too.
    assertThat(BenchQueueCommand.ratioSummary(List.of(0.5))).isEmpty();
    assertThat(BenchQueueCommand.ratioSummary(List.of(0.5, 0.7)))
        .containsExactly("queue/stream throughput over 2 runs: median 0.70, min 0.50, max 0.70");
    assertThat(BenchQueueCommand.ratioSummary(List.of(0.3, 0.4, 0.5, 0.9, 0.6)))
        .containsExactly("queue/stream throughput over 5 runs: median 0.50, min 0.30, max 0.90",
            "queue/stream throughput over runs 3 - 5 (the later half): median 0.60, min 0.50, max 0.90");
    // CPU per message: the nodes' process_cpu_seconds_total and this JVM's, over the messages.
    assertThat(BenchQueueCommand.processCpuSeconds(metrics + "# TYPE process_cpu_seconds_total counter\n"
        + "process_cpu_seconds_total 524.25\n")).isEqualTo(524.25);
    assertThat(BenchQueueCommand.processCpuSeconds(metrics)).isZero();
    assertThat(BenchQueueCommand.cpuLine(new double[] {10, 2}, new double[] {13, 3.5}, 1_000_000))
        .startsWith("cpu per message: nodes 3.00 us, this client 1.50 us (");
    assertThat(BenchQueueCommand.cpuLine(new double[] {10, 2}, new double[] {13, 3.5}, 0)).contains("no messages");
    // Replica lag from one scrape: each partition's replicas against its furthest; one lagging partition
    // is not hidden by another.
    assertThat(BenchQueueCommand.entriesBehind(List.of(Map.of(0, 100L, 1, 50L), Map.of(0, 100L, 1, 45L),
        Map.of(0, 97L)))).isEqualTo(8);
    assertThat(BenchQueueCommand.entriesBehind(List.of(Map.of(0, 100L, 1, 50L), Map.of(0, 100L, 1, 50L))))
        .isZero();
  }

  @Test
  void shouldRenderHelpForTheQueueCommands() {
    for (String[] args : new String[][] {{"queue", "--help"}, {"queue", "receive", "--help"}, {"dlq", "--help"},
        {"dlq", "list", "--help"}, {"dlq", "show", "--help"}, {"dlq", "redrive", "--help"}, {"dlq", "purge", "--help"},
        {"bench", "queue", "--help"}}) {
      Run r = run(args);
      assertThat(r.exitCode()).as(String.join(" ", args)).isZero();
      assertThat(r.out()).as(String.join(" ", args)).startsWith("Usage: raftmq");
    }
    String receive = run("queue", "receive", "--help").out().replaceAll("\\s+", " ");
    assertThat(receive).contains("[--ack | --nack | --reject=REASON]").contains("the default")
        .contains("(default 'partition=%p offset=%o delivery=%c key=");
    String redrive = run("dlq", "redrive", "--help").out().replaceAll("\\s+", " ");
    assertThat(redrive).contains("dry run").contains("--rate=MSGS/S").contains("--execute");
  }
}
