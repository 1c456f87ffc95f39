package io.raftmq.client.internal;

import io.raftmq.client.Admin;
import io.raftmq.client.GroupDescription;
import io.raftmq.client.GroupListing;
import io.raftmq.client.OffsetResetPlan;
import io.raftmq.client.OffsetResetSpec;
import io.raftmq.client.TopicPartition;
import io.raftmq.protocol.CommitOffsetsRequest;
import io.raftmq.protocol.DeleteGroupRequest;
import io.raftmq.protocol.DeleteGroupResponse;
import io.raftmq.protocol.DescribeGroupRequest;
import io.raftmq.protocol.DescribeGroupResponse;
import io.raftmq.protocol.FetchOffsetsRequest;
import io.raftmq.protocol.FetchOffsetsResponse;
import io.raftmq.protocol.GroupSummary;
import io.raftmq.protocol.ListGroupsRequest;
import io.raftmq.protocol.ListOffsetsRequest;
import io.raftmq.protocol.MemberDescription;
import io.raftmq.protocol.OffsetCommit;
import io.raftmq.protocol.PartitionCommittedOffset;
import io.raftmq.protocol.PartitionOffsetQuery;
import io.raftmq.protocol.PartitionOffsetResult;
import io.raftmq.protocol.TopicPartitions;
import java.util.Collection;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Set;
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

  // ---- consumer groups ----

  @Override
  public CompletableFuture<List<GroupListing>> listGroups() {
    return rt.call("list groups", rt.metadata()::metadataLeaderOrAny,
        () -> Request.newBuilder().setApiKey(ApiKey.LIST_GROUPS).setListGroups(ListGroupsRequest.getDefaultInstance()),
        reply -> {
          List<GroupListing> out = new ArrayList<>();
          for (GroupSummary g : reply.header().getListGroups().getGroupsList()) {
            out.add(new GroupListing(g.getName(), g.getState(), g.getGeneration(), g.getMembers(),
                List.copyOf(g.getTopicsList())));
          }
          out.sort(Comparator.comparing(GroupListing::name));
          return Attempt.done(List.copyOf(out));
        }, rt.config().requestTimeout());
  }

  private CompletableFuture<DescribeGroupResponse> describeRaw(String group) {
    return rt.call("describe group '" + group + "'", rt.metadata()::metadataLeaderOrAny,
        () -> Request.newBuilder().setApiKey(ApiKey.DESCRIBE_GROUP)
            .setDescribeGroup(DescribeGroupRequest.newBuilder().setGroup(group)),
        reply -> {
          DescribeGroupResponse r = reply.header().getDescribeGroup();
          if (r.getError() != ErrorCode.NONE) {
            return Attempt.of(new RaftMqException(r.getError(), "describe group '" + group + "': " + r.getErrorMessage()));
          }
          return Attempt.done(r);
        }, rt.config().requestTimeout());
  }

  /** The partitions of the existing topics among {@code topics}. */
  private CompletableFuture<List<TopicPartition>> partitionsOf(Collection<String> topics) {
    if (topics.isEmpty()) {
      return CompletableFuture.completedFuture(List.of());
    }
    return rt.metadata().fetch(List.copyOf(topics)).thenApply(m -> {
      rt.metadata().update(m);
      List<TopicPartition> out = new ArrayList<>();
      for (String t : topics) {
        m.topic(t).ifPresent(d -> d.partitions().forEach(p -> out.add(new TopicPartition(t, p.partition()))));
      }
      return out;
    });
  }

  /** Committed offset (-1: none), high watermark and log start of each partition, from its leader. */
  private CompletableFuture<Map<TopicPartition, PartitionCommittedOffset>> committedOffsets(String group,
      Collection<TopicPartition> partitions) {
    return PartitionFanOut.run(rt, "fetch offsets of group '" + group + "'", partitions,
        tps -> Request.newBuilder().setApiKey(ApiKey.FETCH_OFFSETS).setFetchOffsets(FetchOffsetsRequest.newBuilder()
            .setGroup(group).setGeneration(-1).addAllPartitions(ConsumerImpl.byTopic(tps))),
        (reply, tps) -> {
          FetchOffsetsResponse r = reply.header().getFetchOffsets();
          Map<TopicPartition, PartitionFanOut.Outcome<PartitionCommittedOffset>> out = new LinkedHashMap<>();
          if (r.getError() != ErrorCode.NONE) {
            tps.forEach(tp -> out.put(tp, PartitionFanOut.Outcome.error(r.getError(), r.getErrorMessage(), null)));
            return out;
          }
          for (PartitionCommittedOffset o : r.getResultsList()) {
            out.put(new TopicPartition(o.getTopic(), o.getPartition()), o.getError() == ErrorCode.NONE
                ? PartitionFanOut.Outcome.done(o)
                : PartitionFanOut.Outcome.error(o.getError(), o.getErrorMessage(), o.hasLeader() ? o.getLeader() : null));
          }
          return out;
        }, rt.config().requestTimeout());
  }

  private static Set<TopicPartition> toSet(List<TopicPartitions> list) {
    Set<TopicPartition> out = new LinkedHashSet<>();
    for (TopicPartitions tps : list) {
      tps.getPartitionsList().forEach(p -> out.add(new TopicPartition(tps.getTopic(), p)));
    }
    return Collections.unmodifiableSet(out);
  }

  @Override
  public CompletableFuture<GroupDescription> describeGroup(String group) {
    return describeRaw(group).thenCompose(d -> partitionsOf(d.getTopicsList()).thenCompose(tps ->
        committedOffsets(group, tps).thenApply(offsets -> {
          List<GroupDescription.Member> members = new ArrayList<>();
          Map<TopicPartition, MemberDescription> owner = new LinkedHashMap<>();
          for (MemberDescription m : d.getMembersList()) {
            Set<TopicPartition> assignment = toSet(m.getAssignmentList());
            assignment.forEach(tp -> owner.put(tp, m));
            members.add(new GroupDescription.Member(m.getMemberId(), m.getClientId(), m.getClientHost(),
                List.copyOf(m.getTopicsList()), assignment, toSet(m.getTargetList())));
          }
          List<GroupDescription.PartitionLag> rows = new ArrayList<>();
          for (TopicPartition tp : tps) {
            PartitionCommittedOffset o = offsets.get(tp);
            long committed = o == null ? -1 : o.getOffset();
            long hw = o == null ? -1 : o.getHighWatermark();
            long lag = o == null ? -1 : Math.max(0, hw - (committed >= 0 ? committed : o.getLogStartOffset()));
            MemberDescription m = owner.get(tp);
            rows.add(new GroupDescription.PartitionLag(tp, committed, hw, lag,
                m == null ? "" : m.getMemberId(), m == null ? "" : m.getClientHost()));
          }
          return new GroupDescription(d.getName(), d.getState(), d.getGeneration(), d.getAssignor(),
              List.copyOf(members), List.copyOf(rows));
        })));
  }

  @Override
  public CompletableFuture<OffsetResetPlan> resetOffsets(String group, String topic, OffsetResetSpec spec,
      boolean execute) {
    return describeRaw(group).thenCompose(d -> {
      if (d.getMembersCount() > 0) {
        throw new RaftMqException(ErrorCode.GROUP_NOT_EMPTY, "group '" + group + "' has " + d.getMembersCount()
            + " live member(s): stop them before resetting offsets");
      }
      return partitionsOf(List.of(topic));
    }).thenCompose(tps -> {
      if (tps.isEmpty()) {
        throw new RaftMqException(ErrorCode.UNKNOWN_TOPIC, "unknown topic '" + topic + "'");
      }
      CompletableFuture<Map<TopicPartition, Long>> byTime = spec instanceof OffsetResetSpec.ToDatetime t
          ? listOffsets(tps, t.time().toEpochMilli()) : CompletableFuture.completedFuture(Map.of());
      return committedOffsets(group, tps).thenCombine(byTime, (current, times) -> {
        List<OffsetResetPlan.Row> rows = new ArrayList<>();
        for (TopicPartition tp : tps) {
          PartitionCommittedOffset o = current.get(tp);
          long start = o.getLogStartOffset();
          long hw = o.getHighWatermark();
          long now = o.getOffset();
          long target;
          if (spec instanceof OffsetResetSpec.ToEarliest) {
            target = start;
          } else if (spec instanceof OffsetResetSpec.ToLatest) {
            target = hw;
          } else if (spec instanceof OffsetResetSpec.ToOffset to) {
            target = to.offset();
          } else if (spec instanceof OffsetResetSpec.ShiftBy by) {
            target = (now >= 0 ? now : start) + by.delta();
          } else {
            target = times.getOrDefault(tp, hw);
          }
          rows.add(new OffsetResetPlan.Row(tp, now, Math.max(start, Math.min(hw, target))));
        }
        return rows;
      });
    }).thenCompose(rows -> {
      OffsetResetPlan plan = new OffsetResetPlan(group, execute, List.copyOf(rows));
      if (!execute) {
        return CompletableFuture.completedFuture(plan);
      }
      Map<TopicPartition, Long> offsets = new LinkedHashMap<>();
      rows.forEach(r -> offsets.put(r.partition(), r.newOffset()));
      return adminCommit(group, offsets, false).thenApply(v -> plan);
    });
  }

  /** An administrative commit (no member) or deletion of a group's offsets, to each partition's leader. */
  private CompletableFuture<Void> adminCommit(String group, Map<TopicPartition, Long> offsets, boolean delete) {
    return PartitionFanOut.run(rt, (delete ? "delete offsets of" : "reset offsets of") + " group '" + group + "'",
        offsets.keySet(),
        tps -> {
          CommitOffsetsRequest.Builder b = CommitOffsetsRequest.newBuilder().setGroup(group).setGeneration(-1)
              .setDelete(delete);
          tps.forEach(tp -> b.addOffsets(OffsetCommit.newBuilder().setTopic(tp.topic()).setPartition(tp.partition())
              .setOffset(offsets.get(tp))));
          return Request.newBuilder().setApiKey(ApiKey.COMMIT_OFFSETS).setCommitOffsets(b);
        },
        (reply, tps) -> ConsumerImpl.commitOutcomes(reply.header().getCommitOffsets(), tps),
        rt.config().requestTimeout()).thenApply(m -> null);
  }

  private CompletableFuture<Map<TopicPartition, Long>> listOffsets(List<TopicPartition> tps, long timestamp) {
    return PartitionFanOut.run(rt, "list offsets", tps,
        list -> {
          ListOffsetsRequest.Builder b = ListOffsetsRequest.newBuilder();
          list.forEach(tp -> b.addQueries(PartitionOffsetQuery.newBuilder().setTopic(tp.topic())
              .setPartition(tp.partition()).setTimestamp(timestamp)));
          return Request.newBuilder().setApiKey(ApiKey.LIST_OFFSETS).setListOffsets(b);
        },
        (reply, list) -> {
          Map<TopicPartition, PartitionFanOut.Outcome<Long>> out = new LinkedHashMap<>();
          for (PartitionOffsetResult r : reply.header().getListOffsets().getResultsList()) {
            out.put(new TopicPartition(r.getTopic(), r.getPartition()), r.getError() == ErrorCode.NONE
                ? PartitionFanOut.Outcome.done(r.getOffset())
                : PartitionFanOut.Outcome.error(r.getError(), r.getErrorMessage(), r.hasLeader() ? r.getLeader() : null));
          }
          return out;
        }, rt.config().requestTimeout());
  }

  @Override
  public CompletableFuture<Void> deleteGroup(String group) {
    return describeRaw(group).thenCompose(d -> {
      if (d.getMembersCount() > 0) {
        throw new RaftMqException(ErrorCode.GROUP_NOT_EMPTY, "group '" + group + "' has " + d.getMembersCount()
            + " live member(s): stop them before deleting it");
      }
      return partitionsOf(d.getTopicsList());
    }).thenCompose(tps -> {
      Map<TopicPartition, Long> all = new LinkedHashMap<>();
      tps.forEach(tp -> all.put(tp, 0L));
      return adminCommit(group, all, true);
    }).thenCompose(v -> rt.call("delete group '" + group + "'", rt.metadata()::metadataLeaderOrAny,
        () -> Request.newBuilder().setApiKey(ApiKey.DELETE_GROUP).setDeleteGroup(DeleteGroupRequest.newBuilder()
            .setGroup(group)),
        reply -> {
          DeleteGroupResponse r = reply.header().getDeleteGroup();
          if (r.getError() == ErrorCode.NONE) {
            return Attempt.done(null);
          }
          return Attempt.of(new RaftMqException(r.getError(), "delete group '" + group + "': " + r.getErrorMessage()));
        }, rt.config().requestTimeout()));
  }
}
