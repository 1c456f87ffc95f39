package io.raftmq.broker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.raftmq.cli.RaftMqCli;
import java.io.ByteArrayInputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * The queue-group commands against three in-process broker nodes, as a user would type them: a queue
 * group is created by its first receive, a message is rejected and shows in {@code dlq list} and
 * {@code dlq show} with its reason, a redrive dry run changes nothing and {@code --execute} returns it
 * to the queue, {@code group describe} and {@code group list} show the queue group, a purge drops a
 * dead message, bad input fails with one clear line, and {@code bench queue} runs.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class QueueCliIT {
  private static final String TOPIC = "orders";
  private static final String GROUP = "billing";
  /** A line {@code queue receive} prints with its default format. */
  private static final Pattern DELIVERY = Pattern.compile(
      "(?m)^partition=(\\d) offset=(\\d+) delivery=(\\d+) key=(k\\d) value=(order-\\d)$");

  @TempDir
  static Path dir;
  static TestCluster cluster;
  static String bootstrap;
  /** The message rejected in test 2. */
  static Delivered rejected;

  /** The outcome of one CLI invocation. */
  record Run(int exitCode, String out, String err) {}

  /** One line of {@code queue receive}'s output. */
  record Delivered(int partition, long offset, int delivery, String key, String value) {}

  static Run cliWithInput(String stdin, String... args) {
    List<String> all = new ArrayList<>(List.of("--bootstrap", bootstrap, "--request-timeout", "10s"));
    all.addAll(List.of(args));
    CommandLine cmd = RaftMqCli.commandLine(new ByteArrayInputStream(stdin.getBytes(StandardCharsets.UTF_8)));
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    cmd.setOut(new PrintWriter(out, true));
    cmd.setErr(new PrintWriter(err, true));
    int code = cmd.execute(all.toArray(String[]::new));
    return new Run(code, out.toString(), err.toString());
  }

  static Run cli(String... args) {
    return cliWithInput("", args);
  }

  static Run ok(String... args) {
    Run r = cli(args);
    assertThat(r.exitCode()).as(String.join(" ", args) + ": " + r.err()).isZero();
    return r;
  }

  static List<Delivered> deliveries(Run r) {
    List<Delivered> out = new ArrayList<>();
    Matcher m = DELIVERY.matcher(r.out());
    while (m.find()) {
      out.add(new Delivered(Integer.parseInt(m.group(1)), Long.parseLong(m.group(2)), Integer.parseInt(m.group(3)),
          m.group(4), m.group(5)));
    }
    assertThat(r.out().lines()).as("every line is a delivery").hasSize(out.size());
    return out;
  }

  /** {@code dlq list}'s row of the group: its DEPTH, OLDEST-AGE and TOP-REASON. */
  static String[] dlqRow() {
    Run list = ok("dlq", "list");
    assertThat(list.out()).containsPattern("^SOURCE-TOPIC +GROUP +DLQ-TOPIC +DEPTH +OLDEST-AGE +TOP-REASON\n");
    Matcher m = Pattern.compile("(?m)^" + TOPIC + " +" + GROUP + " +" + TOPIC + "\\.dlq\\." + GROUP
        + " +(\\d+) +(\\S+) +(\\S+)$").matcher(list.out());
    assertThat(m.find()).as(list.out()).isTrue();
    return new String[] {m.group(1), m.group(2), m.group(3)};
  }

  /** {@code group describe GROUP}'s partition rows as numbers: partition, in-flight, available, redelivered, dead, lease-expiries, backlog, acked. */
  static List<long[]> queueRows() {
    Run d = ok("group", "describe", GROUP);
    assertThat(d.out()).startsWith("GROUP: " + GROUP + "  TYPE: queue  TOPICS: " + TOPIC + "\n")
        .contains("\nSETTINGS: visibility-timeout=30s max-deliveries=5 backoff=1s..60s max-in-flight=50000 ordering=none "
            + "max-redrives=3 dead-letter-topic=" + TOPIC + ".dlq." + GROUP + "\n")
        .contains("TOPIC   PARTITION  IN-FLIGHT  AVAILABLE  REDELIVERED  DEAD  LEASE-EXPIRIES  BACKLOG  ACKED\n");
    List<long[]> rows = new ArrayList<>();
    Matcher m = Pattern.compile("(?m)^" + TOPIC + " +(\\d+) +(\\d+) +(\\d+) +(\\d+) +(\\d+) +(\\d+) +(\\d+) +(\\d+)$")
        .matcher(d.out());
    while (m.find()) {
      long[] row = new long[8];
      for (int i = 0; i < 8; i++) {
        row[i] = Long.parseLong(m.group(i + 1));
      }
      rows.add(row);
    }
    return rows;
  }

  static long column(List<long[]> rows, int i) {
    return rows.stream().mapToLong(r -> r[i]).sum();
  }

  @BeforeAll
  static void startCluster() {
    cluster = new TestCluster(dir).start();
    bootstrap = cluster.bootstrap();
    await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(200))
        .until(() -> cli("cluster", "status").exitCode() == 0);
    ok("topic", "create", TOPIC, "--partitions", "3");
  }

  @AfterAll
  static void stopCluster() {
    if (cluster != null) {
      cluster.close();
    }
  }

  @Test
  @Order(1)
  void shouldCreateTheQueueGroupInEveryPartitionOnItsFirstReceive() {
    Run first = ok("queue", "receive", TOPIC, "--group", GROUP, "--wait", "0s");
    assertThat(first.out()).isEmpty();
    assertThat(first.err()).contains("note: queue group " + GROUP + " is new on " + TOPIC)
        .endsWith("received 0 messages from " + TOPIC + " in queue group " + GROUP + "\n");
    await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(200))
        .untilAsserted(() -> assertThat(queueRows()).hasSize(3));
    assertThat(ok("group", "list").out()).containsPattern("^GROUP +TYPE +STATE +GENERATION +MEMBERS +TOPICS\n")
        .containsPattern("(?m)^" + GROUP + " +queue +- +- +- +" + TOPIC + "$");

    Run again = ok("queue", "receive", TOPIC, "--group", GROUP, "--wait", "0s");
    assertThat(again.err()).as("no longer new").doesNotContain("note:");
    // Keyed, so that the messages spread over the partitions.
    Run produce = cliWithInput("k1=order-1\nk2=order-2\nk3=order-3\n", "produce", TOPIC, "--key-separator", "=");
    assertThat(produce.exitCode()).as(produce.err()).isZero();
    await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(200))
        .untilAsserted(() -> assertThat(column(queueRows(), 6)).as("backlog").isEqualTo(3));
  }

  @Test
  @Order(2)
  void shouldRejectAMessageIntoTheDeadLetterQueueWithItsReason() {
    Run reject = ok("queue", "receive", TOPIC, "--group", GROUP, "--reject", "invalid total", "--wait", "30s");
    List<Delivered> got = deliveries(reject);
    assertThat(got).hasSize(1);
    rejected = got.get(0);
    assertThat(rejected.delivery()).isEqualTo(1);
    assertThat(rejected.value()).isEqualTo("order-" + rejected.key().substring(1));
    assertThat(reject.err()).contains("received 1 message from " + TOPIC + " in queue group " + GROUP
        + "; rejected 1 (dead-lettered; see 'raftmq dlq show " + TOPIC + " --group " + GROUP + "')");

    String[] row = dlqRow();
    assertThat(row[0]).as("depth").isEqualTo("1");
    assertThat(row[1]).as("oldest age").matches("\\d+s");
    assertThat(row[2]).as("top reason").isEqualTo("REJECTED");

    Run show = ok("dlq", "show", TOPIC, "--group", GROUP);
    assertThat(show.out()).startsWith("PARTITION  OFFSET  ATTEMPTS  REASON    AGE")
        .containsPattern("(?m)^" + rejected.partition() + " +" + rejected.offset() + " +1 +REJECTED +\\d+s +invalid total +"
            + rejected.key() + " +" + rejected.value() + "$");
    assertThat(show.out().lines()).hasSize(2);
    assertThat(show.err()).contains("1 of 1 dead message of queue group " + GROUP + " on " + TOPIC + ", oldest first");

    // The copy in the dead-letter topic comes from the leader's forwarder, a moment later.
    await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(300)).untilAsserted(() ->
        assertThat(ok("dlq", "show", TOPIC, "--group", GROUP, "--all").out())
            .containsPattern("(?m)^" + rejected.partition() + " +" + rejected.offset() + " +1 +REJECTED +\\S+ +"
                + "invalid total +" + rejected.key() + " +" + rejected.value() + " +yes$"));

    List<long[]> rows = queueRows();
    assertThat(column(rows, 4)).as("dead").isEqualTo(1);
    assertThat(column(rows, 6)).as("backlog").isEqualTo(2);
  }

  @Test
  @Order(3)
  void shouldPlanARedriveWithoutChangingAnything() {
    Run dry = ok("dlq", "redrive", TOPIC, "--group", GROUP);
    assertThat(dry.out()).isEqualTo("""
        TOPIC   PARTITION  MESSAGES  KEPT-BY-LOOP-GUARD  OFFSETS
        orders  %d          1         0                   %d
        """.formatted(rejected.partition(), rejected.offset()));
    assertThat(dry.err()).contains("dry run: nothing changed; add --execute to return this message to queue group "
        + GROUP);
    Run other = ok("dlq", "redrive", TOPIC, "--group", GROUP, "--reason", "max_deliveries", "--key", rejected.key());
    assertThat(other.out()).isEmpty();
    assertThat(other.err()).startsWith("nothing to redrive: no dead message of queue group " + GROUP);
    Run before = ok("dlq", "redrive", TOPIC, "--group", GROUP, "--until", "1h", "--execute");
    assertThat(before.err()).as("died less than an hour ago").startsWith("nothing to redrive");

    assertThat(dlqRow()[0]).as("depth after the dry runs").isEqualTo("1");
    assertThat(column(queueRows(), 4)).as("dead").isEqualTo(1);
    Run receive = ok("queue", "receive", TOPIC, "--group", GROUP, "--max", "2", "--nack", "--delay", "0s", "--wait", "30s");
    assertThat(deliveries(receive)).as("the dead one is not delivered").hasSize(2)
        .noneMatch(d -> d.offset() == rejected.offset() && d.partition() == rejected.partition());
    assertThat(receive.err()).contains("nacked 2 (they come back after 0ms)");
  }

  @Test
  @Order(4)
  void shouldRedriveTheDeadMessageBackToTheQueue() {
    Run redrive = ok("dlq", "redrive", TOPIC, "--group", GROUP, "--reason", "rejected", "--since", "1h", "--rate", "5",
        "--execute");
    assertThat(redrive.out()).containsPattern("(?m)^orders +" + rejected.partition() + " +1 +0 +" + rejected.offset()
        + "$");
    assertThat(redrive.err()).contains("returned 1 message of queue group " + GROUP + " on " + TOPIC + " to its queue");
    assertThat(dlqRow()[0]).as("depth").isEqualTo("0");
    Run show = ok("dlq", "show", TOPIC, "--group", GROUP);
    assertThat(show.out()).isEmpty();
    assertThat(show.err()).contains("0 of 0 dead messages");

    Run receive = ok("queue", "receive", TOPIC, "--group", GROUP, "--max", "3", "--wait", "30s");
    List<Delivered> got = deliveries(receive);
    assertThat(got).extracting(Delivered::value).containsExactlyInAnyOrder("order-1", "order-2", "order-3");
    assertThat(got).filteredOn(d -> d.offset() == rejected.offset() && d.partition() == rejected.partition())
        .singleElement().extracting(Delivered::delivery).as("a fresh delivery count").isEqualTo(1);
    assertThat(got).filteredOn(d -> d.offset() != rejected.offset() || d.partition() != rejected.partition())
        .extracting(Delivered::delivery).as("nacked once before").containsOnly(2);
    assertThat(receive.err()).contains("acked 3");

    List<long[]> rows = queueRows();
    assertThat(column(rows, 1)).as("in flight").isZero();
    assertThat(column(rows, 3)).as("redelivered").isEqualTo(2);
    assertThat(column(rows, 4)).as("dead").isZero();
    assertThat(column(rows, 6)).as("backlog").isZero();
    assertThat(column(rows, 7)).as("acked").isEqualTo(3);
    // The copy stays in the dead-letter topic, no longer dead.
    assertThat(ok("dlq", "show", TOPIC, "--group", GROUP, "--all").out()).containsPattern("(?m) no$");
  }

  @Test
  @Order(5)
  void shouldPurgeADeadMessageOnlyWhenExecuted() {
    Run produce = cliWithInput("k4=order-4\n", "produce", TOPIC, "--key-separator", "=");
    assertThat(produce.exitCode()).as(produce.err()).isZero();
    assertThat(deliveries(ok("queue", "receive", TOPIC, "--group", GROUP, "--reject", "poison", "--wait", "30s")))
        .hasSize(1);
    Run dry = ok("dlq", "purge", TOPIC, "--group", GROUP, "--key", "k4");
    assertThat(dry.out()).startsWith("TOPIC   PARTITION  MESSAGES  OFFSETS\n").containsPattern("(?m)^orders +\\d +1 +\\d+$");
    assertThat(dry.err()).contains("dry run: nothing changed; add --execute to purge this dead message");
    assertThat(dlqRow()[0]).isEqualTo("1");
    Run purge = ok("dlq", "purge", TOPIC, "--group", GROUP, "--execute");
    assertThat(purge.err()).contains("purged 1 dead message of queue group " + GROUP + " on " + TOPIC);
    assertThat(dlqRow()[0]).isEqualTo("0");
    assertThat(column(queueRows(), 4)).as("dead").isZero();
  }

  @Test
  @Order(6)
  void shouldRefuseBadInputWithOneClearLine() {
    Run noTopic = cli("queue", "receive", "nope", "--group", GROUP, "--wait", "0s");
    assertThat(noTopic.exitCode()).isEqualTo(RaftMqCli.EXIT_ERROR);
    assertThat(noTopic.err().lines()).singleElement().asString().startsWith("error: topic nope does not exist");

    Run unknownReason = cli("dlq", "redrive", TOPIC, "--group", GROUP, "--reason", "sometimes");
    assertThat(unknownReason.exitCode()).isEqualTo(RaftMqCli.EXIT_ERROR);
    assertThat(unknownReason.err().lines()).singleElement().asString().startsWith("error: INVALID_REQUEST: ")
        .contains("unknown reason");

    for (String[] args : new String[][] {{"dlq", "show", TOPIC, "--group", "nobody"},
        {"dlq", "redrive", TOPIC, "--group", "nobody"}, {"dlq", "purge", TOPIC, "--group", "nobody", "--execute"}}) {
      Run r = cli(args);
      assertThat(r.exitCode()).as(String.join(" ", args)).isEqualTo(RaftMqCli.EXIT_ERROR);
      assertThat(r.err().lines()).as(String.join(" ", args)).singleElement().asString()
          .startsWith("error: UNKNOWN_QUEUE_GROUP: ").contains("'nobody'");
    }
    Run unknownTopic = cli("dlq", "show", "nope", "--group", GROUP);
    assertThat(unknownTopic.exitCode()).isEqualTo(RaftMqCli.EXIT_ERROR);
    assertThat(unknownTopic.err()).startsWith("error: UNKNOWN_TOPIC: ");
    Run unknownGroup = cli("group", "describe", "nobody");
    assertThat(unknownGroup.exitCode()).isEqualTo(RaftMqCli.EXIT_ERROR);
    assertThat(unknownGroup.err().lines()).singleElement().asString().startsWith("error: UNKNOWN_GROUP: ");
    Run both = cli("queue", "receive", TOPIC, "--group", GROUP, "--nack", "--reject", "x");
    assertThat(both.exitCode()).isEqualTo(RaftMqCli.EXIT_USAGE);
    Run rate = cli("dlq", "redrive", TOPIC, "--group", GROUP, "--rate", "-1", "--execute");
    assertThat(rate.exitCode()).isEqualTo(RaftMqCli.EXIT_ERROR);
    assertThat(rate.err()).startsWith("error: --rate must be at least 1");
    assertThat(dlqRow()[0]).isEqualTo("0");
  }

  @Test
  @Order(7)
  void shouldBenchAQueueGroup() throws Exception {
    Run bench = ok("bench", "queue", "--topic", "bench-q", "--partitions", "2", "--consumers", "2",
        "--produce-first", "2000", "--size", "100", "--group", "bq");
    assertThat(bench.out()).contains("created topic bench-q with 2 partitions")
        .containsPattern("(?m)^produced 2000 messages, \\d+ msg/s")
        .containsPattern("(?m)^2000 messages received and acked, \\d+ msg/s, [\\d.]+ MB/s in [\\d.]+ s$")
        .containsPattern("(?m)^raft entries per message acked: [\\d.]+ \\(\\d+ entries in 2 partitions for 2000 "
            + "messages; queue commands only")
        .contains("(2 queue consumers of group bq on bench-q, sharing one client")
        .containsPattern("(?m)^cpu per message: nodes [\\d.]+ us, this client [\\d.]+ us \\(process CPU time");
    Matcher m = Pattern.compile("raft entries per message acked: ([\\d.]+)").matcher(bench.out());
    assertThat(m.find()).isTrue();
    assertThat(Double.parseDouble(m.group(1))).as("acquires and acks are batched").isGreaterThan(0).isLessThan(1);
    Run d = ok("group", "describe", "bq");
    assertThat(d.out()).containsPattern("(?m)^bench-q +0 +0 +0 +\\d+ +0 +\\d+ +0 +\\d+$");
    // The leaders' group commit shows on /metrics: every queue entry carried at least one command.
    long entries = 0;
    long commands = 0;
    for (int node = 1; node <= 3; node++) {
      String metrics = scrape(node);
      entries += sum(metrics, "raftmq_queue_raft_entries_total", "bench-q");
      commands += sum(metrics, "raftmq_queue_commands_total", "bench-q");
    }
    assertThat(entries).as("queue entries proposed for bench-q").isPositive();
    assertThat(commands).as("queue commands proposed for bench-q").isGreaterThanOrEqualTo(entries);
  }

  private static String scrape(int node) throws Exception {
    java.net.http.HttpClient http = java.net.http.HttpClient.newHttpClient();
    return http.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create(
            "http://127.0.0.1:" + cluster.node(node).httpPort() + "/metrics")).build(),
        java.net.http.HttpResponse.BodyHandlers.ofString()).body();
  }

  /** The sum of a metric's samples over the partitions of {@code topic}. */
  private static long sum(String metrics, String name, String topic) {
    long total = 0;
    Matcher m = Pattern.compile("(?m)^" + name + "\\{([^}]*)\\} (\\S+)$").matcher(metrics);
    while (m.find()) {
      if (m.group(1).contains("topic=\"" + topic + "\"")) {
        total += (long) Double.parseDouble(m.group(2));
      }
    }
    return total;
  }

  @Test
  @Order(8)
  void shouldBenchAQueueGroupAgainstAStreamGroupOverRuns() {
    Run bench = ok("bench", "queue", "--topic", "bench-q", "--consumers", "2", "--produce-first", "1500",
        "--size", "100", "--group", "bq2", "--runs", "2", "--compare-stream", "--client-per-consumer");
    for (int run = 1; run <= 2; run++) {
      String prefix = "run " + run + "/2: ";
      assertThat(bench.out())
          .containsPattern("(?m)^" + prefix + "1500 messages received and acked, \\d+ msg/s")
          .contains(prefix + "(2 queue consumers of group bq2-" + run + " on bench-q, each with a client of its own")
          .containsPattern("(?m)^" + prefix + "stream group raftmq-bench-stream-\\w+-" + run
              + ", 2 consumers: 1500 messages, \\d+ msg/s")
          .containsPattern("(?m)^" + prefix + "cpu per message: nodes [\\d.]+ us, this client [\\d.]+ us")
          .containsPattern("(?m)^" + prefix + "stream group cpu per message: nodes [\\d.]+ us, this client [\\d.]+ us")
          .containsPattern("(?m)^" + prefix + "queue/stream throughput: \\d+\\.\\d\\d$");
    }
    assertThat(bench.out()).containsPattern("(?m)^queue/stream throughput over 2 runs: median \\d+\\.\\d\\d, "
        + "min \\d+\\.\\d\\d, max \\d+\\.\\d\\d$");
    // Each run had a queue group of its own, made before the backlog, and drained it; the stream groups
    // made for the comparison are gone.
    for (String g : new String[] {"bq2-1", "bq2-2"}) {
      assertThat(ok("group", "describe", g).out()).containsPattern("(?m)^bench-q +0 +0 +0 +\\d+ +0 +\\d+ +0 +\\d+$");
    }
    assertThat(ok("group", "list").out()).doesNotContain("raftmq-bench-stream-");
  }
}
