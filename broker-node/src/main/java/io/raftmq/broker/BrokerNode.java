package io.raftmq.broker;

import io.raftmq.raft.RaftHost;
import io.raftmq.raft.proto.MetadataCommand;
import io.raftmq.raft.proto.MetadataReply;
import io.raftmq.raft.proto.MetadataStatus;
import io.raftmq.raft.proto.RegisterNode;
import java.io.IOException;
import java.nio.file.Files;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One RaftMQ broker node: its Raft host (metadata group plus partition replicas), the client server,
 * and the HTTP endpoints. {@link #start} returns once the node listens; it registers its client
 * address with the metadata group in the background and reports healthy once that is committed and
 * every local partition has a leader. Until its own metadata replica has applied that registration,
 * it answers every client request with the retriable {@code METADATA_BEHIND}: a node that restarts
 * knows only its last metadata snapshot (plus whatever log it replays), and must not tell a client that
 * a topic created meanwhile does not exist.
 */
public final class BrokerNode implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(BrokerNode.class);

  /** What {@code /health} reports. */
  public record Health(boolean healthy, int nodeId, int metadataLeader, boolean registered, int partitions,
      long partitionsWithoutLeader) {}

  private final NodeConfig config;
  private final RaftHost host;
  private final BrokerMetrics metrics = new BrokerMetrics();
  private final PartitionDirectory partitions;
  private final BrokerContext context;
  private final CountDownLatch closed = new CountDownLatch(1);
  private final ScheduledExecutorService background = Executors.newSingleThreadScheduledExecutor(r -> {
    Thread t = new Thread(r, "broker-background");
    t.setDaemon(true);
    return t;
  });
  private ClientServer clientServer;
  private HttpEndpoints http;
  private volatile boolean registered;
  private volatile boolean closing;

  private BrokerNode(NodeConfig config) {
    this.config = config;
    this.host = new RaftHost(config.raftSettings());
    this.partitions = new PartitionDirectory(host, config.nodeId());
    this.context = new BrokerContext(config, host, partitions, metrics);
  }

  /** Starts a node and returns once it listens on its client and HTTP ports. */
  public static BrokerNode start(NodeConfig config) throws IOException {
    BrokerNode node = new BrokerNode(config);
    try {
      node.doStart();
    } catch (IOException | RuntimeException e) {
      node.close();
      throw e;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      node.close();
      throw new IOException("interrupted while starting", e);
    }
    return node;
  }

  private volatile ClientHandler clientHandler;

  private void doStart() throws IOException, InterruptedException {
    Files.createDirectories(config.dataDir());
    host.metadata().setListener(view -> {
      partitions.onMetadata(view);
      context.onMetadata(view);
    });
    host.start();
    partitions.onMetadata(host.metadata().view());
    metrics.registerPartitionGauges(partitions, host);
    clientHandler = new ClientHandler(context);
    clientServer = new ClientServer(config.host(), config.clientPort(), config.maxFrameBytes(), clientHandler);
    http = new HttpEndpoints(config.host(), config.httpPort(), metrics, this);
    LOG.info("node {} listening: client {}:{}, raft {}:{}, http {}:{}, data {}", config.nodeId(), config.host(),
        clientServer.port(), config.host(), config.raftPort(), config.host(), http.port(), config.dataDir());
    background.execute(this::register);
  }

  private void register() {
    if (closing) {
      return;
    }
    MetadataCommand command = MetadataCommand.newBuilder()
        .setLeaderTimeMs(System.currentTimeMillis())
        .setRegisterNode(RegisterNode.newBuilder()
            .setNodeId(config.nodeId())
            .setHost(config.host())
            .setClientPort(clientServer.port())
            .setHttpPort(http.port()))
        .build();
    host.proposeMetadataAt(command).whenComplete((committed, e) -> {
      MetadataReply reply = committed == null ? null : committed.reply();
      if (e == null && reply.getStatus() == MetadataStatus.OK) {
        registered = true;
        context.readyOnceApplied(committed.logIndex());
        context.nudgeIfBehind(committed.logIndex());
        LOG.info("node {} registered with the metadata group at index {}", config.nodeId(), committed.logIndex());
      } else if (!closing) {
        LOG.info("node {}: registration not committed yet ({}); retrying", config.nodeId(),
            e != null ? e.toString() : reply.getMessage());
        background.schedule(this::register, 500, TimeUnit.MILLISECONDS);
      }
    });
  }

  /** The node's health as {@code /health} reports it. */
  public Health health() {
    int leader = context.metadataLeader();
    var all = partitions.all().values();
    long withoutLeader = all.stream().filter(lp -> lp.leaderNodeId() < 0).count();
    boolean registeredHere = registered && context.ready();
    return new Health(registeredHere && leader >= 0 && withoutLeader == 0, config.nodeId(), leader,
        registeredHere, all.size(), withoutLeader);
  }

  public int clientPort() {
    return clientServer.port();
  }

  public int httpPort() {
    return http.port();
  }

  public NodeConfig config() {
    return config;
  }

  /** The node's Raft host, for tests and tools that inspect replicas. */
  public RaftHost raftHost() {
    return host;
  }

  /** The node's partition replicas (tests). */
  PartitionDirectory partitionsForTest() {
    return partitions;
  }

  /** Blocks until {@link #close} has run. */
  public void awaitClose() throws InterruptedException {
    closed.await();
  }

  @Override
  public void close() {
    if (closing) {
      return;
    }
    closing = true;
    context.closing = true;
    try {
      background.shutdownNow();
      context.coordinator.close();
      context.timer.shutdownNow();
      if (clientServer != null) {
        clientServer.close();
      }
      if (clientHandler != null) {
        clientHandler.close();
      }
      if (http != null) {
        http.close();
      }
      partitions.close();
      try {
        host.close();
      } catch (IOException e) {
        LOG.warn("node {}: closing the Raft host failed", config.nodeId(), e);
      }
    } finally {
      closed.countDown();
    }
  }
}
