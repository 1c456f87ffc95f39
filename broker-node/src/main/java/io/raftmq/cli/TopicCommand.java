package io.raftmq.cli;

import io.raftmq.client.Admin;
import io.raftmq.client.NewTopic;
import io.raftmq.client.PartitionInfo;
import io.raftmq.client.RaftMqClient;
import io.raftmq.client.TopicDescription;
import java.io.PrintWriter;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.stream.Collectors;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/** {@code raftmq topic create|list|describe|delete}. */
@Command(name = "topic", description = "Create, list, describe and delete topics.",
    subcommands = {TopicCommand.Create.class, TopicCommand.ListTopics.class, TopicCommand.Describe.class,
        TopicCommand.Delete.class})
final class TopicCommand implements Callable<Integer> {
  @ParentCommand
  RaftMqCli cli;

  @Spec
  CommandSpec spec;

  @Override
  public Integer call() {
    throw new ParameterException(spec.commandLine(), "missing subcommand: create, list, describe or delete");
  }

  /** Waits for an admin future within the request timeout (plus slack: the SDK bounds it too). */
  <T> T await(CompletableFuture<T> f) throws Exception {
    return cli.await(f);
  }

  @Command(name = "create", description = "Create a topic; returns once every partition has a leader.")
  static final class Create implements Callable<Integer> {
    @ParentCommand
    TopicCommand topic;

    @Spec
    CommandSpec spec;

    @Parameters(index = "0", paramLabel = "NAME", description = "Topic name: [a-zA-Z0-9._-]{1,200}.")
    String name;

    @Option(names = "--partitions", required = true, paramLabel = "N", description = "Number of partitions.")
    int partitions;

    @Option(names = "--replicas", paramLabel = "N", defaultValue = "0",
        description = "Replicas per partition (default: the broker's default, all nodes up to 3).")
    int replicas;

    @Option(names = "--config", paramLabel = "KEY=VALUE", description = "A topic configuration entry; repeatable.")
    Map<String, String> configs = new LinkedHashMap<>();

    @Override
    public Integer call() throws Exception {
      if (partitions < 1) {
        throw new IllegalArgumentException("--partitions must be at least 1");
      }
      if (replicas < 0) {
        throw new IllegalArgumentException("--replicas must be at least 1");
      }
      try (RaftMqClient client = topic.cli.connect()) {
        TopicDescription d = topic.await(client.admin().createTopic(new NewTopic(name, partitions, replicas, configs)));
        PrintWriter out = spec.commandLine().getOut();
        out.println("created topic " + d.name() + " with " + d.partitions().size() + " partition"
            + (d.partitions().size() == 1 ? "" : "s") + ", replication factor " + d.replicationFactor());
        out.flush();
      }
      return 0;
    }
  }

  @Command(name = "list", description = "List topic names, one per line.")
  static final class ListTopics implements Callable<Integer> {
    @ParentCommand
    TopicCommand topic;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
      try (RaftMqClient client = topic.cli.connect()) {
        List<String> names = topic.await(client.admin().listTopics());
        PrintWriter out = spec.commandLine().getOut();
        names.forEach(out::println);
        out.flush();
      }
      return 0;
    }
  }

  @Command(name = "describe", description = "Show a topic's partitions: leaders, replicas, offsets.")
  static final class Describe implements Callable<Integer> {
    @ParentCommand
    TopicCommand topic;

    @Spec
    CommandSpec spec;

    @Parameters(index = "0", paramLabel = "NAME")
    String name;

    @Override
    public Integer call() throws Exception {
      try (RaftMqClient client = topic.cli.connect()) {
        Admin admin = client.admin();
        TopicDescription d = topic.await(admin.describeTopic(name));
        PrintWriter out = spec.commandLine().getOut();
        out.print(render(d));
        out.flush();
      }
      return 0;
    }

    /** The header lines and the partition table. */
    static String render(TopicDescription d) {
      StringBuilder sb = new StringBuilder();
      sb.append("TOPIC: ").append(d.name())
          .append("  ID: ").append(d.topicId())
          .append("  PARTITIONS: ").append(d.partitions().size())
          .append("  REPLICATION-FACTOR: ").append(d.replicationFactor()).append('\n');
      if (!d.configs().isEmpty()) {
        sb.append("CONFIGS: ").append(new TreeMap<>(d.configs()).entrySet().stream()
            .map(e -> e.getKey() + "=" + e.getValue()).collect(Collectors.joining(","))).append('\n');
      }
      sb.append('\n');
      Table t = new Table("PARTITION", "LEADER", "REPLICAS", "LOG-START-OFFSET", "HIGH-WATERMARK");
      for (PartitionInfo p : d.partitions()) {
        t.row(p.partition(), p.leader() < 0 ? "none" : p.leader(),
            p.replicas().stream().map(String::valueOf).collect(Collectors.joining(",")),
            p.logStartOffset() < 0 ? "-" : p.logStartOffset(),
            p.highWatermark() < 0 ? "-" : p.highWatermark());
      }
      sb.append(t.render());
      return sb.toString();
    }
  }

  @Command(name = "delete", description = "Delete a topic and all its data.")
  static final class Delete implements Callable<Integer> {
    @ParentCommand
    TopicCommand topic;

    @Spec
    CommandSpec spec;

    @Parameters(index = "0", paramLabel = "NAME")
    String name;

    @Override
    public Integer call() throws Exception {
      try (RaftMqClient client = topic.cli.connect()) {
        topic.await(client.admin().deleteTopic(name));
        PrintWriter out = spec.commandLine().getOut();
        out.println("deleted topic " + name);
        out.flush();
      }
      return 0;
    }
  }
}
