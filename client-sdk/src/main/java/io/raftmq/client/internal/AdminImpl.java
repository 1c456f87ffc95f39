package io.raftmq.client.internal;

import io.raftmq.client.Admin;
import io.raftmq.client.GroupDescription;
import io.raftmq.client.GroupListing;
import io.raftmq.client.DeadLetterEntry;
import io.raftmq.client.DeadLetters;
import io.raftmq.client.KeyFailureMode;
import io.raftmq.client.NodeAddress;
import io.raftmq.client.OffsetResetPlan;
import io.raftmq.client.QueueConsumerConfig;
import io.raftmq.client.QueueGroupDescription;
import io.raftmq.client.QueueGroupListing;
import io.raftmq.client.QueueGroupSettings;
import io.raftmq.client.QueueOrdering;
import io.raftmq.client.RedriveFilter;
import io.raftmq.client.RedriveResult;
import io.raftmq.protocol.DeadEntry;
import io.raftmq.protocol.DescribeQueueRequest;
import io.raftmq.protocol.DescribeQueueResponse;
import io.raftmq.protocol.QueueGroupConfig;
import io.raftmq.protocol.QueuePartitionState;
import io.raftmq.protocol.QueueRedriveRequest;
import io.raftmq.protocol.QueueRedriveResponse;
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
import java.util.concurrent.TimeUnit;
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

  // ---- queue groups ----

  @Override
  public CompletableFuture<QueueGroupDescription> describeQueue(String topic, String group, int deadLimit) {
    if (deadLimit < 0) {
      return CompletableFuture.failedFuture(new RaftMqException(ErrorCode.INVALID_REQUEST,
          "deadLimit must not be negative: " + deadLimit));
    }
    return partitionsOf(List.of(topic)).thenCompose(tps -> {
      if (tps.isEmpty()) {
        throw new RaftMqException(ErrorCode.UNKNOWN_TOPIC, "unknown topic '" + topic + "'");
      }
      return queueStates(group, tps, deadLimit);
    }).thenApply(states -> {
      List<QueueGroupDescription.Partition> rows = new ArrayList<>();
      states.values().forEach(list -> list.forEach(s -> rows.add(toPartition(s))));
      if (rows.isEmpty()) {
        throw new RaftMqException(ErrorCode.UNKNOWN_QUEUE_GROUP, "queue group '" + group + "' does not exist on topic '"
            + topic + "'");
      }
      rows.sort(Comparator.comparingInt(QueueGroupDescription.Partition::partition));
      return new QueueGroupDescription(topic, group, List.copyOf(rows));
    });
  }

  @Override
  public CompletableFuture<List<QueueGroupListing>> listQueueGroups() {
    return rt.metadata().fetch(List.of()).thenCompose(m -> {
      rt.metadata().update(m);
      List<TopicPartition> tps = new ArrayList<>();
      m.topics().forEach(t -> t.partitions().forEach(p -> tps.add(new TopicPartition(t.name(), p.partition()))));
      return queueStates("", tps, 0);
    }).thenApply(QueueGroupScan::listings);
  }

  /**
   * Each partition's states of {@code group} (every group when empty), from its leader. A partition
   * without the group (or whose topic vanished meanwhile) has an empty list.
   */
  private CompletableFuture<Map<TopicPartition, List<QueuePartitionState>>> queueStates(String group,
      List<TopicPartition> tps, int deadLimit) {
    return PartitionFanOut.run(rt, group.isEmpty() ? "describe queue groups" : "describe queue group '" + group + "'",
        tps,
        list -> Request.newBuilder().setApiKey(ApiKey.DESCRIBE_QUEUE).setDescribeQueue(DescribeQueueRequest.newBuilder()
            .setGroup(group).addAllPartitions(ConsumerImpl.byTopic(list)).setDeadLimit(deadLimit)),
        (reply, list) -> QueueGroupScan.outcomes(reply.header().getDescribeQueue(), list),
        rt.config().requestTimeout());
  }

  /** Turns DESCRIBE_QUEUE answers into per-partition outcomes and listings; pure. */
  static final class QueueGroupScan {
    private QueueGroupScan() {}

    static Map<TopicPartition, PartitionFanOut.Outcome<List<QueuePartitionState>>> outcomes(DescribeQueueResponse r,
        List<TopicPartition> asked) {
      Map<TopicPartition, List<QueuePartitionState>> found = new LinkedHashMap<>();
      Map<TopicPartition, PartitionFanOut.Outcome<List<QueuePartitionState>>> out = new LinkedHashMap<>();
      asked.forEach(tp -> found.put(tp, new ArrayList<>()));
      for (QueuePartitionState s : r.getPartitionsList()) {
        TopicPartition tp = new TopicPartition(s.getTopic(), s.getPartition());
        if (!found.containsKey(tp)) {
          continue;
        }
        ErrorCode e = s.getError();
        if (e == ErrorCode.NONE) {
          if (!s.getGroup().isEmpty()) {
            found.get(tp).add(s);
          }
        } else if (e != ErrorCode.UNKNOWN_QUEUE_GROUP && e != ErrorCode.UNKNOWN_TOPIC) {
          out.put(tp, PartitionFanOut.Outcome.error(e, s.getErrorMessage(), s.hasLeader() ? s.getLeader() : null));
        }
      }
      found.forEach((tp, list) -> out.putIfAbsent(tp, PartitionFanOut.Outcome.done(List.copyOf(list))));
      return out;
    }

    static List<QueueGroupListing> listings(Map<TopicPartition, List<QueuePartitionState>> states) {
      record Key(String topic, String group) {}
      Map<Key, List<QueuePartitionState>> byGroup = new java.util.TreeMap<>(
          Comparator.comparing(Key::topic).thenComparing(Key::group));
      states.values().forEach(list -> list.forEach(s ->
          byGroup.computeIfAbsent(new Key(s.getTopic(), s.getGroup()), k -> new ArrayList<>()).add(s)));
      List<QueueGroupListing> out = new ArrayList<>();
      byGroup.forEach((k, list) -> {
        list.sort(Comparator.comparingInt(QueuePartitionState::getPartition));
        long inFlight = 0;
        long available = 0;
        long backlog = 0;
        long redelivered = 0;
        long expiries = 0;
        long acked = 0;
        long dead = 0;
        long oldest = 0;
        Map<String, Long> reasons = new java.util.TreeMap<>();
        for (QueuePartitionState s : list) {
          inFlight += s.getInFlight();
          available += s.getAvailable();
          backlog += Math.max(0, s.getHighWatermark() - s.getEnd()) + s.getAvailable() + s.getInFlight();
          redelivered += s.getRedelivered();
          expiries += s.getLeaseExpiries();
          acked += s.getAcked();
          dead += s.getDead();
          s.getDeadByReasonMap().forEach((r, n) -> reasons.merge(r, n, Long::sum));
          if (s.getOldestDeadMs() > 0 && (oldest == 0 || s.getOldestDeadMs() < oldest)) {
            oldest = s.getOldestDeadMs();
          }
        }
        out.add(new QueueGroupListing(k.topic(), k.group(), deadLetterTopic(list.get(0)), list.size(), inFlight,
            available, backlog, redelivered, expiries, acked, dead, java.util.Collections.unmodifiableMap(reasons),
            oldest));
      });
      return List.copyOf(out);
    }
  }

  private static String deadLetterTopic(QueuePartitionState s) {
    if (!s.getDeadLetterTopic().isEmpty()) {
      return s.getDeadLetterTopic();
    }
    if (!s.getConfig().getDeadLetterTopic().isEmpty()) {
      return s.getConfig().getDeadLetterTopic();
    }
    return DeadLetters.defaultTopic(s.getTopic(), s.getGroup());
  }

  /** The settings a wire config stands for, defaults filled in for its zero / empty fields. */
  static QueueGroupSettings settings(QueueGroupConfig c, String deadLetterTopic) {
    return new QueueGroupSettings(
        c.getVisibilityTimeoutMs() > 0 ? c.getVisibilityTimeoutMs()
            : QueueConsumerConfig.DEFAULT_VISIBILITY_TIMEOUT.toMillis(),
        c.getMaxDeliveries() != 0 ? c.getMaxDeliveries() : QueueConsumerConfig.DEFAULT_MAX_DELIVERIES,
        c.getBackoffBaseMs() > 0 ? c.getBackoffBaseMs() : QueueConsumerConfig.DEFAULT_BACKOFF_BASE.toMillis(),
        c.getBackoffMaxMs() > 0 ? c.getBackoffMaxMs() : QueueConsumerConfig.DEFAULT_BACKOFF_MAX.toMillis(),
        c.getMaxInFlight() > 0 ? c.getMaxInFlight() : QueueConsumerConfig.DEFAULT_MAX_IN_FLIGHT,
        "key".equalsIgnoreCase(c.getOrdering()) ? QueueOrdering.KEY : QueueOrdering.NONE,
        "strict".equalsIgnoreCase(c.getKeyFailureMode()) ? KeyFailureMode.STRICT : KeyFailureMode.LENIENT,
        c.getMaxRedrives() != 0 ? c.getMaxRedrives() : QueueConsumerConfig.DEFAULT_MAX_REDRIVES,
        deadLetterTopic);
  }

  static QueueGroupDescription.Partition toPartition(QueuePartitionState s) {
    List<DeadLetterEntry> dead = new ArrayList<>();
    for (DeadEntry d : s.getDeadEntriesList()) {
      dead.add(new DeadLetterEntry(d.getOffset(), d.getReason(), d.getErrorClass(), d.getErrorMessage(),
          d.getAttempts(), d.getFirstFailureMs(), d.getLastFailureMs(), d.getDeadAtMs(), d.getForwarded(),
          d.getRedrives()));
    }
    String dlq = deadLetterTopic(s);
    return new QueueGroupDescription.Partition(s.getPartition(), s.getStart(), s.getEnd(), s.getHighWatermark(),
        s.getInFlight(), s.getAvailable(), s.getRedelivered(), s.getLeaseExpiries(), s.getAcked(), s.getDead(),
        java.util.Collections.unmodifiableMap(new java.util.TreeMap<>(s.getDeadByReasonMap())), s.getOldestDeadMs(),
        dlq, settings(s.getConfig(), dlq), List.copyOf(dead));
  }

  @Override
  public CompletableFuture<RedriveResult> redrive(String topic, String group, RedriveFilter filter, boolean dryRun) {
    return redriveOnce(topic, group, filter, dryRun, false);
  }

  @Override
  public CompletableFuture<RedriveResult> purgeDeadLetters(String topic, String group, RedriveFilter filter,
      boolean dryRun) {
    return redriveOnce(topic, group, filter, dryRun, true);
  }

  private CompletableFuture<RedriveResult> redriveOnce(String topic, String group, RedriveFilter filter,
      boolean dryRun, boolean purge) {
    return partitionsOf(List.of(topic)).thenCompose(tps -> {
      if (tps.isEmpty()) {
        throw new RaftMqException(ErrorCode.UNKNOWN_TOPIC, "unknown topic '" + topic + "'");
      }
      Map<TopicPartition, CompletableFuture<QueueRedriveResponse>> calls = new LinkedHashMap<>();
      for (TopicPartition tp : tps) {
        calls.put(tp, redrivePartition(tp, group, filter, dryRun, purge));
      }
      return CompletableFuture.allOf(calls.values().toArray(CompletableFuture[]::new)).thenApply(v -> {
        RedriveTally tally = new RedriveTally();
        calls.forEach((tp, f) -> tally.add(tp.partition(), f.join()));
        if (tally.unknownGroup == tps.size()) {
          throw new RaftMqException(ErrorCode.UNKNOWN_QUEUE_GROUP, "queue group '" + group
              + "' does not exist on topic '" + topic + "'");
        }
        return tally.result(topic, group, dryRun, purge);
      });
    });
  }

  /** Sums per-partition redrive answers. */
  private static final class RedriveTally {
    final Map<Integer, List<Long>> offsets = new java.util.TreeMap<>();
    final Map<Integer, Integer> kept = new java.util.TreeMap<>();
    int unknownGroup;

    /** Adds one answer; returns how many offsets it acted on. */
    int add(int partition, QueueRedriveResponse r) {
      if (r.getError() == ErrorCode.UNKNOWN_QUEUE_GROUP) {
        unknownGroup++;
        return 0;
      }
      if (r.getOffsetsCount() > 0) {
        offsets.computeIfAbsent(partition, p -> new ArrayList<>()).addAll(r.getOffsetsList());
      }
      if (r.getKeptByLoopGuard() > 0) {
        // Paced rounds see the same guarded entries again: keep the largest count, not the sum.
        kept.merge(partition, r.getKeptByLoopGuard(), Math::max);
      }
      return r.getOffsetsCount();
    }

    RedriveResult result(String topic, String group, boolean dryRun, boolean purge) {
      Map<Integer, List<Long>> frozen = new java.util.TreeMap<>();
      offsets.forEach((p, list) -> frozen.put(p, List.copyOf(list)));
      return new RedriveResult(topic, group, dryRun, purge, java.util.Collections.unmodifiableMap(frozen),
          java.util.Collections.unmodifiableMap(new java.util.TreeMap<>(kept)));
    }
  }

  /**
   * One QUEUE_REDRIVE to {@code tp}'s leader, retried on NOT_LEADER and timeouts; completes with the
   * answer (UNKNOWN_QUEUE_GROUP included, as a value), fails on other errors.
   */
  private CompletableFuture<QueueRedriveResponse> redrivePartition(TopicPartition tp, String group,
      RedriveFilter filter, boolean dryRun, boolean purge) {
    QueueRedriveRequest.Builder b = QueueRedriveRequest.newBuilder().setGroup(group).setTopic(tp.topic())
        .setPartition(tp.partition()).setFromOffset(filter.fromOffset()).setToOffset(filter.toOffset())
        .setLimit(filter.limit()).setDryRun(dryRun).setPurge(purge);
    filter.reason().ifPresent(b::setReason);
    filter.fromTime().ifPresent(t -> b.setFromTimeMs(t.toEpochMilli()));
    filter.toTime().ifPresent(t -> b.setToTimeMs(t.toEpochMilli()));
    filter.key().ifPresent(k -> b.setByKey(true).setKey(com.google.protobuf.ByteString.copyFrom(k)));
    QueueRedriveRequest req = b.build();
    String what = (purge ? "purge dead letters of" : "redrive") + " group '" + group + "' in " + tp;
    return rt.call(what, () -> leaderOrAny(tp),
        () -> Request.newBuilder().setApiKey(ApiKey.QUEUE_REDRIVE).setQueueRedrive(req),
        reply -> {
          QueueRedriveResponse r = reply.header().getQueueRedrive();
          if (r.getError() == ErrorCode.NONE || r.getError() == ErrorCode.UNKNOWN_QUEUE_GROUP) {
            return Attempt.done(r);
          }
          if (io.raftmq.protocol.Errors.needsMetadataRefresh(r.getError())) {
            rt.metadata().onLeaderError(tp, r.hasLeader() ? r.getLeader() : null);
          }
          return Attempt.of(new RaftMqException(r.getError(), what + ": " + r.getErrorMessage()));
        }, rt.config().requestTimeout());
  }

  private HostPort leaderOrAny(TopicPartition tp) {
    if (rt.metadata().needsRefresh()) {
      rt.metadata().maybeRefresh(); // after NOT_LEADER or an unreachable node: look for the new leader
    }
    NodeAddress leader = rt.metadata().leader(tp);
    if (leader == null) {
      rt.metadata().requestUpdate();
      return rt.metadata().anyNode();
    }
    return new HostPort(leader.host(), leader.port());
  }

  @Override
  public CompletableFuture<RedriveResult> redrive(String topic, String group, RedriveFilter filter,
      int ratePerSecond) {
    if (ratePerSecond < 1) {
      throw new IllegalArgumentException("ratePerSecond must be positive: " + ratePerSecond);
    }
    return partitionsOf(List.of(topic)).thenCompose(tps -> {
      if (tps.isEmpty()) {
        throw new RaftMqException(ErrorCode.UNKNOWN_TOPIC, "unknown topic '" + topic + "'");
      }
      PacedRedrive paced = new PacedRedrive(topic, group, filter, ratePerSecond, tps);
      paced.round();
      return paced.result;
    });
  }

  /**
   * A redrive paced to a rate: rounds a second apart, each redriving at most the rate's worth, split
   * over the partitions that still have matching messages (a partition is done once it returns fewer
   * than it was asked for, or reaches the filter's limit).
   */
  private final class PacedRedrive {
    final String topic;
    final String group;
    final RedriveFilter filter;
    final int rate;
    final List<TopicPartition> active;
    final Map<TopicPartition, Integer> done = new LinkedHashMap<>();
    final RedriveTally tally = new RedriveTally();
    final CompletableFuture<RedriveResult> result = new CompletableFuture<>();
    final int partitions;
    int rotation;
    boolean anyGroup;

    PacedRedrive(String topic, String group, RedriveFilter filter, int rate, List<TopicPartition> tps) {
      this.topic = topic;
      this.group = group;
      this.filter = filter;
      this.rate = rate;
      this.active = new ArrayList<>(tps);
      this.partitions = tps.size();
    }

    void round() {
      long started = System.nanoTime();
      int[] shares = QueueConsumerImpl.shares(rate, active.size(), Math.floorMod(rotation++, active.size()));
      Map<TopicPartition, Integer> asked = new LinkedHashMap<>();
      Map<TopicPartition, CompletableFuture<QueueRedriveResponse>> calls = new LinkedHashMap<>();
      for (int i = 0; i < active.size(); i++) {
        TopicPartition tp = active.get(i);
        int limit = shares[i];
        if (filter.limit() > 0) {
          limit = Math.min(limit, filter.limit() - done.getOrDefault(tp, 0));
        }
        if (limit <= 0) {
          continue;
        }
        asked.put(tp, limit);
        calls.put(tp, redrivePartition(tp, group, filter.withLimit(limit), false, false));
      }
      CompletableFuture.allOf(calls.values().toArray(CompletableFuture[]::new)).whenComplete((v, e) -> {
        if (e != null) {
          result.completeExceptionally(MetadataCache.asRaftMq(e));
          return;
        }
        calls.forEach((tp, f) -> {
          QueueRedriveResponse r = f.join();
          if (r.getError() != ErrorCode.UNKNOWN_QUEUE_GROUP) {
            anyGroup = true;
          }
          int n = tally.add(tp.partition(), r);
          int total = done.merge(tp, n, Integer::sum);
          if (n < asked.get(tp) || filter.limit() > 0 && total >= filter.limit()) {
            active.remove(tp);
          }
        });
        if (!anyGroup && active.isEmpty()) {
          result.completeExceptionally(new RaftMqException(ErrorCode.UNKNOWN_QUEUE_GROUP, "queue group '" + group
              + "' does not exist on topic '" + topic + "'"));
          return;
        }
        if (active.isEmpty()) {
          result.complete(tally.result(topic, group, false, false));
          return;
        }
        Duration pause = Duration.ofNanos(Math.max(0, started + TimeUnit.SECONDS.toNanos(1) - System.nanoTime()));
        if (!rt.schedule(this::round, pause)) {
          result.completeExceptionally(new RaftMqException(ErrorCode.INVALID_REQUEST, "the client is closed", false,
              null));
        }
      });
    }
  }
}
