package io.raftmq.cli;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.LoggerContext;
import io.raftmq.cli.demo.DemoReport;
import io.raftmq.cli.demo.NodeControl;
import io.raftmq.cli.demo.OrderBusDemo;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/** {@code raftmq demo orders}: the order-event bus, run end to end against a cluster (see {@link OrderBusDemo}). */
@Command(name = "demo", description = "Runnable demos against a running cluster.", subcommands = DemoCommand.Orders.class)
final class DemoCommand implements Callable<Integer> {
  @ParentCommand
  RaftMqCli cli;

  @Spec
  CommandSpec spec;

  @Override
  public Integer call() {
    throw new ParameterException(spec.commandLine(), "missing subcommand: orders");
  }

  /** {@code raftmq demo orders}. */
  @Command(name = "orders", sortOptions = false,
      description = {"The order-event bus: an order service publishes order.created events (keyed by customer) while "
          + "five consumer groups work on them - inventory and recommendations (stream groups), loyalty-points, "
          + "warehouse (slow, batched) and fraud-audit (ordering=key) (queue groups). A few poison orders end in the "
          + "DLQ topics; with --kill-node a node is killed a third of the way in and restarted two thirds in.",
          "Prints progress, then a summary per group: orders processed, per-customer order, dead letters (read back "
              + "from the DLQ topics), lag or queue depth. Exits 0 when every check passed, 1 otherwise.",
          "It deletes nothing: if the topic exists from an earlier run, it uses the first free TOPIC-2, TOPIC-3, ..."})
  static final class Orders implements Callable<Integer> {
    @ParentCommand
    DemoCommand demo;

    @Spec
    CommandSpec spec;

    @Option(names = "--orders", paramLabel = "N", defaultValue = "2000", description = "Orders to publish (default ${DEFAULT-VALUE}).")
    int orders;

    @Option(names = "--duration", paramLabel = "DURATION", defaultValue = "25s", converter = Durations.class,
        description = "Publish them evenly over this long (default ${DEFAULT-VALUE}).")
    Duration duration;

    @Option(names = "--topic", paramLabel = "NAME", defaultValue = "orders", description = "The topic (default ${DEFAULT-VALUE}).")
    String topic;

    @Option(names = "--partitions", paramLabel = "N", defaultValue = "6", description = "Its partitions (default ${DEFAULT-VALUE}).")
    int partitions;

    @Option(names = "--kill-node", paramLabel = "ID", defaultValue = "0",
        description = "Kill -9 this node (a node of scripts/cluster.sh) a third of the way in and restart it two thirds "
            + "in (default: kill none).")
    int killNode;

    @Option(names = "--cluster-script", paramLabel = "PATH",
        description = "The scripts/cluster.sh that started the cluster, used as 'cluster.sh kill ID' and 'cluster.sh "
            + "start ID' (default: the one next to this build of raftmq).")
    Path clusterScript;

    @Option(names = "--drain-timeout", paramLabel = "DURATION", defaultValue = "120s", converter = Durations.class,
        description = "How long the groups may take to catch up after the last order (default ${DEFAULT-VALUE}).")
    Duration drainTimeout;

    @Option(names = "--seed", paramLabel = "N", defaultValue = "42", description = "Seed of the orders (default ${DEFAULT-VALUE}).")
    long seed;

    @Override
    public Integer call() throws Exception {
      RaftMqCli cli = demo.cli;
      PrintWriter out = spec.commandLine().getOut();
      if (orders < 10) {
        throw new IllegalArgumentException("--orders must be at least 10");
      }
      OrderBusDemo.Settings settings = OrderBusDemo.Settings.defaults(cli.bootstrap).withOrders(orders)
          .withDuration(duration).withTopic(topic, partitions).withDrainTimeout(drainTimeout).withSeed(seed);
      if (killNode != 0) {
        settings = settings.withKill(killNode, new ScriptNodeControl(clusterScript == null ? defaultScript() : clusterScript));
      }
      if (!cli.verbose()) {
        quietSdkWarnings();
      }
      DemoReport report = new OrderBusDemo(settings, out).run();
      out.println();
      out.print(report.render());
      if (cli.verbose()) {
        out.println();
        out.print(report.renderChecks());
      }
      out.flush();
      return report.passed() ? 0 : RaftMqCli.EXIT_ERROR;
    }

    /**
     * The SDK warns of every retry while a node is down; the summary counts those errors per group
     * instead (ERRORS), and {@code -v} shows them.
     */
    private static void quietSdkWarnings() {
      if (System.getProperty("logback.configurationFile") == null
          && LoggerFactory.getILoggerFactory() instanceof LoggerContext ctx) {
        ctx.getLogger("io.raftmq.client").setLevel(Level.ERROR);
      }
    }

    /** {@code scripts/cluster.sh} of the source tree this CLI runs from ({@code broker-node/target/raftmq.jar}). */
    private static Path defaultScript() {
      try {
        Path code = Path.of(DemoCommand.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        Path script = code.toAbsolutePath().getParent().getParent().getParent().resolve("scripts/cluster.sh");
        if (Files.isExecutable(script)) {
          return script;
        }
        throw new IllegalArgumentException("--kill-node needs --cluster-script: no scripts/cluster.sh at " + script);
      } catch (URISyntaxException | NullPointerException | SecurityException e) {
        throw new IllegalArgumentException("--kill-node needs --cluster-script (cannot find scripts/cluster.sh)", e);
      }
    }
  }

  /** Kills and restarts nodes with {@code cluster.sh kill N} and {@code cluster.sh start N}: a kill -9 by pid. */
  static final class ScriptNodeControl implements NodeControl {
    private final Path script;

    ScriptNodeControl(Path script) {
      this.script = script;
    }

    @Override
    public String kill(int nodeId) throws Exception {
      return run("kill", nodeId);
    }

    @Override
    public String restart(int nodeId) throws Exception {
      return run("start", nodeId);
    }

    private String run(String verb, int nodeId) throws IOException, InterruptedException {
      Process p = new ProcessBuilder(List.of(script.toString(), verb, String.valueOf(nodeId)))
          .redirectErrorStream(true).redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile())).start();
      // cluster.sh start leaves the node running in the background with its own output file, so the
      // script's stdout closes when the script itself ends.
      String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
      if (!p.waitFor(60, TimeUnit.SECONDS)) {
        p.destroyForcibly();
        throw new IOException(script + " " + verb + " " + nodeId + " did not finish within 60 s");
      }
      if (p.exitValue() != 0) {
        throw new IOException(script + " " + verb + " " + nodeId + " failed (exit " + p.exitValue() + "): " + output);
      }
      return output.isEmpty() ? script.getFileName() + " " + verb + " " + nodeId : output.replace('\n', ' ');
    }
  }
}
