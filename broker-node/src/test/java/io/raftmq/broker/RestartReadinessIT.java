package io.raftmq.broker;

import static org.assertj.core.api.Assertions.assertThat;

import io.raftmq.client.NewTopic;
import io.raftmq.client.RaftMqClient;
import io.raftmq.protocol.ApiKey;
import io.raftmq.protocol.ErrorCode;
import io.raftmq.protocol.MetadataRequest;
import io.raftmq.protocol.Request;
import io.raftmq.protocol.Response;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A node that restarts knows only the metadata it had on disk until the metadata group's leader brings
 * it up to date. Until then it must not answer from that stale copy: a topic created while it was down
 * is not "unknown" to a client that asks it first.
 */
class RestartReadinessIT {
  @TempDir
  Path dir;

  @Test
  void aRestartedNodeShouldAnswerMetadataBehindUntilItKnowsWhatWasCommittedWhileItWasDown() throws Exception {
    try (TestCluster cluster = new TestCluster(dir).start()) {
      cluster.stop(3);
      try (RaftMqClient client = RaftMqClient.connect(cluster.bootstrap(1))) {
        client.admin().createTopic(new NewTopic("made-while-down", 2, 3, Map.of())).get(60, TimeUnit.SECONDS);
      }
      cluster.start(3);
      List<ErrorCode> answers = new ArrayList<>();
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
      int correlation = 0;
      try (RawConnection raw = new RawConnection("127.0.0.1", cluster.node(3).clientPort())) {
        while (System.nanoTime() < deadline) {
          Response r = raw.call(Request.newBuilder().setApiVersion(1).setApiKey(ApiKey.METADATA)
              .setCorrelationId(++correlation)
              .setMetadata(MetadataRequest.newBuilder().addTopics("made-while-down")).build()).header();
          if (r.getError() != ErrorCode.NONE) {
            answers.add(r.getError());
            continue;
          }
          ErrorCode topicError = r.getMetadata().getTopics(0).getError();
          answers.add(topicError);
          if (topicError == ErrorCode.NONE) {
            assertThat(r.getMetadata().getTopics(0).getPartitionsCount()).isEqualTo(2);
            break;
          }
        }
      }
      // Every answer before the topic showed up was "not ready yet", never "no such topic".
      assertThat(answers).isNotEmpty().last().isEqualTo(ErrorCode.NONE);
      assertThat(answers.subList(0, answers.size() - 1)).containsOnly(ErrorCode.METADATA_BEHIND);
      assertThat(cluster.node(3).health().registered()).isTrue();

      // A client bootstrapped at the restarted node alone gets there too, and can use the topic.
      cluster.stop(3);
      cluster.start(3);
      try (RaftMqClient client = RaftMqClient.connect(cluster.bootstrap(3))) {
        assertThat(client.admin().describeTopic("made-while-down").get(60, TimeUnit.SECONDS).partitions())
            .hasSize(2);
      }
      cluster.awaitHealthy();
    }
  }
}
