package io.raftmq.client.internal;

import io.raftmq.client.ConsumerConfig;
import io.raftmq.client.RaftMqException;
import io.raftmq.client.TopicPartition;
import io.raftmq.protocol.ApiKey;
import io.raftmq.protocol.ErrorCode;
import io.raftmq.protocol.GroupHeartbeatRequest;
import io.raftmq.protocol.GroupHeartbeatResponse;
import io.raftmq.protocol.Request;
import io.raftmq.protocol.TopicPartitions;
import java.net.InetAddress;
import java.time.Duration;
import java.util.Collection;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One consumer's membership in its group: heartbeats to the coordinator (the metadata leader) on the
 * SDK's timer and callback threads, independent of how often the application polls. Each heartbeat
 * reports what the consumer owns; the answer is what it may consume now, which the consumer applies
 * in its own thread at the next poll (revoke first, then claim the new partitions).
 *
 * <p>Thread-safe: the state is guarded by {@code this}.
 */
final class GroupMembership {
  private static final Logger log = LoggerFactory.getLogger(GroupMembership.class);
  private static final long RETRY_MS = 200;
  private static final long RECONCILE_MS = 100;

  private final ClientRuntime rt;
  private final String group;
  private final String memberId = UUID.randomUUID().toString();
  private final String assignor;
  private final int sessionTimeoutMs;
  private final String host;
  private final long maxPollIntervalNanos;
  private volatile long lastPollNanos = System.nanoTime();

  private List<String> topics = List.of();
  private long generation; // 0: (re)join on the next heartbeat
  private Set<TopicPartition> assignment = Set.of();
  private Set<TopicPartition> owned = Set.of();
  private boolean active;
  private boolean inFlight;
  private boolean again;
  private boolean lost;
  private boolean reconciling = true;
  private long timerSeq;
  private int intervalMs = 1000;
  private RaftMqException fatal;
  private long lastAnswerNanos = System.nanoTime();

  GroupMembership(ClientRuntime rt, ConsumerConfig config) {
    this.rt = rt;
    this.group = config.groupId();
    this.assignor = config.assignor();
    this.sessionTimeoutMs = (int) config.sessionTimeout().toMillis();
    this.maxPollIntervalNanos = config.maxPollInterval().toNanos();
    String h;
    try {
      h = InetAddress.getLocalHost().getHostName();
    } catch (Exception e) {
      h = "unknown";
    }
    this.host = h;
  }

  String group() {
    return group;
  }

  String memberId() {
    return memberId;
  }

  /** Joins (or changes the subscription) with the next heartbeat, which is sent now. */
  void start(Collection<String> topics) {
    synchronized (this) {
      this.topics = List.copyOf(new LinkedHashSet<>(topics));
      this.active = true;
      this.fatal = null;
    }
    heartbeatSoon(0);
  }

  /** The application polled: it is alive (see {@link io.raftmq.client.ConsumerConfig#maxPollInterval()}). */
  void polled() {
    lastPollNanos = System.nanoTime();
  }

  /** What the consumer should do now: its generation, what it may consume, and whether it lost everything. */
  record View(long generation, Set<TopicPartition> assignment, boolean lost, boolean reconciling) {}

  synchronized View view() {
    if (fatal != null) {
      RaftMqException e = fatal;
      throw new RaftMqException(e.code(), e.getMessage(), false, e);
    }
    return new View(generation, assignment, lost, reconciling);
  }

  synchronized long generation() {
    return generation;
  }

  /** The consumer now owns {@code partitions}: report it at once (hand-overs wait for this). */
  void setOwned(Set<TopicPartition> partitions) {
    synchronized (this) {
      owned = Set.copyOf(partitions);
    }
    heartbeatSoon(0);
  }

  /** The consumer has dropped everything after a loss: join again as a new generation. */
  void rejoin() {
    synchronized (this) {
      lost = false;
      generation = 0;
      owned = Set.of();
      assignment = Set.of();
    }
    heartbeatSoon(0);
  }

  /** Stops heartbeating and leaves the group; waits up to {@code timeout} for the coordinator's ack. */
  void leave(Duration timeout) {
    GroupHeartbeatRequest.Builder req;
    synchronized (this) {
      if (!active) {
        return;
      }
      active = false;
      timerSeq++;
      req = request().setLeaving(true);
    }
    long deadline = System.nanoTime() + timeout.toNanos();
    while (System.nanoTime() < deadline) {
      HostPort to = rt.metadata().metadataLeaderOrAny();
      CompletableFuture<Reply> f = rt.network().send(to, Request.newBuilder().setApiKey(ApiKey.GROUP_HEARTBEAT)
          .setGroupHeartbeat(req), null, Duration.ofNanos(Math.max(1, deadline - System.nanoTime())));
      try (Reply reply = f.get(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS)) {
        GroupHeartbeatResponse r = reply.header().getGroupHeartbeat();
        if (reply.header().getError() == ErrorCode.NONE && r.getError() == ErrorCode.NONE) {
          log.debug("member {} left group {}", memberId, group);
          return;
        }
        if (r.getError() == ErrorCode.NOT_LEADER) {
          rt.metadata().metadataLeaderHint(r.hasLeader() ? r.getLeader() : null);
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      } catch (Exception e) {
        f.thenAccept(Reply::close);
        rt.metadata().onNodeUnreachable(to);
      }
      try {
        Thread.sleep(RETRY_MS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      }
    }
    log.warn("member {} could not leave group {} in time; its session will expire instead", memberId, group);
  }

  private GroupHeartbeatRequest.Builder request() {
    GroupHeartbeatRequest.Builder b = GroupHeartbeatRequest.newBuilder()
        .setGroup(group)
        .setMemberId(memberId)
        .setGeneration(generation)
        .addAllTopics(topics)
        .setAssignor(assignor)
        .setSessionTimeoutMs(sessionTimeoutMs)
        .setClientHost(host);
    Map<String, TopicPartitions.Builder> byTopic = new TreeMap<>();
    for (TopicPartition tp : owned) {
      byTopic.computeIfAbsent(tp.topic(), t -> TopicPartitions.newBuilder().setTopic(t)).addPartitions(tp.partition());
    }
    byTopic.values().forEach(b::addOwned);
    return b;
  }

  private void heartbeatSoon(long delayMs) {
    long seq;
    synchronized (this) {
      if (!active) {
        return;
      }
      seq = ++timerSeq;
    }
    rt.schedule(() -> {
      synchronized (this) {
        if (seq != timerSeq) {
          return; // superseded by a later schedule
        }
      }
      heartbeat();
    }, Duration.ofMillis(delayMs));
  }

  private void heartbeat() {
    GroupHeartbeatRequest.Builder req;
    synchronized (this) {
      if (!active || lost || fatal != null) {
        return;
      }
      if (inFlight) {
        again = true;
        return;
      }
      if (generation > 0 && System.nanoTime() - lastPollNanos > maxPollIntervalNanos) {
        // The application stopped polling: give the partitions up rather than hold them.
        log.warn("group {}: no poll for more than {} ms; member {} leaves the group (its partitions will be"
            + " reported lost at the next poll)", group, maxPollIntervalNanos / 1_000_000, memberId);
        GroupHeartbeatRequest.Builder leave = request().setLeaving(true);
        lost = true;
        generation = 0;
        assignment = Set.of();
        HostPort to = rt.metadata().metadataLeaderOrAny();
        rt.network().send(to, Request.newBuilder().setApiKey(ApiKey.GROUP_HEARTBEAT).setGroupHeartbeat(leave), null,
            Duration.ofMillis(Math.max(1000, sessionTimeoutMs / 2))).whenComplete((r, e) -> {
              if (r != null) {
                r.close();
              }
            });
        return;
      }
      inFlight = true;
      again = false;
      req = request();
    }
    log.debug("group {}: heartbeat gen {} owned {}", group, req.getGeneration(), req.getOwnedCount());
    HostPort to = rt.metadata().metadataLeaderOrAny();
    Duration timeout = Duration.ofMillis(Math.max(1000, sessionTimeoutMs / 2));
    rt.network().send(to, Request.newBuilder().setApiKey(ApiKey.GROUP_HEARTBEAT).setGroupHeartbeat(req), null, timeout)
        .whenComplete((reply, e) -> {
          long next;
          try {
            next = e != null ? onFailure(to, e) : onReply(reply);
          } catch (RuntimeException ex) {
            log.warn("group {}: heartbeat handling failed", group, ex);
            next = RETRY_MS;
          } finally {
            if (reply != null) {
              reply.close();
            }
          }
          boolean now;
          synchronized (this) {
            inFlight = false;
            now = again;
          }
          if (next >= 0) {
            heartbeatSoon(now ? 0 : next);
          }
        });
  }

  private long onFailure(HostPort to, Throwable e) {
    log.debug("group {}: heartbeat to {} failed: {}", group, to, e.toString());
    rt.metadata().onNodeUnreachable(to);
    return RETRY_MS;
  }

  /** Applies a heartbeat answer; returns the delay to the next heartbeat, or -1 to stop. */
  private long onReply(Reply reply) {
    log.debug("group {}: heartbeat answer {} {}", group, reply.header().getError(),
        reply.header().getGroupHeartbeat().getError());
    if (reply.header().getError() != ErrorCode.NONE) {
      log.warn("group {}: heartbeat refused: {} {}", group, reply.header().getError(), reply.header().getErrorMessage());
      return RETRY_MS;
    }
    GroupHeartbeatResponse r = reply.header().getGroupHeartbeat();
    switch (r.getError()) {
      case NONE -> {
        Set<TopicPartition> a = new LinkedHashSet<>();
        for (TopicPartitions tps : r.getAssignmentList()) {
          for (int p : tps.getPartitionsList()) {
            a.add(new TopicPartition(tps.getTopic(), p));
          }
        }
        synchronized (this) {
          if (!active || lost) {
            return -1;
          }
          generation = r.getGeneration();
          assignment = Set.copyOf(a);
          reconciling = r.getReconciling();
          intervalMs = Math.max(100, r.getHeartbeatIntervalMs());
          lastAnswerNanos = System.nanoTime();
          return reconciling ? RECONCILE_MS : intervalMs;
        }
      }
      case NOT_LEADER -> {
        rt.metadata().metadataLeaderHint(r.hasLeader() ? r.getLeader() : null);
        return 50;
      }
      case UNKNOWN_MEMBER -> {
        log.warn("group {}: member {} was expired or removed: its partitions are lost; rejoining", group, memberId);
        synchronized (this) {
          lost = true;
          generation = 0;
          assignment = Set.of();
        }
        return -1; // the consumer's next poll drops its partitions, then rejoins
      }
      case LEADER_NOT_AVAILABLE, REQUEST_TIMED_OUT, METADATA_BEHIND, THROTTLED -> {
        return RETRY_MS;
      }
      default -> {
        synchronized (this) {
          fatal = new RaftMqException(r.getError(), "group '" + group + "': " + r.getErrorMessage());
        }
        log.warn("group {}: cannot join: {} {}", group, r.getError(), r.getErrorMessage());
        return -1;
      }
    }
  }

  /** How long since the coordinator last answered (for diagnostics). */
  synchronized long sinceLastAnswerMs() {
    return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - lastAnswerNanos);
  }
}
