package io.raftmq.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.raftmq.broker.TestCluster;
import io.raftmq.cli.RaftMqCliTest.Run;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;

/**
 * The consumer-group commands against three in-process broker nodes, as a user would type them: a
 * group consumes a topic, is described, reset (dry run, then for real), consumes it all again, is
 * refused changes while it has a member, and is deleted; bad input fails with a clear line.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class GroupCliIT {
  private static final int N = 30;
  private static final String TOPIC = "events";
  /** A row of {@code group describe}'s partition table. */
  private static final Pattern ROW = Pattern.compile(
      "(?m)^" + TOPIC + " +(\\d+) +(\\d+|-) +(\\d+|-) +(\\d+|-) +(\\S+) +(\\S+)$");

  @TempDir
  static Path dir;
  static TestCluster cluster;
  static String bootstrap;

  /** One partition's row of {@code group describe}. */
  record Lag(int partition, String current, String logEnd, String lag, String member) {}

  static Run cliWithInput(String stdin, String... args) {
    List<String> all = new ArrayList<>(List.of("--bootstrap", bootstrap, "--request-timeout", "10s"));
    all.addAll(List.of(args));
    return RaftMqCliTest.runWithInput(stdin, all.toArray(String[]::new));
  }

  static Run cli(String... args) {
    return cliWithInput("", args);
  }

  /** {@code group describe GROUP}'s partition rows, which must be there (exit 0). */
  static List<Lag> describe(String group) {
    Run r = cli("group", "describe", group);
    assertThat(r.exitCode()).as(r.err()).isZero();
    List<Lag> rows = new ArrayList<>();
    Matcher m = ROW.matcher(r.out());
    while (m.find()) {
      rows.add(new Lag(Integer.parseInt(m.group(1)), m.group(2), m.group(3), m.group(4), m.group(5)));
    }
    assertThat(rows).as(r.out()).hasSize(3);
    return rows;
  }

  static long sum(List<Lag> rows, java.util.function.Function<Lag, String> column) {
    return rows.stream().map(column).mapToLong(Long::parseLong).sum();
  }

  /** A dry run's plan as {partition, current, new} rows; the run must succeed and change nothing. */
  static List<long[]> planRows(Run plan) {
    assertThat(plan.exitCode()).as(plan.err()).isZero();
    assertThat(plan.err()).contains("dry run: nothing changed");
    List<long[]> rows = new ArrayList<>();
    Matcher m = Pattern.compile("(?m)^" + TOPIC + " +(\\d+) +(\\d+) +(\\d+)$").matcher(plan.out());
    while (m.find()) {
      rows.add(new long[] {Long.parseLong(m.group(1)), Long.parseLong(m.group(2)), Long.parseLong(m.group(3))});
    }
    return rows;
  }

  /** The message values m0 .. m(n-1). */
  static List<String> values(int from, int to) {
    return IntStream.range(from, to).mapToObj(i -> "m" + i).toList();
  }

  /** Waits until the group has no live member (a consumer's leave is committed through the metadata group). */
  static void awaitNoMembers(String group) {
    await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(200))
        .until(() -> cli("group", "describe", group).out().contains("no active members"));
  }

  @BeforeAll
  static void startCluster() {
    cluster = new TestCluster(dir).start();
    bootstrap = cluster.bootstrap();
    await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(200))
        .until(() -> cli("cluster", "status").exitCode() == 0);
    Run create = cli("topic", "create", TOPIC, "--partitions", "3");
    assertThat(create.exitCode()).as(create.err()).isZero();
    // Keyed, so that every partition gets some (null keys go to one partition per batch).
    String lines = IntStream.range(0, N).mapToObj(i -> "k" + i + "=m" + i + "\n").collect(Collectors.joining());
    Run produce = cliWithInput(lines, "produce", TOPIC, "--key-separator", "=");
    assertThat(produce.exitCode()).as(produce.err()).isZero();
    // describe answers from one node's replicas, which may apply the last batches a moment after the leaders.
    await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(200)).untilAsserted(() ->
        assertThat(cli("topic", "describe", TOPIC).out()).as("every partition has messages")
            .doesNotContainPattern("(?m)^[0-2] .* 0$"));
  }

  @AfterAll
  static void stopCluster() {
    cluster.close();
  }

  @Test
  @Order(1)
  void shouldConsumeEverythingInAGroupAndCommitIt() {
    Run consume = cli("consume", TOPIC, "--group", "g", "--from", "earliest", "--max-messages", String.valueOf(N),
        "--timeout", "60s");
    assertThat(consume.exitCode()).as(consume.err()).isZero();
    assertThat(consume.out().lines()).containsExactlyInAnyOrderElementsOf(values(0, N));
    assertThat(consume.err()).contains("consumed " + N + " messages from " + TOPIC + " in group g");

    awaitNoMembers("g");
    Run describe = cli("group", "describe", "g");
    assertThat(describe.out()).startsWith("GROUP: g  STATE: Empty  GENERATION: ").contains("ASSIGNOR: cooperative-sticky")
        .contains("TOPIC   PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG  MEMBER  HOST");
    List<Lag> rows = describe("g");
    assertThat(rows).allSatisfy(l -> {
      assertThat(l.lag()).isEqualTo("0");
      assertThat(l.current()).isEqualTo(l.logEnd());
      assertThat(l.member()).isEqualTo("-");
    });
    assertThat(sum(rows, Lag::current)).isEqualTo(N);

    Run list = cli("group", "list");
    assertThat(list.exitCode()).as(list.err()).isZero();
    assertThat(list.out()).startsWith("GROUP  TYPE    STATE  GENERATION  MEMBERS  TOPICS")
        .containsPattern("(?m)^g +stream +Empty +\\d+ +0 +" + TOPIC + "$");
  }

  @Test
  @Order(2)
  void shouldPlanAResetWithoutChangingAnythingUnlessExecuted() {
    Run dry = cli("group", "reset-offsets", "g", "--topic", TOPIC, "--to-earliest");
    assertThat(dry.exitCode()).as(dry.err()).isZero();
    assertThat(dry.out()).startsWith("TOPIC   PARTITION  CURRENT-OFFSET  NEW-OFFSET");
    assertThat(dry.out().lines().filter(l -> l.matches(TOPIC + " +[0-2] +\\d+ +0"))).hasSize(3);
    assertThat(dry.err()).contains("dry run: nothing changed; add --execute");
    // Every record is younger than 2000 and older than 2999: to their starts, and nowhere.
    assertThat(planRows(cli("group", "reset-offsets", "g", "--topic", TOPIC, "--to-datetime", "2000-01-01")))
        .hasSize(3).allSatisfy(r -> assertThat(r[2]).isZero());
    assertThat(planRows(cli("group", "reset-offsets", "g", "--topic", TOPIC, "--to-datetime", "2999-01-01T00:00:00Z")))
        .hasSize(3).allSatisfy(r -> assertThat(r[2]).isEqualTo(r[1]));
    assertThat(planRows(cli("group", "reset-offsets", "g", "--topic", TOPIC, "--shift-by", "-1")))
        .hasSize(3).allSatisfy(r -> assertThat(r[2]).isEqualTo(r[1] - 1));
    List<Lag> after = describe("g");
    assertThat(sum(after, Lag::current)).isEqualTo(N);
    assertThat(sum(after, Lag::lag)).isZero();

    Run execute = cli("group", "reset-offsets", "g", "--topic", TOPIC, "--to-earliest", "--execute");
    assertThat(execute.exitCode()).as(execute.err()).isZero();
    assertThat(execute.err()).contains("reset the offsets of group g in 3 partitions of " + TOPIC)
        .doesNotContain("dry run");
    List<Lag> reset = describe("g");
    assertThat(reset).allSatisfy(l -> {
      assertThat(l.current()).isEqualTo("0");
      assertThat(l.lag()).isEqualTo(l.logEnd());
    });
    assertThat(sum(reset, Lag::lag)).isEqualTo(N);
  }

  @Test
  @Order(3)
  void shouldConsumeEverythingAgainAfterTheReset() {
    // --from latest (the default) does not apply: the group has committed offsets.
    Run again = cli("consume", TOPIC, "--group", "g", "--max-messages", String.valueOf(N), "--timeout", "60s");
    assertThat(again.exitCode()).as(again.err()).isZero();
    assertThat(again.out().lines()).containsExactlyInAnyOrderElementsOf(values(0, N));
    awaitNoMembers("g");
    assertThat(sum(describe("g"), Lag::lag)).isZero();
  }

  @Test
  @Order(4)
  void shouldRefuseToResetOrDeleteAGroupWithALiveMember() {
    // A member that stays until one more message arrives.
    CompletableFuture<Run> member = CompletableFuture.supplyAsync(() ->
        cli("consume", TOPIC, "--group", "g", "--max-messages", "1", "--timeout", "120s"));
    await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(200))
        .until(() -> Pattern.compile("(?m)^MEMBER +CLIENT-ID +HOST +ASSIGNMENT$")
            .matcher(cli("group", "describe", "g").out()).find());

    try {
      Run reset = cli("group", "reset-offsets", "g", "--topic", TOPIC, "--to-earliest", "--execute");
      assertThat(reset.exitCode()).isEqualTo(RaftMqCli.EXIT_ERROR);
      assertThat(reset.err().lines()).singleElement().asString().startsWith("error: GROUP_NOT_EMPTY: ")
          .contains("live member");
      Run delete = cli("group", "delete", "g");
      assertThat(delete.exitCode()).isEqualTo(RaftMqCli.EXIT_ERROR);
      assertThat(delete.err()).startsWith("error: GROUP_NOT_EMPTY: ");
      assertThat(sum(describe("g"), Lag::current)).isEqualTo(N);
    } finally {
      // The message the member waits for: it prints it, commits and leaves.
      Run produce = cliWithInput("last\n", "produce", TOPIC);
      assertThat(produce.exitCode()).as(produce.err()).isZero();
    }
    Run consumed = member.join();
    assertThat(consumed.exitCode()).as(consumed.err()).isZero();
    assertThat(consumed.out()).isEqualTo("last" + System.lineSeparator());
    awaitNoMembers("g");
    assertThat(sum(describe("g"), Lag::current)).isEqualTo(N + 1);
  }

  @Test
  @Order(5)
  void shouldRejectBadInputWithAClearErrorAndChangeNothing() {
    Run both = cli("group", "reset-offsets", "g", "--topic", TOPIC, "--to-offset", "1", "--to-latest", "--execute");
    assertThat(both.exitCode()).isEqualTo(RaftMqCli.EXIT_USAGE);
    assertThat(both.err().lines()).singleElement().asString().contains("mutually exclusive");
    assertThat(sum(describe("g"), Lag::current)).isEqualTo(N + 1);

    for (String[] args : new String[][] {{"group", "describe", "bad group!"}, {"group", "delete", "bad group!"},
        {"group", "reset-offsets", "bad group!", "--topic", TOPIC, "--to-earliest"}}) {
      Run r = cli(args);
      assertThat(r.exitCode()).as(String.join(" ", args)).isEqualTo(RaftMqCli.EXIT_ERROR);
      assertThat(r.err().lines()).as(String.join(" ", args)).singleElement().asString()
          .startsWith("error: INVALID_GROUP_ID: ").contains("group id 'bad group!' is invalid");
    }
    Run consume = cli("consume", TOPIC, "--group", "bad group!", "--max-messages", "1");
    assertThat(consume.exitCode()).isEqualTo(RaftMqCli.EXIT_ERROR);
    assertThat(consume.err().lines()).singleElement().asString()
        .startsWith("error: group id 'bad group!' is invalid");

    Run unknown = cli("group", "describe", "nobody");
    assertThat(unknown.exitCode()).isEqualTo(RaftMqCli.EXIT_ERROR);
    assertThat(unknown.err()).startsWith("error: UNKNOWN_GROUP: ").contains("'nobody'");

    Run noTopic = cli("group", "reset-offsets", "g", "--topic", "nope", "--to-earliest");
    assertThat(noTopic.exitCode()).isEqualTo(RaftMqCli.EXIT_ERROR);
    assertThat(noTopic.err()).startsWith("error: UNKNOWN_TOPIC: ");
    assertThat(cli("group", "list").out()).doesNotContain("bad group!").doesNotContain("nobody");
  }

  @Test
  @Order(6)
  void shouldDeleteAGroup() {
    Run delete = cli("group", "delete", "g");
    assertThat(delete.exitCode()).as(delete.err()).isZero();
    assertThat(delete.out()).isEqualTo("deleted group g" + System.lineSeparator());

    Run describe = cli("group", "describe", "g");
    assertThat(describe.exitCode()).isEqualTo(RaftMqCli.EXIT_ERROR);
    assertThat(describe.err().lines()).singleElement().asString().startsWith("error: UNKNOWN_GROUP: ")
        .contains("group 'g' does not exist");
    assertThat(describe.out()).isEmpty();
    assertThat(cli("group", "list").out()).doesNotContainPattern("(?m)^g ");

    Run again = cli("group", "delete", "g");
    assertThat(again.exitCode()).isEqualTo(RaftMqCli.EXIT_ERROR);
    assertThat(again.err()).startsWith("error: UNKNOWN_GROUP: ");
  }

  @Test
  @Order(7)
  void shouldBenchConsumingABacklogInAGroup() {
    Run bench = cli("bench", "consume", "--topic", TOPIC, "--group", "bench", "--consumers", "2",
        "--produce-first", "2000", "--size", "100");
    assertThat(bench.exitCode()).as(bench.err()).isZero();
    assertThat(bench.out()).containsPattern("(?m)^produced 2000 messages, \\d+ msg/s")
        .containsPattern("(?m)^\\d+ messages, \\d+ msg/s, [\\d.]+ MB/s in [\\d.]+ s$")
        .contains("(2 consumers in group bench; joined and got the first records in ");
    // The backlog: the 2,000 produced plus the N + 1 from before, all of the topic for a new group.
    assertThat(consumedCount(bench)).isGreaterThanOrEqualTo(N + 1 + 2000);
    awaitNoMembers("bench");
    assertThat(sum(describe("bench"), Lag::lag)).isZero();

    Run own = cli("bench", "consume", "--topic", TOPIC, "--messages", "500");
    assertThat(own.exitCode()).as(own.err()).isZero();
    assertThat(consumedCount(own)).isBetween(500L, 500L + 500); // the last poll may bring up to 500 more
    assertThat(cli("group", "list").out()).as("the group bench consume made for itself is gone")
        .doesNotContain("raftmq-bench-");

    Run missing = cli("bench", "consume", "--topic", "nope");
    assertThat(missing.exitCode()).isEqualTo(RaftMqCli.EXIT_ERROR);
    assertThat(missing.err()).startsWith("error: topic nope does not exist");
  }

  /** N of the line {@code N messages, X msg/s, ...} that bench consume prints. */
  static long consumedCount(Run bench) {
    return Long.parseLong(bench.out().lines().filter(l -> l.matches("^\\d+ messages, .*")).findFirst()
        .orElseThrow().split(" ")[0]);
  }

  @Test
  @Order(8)
  void shouldBenchEndToEndLatencyThroughAGroup() {
    Run e2e = cli("bench", "e2e", "--topic", TOPIC, "--rate", "200", "--duration", "2s", "--size", "64");
    assertThat(e2e.exitCode()).as(e2e.err()).isZero();
    assertThat(e2e.out()).containsPattern("(?m)^400 messages, \\d+ msg/s, [\\d.]+ MB/s, end-to-end latency ms "
            + "p50 [\\d.]+ p90 [\\d.]+ p99 [\\d.]+ p99\\.9 [\\d.]+ max [\\d.]+$")
        .containsPattern("(?m)^produce: 400 messages, ")
        .contains("paced at 200 msg/s for 2s");
    assertThat(e2e.err()).doesNotContain("error");
    assertThat(cli("group", "list").out()).as("the group bench e2e made for itself is gone")
        .doesNotContain("raftmq-bench-");
  }
}
