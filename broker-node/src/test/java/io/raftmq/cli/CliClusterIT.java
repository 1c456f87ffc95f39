package io.raftmq.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.raftmq.broker.TestCluster;
import java.io.ByteArrayInputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** The CLI's commands against three in-process broker nodes, as a user would type them. */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class CliClusterIT {
  @TempDir
  static Path dir;
  static TestCluster cluster;
  static String bootstrap;

  record Run(int exitCode, String out, String err) {}

  static Run cliWithInput(String stdin, String... args) {
    CommandLine cmd = RaftMqCli.commandLine(new ByteArrayInputStream(stdin.getBytes(StandardCharsets.UTF_8)));
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    cmd.setOut(new PrintWriter(out, true));
    cmd.setErr(new PrintWriter(err, true));
    List<String> all = new ArrayList<>(List.of("--bootstrap", bootstrap, "--request-timeout", "5s"));
    all.addAll(List.of(args));
    int code = cmd.execute(all.toArray(String[]::new));
    return new Run(code, out.toString(), err.toString());
  }

  static Run cli(String... args) {
    return cliWithInput("", args);
  }

  @BeforeAll
  static void startCluster() {
    cluster = new TestCluster(dir).start();
    bootstrap = cluster.bootstrap();
    await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(200))
        .until(() -> cli("cluster", "status").exitCode() == 0);
  }

  @AfterAll
  static void stopCluster() {
    cluster.close();
  }

  @Test
  @Order(1)
  void shouldCreateListAndDescribeATopic() {
    Run create = cli("topic", "create", "orders", "--partitions", "3", "--replicas", "3");
    assertThat(create.exitCode()).as(create.err()).isZero();
    assertThat(create.out()).contains("created topic orders with 3 partitions");

    assertThat(cli("topic", "list").out()).isEqualTo("orders" + System.lineSeparator());

    Run describe = cli("topic", "describe", "orders");
    assertThat(describe.exitCode()).isZero();
    assertThat(describe.out()).contains("PARTITION  LEADER  REPLICAS  LOG-START-OFFSET  HIGH-WATERMARK");
    assertThat(describe.out().lines().filter(l -> l.matches("^[0-2] .*"))).hasSize(3);

    Run again = cli("topic", "create", "orders", "--partitions", "3");
    assertThat(again.exitCode()).isEqualTo(1);
    assertThat(again.err()).startsWith("error: TOPIC_ALREADY_EXISTS");
  }

  @Test
  @Order(2)
  void shouldProduceLinesAndConsumeThemBack() {
    Run produce = cliWithInput("k1=v1\nk2=v2\nbad\nk3=v3\n", "produce", "orders", "--key-separator", "=", "--header", "src=it");
    assertThat(produce.exitCode()).isEqualTo(1);
    assertThat(produce.err()).contains("error: line 3: no key separator '=' in line")
        .contains("produced 3 messages to orders, 1 failed");

    Run good = cliWithInput("k4=v4\n", "produce", "orders", "--key-separator", "=");
    assertThat(good.exitCode()).as(good.err()).isZero();

    Run consume = cli("consume", "orders", "--from", "earliest", "--max-messages", "4", "--timeout", "20s",
        "--format", "%k=%v");
    assertThat(consume.exitCode()).as(consume.err()).isZero();
    assertThat(consume.out().lines()).containsExactlyInAnyOrder("k1=v1", "k2=v2", "k3=v3", "k4=v4");
    assertThat(consume.err()).contains("consumed 4 messages from orders");
  }

  @Test
  @Order(3)
  void shouldBenchAnExistingTopicAndRefuseAMissingOne() {
    Run bench = cli("bench", "produce", "--topic", "orders", "--messages", "2000", "--size", "64", "--producers", "2");
    assertThat(bench.exitCode()).as(bench.err()).isZero();
    assertThat(bench.out()).containsPattern("^2000 messages, \\d+ msg/s, [\\d.]+ MB/s, latency ms p50 [\\d.]+ "
        + "p99 [\\d.]+ p99\\.9 [\\d.]+ max [\\d.]+");

    Run missing = cli("bench", "produce", "--topic", "nope", "--messages", "10");
    assertThat(missing.exitCode()).isEqualTo(1);
    assertThat(missing.err()).startsWith("error: topic nope does not exist");
  }

  @Test
  @Order(4)
  void shouldReportUnhealthyWithExit10WhenANodeIsDown() {
    Run healthy = cli("cluster", "status");
    assertThat(healthy.exitCode()).isZero();
    assertThat(healthy.out()).contains("healthy: yes");

    cluster.stop(3);
    Run status = cli("cluster", "status");
    assertThat(status.exitCode()).isEqualTo(RaftMqCli.EXIT_UNHEALTHY);
    assertThat(status.out()).containsPattern("(?m)^3 .* down ").contains("healthy: no");
  }
}
