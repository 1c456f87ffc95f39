package io.raftmq.partition;

import io.raftmq.logstore.PartitionLog;
import io.raftmq.raft.proto.AppendBatch;
import io.raftmq.raft.proto.PartitionCommand;
import io.raftmq.raft.proto.PartitionReply;
import io.raftmq.raft.proto.PartitionSnapshot;
import io.raftmq.raft.proto.PartitionStatus;
import java.io.IOException;

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
  private long logTimeMs;
  private long logStartOffset;
  private long lastExpiryCheckMs;

  /** A fresh partition over {@code log}; replay of the Raft log rebuilds the state. */
  public PartitionCore(PartitionLog log) {
    this.log = log;
    this.nextOffset = log.isEmpty() ? 0 : log.logStartOffset();
    this.logStartOffset = this.nextOffset;
  }

  /** A partition restored from {@code snapshot} over a log that holds at least what it covers. */
  public static PartitionCore restore(PartitionLog log, PartitionSnapshot snapshot) {
    PartitionCore core = new PartitionCore(log);
    if (!log.isEmpty() && log.nextOffset() < snapshot.getNextOffset()) {
      throw new IllegalStateException("log-store ends at offset " + log.nextOffset()
          + " but the snapshot covers up to " + snapshot.getNextOffset());
    }
    core.nextOffset = snapshot.getNextOffset();
    core.logTimeMs = snapshot.getLogTimeMs();
    core.logStartOffset = snapshot.getLogStartOffset();
    core.lastExpiryCheckMs = snapshot.getLogTimeMs();
    core.producers.load(snapshot.getProducersList());
    return core;
  }

  /**
   * Applies one committed command at {@code raftIndex}. A batch whose raft index the log already holds
   * (replay after a restart) updates the state without being stored twice.
   */
  public PartitionReply apply(PartitionCommand command, long raftIndex) throws IOException {
    logTimeMs = Math.max(logTimeMs, command.getLeaderTimeMs());
    expireProducersIfDue();
    switch (command.getCommandCase()) {
      case APPEND_BATCH:
        return append(command.getAppendBatch(), raftIndex);
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
    nextOffset = baseOffset + count;
    return reply(PartitionStatus.APPENDED, "", baseOffset);
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
        .build();
  }

  /** Offset after the last applied record: the high watermark readers may see up to. Any thread. */
  public long nextOffset() {
    return nextOffset;
  }

  public long logTimeMs() {
    return logTimeMs;
  }

  public long logStartOffset() {
    return Math.max(logStartOffset, log.logStartOffset());
  }

  int producerCount() {
    return producers.size();
  }
}
