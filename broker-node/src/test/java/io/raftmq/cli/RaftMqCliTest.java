package io.raftmq.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayInputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

class RaftMqCliTest {
  /** The outcome of one CLI invocation. */
  record Run(int exitCode, String out, String err) {}

  static Run runWithInput(String stdin, String... args) {
    CommandLine cmd = RaftMqCli.commandLine(new ByteArrayInputStream(stdin.getBytes(java.nio.charset.StandardCharsets.UTF_8)));
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    cmd.setOut(new PrintWriter(out, true));
    cmd.setErr(new PrintWriter(err, true));
    int code = cmd.execute(args);
    return new Run(code, out.toString(), err.toString());
  }

  static Run run(String... args) {
    return runWithInput("", args);
  }

  /** A port nothing listens on: bound, then released. */
  static int deadPort() {
    return io.raftmq.broker.TestPorts.next();
  }

  @Test
  void shouldPrintOneLineAndExit2ForAnUnknownOption() {
    Run r = run("topic", "create", "orders", "--partitions", "3", "--bogus");
    assertThat(r.exitCode()).isEqualTo(2);
    assertThat(r.err().lines()).hasSize(1);
    assertThat(r.err()).startsWith("error: Unknown option: '--bogus'").contains("raftmq topic create --help");
    assertThat(r.out()).isEmpty();
  }

  @Test
  void shouldExit2WhenARequiredOptionIsMissing() {
    Run r = run("topic", "create", "orders");
    assertThat(r.exitCode()).isEqualTo(2);
    assertThat(r.err().lines()).singleElement().asString().contains("--partitions");
  }

  @Test
  void shouldExit2ForAMissingCommandOrSubcommand() {
    assertThat(run().exitCode()).isEqualTo(2);
    Run r = run("topic");
    assertThat(r.exitCode()).isEqualTo(2);
    assertThat(r.err()).startsWith("error: missing subcommand");
    assertThat(run("bogus").exitCode()).isEqualTo(2);
  }

  @Test
  void shouldRejectBadValuesAtParseTime() {
    Run duration = run("consume", "t", "--timeout", "10");
    assertThat(duration.exitCode()).isEqualTo(2);
    assertThat(duration.err().lines()).singleElement().asString().contains("bad duration '10'");

    Run from = run("consume", "t", "--from", "yesterday");
    assertThat(from.exitCode()).isEqualTo(2);
    assertThat(from.err()).contains("expected earliest, latest or an offset");

    Run acks = run("produce", "t", "--acks", "all");
    assertThat(acks.exitCode()).isEqualTo(2);
    assertThat(acks.err()).contains("--acks");

    Run notNumber = run("topic", "create", "t", "--partitions", "many");
    assertThat(notNumber.exitCode()).isEqualTo(2);
  }

  @Test
  void shouldAcceptAcksCaseInsensitively() throws Exception {
    // Parses (exit 1 from the unreachable broker, not 2 from the parser).
    Run r = runWithInput("a\n", "--bootstrap", "127.0.0.1:" + deadPort(), "--request-timeout", "300ms",
        "produce", "t", "--acks", "LEADER");
    assertThat(r.exitCode()).isNotEqualTo(2);
  }

  @Test
  void shouldRejectKeyTogetherWithKeySeparator() {
    Run r = run("produce", "t", "--key", "k", "--key-separator", ":");
    assertThat(r.exitCode()).isEqualTo(2);
    assertThat(r.err().lines()).singleElement().asString().contains("mutually exclusive");
  }

  @Test
  void shouldReportInputErrorsFoundWhileRunningAsOneLineWithExit1() {
    Run r = run("topic", "create", "t", "--partitions", "0");
    assertThat(r.exitCode()).isEqualTo(1);
    assertThat(r.err()).isEqualTo("error: --partitions must be at least 1" + System.lineSeparator());

    Run fmt = run("consume", "t", "--format", "%q");
    assertThat(fmt.exitCode()).isEqualTo(1);
    assertThat(fmt.err().lines()).singleElement().asString().startsWith("error: unknown placeholder '%q'");
  }

  @Test
  void shouldReportAnUnreachableClusterAsOneErrorLineWithoutStackTrace() throws Exception {
    Run r = run("--bootstrap", "127.0.0.1:" + deadPort(), "--request-timeout", "300ms", "topic", "list");
    assertThat(r.exitCode()).isEqualTo(1);
    assertThat(r.err().lines()).singleElement().asString().startsWith("error: ");
    assertThat(r.out()).isEmpty();
  }

  @Test
  void shouldPrintTheStackTraceWithVerbose() throws Exception {
    Run r = run("-v", "--bootstrap", "127.0.0.1:" + deadPort(), "--request-timeout", "300ms", "topic", "list");
    assertThat(r.exitCode()).isEqualTo(1);
    assertThat(r.err().lines().count()).isGreaterThan(1);
    assertThat(r.err()).contains("\tat ");
  }

  @Test
  void shouldAcceptGlobalOptionsAfterTheSubcommand() throws Exception {
    RaftMqCli cli = new RaftMqCli(new ByteArrayInputStream(new byte[0]));
    CommandLine cmd = new CommandLine(cli);
    cmd.parseArgs("topic", "list", "--bootstrap", "h:1", "--request-timeout", "2s");
    assertThat(cli.bootstrap).isEqualTo("h:1");
    assertThat(cli.requestTimeout()).isEqualTo(Duration.ofSeconds(2));
  }

  @Test
  void shouldDefaultTheBootstrapToLocalhost() {
    RaftMqCli cli = new RaftMqCli(new ByteArrayInputStream(new byte[0]));
    new CommandLine(cli).parseArgs("topic", "list");
    String env = System.getenv("RAFTMQ_BOOTSTRAP");
    assertThat(cli.bootstrap).isEqualTo(env != null ? env : "127.0.0.1:9091");
  }

  @Test
  void shouldRenderHelpForEveryCommand() {
    for (String[] args : new String[][] {{"--help"}, {"node", "start", "--help"}, {"cluster", "status", "--help"},
        {"topic", "create", "--help"}, {"produce", "--help"}, {"consume", "--help"}, {"bench", "produce", "--help"}}) {
      Run r = run(args);
      assertThat(r.exitCode()).as(String.join(" ", args)).isZero();
      assertThat(r.out()).as(String.join(" ", args)).startsWith("Usage: raftmq");
    }
    assertThat(run("consume", "--help").out()).contains("%v").contains("%t topic");
  }

  @Test
  void shouldReadNodeFlagsOverAPropertiesFile(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
      throws Exception {
    java.nio.file.Path props = dir.resolve("node.properties");
    java.nio.file.Files.writeString(props, "node.id=2\ndata.dir=/tmp/x\nclient.port=9092\nhttp.port=8082\n"
        + "peers=1@127.0.0.1:9191,2@127.0.0.1:9192,3@127.0.0.1:9193\n");
    NodeCommand.Start start = new NodeCommand.Start();
    new CommandLine(start).parseArgs("--config", props.toString(), "--http-port", "8089");
    io.raftmq.broker.NodeConfig c = start.config();
    assertThat(c.nodeId()).isEqualTo(2);
    assertThat(c.raftPort()).isEqualTo(9192);
    assertThat(c.clientPort()).isEqualTo(9092);
    assertThat(c.httpPort()).isEqualTo(8089);
  }

  @Test
  void shouldExit1WithTheConfigProblemForABadNodeConfig() {
    Run r = run("node", "start", "--id", "4", "--data-dir", "/tmp/nowhere",
        "--peers", "1@127.0.0.1:9191,2@127.0.0.1:9192");
    assertThat(r.exitCode()).isEqualTo(1);
    assertThat(r.err()).isEqualTo("error: --id 4 is not among --peers" + System.lineSeparator());
  }
}
