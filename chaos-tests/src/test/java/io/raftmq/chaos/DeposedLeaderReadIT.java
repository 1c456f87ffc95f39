package io.raftmq.chaos;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.raftmq.client.ClientConfig;
import io.raftmq.client.Consumer;
import io.raftmq.client.ConsumerConfig;
import io.raftmq.client.Message;
import io.raftmq.client.NewTopic;
import io.raftmq.client.OffsetReset;
import io.raftmq.client.OffsetResetSpec;
import io.raftmq.client.RaftMqClient;
import io.raftmq.client.TopicPartition;
import io.raftmq.client.internal.HostPort;
import io.raftmq.client.internal.NetworkClient;
import io.raftmq.client.internal.Reply;
import io.raftmq.protocol.ApiKey;
import io.raftmq.protocol.ErrorCode;
import io.raftmq.protocol.FetchOffsetsRequest;
import io.raftmq.protocol.PartitionCommittedOffset;
import io.raftmq.protocol.Request;
import io.raftmq.protocol.TopicPartitions;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/**
 * A leader paused (SIGSTOP) while the others elect a new leader and commit believes, when it resumes,
 * that it still leads until it hears of its successor. In that window it must not answer a
 * committed-offset lookup from its own, older state: the read goes through a read barrier (Ratis
 * ReadIndex), which fails once the heartbeat round reveals the newer term.
 *
 * <p>The chaos gate's random-27-group schedule hit this: a consumer read back an offset older than a
 * commit it had seen succeed. Here the lookup is sent while the old leader is paused, so it is among the
 * first things the node reads when it resumes; each of the rounds pauses the then-current leader.
 */
class DeposedLeaderReadIT {
  private static final String TOPIC = "offsets";
  private static final String GROUP = "deposed-g";
  private static final int ROUNDS = 3;

  @Test
  void aLeaderCutOffFromItsPeersDoesNotAnswerFromStaleState() throws Exception {
    String reason = ChaosNetwork.unavailableReason();
    assumeTrue(reason == null, "skipped: " + reason);
    Path dir = Path.of("target", "chaos-deposed-leader").toAbsolutePath();
    ChaosRunner.deleteTree(dir);
    Files.createDirectories(dir);
    var callbacks = Executors.newSingleThreadExecutor(r -> new Thread(r, "deposed-read-callbacks"));
    try (ChaosNetwork net = ChaosNetwork.create(3);
         ChaosCluster cluster = ChaosCluster.start(net, dir, ChaosCluster.Settings.defaults(), 3);
         RaftMqClient admin = cluster.client("admin", Duration.ofSeconds(30));
         NetworkClient raw = new NetworkClient("deposed-read", 1 << 20, Duration.ofSeconds(2), callbacks)) {
      awaitTrue(() -> IntStream.rangeClosed(1, 3).allMatch(cluster::healthy), 120, "every node healthy");
      admin.admin().createTopic(new NewTopic(TOPIC, 1, 3, Map.of())).get(60, TimeUnit.SECONDS);
      awaitTrue(() -> ChaosCluster.leaderOf(admin, TOPIC, 0) > 0, 60, "a leader");
      // Enough records for every round's offset (a reset is clamped to the high watermark).
      try (var producer = admin.producer()) {
        List<CompletableFuture<?>> sent = new java.util.ArrayList<>();
        for (int i = 0; i < 100 * (ROUNDS + 2); i++) {
          sent.add(producer.send(Message.of(TOPIC, (byte[]) null, ("m" + i).getBytes())));
        }
        producer.flush();
        CompletableFuture.allOf(sent.toArray(CompletableFuture[]::new)).get(60, TimeUnit.SECONDS);
      }
      TopicPartition tp = new TopicPartition(TOPIC, 0);
      // The group exists and is empty, with committed offset 100.
      try (Consumer member = admin.consumer(ConsumerConfig.builder().groupId(GROUP).enableAutoCommit(false)
          .autoOffsetReset(OffsetReset.EARLIEST).build())) {
        member.subscribe(List.of(TOPIC));
        awaitTrue(() -> {
          member.poll(Duration.ofMillis(200));
          return member.assignment().contains(tp);
        }, 60, "the member owns the partition");
        member.commitSync(Map.of(tp, 100L));
      }
      long expected = 100;
      for (int round = 1; round <= ROUNDS; round++) {
        int old = awaitLeader(cluster, Set.of(1, 2, 3));
        HostPort oldAddress = new HostPort(cluster.network().address(old), ChaosCluster.CLIENT_PORT);
        long before = expected;
        assertThat(ChaosRunner.poll(() -> {
          PartitionCommittedOffset r = committedAt(raw, oldAddress, 40);
          return r.getError() == ErrorCode.NONE && r.getOffset() == before;
        }, Duration.ofSeconds(30))).as("round %d: leader %d answers %d before the pause", round, old, before).isTrue();

        long paused = System.nanoTime();
        cluster.pause(old);
        Set<Integer> others = IntStream.rangeClosed(1, 3).filter(i -> i != old).boxed().collect(Collectors.toSet());
        int successor = awaitLeader(cluster, others);
        log(paused, "round " + round + ": node " + successor + " leads");
        expected = before + 100;
        long target = expected;
        String othersBootstrap = others.stream().map(i -> cluster.network().address(i) + ":" + ChaosCluster.CLIENT_PORT)
            .collect(Collectors.joining(","));
        try (RaftMqClient majority = RaftMqClient.connect(ClientConfig.builder().bootstrap(othersBootstrap)
            .clientId("majority-" + round).requestTimeout(Duration.ofSeconds(5)).metadataMaxAge(Duration.ofSeconds(1))
            .build())) {
          awaitTrue(() -> {
            try {
              majority.admin().resetOffsets(GROUP, TOPIC, new OffsetResetSpec.ToOffset(target), true)
                  .get(10, TimeUnit.SECONDS);
              return true;
            } catch (Exception e) {
              return false; // the metadata group may be electing too
            }
          }, 60, "the offset reset to " + target + " through node " + successor);
        }
        log(paused, "round " + round + ": offset reset to " + target);
        // Asked while it is still paused, so the request is the first thing it reads when it resumes,
        // before it hears of its successor.
        var asked = sendFetchOffsets(raw, oldAddress, 40);
        cluster.resume(old);
        PartitionCommittedOffset answer = answerOf(asked, oldAddress, 60);
        log(paused, "round " + round + ": node " + old + " answered " + answer.getError() + " " + answer.getOffset());
        assertThat(answer.getError() == ErrorCode.NONE ? answer.getOffset() : target)
            .as("round %d: node %d, resumed, answered %s", round, old, answer).isEqualTo(target);
      }
    } finally {
      callbacks.shutdownNow();
    }
  }

  private static void log(long since, String what) {
    System.out.printf("DeposedLeaderReadIT: %d ms after the pause: %s%n", (System.nanoTime() - since) / 1_000_000, what);
  }

  /** FetchOffsets (no claim) of the group's partition 0, sent to one node. */
  private static PartitionCommittedOffset committedAt(NetworkClient raw, HostPort node, int seconds) {
    return answerOf(sendFetchOffsets(raw, node, seconds), node, seconds);
  }

  private static CompletableFuture<Reply> sendFetchOffsets(NetworkClient raw, HostPort node, int seconds) {
    Request.Builder req = Request.newBuilder().setApiKey(ApiKey.FETCH_OFFSETS)
        .setFetchOffsets(FetchOffsetsRequest.newBuilder().setGroup(GROUP)
            .addPartitions(TopicPartitions.newBuilder().setTopic(TOPIC).addPartitions(0)));
    return raw.send(node, req, null, Duration.ofSeconds(seconds));
  }

  private static PartitionCommittedOffset answerOf(CompletableFuture<Reply> sent, HostPort node, int seconds) {
    try (Reply r = sent.get(seconds + 5, TimeUnit.SECONDS)) {
      var response = r.header().getFetchOffsets();
      if (response.getError() != ErrorCode.NONE) {
        return PartitionCommittedOffset.newBuilder().setError(response.getError())
            .setErrorMessage(response.getErrorMessage()).build();
      }
      return response.getResults(0);
    } catch (Exception e) {
      throw new AssertionError("FetchOffsets to " + node + " failed: " + e, e);
    }
  }

  /** The node among {@code candidates} that says (in its metrics) that it leads partition 0. */
  private static int awaitLeader(ChaosCluster cluster, Set<Integer> candidates) {
    int[] found = {-1};
    awaitTrue(() -> {
      for (int i : candidates) {
        if (leadsByItsOwnAccount(cluster, i)) {
          found[0] = i;
          return true;
        }
      }
      return false;
    }, 60, "a leader among " + candidates);
    return found[0];
  }

  private static boolean leadsByItsOwnAccount(ChaosCluster cluster, int node) {
    return cluster.partitionGauge(node, "raftmq_partition_is_leader", TOPIC).getOrDefault(0, 0L) == 1L;
  }

  private static void awaitTrue(java.util.function.BooleanSupplier ok, int seconds, String what) {
    assertThat(ChaosRunner.poll(ok, Duration.ofSeconds(seconds))).as("within %d s: %s", seconds, what).isTrue();
  }
}
