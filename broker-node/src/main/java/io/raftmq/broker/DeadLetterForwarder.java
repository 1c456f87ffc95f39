package io.raftmq.broker;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.raftmq.client.DeadLetters;
import io.raftmq.client.internal.HostPort;
import io.raftmq.client.internal.NetworkClient;
import io.raftmq.client.internal.Reply;
import io.raftmq.logstore.FetchSlice;
import io.raftmq.partition.QueueGroup;
import io.raftmq.protocol.Acks;
import io.raftmq.protocol.ApiKey;
import io.raftmq.protocol.BatchFrames;
import io.raftmq.protocol.CreateTopicRequest;
import io.raftmq.protocol.ErrorCode;
import io.raftmq.protocol.PartitionBatch;
import io.raftmq.protocol.PartitionProduceResult;
import io.raftmq.protocol.ProduceRequest;
import io.raftmq.protocol.RecordCodec;
import io.raftmq.protocol.Request;
import io.raftmq.raft.proto.NodeRecord;
import io.raftmq.raft.proto.QueueCommand;
import io.raftmq.raft.proto.QueueEntry;
import io.raftmq.raft.proto.QueueSettle;
import io.raftmq.raft.proto.TopicRecord;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.apache.ratis.protocol.RaftGroupId;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The leader's dead-letter forwarder. A message's death is one committed command in its source
 * partition ({@link QueueGroup}); this copies it to the DLQ topic and then commits
 * {@code DeadLetterForwarded}. A crash between the two neither loses nor duplicates the copy:
 *
 * <ul>
 *   <li>Each dead letter is written through the idempotent produce path as a one-record batch of a
 *       producer id derived from (source topic id, partition, group), with epoch = the dead letter's
 *       sequence in its group-partition (replicated, so a new leader computes the same) and sequence 0.
 *   <li>One group-partition writes one dead letter at a time, in sequence order. A retry of the same
 *       letter is a DUPLICATE; a letter a previous leader wrote before a later one is refused as
 *       PRODUCER_FENCED (an older epoch): both mean "already in the DLQ", and only then is it marked.
 * </ul>
 *
 * <p>The DLQ topic ({@code <topic>.dlq.<group>} unless configured) is created on demand with the source's
 * partition count and replication; source partition p writes to DLQ partition p mod its count.
 */
final class DeadLetterForwarder implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(DeadLetterForwarder.class);
  private static final long TICK_MS = 100;
  private static final Duration REQUEST_TIMEOUT = Duration.ofSeconds(10);

  private record SlotKey(RaftGroupId groupId, String group) {}

  private final BrokerContext ctx;
  private final QueueHandler queues;
  private final ExecutorService callbacks = Executors.newSingleThreadExecutor(r -> {
    Thread t = new Thread(r, "dlq-forwarder");
    t.setDaemon(true);
    return t;
  });
  private final NetworkClient network;
  private final Map<SlotKey, Boolean> busy = new ConcurrentHashMap<>();
  /** DLQ topics asked for, and when (ms), so that creation is not re-requested every tick. */
  private final Map<String, Long> creating = new ConcurrentHashMap<>();
  /** Where a DLQ partition's leader was last said to be (after NOT_LEADER). */
  private final Map<String, HostPort> leaderHints = new ConcurrentHashMap<>();

  DeadLetterForwarder(BrokerContext ctx, QueueHandler queues) {
    this.ctx = ctx;
    this.queues = queues;
    this.network = new NetworkClient("dlq-forwarder-" + ctx.config.nodeId(), ctx.config.maxFrameBytes(),
        Duration.ofSeconds(5), callbacks);
    ctx.timer.scheduleWithFixedDelay(this::tick, TICK_MS, TICK_MS, TimeUnit.MILLISECONDS);
  }

  private void tick() {
    try {
      for (PartitionDirectory.LocalPartition lp : ctx.partitions.all().values()) {
        if (lp.stateMachine.queueGroups().isEmpty() || !lp.isLeader() || !lp.isLeaderReady()
            || !ctx.partitions.isCurrent(lp)) {
          continue;
        }
        TopicRecord source = ctx.metadata().topic(lp.topic);
        if (source == null) {
          continue;
        }
        for (QueueGroup g : lp.stateMachine.queueGroups().values()) {
          QueueGroup.Stats s = g.stats();
          if (s.unforwarded().isEmpty()) {
            continue;
          }
          SlotKey key = new SlotKey(lp.groupId, s.group());
          if (busy.putIfAbsent(key, Boolean.TRUE) != null) {
            continue;
          }
          CompletableFuture<Void> f;
          try {
            f = forward(lp, source, s, s.unforwarded().get(0));
          } catch (RuntimeException e) {
            f = CompletableFuture.failedFuture(e);
          }
          f.whenComplete((v, e) -> {
            busy.remove(key);
            if (e != null) {
              LOG.debug("dead letter of {}-{} group {} not forwarded yet: {}", lp.topic, lp.partition, s.group(),
                  e.toString());
            }
          });
        }
      }
    } catch (RuntimeException e) {
      LOG.warn("dead-letter forwarder tick failed", e);
    }
  }

  /** Deterministic producer id of a group-partition's forwarder (in a range the metadata never allocates). */
  static long producerId(long topicId, int partition, String group) {
    long h = RecordCodec.keyHash((topicId + "/" + partition + "/" + group).getBytes(StandardCharsets.UTF_8));
    return (1L << 62) | (h & ((1L << 62) - 1));
  }

  private CompletableFuture<Void> forward(PartitionDirectory.LocalPartition lp, TopicRecord source,
      QueueGroup.Stats s, QueueEntry dead) {
    String dlqName = s.config().getDeadLetterTopic();
    TopicRecord dlq = ctx.metadata().topic(dlqName);
    if (dlq == null) {
      return ensureTopic(dlqName, source);
    }
    int dlqPartition = lp.partition % dlq.getPartitions();
    byte[] records;
    long timestamp;
    try {
      SourceRecord rec = readRecord(lp, dead.getOffset());
      timestamp = rec == null ? dead.getDeadAtMs() : rec.timestamp();
      records = encode(source, lp.partition, s.group(), dead, rec);
    } catch (IOException | RuntimeException e) {
      return CompletableFuture.failedFuture(e);
    }
    PartitionBatch batch = PartitionBatch.newBuilder().setTopic(dlqName).setPartition(dlqPartition)
        .setProducerId(producerId(source.getTopicId(), lp.partition, s.group()))
        .setProducerEpoch((int) (dead.getDeadLetterSequence() & 0x7fffffff))
        .setBaseSequence(0).setRecordCount(1).setRecordsSize(records.length).setMaxTimestamp(timestamp).build();
    HostPort to = leaderOf(dlq, dlqPartition);
    if (to == null) {
      return CompletableFuture.failedFuture(new IllegalStateException("no known leader for " + dlqName));
    }
    Request.Builder req = Request.newBuilder().setApiKey(ApiKey.PRODUCE).setApiVersion(1)
        .setProduce(ProduceRequest.newBuilder().setAcks(Acks.ACKS_QUORUM).setTimeoutMs(10_000).addBatches(batch));
    ByteBuf body = Unpooled.wrappedBuffer(records);
    String hintKey = dlqName + "-" + dlqPartition;
    return network.send(to, req, body, REQUEST_TIMEOUT).thenCompose(reply -> {
      PartitionProduceResult r;
      try (Reply x = reply) {
        if (x.header().getError() != ErrorCode.NONE) {
          throw new IllegalStateException(x.header().getError() + ": " + x.header().getErrorMessage());
        }
        r = x.header().getProduce().getResults(0);
      }
      switch (r.getError()) {
        case NONE, DUPLICATE_SEQUENCE, PRODUCER_FENCED -> {
          leaderHints.remove(hintKey);
          return markForwarded(lp, source, s.group(), dead.getOffset());
        }
        case NOT_LEADER -> {
          if (r.hasLeader() && r.getLeader().getNodeId() >= 0) {
            leaderHints.put(hintKey, new HostPort(r.getLeader().getHost(), r.getLeader().getPort()));
          } else {
            leaderHints.remove(hintKey);
          }
          throw new IllegalStateException("DLQ partition moved");
        }
        default -> throw new IllegalStateException(r.getError() + ": " + r.getErrorMessage());
      }
    });
  }

  private CompletableFuture<Void> markForwarded(PartitionDirectory.LocalPartition lp, TopicRecord source, String group,
      long offset) {
    return queues.propose(lp, source, QueueCommand.newBuilder().setGroup(group)
        .setDeadLetterForwarded(QueueSettle.newBuilder().addOffsets(offset))).thenApply(r -> null);
  }

  private HostPort leaderOf(TopicRecord dlq, int partition) {
    HostPort hinted = leaderHints.get(dlq.getName() + "-" + partition);
    if (hinted != null) {
      return hinted;
    }
    PartitionDirectory.LocalPartition local = ctx.partitions.get(dlq.getName(), partition);
    int node = local != null && local.leaderNodeId() >= 0 ? local.leaderNodeId() : -1;
    if (node < 0) {
      List<Integer> replicas = ctx.metadata().replicas(dlq, partition);
      node = replicas.isEmpty() ? -1 : replicas.get(0);
    }
    NodeRecord n = node < 0 ? null : ctx.metadata().nodes().get(node);
    return n == null ? null : new HostPort(n.getHost(), n.getClientPort());
  }

  private CompletableFuture<Void> ensureTopic(String name, TopicRecord source) {
    long now = System.currentTimeMillis();
    Long asked = creating.get(name);
    if (asked != null && now - asked < 5_000) {
      return CompletableFuture.completedFuture(null);
    }
    creating.put(name, now);
    int leader = ctx.metadataLeader();
    NodeRecord n = leader < 0 ? null : ctx.metadata().nodes().get(leader);
    if (n == null) {
      return CompletableFuture.completedFuture(null);
    }
    LOG.info("creating dead-letter topic {} ({} partitions, replication {})", name, source.getPartitions(),
        source.getReplicationFactor());
    Request.Builder req = Request.newBuilder().setApiKey(ApiKey.CREATE_TOPIC).setApiVersion(1)
        .setCreateTopic(CreateTopicRequest.newBuilder().setName(name).setPartitions(source.getPartitions())
            .setReplicationFactor(source.getReplicationFactor()));
    return network.send(new HostPort(n.getHost(), n.getClientPort()), req, null, REQUEST_TIMEOUT)
        .thenAccept(reply -> {
          try (Reply x = reply) {
            ErrorCode e = x.header().getCreateTopic().getError();
            if (e != ErrorCode.NONE && e != ErrorCode.TOPIC_ALREADY_EXISTS) {
              LOG.warn("creating dead-letter topic {} failed: {} {}", name, e,
                  x.header().getCreateTopic().getErrorMessage());
            }
          }
        });
  }

  /** A dead letter's original record. */
  private record SourceRecord(long timestamp, byte[] key, byte[] value, Map<String, byte[]> headers) {}

  /** The source record at {@code offset}, or null if it is gone. */
  private static SourceRecord readRecord(PartitionDirectory.LocalPartition lp, long offset) throws IOException {
    if (offset < lp.stateMachine.logStartOffset()) {
      return null;
    }
    FetchSlice slice = lp.stateMachine.log().read(offset, 1);
    if (slice.isEmpty()) {
      return null;
    }
    SourceRecord[] found = new SourceRecord[1];
    BatchFrames.forEach(slice.readFully(), frame -> {
      if (offset >= frame.baseOffset() && offset < frame.nextOffset()) {
        int wanted = (int) (offset - frame.baseOffset());
        RecordCodec.decode(frame.payload(), frame.recordCount(), (index, timestamp, key, value, headers) -> {
          if (index == wanted) {
            found[0] = new SourceRecord(timestamp, key, value, headers);
          }
        });
      }
    });
    return found[0];
  }

  private static byte[] encode(TopicRecord source, int partition, String group, QueueEntry dead, SourceRecord rec) {
    long timestamp = rec == null ? dead.getDeadAtMs() : rec.timestamp();
    byte[] key = rec == null ? null : rec.key();
    byte[] value = rec == null ? null : rec.value();
    Map<String, byte[]> headers = new LinkedHashMap<>();
    if (rec != null) {
      headers.putAll(rec.headers());
    }
    put(headers, DeadLetters.ID, group + "/" + source.getName() + "/" + partition + "/" + dead.getOffset() + "/"
        + dead.getDeadLetterSequence());
    put(headers, DeadLetters.ORIGINAL_TOPIC, source.getName());
    put(headers, DeadLetters.ORIGINAL_PARTITION, String.valueOf(partition));
    put(headers, DeadLetters.ORIGINAL_OFFSET, String.valueOf(dead.getOffset()));
    if (key != null) {
      headers.put(DeadLetters.ORIGINAL_KEY, key);
    }
    put(headers, DeadLetters.GROUP, group);
    put(headers, DeadLetters.REASON, dead.getReason());
    if (!dead.getErrorClass().isEmpty()) {
      put(headers, DeadLetters.ERROR_CLASS, dead.getErrorClass());
    }
    if (!dead.getErrorMessage().isEmpty()) {
      put(headers, DeadLetters.ERROR_MESSAGE, dead.getErrorMessage());
    }
    put(headers, DeadLetters.ATTEMPTS, String.valueOf(dead.getDeliveryCount()));
    put(headers, DeadLetters.FIRST_FAILURE_MS, String.valueOf(dead.getFirstFailureMs()));
    put(headers, DeadLetters.LAST_FAILURE_MS, String.valueOf(dead.getLastFailureMs()));
    put(headers, DeadLetters.DEAD_AT_MS, String.valueOf(dead.getDeadAtMs()));
    if (rec == null) {
      put(headers, "raftmq.dlq.note", "the original record was removed by retention before it was copied");
    }
    ByteBuffer out = ByteBuffer.allocate(RecordCodec.encodedSize(timestamp, key, value, headers));
    RecordCodec.write(out, timestamp, key, value, headers);
    return out.array();
  }

  private static void put(Map<String, byte[]> headers, String name, String value) {
    headers.put(name, value.getBytes(StandardCharsets.UTF_8));
  }

  @Override
  public void close() {
    network.close();
    callbacks.shutdownNow();
  }
}
