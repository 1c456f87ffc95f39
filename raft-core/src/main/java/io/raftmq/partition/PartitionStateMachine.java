package io.raftmq.partition;

import com.google.protobuf.CodedInputStream;
import io.raftmq.logstore.LogStoreConfig;
import io.raftmq.logstore.PartitionLog;
import io.raftmq.logstore.SegmentFile;
import io.raftmq.raft.SnapshotFiles;
import io.raftmq.raft.proto.PartitionCommand;
import io.raftmq.raft.proto.PartitionReply;
import io.raftmq.raft.proto.PartitionSnapshot;
import io.raftmq.raft.proto.SegmentExtent;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.ratis.proto.RaftProtos.LogEntryProto;
import org.apache.ratis.proto.RaftProtos.RaftPeerRole;
import org.apache.ratis.proto.RaftProtos.RoleInfoProto;
import org.apache.ratis.protocol.Message;
import org.apache.ratis.protocol.RaftGroupId;
import org.apache.ratis.protocol.RaftGroupMemberId;
import org.apache.ratis.protocol.RaftPeerId;
import org.apache.ratis.server.RaftServer;
import org.apache.ratis.server.protocol.TermIndex;
import org.apache.ratis.server.storage.FileInfo;
import org.apache.ratis.server.storage.RaftStorage;
import org.apache.ratis.statemachine.SnapshotInfo;
import org.apache.ratis.statemachine.TransactionContext;
import org.apache.ratis.statemachine.impl.BaseStateMachine;
import org.apache.ratis.statemachine.impl.FileListSnapshotInfo;
import org.apache.ratis.statemachine.impl.SimpleStateMachineStorage;
import org.apache.ratis.statemachine.impl.SingleFileSnapshotInfo;
import org.apache.ratis.thirdparty.com.google.protobuf.UnsafeByteOperations;
import org.apache.ratis.util.LifeCycle;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The Ratis adapter of one partition: decodes {@link PartitionCommand}s, delegates to
 * {@link PartitionCore}, publishes the high watermark, and snapshots.
 *
 * <p>The partition's {@code log-store} lives in the state machine directory ({@code <group>/sm/log}),
 * so a snapshot lists its segment files next to the state file: a follower that is too far behind
 * receives the segments with the snapshot, and Ratis swaps the whole directory in. Replay after that,
 * or after a restart, is idempotent by raft index.
 */
public final class PartitionStateMachine extends BaseStateMachine {
  private static final Logger LOG = LoggerFactory.getLogger(PartitionStateMachine.class);
  static final String LOG_DIR = "log";

  private final SimpleStateMachineStorage storage = new SimpleStateMachineStorage();
  private final LogStoreConfig logConfig;
  private final LogFlusher flusher;
  private final Map<Long, Runnable> leaderAppendCallbacks = new ConcurrentHashMap<>();
  private volatile PartitionListener listener = new PartitionListener() {};
  private volatile PartitionLog log;
  private volatile PartitionCore core;
  /** What {@link #getLatestSnapshot()} last answered for the storage's latest snapshot. */
  private volatile SnapshotWithSegments latestSnapshotInfo;
  /** Bumped whenever a snapshot may have appeared; {@link #noSnapshotAtEpoch}: none was found at that epoch. */
  private final java.util.concurrent.atomic.AtomicLong snapshotEpoch = new java.util.concurrent.atomic.AtomicLong();
  private volatile long noSnapshotAtEpoch = -1;
  private Path smDir;

  public PartitionStateMachine(LogStoreConfig logConfig, LogFlusher flusher) {
    this.logConfig = logConfig;
    this.flusher = flusher;
  }

  @Override
  public void initialize(RaftServer server, RaftGroupId groupId, RaftStorage raftStorage) throws IOException {
    getLifeCycle().startAndTransition(() -> {
      super.initialize(server, groupId, raftStorage);
      storage.init(raftStorage);
      smDir = raftStorage.getStorageDir().getStateMachineDir().toPath();
      load();
    });
    flusher.register(this);
  }

  private void load() throws IOException {
    snapshotEpoch.incrementAndGet(); // a snapshot may have been installed
    PartitionLog opened = PartitionLog.open(smDir.resolve(LOG_DIR), logConfig);
    SingleFileSnapshotInfo snapshot = storage.loadLatestSnapshot();
    PartitionCore restored;
    if (snapshot == null) {
      restored = new PartitionCore(opened);
    } else {
      PartitionSnapshot state = SnapshotFiles.read(snapshot, PartitionSnapshot.parser());
      restored = PartitionCore.restore(opened, state);
      updateLastAppliedTermIndex(snapshot.getTermIndex());
    }
    log = opened;
    core = restored;
    LOG.info("{}: loaded partition: nextOffset={} logStart={} logStore.lastRaftIndex={} snapshot={}",
        getId(), restored.nextOffset(), restored.logStartOffset(), opened.lastRaftIndex(),
        snapshot == null ? "none" : snapshot.getTermIndex());
  }

  @Override
  public synchronized void pause() {
    getLifeCycle().transition(LifeCycle.State.PAUSING);
    try {
      PartitionLog current = log;
      if (current != null) {
        current.close();
      }
    } catch (IOException e) {
      LOG.warn("{}: closing the log-store before a snapshot install failed", getId(), e);
    }
    getLifeCycle().transition(LifeCycle.State.PAUSED);
  }

  @Override
  public synchronized void reinitialize() throws IOException {
    load();
    if (getLifeCycleState() == LifeCycle.State.PAUSED) {
      getLifeCycle().transition(LifeCycle.State.STARTING);
      getLifeCycle().transition(LifeCycle.State.RUNNING);
    }
    listener.onHighWatermark(core.nextOffset());
  }

  @Override
  public TransactionContext preAppendTransaction(TransactionContext trx) throws IOException {
    if (trx.getClientRequest() != null && !leaderAppendCallbacks.isEmpty()) {
      Runnable callback = leaderAppendCallbacks.remove(trx.getClientRequest().getCallId());
      if (callback != null) {
        callback.run();
      }
    }
    return trx;
  }

  @Override
  public TransactionContext cancelTransaction(TransactionContext trx) throws IOException {
    if (trx.getClientRequest() != null) {
      leaderAppendCallbacks.remove(trx.getClientRequest().getCallId());
    }
    return trx;
  }

  @Override
  public CompletableFuture<Message> applyTransaction(TransactionContext trx) {
    LogEntryProto entry = trx.getLogEntry();
    long index = entry.getIndex();
    PartitionCommand command;
    try {
      CodedInputStream in = CodedInputStream.newInstance(
          entry.getStateMachineLogEntry().getLogData().asReadOnlyByteBuffer());
      in.enableAliasing(true);
      command = PartitionCommand.parseFrom(in);
    } catch (IOException e) {
      // Only the broker writes entries; an undecodable one is a bug in every replica alike.
      updateLastAppliedTermIndex(entry.getTerm(), index);
      return CompletableFuture.failedFuture(e);
    }
    // Only a leader's own requests wait for a reply (every submission has a fresh call id, so Ratis' retry
    // cache never hands a follower's reply to anyone): elsewhere the reply is neither filled with the
    // leases nor serialized.
    boolean replying = trx.getServerRole() == RaftPeerRole.LEADER;
    PartitionReply reply;
    try {
      reply = core.apply(command, index, replying);
    } catch (IOException e) {
      // A storage failure: stop this replica rather than let it diverge (fail-stop).
      throw new IllegalStateException(getId() + ": log-store append failed at raft index " + index, e);
    }
    updateLastAppliedTermIndex(entry.getTerm(), index);
    listener.onHighWatermark(reply.getNextOffset());
    return CompletableFuture.completedFuture(
        replying ? Message.valueOf(UnsafeByteOperations.unsafeWrap(reply.toByteArray())) : Message.EMPTY);
  }

  @Override
  public long takeSnapshot() throws IOException {
    TermIndex last = getLastAppliedTermIndex();
    if (last == null || last.getIndex() < 0) {
      return -1;
    }
    log.flush();
    PartitionSnapshot state = core.snapshot(last.getIndex()).toBuilder()
        .addAllSegments(segmentExtents())
        .build();
    SnapshotFiles.write(storage, last, state);
    snapshotEpoch.incrementAndGet();
    storage.cleanupOldSnapshots(SnapshotFiles.KEEP_TWO);
    return last.getIndex();
  }

  private List<SegmentExtent> segmentExtents() {
    List<SegmentExtent> out = new ArrayList<>();
    for (SegmentFile f : log.segmentFiles()) {
      out.add(SegmentExtent.newBuilder()
          .setFileName(f.path().getFileName().toString())
          .setSizeBytes(f.sizeBytes())
          .build());
    }
    return out;
  }

  /**
   * The snapshot state file plus the log-store's segment files. A segment may have grown since the
   * snapshot; the extra batches are skipped on replay (idempotent by raft index) and a batch torn by a
   * concurrent append is cut by the receiver's recovery.
   *
   * <p>Ratis asks for this on every appendEntries and every log-appender turn, almost always for the
   * term and index only, and a file list costs a stat per segment. So the answer is kept until the
   * snapshot or the set of segment files changes; the sizes it lists are those of when it was made, at
   * least what the snapshot covers (the log is flushed before a snapshot is written, and a partition
   * log only grows between segment changes), and an install sends the rest as log entries.
   */
  @Override
  public SnapshotInfo getLatestSnapshot() {
    // Without a snapshot the storage lists the directory on every call: remember "none" until one may
    // have appeared (taken here, or installed and loaded).
    long epoch = snapshotEpoch.get();
    if (noSnapshotAtEpoch == epoch) {
      return null;
    }
    SingleFileSnapshotInfo snapshot = storage.getLatestSnapshot();
    if (snapshot == null) {
      noSnapshotAtEpoch = epoch;
      return null;
    }
    PartitionLog current = log;
    if (current == null) {
      return snapshot;
    }
    long version = current.segmentsVersion();
    SnapshotWithSegments cached = latestSnapshotInfo;
    if (cached == null || cached.state != snapshot || cached.log != current || cached.segmentsVersion != version) {
      List<FileInfo> files = new ArrayList<>();
      files.add(snapshot.getFile());
      for (SegmentFile f : current.segmentFiles()) {
        files.add(new FileInfo(f.path(), null));
      }
      cached = new SnapshotWithSegments(snapshot, current, version, files);
      latestSnapshotInfo = cached;
    }
    return cached.info;
  }

  /** The answer of {@link #getLatestSnapshot()} and what it was made from. */
  private record SnapshotWithSegments(SingleFileSnapshotInfo state, PartitionLog log, long segmentsVersion,
      FileListSnapshotInfo info) {
    SnapshotWithSegments(SingleFileSnapshotInfo state, PartitionLog log, long segmentsVersion, List<FileInfo> files) {
      this(state, log, segmentsVersion, new FileListSnapshotInfo(files, state.getTermIndex()));
    }
  }

  @Override
  public SimpleStateMachineStorage getStateMachineStorage() {
    return storage;
  }

  @Override
  public void notifyLeaderChanged(RaftGroupMemberId groupMemberId, RaftPeerId newLeaderId) {
    listener.onLeaderChanged();
  }

  @Override
  public void notifyNotLeader(java.util.Collection<TransactionContext> pendingEntries) {
    leaderAppendCallbacks.clear();
    listener.onLeaderChanged();
  }

  @Override
  public void notifyLeaderReady() {
    listener.onLeaderChanged();
  }

  @Override
  public CompletableFuture<TermIndex> notifyInstallSnapshotFromLeader(RoleInfoProto roleInfoProto,
      TermIndex firstTermIndexInLog) {
    // Only used when leader-driven install is off; this broker keeps it on.
    return CompletableFuture.failedFuture(new UnsupportedOperationException("snapshot install by notification"));
  }

  @Override
  public void close() throws IOException {
    flusher.unregister(this);
    PartitionLog current = log;
    if (current != null) {
      current.close();
    }
    super.close();
  }

  // ---- for the broker ----

  /** Sets who hears about new data and leadership changes. */
  public void setListener(PartitionListener listener) {
    this.listener = listener == null ? new PartitionListener() {} : listener;
  }

  /** Runs {@code callback} when this leader accepts the request with {@code callId} into its log. */
  public void onLeaderAppend(long callId, Runnable callback) {
    leaderAppendCallbacks.put(callId, callback);
  }

  public void cancelLeaderAppend(long callId) {
    leaderAppendCallbacks.remove(callId);
  }

  /** Offsets below this are committed and readable on this replica. */
  public long highWatermark() {
    PartitionCore c = core;
    return c == null ? 0 : c.nextOffset();
  }

  /**
   * Offsets from here up to the high watermark (read that first) hold only records with no key and no
   * TTL header, as far as this replica knows; Long.MAX_VALUE before the state is loaded.
   */
  public long plainFrom() {
    PartitionCore c = core;
    return c == null ? Long.MAX_VALUE : c.plainFrom();
  }

  public long logStartOffset() {
    PartitionCore c = core;
    return c == null ? 0 : c.logStartOffset();
  }

  /** A consumer group's committed offset and fence on this replica, or null. */
  public io.raftmq.raft.proto.GroupOffset groupOffset(String group) {
    PartitionCore c = core;
    return c == null ? null : c.groupOffset(group);
  }

  /** Every consumer group's committed offset on this replica. */
  public Map<String, io.raftmq.raft.proto.GroupOffset> groupOffsets() {
    PartitionCore c = core;
    return c == null ? Map.of() : c.groupOffsets();
  }

  /** The queue groups of this replica, by name (their stats and dead entries are readable here). */
  public Map<String, QueueGroup> queueGroups() {
    PartitionCore c = core;
    return c == null ? Map.of() : c.queueGroups();
  }

  /** The log-store of this replica (replaced after a snapshot install). */
  public PartitionLog log() {
    return log;
  }
}
