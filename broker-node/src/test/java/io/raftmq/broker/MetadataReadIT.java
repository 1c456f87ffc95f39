package io.raftmq.broker;

import static org.assertj.core.api.Assertions.assertThat;

import io.raftmq.protocol.ApiKey;
import io.raftmq.protocol.CreateTopicRequest;
import io.raftmq.protocol.DeleteTopicRequest;
import io.raftmq.protocol.DescribeTopicRequest;
import io.raftmq.protocol.ErrorCode;
import io.raftmq.protocol.ListTopicsRequest;
import io.raftmq.protocol.Request;
import io.raftmq.protocol.Response;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Admin reads are linearizable on every node: a follower of the metadata group answers a describe or a
 * list only after catching up with the leader's commit index, so it never misses an admin write that
 * completed through another node before the read was sent.
 */
class MetadataReadIT {
  @TempDir
  Path dir;

  @Test
  void aFollowerShouldAnswerAdminReadsWithEveryWriteCompletedBeforeThem() throws Exception {
    try (TestCluster cluster = new TestCluster(dir).start()) {
      int leader = cluster.node(1).health().metadataLeader();
      int follower = leader == 1 ? 2 : 1;
      int correlation = 0;
      try (RawConnection writer = new RawConnection("127.0.0.1", cluster.node(leader).clientPort());
          RawConnection reader = new RawConnection("127.0.0.1", cluster.node(follower).clientPort())) {
        for (int round = 0; round < 10; round++) {
          String name = "t" + round;
          Response created = writer.call(Request.newBuilder().setCorrelationId(++correlation)
              .setApiKey(ApiKey.CREATE_TOPIC).setCreateTopic(CreateTopicRequest.newBuilder().setName(name)
                  .setPartitions(1).setReplicationFactor(3)).build()).header();
          assertThat(created.getCreateTopic().getError()).as(created.toString()).isEqualTo(ErrorCode.NONE);

          Response described = reader.call(Request.newBuilder().setCorrelationId(++correlation)
              .setApiKey(ApiKey.DESCRIBE_TOPIC).setDescribeTopic(DescribeTopicRequest.newBuilder().setName(name))
              .build()).header();
          assertThat(described.getDescribeTopic().getError()).as("round %d: %s", round, described)
              .isEqualTo(ErrorCode.NONE);

          Response deleted = writer.call(Request.newBuilder().setCorrelationId(++correlation)
              .setApiKey(ApiKey.DELETE_TOPIC).setDeleteTopic(DeleteTopicRequest.newBuilder().setName(name))
              .build()).header();
          assertThat(deleted.getDeleteTopic().getError()).as(deleted.toString()).isEqualTo(ErrorCode.NONE);

          Response listed = reader.call(Request.newBuilder().setCorrelationId(++correlation)
              .setApiKey(ApiKey.LIST_TOPICS).setListTopics(ListTopicsRequest.getDefaultInstance()).build()).header();
          assertThat(listed.getError()).isEqualTo(ErrorCode.NONE);
          assertThat(listed.getListTopics().getNamesList()).as("round %d", round).doesNotContain(name);
        }
      }
    }
  }
}
