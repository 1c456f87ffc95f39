package io.raftmq.cli;

import io.raftmq.broker.BrokerNode;
import io.raftmq.broker.NodeConfig;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/** {@code raftmq node start}: runs one broker node in this process until it is stopped. */
@Command(name = "node", description = "Run a broker node.", subcommands = NodeCommand.Start.class)
final class NodeCommand implements Callable<Integer> {
  @Spec
  CommandSpec spec;

  @Override
  public Integer call() {
    throw new ParameterException(spec.commandLine(), "missing subcommand: start");
  }

  /**
   * Starts a node from flags and/or a properties file (flags win) and blocks until the process is
   * told to stop (SIGTERM/SIGINT close the node cleanly through a shutdown hook).
   */
  @Command(name = "start", sortOptions = false,
      description = {"Start a broker node and run it until SIGTERM or SIGINT.",
          "Flags override the values of --config (keys: node.id, data.dir, host, client.port, raft.port, "
              + "http.port, peers, max.message.bytes, election.timeout.min.ms, ...)."})
  static final class Start implements Callable<Integer> {
    private static final Logger log = LoggerFactory.getLogger(Start.class);

    @Option(names = "--id", paramLabel = "N", description = "This node's id; must appear in --peers.")
    Integer nodeId;

    @Option(names = "--data-dir", paramLabel = "DIR", description = "Where the node keeps its logs and snapshots.")
    Path dataDir;

    @Option(names = "--client-port", paramLabel = "PORT", description = "Port for clients (default 9091).")
    Integer clientPort;

    @Option(names = "--raft-port", paramLabel = "PORT", description = "Port for Raft traffic (default: this node's port in --peers).")
    Integer raftPort;

    @Option(names = "--http-port", paramLabel = "PORT", description = "Port for /health and /metrics (default 8081).")
    Integer httpPort;

    @Option(names = "--peers", paramLabel = "ID@HOST:RAFTPORT,...",
        description = "Every node of the cluster with its Raft address, e.g. 1@127.0.0.1:9191,2@127.0.0.1:9192,3@127.0.0.1:9193.")
    String peers;

    @Option(names = "--host", paramLabel = "HOST", description = "Address to bind and advertise (default: this node's host in --peers).")
    String host;

    @Option(names = "--config", paramLabel = "FILE.properties", description = "Read settings from a properties file first.")
    Path configFile;

    /** The chaos suite's planted bug: acks before the quorum commit. Hidden; never for real use. */
    @Option(names = "--unsafe-ack-before-commit-for-tests", hidden = true)
    boolean unsafeAckBeforeCommitForTests;

    @Override
    public Integer call() throws Exception {
      NodeConfig config = config();
      Logging.forNode();
      if (config.unsafeAckBeforeCommitForTests()) {
        log.warn("!!!!! UNSAFE TEST MODE: --unsafe-ack-before-commit-for-tests acknowledges produces before "
            + "the quorum commit; acknowledged messages WILL be lost on failover. Only the chaos suite's "
            + "checker self-test may use this. !!!!!");
      }
      BrokerNode node = BrokerNode.start(config);
      Thread hook = new Thread(node::close, "raftmq-shutdown");
      Runtime.getRuntime().addShutdownHook(hook);
      node.awaitClose();
      log.info("node {} stopped", config.nodeId());
      return 0;
    }

    /** The node's configuration: the properties file if given, then the flags over it. */
    NodeConfig config() throws java.io.IOException {
      NodeConfig.Builder b = configFile != null ? NodeConfig.fromProperties(configFile) : NodeConfig.builder();
      if (nodeId != null) {
        b.nodeId(nodeId);
      }
      if (dataDir != null) {
        b.dataDir(dataDir);
      }
      if (host != null) {
        b.host(host);
      }
      if (clientPort != null) {
        b.clientPort(clientPort);
      }
      if (raftPort != null) {
        b.raftPort(raftPort);
      }
      if (httpPort != null) {
        b.httpPort(httpPort);
      }
      if (peers != null) {
        b.peers(peers);
      }
      if (unsafeAckBeforeCommitForTests) {
        b.unsafeAckBeforeCommitForTests(true);
      }
      return b.build();
    }
  }
}
