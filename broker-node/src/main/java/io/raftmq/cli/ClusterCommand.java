package io.raftmq.cli;

import io.raftmq.client.ClusterMetadata;
import io.raftmq.client.NodeAddress;
import io.raftmq.client.PartitionInfo;
import io.raftmq.client.RaftMqClient;
import io.raftmq.client.TopicDescription;
import java.io.PrintWriter;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/** {@code raftmq cluster status}. */
@Command(name = "cluster", description = "Inspect the cluster.", subcommands = ClusterCommand.Status.class)
final class ClusterCommand implements Callable<Integer> {
  @ParentCommand
  RaftMqCli cli;

  @Spec
  CommandSpec spec;

  @Override
  public Integer call() {
    throw new ParameterException(spec.commandLine(), "missing subcommand: status");
  }

  /**
   * Asks the bootstrap nodes for metadata, then every node for its own metadata answer, and reports
   * the cluster healthy (exit 0) when every node answered, the metadata group has a leader and every
   * partition has a leader that answered; otherwise exit 10, as {@code rpk cluster health}.
   */
  @Command(name = "status", aliases = "health",
      description = {"Show each node (up if it answers a metadata request), what it leads, and the metadata leader.",
          "Exits 0 when every node is up and every partition has a live leader, 10 otherwise."})
  static final class Status implements Callable<Integer> {
    /** The longest a single node's probe may take, so a dead node does not stall the report. */
    static final Duration MAX_PROBE_TIMEOUT = Duration.ofSeconds(3);

    @ParentCommand
    ClusterCommand cluster;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
      RaftMqCli cli = cluster.cli;
      ClusterMetadata md;
      try (RaftMqClient client = cli.connect()) {
        md = client.metadata(cli.requestTimeout());
      }
      Map<Integer, Boolean> up = probe(cli, md.nodes());
      Report report = Report.of(md, up);
      PrintWriter out = spec.commandLine().getOut();
      out.print(report.render());
      out.flush();
      return report.healthy() ? 0 : RaftMqCli.EXIT_UNHEALTHY;
    }

    /** Asks each node, in parallel, for metadata through a client bootstrapped on it alone. */
    private static Map<Integer, Boolean> probe(RaftMqCli cli, List<NodeAddress> nodes) throws InterruptedException {
      Duration timeout = cli.requestTimeout().compareTo(MAX_PROBE_TIMEOUT) < 0 ? cli.requestTimeout() : MAX_PROBE_TIMEOUT;
      Map<Integer, Boolean> up = new HashMap<>();
      ExecutorService pool = Executors.newFixedThreadPool(Math.max(1, nodes.size()), r -> {
        Thread t = new Thread(r, "raftmq-status-probe");
        t.setDaemon(true);
        return t;
      });
      try {
        Map<Integer, CompletableFuture<Boolean>> probes = new HashMap<>();
        for (NodeAddress n : nodes) {
          probes.put(n.nodeId(), CompletableFuture.supplyAsync(() -> answers(cli, n, timeout), pool));
        }
        long deadline = System.nanoTime() + timeout.toNanos() + TimeUnit.SECONDS.toNanos(2);
        for (Map.Entry<Integer, CompletableFuture<Boolean>> e : probes.entrySet()) {
          long left = Math.max(0, deadline - System.nanoTime());
          boolean ok;
          try {
            ok = e.getValue().get(left, TimeUnit.NANOSECONDS);
          } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException ex) {
            ok = false;
          }
          up.put(e.getKey(), ok);
        }
      } finally {
        pool.shutdownNow();
      }
      return up;
    }

    private static boolean answers(RaftMqCli cli, NodeAddress n, Duration timeout) {
      try (RaftMqClient client = cli.connect(n.host() + ":" + n.port(), timeout)) {
        return client.metadata(timeout).answeringNode() == n.nodeId();
      } catch (RuntimeException e) {
        return false;
      }
    }
  }

  /** What {@code cluster status} found; {@link #render()} is its text. */
  record Report(ClusterMetadata metadata, Map<Integer, Boolean> up) {
    static Report of(ClusterMetadata md, Map<Integer, Boolean> up) {
      return new Report(md, Map.copyOf(up));
    }

    boolean isUp(int nodeId) {
      return up.getOrDefault(nodeId, false);
    }

    int partitions() {
      return metadata.topics().stream().mapToInt(t -> t.partitions().size()).sum();
    }

    /** Partitions whose leader is unknown or a node that did not answer. */
    int leaderless() {
      int n = 0;
      for (TopicDescription t : metadata.topics()) {
        for (PartitionInfo p : t.partitions()) {
          if (p.leader() < 0 || !isUp(p.leader())) {
            n++;
          }
        }
      }
      return n;
    }

    long nodesDown() {
      return metadata.nodes().stream().filter(n -> !isUp(n.nodeId())).count();
    }

    boolean healthy() {
      return !metadata.nodes().isEmpty() && nodesDown() == 0 && leaderless() == 0
          && metadata.metadataLeader() >= 0 && isUp(metadata.metadataLeader());
    }

    String render() {
      Map<Integer, Integer> leads = new HashMap<>();
      for (TopicDescription t : metadata.topics()) {
        for (PartitionInfo p : t.partitions()) {
          if (p.leader() >= 0) {
            leads.merge(p.leader(), 1, Integer::sum);
          }
        }
      }
      List<NodeAddress> nodes = new ArrayList<>(metadata.nodes());
      nodes.sort(Comparator.comparingInt(NodeAddress::nodeId));
      Table t = new Table("NODE", "ADDRESS", "HTTP", "STATUS", "LEADS");
      for (NodeAddress n : nodes) {
        t.row(n.nodeId(), n.host() + ":" + n.port(), n.host() + ":" + n.httpPort(),
            isUp(n.nodeId()) ? "up" : "down", leads.getOrDefault(n.nodeId(), 0));
      }
      StringBuilder sb = new StringBuilder(t.render());
      sb.append('\n');
      int ml = metadata.metadataLeader();
      sb.append("metadata leader: ").append(ml < 0 ? "none" : String.valueOf(ml)).append('\n');
      sb.append("topics: ").append(metadata.topics().size())
          .append(", partitions: ").append(partitions())
          .append(", without leader: ").append(leaderless()).append('\n');
      sb.append("healthy: ").append(healthy() ? "yes" : "no");
      if (!healthy()) {
        List<String> why = new ArrayList<>();
        if (nodesDown() > 0) {
          why.add(nodesDown() + " node" + (nodesDown() == 1 ? "" : "s") + " down");
        }
        if (leaderless() > 0) {
          why.add(leaderless() + " partition" + (leaderless() == 1 ? "" : "s") + " without a live leader");
        }
        if (ml < 0 || !isUp(ml)) {
          why.add("no live metadata leader");
        }
        if (metadata.nodes().isEmpty()) {
          why.add("no nodes in metadata");
        }
        sb.append(" (").append(String.join(", ", why)).append(')');
      }
      sb.append('\n');
      return sb.toString();
    }
  }
}
