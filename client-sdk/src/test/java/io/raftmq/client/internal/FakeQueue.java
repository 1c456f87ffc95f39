package io.raftmq.client.internal;

import io.raftmq.protocol.ErrorCode;
import io.raftmq.protocol.ExtendItem;
import io.raftmq.protocol.LeaderHint;
import io.raftmq.protocol.LeaseRuns;
import io.raftmq.protocol.NackItem;
import io.raftmq.protocol.PartitionReceive;
import io.raftmq.protocol.PartitionReceiveResult;
import io.raftmq.protocol.PartitionSettle;
import io.raftmq.protocol.PartitionSettleResult;
import io.raftmq.protocol.QueueReceiveRequest;
import io.raftmq.protocol.QueueReceiveResponse;
import io.raftmq.protocol.QueueSettleResponse;
import io.raftmq.protocol.RejectItem;
import io.raftmq.protocol.Response;
import io.raftmq.protocol.SettleResult;
import io.raftmq.protocol.TestBatches;
import io.raftmq.protocol.TestBatches.Rec;
import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * A queue group on fake nodes, enough to drive the SDK: per partition a log of one-record frames,
 * offsets leased in order (nacked ones first), settles applied and recorded (acks a receive carries
 * too, as a settle of their partition). A receive with nothing to lease and no acks answers after its
 * max wait (a long poll). Partitions listed in {@link #notLeader} answer
 * NOT_LEADER with a hint to {@link #hint}. Thread-safe (one lock).
 */
final class FakeQueue implements AutoCloseable {
  final String topic;
  private final Map<Integer, List<Rec>> logs = new TreeMap<>();
  private final Map<Integer, ArrayDeque<Long>> available = new TreeMap<>();
  private final Map<Integer, Long> nextNew = new TreeMap<>();
  private final Map<String, Integer> counts = new ConcurrentHashMap<>();
  private final Set<String> leased = ConcurrentHashMap.newKeySet();
  /** Every partition settle received, in order. */
  final List<PartitionSettle> settles = new CopyOnWriteArrayList<>();
  /** Every receive request received, in order. */
  final List<QueueReceiveRequest> receives = new CopyOnWriteArrayList<>();
  final Set<Integer> notLeader = ConcurrentHashMap.newKeySet();
  /** Deliveries handed out so far. */
  final java.util.concurrent.atomic.AtomicInteger delivered = new java.util.concurrent.atomic.AtomicInteger();
  volatile FakeNode hint;
  private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor();

  FakeQueue(String topic) {
    this.topic = topic;
  }

  /** Appends records with these values (keys "k" + value) to {@code partition}. */
  synchronized FakeQueue produce(int partition, String... values) {
    List<Rec> log = logs.computeIfAbsent(partition, p -> new ArrayList<>());
    for (String v : values) {
      log.add(Rec.of("k" + v, v));
    }
    available.computeIfAbsent(partition, p -> new ArrayDeque<>());
    nextNew.putIfAbsent(partition, 0L);
    return this;
  }

  /** Makes {@code node} answer this queue's requests. */
  FakeQueue serve(FakeNode node) {
    node.on(io.raftmq.protocol.ApiKey.QUEUE_RECEIVE, this::receive);
    node.on(io.raftmq.protocol.ApiKey.QUEUE_SETTLE, this::settle);
    return this;
  }

  private static String id(int partition, long offset) {
    return partition + "@" + offset;
  }

  private FakeBroker.Reply receive(FakeBroker.Exchange ex) {
    QueueReceiveRequest req = ex.request.getQueueReceive();
    receives.add(req);
    QueueReceiveResponse.Builder resp = QueueReceiveResponse.newBuilder();
    List<ByteBuffer> body = new ArrayList<>();
    int total = 0;
    synchronized (this) {
      for (PartitionReceive pr : req.getPartitionsList()) {
        PartitionReceiveResult.Builder r = PartitionReceiveResult.newBuilder().setTopic(pr.getTopic())
            .setPartition(pr.getPartition());
        if (notLeader.contains(pr.getPartition())) {
          FakeNode h = hint;
          r.setError(ErrorCode.NOT_LEADER).setLeader(LeaderHint.newBuilder().setNodeId(h.nodeId).setHost("127.0.0.1")
              .setPort(h.broker.port()));
          resp.addResults(r);
          continue;
        }
        List<Long> carried = allAcks(pr);
        if (!carried.isEmpty()) {
          // Acks carried by the receive: applied first, recorded as a settle of the partition.
          settles.add(PartitionSettle.newBuilder().setTopic(pr.getTopic()).setPartition(pr.getPartition())
              .addAllAcks(carried).build());
          r.setAcksApplied(true);
          for (long o : carried) {
            if (!leased.remove(id(pr.getPartition(), o))) {
              r.addRefusedAcks(result(o, false, 0));
            }
          }
        }
        int size = 0;
        List<Rec> log = logs.getOrDefault(pr.getPartition(), List.of());
        ArrayDeque<Long> avail = available.computeIfAbsent(pr.getPartition(), p -> new ArrayDeque<>());
        List<Long> got = new ArrayList<>();
        while (got.size() < pr.getMaxMessages() && !avail.isEmpty()) {
          got.add(avail.poll());
        }
        long next = nextNew.getOrDefault(pr.getPartition(), 0L);
        while (got.size() < pr.getMaxMessages() && next < log.size()) {
          got.add(next++);
        }
        nextNew.put(pr.getPartition(), next);
        got.sort(null);
        LeaseRuns.Writer runs = new LeaseRuns.Writer(r::addLeaseRuns);
        for (long o : got) {
          int c = counts.merge(id(pr.getPartition(), o), 1, Integer::sum);
          leased.add(id(pr.getPartition(), o));
          runs.add(o, c);
          r.setLeaseDeadlineMs(System.currentTimeMillis() + 30_000);
          ByteBuffer f = TestBatches.frame(o, 1, 1000, List.of(log.get((int) o)));
          size += f.remaining();
          body.add(f);
        }
        runs.flush();
        total += got.size();
        delivered.addAndGet(got.size());
        resp.addResults(r.setRecordsSize(size));
      }
    }
    FakeBroker.Reply reply = new FakeBroker.Reply(Response.newBuilder().setQueueReceive(resp),
        TestBatches.concat(body.toArray(ByteBuffer[]::new)));
    boolean acks = req.getPartitionsList().stream().anyMatch(pr -> !allAcks(pr).isEmpty());
    if (total == 0 && req.getMaxWaitMs() > 0 && !acks) {
      timer.schedule(() -> ex.reply(reply.header(), reply.body()), req.getMaxWaitMs(), TimeUnit.MILLISECONDS);
      return null;
    }
    return reply;
  }

  private FakeBroker.Reply settle(FakeBroker.Exchange ex) {
    QueueSettleResponse.Builder resp = QueueSettleResponse.newBuilder();
    synchronized (this) {
      for (PartitionSettle ps : ex.request.getQueueSettle().getPartitionsList()) {
        PartitionSettleResult.Builder r = PartitionSettleResult.newBuilder().setTopic(ps.getTopic())
            .setPartition(ps.getPartition());
        if (notLeader.contains(ps.getPartition())) {
          FakeNode h = hint;
          resp.addResults(r.setError(ErrorCode.NOT_LEADER).setLeader(LeaderHint.newBuilder().setNodeId(h.nodeId)
              .setHost("127.0.0.1").setPort(h.broker.port())));
          continue;
        }
        settles.add(ps);
        int p = ps.getPartition();
        for (long o : ps.getAcksList()) {
          if (!leased.remove(id(p, o))) {
            r.addResults(result(o, false, 0)); // like the broker: only refused acks have a result
          }
        }
        for (NackItem n : ps.getNacksList()) {
          boolean held = leased.remove(id(p, n.getOffset()));
          if (held) {
            available.computeIfAbsent(p, k -> new ArrayDeque<>()).add(n.getOffset());
          }
          r.addResults(result(n.getOffset(), held, 0));
        }
        for (RejectItem x : ps.getRejectsList()) {
          r.addResults(result(x.getOffset(), leased.remove(id(p, x.getOffset())), 0));
        }
        for (ExtendItem x : ps.getExtendsList()) {
          r.addResults(result(x.getOffset(), leased.contains(id(p, x.getOffset())),
              System.currentTimeMillis() + x.getLeaseMs()));
        }
        for (long o : ps.getReleasesList()) {
          // Like the broker: back at once, in place, and the delivery taken back.
          boolean held = leased.remove(id(p, o));
          if (held) {
            available.computeIfAbsent(p, k -> new ArrayDeque<>()).addFirst(o);
            counts.merge(id(p, o), -1, Integer::sum);
          }
          r.addResults(result(o, held, 0));
        }
        resp.addResults(r);
      }
    }
    return FakeBroker.Reply.of(Response.newBuilder().setQueueSettle(resp));
  }

  private static SettleResult result(long offset, boolean held, long deadline) {
    return SettleResult.newBuilder().setOffset(offset).setError(held ? ErrorCode.NONE : ErrorCode.LEASE_NOT_HELD)
        .setLeaseDeadlineMs(deadline).build();
  }

  /** Acked offsets of {@code partition} so far. */
  List<Long> acked(int partition) {
    List<Long> out = new ArrayList<>();
    settles.stream().filter(s -> s.getPartition() == partition).forEach(s -> out.addAll(s.getAcksList()));
    return out;
  }

  /** Every nack item so far. */
  List<NackItem> nacks() {
    List<NackItem> out = new ArrayList<>();
    settles.forEach(s -> out.addAll(s.getNacksList()));
    return out;
  }

  /** Every reject item so far. */
  List<RejectItem> rejects() {
    List<RejectItem> out = new ArrayList<>();
    settles.forEach(s -> out.addAll(s.getRejectsList()));
    return out;
  }

  /** Every released offset so far (of any partition). */
  List<Long> releases() {
    List<Long> out = new ArrayList<>();
    settles.forEach(s -> out.addAll(s.getReleasesList()));
    return out;
  }

  /** Every extend item so far. */
  List<ExtendItem> extendItems() {
    List<ExtendItem> out = new ArrayList<>();
    settles.forEach(s -> out.addAll(s.getExtendsList()));
    return out;
  }

  @Override
  public void close() {
    timer.shutdownNow();
  }

  /** A receive's carried acks: its plain acks, then its ack runs expanded, in order. */
  static List<Long> allAcks(PartitionReceive pr) {
    List<Long> out = new ArrayList<>(pr.getAcksList());
    for (int i = 0; i + 1 < pr.getAckRunsCount(); i += 2) {
      for (long o = pr.getAckRuns(i); o < pr.getAckRuns(i) + pr.getAckRuns(i + 1); o++) {
        out.add(o);
      }
    }
    return out;
  }
}
