package io.raftmq.broker;

import io.netty.channel.ChannelHandlerContext;
import io.raftmq.logstore.FetchSlice;
import io.raftmq.metadata.MetadataCore.MetadataView;
import io.raftmq.metadata.TopicRules;
import io.raftmq.protocol.BatchFrames;
import io.raftmq.protocol.CreateTopicRequest;
import io.raftmq.protocol.CreateTopicResponse;
import io.raftmq.protocol.DeleteTopicResponse;
import io.raftmq.protocol.DescribeTopicResponse;
import io.raftmq.protocol.ErrorCode;
import io.raftmq.protocol.InitProducerResponse;
import io.raftmq.protocol.ListOffsetsResponse;
import io.raftmq.protocol.ListTopicsResponse;
import io.raftmq.protocol.MetadataResponse;
import io.raftmq.protocol.PartitionOffsetQuery;
import io.raftmq.protocol.PartitionOffsetResult;
import io.raftmq.protocol.RecordCodec;
import io.raftmq.protocol.Request;
import io.raftmq.protocol.Response;
import io.raftmq.protocol.TopicMetadata;
import io.raftmq.raft.RaftHost;
import io.raftmq.raft.RaftSettings;
import io.raftmq.raft.proto.AllocateProducerId;
import io.raftmq.raft.proto.CreateTopic;
import io.raftmq.raft.proto.DeleteTopic;
import io.raftmq.raft.proto.MetadataCommand;
import io.raftmq.raft.proto.MetadataReply;
import io.raftmq.raft.proto.MetadataStatus;
import io.raftmq.raft.proto.PartitionAssignment;
import io.raftmq.raft.proto.TopicRecord;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;

/**
 * Metadata, topic administration, producer ids and offset look-ups. Reads answer from this node's
 * applied metadata; changes are proposed to the metadata group (through its leader, wherever it is).
 */
final class AdminHandler {
  /** Topic configs the broker understands and enforces. */
  /** Queue groups dead-letter (reason EXPIRED) or drop messages older than this (ms since their timestamp). */
  static final String MESSAGE_TTL_MS = "message.ttl.ms";
  /** What a queue group does with an expired message: {@code dead-letter} (default) or {@code drop}. */
  static final String MESSAGE_TTL_ACTION = "message.ttl.action";
  static final Set<String> TOPIC_CONFIGS = Set.of("max.message.bytes", MESSAGE_TTL_MS, MESSAGE_TTL_ACTION);

  private final BrokerContext ctx;

  AdminHandler(BrokerContext ctx) {
    this.ctx = ctx;
  }

  void handle(ChannelHandlerContext channel, Request request, long startNanos) {
    Response.Builder response = Response.newBuilder().setCorrelationId(request.getCorrelationId());
    String api = request.getBodyCase().name().toLowerCase();
    switch (request.getBodyCase()) {
      case METADATA -> reply(channel, response.setMetadata(metadata(request)), api, startNanos);
      case LIST_TOPICS -> ctx.afterMetadataBarrier(response, () -> response.setListTopics(
              ListTopicsResponse.newBuilder().addAllNames(ctx.metadata().topics().keySet())))
          .thenAccept(r -> reply(channel, r, api, startNanos));
      case DESCRIBE_TOPIC -> ctx.afterMetadataBarrier(response, () -> {
        TopicRecord t = ctx.metadata().topic(request.getDescribeTopic().getName());
        DescribeTopicResponse.Builder d = DescribeTopicResponse.newBuilder();
        if (t == null) {
          d.setError(ErrorCode.UNKNOWN_TOPIC).setErrorMessage(
              "unknown topic '" + request.getDescribeTopic().getName() + "'");
        } else {
          d.setTopic(ctx.topicMetadata(t));
        }
        return response.setDescribeTopic(d);
      }).thenAccept(r -> reply(channel, r, api, startNanos));
      case LIST_OFFSETS -> reply(channel, response.setListOffsets(listOffsets(request)), api, startNanos);
      case CREATE_TOPIC -> createTopic(request.getCreateTopic()).whenComplete((r, e) -> reply(channel,
          response.setCreateTopic(e == null ? r : CreateTopicResponse.newBuilder()
              .setError(errorOf(e)).setErrorMessage(messageOf(e)).build()), api, startNanos));
      case DELETE_TOPIC -> deleteTopic(request.getDeleteTopic().getName()).whenComplete((r, e) -> reply(channel,
          response.setDeleteTopic(e == null ? r : DeleteTopicResponse.newBuilder()
              .setError(errorOf(e)).setErrorMessage(messageOf(e)).build()), api, startNanos));
      case INIT_PRODUCER -> initProducer().whenComplete((r, e) -> reply(channel,
          response.setInitProducer(e == null ? r : InitProducerResponse.newBuilder()
              .setError(errorOf(e)).setErrorMessage(messageOf(e)).build()), api, startNanos));
      default -> throw new IllegalArgumentException("not an admin request: " + request.getBodyCase());
    }
  }

  private void reply(ChannelHandlerContext channel, Response.Builder response, String api, long startNanos) {
    ctx.metrics.request(api, response.getError(), startNanos);
    ClientHandler.reply(channel, response.build(), null);
  }

  private MetadataResponse metadata(Request request) {
    MetadataView view = ctx.metadata();
    MetadataResponse.Builder b = MetadataResponse.newBuilder()
        .addAllNodes(ctx.nodes())
        .setAnsweringNode(ctx.config.nodeId())
        .setMetadataLeader(ctx.metadataLeader());
    List<String> names = request.getMetadata().getTopicsCount() == 0
        ? new ArrayList<>(view.topics().keySet()) : request.getMetadata().getTopicsList();
    for (String name : names) {
      TopicRecord t = view.topic(name);
      b.addTopics(t == null
          ? TopicMetadata.newBuilder().setName(name).setError(ErrorCode.UNKNOWN_TOPIC).build()
          : ctx.topicMetadata(t));
    }
    return b.build();
  }

  private CompletableFuture<CreateTopicResponse> createTopic(CreateTopicRequest req) {
    String bad = TopicRules.validateName(req.getName());
    if (bad != null) {
      return CompletableFuture.completedFuture(createError(ErrorCode.INVALID_TOPIC_NAME, bad));
    }
    bad = TopicRules.validatePartitions(req.getPartitions());
    if (bad != null) {
      return CompletableFuture.completedFuture(createError(ErrorCode.INVALID_PARTITIONS, bad));
    }
    List<RaftSettings.Peer> peers = new ArrayList<>(ctx.config.peers());
    peers.sort(Comparator.comparingInt(RaftSettings.Peer::nodeId));
    int rf = req.getReplicationFactor() == 0 ? Math.min(3, peers.size()) : req.getReplicationFactor();
    if (rf < 1 || rf > peers.size()) {
      return CompletableFuture.completedFuture(createError(ErrorCode.INVALID_REPLICATION_FACTOR,
          "replication factor " + rf + " must be 1.." + peers.size() + " (the number of nodes)"));
    }
    for (Map.Entry<String, String> c : req.getConfigsMap().entrySet()) {
      String invalid = validateConfig(c.getKey(), c.getValue());
      if (invalid != null) {
        return CompletableFuture.completedFuture(createError(ErrorCode.INVALID_CONFIG, invalid));
      }
    }
    if (ctx.metadata().topic(req.getName()) != null) {
      return CompletableFuture.completedFuture(createError(ErrorCode.TOPIC_ALREADY_EXISTS,
          "topic '" + req.getName() + "' already exists"));
    }
    CreateTopic.Builder command = CreateTopic.newBuilder()
        .setName(req.getName())
        .setPartitions(req.getPartitions())
        .setReplicationFactor(rf)
        .putAllConfigs(req.getConfigsMap());
    // Spread preferred leaders: partition p's first replica is node (start + p) mod n.
    int start = Math.floorMod(req.getName().hashCode(), peers.size());
    for (int p = 0; p < req.getPartitions(); p++) {
      PartitionAssignment.Builder a = PartitionAssignment.newBuilder();
      for (int i = 0; i < rf; i++) {
        a.addReplicas(peers.get((start + p + i) % peers.size()).nodeId());
      }
      command.addAssignments(a);
    }
    return propose(MetadataCommand.newBuilder().setCreateTopic(command)).thenApply(r -> {
      if (r.getStatus() == MetadataStatus.OK) {
        TopicRecord t = ctx.metadata().topic(req.getName());
        CreateTopicResponse.Builder ok = CreateTopicResponse.newBuilder().setError(ErrorCode.NONE);
        if (t != null) {
          ok.setTopic(ctx.topicMetadata(t));
        }
        return ok.build();
      }
      return createError(r.getStatus() == MetadataStatus.TOPIC_EXISTS
          ? ErrorCode.TOPIC_ALREADY_EXISTS : ErrorCode.INVALID_REQUEST, r.getMessage());
    });
  }

  static String validateConfig(String key, String value) {
    if (!TOPIC_CONFIGS.contains(key)) {
      return "unknown topic config '" + key + "'; supported: " + new java.util.TreeSet<>(TOPIC_CONFIGS);
    }
    if (key.equals(MESSAGE_TTL_ACTION)) {
      return value.equals("dead-letter") || value.equals("drop") ? null
          : MESSAGE_TTL_ACTION + " must be 'dead-letter' or 'drop', not '" + value + "'";
    }
    if (key.equals(MESSAGE_TTL_MS)) {
      try {
        return Long.parseLong(value) >= 1 ? null : MESSAGE_TTL_MS + " must be at least 1 ms";
      } catch (NumberFormatException e) {
        return MESSAGE_TTL_MS + " must be a number of ms, not '" + value + "'";
      }
    }
    try {
      long v = Long.parseLong(value);
      if (v < 1 || v > 16L * 1024 * 1024) {
        return key + " must be 1..16777216";
      }
    } catch (NumberFormatException e) {
      return key + " must be a number of bytes, not '" + value + "'";
    }
    return null;
  }

  private static CreateTopicResponse createError(ErrorCode code, String message) {
    return CreateTopicResponse.newBuilder().setError(code).setErrorMessage(message).build();
  }

  private CompletableFuture<DeleteTopicResponse> deleteTopic(String name) {
    return propose(MetadataCommand.newBuilder().setDeleteTopic(DeleteTopic.newBuilder().setName(name)))
        .thenApply(r -> r.getStatus() == MetadataStatus.OK
            ? DeleteTopicResponse.newBuilder().setError(ErrorCode.NONE).build()
            : DeleteTopicResponse.newBuilder().setError(ErrorCode.UNKNOWN_TOPIC).setErrorMessage(r.getMessage()).build());
  }

  private CompletableFuture<InitProducerResponse> initProducer() {
    return propose(MetadataCommand.newBuilder().setAllocateProducerId(AllocateProducerId.getDefaultInstance()))
        .thenApply(r -> InitProducerResponse.newBuilder()
            .setError(ErrorCode.NONE)
            .setProducerId(r.getProducerId())
            .setProducerEpoch(0)
            .build());
  }

  private CompletableFuture<MetadataReply> propose(MetadataCommand.Builder command) {
    return ctx.host.proposeMetadata(command.setLeaderTimeMs(System.currentTimeMillis()).build());
  }

  private ListOffsetsResponse listOffsets(Request request) {
    ListOffsetsResponse.Builder b = ListOffsetsResponse.newBuilder();
    for (PartitionOffsetQuery q : request.getListOffsets().getQueriesList()) {
      PartitionOffsetResult.Builder r = PartitionOffsetResult.newBuilder()
          .setTopic(q.getTopic()).setPartition(q.getPartition()).setError(ErrorCode.NONE).setOffset(-1);
      TopicRecord t = ctx.metadata().topic(q.getTopic());
      PartitionDirectory.LocalPartition lp = t == null ? null : ctx.partitions.get(q.getTopic(), q.getPartition());
      if (t == null) {
        r.setError(ErrorCode.UNKNOWN_TOPIC).setErrorMessage("unknown topic '" + q.getTopic() + "'");
      } else if (q.getPartition() < 0 || q.getPartition() >= t.getPartitions()) {
        r.setError(ErrorCode.UNKNOWN_PARTITION).setErrorMessage("no partition " + q.getPartition());
      } else if (lp == null) {
        r.setError(ErrorCode.NOT_LEADER).setLeader(ctx.leaderHintFor(t, q.getPartition()));
      } else if (q.getTimestamp() == -2) {
        r.setOffset(lp.stateMachine.logStartOffset());
      } else if (q.getTimestamp() == -1) {
        r.setOffset(lp.stateMachine.highWatermark());
      } else if (q.getTimestamp() < 0) {
        r.setError(ErrorCode.INVALID_REQUEST).setErrorMessage("timestamp " + q.getTimestamp() + " is negative");
      } else {
        try {
          r.setOffset(offsetForTimestamp(lp, q.getTimestamp()));
        } catch (Exception e) {
          r.setError(ErrorCode.LEADER_NOT_AVAILABLE).setErrorMessage(e.toString());
        }
      }
      b.addResults(r);
    }
    return b.build();
  }

  /** The first offset whose record timestamp is at or after {@code timestampMs}, else the high watermark. */
  static long offsetForTimestamp(PartitionDirectory.LocalPartition lp, long timestampMs) throws Exception {
    long hw = lp.stateMachine.highWatermark();
    long batchOffset = lp.stateMachine.log().offsetForTimestamp(timestampMs);
    if (batchOffset < 0 || batchOffset >= hw) {
      return hw;
    }
    FetchSlice slice = lp.stateMachine.log().read(batchOffset, 1);
    ByteBuffer bytes = slice.readFully();
    long[] found = {-1};
    BatchFrames.forEach(bytes, frame -> {
      if (found[0] >= 0) {
        return;
      }
      ByteBuffer payload = frame.payload();
      for (int i = 0; i < frame.recordCount(); i++) {
        if (RecordCodec.timestampAt(payload, i) >= timestampMs) {
          found[0] = frame.baseOffset() + i;
          return;
        }
      }
    });
    return Math.max(lp.stateMachine.logStartOffset(), found[0] >= 0 ? found[0] : batchOffset);
  }

  private static ErrorCode errorOf(Throwable e) {
    Throwable c = e instanceof CompletionException && e.getCause() != null ? e.getCause() : e;
    String name = c.getClass().getSimpleName();
    if (name.contains("Timeout") || name.contains("TimedOut")) {
      return ErrorCode.REQUEST_TIMED_OUT;
    }
    return ErrorCode.LEADER_NOT_AVAILABLE;
  }

  private static String messageOf(Throwable e) {
    Throwable c = e instanceof CompletionException && e.getCause() != null ? e.getCause() : e;
    return "metadata group unavailable: " + c;
  }
}
