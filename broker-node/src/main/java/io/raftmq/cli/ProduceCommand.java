package io.raftmq.cli;

import io.raftmq.client.Acks;
import io.raftmq.client.Producer;
import io.raftmq.client.ProducerConfig;
import io.raftmq.client.RaftMqClient;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/**
 * {@code raftmq produce TOPIC}: one message per stdin line. Exits 0 only if every line was
 * acknowledged; prints {@code produced N messages to TOPIC} on stderr.
 */
@Command(name = "produce", sortOptions = false,
    description = {"Send one message per line of stdin.",
        "With --key-separator each line is KEY<SEP>VALUE; a line without the separator is reported and counted as failed.",
        "Exits 0 only if every line was acknowledged."})
final class ProduceCommand implements Callable<Integer> {
  @ParentCommand
  RaftMqCli cli;

  @Spec
  CommandSpec spec;

  @Parameters(index = "0", paramLabel = "TOPIC")
  String topic;

  @ArgGroup(exclusive = true, multiplicity = "0..1")
  KeyMode keyMode;

  /** A fixed key, or a separator splitting each line, or neither. */
  static final class KeyMode {
    @Option(names = "--key", paramLabel = "KEY", description = "The key of every message.")
    String key;

    @Option(names = "--key-separator", paramLabel = "SEP",
        description = "Split each line at the first SEP into key and value (\\t for a tab).")
    String separator;
  }

  @Option(names = "--header", paramLabel = "KEY=VALUE", description = "A header on every message; repeatable.")
  Map<String, String> headers = new LinkedHashMap<>();

  @Option(names = "--acks", paramLabel = "quorum|leader|none", defaultValue = "quorum",
      description = "What acknowledges a message: a quorum commit (default), the leader's log, or nothing.")
  Acks acks;

  @Option(names = "--partition", paramLabel = "P", description = "Send every message to partition P.")
  Integer partition;

  @Override
  public Integer call() throws Exception {
    ProduceLines lines = lines();
    PrintWriter err = spec.commandLine().getErr();
    LineProducer.Summary summary;
    BufferedReader in = new BufferedReader(new InputStreamReader(cli.stdin(), StandardCharsets.UTF_8));
    Duration timeout = cli.requestTimeout();
    ProducerConfig config = ProducerConfig.builder()
        .acks(acks)
        .maxBlock(timeout)
        .requestTimeout(timeout)
        .deliveryTimeout(max(Duration.ofSeconds(30), timeout.multipliedBy(3)))
        .build();
    try (RaftMqClient client = cli.connect()) {
      // Fail fast, with one clear line, on a missing topic or an unreachable cluster, rather than once per line.
      client.admin().describeTopic(topic).get(timeout.toMillis() + 5_000, TimeUnit.MILLISECONDS);
      try (Producer producer = client.producer(config)) {
        summary = new LineProducer(producer, lines, err).run(in);
      }
    }
    err.println(summaryLine(summary, topic));
    err.flush();
    return summary.failed() == 0 ? 0 : RaftMqCli.EXIT_ERROR;
  }

  private static Duration max(Duration a, Duration b) {
    return a.compareTo(b) >= 0 ? a : b;
  }

  ProduceLines lines() {
    if (partition != null && partition < 0) {
      throw new IllegalArgumentException("--partition must be >= 0");
    }
    String key = keyMode == null ? null : keyMode.key;
    String sep = keyMode == null || keyMode.separator == null ? null : ProduceLines.unescape(keyMode.separator);
    return new ProduceLines(topic, key, sep, headers, partition);
  }

  static String summaryLine(LineProducer.Summary s, String topic) {
    String line = "produced " + s.acknowledged() + " message" + (s.acknowledged() == 1 ? "" : "s") + " to " + topic;
    return s.failed() == 0 ? line : line + ", " + s.failed() + " failed";
  }
}
