package io.raftmq.broker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.raftmq.client.ClusterMetadata;
import io.raftmq.client.NewTopic;
import io.raftmq.client.Producer;
import io.raftmq.client.ProducerConfig;
import io.raftmq.client.RaftMqClient;
import java.io.File;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Three broker node processes started through the CLI ({@code raftmq node start}), each its own JVM
 * with its own data directory; the partition leader is killed with SIGKILL while a producer writes.
 */
class ProcessClusterIT {
  @TempDir
  Path dir;

  private final int[] clientPorts = new int[3];
  private final int[] raftPorts = new int[3];
  private final int[] httpPorts = new int[3];
  private final Process[] processes = new Process[3];
  private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();

  @AfterEach
  void killAll() throws Exception {
    for (Process p : processes) {
      if (p != null && p.isAlive()) {
        p.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
      }
    }
  }

  private void allocatePorts() {
    for (int i = 0; i < 3; i++) {
      clientPorts[i] = TestPorts.next();
      raftPorts[i] = TestPorts.next();
      httpPorts[i] = TestPorts.next();
    }
  }

  private void startNode(int index) throws IOException {
    String peers = java.util.stream.IntStream.range(0, 3)
        .mapToObj(i -> (i + 1) + "@127.0.0.1:" + raftPorts[i]).collect(Collectors.joining(","));
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    List<String> command = List.of(java, "-Xmx384m", "-cp", System.getProperty("java.class.path"),
        "io.raftmq.cli.RaftMqCli", "node", "start",
        "--id", String.valueOf(index + 1),
        "--data-dir", dir.resolve("node-" + (index + 1)).toString(),
        "--client-port", String.valueOf(clientPorts[index]),
        "--raft-port", String.valueOf(raftPorts[index]),
        "--http-port", String.valueOf(httpPorts[index]),
        "--peers", peers);
    File log = dir.resolve("node-" + (index + 1) + ".log").toFile();
    processes[index] = new ProcessBuilder(command).redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.appendTo(log)).start();
  }

  private boolean healthy(int index) {
    try {
      HttpResponse<String> r = http.send(HttpRequest.newBuilder(
              URI.create("http://127.0.0.1:" + httpPorts[index] + "/health")).timeout(Duration.ofSeconds(2)).build(),
          HttpResponse.BodyHandlers.ofString());
      return r.statusCode() == 200;
    } catch (Exception e) {
      return false;
    }
  }

  private void awaitHealthy() {
    try {
      await().atMost(Duration.ofSeconds(90)).pollInterval(Duration.ofMillis(200))
          .until(() -> healthy(0) && healthy(1) && healthy(2));
    } catch (RuntimeException e) {
      dumpLogs();
      throw e;
    }
  }

  private void dumpLogs() {
    for (int i = 1; i <= 3; i++) {
      try {
        List<String> lines = Files.readAllLines(dir.resolve("node-" + i + ".log"));
        System.err.println("---- node-" + i + ".log (tail) ----");
        lines.subList(Math.max(0, lines.size() - 60), lines.size()).forEach(System.err::println);
      } catch (IOException ignored) {
        // no log
      }
    }
  }

  private String bootstrap() {
    return java.util.stream.IntStream.range(0, 3).mapToObj(i -> "127.0.0.1:" + clientPorts[i])
        .collect(Collectors.joining(","));
  }

  @Test
  void shouldServeEveryAckedMessageFromNodeProcessesThroughAKillNineOfALeader() throws Exception {
    allocatePorts();
    for (int i = 0; i < 3; i++) {
      startNode(i);
    }
    awaitHealthy();
    try (RaftMqClient client = RaftMqClient.connect(bootstrap())) {
      client.admin().createTopic(new NewTopic("proc", 4, 3, Map.of())).get(60, TimeUnit.SECONDS);
      Workload w = new Workload("proc", 4);
      try (Producer producer = client.producer()) {
        w.send(producer, 0, 20_000);
        producer.flush();
        w.awaitSends(Duration.ofSeconds(120));
      }
      assertThat(w.failed).isEmpty();
      assertThat(w.verify(Workload.readAll(client, "proc", 4, 20_000, Duration.ofSeconds(60)))).isEqualTo(20_000);

      int leader = leaderOf(client, "proc", 0);
      try (Producer producer = client.producer(ProducerConfig.builder().batchSizeBytes(16 * 1024).build())) {
        w.send(producer, 20_000, 25_000);
        await().atMost(Duration.ofSeconds(60)).until(() -> w.acked.size() >= 21_000);
        processes[leader - 1].destroyForcibly().waitFor(30, TimeUnit.SECONDS);
        w.send(producer, 25_000, 30_000);
        producer.flush();
        w.awaitSends(Duration.ofSeconds(150));
      }
      assertThat(w.failed).as("the producer carries on after kill -9 of a leader").isEmpty();
      assertThat(w.verify(Workload.readAll(client, "proc", 4, 30_000, Duration.ofSeconds(60)))).isEqualTo(30_000);

      startNode(leader - 1);
      awaitHealthy();
      // The restarted node catches up: its own replicas (as it reports them) reach every acked record.
      int restarted = leader;
      try (RaftMqClient only = RaftMqClient.connect("127.0.0.1:" + clientPorts[leader - 1])) {
        await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(200)).until(() -> {
          ClusterMetadata md = only.metadata(Duration.ofSeconds(5));
          return md.answeringNode() == restarted && md.topics().stream().filter(t -> t.name().equals("proc"))
              .flatMap(t -> t.partitions().stream()).mapToLong(p -> p.highWatermark()).sum() == 30_000;
        });
        assertThat(w.verify(Workload.readAll(only, "proc", 4, 30_000, Duration.ofSeconds(60)))).isEqualTo(30_000);
      }
    } catch (Throwable t) {
      dumpLogs();
      throw t;
    }
  }

  private static int leaderOf(RaftMqClient client, String topic, int partition) {
    return await().atMost(Duration.ofSeconds(30)).until(() -> {
      ClusterMetadata md = client.metadata(Duration.ofSeconds(5));
      return md.topics().stream().filter(t -> t.name().equals(topic)).findFirst()
          .map(t -> t.partitions().get(partition).leader()).orElse(-1);
    }, id -> id > 0);
  }
}
