package io.raftmq.partition;

import io.raftmq.raft.proto.Acquire;
import io.raftmq.raft.proto.Expire;
import io.raftmq.raft.proto.Extend;
import io.raftmq.raft.proto.Nack;
import io.raftmq.raft.proto.OffsetDelay;
import io.raftmq.raft.proto.PartitionReply;
import io.raftmq.raft.proto.QueueConfig;
import io.raftmq.raft.proto.QueueEntry;
import io.raftmq.raft.proto.QueueGroupSnapshot;
import io.raftmq.raft.proto.QueueOutcome;
import io.raftmq.raft.proto.QueueResult;
import io.raftmq.raft.proto.QueueSettle;
import io.raftmq.raft.proto.QueueState;
import io.raftmq.raft.proto.Redrive;
import io.raftmq.raft.proto.Reject;
import io.raftmq.raft.proto.RejectItem;
import io.raftmq.raft.proto.ExtendItem;
import io.raftmq.raft.proto.Settle;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.function.IntToLongFunction;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * One queue group's state in one partition: which offsets are available (and from when), leased (to
 * whom, until when), or dead, with their delivery counts. Every change is a committed command, so a
 * failover never resets a delivery count or loses a lease. Deterministic: times come from the
 * command's leader time, jittered delays are resolved by the leader. Not thread-safe (apply thread).
 *
 * <p>Offsets below {@code start} are settled; offsets at or above {@code end} have never been seen;
 * {@code live} holds the unsettled offsets in between (available or leased) in primitive arrays
 * ({@link QueueEntries}: no object per message); {@code dead} holds the dead-lettered ones (kept for
 * listing and redrive). Commands write their outcome into the partition's reply: an acquire's leases
 * as packed offsets and counts, a settle's refused acks and every other per-offset result.
 */
public final class QueueGroup {
  /** Longest ack run an apply walks (the broker refuses more acks than this per partition anyway). */
  static final long MAX_ACK_RUN = 1_000_000;

  static final String MAX_DELIVERIES = "MAX_DELIVERIES";
  static final String REJECTED = "REJECTED";
  static final String EXPIRED = "EXPIRED";
  /** Bounds of a client's error text kept with a dead letter. */
  static final int MAX_ERROR_CHARS = 1024;

  /** At most this many unforwarded dead letters are published to the forwarder at a time. */
  static final int UNFORWARDED_VIEW = 64;

  /**
   * What other threads may read of a queue group (the broker's receive path, the leader's expiry timer
   * and dead-letter forwarder, metrics): immutable, replaced after every command on the group.
   *
   * @param version bumped by every command that changed the group
   * @param nextVisibleAtMs earliest visible-at time of a waiting message that the last acquire skipped
   *     only because it was not visible yet, or after a nack, expiry or redrive (Long.MAX_VALUE: none)
   * @param minLeaseDeadlineMs earliest lease deadline (Long.MAX_VALUE: no lease)
   * @param unforwarded dead letters not yet copied to the DLQ topic, lowest dead-letter sequence first
   */
  public record Stats(String group, QueueConfig config, long version, long start, long end, int inFlight,
      int available, int dead, long nextVisibleAtMs, long minLeaseDeadlineMs, long redelivered,
      long leaseExpiries, long acked, Map<String, Long> deadByReason, long oldestDeadMs,
      List<QueueEntry> unforwarded) {}

  private final String name;
  /** FNV-1a of the group's name: the seed of its backoff jitter. */
  private final long nameHash;
  private QueueConfig config;
  private long start;
  private long end;
  /** The unsettled offsets between start and end (available or leased). */
  private final QueueEntries live = new QueueEntries();
  /** Every AVAILABLE live entry is at or above this offset (where an unordered acquire starts looking). */
  private long scanFrom;
  /** Dead entries, immutable values: readable from any thread (describe, dlq show). */
  private final ConcurrentSkipListMap<Long, QueueEntry> dead = new ConcurrentSkipListMap<>();
  private final Set<Long> parkedKeys = new TreeSet<>();
  /** Lease deadlines of the leased entries. */
  private final LongMultiset deadlines = new LongMultiset();
  private final TreeMap<String, Long> deadByReason = new TreeMap<>();
  /** Dead-at times of the dead entries, as a multiset. */
  private final TreeMap<Long, Integer> deadTimes = new TreeMap<>();
  /** Dead entries not yet copied to the DLQ topic, by dead-letter sequence. */
  private final TreeMap<Long, QueueEntry> unforwarded = new TreeMap<>();
  private List<QueueEntry> unforwardedView;
  private int leased;
  private long nextDeadLetterSequence;
  private long redelivered;
  private long leaseExpiries;
  private long acked;
  private long version;
  private long nextVisibleAtMs = Long.MAX_VALUE;
  private volatile Stats stats;

  QueueGroup(String name, QueueConfig config, long startOffset) {
    this.name = name;
    long h = 0xcbf29ce484222325L;
    for (byte b : name.getBytes(StandardCharsets.UTF_8)) {
      h = (h ^ b) * 0x100000001b3L;
    }
    this.nameHash = h;
    this.config = config;
    this.start = startOffset;
    this.end = startOffset;
    this.scanFrom = startOffset;
    publish();
  }

  static QueueGroup restore(QueueGroupSnapshot s) {
    QueueGroup g = new QueueGroup(s.getGroup(), s.getConfig(), s.getStart());
    g.end = s.getEnd();
    for (QueueEntry e : s.getEntriesList()) {
      if (e.getState() == QueueState.DEAD) {
        g.putDead(e);
        continue;
      }
      int i = g.live.insert(e.getOffset(), e.getKeyHash(), e.getExpiresAtMs());
      g.live.deliveries[i] = e.getDeliveryCount();
      g.live.visibleAt[i] = e.getVisibleAtMs();
      g.live.firstFailure[i] = e.getFirstFailureMs();
      g.live.lastFailure[i] = e.getLastFailureMs();
      g.live.redrives[i] = e.getRedrives();
      if (e.getState() == QueueState.LEASED) {
        g.live.state[i] = QueueEntries.LEASED;
        g.live.consumer[i] = e.getConsumer();
        g.live.leaseDeadline[i] = e.getLeaseDeadlineMs();
        g.leased++;
        g.deadlines.add(e.getLeaseDeadlineMs(), 1);
      } else {
        g.nextVisibleAtMs = Math.min(g.nextVisibleAtMs, e.getVisibleAtMs());
      }
    }
    g.parkedKeys.addAll(s.getParkedKeysList());
    g.nextDeadLetterSequence = s.getNextDeadLetterSequence();
    g.redelivered = s.getRedelivered();
    g.leaseExpiries = s.getLeaseExpiries();
    g.acked = s.getAcked();
    g.version = s.getVersion();
    g.publish();
    return g;
  }

  QueueGroupSnapshot snapshot(String name) {
    QueueGroupSnapshot.Builder b = QueueGroupSnapshot.newBuilder().setGroup(name).setConfig(config)
        .setStart(start).setEnd(end).addAllParkedKeys(parkedKeys)
        .setNextDeadLetterSequence(nextDeadLetterSequence).setRedelivered(redelivered)
        .setLeaseExpiries(leaseExpiries).setAcked(acked).setVersion(version);
    // Offset order over live and dead keeps snapshots byte-identical across replicas.
    Iterator<QueueEntry> deadIt = dead.values().iterator();
    QueueEntry nextDead = deadIt.hasNext() ? deadIt.next() : null;
    for (int i = live.head(); i < live.tail(); i++) {
      if (live.state[i] == QueueEntries.FREE) {
        continue;
      }
      while (nextDead != null && nextDead.getOffset() < live.offset[i]) {
        b.addEntries(nextDead);
        nextDead = deadIt.hasNext() ? deadIt.next() : null;
      }
      b.addEntries(toEntry(i));
    }
    while (nextDead != null) {
      b.addEntries(nextDead);
      nextDead = deadIt.hasNext() ? deadIt.next() : null;
    }
    return b.build();
  }

  void configure(QueueConfig c) {
    config = c;
    changed();
  }

  /** The group's state for other threads (a moment's view). */
  public Stats stats() {
    return stats;
  }

  /** Dead entries in offset order (any thread; weakly consistent). */
  public Iterable<QueueEntry> deadView() {
    return dead.values();
  }

  /** Called by every command that changed something: bumps the version and publishes the stats. */
  private void changed() {
    version++;
    publish();
  }

  private void publish() {
    if (unforwardedView == null) {
      List<QueueEntry> view = new ArrayList<>(Math.min(UNFORWARDED_VIEW, unforwarded.size()));
      for (QueueEntry e : unforwarded.values()) {
        if (view.size() == UNFORWARDED_VIEW) {
          break;
        }
        view.add(e);
      }
      unforwardedView = List.copyOf(view);
    }
    stats = new Stats(name, config, version, start, end, leased, live.size() - leased, dead.size(),
        nextVisibleAtMs, deadlines.isEmpty() ? Long.MAX_VALUE : deadlines.min(), redelivered,
        leaseExpiries, acked, Map.copyOf(deadByReason), deadTimes.isEmpty() ? 0 : deadTimes.firstKey(),
        unforwardedView);
  }

  QueueConfig config() {
    return config;
  }

  long start() {
    return start;
  }

  long end() {
    return end;
  }

  int leasedCount() {
    return leased;
  }

  /** The table of live entries (tests only). */
  QueueEntries liveTableForTest() {
    return live;
  }

  int deadCount() {
    return dead.size();
  }

  // ---- commands ----

  /**
   * Settles the consumer's acks carried in the command (refused ones as results in {@code out}, as a
   * settle lists them), takes in the new records the leader described (if it read them from the group's
   * end as it is now), then leases up to {@code max} visible messages in offset order to the consumer;
   * the leases go to {@code out}'s lease runs (unless {@code reportLeases} is false: a reply that
   * reaches no one).
   */
  void acquire(Acquire a, long now, long highWatermark, PartitionReply.Builder out) {
    acquire(a, now, highWatermark, out, true);
  }

  void acquire(Acquire a, long now, long highWatermark, PartitionReply.Builder out, boolean reportLeases) {
    boolean change = false;
    if ((a.getAcksCount() > 0 || a.getAckRunsCount() > 0) && !a.getConsumer().isEmpty()) {
      // The consumer's acks first (a refused one adds a result, as in a settle): they free in-flight room.
      String consumer = a.getConsumer();
      ackList(a::getAcks, a.getAcksCount(), consumer, now, out);
      // Then the runs; the broker checked them, and a malformed pair is skipped alike on every replica.
      for (int k = 0, n = a.getAckRunsCount() - 1; k < n; k += 2) {
        long first = a.getAckRuns(k);
        long length = a.getAckRuns(k + 1);
        if (first < 0 || length < 1 || length > MAX_ACK_RUN) {
          continue;
        }
        ackRun(first, length, consumer, now, out);
      }
      advanceStart();
      change = true;
    }
    if (a.getMax() <= 0 || a.getLeaseMs() <= 0 || a.getConsumer().isEmpty()) {
      if (change) {
        live.compact();
        changed();
      }
      return;
    }
    if (a.getFirstNewOffset() == end) {
      int n = a.getNewRecordCount();
      boolean keys = a.getNewKeyHashesCount() == n;
      boolean ttls = a.getNewExpiresAtMsCount() == n;
      int take = (int) Math.max(0, Math.min(n, highWatermark - end));
      if (!keys && !ttls) {
        // Plain records (no key, no expiry): one run, written a column at a time.
        live.appendRun(end, take);
        end += take;
        change |= take > 0;
      } else {
        live.reserve(take);
        for (int k = 0; k < take; k++) {
          live.append(end, keys ? a.getNewKeyHashes(k) : 0, ttls ? a.getNewExpiresAtMs(k) : 0);
          end++;
          change = true;
        }
      }
    }
    // After the new records, not between the acks and them: acks that settle every live entry would
    // otherwise shrink the table to nothing for the appends to grow it back at once (in a busy group, at
    // most of its acquires: a fifth of the apply thread's time, in new arrays and their copies).
    live.compact();
    boolean byKey = config.getOrderingKey();
    LongSet keysAhead = byKey ? new LongSet(Math.min(live.size(), a.getMax() * 4 + 64)) : null;
    String consumer = a.getConsumer();
    long deadline = now + a.getLeaseMs();
    int max = a.getMax();
    int maxInFlight = config.getMaxInFlight();
    int taken = 0;
    int expiredCount = 0;
    int[] expired = null;
    long nextVisible = Long.MAX_VALUE;
    long firstLeft = Long.MAX_VALUE;
    int tail = live.tail();
    // The open run of leases (consecutive offsets, same delivery count), written when it ends.
    long runStart = -1;
    long runLength = 0;
    int runCount = 0;
    int i = byKey ? live.head() : live.lowerBound(scanFrom);
    for (; i < tail; i++) {
      byte st = live.state[i];
      if (st == QueueEntries.FREE) {
        continue;
      }
      if (taken >= max || leased >= maxInFlight) {
        nextVisible = Math.min(nextVisible, nextVisibleAtMs);
        firstLeft = Math.min(firstLeft, live.offset[i]);
        break;
      }
      if (byKey) {
        long key = live.keyHash[i];
        if (key != 0 && (!keysAhead.add(key) || parkedKeys.contains(key))) {
          if (st == QueueEntries.AVAILABLE) {
            firstLeft = Math.min(firstLeft, live.offset[i]);
          }
          continue;
        }
      }
      if (st != QueueEntries.AVAILABLE) {
        continue;
      }
      if (live.visibleAt[i] > now) {
        nextVisible = Math.min(nextVisible, live.visibleAt[i]);
        firstLeft = Math.min(firstLeft, live.offset[i]);
        continue;
      }
      long expires = live.expiresAt[i];
      if (expires > 0 && expires <= now) {
        if (expired == null) {
          expired = new int[16];
        } else if (expiredCount == expired.length) {
          expired = java.util.Arrays.copyOf(expired, expiredCount * 2);
        }
        expired[expiredCount++] = i;
        continue;
      }
      int count = live.deliveries[i] + 1;
      if (count > 1) {
        redelivered++;
      }
      live.state[i] = QueueEntries.LEASED;
      live.deliveries[i] = count;
      live.consumer[i] = consumer;
      live.leaseDeadline[i] = deadline;
      leased++;
      taken++;
      if (reportLeases) {
        long offset = live.offset[i];
        if (runLength > 0 && offset == runStart + runLength && count == runCount) {
          runLength++;
        } else {
          if (runLength > 0) {
            out.addLeasedRuns(runStart).addLeasedRuns(runLength).addLeasedRuns(runCount);
          }
          runStart = offset;
          runLength = 1;
          runCount = count;
        }
      }
    }
    if (runLength > 0) {
      out.addLeasedRuns(runStart).addLeasedRuns(runLength).addLeasedRuns(runCount);
    }
    if (taken > 0) {
      deadlines.add(deadline, taken);
      out.setLeaseDeadlineMs(deadline);
    }
    nextVisibleAtMs = nextVisible;
    scanFrom = Math.min(firstLeft, end);
    for (int k = 0; k < expiredCount; k++) {
      int e = expired[k];
      if (config.getDropExpired()) {
        live.remove(e);
      } else {
        die(e, EXPIRED, "", "", now);
      }
    }
    advanceStart();
    if (change || taken > 0 || expiredCount > 0) {
      changed();
    } else {
      publish();
    }
  }

  /**
   * All of one consumer's settlements in one command, in the order acks, nacks, rejects, extends,
   * releases. An ack that succeeds adds no result (the reply lists refused acks only); every nack,
   * reject, extend and release adds one.
   */
  void settle(Settle s, long now, PartitionReply.Builder out) {
    String consumer = s.getConsumer();
    ackList(s::getAcks, s.getAcksCount(), consumer, now, out);
    for (OffsetDelay d : s.getNacksList()) {
      out.addQueueResults(nackOne(d, consumer, now));
    }
    for (RejectItem r : s.getRejectsList()) {
      out.addQueueResults(rejectOne(r.getOffset(), consumer, r.getReason(), r.getErrorClass(), r.getErrorMessage(),
          now));
    }
    for (ExtendItem x : s.getExtendsList()) {
      out.addQueueResults(extendOne(x.getOffset(), consumer, x.getLeaseMs(), now));
    }
    for (int k = 0, n = s.getReleasesCount(); k < n; k++) {
      out.addQueueResults(releaseOne(s.getReleases(k), consumer, now));
    }
    advanceStart();
    live.compact();
    changed();
  }

  void ack(QueueSettle s, long now, PartitionReply.Builder out) {
    settle(Settle.newBuilder().setConsumer(s.getConsumer()).addAllAcks(s.getOffsetsList()).build(), now, out);
  }

  void nack(Nack n, long now, PartitionReply.Builder out) {
    settle(Settle.newBuilder().setConsumer(n.getConsumer()).addAllNacks(n.getOffsetsList()).build(), now, out);
  }

  void reject(Reject r, long now, PartitionReply.Builder out) {
    Settle.Builder s = Settle.newBuilder().setConsumer(r.getConsumer());
    for (long offset : r.getOffsetsList()) {
      s.addRejects(RejectItem.newBuilder().setOffset(offset).setReason(r.getReason())
          .setErrorClass(r.getErrorClass()).setErrorMessage(r.getErrorMessage()));
    }
    settle(s.build(), now, out);
  }

  void extend(Extend x, long now, PartitionReply.Builder out) {
    Settle.Builder s = Settle.newBuilder().setConsumer(x.getConsumer());
    for (long offset : x.getOffsetsList()) {
      s.addExtends(ExtendItem.newBuilder().setOffset(offset).setLeaseMs(x.getLeaseMs()));
    }
    settle(s.build(), now, out);
  }

  /** Acks of the offsets of {@code acks} in their order: each stretch of consecutive ones as one run. */
  private void ackList(IntToLongFunction acks, int n, String consumer, long now, PartitionReply.Builder out) {
    int k = 0;
    while (k < n) {
      long first = acks.applyAsLong(k);
      int j = k + 1;
      while (j < n && acks.applyAsLong(j) == first + (j - k)) {
        j++;
      }
      ackRun(first, j - k, consumer, now, out);
      k = j;
    }
  }

  /**
   * Acks of {@code length} consecutive offsets from {@code first}, with the outcome of acking each in
   * turn (a refused one adds a result, in offset order), at a cost per message of a few array accesses:
   * the next offset is looked for in the next slot before the table is searched, the lessee's name is
   * compared in full only when its reference differs from the last one matched (the leases of one
   * acquire share it), and lease deadlines leave the multiset per run of equal ones (one acquire's).
   */
  private void ackRun(long first, long length, String consumer, long now, PartitionReply.Builder out) {
    String same = null;
    long runDeadline = 0;
    int runCount = 0;
    int i = -1;
    for (long o = first, last = first + length; o < last; o++) {
      int next = i + 1;
      if (i >= 0 && next < live.tail() && live.offset[next] == o && live.state[next] != QueueEntries.FREE) {
        i = next;
      } else {
        i = live.find(o);
      }
      QueueOutcome check;
      String lessee = i < 0 ? null : live.consumer[i];
      if (lessee == null || live.state[i] != QueueEntries.LEASED || lessee != same && !consumer.equals(lessee)) {
        check = QueueOutcome.Q_NOT_LEASED;
      } else {
        same = lessee;
        check = live.leaseDeadline[i] <= now ? QueueOutcome.Q_LEASE_EXPIRED : QueueOutcome.Q_OK;
      }
      if (check != QueueOutcome.Q_OK) {
        out.addQueueResults(refused(o, i, check));
        continue;
      }
      long deadline = live.leaseDeadline[i];
      if (deadline != runDeadline) {
        if (runCount > 0) {
          deadlines.remove(runDeadline, runCount);
        }
        runDeadline = deadline;
        runCount = 0;
      }
      runCount++;
      leased--;
      live.free(i);
      acked++;
    }
    if (runCount > 0) {
      deadlines.remove(runDeadline, runCount);
    }
    live.settleHead();
  }

  private QueueResult nackOne(OffsetDelay d, String consumer, long now) {
    int i = live.find(d.getOffset());
    QueueOutcome check = checkLease(i, consumer, now);
    if (check != QueueOutcome.Q_OK || !d.getBackoff() && d.getDelayMs() < 0) {
      return refused(d.getOffset(), i, check == QueueOutcome.Q_OK ? QueueOutcome.Q_INVALID : check);
    }
    return release(i, d.getBackoff() ? backoffMs(d.getOffset(), live.deliveries[i]) : d.getDelayMs(), now,
        bound(d.getErrorClass()), bound(d.getErrorMessage()));
  }

  private QueueResult rejectOne(long offset, String consumer, String reason, String errorClass,
      String errorMessage, long now) {
    int i = live.find(offset);
    QueueOutcome check = checkLease(i, consumer, now);
    if (check != QueueOutcome.Q_OK) {
      return refused(offset, i, check);
    }
    unlease(i);
    live.lastFailure[i] = now;
    if (live.firstFailure[i] == 0) {
      live.firstFailure[i] = now;
    }
    QueueEntry e = die(i, REJECTED, bound(errorClass), bound(reason.isEmpty() ? errorMessage
        : reason + (errorMessage.isEmpty() ? "" : ": " + errorMessage)), now);
    return QueueResult.newBuilder().setOffset(offset).setOutcome(QueueOutcome.Q_OK).setEntry(e).build();
  }

  /**
   * A lease given back unseen: the message is visible again at once, in its place (the next acquire
   * leases it first, and with ordering by key its later messages still wait for it), and the delivery
   * the acquire counted is taken back, with no failure recorded. Refused, changing nothing, unless
   * {@code consumer} holds an unexpired lease on it.
   */
  private QueueResult releaseOne(long offset, String consumer, long now) {
    int i = live.find(offset);
    QueueOutcome check = checkLease(i, consumer, now);
    if (check != QueueOutcome.Q_OK) {
      return refused(offset, i, check);
    }
    unlease(i);
    live.consumer[i] = null;
    live.leaseDeadline[i] = 0;
    live.state[i] = QueueEntries.AVAILABLE;
    live.visibleAt[i] = 0;
    if (live.deliveries[i] > 0) {
      live.deliveries[i]--;
    }
    nextVisibleAtMs = Math.min(nextVisibleAtMs, now);
    scanFrom = Math.min(scanFrom, offset);
    return result(i, QueueOutcome.Q_OK);
  }

  private QueueResult extendOne(long offset, String consumer, long leaseMs, long now) {
    int i = live.find(offset);
    QueueOutcome check = checkLease(i, consumer, now);
    if (check != QueueOutcome.Q_OK || leaseMs <= 0) {
      return refused(offset, i, check == QueueOutcome.Q_OK ? QueueOutcome.Q_INVALID : check);
    }
    deadlines.remove(live.leaseDeadline[i]);
    live.leaseDeadline[i] = now + leaseMs;
    deadlines.add(now + leaseMs, 1);
    return result(i, QueueOutcome.Q_OK);
  }

  /**
   * Leases go back to the queue: those listed (after their delays), or with no list every lease of
   * {@code consumer} (it disconnected) or, without a consumer, every lease past its deadline, after the
   * group's backoff. Extended leases are left alone.
   */
  void expire(Expire x, long now, PartitionReply.Builder out) {
    boolean all = x.getConsumer().isEmpty();
    if (x.getOffsetsCount() == 0) {
      for (int i = live.head(), tail = live.tail(); i < tail; i++) {
        if (live.state[i] == QueueEntries.LEASED
            && (all ? live.leaseDeadline[i] <= now : x.getConsumer().equals(live.consumer[i]))) {
          if (all) {
            leaseExpiries++;
          }
          out.addQueueResults(release(i, backoffMs(live.offset[i], live.deliveries[i]), now, "",
              all ? "lease expired" : "consumer disconnected"));
        }
      }
    } else {
      for (OffsetDelay d : x.getOffsetsList()) {
        int i = live.find(d.getOffset());
        if (i < 0 || live.state[i] != QueueEntries.LEASED) {
          continue;
        }
        boolean released = !all && x.getConsumer().equals(live.consumer[i]);
        if (!released && live.leaseDeadline[i] > now) {
          continue; // extended meanwhile
        }
        if (!released) {
          leaseExpiries++;
        }
        out.addQueueResults(release(i, d.getBackoff() ? backoffMs(d.getOffset(), live.deliveries[i])
            : Math.max(0, d.getDelayMs()), now, "", released ? "consumer disconnected" : "lease expired"));
      }
    }
    advanceStart();
    live.compact();
    changed();
  }

  void forwarded(QueueSettle s, PartitionReply.Builder out) {
    for (long offset : s.getOffsetsList()) {
      QueueEntry e = dead.get(offset);
      if (e == null) {
        out.addQueueResults(refused(offset, -1, QueueOutcome.Q_INVALID));
        continue;
      }
      QueueEntry marked = e.toBuilder().setForwarded(true).build();
      dead.put(offset, marked);
      if (unforwarded.remove(e.getDeadLetterSequence()) != null) {
        unforwardedView = null;
      }
      out.addQueueResults(QueueResult.newBuilder().setOffset(offset).setOutcome(QueueOutcome.Q_OK).setEntry(marked));
    }
    changed();
  }

  /** Dead entries matching the filter go back to the queue (or are purged), in offset order, up to a limit. */
  void redrive(Redrive r, long now, PartitionReply.Builder reply) {
    List<QueueResult> out = new ArrayList<>();
    int limit = r.getLimit() <= 0 ? Integer.MAX_VALUE : r.getLimit();
    List<QueueEntry> matched = new ArrayList<>();
    for (QueueEntry e : dead.values()) {
      if (matched.size() >= limit) {
        break;
      }
      if (!r.getReason().isEmpty() && !r.getReason().equals(e.getReason())
          || r.getFromTimeMs() > 0 && e.getDeadAtMs() < r.getFromTimeMs()
          || r.getToTimeMs() > 0 && e.getDeadAtMs() >= r.getToTimeMs()
          || r.getFromOffset() > 0 && e.getOffset() < r.getFromOffset()
          || r.getToOffset() > 0 && e.getOffset() >= r.getToOffset()
          || r.getByKey() && e.getKeyHash() != r.getKeyHash()) {
        continue;
      }
      if (!r.getPurge() && config.getMaxRedrives() > 0 && e.getRedrives() >= config.getMaxRedrives()) {
        out.add(QueueResult.newBuilder().setOffset(e.getOffset()).setOutcome(QueueOutcome.Q_LOOP_GUARD)
            .setEntry(e).build());
        continue; // loop guard: stays dead
      }
      matched.add(e);
    }
    for (QueueEntry e : matched) {
      if (r.getDryRun()) {
        out.add(QueueResult.newBuilder().setOffset(e.getOffset()).setOutcome(QueueOutcome.Q_OK).setEntry(e).build());
        continue;
      }
      removeDead(e);
      // Redrive or purge ("skip") of a key's dead message releases its later messages (strict ordering).
      parkedKeys.remove(e.getKeyHash());
      if (r.getPurge()) {
        out.add(QueueResult.newBuilder().setOffset(e.getOffset()).setOutcome(QueueOutcome.Q_OK).setEntry(e).build());
        continue;
      }
      int i = live.insert(e.getOffset(), e.getKeyHash(), e.getExpiresAtMs());
      live.visibleAt[i] = now;
      live.redrives[i] = e.getRedrives() + 1;
      nextVisibleAtMs = Math.min(nextVisibleAtMs, now);
      scanFrom = Math.min(scanFrom, e.getOffset());
      out.add(result(i, QueueOutcome.Q_OK));
    }
    out.sort(java.util.Comparator.comparingLong(QueueResult::getOffset));
    reply.addAllQueueResults(out);
    if (!r.getDryRun() && !matched.isEmpty()) {
      start = live.isEmpty() ? end : Math.min(start, live.firstOffset());
      changed();
    }
  }

  void skipKey(long keyHash) {
    parkedKeys.remove(keyHash);
    changed();
  }

  // ---- helpers ----

  /**
   * The backoff before attempt {@code attempts + 1}: full jitter over
   * {@code [0, min(base * 2^(attempts-1), max)]}, drawn from a hash of (group, offset, attempts), so every
   * replica computes the same value and messages failing together spread out.
   */
  long backoffMs(long offset, int attempts) {
    long base = Math.max(0, config.getBackoffBaseMs());
    long max = Math.max(base, config.getBackoffMaxMs());
    int shift = Math.max(0, Math.min(attempts - 1, 40));
    long cap = base == 0 ? 0 : (base > (max >> shift) ? max : Math.min(max, base << shift));
    if (cap <= 0) {
      return 0;
    }
    return Math.floorMod(mix(offset, attempts), cap + 1);
  }

  private long mix(long offset, int attempts) {
    long h = nameHash ^ (offset * 0x9E3779B97F4A7C15L + attempts);
    // SplitMix64 finaliser: spreads neighbouring offsets over the whole range.
    h = (h ^ (h >>> 30)) * 0xbf58476d1ce4e5b9L;
    h = (h ^ (h >>> 27)) * 0x94d049bb133111ebL;
    return h ^ (h >>> 31);
  }

  private QueueOutcome checkLease(int i, String consumer, long now) {
    if (i < 0 || live.state[i] != QueueEntries.LEASED || !consumer.equals(live.consumer[i])) {
      return QueueOutcome.Q_NOT_LEASED;
    }
    if (live.leaseDeadline[i] <= now) {
      return QueueOutcome.Q_LEASE_EXPIRED;
    }
    return QueueOutcome.Q_OK;
  }

  private void unlease(int i) {
    leased--;
    deadlines.remove(live.leaseDeadline[i]);
  }

  /** A leased entry goes back to the queue after {@code delayMs}, or dies after max deliveries. */
  private QueueResult release(int i, long delayMs, long now, String errorClass, String errorMessage) {
    unlease(i);
    live.lastFailure[i] = now;
    live.consumer[i] = null;
    live.leaseDeadline[i] = 0;
    if (live.firstFailure[i] == 0) {
      live.firstFailure[i] = now;
    }
    if (config.getMaxDeliveries() > 0 && live.deliveries[i] >= config.getMaxDeliveries()) {
      long offset = live.offset[i];
      QueueEntry e = die(i, MAX_DELIVERIES, errorClass, errorMessage, now);
      return QueueResult.newBuilder().setOffset(offset).setOutcome(QueueOutcome.Q_OK).setEntry(e).build();
    }
    live.state[i] = QueueEntries.AVAILABLE;
    live.visibleAt[i] = now + delayMs;
    nextVisibleAtMs = Math.min(nextVisibleAtMs, now + delayMs);
    scanFrom = Math.min(scanFrom, live.offset[i]);
    return result(i, QueueOutcome.Q_OK);
  }

  /** The live entry at {@code i} dies (and leaves the live table); returns its dead entry. */
  private QueueEntry die(int i, String reason, String errorClass, String errorMessage, long now) {
    QueueEntry e = toEntry(i).toBuilder().setState(QueueState.DEAD).setReason(reason).setErrorClass(errorClass)
        .setErrorMessage(errorMessage).setDeadAtMs(now).clearConsumer().setLeaseDeadlineMs(0).setForwarded(false)
        .setDeadLetterSequence(nextDeadLetterSequence++).build();
    live.remove(i);
    putDead(e);
    if (config.getOrderingKey() && config.getStrict() && e.getKeyHash() != 0) {
      parkedKeys.add(e.getKeyHash());
    }
    return e;
  }

  private void putDead(QueueEntry e) {
    dead.put(e.getOffset(), e);
    deadByReason.merge(e.getReason(), 1L, Long::sum);
    deadTimes.merge(e.getDeadAtMs(), 1, Integer::sum);
    if (!e.getForwarded()) {
      unforwarded.put(e.getDeadLetterSequence(), e);
      unforwardedView = null;
    }
  }

  private void removeDead(QueueEntry e) {
    dead.remove(e.getOffset());
    deadByReason.computeIfPresent(e.getReason(), (k, n) -> n == 1 ? null : n - 1);
    deadTimes.computeIfPresent(e.getDeadAtMs(), (k, n) -> n == 1 ? null : n - 1);
    if (unforwarded.remove(e.getDeadLetterSequence()) != null) {
      unforwardedView = null;
    }
  }

  private void advanceStart() {
    start = live.isEmpty() ? end : live.firstOffset();
  }

  private static String bound(String s) {
    return s.length() <= MAX_ERROR_CHARS ? s : s.substring(0, MAX_ERROR_CHARS);
  }

  /** The live entry at {@code i} as a message. */
  private QueueEntry toEntry(int i) {
    QueueEntry.Builder b = QueueEntry.newBuilder().setOffset(live.offset[i])
        .setState(live.state[i] == QueueEntries.LEASED ? QueueState.LEASED : QueueState.AVAILABLE)
        .setDeliveryCount(live.deliveries[i]).setVisibleAtMs(live.visibleAt[i])
        .setLeaseDeadlineMs(live.leaseDeadline[i]).setKeyHash(live.keyHash[i]).setExpiresAtMs(live.expiresAt[i])
        .setFirstFailureMs(live.firstFailure[i]).setLastFailureMs(live.lastFailure[i])
        .setRedrives(live.redrives[i]);
    if (live.consumer[i] != null) {
      b.setConsumer(live.consumer[i]);
    }
    return b.build();
  }

  private QueueResult result(int i, QueueOutcome outcome) {
    return QueueResult.newBuilder().setOffset(live.offset[i]).setOutcome(outcome).setEntry(toEntry(i)).build();
  }

  private QueueResult refused(long offset, int i, QueueOutcome outcome) {
    QueueResult.Builder b = QueueResult.newBuilder().setOffset(offset).setOutcome(outcome);
    if (i >= 0) {
      b.setEntry(toEntry(i));
    }
    return b.build();
  }

  /** For tests: the entry of an offset, live or dead, or null. */
  QueueEntry entry(long offset) {
    int i = live.find(offset);
    if (i >= 0) {
      return toEntry(i);
    }
    return dead.get(offset);
  }

  /** A set of non-zero longs by open addressing, for one acquire's keys. */
  private static final class LongSet {
    private long[] slots;
    private int size;

    LongSet(int expected) {
      slots = new long[Integer.highestOneBit(Math.max(16, expected * 2 - 1)) << 1];
    }

    /** Adds a non-zero value; false if it was there. */
    boolean add(long v) {
      if (!put(slots, v)) {
        return false;
      }
      if (++size * 2 > slots.length) {
        long[] bigger = new long[slots.length * 2];
        for (long s : slots) {
          if (s != 0) {
            put(bigger, s);
          }
        }
        slots = bigger;
      }
      return true;
    }

    private static boolean put(long[] table, long v) {
      int mask = table.length - 1;
      int i = (int) (v ^ (v >>> 32)) * 0x9E3779B9 & mask;
      while (true) {
        long s = table[i];
        if (s == v) {
          return false;
        }
        if (s == 0) {
          table[i] = v;
          return true;
        }
        i = (i + 1) & mask;
      }
    }
  }
}
