package io.raftmq.partition;

import io.raftmq.raft.proto.Acquire;
import io.raftmq.raft.proto.Expire;
import io.raftmq.raft.proto.Extend;
import io.raftmq.raft.proto.Nack;
import io.raftmq.raft.proto.NewRecord;
import io.raftmq.raft.proto.OffsetDelay;
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
import java.util.ArrayList;
import java.util.HashSet;
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
 * {@code live} holds the unsettled offsets in between (available or leased); {@code dead} holds the
 * dead-lettered ones (kept for listing and redrive).
 */
public final class QueueGroup {
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
  private QueueConfig config;
  private long start;
  private long end;
  private final TreeMap<Long, QueueEntry.Builder> live = new TreeMap<>();
  /** Dead entries, immutable values: readable from any thread (describe, dlq show). */
  private final ConcurrentSkipListMap<Long, QueueEntry> dead = new ConcurrentSkipListMap<>();
  private final Set<Long> parkedKeys = new TreeSet<>();
  /** Lease deadlines of the leased entries, as a multiset. */
  private final TreeMap<Long, Integer> deadlines = new TreeMap<>();
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
    this.config = config;
    this.start = startOffset;
    this.end = startOffset;
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
      g.live.put(e.getOffset(), e.toBuilder());
      if (e.getState() == QueueState.LEASED) {
        g.leased++;
        g.deadlines.merge(e.getLeaseDeadlineMs(), 1, Integer::sum);
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
    // Offset order over both maps keeps snapshots byte-identical across replicas.
    TreeMap<Long, QueueEntry> all = new TreeMap<>(dead);
    live.forEach((offset, e) -> all.put(offset, e.build()));
    b.addAllEntries(all.values());
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
        nextVisibleAtMs, deadlines.isEmpty() ? Long.MAX_VALUE : deadlines.firstKey(), redelivered,
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

  int deadCount() {
    return dead.size();
  }

  // ---- commands ----

  List<QueueResult> acquire(Acquire a, long now, long highWatermark) {
    List<QueueResult> out = new ArrayList<>();
    if (a.getMax() <= 0 || a.getLeaseMs() <= 0 || a.getConsumer().isEmpty()) {
      return out;
    }
    boolean change = false;
    // New records: only if the leader read them from where the group's unseen offsets begin now.
    if (a.getFirstNewOffset() == end) {
      for (NewRecord r : a.getNewRecordsList()) {
        if (end >= highWatermark) {
          break;
        }
        live.put(end, QueueEntry.newBuilder().setOffset(end).setState(QueueState.AVAILABLE)
            .setKeyHash(r.getKeyHash()).setExpiresAtMs(r.getExpiresAtMs()));
        end++;
        change = true;
      }
    }
    Set<Long> keysAhead = config.getOrderingKey() ? new HashSet<>() : null;
    List<Long> expired = new ArrayList<>();
    long nextVisible = Long.MAX_VALUE;
    for (QueueEntry.Builder e : live.values()) {
      if (out.size() >= a.getMax() || leased >= config.getMaxInFlight()) {
        nextVisible = Math.min(nextVisible, nextVisibleAtMs);
        break;
      }
      boolean keyBlocked = keysAhead != null && e.getKeyHash() != 0
          && (!keysAhead.add(e.getKeyHash()) || parkedKeys.contains(e.getKeyHash()));
      if (e.getState() != QueueState.AVAILABLE || keyBlocked) {
        continue;
      }
      if (e.getVisibleAtMs() > now) {
        nextVisible = Math.min(nextVisible, e.getVisibleAtMs());
        continue;
      }
      if (e.getExpiresAtMs() > 0 && e.getExpiresAtMs() <= now) {
        expired.add(e.getOffset());
        continue;
      }
      if (e.getDeliveryCount() > 0) {
        redelivered++;
      }
      e.setState(QueueState.LEASED).setDeliveryCount(e.getDeliveryCount() + 1)
          .setConsumer(a.getConsumer()).setLeaseDeadlineMs(now + a.getLeaseMs());
      lease(e);
      out.add(result(e, QueueOutcome.Q_OK));
    }
    nextVisibleAtMs = nextVisible;
    for (long offset : expired) {
      QueueEntry.Builder e = live.get(offset);
      if (config.getDropExpired()) {
        live.remove(offset);
      } else {
        die(e, EXPIRED, "", "", now);
      }
    }
    advanceStart();
    if (change || !out.isEmpty() || !expired.isEmpty()) {
      changed();
    } else {
      publish();
    }
    return out;
  }

  /** All of one consumer's settlements in one command, in the order acks, nacks, rejects, extends. */
  List<QueueResult> settle(Settle s, long now) {
    List<QueueResult> out = new ArrayList<>(s.getAcksCount() + s.getNacksCount() + s.getRejectsCount()
        + s.getExtendsCount());
    for (long offset : s.getAcksList()) {
      out.add(ackOne(offset, s.getConsumer(), now));
    }
    for (OffsetDelay d : s.getNacksList()) {
      out.add(nackOne(d, s.getConsumer(), now));
    }
    for (RejectItem r : s.getRejectsList()) {
      out.add(rejectOne(r.getOffset(), s.getConsumer(), r.getReason(), r.getErrorClass(), r.getErrorMessage(), now));
    }
    for (ExtendItem x : s.getExtendsList()) {
      out.add(extendOne(x.getOffset(), s.getConsumer(), x.getLeaseMs(), now));
    }
    advanceStart();
    changed();
    return out;
  }

  List<QueueResult> ack(QueueSettle s, long now) {
    return settle(Settle.newBuilder().setConsumer(s.getConsumer()).addAllAcks(s.getOffsetsList()).build(), now);
  }

  List<QueueResult> nack(Nack n, long now) {
    return settle(Settle.newBuilder().setConsumer(n.getConsumer()).addAllNacks(n.getOffsetsList()).build(), now);
  }

  List<QueueResult> reject(Reject r, long now) {
    Settle.Builder s = Settle.newBuilder().setConsumer(r.getConsumer());
    for (long offset : r.getOffsetsList()) {
      s.addRejects(RejectItem.newBuilder().setOffset(offset).setReason(r.getReason())
          .setErrorClass(r.getErrorClass()).setErrorMessage(r.getErrorMessage()));
    }
    return settle(s.build(), now);
  }

  List<QueueResult> extend(Extend x, long now) {
    Settle.Builder s = Settle.newBuilder().setConsumer(x.getConsumer());
    for (long offset : x.getOffsetsList()) {
      s.addExtends(ExtendItem.newBuilder().setOffset(offset).setLeaseMs(x.getLeaseMs()));
    }
    return settle(s.build(), now);
  }

  private QueueResult ackOne(long offset, String consumer, long now) {
    QueueEntry.Builder e = live.get(offset);
    QueueOutcome check = checkLease(e, consumer, now);
    if (check != QueueOutcome.Q_OK) {
      return refused(offset, e, check);
    }
    live.remove(offset);
    unlease(e);
    acked++;
    // No entry copy: an ack's result needs nothing more (and every replica builds every reply).
    return QueueResult.newBuilder().setOffset(offset).setOutcome(QueueOutcome.Q_OK).build();
  }

  private QueueResult nackOne(OffsetDelay d, String consumer, long now) {
    QueueEntry.Builder e = live.get(d.getOffset());
    QueueOutcome check = checkLease(e, consumer, now);
    if (check != QueueOutcome.Q_OK || !d.getBackoff() && d.getDelayMs() < 0) {
      return refused(d.getOffset(), e, check == QueueOutcome.Q_OK ? QueueOutcome.Q_INVALID : check);
    }
    release(e, d.getBackoff() ? backoffMs(e.getOffset(), e.getDeliveryCount()) : d.getDelayMs(), now,
        bound(d.getErrorClass()), bound(d.getErrorMessage()));
    return result(e, QueueOutcome.Q_OK);
  }

  private QueueResult rejectOne(long offset, String consumer, String reason, String errorClass,
      String errorMessage, long now) {
    QueueEntry.Builder e = live.get(offset);
    QueueOutcome check = checkLease(e, consumer, now);
    if (check != QueueOutcome.Q_OK) {
      return refused(offset, e, check);
    }
    unlease(e);
    e.setLastFailureMs(now);
    if (e.getFirstFailureMs() == 0) {
      e.setFirstFailureMs(now);
    }
    die(e, REJECTED, bound(errorClass), bound(reason.isEmpty() ? errorMessage
        : reason + (errorMessage.isEmpty() ? "" : ": " + errorMessage)), now);
    return result(e, QueueOutcome.Q_OK);
  }

  private QueueResult extendOne(long offset, String consumer, long leaseMs, long now) {
    QueueEntry.Builder e = live.get(offset);
    QueueOutcome check = checkLease(e, consumer, now);
    if (check != QueueOutcome.Q_OK || leaseMs <= 0) {
      return refused(offset, e, check == QueueOutcome.Q_OK ? QueueOutcome.Q_INVALID : check);
    }
    unlease(e);
    e.setLeaseDeadlineMs(now + leaseMs);
    lease(e);
    return result(e, QueueOutcome.Q_OK);
  }

  /**
   * Leases go back to the queue: those listed (after their delays), or with no list every lease of
   * {@code consumer} (it disconnected) or, without a consumer, every lease past its deadline, after the
   * group's backoff. Extended leases are left alone.
   */
  List<QueueResult> expire(Expire x, long now) {
    List<QueueResult> out = new ArrayList<>();
    if (x.getOffsetsCount() == 0) {
      List<QueueEntry.Builder> due = new ArrayList<>();
      for (QueueEntry.Builder e : live.values()) {
        if (e.getState() == QueueState.LEASED && (x.getConsumer().isEmpty()
            ? e.getLeaseDeadlineMs() <= now : x.getConsumer().equals(e.getConsumer()))) {
          due.add(e);
        }
      }
      for (QueueEntry.Builder e : due) {
        if (x.getConsumer().isEmpty()) {
          leaseExpiries++;
        }
        release(e, backoffMs(e.getOffset(), e.getDeliveryCount()), now, "", x.getConsumer().isEmpty()
            ? "lease expired" : "consumer disconnected");
        out.add(result(e, QueueOutcome.Q_OK));
      }
    } else {
      for (OffsetDelay d : x.getOffsetsList()) {
        QueueEntry.Builder e = live.get(d.getOffset());
        if (e == null || e.getState() != QueueState.LEASED) {
          continue;
        }
        boolean released = !x.getConsumer().isEmpty() && x.getConsumer().equals(e.getConsumer());
        if (!released && e.getLeaseDeadlineMs() > now) {
          continue; // extended meanwhile
        }
        if (!released) {
          leaseExpiries++;
        }
        release(e, d.getBackoff() ? backoffMs(e.getOffset(), e.getDeliveryCount()) : Math.max(0, d.getDelayMs()),
            now, "", released ? "consumer disconnected" : "lease expired");
        out.add(result(e, QueueOutcome.Q_OK));
      }
    }
    advanceStart();
    changed();
    return out;
  }

  List<QueueResult> forwarded(QueueSettle s) {
    List<QueueResult> out = new ArrayList<>();
    for (long offset : s.getOffsetsList()) {
      QueueEntry e = dead.get(offset);
      if (e == null) {
        out.add(refused(offset, null, QueueOutcome.Q_INVALID));
        continue;
      }
      QueueEntry marked = e.toBuilder().setForwarded(true).build();
      dead.put(offset, marked);
      if (unforwarded.remove(e.getDeadLetterSequence()) != null) {
        unforwardedView = null;
      }
      out.add(QueueResult.newBuilder().setOffset(offset).setOutcome(QueueOutcome.Q_OK).setEntry(marked).build());
    }
    changed();
    return out;
  }

  /** Dead entries matching the filter go back to the queue (or are purged), in offset order, up to a limit. */
  List<QueueResult> redrive(Redrive r, long now) {
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
      QueueEntry.Builder b = e.toBuilder().setState(QueueState.AVAILABLE).setDeliveryCount(0).setVisibleAtMs(now)
          .setRedrives(e.getRedrives() + 1).clearReason().clearErrorClass().clearErrorMessage()
          .setForwarded(false).setDeadAtMs(0).clearConsumer().setLeaseDeadlineMs(0).setDeadLetterSequence(0)
          .setFirstFailureMs(0).setLastFailureMs(0);
      live.put(b.getOffset(), b);
      nextVisibleAtMs = Math.min(nextVisibleAtMs, now);
      out.add(result(b, QueueOutcome.Q_OK));
    }
    out.sort(java.util.Comparator.comparingLong(QueueResult::getOffset));
    if (!r.getDryRun() && !matched.isEmpty()) {
      start = live.isEmpty() ? end : Math.min(start, live.firstKey());
      changed();
    }
    return out;
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
    long h = 0xcbf29ce484222325L;
    for (byte b : name.getBytes(StandardCharsets.UTF_8)) {
      h = (h ^ b) * 0x100000001b3L;
    }
    h ^= offset * 0x9E3779B97F4A7C15L + attempts;
    // SplitMix64 finaliser: spreads neighbouring offsets over the whole range.
    h = (h ^ (h >>> 30)) * 0xbf58476d1ce4e5b9L;
    h = (h ^ (h >>> 27)) * 0x94d049bb133111ebL;
    return h ^ (h >>> 31);
  }

  private QueueOutcome checkLease(QueueEntry.Builder e, String consumer, long now) {
    if (e == null || e.getState() != QueueState.LEASED || !e.getConsumer().equals(consumer)) {
      return QueueOutcome.Q_NOT_LEASED;
    }
    if (e.getLeaseDeadlineMs() <= now) {
      return QueueOutcome.Q_LEASE_EXPIRED;
    }
    return QueueOutcome.Q_OK;
  }

  private void lease(QueueEntry.Builder e) {
    leased++;
    deadlines.merge(e.getLeaseDeadlineMs(), 1, Integer::sum);
  }

  private void unlease(QueueEntry.Builder e) {
    leased--;
    deadlines.computeIfPresent(e.getLeaseDeadlineMs(), (k, n) -> n == 1 ? null : n - 1);
  }

  /** A leased entry goes back to the queue after {@code delayMs}, or dies after max deliveries. */
  private void release(QueueEntry.Builder e, long delayMs, long now, String errorClass, String errorMessage) {
    unlease(e);
    e.setLastFailureMs(now).clearConsumer().setLeaseDeadlineMs(0);
    if (e.getFirstFailureMs() == 0) {
      e.setFirstFailureMs(now);
    }
    if (config.getMaxDeliveries() > 0 && e.getDeliveryCount() >= config.getMaxDeliveries()) {
      die(e, MAX_DELIVERIES, errorClass, errorMessage, now);
    } else {
      e.setState(QueueState.AVAILABLE).setVisibleAtMs(now + delayMs);
      nextVisibleAtMs = Math.min(nextVisibleAtMs, now + delayMs);
    }
  }

  private void die(QueueEntry.Builder e, String reason, String errorClass, String errorMessage, long now) {
    live.remove(e.getOffset());
    e.setState(QueueState.DEAD).setReason(reason).setErrorClass(errorClass).setErrorMessage(errorMessage)
        .setDeadAtMs(now).clearConsumer().setLeaseDeadlineMs(0).setForwarded(false)
        .setDeadLetterSequence(nextDeadLetterSequence++);
    putDead(e.build());
    if (config.getOrderingKey() && config.getStrict() && e.getKeyHash() != 0) {
      parkedKeys.add(e.getKeyHash());
    }
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
    start = live.isEmpty() ? end : live.firstKey();
  }

  private static String bound(String s) {
    return s.length() <= MAX_ERROR_CHARS ? s : s.substring(0, MAX_ERROR_CHARS);
  }

  private static QueueResult result(QueueEntry.Builder e, QueueOutcome outcome) {
    return QueueResult.newBuilder().setOffset(e.getOffset()).setOutcome(outcome).setEntry(e.build()).build();
  }

  private static QueueResult refused(long offset, QueueEntry.Builder e, QueueOutcome outcome) {
    QueueResult.Builder b = QueueResult.newBuilder().setOffset(offset).setOutcome(outcome);
    if (e != null) {
      b.setEntry(e.build());
    }
    return b.build();
  }

  /** For tests: the entry of an offset, live or dead, or null. */
  QueueEntry entry(long offset) {
    QueueEntry.Builder e = live.get(offset);
    if (e != null) {
      return e.build();
    }
    return dead.get(offset);
  }
}
