package io.raftmq.broker;

import io.netty.channel.ChannelHandlerContext;
import io.raftmq.metadata.GroupRules;
import io.raftmq.metadata.MetadataCore.MetadataView;
import io.raftmq.protocol.CommitOffsetsRequest;
import io.raftmq.protocol.CommitOffsetsResponse;
import io.raftmq.protocol.DeleteGroupResponse;
import io.raftmq.protocol.DescribeGroupResponse;
import io.raftmq.protocol.ErrorCode;
import io.raftmq.protocol.FetchOffsetsRequest;
import io.raftmq.protocol.FetchOffsetsResponse;
import io.raftmq.protocol.GroupSummary;
import io.raftmq.protocol.ListGroupsResponse;
import io.raftmq.protocol.MemberDescription;
import io.raftmq.protocol.OffsetCommit;
import io.raftmq.protocol.PartitionCommitResult;
import io.raftmq.protocol.PartitionCommittedOffset;
import io.raftmq.protocol.Request;
import io.raftmq.protocol.Response;
import io.raftmq.protocol.TopicPartitions;
import io.raftmq.raft.proto.ClaimPartition;
import io.raftmq.raft.proto.CommitOffset;
import io.raftmq.raft.proto.DeleteGroup;
import io.raftmq.raft.proto.DeleteGroupOffset;
import io.raftmq.raft.proto.GroupMember;
import io.raftmq.raft.proto.GroupOffset;
import io.raftmq.raft.proto.GroupPartitions;
import io.raftmq.raft.proto.GroupRecord;
import io.raftmq.raft.proto.MetadataCommand;
import io.raftmq.raft.proto.PartitionCommand;
import io.raftmq.raft.proto.TopicRecord;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;

/**
 * Consumer-group requests: heartbeats go to the {@link GroupCoordinator}; offset commits and claims
 * become commands in the partitions' own Raft logs (this node must lead them); list, describe and
 * delete read or change the metadata group.
 */
final class GroupHandler {
  /** Longest metadata string a commit may carry. */
  static final int MAX_COMMIT_METADATA = 4096;
  private static final long COMMIT_TIMEOUT_MS = 15_000;
  /** How long a commit waits for this node's metadata to reach the member's generation. */
  private static final long METADATA_WAIT_MS = 2_000;

  private final BrokerContext ctx;
  private final PartitionCommands commands;

  GroupHandler(BrokerContext ctx) {
    this.ctx = ctx;
    this.commands = new PartitionCommands(ctx);
  }

  void handle(ChannelHandlerContext channel, Request request, long startNanos) {
    Response.Builder response = Response.newBuilder().setCorrelationId(request.getCorrelationId());
    String api = request.getBodyCase().name().toLowerCase();
    switch (request.getBodyCase()) {
      case GROUP_HEARTBEAT -> ctx.coordinator.heartbeat(request.getGroupHeartbeat(), request.getClientId())
          .whenComplete((r, e) -> reply(channel, e == null ? response.setGroupHeartbeat(r)
              : response.setError(ErrorCode.UNKNOWN_SERVER_ERROR).setErrorMessage(String.valueOf(e)), api, startNanos));
      case COMMIT_OFFSETS -> commit(request.getCommitOffsets()).whenComplete((r, e) -> reply(channel,
          e == null ? response.setCommitOffsets(r)
              : response.setError(ErrorCode.UNKNOWN_SERVER_ERROR).setErrorMessage(String.valueOf(e)), api, startNanos));
      case FETCH_OFFSETS -> fetchOffsets(request.getFetchOffsets()).whenComplete((r, e) -> reply(channel,
          e == null ? response.setFetchOffsets(r)
              : response.setError(ErrorCode.UNKNOWN_SERVER_ERROR).setErrorMessage(String.valueOf(e)), api, startNanos));
      case LIST_GROUPS -> ctx.afterMetadataBarrier(response, () -> response.setListGroups(listGroups()))
          .thenAccept(r -> reply(channel, r, api, startNanos));
      case DESCRIBE_GROUP -> ctx.afterMetadataBarrier(response,
              () -> response.setDescribeGroup(describe(request.getDescribeGroup().getGroup())))
          .thenAccept(r -> reply(channel, r, api, startNanos));
      case DELETE_GROUP -> deleteGroup(request.getDeleteGroup().getGroup()).whenComplete((r, e) -> reply(channel,
          e == null ? response.setDeleteGroup(r)
              : response.setError(ErrorCode.UNKNOWN_SERVER_ERROR).setErrorMessage(String.valueOf(e)), api, startNanos));
      default -> throw new IllegalArgumentException("not a group request: " + request.getBodyCase());
    }
  }

  private void reply(ChannelHandlerContext channel, Response.Builder response, String api, long startNanos) {
    ctx.metrics.request(api, response.getError(), startNanos);
    ClientHandler.reply(channel, response.build(), null);
  }

  // ---- membership check shared by commits and claims ----

  /** Null when the member (or an admin, member_id empty) may act on the group's offsets, else why not. */
  private CompletableFuture<Check> check(String group, String memberId, long generation, boolean adminAllowed) {
    String invalid = GroupRules.validateGroupId(group);
    if (invalid != null) {
      return CompletableFuture.completedFuture(Check.refuse(ErrorCode.INVALID_GROUP_ID, invalid));
    }
    if (memberId.isEmpty()) {
      if (!adminAllowed) {
        return CompletableFuture.completedFuture(Check.refuse(ErrorCode.INVALID_REQUEST, "a member id is required"));
      }
      GroupRecord g = ctx.metadata().group(group);
      if (g == null) {
        return CompletableFuture.completedFuture(Check.refuse(ErrorCode.UNKNOWN_GROUP,
            "group '" + group + "' does not exist"));
      }
      if (g.getMembersCount() > 0) {
        return CompletableFuture.completedFuture(Check.refuse(ErrorCode.GROUP_NOT_EMPTY, "group '" + group
            + "' has " + g.getMembersCount() + " live member(s); stop them first"));
      }
      return CompletableFuture.completedFuture(Check.allow(g.getGeneration()));
    }
    // The member's generation comes from the coordinator; this node's metadata may trail it briefly.
    return ctx.awaitMetadata(v -> v.group(group) != null && v.group(group).getGeneration() >= generation,
        METADATA_WAIT_MS).thenApply(v -> {
          GroupRecord g = v.group(group);
          if (g == null) {
            return Check.refuse(ErrorCode.UNKNOWN_GROUP, "group '" + group + "' does not exist");
          }
          if (g.getGeneration() < generation) {
            return Check.refuse(ErrorCode.METADATA_BEHIND, "node " + ctx.config.nodeId() + " knows generation "
                + g.getGeneration() + " of group '" + group + "', the request has " + generation);
          }
          if (GroupCoordinator.member(g, memberId) == null) {
            return Check.refuse(ErrorCode.UNKNOWN_MEMBER, "group '" + group + "' has no member " + memberId
                + " (its session expired or it left)");
          }
          return Check.allow(generation);
        });
  }

  private record Check(ErrorCode error, String message, long generation) {
    static Check refuse(ErrorCode code, String message) {
      return new Check(code, message, -1);
    }

    static Check allow(long generation) {
      return new Check(ErrorCode.NONE, "", generation);
    }
  }

  // ---- commit ----

  private CompletableFuture<CommitOffsetsResponse> commit(CommitOffsetsRequest req) {
    if (req.getDelete() && !req.getMemberId().isEmpty()) {
      return CompletableFuture.completedFuture(CommitOffsetsResponse.newBuilder().setError(ErrorCode.INVALID_REQUEST)
          .setErrorMessage("only an administrative request (no member) deletes offsets").build());
    }
    return check(req.getGroup(), req.getMemberId(), req.getGeneration(), true).thenCompose(c -> {
      if (c.error != ErrorCode.NONE) {
        return CompletableFuture.completedFuture(CommitOffsetsResponse.newBuilder()
            .setError(c.error).setErrorMessage(c.message).build());
      }
      MetadataView view = ctx.metadata();
      List<CompletableFuture<PartitionCommitResult>> results = new ArrayList<>();
      for (OffsetCommit o : req.getOffsetsList()) {
        results.add(commitOne(view, req, c.generation, o));
      }
      return CompletableFuture.allOf(results.toArray(CompletableFuture[]::new)).thenApply(v -> {
        CommitOffsetsResponse.Builder b = CommitOffsetsResponse.newBuilder().setError(ErrorCode.NONE);
        results.forEach(f -> b.addResults(f.join()));
        return b.build();
      });
    });
  }

  private CompletableFuture<PartitionCommitResult> commitOne(MetadataView view, CommitOffsetsRequest req,
      long generation, OffsetCommit o) {
    PartitionCommitResult.Builder r = PartitionCommitResult.newBuilder().setTopic(o.getTopic())
        .setPartition(o.getPartition()).setError(ErrorCode.NONE);
    TopicRecord topic = view.topic(o.getTopic());
    if (topic == null) {
      return done(r.setError(ErrorCode.UNKNOWN_TOPIC).setErrorMessage("unknown topic '" + o.getTopic() + "'"));
    }
    if (o.getPartition() < 0 || o.getPartition() >= topic.getPartitions()) {
      return done(r.setError(ErrorCode.UNKNOWN_PARTITION).setErrorMessage("topic '" + o.getTopic()
          + "' has no partition " + o.getPartition()));
    }
    if (o.getMetadata().length() > MAX_COMMIT_METADATA) {
      return done(r.setError(ErrorCode.INVALID_REQUEST).setErrorMessage("commit metadata longer than "
          + MAX_COMMIT_METADATA + " characters"));
    }
    if (!req.getDelete() && o.getOffset() < 0) {
      return done(r.setError(ErrorCode.OFFSET_OUT_OF_RANGE).setErrorMessage("offset " + o.getOffset() + " is negative"));
    }
    PartitionCommand.Builder command = PartitionCommand.newBuilder()
        .setLeaderTimeMs(System.currentTimeMillis())
        .setPartition(o.getPartition());
    if (req.getDelete()) {
      command.setDeleteGroupOffset(DeleteGroupOffset.newBuilder().setGroup(req.getGroup()));
    } else {
      command.setCommitOffset(CommitOffset.newBuilder()
          .setGroup(req.getGroup())
          .setMemberId(req.getMemberId())
          .setGeneration(generation)
          .setOffset(o.getOffset())
          .setMetadata(o.getMetadata()));
    }
    return commands.propose(topic, o.getPartition(), command.build(), COMMIT_TIMEOUT_MS)
        .thenApply(reply -> {
          r.setGeneration(reply.getGeneration());
          switch (reply.getStatus()) {
            case DONE -> r.setError(ErrorCode.NONE);
            case GENERATION_FENCED -> r.setError(ErrorCode.GENERATION_FENCED).setErrorMessage(reply.getMessage());
            case OFFSET_OUT_OF_RANGE -> r.setError(ErrorCode.OFFSET_OUT_OF_RANGE).setErrorMessage(reply.getMessage());
            default -> r.setError(ErrorCode.INVALID_REQUEST).setErrorMessage(reply.getStatus() + ": " + reply.getMessage());
          }
          return r.build();
        })
        .exceptionally(e -> failure(r, e));
  }

  private static PartitionCommitResult failure(PartitionCommitResult.Builder r, Throwable e) {
    PartitionCommands.Failure f = PartitionCommands.unwrap(e);
    r.setError(f.code).setErrorMessage(f.getMessage());
    if (f.leader != null) {
      r.setLeader(f.leader);
    }
    return r.build();
  }

  // ---- fetch offsets / claim ----

  private CompletableFuture<FetchOffsetsResponse> fetchOffsets(FetchOffsetsRequest req) {
    CompletableFuture<Check> checked = req.getClaim()
        ? check(req.getGroup(), req.getMemberId(), req.getGeneration(), false)
        : CompletableFuture.completedFuture(GroupRules.validateGroupId(req.getGroup()) == null
            ? Check.allow(-1) : Check.refuse(ErrorCode.INVALID_GROUP_ID, GroupRules.validateGroupId(req.getGroup())));
    return checked.thenCompose(c -> {
      if (c.error != ErrorCode.NONE) {
        return CompletableFuture.completedFuture(FetchOffsetsResponse.newBuilder()
            .setError(c.error).setErrorMessage(c.message).build());
      }
      MetadataView view = ctx.metadata();
      List<CompletableFuture<PartitionCommittedOffset>> results = new ArrayList<>();
      for (TopicPartitions tps : req.getPartitionsList()) {
        for (int p : tps.getPartitionsList()) {
          results.add(fetchOne(view, req, tps.getTopic(), p));
        }
      }
      return CompletableFuture.allOf(results.toArray(CompletableFuture[]::new)).thenApply(v -> {
        FetchOffsetsResponse.Builder b = FetchOffsetsResponse.newBuilder().setError(ErrorCode.NONE);
        results.forEach(f -> b.addResults(f.join()));
        return b.build();
      });
    });
  }

  private CompletableFuture<PartitionCommittedOffset> fetchOne(MetadataView view, FetchOffsetsRequest req,
      String topicName, int partition) {
    PartitionCommittedOffset.Builder r = PartitionCommittedOffset.newBuilder().setTopic(topicName)
        .setPartition(partition).setError(ErrorCode.NONE).setOffset(-1);
    TopicRecord topic = view.topic(topicName);
    if (topic == null) {
      return done(r.setError(ErrorCode.UNKNOWN_TOPIC).setErrorMessage("unknown topic '" + topicName + "'"));
    }
    if (partition < 0 || partition >= topic.getPartitions()) {
      return done(r.setError(ErrorCode.UNKNOWN_PARTITION).setErrorMessage("no partition " + partition));
    }
    PartitionDirectory.LocalPartition lp = ctx.partitions.get(topicName, partition);
    if (!req.getClaim()) {
      // Only the leader answers, and only after a read barrier: a follower applies a commit after the
      // leader acknowledged it, and a leader deposed without knowing it yet (paused, cut off) misses
      // commits of its successor; either could answer with an offset older than a commit the asker has
      // already seen succeed. The barrier, a no-op command committed after the request arrived, proves
      // this node still led then and that every earlier commit is applied here.
      return commands.readBarrier(lp, topic, partition, COMMIT_TIMEOUT_MS)
          .thenApply(v -> describeOffset(r, lp, lp.stateMachine.groupOffset(req.getGroup())).build())
          .exceptionally(e -> failure(r, e));
    }
    PartitionCommand command = PartitionCommand.newBuilder()
        .setLeaderTimeMs(System.currentTimeMillis())
        .setPartition(partition)
        .setClaimPartition(ClaimPartition.newBuilder().setGroup(req.getGroup()).setMemberId(req.getMemberId())
            .setGeneration(req.getGeneration()))
        .build();
    // Through lp, whose state is read once the claim has applied there.
    return commands.propose(lp, topic, partition, command, COMMIT_TIMEOUT_MS).thenApply(reply -> {
      if (reply.getStatus() == io.raftmq.raft.proto.PartitionStatus.GENERATION_FENCED) {
        return r.setError(ErrorCode.GENERATION_FENCED).setErrorMessage(reply.getMessage())
            .setGeneration(reply.getGeneration()).build();
      }
      if (reply.getStatus() != io.raftmq.raft.proto.PartitionStatus.DONE) {
        return r.setError(ErrorCode.INVALID_REQUEST).setErrorMessage(reply.getStatus() + ": " + reply.getMessage()).build();
      }
      return describeOffset(r, lp, lp.stateMachine.groupOffset(req.getGroup())).build();
    }).exceptionally(e -> failure(r, e));
  }

  private static PartitionCommittedOffset failure(PartitionCommittedOffset.Builder r, Throwable e) {
    PartitionCommands.Failure f = PartitionCommands.unwrap(e);
    r.setError(f.code).setErrorMessage(f.getMessage());
    if (f.leader != null) {
      r.setLeader(f.leader);
    }
    return r.build();
  }

  private static PartitionCommittedOffset.Builder describeOffset(PartitionCommittedOffset.Builder r,
      PartitionDirectory.LocalPartition lp, GroupOffset g) {
    r.setHighWatermark(lp.stateMachine.highWatermark()).setLogStartOffset(lp.stateMachine.logStartOffset());
    if (g != null) {
      r.setOffset(g.getOffset()).setMetadata(g.getMetadata()).setGeneration(g.getGeneration())
          .setMemberId(g.getMemberId()).setCommitTimeMs(g.getCommitLogTimeMs());
    }
    return r;
  }

  // ---- list / describe / delete ----

  private ListGroupsResponse listGroups() {
    ListGroupsResponse.Builder b = ListGroupsResponse.newBuilder();
    for (GroupRecord g : ctx.metadata().groups().values()) {
      b.addGroups(GroupSummary.newBuilder().setName(g.getName()).setState(GroupCoordinator.state(g))
          .setGeneration(g.getGeneration()).setMembers(g.getMembersCount()).addAllTopics(g.getTopicsList()));
    }
    return b.build();
  }

  private DescribeGroupResponse describe(String group) {
    String invalid = GroupRules.validateGroupId(group);
    if (invalid != null) {
      return DescribeGroupResponse.newBuilder().setError(ErrorCode.INVALID_GROUP_ID).setErrorMessage(invalid).build();
    }
    GroupRecord g = ctx.metadata().group(group);
    if (g == null) {
      return DescribeGroupResponse.newBuilder().setError(ErrorCode.UNKNOWN_GROUP)
          .setErrorMessage("group '" + group + "' does not exist").build();
    }
    DescribeGroupResponse.Builder b = DescribeGroupResponse.newBuilder().setError(ErrorCode.NONE)
        .setName(g.getName()).setState(GroupCoordinator.state(g)).setGeneration(g.getGeneration())
        .setAssignor(g.getAssignor()).addAllTopics(g.getTopicsList());
    for (GroupMember m : g.getMembersList()) {
      MemberDescription.Builder md = MemberDescription.newBuilder().setMemberId(m.getMemberId())
          .setClientId(m.getClientId()).setClientHost(m.getClientHost()).addAllTopics(m.getTopicsList());
      for (GroupPartitions gp : m.getCurrentList()) {
        md.addAssignment(TopicPartitions.newBuilder().setTopic(gp.getTopic()).addAllPartitions(gp.getPartitionsList()));
      }
      for (GroupPartitions gp : m.getTargetList()) {
        md.addTarget(TopicPartitions.newBuilder().setTopic(gp.getTopic()).addAllPartitions(gp.getPartitionsList()));
      }
      b.addMembers(md);
    }
    return b.build();
  }

  private CompletableFuture<DeleteGroupResponse> deleteGroup(String group) {
    String invalid = GroupRules.validateGroupId(group);
    if (invalid != null) {
      return CompletableFuture.completedFuture(DeleteGroupResponse.newBuilder()
          .setError(ErrorCode.INVALID_GROUP_ID).setErrorMessage(invalid).build());
    }
    return ctx.host.proposeMetadata(MetadataCommand.newBuilder().setLeaderTimeMs(System.currentTimeMillis())
            .setDeleteGroup(DeleteGroup.newBuilder().setGroup(group)).build())
        .thenApply(r -> {
          DeleteGroupResponse.Builder b = DeleteGroupResponse.newBuilder().setErrorMessage(r.getMessage());
          switch (r.getStatus()) {
            case OK -> b.setError(ErrorCode.NONE);
            case GROUP_NOT_FOUND -> b.setError(ErrorCode.UNKNOWN_GROUP);
            case GROUP_NOT_EMPTY -> b.setError(ErrorCode.GROUP_NOT_EMPTY);
            default -> b.setError(ErrorCode.INVALID_REQUEST);
          }
          return b.build();
        })
        .exceptionally(e -> DeleteGroupResponse.newBuilder().setError(ErrorCode.LEADER_NOT_AVAILABLE)
            .setErrorMessage("metadata group unavailable: "
                + (e instanceof CompletionException && e.getCause() != null ? e.getCause() : e)).build());
  }

  private static CompletableFuture<PartitionCommitResult> done(PartitionCommitResult.Builder b) {
    return CompletableFuture.completedFuture(b.build());
  }

  private static CompletableFuture<PartitionCommittedOffset> done(PartitionCommittedOffset.Builder b) {
    return CompletableFuture.completedFuture(b.build());
  }
}
