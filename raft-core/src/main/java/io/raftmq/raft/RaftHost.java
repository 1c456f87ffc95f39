package io.raftmq.raft;

import io.raftmq.metadata.MetadataStateMachine;
import io.raftmq.partition.LogFlusher;
import io.raftmq.partition.PartitionStateMachine;
import io.raftmq.raft.proto.MetadataCommand;
import io.raftmq.raft.proto.MetadataReply;
import java.io.Closeable;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;
import org.apache.ratis.RaftConfigKeys;
import org.apache.ratis.client.RaftClient;
import org.apache.ratis.conf.RaftProperties;
import org.apache.ratis.grpc.GrpcConfigKeys;
import org.apache.ratis.protocol.ClientId;
import org.apache.ratis.protocol.GroupManagementRequest;
import org.apache.ratis.protocol.Message;
import org.apache.ratis.protocol.RaftClientReply;
import org.apache.ratis.protocol.RaftClientRequest;
import org.apache.ratis.protocol.RaftGroup;
import org.apache.ratis.protocol.RaftGroupId;
import org.apache.ratis.protocol.RaftPeer;
import org.apache.ratis.protocol.RaftPeerId;
import org.apache.ratis.protocol.exceptions.AlreadyClosedException;
import org.apache.ratis.protocol.exceptions.AlreadyExistsException;
import org.apache.ratis.protocol.exceptions.RaftRetryFailureException;
import org.apache.ratis.retry.RetryPolicies;
import org.apache.ratis.rpc.SupportedRpcType;
import org.apache.ratis.server.RaftServer;
import org.apache.ratis.server.RaftServerConfigKeys;
import org.apache.ratis.protocol.RaftClientAsynchronousProtocol;
import org.apache.ratis.server.storage.RaftStorage;
import org.apache.ratis.statemachine.StateMachine;
import org.apache.ratis.thirdparty.com.google.protobuf.UnsafeByteOperations;
import org.apache.ratis.util.FileUtils;
import org.apache.ratis.util.LifeCycle;
import org.apache.ratis.util.SizeInBytes;
import org.apache.ratis.util.TimeDuration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The multi-raft host of one node: one Ratis {@link RaftServer} holding the metadata group (every
 * node) and one division per local partition replica. The broker submits commands in-process; only
 * metadata commands go through a Ratis client, which finds the metadata leader by itself.
 *
 * <p>Thread-safe.
 */
public final class RaftHost implements Closeable {
  private static final Logger LOG = LoggerFactory.getLogger(RaftHost.class);
  /** The metadata group's fixed id. */
  public static final RaftGroupId METADATA_GROUP_ID =
      RaftGroupId.valueOf(UUID.nameUUIDFromBytes("raftmq:metadata".getBytes(StandardCharsets.UTF_8)));

  /** A metadata proposal is retried for about ten seconds (50 x 200 ms) before it fails. */
  static final int METADATA_RETRIES = 50;
  static final long METADATA_RETRY_SLEEP_MS = 200;
  /** Sleep between a leader's attempts to reach a follower, by error count: see {@link #properties}. */
  static final String APPENDER_RETRY_POLICY = "1ms,10, 1s,100000000";

  private final RaftSettings settings;
  private final RaftPeerId selfId;
  private final RaftGroup metadataGroup;
  private final ClientId clientId = ClientId.randomId();
  private final AtomicLong callIds = new AtomicLong();
  private final MetadataStateMachine metadata = new MetadataStateMachine();
  private final LogFlusher flusher = new LogFlusher(1000);
  /** Group additions, removals and restarts happen one at a time. */
  private final Object groupChanges = new Object();
  /** Closed divisions removed for a restart and not added back yet (the add failed): group to add. */
  private final Map<RaftGroupId, RaftGroup> pendingRestarts = new ConcurrentHashMap<>();
  private final List<Consumer<RaftGroupId>> restartListeners = new CopyOnWriteArrayList<>();
  private final AtomicLong divisionRestarts = new AtomicLong();
  private volatile boolean closing;
  /** Set once by {@link #start}; timers of the broker may ask for divisions before that. */
  private volatile RaftServer server;
  /**
   * Proposes metadata commands. Replaced when it gives up: a Ratis client whose request ran out of
   * retries (the metadata group without a quorum for longer than the retry window) closes its ordered
   * sliding window and fails every later request, so without a new client this node could never
   * register, create a topic or coordinate a group again until restarted.
   */
  private final AtomicReference<RaftClient> metadataClient = new AtomicReference<>();
  private final AtomicLong metadataClientReplacements = new AtomicLong();
  private DivisionRestarter restarter;

  public RaftHost(RaftSettings settings) {
    this.settings = settings;
    this.selfId = peerId(settings.nodeId());
    List<RaftPeer> peers = new ArrayList<>();
    for (RaftSettings.Peer p : settings.peers()) {
      peers.add(RaftPeer.newBuilder().setId(peerId(p.nodeId())).setAddress(p.address()).build());
    }
    this.metadataGroup = RaftGroup.valueOf(METADATA_GROUP_ID, peers);
  }

  public static RaftPeerId peerId(int nodeId) {
    return RaftPeerId.valueOf("n" + nodeId);
  }

  public static int nodeId(RaftPeerId peerId) {
    return Integer.parseInt(peerId.toString().substring(1));
  }

  /** The Raft group of one partition of one incarnation of a topic. */
  public static RaftGroupId partitionGroupId(String topic, long topicId, int partition) {
    String name = "raftmq:partition:" + topic + ":" + topicId + ":" + partition;
    return RaftGroupId.valueOf(UUID.nameUUIDFromBytes(name.getBytes(StandardCharsets.UTF_8)));
  }

  /** Starts the server: recovers every group found on disk and joins (or forms) the metadata group. */
  public void start() throws IOException {
    logChecksumImplementation();
    RaftProperties props = properties();
    server = RaftServer.newBuilder()
        .setServerId(selfId)
        .setGroup(metadataGroup)
        .setOption(RaftStorage.StartupOption.RECOVER)
        .setProperties(props)
        .setStateMachineRegistry(this::newStateMachine)
        .build();
    server.start();
    metadataClient.set(newMetadataClient());
    restarter = new DivisionRestarter(this, Duration.ofSeconds(1));
  }

  private RaftClient newMetadataClient() {
    RaftProperties clientProps = new RaftProperties();
    RaftConfigKeys.Rpc.setType(clientProps, SupportedRpcType.GRPC);
    return RaftClient.newBuilder()
        .setRaftGroup(metadataGroup)
        .setProperties(clientProps)
        .setClientId(ClientId.randomId())
        .setRetryPolicy(RetryPolicies.retryUpToMaximumCountWithFixedSleep(
            METADATA_RETRIES, TimeDuration.valueOf(METADATA_RETRY_SLEEP_MS, TimeUnit.MILLISECONDS)))
        .build();
  }

  private static void logChecksumImplementation() {
    boolean intrinsic;
    try {
      intrinsic = org.apache.ratis.util.PureJavaCrc32C.class.getField("INTRINSIC").getBoolean(null);
    } catch (ReflectiveOperationException e) {
      intrinsic = false;
    }
    if (intrinsic) {
      LOG.info("Raft log checksums: the JDK's intrinsic CRC32C");
    } else {
      LOG.warn("Raft log checksums: Ratis' table-driven CRC32C (raft-core is not ahead of ratis-common on the"
          + " class path); expect much more CPU per produced byte");
    }
  }

  private StateMachine newStateMachine(RaftGroupId groupId) {
    if (groupId.equals(METADATA_GROUP_ID)) {
      return metadata;
    }
    return new PartitionStateMachine(settings.logStore(), flusher);
  }

  private RaftProperties properties() {
    RaftProperties p = new RaftProperties();
    RaftSettings.Peer self = settings.self();
    RaftConfigKeys.Rpc.setType(p, SupportedRpcType.GRPC);
    GrpcConfigKeys.Server.setHost(p, self.host());
    GrpcConfigKeys.Server.setPort(p, self.raftPort());
    RaftServerConfigKeys.setStorageDir(p, List.of(settings.dataDir().resolve("raft").toFile()));
    RaftServerConfigKeys.setRemovedGroupsDir(p, settings.dataDir().resolve("raft-removed").toFile());
    RaftServerConfigKeys.Rpc.setTimeoutMin(p, duration(settings.electionTimeoutMin().toMillis()));
    RaftServerConfigKeys.Rpc.setTimeoutMax(p, duration(settings.electionTimeoutMax().toMillis()));
    // A division's first election (a partition just created, or a node just started) waits a quarter to a
    // half of the election timeout, not a whole one or more: a new topic had no leader for 1-4 s (most of
    // the time a topic creation took). Pre-vote (on by default) keeps a restarted follower that times out
    // before it hears its leader from deposing it: the others, hearing that leader, refuse the pre-vote.
    long min = settings.electionTimeoutMin().toMillis();
    RaftServerConfigKeys.Rpc.setFirstElectionTimeoutMin(p, duration(Math.max(50, min / 4)));
    RaftServerConfigKeys.Rpc.setFirstElectionTimeoutMax(p, duration(Math.max(100, min / 2)));
    // Each partition's ack is its quorum fsync: fsync on a thread of its own, never before it happened.
    RaftServerConfigKeys.Log.setAsyncFlushEnabled(p, true);
    // A follower appends each AppendEntries to its log directly, not through Ratis' composed append
    // chain (append-entries.compose, on by default in 3.3.0). That chain runs each append after the
    // previous one, outside the division lock: an append checked before a leader-driven snapshot
    // install can run after it, with entries at or below the snapshot index, and fail; a failed link
    // then fails every later append of that follower forever ("Difference between entry index and
    // RaftLog's latest snapshot index ..."), so its replica stays behind until a restart. Without the
    // chain such a stale append fails alone and the leader simply resends from the follower's next index.
    RaftServerConfigKeys.Log.setAppendEntriesComposeEnabled(p, false);
    // A leader's appender sleeps between attempts by its follower's error count, and Ratis counts an
    // INCONSISTENCY reply as an error too: by default (1ms,10, 1s,20, 5s,1000) a follower back after
    // ~15 s down is probed every 5 s, and one whose log holds a tail the new leader never had (it led
    // and was killed with uncommitted entries) walks that tail back one index per probe: 8 entries took
    // 40 s in a chaos run. 1 s once past the first ten errors, never 5 s: a tail walks back five times
    // faster. Not shorter: the sleep is the appender's only brake while its follower is down (it spins
    // between errors until the follower counts as slow, 60 s), and each failed call costs milliseconds;
    // at 100 ms a leader of 8 partitions burned more than a core for a minute after a node died.
    RaftServerConfigKeys.Log.Appender.setRetryPolicy(p, APPENDER_RETRY_POLICY);
    // No commit-index records in the log. Ratis (log.metadata.enabled, on by default) appends a metadata
    // entry whenever a leader's commit index moves, so that a restarted replica can apply its log up to
    // the last commit it knew without waiting for a leader. In a partition driven by many small commands
    // (queue acquires and acks) those records were half of all Raft entries, each one appended, fsynced
    // and replicated like a message batch: a third of the queue's node CPU. Without them a restarted
    // replica applies only up to its snapshot until a leader tells it the commit index, which the
    // broker already tolerates: partition reads go to the leader, which serves only after its own
    // term's first commit, and a node serves no client until its metadata replica has applied its own
    // registration, committed after it started (BrokerNode).
    RaftServerConfigKeys.Log.setLogMetadataEnabled(p, false);
    RaftServerConfigKeys.Log.setSegmentSizeMax(p, SizeInBytes.valueOf(settings.raftSegmentSizeBytes()));
    RaftServerConfigKeys.Log.setPreallocatedSize(p, SizeInBytes.valueOf(1024 * 1024));
    RaftServerConfigKeys.Log.setSegmentCacheNumMax(p, 2);
    RaftServerConfigKeys.Log.Appender.setBufferByteLimit(p, SizeInBytes.valueOf(4 * 1024 * 1024));
    RaftServerConfigKeys.Log.setWriteBufferSize(p, SizeInBytes.valueOf(4 * 1024 * 1024 + 64 * 1024));
    // The Raft log is short: snapshot, then purge up to the snapshot, keeping a window for catch-up.
    RaftServerConfigKeys.Log.setPurgeUptoSnapshotIndex(p, true);
    RaftServerConfigKeys.Log.setPurgePreservationLogNum(p, settings.purgePreservationEntries());
    RaftServerConfigKeys.Log.setPurgeGap(p, (int) Math.max(1, Math.min(1024, settings.purgePreservationEntries())));
    RaftServerConfigKeys.Snapshot.setAutoTriggerEnabled(p, true);
    RaftServerConfigKeys.Snapshot.setAutoTriggerThreshold(p, settings.snapshotThresholdEntries());
    RaftServerConfigKeys.Snapshot.setRetentionFileNum(p, 2);
    RaftServerConfigKeys.Log.Appender.setInstallSnapshotEnabled(p, true);
    GrpcConfigKeys.setMessageSizeMax(p, SizeInBytes.valueOf(32 * 1024 * 1024));
    RaftServerConfigKeys.Log.Appender.setSnapshotChunkSizeMax(p, SizeInBytes.valueOf(8 * 1024 * 1024));
    return p;
  }

  private static TimeDuration duration(long ms) {
    return TimeDuration.valueOf(ms, TimeUnit.MILLISECONDS);
  }

  // ---- metadata ----

  public MetadataStateMachine metadata() {
    return metadata;
  }

  /** A committed metadata command's reply and the Raft log index it was committed at. */
  public record MetadataCommitted(MetadataReply reply, long logIndex) {}

  /** Proposes a metadata command through the metadata leader, wherever it is. */
  public CompletableFuture<MetadataReply> proposeMetadata(MetadataCommand command) {
    return proposeMetadataAt(command).thenApply(MetadataCommitted::reply);
  }

  /**
   * Proposes a metadata command through the metadata leader and completes with its reply and its log
   * index: once this node's metadata replica has applied that index, it has seen the command.
   */
  public CompletableFuture<MetadataCommitted> proposeMetadataAt(MetadataCommand command) {
    RaftClient client = metadataClient.get();
    return client.async()
        .send(Message.valueOf(UnsafeByteOperations.unsafeWrap(command.toByteArray())))
        .whenComplete((reply, e) -> {
          if (e != null && clientGaveUp(e)) {
            replaceMetadataClient(client, e);
          }
        })
        .thenApply(reply -> {
          if (!reply.isSuccess()) {
            throw new IllegalStateException("metadata command failed: " + reply.getException());
          }
          try {
            return new MetadataCommitted(MetadataReply.parseFrom(reply.getMessage().getContent().toByteArray()),
                reply.getLogIndex());
          } catch (IOException e) {
            throw new IllegalStateException("undecodable metadata reply", e);
          }
        });
  }

  /** A failure after which the Ratis client fails every later request: retries exhausted, or closed. */
  static boolean clientGaveUp(Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof RaftRetryFailureException || t instanceof AlreadyClosedException) {
        return true;
      }
    }
    return false;
  }

  private void replaceMetadataClient(RaftClient failed, Throwable cause) {
    if (closing || metadataClient.get() != failed) {
      return;
    }
    RaftClient fresh = newMetadataClient();
    if (!metadataClient.compareAndSet(failed, fresh)) {
      closeQuietly(fresh);
      return;
    }
    metadataClientReplacements.incrementAndGet();
    LOG.warn("node {}: the metadata client gave up ({}); later proposals go through a new client",
        settings.nodeId(), cause.toString());
    // Not on this thread: it may be one of the failed client's own.
    CompletableFuture.runAsync(() -> closeQuietly(failed));
    if (closing) {
      closeQuietly(fresh);
    }
  }

  private static void closeQuietly(RaftClient client) {
    try {
      client.close();
    } catch (IOException | RuntimeException e) {
      LOG.debug("closing a metadata client", e);
    }
  }

  /** How many times the metadata client gave up and was replaced (for tests and diagnosis). */
  public long metadataClientReplacements() {
    return metadataClientReplacements.get();
  }

  // ---- partitions ----

  /** Creates the local division of a partition group if this node does not have it yet. */
  public void ensureGroup(RaftGroupId groupId, List<Integer> replicas) throws IOException {
    synchronized (groupChanges) {
      if (pendingRestarts.containsKey(groupId)) {
        throw new IOException("the division of group " + groupId + " is being restarted");
      }
      if (hasGroup(groupId)) {
        return;
      }
      List<RaftPeer> peers = new ArrayList<>();
      for (int i = 0; i < replicas.size(); i++) {
        int id = replicas.get(i);
        RaftSettings.Peer p = settings.peers().stream().filter(x -> x.nodeId() == id).findFirst()
            .orElseThrow(() -> new IOException("replica " + id + " is not a known node"));
        // The first replica is the preferred leader; Ratis hands leadership back to it when it can.
        peers.add(RaftPeer.newBuilder().setId(peerId(id)).setAddress(p.address())
            .setPriority(replicas.size() - i).build());
      }
      RaftGroup group = RaftGroup.valueOf(groupId, peers);
      // Format only a group that has no storage here: formatting clears the directory.
      boolean format = !Files.exists(storageDir(groupId));
      try {
        server.groupManagement(GroupManagementRequest.newAdd(clientId, selfId, callIds.incrementAndGet(), group,
            format));
        LOG.info("node {}: added group {} with replicas {}{}", settings.nodeId(), groupId, replicas,
            format ? "" : " from its existing storage");
      } catch (AlreadyExistsException e) {
        // created concurrently: fine
      }
    }
  }

  /** Removes the local division of a partition group and its files. */
  public void removeGroup(RaftGroupId groupId) throws IOException {
    synchronized (groupChanges) {
      if (pendingRestarts.remove(groupId) != null && !hasGroup(groupId)) {
        // Its closed division was removed for a restart that had not completed: delete what is left.
        FileUtils.deleteFully(storageDir(groupId));
        LOG.info("node {}: removed group {} (its division was closed)", settings.nodeId(), groupId);
        return;
      }
      if (!hasGroup(groupId)) {
        return;
      }
      server.groupManagement(GroupManagementRequest.newRemove(clientId, selfId, callIds.incrementAndGet(),
          groupId, true, false));
      LOG.info("node {}: removed group {}", settings.nodeId(), groupId);
    }
  }

  /**
   * Restarts the local division of a partition group if Ratis closed it by itself (see
   * {@link DivisionRestarter}) while this node is still one of the group's replicas: removes the closed
   * division, keeping its storage, and adds the group again from that storage, as a node restart would.
   * The closed division has released its storage before it is removed, so two divisions never share it.
   * If the add fails, the group stays pending and the next call tries the add again.
   *
   * @return whether the division was restarted
   */
  boolean restartIfClosed(RaftGroupId groupId) throws IOException {
    synchronized (groupChanges) {
      if (closing || groupId.equals(METADATA_GROUP_ID) || server.getLifeCycleState().isClosingOrClosed()) {
        return false;
      }
      RaftGroup group = pendingRestarts.get(groupId);
      if (group == null) {
        RaftServer.Division closed = division(groupId).orElse(null);
        if (closed == null) {
          return false;
        }
        LifeCycle.State state = closed.getInfo().getLifeCycleState();
        if (state != LifeCycle.State.CLOSED && state != LifeCycle.State.EXCEPTION) {
          return false;
        }
        group = closed.getGroup();
        if (group.getPeer(selfId) == null) {
          return false;
        }
        LOG.error("node {}: Ratis closed the division of group {} (state {}, last applied {}) although this node"
            + " is still one of its replicas; restarting it from its storage", settings.nodeId(), groupId, state,
            closed.getInfo().getLastAppliedIndex());
        // Waits until the division is closed (it already is): its log, state machine and storage lock are
        // released. The directory stays.
        server.groupManagement(GroupManagementRequest.newRemove(clientId, selfId, callIds.incrementAndGet(),
            groupId, false, false));
        pendingRestarts.put(groupId, group);
      }
      server.groupManagement(GroupManagementRequest.newAdd(clientId, selfId, callIds.incrementAndGet(), group,
          false));
      pendingRestarts.remove(groupId);
      long n = divisionRestarts.incrementAndGet();
      LOG.warn("node {}: restarted the division of group {} from its storage (division restart #{} on this node)",
          settings.nodeId(), groupId, n);
    }
    for (Consumer<RaftGroupId> listener : restartListeners) {
      try {
        listener.accept(groupId);
      } catch (RuntimeException e) {
        LOG.warn("node {}: a division-restart listener failed", settings.nodeId(), e);
      }
    }
    return true;
  }

  /** The partition groups this node hosts or is restarting (for {@link DivisionRestarter}). */
  List<RaftGroupId> partitionGroupIds() {
    List<RaftGroupId> out = new ArrayList<>();
    for (RaftGroupId id : server.getGroupIds()) {
      if (!id.equals(METADATA_GROUP_ID)) {
        out.add(id);
      }
    }
    for (RaftGroupId id : pendingRestarts.keySet()) {
      if (!out.contains(id)) {
        out.add(id);
      }
    }
    return out;
  }

  /**
   * Calls {@code listener} with the group id after a closed division was restarted: from then on
   * {@link #division} and {@link #partition} return new objects for that group, and whoever kept the old
   * ones must look them up again.
   */
  public void addDivisionRestartListener(Consumer<RaftGroupId> listener) {
    restartListeners.add(listener);
  }

  /** How many closed divisions this host has restarted. */
  public long divisionRestarts() {
    return divisionRestarts.get();
  }

  private Path storageDir(RaftGroupId groupId) {
    return settings.dataDir().resolve("raft").resolve(groupId.getUuid().toString());
  }

  public boolean hasGroup(RaftGroupId groupId) {
    try {
      for (RaftGroupId id : server.getGroupIds()) {
        if (id.equals(groupId)) {
          return true;
        }
      }
    } catch (RuntimeException e) {
      return false;
    }
    return false;
  }

  /** The local division of a group, if this node hosts one. */
  public Optional<RaftServer.Division> division(RaftGroupId groupId) {
    RaftServer s = server;
    if (s == null) {
      return Optional.empty(); // not started yet
    }
    try {
      return Optional.of(s.getDivision(groupId));
    } catch (IOException e) {
      return Optional.empty();
    }
  }

  /** The local partition state machine of a group, if this node hosts one. */
  public Optional<PartitionStateMachine> partition(RaftGroupId groupId) {
    return division(groupId).map(d -> d.getStateMachine())
        .filter(sm -> sm instanceof PartitionStateMachine)
        .map(sm -> (PartitionStateMachine) sm);
  }

  /** A fresh call id, unique on this node. */
  public long nextCallId() {
    return callIds.incrementAndGet();
  }

  /**
   * Submits a command to the local division, which must lead the group; the future completes when the
   * entry is committed and applied here (or fails with Ratis' NotLeaderException and friends).
   */
  public CompletableFuture<RaftClientReply> submit(RaftServer.Division division, long callId, byte[] command)
      throws IOException {
    RaftClientRequest request = RaftClientRequest.newBuilder()
        .setClientId(clientId)
        .setServerId(selfId)
        .setGroupId(division.getGroup().getGroupId())
        .setCallId(callId)
        .setMessage(Message.valueOf(UnsafeByteOperations.unsafeWrap(command)))
        .setType(RaftClientRequest.writeRequestType())
        .build();
    return ((RaftClientAsynchronousProtocol) division).submitClientRequestAsync(request);
  }

  public RaftServer server() {
    return server;
  }

  public RaftSettings settings() {
    return settings;
  }

  @Override
  public void close() throws IOException {
    closing = true;
    if (restarter != null) {
      restarter.close();
    }
    try {
      RaftClient client = metadataClient.get();
      if (client != null) {
        client.close();
      }
    } finally {
      try {
        if (server != null) {
          server.close();
        }
      } finally {
        flusher.close();
      }
    }
  }
}
