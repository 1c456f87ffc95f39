package io.raftmq.metadata;

import io.raftmq.raft.proto.DeleteGroup;
import io.raftmq.raft.proto.GroupMember;
import io.raftmq.raft.proto.GroupRecord;
import io.raftmq.raft.proto.JoinGroup;
import io.raftmq.raft.proto.LeaveGroup;
import io.raftmq.raft.proto.MetadataReply;
import io.raftmq.raft.proto.MetadataStatus;
import io.raftmq.raft.proto.UpdateMemberAssignment;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SortedMap;
import java.util.SortedSet;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * Consumer-group membership as part of the metadata state machine: joins, leaves, expiries and
 * hand-overs are committed commands; each join, leave or expiry bumps the group's generation and
 * recomputes the target assignment with the group's assignor. Deterministic; the apply thread owns it.
 *
 * <p>A member's {@code current} partitions are what it may consume now. A partition enters a member's
 * current only when no other member's current holds it: the previous owner must first report that it
 * released it (cooperative hand-over), or leave, or expire.
 */
final class ConsumerGroups {
  private final Map<String, GroupRecord> groups = new TreeMap<>();
  private final Map<String, Long> deletedGenerations = new TreeMap<>();

  Map<String, GroupRecord> groups() {
    return groups;
  }

  Map<String, Long> deletedGenerations() {
    return deletedGenerations;
  }

  void load(List<GroupRecord> records, Map<String, Long> deleted) {
    groups.clear();
    deletedGenerations.clear();
    records.forEach(g -> groups.put(g.getName(), g));
    deletedGenerations.putAll(deleted);
  }

  MetadataReply join(JoinGroup j, long logTimeMs, Map<String, Integer> partitionCounts) {
    String invalid = GroupRules.validateGroupId(j.getGroup());
    if (invalid == null && j.getMemberId().isEmpty()) {
      invalid = "a member id is required";
    }
    if (invalid == null && j.getTopicsCount() == 0) {
      invalid = "a member must subscribe to at least one topic";
    }
    String assignor = j.getAssignor().isEmpty() ? Assignors.COOPERATIVE_STICKY : j.getAssignor();
    if (invalid == null && !Assignors.ALL.contains(assignor)) {
      invalid = "unknown assignor '" + assignor + "'; use one of " + new TreeSet<>(Assignors.ALL);
    }
    if (invalid != null) {
      return reply(MetadataStatus.INVALID, invalid, 0);
    }
    GroupRecord g = groups.get(j.getGroup());
    if (g == null) {
      g = GroupRecord.newBuilder()
          .setName(j.getGroup())
          .setGeneration(deletedGenerations.getOrDefault(j.getGroup(), 0L))
          .setAssignor(assignor)
          .setCreatedLogTimeMs(logTimeMs)
          .build();
    } else if (g.getMembersCount() > 0 && !g.getAssignor().equals(assignor)) {
      return reply(MetadataStatus.INCONSISTENT_ASSIGNOR, "group '" + g.getName() + "' uses the "
          + g.getAssignor() + " assignor; this member asks for " + assignor, g.getGeneration());
    }
    GroupMember existing = member(g, j.getMemberId());
    Set<String> topics = new TreeSet<>(j.getTopicsList());
    if (existing != null && new TreeSet<>(existing.getTopicsList()).equals(topics)
        && existing.getSessionTimeoutMs() == j.getSessionTimeoutMs()) {
      return reply(MetadataStatus.OK, "", g.getGeneration());
    }
    GroupMember.Builder m = existing == null
        ? GroupMember.newBuilder().setMemberId(j.getMemberId()).setJoinedLogTimeMs(logTimeMs)
        : existing.toBuilder();
    m.setClientId(j.getClientId()).setClientHost(j.getClientHost())
        .clearTopics().addAllTopics(topics).setSessionTimeoutMs(j.getSessionTimeoutMs());
    List<GroupMember> members = new ArrayList<>();
    for (GroupMember x : g.getMembersList()) {
      if (!x.getMemberId().equals(j.getMemberId())) {
        members.add(x);
      }
    }
    members.add(m.build());
    members.sort((a, b) -> a.getMemberId().compareTo(b.getMemberId()));
    Set<String> allTopics = new TreeSet<>(g.getTopicsList());
    allTopics.addAll(topics);
    GroupRecord next = rebalance(g.toBuilder().setAssignor(assignor).clearMembers().addAllMembers(members)
        .clearTopics().addAllTopics(allTopics), logTimeMs, partitionCounts);
    groups.put(next.getName(), next);
    return reply(MetadataStatus.OK, "", next.getGeneration());
  }

  MetadataReply leave(LeaveGroup l, long logTimeMs, Map<String, Integer> partitionCounts) {
    GroupRecord g = groups.get(l.getGroup());
    if (g == null) {
      return reply(MetadataStatus.GROUP_NOT_FOUND, "group '" + l.getGroup() + "' does not exist", 0);
    }
    if (member(g, l.getMemberId()) == null) {
      return reply(MetadataStatus.MEMBER_NOT_FOUND, "group '" + l.getGroup() + "' has no member "
          + l.getMemberId(), g.getGeneration());
    }
    List<GroupMember> members = new ArrayList<>(g.getMembersList());
    members.removeIf(x -> x.getMemberId().equals(l.getMemberId()));
    GroupRecord next = rebalance(g.toBuilder().clearMembers().addAllMembers(members), logTimeMs, partitionCounts);
    groups.put(next.getName(), next);
    return reply(MetadataStatus.OK, "", next.getGeneration());
  }

  MetadataReply update(UpdateMemberAssignment u, long logTimeMs) {
    GroupRecord g = groups.get(u.getGroup());
    if (g == null) {
      return reply(MetadataStatus.GROUP_NOT_FOUND, "group '" + u.getGroup() + "' does not exist", 0);
    }
    GroupMember m = member(g, u.getMemberId());
    if (m == null) {
      return reply(MetadataStatus.MEMBER_NOT_FOUND, "no member " + u.getMemberId(), g.getGeneration());
    }
    if (u.getGeneration() != g.getGeneration()) {
      return reply(MetadataStatus.STALE, "generation " + u.getGeneration() + " is not the group's "
          + g.getGeneration(), g.getGeneration());
    }
    SortedSet<GroupPartition> wanted = GroupPartition.fromProto(u.getCurrentList());
    SortedSet<GroupPartition> allowed = GroupPartition.fromProto(m.getTargetList());
    allowed.addAll(GroupPartition.fromProto(m.getCurrentList()));
    for (GroupPartition gp : wanted) {
      if (!allowed.contains(gp)) {
        return reply(MetadataStatus.STALE, gp + " is not in the member's target", g.getGeneration());
      }
      for (GroupMember other : g.getMembersList()) {
        if (!other.getMemberId().equals(m.getMemberId())
            && GroupPartition.fromProto(other.getCurrentList()).contains(gp)) {
          return reply(MetadataStatus.STALE, gp + " is still held by " + other.getMemberId(), g.getGeneration());
        }
      }
    }
    List<GroupMember> members = new ArrayList<>();
    for (GroupMember x : g.getMembersList()) {
      members.add(x.getMemberId().equals(m.getMemberId())
          ? x.toBuilder().clearCurrent().addAllCurrent(GroupPartition.toProto(wanted)).build() : x);
    }
    groups.put(g.getName(), g.toBuilder().clearMembers().addAllMembers(members)
        .setChangedLogTimeMs(logTimeMs).build());
    return reply(MetadataStatus.OK, "", g.getGeneration());
  }

  MetadataReply delete(DeleteGroup d) {
    GroupRecord g = groups.get(d.getGroup());
    if (g == null) {
      return reply(MetadataStatus.GROUP_NOT_FOUND, "group '" + d.getGroup() + "' does not exist", 0);
    }
    if (g.getMembersCount() > 0) {
      return reply(MetadataStatus.GROUP_NOT_EMPTY, "group '" + d.getGroup() + "' has " + g.getMembersCount()
          + " live member(s)", g.getGeneration());
    }
    groups.remove(d.getGroup());
    deletedGenerations.put(d.getGroup(), g.getGeneration());
    return reply(MetadataStatus.OK, "", g.getGeneration());
  }

  /** Topics were created or deleted: recompute the groups subscribed to any of {@code changed}. */
  void onTopicsChanged(Set<String> changed, long logTimeMs, Map<String, Integer> partitionCounts) {
    for (GroupRecord g : new ArrayList<>(groups.values())) {
      boolean affected = g.getMembersList().stream().anyMatch(m -> m.getTopicsList().stream().anyMatch(changed::contains));
      if (!affected) {
        continue;
      }
      // Partitions of a deleted topic vanish from what members hold.
      List<GroupMember> members = new ArrayList<>();
      for (GroupMember m : g.getMembersList()) {
        SortedSet<GroupPartition> current = GroupPartition.fromProto(m.getCurrentList());
        current.removeIf(gp -> !partitionCounts.containsKey(gp.topic()) || gp.partition() >= partitionCounts.get(gp.topic()));
        members.add(m.toBuilder().clearCurrent().addAllCurrent(GroupPartition.toProto(current)).build());
      }
      groups.put(g.getName(), rebalance(g.toBuilder().clearMembers().addAllMembers(members), logTimeMs, partitionCounts));
    }
  }

  /** Bumps the generation and recomputes every member's target with the group's assignor. */
  private static GroupRecord rebalance(GroupRecord.Builder g, long logTimeMs, Map<String, Integer> partitionCounts) {
    SortedMap<String, Set<String>> subs = new TreeMap<>();
    Map<String, SortedSet<GroupPartition>> previous = new TreeMap<>();
    for (GroupMember m : g.getMembersList()) {
      subs.put(m.getMemberId(), new LinkedHashSet<>(m.getTopicsList()));
      previous.put(m.getMemberId(), GroupPartition.fromProto(m.getTargetList()));
    }
    SortedMap<String, SortedSet<GroupPartition>> target = Assignors.assign(g.getAssignor(), subs, partitionCounts, previous);
    List<GroupMember> members = new ArrayList<>();
    for (GroupMember m : g.getMembersList()) {
      members.add(m.toBuilder().clearTarget()
          .addAllTarget(GroupPartition.toProto(target.getOrDefault(m.getMemberId(), new TreeSet<>()))).build());
    }
    return g.clearMembers().addAllMembers(members)
        .setGeneration(g.getGeneration() + 1)
        .setChangedLogTimeMs(logTimeMs)
        .build();
  }

  static GroupMember member(GroupRecord g, String memberId) {
    for (GroupMember m : g.getMembersList()) {
      if (m.getMemberId().equals(memberId)) {
        return m;
      }
    }
    return null;
  }

  /** "Empty" (no members), "Stable" (everyone consumes its target) or "Reconciling". */
  static String state(GroupRecord g) {
    if (g.getMembersCount() == 0) {
      return "Empty";
    }
    for (GroupMember m : g.getMembersList()) {
      if (!GroupPartition.fromProto(m.getTargetList()).equals(GroupPartition.fromProto(m.getCurrentList()))) {
        return "Reconciling";
      }
    }
    return "Stable";
  }

  private static MetadataReply reply(MetadataStatus status, String message, long generation) {
    return MetadataReply.newBuilder().setStatus(status).setMessage(message).setGeneration(generation).build();
  }
}
