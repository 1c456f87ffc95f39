package io.raftmq.client.internal;

import io.raftmq.client.Admin;
import io.raftmq.client.NewTopic;
import io.raftmq.client.RaftMqException;
import io.raftmq.client.TopicDescription;
import io.raftmq.protocol.ApiKey;
import io.raftmq.protocol.CreateTopicRequest;
import io.raftmq.protocol.CreateTopicResponse;
import io.raftmq.protocol.DeleteTopicRequest;
import io.raftmq.protocol.DeleteTopicResponse;
import io.raftmq.protocol.DescribeTopicRequest;
import io.raftmq.protocol.DescribeTopicResponse;
import io.raftmq.protocol.ErrorCode;
import io.raftmq.protocol.ListTopicsRequest;
import io.raftmq.protocol.Request;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;

/** {@link Admin} over the wire protocol; stateless apart from the shared runtime. Thread-safe. */
public final class AdminImpl implements Admin {
  private static final Duration POLL_INTERVAL = Duration.ofMillis(100);

  private final ClientRuntime rt;

  /** An admin using {@code rt}. */
  public AdminImpl(ClientRuntime rt) {
    this.rt = rt;
  }

  @Override
  public CompletableFuture<TopicDescription> createTopic(NewTopic topic) {
    Duration timeout = rt.config().requestTimeout();
    long deadline = System.nanoTime() + timeout.toNanos();
    AtomicInteger attempts = new AtomicInteger();
    CompletableFuture<Void> created = rt.call("create topic '" + topic.name() + "'",
        rt.metadata()::metadataLeaderOrAny,
        () -> Request.newBuilder().setApiKey(ApiKey.CREATE_TOPIC).setCreateTopic(CreateTopicRequest.newBuilder()
            .setName(topic.name()).setPartitions(topic.partitions())
            .setReplicationFactor(topic.replicationFactor()).putAllConfigs(topic.configs())),
        reply -> {
          int n = attempts.incrementAndGet();
          CreateTopicResponse r = reply.header().getCreateTopic();
          if (r.getError() == ErrorCode.NONE) {
            return Attempt.done(null);
          }
          if (r.getError() == ErrorCode.TOPIC_ALREADY_EXISTS && n > 1) {
            // An earlier attempt whose reply we lost may have created it.
            return Attempt.done(null);
          }
          if (r.getError() == ErrorCode.NOT_LEADER) {
            rt.metadata().metadataLeaderHint(r.hasLeader() ? r.getLeader() : null);
          }
          return Attempt.of(new RaftMqException(r.getError(),
              "create topic '" + topic.name() + "': " + r.getErrorMessage()));
        }, timeout);
    CompletableFuture<TopicDescription> result = new CompletableFuture<>();
    created.whenComplete((v, e) -> {
      if (e != null) {
        result.completeExceptionally(MetadataCache.asRaftMq(e));
      } else {
        awaitReady(topic, deadline, result);
      }
    });
    return result;
  }

  private void awaitReady(NewTopic topic, long deadline, CompletableFuture<TopicDescription> result) {
    rt.metadata().fetch(List.of(topic.name())).whenComplete((m, e) -> {
      if (e == null) {
        TopicDescription t = m.topic(topic.name()).orElse(null);
        if (t != null && t.partitions().size() == topic.partitions()
            && t.partitions().stream().allMatch(p -> p.leader() >= 0)) {
          rt.metadata().requestUpdate();
          result.complete(t);
          return;
        }
      }
      if (System.nanoTime() + POLL_INTERVAL.toNanos() >= deadline) {
        result.completeExceptionally(new RaftMqException(ErrorCode.REQUEST_TIMED_OUT, "topic '" + topic.name()
            + "' was created but not every partition has a leader yet", true, e));
        return;
      }
      if (!rt.schedule(() -> awaitReady(topic, deadline, result), POLL_INTERVAL)) {
        result.completeExceptionally(new RaftMqException(ErrorCode.INVALID_REQUEST, "the client is closed", false, e));
      }
    });
  }

  @Override
  public CompletableFuture<Void> deleteTopic(String name) {
    AtomicInteger attempts = new AtomicInteger();
    return rt.call("delete topic '" + name + "'", rt.metadata()::metadataLeaderOrAny,
        () -> Request.newBuilder().setApiKey(ApiKey.DELETE_TOPIC)
            .setDeleteTopic(DeleteTopicRequest.newBuilder().setName(name)),
        reply -> {
          int n = attempts.incrementAndGet();
          DeleteTopicResponse r = reply.header().getDeleteTopic();
          if (r.getError() == ErrorCode.NONE || (r.getError() == ErrorCode.UNKNOWN_TOPIC && n > 1)) {
            rt.metadata().requestUpdate();
            return Attempt.done(null);
          }
          if (r.getError() == ErrorCode.NOT_LEADER) {
            rt.metadata().metadataLeaderHint(r.hasLeader() ? r.getLeader() : null);
          }
          return Attempt.of(new RaftMqException(r.getError(), "delete topic '" + name + "': " + r.getErrorMessage()));
        }, rt.config().requestTimeout());
  }

  @Override
  public CompletableFuture<List<String>> listTopics() {
    return rt.call("list topics", rt.metadata()::anyNode,
        () -> Request.newBuilder().setApiKey(ApiKey.LIST_TOPICS).setListTopics(ListTopicsRequest.getDefaultInstance()),
        reply -> {
          List<String> names = new ArrayList<>(reply.header().getListTopics().getNamesList());
          names.sort(null);
          return Attempt.done(List.copyOf(names));
        }, rt.config().requestTimeout());
  }

  @Override
  public CompletableFuture<TopicDescription> describeTopic(String name) {
    return rt.call("describe topic '" + name + "'", rt.metadata()::anyNode,
        () -> Request.newBuilder().setApiKey(ApiKey.DESCRIBE_TOPIC)
            .setDescribeTopic(DescribeTopicRequest.newBuilder().setName(name)),
        reply -> {
          DescribeTopicResponse r = reply.header().getDescribeTopic();
          if (r.getError() != ErrorCode.NONE) {
            return Attempt.of(new RaftMqException(r.getError(), "describe topic '" + name + "': " + r.getErrorMessage()));
          }
          return Attempt.done(MetadataCache.convert(r.getTopic()));
        }, rt.config().requestTimeout());
  }

  // PLACEHOLDER-GROUPS: being implemented
  @Override
  public CompletableFuture<List<io.raftmq.client.GroupListing>> listGroups() {
    throw new UnsupportedOperationException("in progress");
  }

  @Override
  public CompletableFuture<io.raftmq.client.GroupDescription> describeGroup(String group) {
    throw new UnsupportedOperationException("in progress");
  }

  @Override
  public CompletableFuture<io.raftmq.client.OffsetResetPlan> resetOffsets(String group, String topic,
      io.raftmq.client.OffsetResetSpec spec, boolean execute) {
    throw new UnsupportedOperationException("in progress");
  }

  @Override
  public CompletableFuture<Void> deleteGroup(String group) {
    throw new UnsupportedOperationException("in progress");
  }
}
