package io.raftmq.broker;

import io.raftmq.metadata.GroupPartition;
import io.raftmq.metadata.GroupRules;
import io.raftmq.metadata.MetadataCore;
import io.raftmq.metadata.MetadataCore.MetadataView;
import io.raftmq.protocol.ErrorCode;
import io.raftmq.protocol.GroupHeartbeatRequest;
import io.raftmq.protocol.GroupHeartbeatResponse;
import io.raftmq.protocol.TopicPartitions;
import io.raftmq.raft.RaftHost;
import io.raftmq.raft.proto.GroupMember;
import io.raftmq.raft.proto.GroupPartitions;
import io.raftmq.raft.proto.GroupRecord;
import io.raftmq.raft.proto.JoinGroup;
import io.raftmq.raft.proto.LeaveGroup;
import io.raftmq.raft.proto.MetadataCommand;
import io.raftmq.raft.proto.MetadataReply;
import io.raftmq.raft.proto.MetadataStatus;
import io.raftmq.raft.proto.UpdateMemberAssignment;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SortedSet;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The consumer groups' coordinator: the broker that leads the metadata group answers heartbeats.
 * Heartbeats are soft state here (when each member was last heard from); everything else (joins,
 * leaves, expiries, hand-overs) is proposed to the metadata group and applied by every node.
 *
 * <p>A member's heartbeat reports the partitions it owns; the answer is what it may consume now. A
 * partition leaves a member's assignment as soon as the assignor moves it, but is handed to the next
 * member only once the first one has reported that it no longer owns it (or has left or expired):
 * no partition is consumed by two members of a group at once, and members keep what they still own.
 *
 * <p>After a metadata leader change the new coordinator has heard from no one: every member gets a
 * full session timeout from the moment this node became leader (a grace period, not an expulsion).
 */
final class GroupCoordinator implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(GroupCoordinator.class);
  static final int DEFAULT_SESSION_TIMEOUT_MS = 10_000;
  static final int MIN_SESSION_TIMEOUT_MS = 1_000;
  static final int MAX_SESSION_TIMEOUT_MS = 300_000;
  private static final long TICK_MS = 200;

  private final BrokerContext ctx;
  /** group + '\0' + member → System.nanoTime() of the last heartbeat (or of the grace start). */
  private final Map<String, Long> lastSeen = new ConcurrentHashMap<>();
  private final Set<String> expiring = ConcurrentHashMap.newKeySet();
  private final ScheduledFuture<?> ticker;
  private volatile long leaderTerm = -1;

  GroupCoordinator(BrokerContext ctx) {
    this.ctx = ctx;
    this.ticker = ctx.timer.scheduleWithFixedDelay(this::tick, TICK_MS, TICK_MS, TimeUnit.MILLISECONDS);
  }

  private static String key(String group, String member) {
    return group + '\0' + member;
  }

  /** The metadata leader's term if this node leads the metadata group and is ready, else -1. */
  private long leadingTerm() {
    return ctx.host.division(RaftHost.METADATA_GROUP_ID)
        .filter(d -> d.getInfo().isLeader() && d.getInfo().isLeaderReady())
        .map(d -> d.getInfo().getCurrentTerm())
        .orElse(-1L);
  }

  private boolean becameLeaderCheck() {
    long term = leadingTerm();
    if (term < 0) {
      leaderTerm = -1;
      return false;
    }
    if (term != leaderTerm) {
      // New term: forget what an earlier reign heard; every member starts a fresh session (grace).
      lastSeen.clear();
      expiring.clear();
      leaderTerm = term;
      LOG.info("node {}: coordinating consumer groups (metadata leader, term {})", ctx.config.nodeId(), term);
    }
    return true;
  }

  /** Expires members not heard from within their session timeout. */
  private void tick() {
    try {
      if (!becameLeaderCheck()) {
        return;
      }
      long now = System.nanoTime();
      MetadataView view = ctx.metadata();
      Set<String> live = new java.util.HashSet<>();
      for (GroupRecord g : view.groups().values()) {
        for (GroupMember m : g.getMembersList()) {
          String k = key(g.getName(), m.getMemberId());
          live.add(k);
          long seen = lastSeen.computeIfAbsent(k, x -> now);
          long timeoutNanos = TimeUnit.MILLISECONDS.toNanos(sessionTimeout(m.getSessionTimeoutMs()));
          if (now - seen > timeoutNanos && expiring.add(k)) {
            LOG.info("group {}: member {} ({}) missed its session timeout of {} ms; expiring it", g.getName(),
                m.getMemberId(), m.getClientId(), m.getSessionTimeoutMs());
            propose(MetadataCommand.newBuilder().setLeaveGroup(LeaveGroup.newBuilder()
                .setGroup(g.getName()).setMemberId(m.getMemberId()).setExpired(true)))
                .whenComplete((r, e) -> {
                  expiring.remove(k);
                  if (e == null) {
                    lastSeen.remove(k);
                  }
                });
          }
        }
      }
      lastSeen.keySet().retainAll(live);
    } catch (RuntimeException e) {
      LOG.warn("group session check failed", e);
    }
  }

  static int sessionTimeout(int requested) {
    return requested <= 0 ? DEFAULT_SESSION_TIMEOUT_MS : requested;
  }

  /** Answers one member's heartbeat (join, report, leave). */
  CompletableFuture<GroupHeartbeatResponse> heartbeat(GroupHeartbeatRequest req, String clientId) {
    if (!becameLeaderCheck()) {
      return done(error(ErrorCode.NOT_LEADER, "node " + ctx.config.nodeId()
          + " is not the group coordinator (the metadata leader)").setLeader(ctx.hint(ctx.metadataLeader())));
    }
    String invalid = GroupRules.validateGroupId(req.getGroup());
    if (invalid != null) {
      return done(error(ErrorCode.INVALID_GROUP_ID, invalid));
    }
    if (req.getMemberId().isEmpty() || req.getMemberId().length() > 200) {
      return done(error(ErrorCode.INVALID_REQUEST, "a member id of 1 to 200 characters is required"));
    }
    MetadataView view = ctx.metadata();
    GroupRecord g = view.group(req.getGroup());
    GroupMember m = g == null ? null : member(g, req.getMemberId());
    String k = key(req.getGroup(), req.getMemberId());
    if (req.getLeaving()) {
      lastSeen.remove(k);
      if (m == null) {
        return done(GroupHeartbeatResponse.newBuilder().setError(ErrorCode.NONE).setGeneration(-1));
      }
      return propose(MetadataCommand.newBuilder().setLeaveGroup(LeaveGroup.newBuilder()
          .setGroup(req.getGroup()).setMemberId(req.getMemberId())))
          .thenApply(r -> GroupHeartbeatResponse.newBuilder().setError(ErrorCode.NONE)
              .setGeneration(r.getGeneration()).build())
          .exceptionally(this::failed);
    }
    if (m == null && req.getGeneration() > 0) {
      return done(error(ErrorCode.UNKNOWN_MEMBER, "group '" + req.getGroup() + "' has no member "
          + req.getMemberId() + " (its session expired or it left): its partitions are lost; rejoin"));
    }
    boolean subscriptionChanged = m != null && (!new TreeSet<>(m.getTopicsList()).equals(new TreeSet<>(req.getTopicsList()))
        || m.getSessionTimeoutMs() != sessionTimeout(req.getSessionTimeoutMs()));
    if (m == null || subscriptionChanged) {
      if (req.getTopicsCount() == 0) {
        return done(error(ErrorCode.INVALID_REQUEST, "a member must subscribe to at least one topic"));
      }
      for (String t : req.getTopicsList()) {
        if (view.topic(t) == null) {
          return done(error(ErrorCode.UNKNOWN_TOPIC, "cannot subscribe to unknown topic '" + t + "'"));
        }
      }
      int session = sessionTimeout(req.getSessionTimeoutMs());
      if (session < MIN_SESSION_TIMEOUT_MS || session > MAX_SESSION_TIMEOUT_MS) {
        return done(error(ErrorCode.INVALID_REQUEST, "session timeout " + session + " ms is outside "
            + MIN_SESSION_TIMEOUT_MS + ".." + MAX_SESSION_TIMEOUT_MS));
      }
      lastSeen.put(k, System.nanoTime());
      return propose(MetadataCommand.newBuilder().setJoinGroup(JoinGroup.newBuilder()
          .setGroup(req.getGroup())
          .setMemberId(req.getMemberId())
          .setClientId(clientId.length() > 200 ? clientId.substring(0, 200) : clientId)
          .setClientHost(req.getClientHost())
          .addAllTopics(req.getTopicsList())
          .setAssignor(req.getAssignor())
          .setSessionTimeoutMs(session)))
          .thenCompose(r -> switch (r.getStatus()) {
            case OK -> reconcile(req);
            case INCONSISTENT_ASSIGNOR -> done(error(ErrorCode.INCONSISTENT_ASSIGNOR, r.getMessage()));
            default -> done(error(ErrorCode.INVALID_REQUEST, r.getMessage()));
          })
          .exceptionally(this::failed);
    }
    lastSeen.put(k, System.nanoTime());
    return reconcile(req).exceptionally(this::failed);
  }

  /**
   * Works out what the member may consume now and records hand-overs: it keeps what is in both its
   * current set and its target; revoked partitions stay recorded as its own until it reports them
   * released; target partitions nobody else holds are granted.
   */
  private CompletableFuture<GroupHeartbeatResponse> reconcile(GroupHeartbeatRequest req) {
    GroupRecord g = ctx.metadata().group(req.getGroup());
    GroupMember m = g == null ? null : member(g, req.getMemberId());
    if (m == null) {
      return done(error(ErrorCode.UNKNOWN_MEMBER, "member " + req.getMemberId() + " is not in group '"
          + req.getGroup() + "'; rejoin"));
    }
    SortedSet<GroupPartition> target = GroupPartition.fromProto(m.getTargetList());
    SortedSet<GroupPartition> current = GroupPartition.fromProto(m.getCurrentList());
    SortedSet<GroupPartition> owned = owned(req.getOwnedList());
    SortedSet<GroupPartition> heldByOthers = new TreeSet<>();
    for (GroupMember other : g.getMembersList()) {
      if (!other.getMemberId().equals(m.getMemberId())) {
        heldByOthers.addAll(GroupPartition.fromProto(other.getCurrentList()));
      }
    }
    SortedSet<GroupPartition> keep = new TreeSet<>(current);
    keep.retainAll(target);
    SortedSet<GroupPartition> stillHeld = new TreeSet<>(current);
    stillHeld.removeAll(target);
    // A report counts as a release only once the member knows this generation: an older report may
    // predate its start of consuming a partition that this generation revokes.
    if (req.getGeneration() == g.getGeneration()) {
      stillHeld.retainAll(owned);
    }
    SortedSet<GroupPartition> grant = new TreeSet<>(target);
    grant.removeAll(current);
    grant.removeAll(heldByOthers);
    SortedSet<GroupPartition> next = new TreeSet<>(keep);
    next.addAll(stillHeld);
    next.addAll(grant);
    long generation = g.getGeneration();
    if (next.equals(current)) {
      return done(assignment(g, m, keep, target, owned));
    }
    return propose(MetadataCommand.newBuilder().setUpdateMemberAssignment(UpdateMemberAssignment.newBuilder()
        .setGroup(g.getName()).setMemberId(m.getMemberId()).setGeneration(generation)
        .addAllCurrent(GroupPartition.toProto(next))))
        .thenApply(r -> {
          if (r.getStatus() == MetadataStatus.OK) {
            SortedSet<GroupPartition> mayConsume = new TreeSet<>(keep);
            mayConsume.addAll(grant);
            return assignment(g, m, mayConsume, target, owned).build();
          }
          // Raced with another change: answer with the safe part; the member comes back soon.
          return assignment(g, m, keep, target, owned).setReconciling(true).build();
        });
  }

  private GroupHeartbeatResponse.Builder assignment(GroupRecord g, GroupMember m, SortedSet<GroupPartition> mayConsume,
      SortedSet<GroupPartition> target, SortedSet<GroupPartition> owned) {
    int session = sessionTimeout(m.getSessionTimeoutMs());
    GroupHeartbeatResponse.Builder b = GroupHeartbeatResponse.newBuilder()
        .setError(ErrorCode.NONE)
        .setGeneration(g.getGeneration())
        .setHeartbeatIntervalMs(Math.max(100, Math.min(3_000, session / 5)))
        .setReconciling(!mayConsume.equals(target) || !mayConsume.equals(owned));
    for (GroupPartitions gp : GroupPartition.toProto(mayConsume)) {
      b.addAssignment(TopicPartitions.newBuilder().setTopic(gp.getTopic()).addAllPartitions(gp.getPartitionsList()));
    }
    return b;
  }

  private static SortedSet<GroupPartition> owned(List<TopicPartitions> list) {
    SortedSet<GroupPartition> out = new TreeSet<>();
    for (TopicPartitions tp : list) {
      for (int p : tp.getPartitionsList()) {
        out.add(new GroupPartition(tp.getTopic(), p));
      }
    }
    return out;
  }

  static GroupMember member(GroupRecord g, String memberId) {
    for (GroupMember m : g.getMembersList()) {
      if (m.getMemberId().equals(memberId)) {
        return m;
      }
    }
    return null;
  }

  private CompletableFuture<MetadataReply> propose(MetadataCommand.Builder command) {
    return ctx.host.proposeMetadata(command.setLeaderTimeMs(System.currentTimeMillis()).build());
  }

  private GroupHeartbeatResponse failed(Throwable e) {
    Throwable c = e instanceof CompletionException && e.getCause() != null ? e.getCause() : e;
    return error(ErrorCode.LEADER_NOT_AVAILABLE, "metadata group unavailable: " + c).build();
  }

  private static GroupHeartbeatResponse.Builder error(ErrorCode code, String message) {
    return GroupHeartbeatResponse.newBuilder().setError(code).setErrorMessage(message);
  }

  private static CompletableFuture<GroupHeartbeatResponse> done(GroupHeartbeatResponse.Builder b) {
    return CompletableFuture.completedFuture(b.build());
  }

  /** The state name describe shows. */
  static String state(GroupRecord g) {
    return MetadataCore.groupState(g);
  }

  @Override
  public void close() {
    ticker.cancel(false);
  }

  /** For tests: members this coordinator has heard from. */
  List<String> trackedMembers() {
    return new ArrayList<>(lastSeen.keySet());
  }
}
