package io.raftmq.metadata;

import io.raftmq.raft.SnapshotFiles;
import io.raftmq.raft.proto.MetadataCommand;
import io.raftmq.raft.proto.MetadataReply;
import io.raftmq.raft.proto.MetadataSnapshot;
import java.io.IOException;
import java.util.concurrent.CompletableFuture;
import java.util.function.Consumer;
import org.apache.ratis.proto.RaftProtos.LogEntryProto;
import org.apache.ratis.protocol.Message;
import org.apache.ratis.protocol.RaftGroupId;
import org.apache.ratis.protocol.RaftGroupMemberId;
import org.apache.ratis.protocol.RaftPeerId;
import org.apache.ratis.server.RaftServer;
import org.apache.ratis.server.protocol.TermIndex;
import org.apache.ratis.server.storage.RaftStorage;
import org.apache.ratis.statemachine.TransactionContext;
import org.apache.ratis.statemachine.impl.BaseStateMachine;
import org.apache.ratis.statemachine.impl.SimpleStateMachineStorage;
import org.apache.ratis.statemachine.impl.SingleFileSnapshotInfo;
import org.apache.ratis.thirdparty.com.google.protobuf.UnsafeByteOperations;
import org.apache.ratis.util.LifeCycle;

/** The Ratis adapter of the metadata group: decodes, delegates to {@link MetadataCore}, snapshots. */
public final class MetadataStateMachine extends BaseStateMachine {
  private final SimpleStateMachineStorage storage = new SimpleStateMachineStorage();
  private final MetadataCore core = new MetadataCore();
  private volatile Consumer<MetadataCore.MetadataView> listener = v -> {};
  private volatile Runnable leaderListener = () -> {};

  @Override
  public void initialize(RaftServer server, RaftGroupId groupId, RaftStorage raftStorage) throws IOException {
    getLifeCycle().startAndTransition(() -> {
      super.initialize(server, groupId, raftStorage);
      storage.init(raftStorage);
      load();
    });
  }

  private void load() throws IOException {
    SingleFileSnapshotInfo snapshot = storage.loadLatestSnapshot();
    if (snapshot != null) {
      core.load(SnapshotFiles.read(snapshot, MetadataSnapshot.parser()));
      updateLastAppliedTermIndex(snapshot.getTermIndex());
    }
  }

  @Override
  public synchronized void pause() {
    getLifeCycle().transition(LifeCycle.State.PAUSING);
    getLifeCycle().transition(LifeCycle.State.PAUSED);
  }

  @Override
  public synchronized void reinitialize() throws IOException {
    load();
    if (getLifeCycleState() == LifeCycle.State.PAUSED) {
      getLifeCycle().transition(LifeCycle.State.STARTING);
      getLifeCycle().transition(LifeCycle.State.RUNNING);
    }
    listener.accept(core.view());
  }

  @Override
  public CompletableFuture<Message> applyTransaction(TransactionContext trx) {
    LogEntryProto entry = trx.getLogEntry();
    MetadataReply reply;
    try {
      reply = core.apply(MetadataCommand.parseFrom(entry.getStateMachineLogEntry().getLogData().toByteArray()));
    } catch (IOException e) {
      updateLastAppliedTermIndex(entry.getTerm(), entry.getIndex());
      return CompletableFuture.failedFuture(e);
    }
    updateLastAppliedTermIndex(entry.getTerm(), entry.getIndex());
    listener.accept(core.view());
    return CompletableFuture.completedFuture(Message.valueOf(UnsafeByteOperations.unsafeWrap(reply.toByteArray())));
  }

  @Override
  public long takeSnapshot() throws IOException {
    TermIndex last = getLastAppliedTermIndex();
    if (last == null || last.getIndex() < 0) {
      return -1;
    }
    SnapshotFiles.write(storage, last, core.snapshot(last.getIndex()));
    storage.cleanupOldSnapshots(SnapshotFiles.KEEP_TWO);
    return last.getIndex();
  }

  @Override
  public SimpleStateMachineStorage getStateMachineStorage() {
    return storage;
  }

  @Override
  public void notifyLeaderChanged(RaftGroupMemberId groupMemberId, RaftPeerId newLeaderId) {
    leaderListener.run();
  }

  /** The current metadata, as applied on this node (may trail the leader briefly). */
  public MetadataCore.MetadataView view() {
    return core.view();
  }

  /** The index of the last metadata log entry this replica applied (-1 before any). */
  public long appliedIndex() {
    TermIndex last = getLastAppliedTermIndex();
    return last == null ? -1 : last.getIndex();
  }

  /** Called on the apply thread after every change; must not block. */
  public void setListener(Consumer<MetadataCore.MetadataView> listener) {
    this.listener = listener;
  }

  public void setLeaderListener(Runnable leaderListener) {
    this.leaderListener = leaderListener;
  }
}
