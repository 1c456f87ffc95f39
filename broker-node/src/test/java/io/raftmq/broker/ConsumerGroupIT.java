package io.raftmq.broker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.raftmq.client.Consumer;
import io.raftmq.client.ConsumerConfig;
import io.raftmq.client.ConsumerRecord;
import io.raftmq.client.GroupDescription;
import io.raftmq.client.Message;
import io.raftmq.client.NewTopic;
import io.raftmq.client.OffsetReset;
import io.raftmq.client.OffsetResetSpec;
import io.raftmq.client.Producer;
import io.raftmq.client.RaftMqClient;
import io.raftmq.client.RaftMqException;
import io.raftmq.client.RebalanceListener;
import io.raftmq.client.TopicPartition;
import io.raftmq.protocol.ApiKey;
import io.raftmq.protocol.CommitOffsetsRequest;
import io.raftmq.protocol.ErrorCode;
import io.raftmq.protocol.FetchOffsetsRequest;
import io.raftmq.protocol.GroupHeartbeatRequest;
import io.raftmq.protocol.OffsetCommit;
import io.raftmq.protocol.Request;
import io.raftmq.protocol.TopicPartitions;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Consumer groups on a real three-node cluster: sharing partitions, cooperative rebalances, expiry of a
 * silent member, fencing, fan-out to several groups, replay, reset-offsets, offsets through a leader
 * failover, and bad input.
 */
class ConsumerGroupIT {
  @TempDir
  static Path dir;
  static TestCluster cluster;
  static RaftMqClient admin;

  /** Short, for the tests of expiry; the others use the default (10 s) so a loaded machine does not expire them. */
  private static final Duration SESSION = Duration.ofSeconds(3);

  @BeforeAll
  static void start() {
    cluster = new TestCluster(dir).start();
    admin = RaftMqClient.connect(cluster.bootstrap());
  }

  @AfterAll
  static void stop() {
    if (admin != null) {
      admin.close();
    }
    if (cluster != null) {
      cluster.close();
    }
  }

  private static void createTopic(String topic, int partitions) throws Exception {
    admin.admin().createTopic(NewTopic.of(topic, partitions)).get();
  }

  private static void produce(String topic, int from, int to) throws Exception {
    try (Producer p = admin.producer()) {
      List<java.util.concurrent.CompletableFuture<?>> fs = new ArrayList<>();
      for (int i = from; i < to; i++) {
        fs.add(p.send(Message.of(topic, "k" + i, "v" + i)));
      }
      for (var f : fs) {
        f.get();
      }
    }
  }

  private static ConsumerConfig.Builder groupConfig(String group) {
    return ConsumerConfig.builder().groupId(group).autoOffsetReset(OffsetReset.EARLIEST)
        .enableAutoCommit(false).maxPollRecords(200);
  }

  /** A group member on its own client and thread: polls, records, commits after each poll. */
  static final class Member implements AutoCloseable {
    final String name;
    final RaftMqClient client = RaftMqClient.connect(cluster.bootstrap());
    final Consumer consumer;
    final Set<TopicPartition> owned = ConcurrentHashMap.newKeySet();
    final List<ConsumerRecord> processed = new CopyOnWriteArrayList<>();
    final Map<TopicPartition, Long> lastCommitted = new ConcurrentHashMap<>();
    final AtomicInteger revoked = new AtomicInteger();
    final AtomicInteger lost = new AtomicInteger();
    final AtomicBoolean running = new AtomicBoolean(true);
    final Thread thread;
    final Map<TopicPartition, String> exclusiveOwner;
    volatile Throwable failure;
    volatile boolean dead;

    Member(String name, String group, String topic, Map<TopicPartition, String> exclusiveOwner) {
      this(name, group, topic, exclusiveOwner, Duration.ofSeconds(10));
    }

    Member(String name, String group, String topic, Map<TopicPartition, String> exclusiveOwner, Duration session) {
      this.name = name;
      this.exclusiveOwner = exclusiveOwner;
      this.consumer = client.consumer(groupConfig(group).sessionTimeout(session).build());
      consumer.subscribe(List.of(topic), new RebalanceListener() {
        @Override
        public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
          revoked.addAndGet(partitions.size());
          owned.removeAll(partitions);
          partitions.forEach(tp -> exclusiveOwner.remove(tp, name));
        }

        @Override
        public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
          synchronized (exclusiveOwner) {
            if (dead) {
              return;
            }
            for (TopicPartition tp : partitions) {
              String before = exclusiveOwner.putIfAbsent(tp, name);
              if (before != null) {
                failure = new AssertionError(tp + " assigned to " + name + " while " + before + " owns it");
              }
            }
          }
          owned.addAll(partitions);
        }

        @Override
        public void onPartitionsLost(Collection<TopicPartition> partitions) {
          lost.addAndGet(partitions.size());
          owned.removeAll(partitions);
          partitions.forEach(tp -> exclusiveOwner.remove(tp, name));
        }
      });
      thread = new Thread(this::run, "member-" + name);
      thread.start();
    }

    private void run() {
      try {
        while (running.get()) {
          List<ConsumerRecord> records = consumer.poll(Duration.ofMillis(200));
          processed.addAll(records);
          if (!records.isEmpty()) {
            consumer.commitSync();
            for (ConsumerRecord r : records) {
              lastCommitted.merge(new TopicPartition(r.topic(), r.partition()), r.offset() + 1, Math::max);
            }
          }
        }
      } catch (Throwable t) {
        if (running.get()) {
          failure = t;
        }
      }
    }

    /** Stops like a crashed process: no commit, no leave; heartbeats stop with the client. */
    void kill() throws InterruptedException {
      running.set(false);
      // A dead process consumes nothing: its partitions are free once the group notices.
      synchronized (exclusiveOwner) {
        dead = true;
        exclusiveOwner.values().removeIf(name::equals);
      }
      client.close();
      thread.join(10_000);
    }

    @Override
    public void close() throws InterruptedException {
      if (running.getAndSet(false)) {
        thread.join(10_000);
        consumer.close();
      }
      client.close();
    }
  }

  private static Set<String> values(List<Member> members) {
    Set<String> out = ConcurrentHashMap.newKeySet();
    members.forEach(m -> m.processed.forEach(r -> out.add(r.valueAsString())));
    return out;
  }

  @Test
  void membersSharePartitionsAndAFourthJoinsCooperatively() throws Exception {
    String topic = "share";
    createTopic(topic, 6);
    Map<TopicPartition, String> exclusive = new ConcurrentHashMap<>();
    List<Member> members = new ArrayList<>();
    try {
      for (int i = 0; i < 3; i++) {
        members.add(new Member("m" + i, "share-g", topic, exclusive));
      }
      await().atMost(Duration.ofSeconds(30)).until(() ->
          members.stream().allMatch(m -> m.owned.size() == 2));
      produce(topic, 0, 2000);
      await().atMost(Duration.ofSeconds(60)).until(() -> values(members).size() == 2000);
      Map<String, Set<TopicPartition>> before = new HashMap<>();
      members.forEach(m -> before.put(m.name, Set.copyOf(m.owned)));
      // The three members' own joins moved partitions among them already: count from here.
      int revokedBefore = members.stream().mapToInt(m -> m.revoked.get()).sum();

      Member fourth = new Member("m3", "share-g", topic, exclusive);
      members.add(fourth);
      await().atMost(Duration.ofSeconds(30)).until(() -> !fourth.owned.isEmpty()
          && members.stream().mapToInt(m -> m.owned.size()).sum() == 6
          && members.stream().allMatch(m -> m.owned.size() <= 2));
      int revoked = members.stream().mapToInt(m -> m.revoked.get()).sum() - revokedBefore;
      assertThat(revoked).as("only partitions that moved were revoked").isEqualTo(fourth.owned.size());
      for (Member m : members.subList(0, 3)) {
        assertThat(before.get(m.name)).as("%s keeps what it still owns", m.name).containsAll(m.owned);
      }
      produce(topic, 2000, 4000);
      await().atMost(Duration.ofSeconds(60)).until(() -> values(members).size() == 4000);
      for (Member m : members) {
        assertThat(m.failure).as(m.name).isNull();
      }
      GroupDescription d = admin.admin().describeGroup("share-g").get();
      assertThat(d.members()).hasSize(4);
      await().atMost(Duration.ofSeconds(10)).until(() ->
          admin.admin().describeGroup("share-g").get().partitions().stream().allMatch(p -> p.lag() == 0));
    } finally {
      for (Member m : members) {
        m.close();
      }
    }
    // Clean leaves: the group is empty at once, not after a session timeout.
    await().atMost(Duration.ofSeconds(5)).until(() -> admin.admin().describeGroup("share-g").get().members().isEmpty());
  }

  @Test
  void aSilentMemberLosesItsPartitionsAndOnlyUncommittedMessagesRepeat() throws Exception {
    String topic = "silent";
    createTopic(topic, 4);
    Map<TopicPartition, String> exclusive = new ConcurrentHashMap<>();
    Member a = new Member("a", "silent-g", topic, exclusive, SESSION);
    Member b = new Member("b", "silent-g", topic, exclusive);
    try {
      await().atMost(Duration.ofSeconds(30)).until(() -> a.owned.size() == 2 && b.owned.size() == 2);
      produce(topic, 0, 1000);
      await().atMost(Duration.ofSeconds(60)).until(() -> values(List.of(a, b)).size() == 1000);
      Set<TopicPartition> aOwned = Set.copyOf(a.owned);
      Map<TopicPartition, Long> aCommitted = Map.copyOf(a.lastCommitted);
      long killedAt = System.nanoTime();
      a.kill();
      produce(topic, 1000, 2000);
      await().atMost(SESSION.plusSeconds(15)).until(() -> b.owned.size() == 4);
      long movedMs = (System.nanoTime() - killedAt) / 1_000_000;
      assertThat(movedMs).as("moved within the session timeout plus a rebalance").isLessThan(SESSION.toMillis() + 10_000);
      await().atMost(Duration.ofSeconds(60)).until(() -> values(List.of(a, b)).size() == 2000);
      // Duplicates: only what a processed after its last commit (none here: it committed every poll).
      Map<String, Integer> times = new HashMap<>();
      for (Member m : List.of(a, b)) {
        m.processed.forEach(r -> times.merge(r.valueAsString(), 1, Integer::sum));
      }
      for (ConsumerRecord r : b.processed) {
        TopicPartition tp = new TopicPartition(r.topic(), r.partition());
        if (times.get(r.valueAsString()) > 1) {
          assertThat(aOwned).contains(tp);
          assertThat(r.offset()).as("a duplicate lies after a's last commit").isGreaterThanOrEqualTo(aCommitted.getOrDefault(tp, 0L));
        }
      }
      assertThat(b.failure).isNull();
    } finally {
      b.close();
      a.close();
    }
  }

  @Test
  void aFencedOrExpiredMemberCannotCommit() throws Exception {
    String topic = "fence";
    createTopic(topic, 1);
    produce(topic, 0, 10);
    Map<TopicPartition, String> exclusive = new ConcurrentHashMap<>();
    Member a = new Member("a", "fence-g", topic, exclusive, SESSION);
    Member b = null;
    try {
      await().atMost(Duration.ofSeconds(30)).until(() -> a.owned.size() == 1 && a.processed.size() == 10);
      long aGeneration = a.consumer.groupGeneration();
      String aMember = memberId("fence-g", 0);
      a.kill();
      b = new Member("b", "fence-g", topic, exclusive);
      Member bb = b;
      await().atMost(SESSION.plusSeconds(20)).until(() -> bb.owned.size() == 1);
      TopicPartition tp = new TopicPartition(topic, 0);
      long committed = committed("fence-g", tp);
      int leader = cluster.awaitLeaderOf(topic, 0);
      try (RawConnection raw = new RawConnection("127.0.0.1", cluster.node(leader).clientPort())) {
        // The expired member a, with its old generation.
        var zombie = raw.call(commitRequest("fence-g", aMember, aGeneration, topic, 3));
        assertThat(zombie.header().getCommitOffsets().getError()).isIn(ErrorCode.UNKNOWN_MEMBER, ErrorCode.GENERATION_FENCED);
        // The current member with a generation older than its own claim: fenced by the partition's log.
        String bMember = memberId("fence-g", 0);
        long bGeneration = b.consumer.groupGeneration();
        var stale = raw.call(commitRequest("fence-g", bMember, bGeneration - 1, topic, 3));
        assertThat(stale.header().getCommitOffsets().getResults(0).getError()).isEqualTo(ErrorCode.GENERATION_FENCED);
        // Beyond the high watermark: refused, nothing changes.
        var beyond = raw.call(commitRequest("fence-g", bMember, bGeneration, topic, 11));
        assertThat(beyond.header().getCommitOffsets().getResults(0).getError()).isEqualTo(ErrorCode.OFFSET_OUT_OF_RANGE);
        // An unknown group.
        var unknown = raw.call(commitRequest("no-such-group", bMember, 1, topic, 1));
        assertThat(unknown.header().getCommitOffsets().getError()).isEqualTo(ErrorCode.UNKNOWN_GROUP);
        // A bad group id.
        var bad = raw.call(Request.newBuilder().setCorrelationId(9).setApiKey(ApiKey.GROUP_HEARTBEAT)
            .setGroupHeartbeat(GroupHeartbeatRequest.newBuilder().setGroup("bad group!").setMemberId("x")
                .addTopics(topic)).build());
        assertThat(bad.header().getGroupHeartbeat().getError()).isIn(ErrorCode.INVALID_GROUP_ID, ErrorCode.NOT_LEADER);
      }
      // Committed offsets are read from the partition's leader only: a follower applies a commit after the
      // leader acknowledged it, so it could answer with an offset older than one already committed.
      int follower = leader % 3 + 1;
      try (RawConnection raw = new RawConnection("127.0.0.1", cluster.node(follower).clientPort())) {
        var fromFollower = raw.call(Request.newBuilder().setCorrelationId(10).setApiKey(ApiKey.FETCH_OFFSETS)
            .setFetchOffsets(FetchOffsetsRequest.newBuilder().setGroup("fence-g")
                .addPartitions(TopicPartitions.newBuilder().setTopic(topic).addPartitions(0))).build());
        var result = fromFollower.header().getFetchOffsets().getResults(0);
        assertThat(result.getError()).as("node %d follows", follower).isEqualTo(ErrorCode.NOT_LEADER);
        assertThat(result.hasLeader()).as("with a hint to the leader").isTrue();
      }
      assertThat(committed("fence-g", tp)).as("nothing changed").isEqualTo(committed);
      assertThatThrownBy(() -> ConsumerConfig.builder().groupId("bad group!").build())
          .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("invalid");
    } finally {
      if (b != null) {
        b.close();
      }
      a.close();
    }
  }

  private static String memberId(String group, int index) throws Exception {
    return admin.admin().describeGroup(group).get().members().get(index).memberId();
  }

  private static Request commitRequest(String group, String member, long generation, String topic, long offset) {
    return Request.newBuilder().setCorrelationId(7).setApiKey(ApiKey.COMMIT_OFFSETS)
        .setCommitOffsets(CommitOffsetsRequest.newBuilder().setGroup(group).setMemberId(member)
            .setGeneration(generation).addOffsets(OffsetCommit.newBuilder().setTopic(topic).setPartition(0)
                .setOffset(offset))).build();
  }

  @Test
  void twoGroupsEachGetEverythingAtTheirOwnPace() throws Exception {
    String topic = "fanout";
    createTopic(topic, 2);
    produce(topic, 0, 3000);
    try (RaftMqClient c1 = RaftMqClient.connect(cluster.bootstrap());
         RaftMqClient c2 = RaftMqClient.connect(cluster.bootstrap());
         Consumer fast = c1.consumer(groupConfig("fast").maxPollRecords(1000).build());
         Consumer slow = c2.consumer(groupConfig("slow").maxPollRecords(10).build())) {
      fast.subscribe(List.of(topic));
      slow.subscribe(List.of(topic));
      Set<String> fastSeen = new java.util.HashSet<>();
      Set<String> slowSeen = new java.util.HashSet<>();
      long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
      while (fastSeen.size() < 3000 && System.nanoTime() < deadline) {
        fast.poll(Duration.ofMillis(200)).forEach(r -> fastSeen.add(r.valueAsString()));
        fast.commitSync();
        slow.poll(Duration.ofMillis(1)).forEach(r -> slowSeen.add(r.valueAsString()));
        slow.commitSync();
      }
      assertThat(fastSeen).hasSize(3000);
      assertThat(slowSeen.size()).as("the slow group is behind").isLessThan(3000);
      GroupDescription slowLag = admin.admin().describeGroup("slow").get();
      assertThat(slowLag.partitions().stream().mapToLong(GroupDescription.PartitionLag::lag).sum()).isPositive();
      while (slowSeen.size() < 3000 && System.nanoTime() < deadline + Duration.ofSeconds(60).toNanos()) {
        slow.poll(Duration.ofMillis(200)).forEach(r -> slowSeen.add(r.valueAsString()));
        slow.commitSync();
      }
      assertThat(slowSeen).hasSize(3000);
    }
  }

  @Test
  void replayBySeekAndByResetOffsetsOnAStoppedGroup() throws Exception {
    String topic = "replay";
    createTopic(topic, 1);
    produce(topic, 0, 100);
    long middle = System.currentTimeMillis();
    await().atMost(Duration.ofSeconds(5)).until(() -> System.currentTimeMillis() > middle + 5);
    produce(topic, 100, 200);
    TopicPartition tp = new TopicPartition(topic, 0);
    try (RaftMqClient c = RaftMqClient.connect(cluster.bootstrap());
         Consumer consumer = c.consumer(groupConfig("replay-g").build())) {
      consumer.subscribe(List.of(topic));
      List<ConsumerRecord> all = pollUntil(consumer, 200);
      assertThat(all.get(0).offset()).isZero();
      consumer.commitSync();
      consumer.seek(tp, 150);
      assertThat(pollUntil(consumer, 50).get(0).offset()).isEqualTo(150);
      consumer.seekToTimestamp(List.of(tp), middle);
      assertThat(pollUntil(consumer, 100).get(0).valueAsString()).isEqualTo("v100");
      consumer.seekToBeginning(List.of(tp));
      assertThat(pollUntil(consumer, 200).get(0).offset()).isZero();
      consumer.commitSync(Map.of(tp, 200L));
    }
    // The group is stopped: reset, dry run first.
    var dry = admin.admin().resetOffsets("replay-g", topic, new OffsetResetSpec.ToOffset(40), false).get();
    assertThat(dry.rows()).singleElement().satisfies(r -> {
      assertThat(r.currentOffset()).isEqualTo(200);
      assertThat(r.newOffset()).isEqualTo(40);
    });
    assertThat(committed("replay-g", tp)).as("a dry run changes nothing").isEqualTo(200);
    admin.admin().resetOffsets("replay-g", topic, new OffsetResetSpec.ShiftBy(-160), true).get();
    assertThat(committed("replay-g", tp)).isEqualTo(40);
    try (RaftMqClient c = RaftMqClient.connect(cluster.bootstrap());
         Consumer consumer = c.consumer(groupConfig("replay-g").build())) {
      consumer.subscribe(List.of(topic));
      List<ConsumerRecord> again = pollUntil(consumer, 160);
      assertThat(again).hasSize(160);
      assertThat(again.get(0).offset()).isEqualTo(40);
      assertThat(again.get(159).offset()).isEqualTo(199);
      // While the group has a live member, reset is refused.
      assertThatThrownBy(() -> admin.admin().resetOffsets("replay-g", topic, new OffsetResetSpec.ToEarliest(), true).get())
          .hasCauseInstanceOf(RaftMqException.class).hasMessageContaining("live member");
    }
    assertThatThrownBy(() -> admin.admin().describeGroup("never-existed").get())
        .hasMessageContaining("does not exist");
  }

  private static long committed(String group, TopicPartition tp) {
    try (Consumer c = admin.consumer(ConsumerConfig.builder().groupId(group).build())) {
      return c.committed(Set.of(tp)).getOrDefault(tp, -1L);
    }
  }

  private static List<ConsumerRecord> pollUntil(Consumer consumer, int n) {
    List<ConsumerRecord> out = new ArrayList<>();
    long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
    while (out.size() < n && System.nanoTime() < deadline) {
      out.addAll(consumer.poll(Duration.ofMillis(200)));
    }
    return out;
  }

  @Test
  void offsetsCommittedBeforeALeaderFailoverAreWhereTheNextMemberResumes() throws Exception {
    String topic = "failover";
    createTopic(topic, 1);
    produce(topic, 0, 500);
    TopicPartition tp = new TopicPartition(topic, 0);
    try (RaftMqClient c = RaftMqClient.connect(cluster.bootstrap());
         Consumer consumer = c.consumer(groupConfig("failover-g").build())) {
      consumer.subscribe(List.of(topic));
      pollUntil(consumer, 500);
      consumer.commitSync(Map.of(tp, 321L));
    }
    int leader = cluster.awaitLeaderOf(topic, 0);
    cluster.stop(leader);
    try {
      try (RaftMqClient c = RaftMqClient.connect(cluster.bootstrap(leader % 3 + 1));
           Consumer consumer = c.consumer(groupConfig("failover-g").build())) {
        consumer.subscribe(List.of(topic));
        List<ConsumerRecord> records = pollUntil(consumer, 1);
        assertThat(records).isNotEmpty();
        assertThat(records.get(0).offset()).isEqualTo(321);
      }
    } finally {
      cluster.start(leader);
      cluster.awaitHealthy();
    }
    // And after a full-cluster restart.
    cluster.stopAll();
    cluster.start();
    assertThat(committed("failover-g", tp)).isEqualTo(321);
  }

  @Test
  void aMetadataLeaderFailoverGivesMembersAGracePeriod() throws Exception {
    String topic = "grace";
    createTopic(topic, 4);
    Duration session = Duration.ofSeconds(6);
    Map<TopicPartition, String> exclusive = new ConcurrentHashMap<>();
    Member a = new Member("a", "grace-g", topic, exclusive, session);
    Member b = new Member("b", "grace-g", topic, exclusive, session);
    try {
      await().atMost(Duration.ofSeconds(30)).until(() -> a.owned.size() == 2 && b.owned.size() == 2);
      long generation = admin.admin().describeGroup("grace-g").get().generation();
      int metadataLeader = cluster.node(1).health().metadataLeader();
      assertThat(metadataLeader).isPositive();
      cluster.stop(metadataLeader);
      try {
        int survivor = metadataLeader % 3 + 1;
        await().atMost(Duration.ofSeconds(30)).until(() -> {
          int l = cluster.node(survivor).health().metadataLeader();
          return l > 0 && l != metadataLeader;
        });
        // Well past a session timeout after the new coordinator took over: nobody was expelled.
        long until = System.nanoTime() + session.multipliedBy(2).toNanos();
        await().atMost(session.multipliedBy(4)).until(() -> System.nanoTime() > until);
        try (RaftMqClient c = RaftMqClient.connect(cluster.bootstrap(survivor))) {
          GroupDescription d = c.admin().describeGroup("grace-g").get();
          assertThat(d.members()).hasSize(2);
          assertThat(d.generation()).as("no join, leave or expiry").isEqualTo(generation);
        }
        assertThat(a.owned).hasSize(2);
        assertThat(b.owned).hasSize(2);
        produce(topic, 0, 400);
        await().atMost(Duration.ofSeconds(60)).until(() -> values(List.of(a, b)).size() == 400);
      } finally {
        cluster.start(metadataLeader);
        cluster.awaitHealthy();
      }
      assertThat(a.failure).isNull();
      assertThat(b.failure).isNull();
      assertThat(a.lost.get() + b.lost.get()).as("no member lost its partitions").isZero();
    } finally {
      a.close();
      b.close();
    }
  }

  @Test
  void autoCommitAndCloseCommitWhatWasReturned() throws Exception {
    String topic = "autocommit";
    createTopic(topic, 2);
    produce(topic, 0, 300);
    List<TopicPartition> tps = List.of(new TopicPartition(topic, 0), new TopicPartition(topic, 1));
    try (RaftMqClient c = RaftMqClient.connect(cluster.bootstrap());
         Consumer consumer = c.consumer(groupConfig("auto-g").enableAutoCommit(true)
             .autoCommitInterval(Duration.ofMillis(100)).build())) {
      consumer.subscribe(List.of(topic));
      assertThat(pollUntil(consumer, 300)).hasSize(300);
      // A later poll commits what the earlier ones returned.
      await().atMost(Duration.ofSeconds(20)).until(() -> {
        consumer.poll(Duration.ofMillis(100));
        return committed("auto-g", tps.get(0)) + committed("auto-g", tps.get(1)) == 300;
      });
      produce(topic, 300, 400);
      assertThat(pollUntil(consumer, 100)).hasSize(100);
    }
    // close() committed the last 100 too.
    assertThat(committed("auto-g", tps.get(0)) + committed("auto-g", tps.get(1))).isEqualTo(400);
  }

  @Test
  void resetNoneWithoutACommittedOffsetIsAClearError() throws Exception {
    String topic = "reset-none";
    createTopic(topic, 1);
    produce(topic, 0, 5);
    try (RaftMqClient c = RaftMqClient.connect(cluster.bootstrap());
         Consumer consumer = c.consumer(groupConfig("none-g").autoOffsetReset(OffsetReset.NONE).build())) {
      consumer.subscribe(List.of(topic));
      await().atMost(Duration.ofSeconds(30)).ignoreExceptionsMatching(e -> false).until(() -> {
        try {
          consumer.poll(Duration.ofMillis(100));
          return false;
        } catch (RaftMqException e) {
          assertThat(e.getMessage()).contains("NONE").contains(topic);
          return true;
        }
      });
      // Seeking gives it a position.
      consumer.seek(new TopicPartition(topic, 0), 2);
      assertThat(pollUntil(consumer, 3).get(0).offset()).isEqualTo(2);
    }
  }

  @Test
  void pausedPartitionsReturnNothingUntilResumed() throws Exception {
    String topic = "pause";
    createTopic(topic, 2);
    TopicPartition p0 = new TopicPartition(topic, 0);
    try (RaftMqClient c = RaftMqClient.connect(cluster.bootstrap());
         Consumer consumer = c.consumer(groupConfig("pause-g").build())) {
      consumer.subscribe(List.of(topic));
      await().atMost(Duration.ofSeconds(30)).until(() -> {
        consumer.poll(Duration.ofMillis(50));
        return consumer.assignment().size() == 2;
      });
      consumer.pause(List.of(p0));
      assertThat(consumer.paused()).containsExactly(p0);
      produce(topic, 0, 200);
      long end = System.nanoTime() + Duration.ofSeconds(2).toNanos();
      int other = 0;
      while (System.nanoTime() < end) {
        for (ConsumerRecord r : consumer.poll(Duration.ofMillis(100))) {
          assertThat(r.partition()).isEqualTo(1);
          other++;
        }
      }
      assertThat(other).isPositive();
      consumer.resume(List.of(p0));
      assertThat(pollUntil(consumer, 1).get(0).partition()).isZero();
    }
  }

  @Test
  void lagIsExportedOnMetrics() throws Exception {
    String topic = "lagged";
    createTopic(topic, 1);
    produce(topic, 0, 50);
    TopicPartition tp = new TopicPartition(topic, 0);
    try (RaftMqClient c = RaftMqClient.connect(cluster.bootstrap());
         Consumer consumer = c.consumer(groupConfig("lag-g").build())) {
      consumer.subscribe(List.of(topic));
      pollUntil(consumer, 50);
      consumer.commitSync(Map.of(tp, 20L));
    }
    int leader = cluster.awaitLeaderOf(topic, 0);
    java.net.http.HttpClient http = java.net.http.HttpClient.newHttpClient();
    String body = http.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create(
            "http://127.0.0.1:" + cluster.node(leader).httpPort() + "/metrics")).build(),
        java.net.http.HttpResponse.BodyHandlers.ofString()).body();
    assertThat(body).contains("raftmq_consumer_group_lag{group=\"lag-g\",partition=\"0\",topic=\"lagged\"} 30.0");
  }

  @Test
  void aMemberThatStopsPollingLeavesAfterMaxPollInterval() throws Exception {
    String topic = "stuck";
    createTopic(topic, 2);
    Map<TopicPartition, String> exclusive = new ConcurrentHashMap<>();
    AtomicInteger lost = new AtomicInteger();
    Set<TopicPartition> stuckOwned = ConcurrentHashMap.newKeySet();
    try (RaftMqClient c = RaftMqClient.connect(cluster.bootstrap());
         Consumer stuck = c.consumer(groupConfig("stuck-g").maxPollInterval(Duration.ofSeconds(2)).build())) {
      stuck.subscribe(List.of(topic), new RebalanceListener() {
        @Override
        public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
          stuckOwned.removeAll(partitions);
        }

        @Override
        public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
          stuckOwned.addAll(partitions);
        }

        @Override
        public void onPartitionsLost(Collection<TopicPartition> partitions) {
          lost.addAndGet(partitions.size());
          stuckOwned.removeAll(partitions);
        }
      });
      await().atMost(Duration.ofSeconds(30)).until(() -> {
        stuck.poll(Duration.ofMillis(100));
        return stuckOwned.size() == 2;
      });
      Member other = new Member("other", "stuck-g", topic, exclusive);
      try {
        // stuck does not poll any more: it leaves by itself and other gets everything.
        await().atMost(Duration.ofSeconds(30)).until(() -> other.owned.size() == 2);
        stuck.poll(Duration.ofMillis(100));
        assertThat(lost.get()).as("the next poll reports the partitions lost").isEqualTo(2);
        // It joins again and gets its share back.
        await().atMost(Duration.ofSeconds(30)).until(() -> {
          stuck.poll(Duration.ofMillis(100));
          return stuckOwned.size() == 1 && other.owned.size() == 1;
        });
        assertThat(other.failure).isNull();
      } finally {
        other.close();
      }
    }
  }
}
