package io.raftmq.metadata;

import static org.assertj.core.api.Assertions.assertThat;

import io.raftmq.raft.proto.CreateTopic;
import io.raftmq.raft.proto.DeleteGroup;
import io.raftmq.raft.proto.GroupMember;
import io.raftmq.raft.proto.GroupRecord;
import io.raftmq.raft.proto.JoinGroup;
import io.raftmq.raft.proto.LeaveGroup;
import io.raftmq.raft.proto.MetadataCommand;
import io.raftmq.raft.proto.MetadataReply;
import io.raftmq.raft.proto.MetadataStatus;
import io.raftmq.raft.proto.PartitionAssignment;
import io.raftmq.raft.proto.UpdateMemberAssignment;
import java.util.Set;
import java.util.SortedSet;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Group membership through the metadata core's commands. */
class ConsumerGroupsTest {
  private MetadataCore core;

  @BeforeEach
  void createTopic() {
    core = new MetadataCore();
    CreateTopic.Builder c = CreateTopic.newBuilder().setName("t").setPartitions(4).setReplicationFactor(1);
    for (int p = 0; p < 4; p++) {
      c.addAssignments(PartitionAssignment.newBuilder().addReplicas(1));
    }
    assertThat(core.apply(MetadataCommand.newBuilder().setCreateTopic(c).build()).getStatus())
        .isEqualTo(MetadataStatus.OK);
  }

  private MetadataReply join(String member, String... topics) {
    return core.apply(MetadataCommand.newBuilder().setJoinGroup(JoinGroup.newBuilder()
        .setGroup("g").setMemberId(member).addAllTopics(Set.of(topics)).setSessionTimeoutMs(10_000)).build());
  }

  private MetadataReply update(String member, long generation, SortedSet<GroupPartition> current) {
    return core.apply(MetadataCommand.newBuilder().setUpdateMemberAssignment(UpdateMemberAssignment.newBuilder()
        .setGroup("g").setMemberId(member).setGeneration(generation)
        .addAllCurrent(GroupPartition.toProto(current))).build());
  }

  private GroupMember member(String id) {
    return ConsumerGroups.member(core.view().group("g"), id);
  }

  private SortedSet<GroupPartition> target(String id) {
    return GroupPartition.fromProto(member(id).getTargetList());
  }

  @Test
  void shouldHandPartitionsOverOnlyAfterTheOwnerReleasesThem() {
    MetadataReply first = join("a", "t");
    assertThat(first.getGeneration()).isEqualTo(1);
    assertThat(update("a", 1, target("a")).getStatus()).isEqualTo(MetadataStatus.OK);
    assertThat(core.view().group("g").getMembersCount()).isEqualTo(1);
    assertThat(MetadataCore.groupState(core.view().group("g"))).isEqualTo("Stable");

    assertThat(join("b", "t").getGeneration()).isEqualTo(2);
    SortedSet<GroupPartition> bTarget = target("b");
    assertThat(bTarget).hasSize(2);
    assertThat(MetadataCore.groupState(core.view().group("g"))).isEqualTo("Reconciling");
    // b cannot take what a still holds.
    assertThat(update("b", 2, bTarget).getStatus()).isEqualTo(MetadataStatus.STALE);
    // a releases (keeps its new target), then b takes over.
    assertThat(update("a", 2, target("a")).getStatus()).isEqualTo(MetadataStatus.OK);
    assertThat(update("b", 2, bTarget).getStatus()).isEqualTo(MetadataStatus.OK);
    assertThat(MetadataCore.groupState(core.view().group("g"))).isEqualTo("Stable");
    // An update from an old generation is ignored.
    assertThat(update("a", 1, target("a")).getStatus()).isEqualTo(MetadataStatus.STALE);
  }

  @Test
  void shouldFreeTheHoldingsOfAMemberThatLeavesOrExpires() {
    join("a", "t");
    update("a", 1, target("a"));
    join("b", "t");
    MetadataReply expired = core.apply(MetadataCommand.newBuilder().setLeaveGroup(
        LeaveGroup.newBuilder().setGroup("g").setMemberId("a").setExpired(true)).build());
    assertThat(expired.getGeneration()).isEqualTo(3);
    assertThat(target("b")).hasSize(4);
    assertThat(update("b", 3, target("b")).getStatus()).isEqualTo(MetadataStatus.OK);
  }

  @Test
  void shouldRejectAnotherAssignorAndBadIds() {
    join("a", "t");
    MetadataReply other = core.apply(MetadataCommand.newBuilder().setJoinGroup(JoinGroup.newBuilder()
        .setGroup("g").setMemberId("b").addTopics("t").setAssignor("range")).build());
    assertThat(other.getStatus()).isEqualTo(MetadataStatus.INCONSISTENT_ASSIGNOR);
    MetadataReply bad = core.apply(MetadataCommand.newBuilder().setJoinGroup(JoinGroup.newBuilder()
        .setGroup("bad group!").setMemberId("b").addTopics("t")).build());
    assertThat(bad.getStatus()).isEqualTo(MetadataStatus.INVALID);
    assertThat(core.view().groups()).containsOnlyKeys("g");
  }

  @Test
  void shouldDeleteOnlyEmptyGroupsAndKeepGenerationsRising() {
    join("a", "t");
    assertThat(core.apply(MetadataCommand.newBuilder().setDeleteGroup(DeleteGroup.newBuilder().setGroup("g")).build())
        .getStatus()).isEqualTo(MetadataStatus.GROUP_NOT_EMPTY);
    core.apply(MetadataCommand.newBuilder().setLeaveGroup(LeaveGroup.newBuilder().setGroup("g").setMemberId("a")).build());
    assertThat(core.apply(MetadataCommand.newBuilder().setDeleteGroup(DeleteGroup.newBuilder().setGroup("g")).build())
        .getStatus()).isEqualTo(MetadataStatus.OK);
    assertThat(core.view().group("g")).isNull();
    assertThat(join("a", "t").getGeneration()).isEqualTo(3);
  }

  @Test
  void shouldSurviveASnapshot() {
    join("a", "t");
    join("b", "t");
    MetadataCore restored = new MetadataCore();
    restored.load(core.snapshot(10));
    GroupRecord g = restored.view().group("g");
    assertThat(g).isEqualTo(core.view().group("g"));
  }

  @Test
  void shouldReassignWhenASubscribedTopicIsDeleted() {
    join("a", "t");
    update("a", 1, target("a"));
    core.apply(MetadataCommand.newBuilder().setDeleteTopic(
        io.raftmq.raft.proto.DeleteTopic.newBuilder().setName("t")).build());
    assertThat(target("a")).isEmpty();
    assertThat(member("a").getCurrentList()).isEmpty();
    assertThat(core.view().group("g").getGeneration()).isEqualTo(2);
  }
}
