package io.raftmq.partition;

import io.raftmq.logstore.PartitionLog;
import io.raftmq.raft.proto.AppendBatch;
import io.raftmq.raft.proto.ClaimPartition;
import io.raftmq.raft.proto.CommitOffset;
import io.raftmq.raft.proto.GroupOffset;
import io.raftmq.raft.proto.QueueCommand;
import io.raftmq.raft.proto.QueueGroupSnapshot;
import io.raftmq.raft.proto.PartitionCommand;
import io.raftmq.raft.proto.PartitionReply;
import io.raftmq.raft.proto.PartitionSnapshot;
import io.raftmq.raft.proto.PartitionStatus;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The logic of one partition: {@code apply(command, raftIndex) -> reply}, deterministic, with no Ratis,
 * network or clock inside. Offsets are dense and assigned here, at apply; the committed batch goes to
 * the partition's {@link PartitionLog}.
 *
 * <p>Client mistakes come back as statuses in the reply and change nothing. A storage failure throws:
 * the replica must stop rather than diverge.
 *
 * <p>Not thread-safe: the apply thread owns it. {@link #nextOffset()} is published through a volatile
 * field for readers.
 */
public final class PartitionCore {
  /** Producers with no append for this long (log time) are forgotten, like Kafka's producer id expiry. */
  public static final long PRODUCER_EXPIRY_MS = 24L * 60 * 60 * 1000;
  private static final long EXPIRY_CHECK_INTERVAL_MS = 60L * 60 * 1000;

  private final PartitionLog log;
  private final ProducerTable producers = new ProducerTable();
  private volatile long nextOffset;
  /**
   * Offsets from here up to {@link #nextOffset} hold only records appended as plain (no key, no TTL
   * header; {@link AppendBatch#getPlain}). Starts at the end of what was loaded (unknown below), and
   * is written before {@link #nextOffset}, so a reader that reads nextOffset first sees it current.
   */
  private volatile long plainFrom;
  private long logTimeMs;
  private long logStartOffset;
  private long lastExpiryCheckMs;
  /** Consumer groups' committed offsets here; values are immutable, replaced on change (readers: any thread). */
  private final Map<String, GroupOffset> groups = new ConcurrentHashMap<>();
  /** Queue groups' state here, by group name (changed by the apply thread; their stats readable by any). */
  private final Map<String, QueueGroup> queues = new java.util.concurrent.ConcurrentSkipListMap<>();

  /** A fresh partition over {@code log}; replay of the Raft log rebuilds the state. */
  public PartitionCore(PartitionLog log) {
    this.log = log;
    this.nextOffset = log.isEmpty() ? 0 : log.logStartOffset();
    this.logStartOffset = this.nextOffset;
    this.plainFrom = this.nextOffset;
  }

  /** A partition restored from {@code snapshot} over a log that holds at least what it covers. */
  public static PartitionCore restore(PartitionLog log, PartitionSnapshot snapshot) {
    PartitionCore core = new PartitionCore(log);
    if (!log.isEmpty() && log.nextOffset() < snapshot.getNextOffset()) {
      throw new IllegalStateException("log-store ends at offset " + log.nextOffset()
          + " but the snapshot covers up to " + snapshot.getNextOffset());
    }
    core.nextOffset = snapshot.getNextOffset();
    core.plainFrom = core.nextOffset;
    core.logTimeMs = snapshot.getLogTimeMs();
    core.logStartOffset = snapshot.getLogStartOffset();
    core.lastExpiryCheckMs = snapshot.getLogTimeMs();
    core.producers.load(snapshot.getProducersList());
    for (GroupOffset g : snapshot.getGroupOffsetsList()) {
      core.groups.put(g.getGroup(), g);
    }
    for (QueueGroupSnapshot q : snapshot.getQueueGroupsList()) {
      core.queues.put(q.getGroup(), QueueGroup.restore(q));
    }
    return core;
  }

  /**
   * Applies one committed command at {@code raftIndex}. A batch whose raft index the log already holds
   * (replay after a restart) updates the state without being stored twice.
   */
  public PartitionReply apply(PartitionCommand command, long raftIndex) throws IOException {
    return apply(command, raftIndex, true);
  }

  /**
   * As {@link #apply(PartitionCommand, long)}; with {@code leases} false an acquire's reply leaves out the
   * leased offsets and their delivery counts (the state changes alike). A follower's reply reaches no
   * one, and those lists are the only part of a reply that grows with the messages.
   */
  public PartitionReply apply(PartitionCommand command, long raftIndex, boolean leases) throws IOException {
    logTimeMs = Math.max(logTimeMs, command.getLeaderTimeMs());
    expireProducersIfDue();
    switch (command.getCommandCase()) {
      case APPEND_BATCH:
        return append(command.getAppendBatch(), raftIndex);
      case COMMIT_OFFSET:
        return commitOffset(command.getCommitOffset());
      case CLAIM_PARTITION:
        return claim(command.getClaimPartition());
      case QUEUE:
        return queue(command.getQueue(), leases);
      case QUEUE_BATCH: {
        PartitionReply.Builder out = reply(PartitionStatus.DONE, "", -1).toBuilder();
        for (QueueCommand c : command.getQueueBatch().getCommandsList()) {
          out.addBatchReplies(queue(c, leases));
        }
        return out.build();
      }
      case DELETE_GROUP_OFFSET: {
        GroupOffset removed = groups.remove(command.getDeleteGroupOffset().getGroup());
        return groupReply(PartitionStatus.DONE, removed == null ? "no offsets" : "", null);
      }
      case READ_BARRIER:
        return reply(PartitionStatus.DONE, "", -1);
      case COMMAND_NOT_SET:
      default:
        return reply(PartitionStatus.INVALID_COMMAND, "unknown command " + command.getCommandCase(), -1);
    }
  }

  private PartitionReply append(AppendBatch batch, long raftIndex) throws IOException {
    int count = batch.getRecordCount();
    if (count <= 0 || batch.getRecords().isEmpty()) {
      return reply(PartitionStatus.INVALID_COMMAND, "empty batch", -1);
    }
    long producerId = batch.getProducerId();
    boolean idempotent = producerId >= 0;
    if (idempotent) {
      ProducerTable.Verdict verdict =
          producers.check(producerId, batch.getProducerEpoch(), batch.getBaseSequence(), count);
      switch (verdict) {
        case APPEND:
          break;
        case DUPLICATE:
          return reply(PartitionStatus.DUPLICATE, "", producers.duplicateOffset());
        case DUPLICATE_UNKNOWN_OFFSET:
          return reply(PartitionStatus.DUPLICATE_UNKNOWN_OFFSET,
              "sequence " + batch.getBaseSequence() + " was written before", -1);
        case OUT_OF_ORDER:
          return reply(PartitionStatus.OUT_OF_ORDER_SEQUENCE,
              "sequence " + batch.getBaseSequence() + " skips ahead", -1);
        case FENCED:
          return reply(PartitionStatus.PRODUCER_FENCED,
              "epoch " + batch.getProducerEpoch() + " is older than the partition's", -1);
        default:
          throw new IllegalStateException("unhandled verdict " + verdict);
      }
    }
    long baseOffset = nextOffset;
    if (raftIndex > log.lastRaftIndex()) {
      log.append(baseOffset, count, raftIndex, logTimeMs, batch.getMaxTimestamp(), 0,
          batch.getRecords().asReadOnlyByteBuffer());
    }
    if (idempotent) {
      producers.record(producerId, batch.getProducerEpoch(), batch.getBaseSequence(), count, baseOffset, logTimeMs);
    }
    if (!batch.getPlain()) {
      plainFrom = baseOffset + count;
    }
    nextOffset = baseOffset + count;
    return reply(PartitionStatus.APPENDED, "", baseOffset);
  }

  /**
   * Stores a group's committed offset. Refused (and nothing changes) when the generation is older than
   * the group's fence here, or the offset lies outside [0, high watermark].
   */
  private PartitionReply commitOffset(CommitOffset c) {
    if (c.getGroup().isEmpty()) {
      return groupReply(PartitionStatus.INVALID_COMMAND, "no group", null);
    }
    GroupOffset current = groups.get(c.getGroup());
    if (current != null && c.getGeneration() < current.getGeneration()) {
      return groupReply(PartitionStatus.GENERATION_FENCED, "generation " + c.getGeneration()
          + " of group '" + c.getGroup() + "' is older than " + current.getGeneration()
          + ", the generation that last claimed or committed here", current);
    }
    if (c.getOffset() < 0 || c.getOffset() > nextOffset) {
      return groupReply(PartitionStatus.OFFSET_OUT_OF_RANGE, "offset " + c.getOffset()
          + " is outside [0, " + nextOffset + "] (the high watermark)", current);
    }
    GroupOffset next = GroupOffset.newBuilder()
        .setGroup(c.getGroup())
        .setOffset(c.getOffset())
        .setGeneration(Math.max(c.getGeneration(), current == null ? 0 : current.getGeneration()))
        .setMemberId(c.getMemberId())
        .setMetadata(c.getMetadata())
        .setCommitLogTimeMs(logTimeMs)
        .build();
    groups.put(c.getGroup(), next);
    return groupReply(PartitionStatus.DONE, "", next);
  }

  /** Raises the group's fence to the claimer's generation and returns the offset it resumes from. */
  private PartitionReply claim(ClaimPartition c) {
    if (c.getGroup().isEmpty()) {
      return groupReply(PartitionStatus.INVALID_COMMAND, "no group", null);
    }
    GroupOffset current = groups.get(c.getGroup());
    if (current != null && c.getGeneration() < current.getGeneration()) {
      return groupReply(PartitionStatus.GENERATION_FENCED, "generation " + c.getGeneration()
          + " of group '" + c.getGroup() + "' is older than " + current.getGeneration(), current);
    }
    GroupOffset next = (current == null
        ? GroupOffset.newBuilder().setGroup(c.getGroup()).setOffset(-1)
        : current.toBuilder())
        .setGeneration(c.getGeneration())
        .setMemberId(c.getMemberId())
        .build();
    groups.put(c.getGroup(), next);
    return groupReply(PartitionStatus.DONE, "", next);
  }

  private PartitionReply groupReply(PartitionStatus status, String message, GroupOffset g) {
    return PartitionReply.newBuilder()
        .setStatus(status)
        .setMessage(message)
        .setBaseOffset(-1)
        .setLogTimeMs(logTimeMs)
        .setNextOffset(nextOffset)
        .setCommittedOffset(g == null ? -1 : g.getOffset())
        .setGeneration(g == null ? 0 : g.getGeneration())
        .build();
  }

  private PartitionReply queue(QueueCommand c, boolean leases) {
    QueueGroup q = queues.get(c.getGroup());
    if (c.getOpCase() == QueueCommand.OpCase.CONFIGURE) {
      if (c.getGroup().isEmpty() || c.getConfigure().getMaxInFlight() <= 0) {
        return groupReply(PartitionStatus.INVALID_COMMAND, "a queue group needs a name and max_in_flight > 0", null);
      }
      if (q == null) {
        // A new queue group starts at the end of the log: it receives what is produced from now on.
        queues.put(c.getGroup(), new QueueGroup(c.getGroup(), c.getConfigure(), nextOffset));
      } else {
        q.configure(c.getConfigure());
      }
      return groupReply(PartitionStatus.DONE, "", null);
    }
    if (q == null) {
      return groupReply(PartitionStatus.INVALID_COMMAND, "unknown queue group '" + c.getGroup() + "'", null);
    }
    PartitionReply.Builder out = groupReply(PartitionStatus.DONE, "", null).toBuilder();
    switch (c.getOpCase()) {
      case ACQUIRE -> q.acquire(c.getAcquire(), logTimeMs, nextOffset, out, leases);
      case ACK -> q.ack(c.getAck(), logTimeMs, out);
      case NACK -> q.nack(c.getNack(), logTimeMs, out);
      case REJECT -> q.reject(c.getReject(), logTimeMs, out);
      case EXTEND -> q.extend(c.getExtend(), logTimeMs, out);
      case EXPIRE -> q.expire(c.getExpire(), logTimeMs, out);
      case DEAD_LETTER_FORWARDED -> q.forwarded(c.getDeadLetterForwarded(), out);
      case REDRIVE -> q.redrive(c.getRedrive(), logTimeMs, out);
      case SETTLE -> q.settle(c.getSettle(), logTimeMs, out);
      case SKIP_KEY -> q.skipKey(c.getSkipKey().getKeyHash());
      default -> {
        return groupReply(PartitionStatus.INVALID_COMMAND, "unknown queue operation " + c.getOpCase(), null);
      }
    }
    // `generation` carries the group's version after the command (the receive path's change detector).
    return out.setGeneration(q.stats().version()).build();
  }

  /**
   * A queue group's state here, or null. Its commands run on the apply thread only; other threads may
   * read its {@link QueueGroup#stats()} and {@link QueueGroup#deadView()}.
   */
  public QueueGroup queueGroup(String group) {
    return queues.get(group);
  }

  /** Every queue group here, by name (any thread; a moment's view). */
  public Map<String, QueueGroup> queueGroups() {
    return java.util.Collections.unmodifiableMap(queues);
  }

  /** A group's committed offset and fence here, or null. Any thread. */
  public GroupOffset groupOffset(String group) {
    return groups.get(group);
  }

  /** Every group's committed offset here, by group name. Any thread (a moment's view). */
  public Map<String, GroupOffset> groupOffsets() {
    return Map.copyOf(groups);
  }

  private void expireProducersIfDue() {
    if (logTimeMs - lastExpiryCheckMs >= EXPIRY_CHECK_INTERVAL_MS) {
      lastExpiryCheckMs = logTimeMs;
      producers.expireIdleBefore(logTimeMs - PRODUCER_EXPIRY_MS);
    }
  }

  private PartitionReply reply(PartitionStatus status, String message, long baseOffset) {
    return PartitionReply.newBuilder()
        .setStatus(status)
        .setMessage(message)
        .setBaseOffset(baseOffset)
        .setLogTimeMs(logTimeMs)
        .setNextOffset(nextOffset)
        .build();
  }

  /** The state to save at {@code appliedIndex}; the caller flushes the log first. */
  public PartitionSnapshot snapshot(long appliedIndex) {
    return PartitionSnapshot.newBuilder()
        .setLogTimeMs(logTimeMs)
        .setNextOffset(nextOffset)
        .setLogStartOffset(logStartOffset)
        .addAllProducers(producers.toProto())
        .setAppliedIndex(appliedIndex)
        .addAllGroupOffsets(new TreeMap<>(groups).values())
        .addAllQueueGroups(queueSnapshots())
        .build();
  }

  private List<QueueGroupSnapshot> queueSnapshots() {
    List<QueueGroupSnapshot> out = new ArrayList<>();
    queues.forEach((name, q) -> out.add(q.snapshot(name)));
    return out;
  }

  /** Offset after the last applied record: the high watermark readers may see up to. Any thread. */
  public long nextOffset() {
    return nextOffset;
  }

  public long logTimeMs() {
    return logTimeMs;
  }

  /**
   * The lowest offset from which every record up to the high watermark is known to be plain: no key
   * and no TTL header. Read {@link #nextOffset()} first; any thread.
   */
  public long plainFrom() {
    return plainFrom;
  }

  public long logStartOffset() {
    return Math.max(logStartOffset, log.logStartOffset());
  }

  int producerCount() {
    return producers.size();
  }
}
