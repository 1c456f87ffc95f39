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
final class QueueGroup {
  static final String MAX_DELIVERIES = "MAX_DELIVERIES";
  static final String REJECTED = "REJECTED";
  static final String EXPIRED = "EXPIRED";
  /** Bounds of a client's error text kept with a dead letter. */
  static final int MAX_ERROR_CHARS = 1024;

  private QueueConfig config;
  private long start;
  private long end;
  private final TreeMap<Long, QueueEntry.Builder> live = new TreeMap<>();
  private final TreeMap<Long, QueueEntry.Builder> dead = new TreeMap<>();
  private final Set<Long> parkedKeys = new TreeSet<>();
  private int leased;

  QueueGroup(QueueConfig config, long startOffset) {
    this.config = config;
    this.start = startOffset;
    this.end = startOffset;
  }

  static QueueGroup restore(QueueGroupSnapshot s) {
    QueueGroup g = new QueueGroup(s.getConfig(), s.getStart());
    g.end = s.getEnd();
    for (QueueEntry e : s.getEntriesList()) {
      (e.getState() == QueueState.DEAD ? g.dead : g.live).put(e.getOffset(), e.toBuilder());
      if (e.getState() == QueueState.LEASED) {
        g.leased++;
      }
    }
    g.parkedKeys.addAll(s.getParkedKeysList());
    return g;
  }

  QueueGroupSnapshot snapshot(String name) {
    QueueGroupSnapshot.Builder b = QueueGroupSnapshot.newBuilder().setGroup(name).setConfig(config)
        .setStart(start).setEnd(end).addAllParkedKeys(parkedKeys);
    // Offset order over both maps keeps snapshots byte-identical across replicas.
    TreeMap<Long, QueueEntry.Builder> all = new TreeMap<>(live);
    all.putAll(dead);
    all.values().forEach(e -> b.addEntries(e.build()));
    return b.build();
  }

  void configure(QueueConfig c) {
    config = c;
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

  /** Unsettled entries (available or leased), in offset order; for the leader's timers and describe. */
  Iterable<QueueEntry.Builder> liveEntries() {
    return live.values();
  }

  Iterable<QueueEntry.Builder> deadEntries() {
    return dead.values();
  }

  // ---- commands ----

  List<QueueResult> acquire(Acquire a, long now, long highWatermark) {
    List<QueueResult> out = new ArrayList<>();
    if (a.getMax() <= 0 || a.getLeaseMs() <= 0 || a.getConsumer().isEmpty()) {
      return out;
    }
    // New records: only if the leader read them from where the group's unseen offsets begin now.
    if (a.getFirstNewOffset() == end) {
      for (NewRecord r : a.getNewRecordsList()) {
        if (end >= highWatermark) {
          break;
        }
        live.put(end, QueueEntry.newBuilder().setOffset(end).setState(QueueState.AVAILABLE)
            .setKeyHash(r.getKeyHash()).setExpiresAtMs(r.getExpiresAtMs()));
        end++;
      }
    }
    Set<Long> keysAhead = new HashSet<>();
    List<Long> expired = new ArrayList<>();
    for (QueueEntry.Builder e : live.values()) {
      if (out.size() >= a.getMax() || leased >= config.getMaxInFlight()) {
        break;
      }
      boolean keyBlocked = config.getOrderingKey()
          && (!keysAhead.add(e.getKeyHash()) || parkedKeys.contains(e.getKeyHash()));
      if (e.getState() != QueueState.AVAILABLE || keyBlocked || e.getVisibleAtMs() > now) {
        continue;
      }
      if (e.getExpiresAtMs() > 0 && e.getExpiresAtMs() <= now) {
        expired.add(e.getOffset());
        continue;
      }
      e.setState(QueueState.LEASED).setDeliveryCount(e.getDeliveryCount() + 1)
          .setConsumer(a.getConsumer()).setLeaseDeadlineMs(now + a.getLeaseMs());
      leased++;
      out.add(result(e, QueueOutcome.Q_OK));
    }
    for (long offset : expired) {
      QueueEntry.Builder e = live.get(offset);
      if (config.getDropExpired()) {
        live.remove(offset);
      } else {
        die(e, EXPIRED, "", "", now);
      }
    }
    advanceStart();
    return out;
  }

  List<QueueResult> ack(QueueSettle s, long now) {
    List<QueueResult> out = new ArrayList<>();
    for (long offset : s.getOffsetsList()) {
      QueueEntry.Builder e = live.get(offset);
      QueueOutcome check = checkLease(e, s.getConsumer(), now);
      if (check != QueueOutcome.Q_OK) {
        out.add(refused(offset, e, check));
        continue;
      }
      live.remove(offset);
      leased--;
      out.add(QueueResult.newBuilder().setOffset(offset).setOutcome(QueueOutcome.Q_OK)
          .setEntry(e.setState(QueueState.QUEUE_STATE_UNSPECIFIED).build()).build());
    }
    advanceStart();
    return out;
  }

  List<QueueResult> nack(Nack n, long now) {
    List<QueueResult> out = new ArrayList<>();
    for (OffsetDelay d : n.getOffsetsList()) {
      QueueEntry.Builder e = live.get(d.getOffset());
      QueueOutcome check = checkLease(e, n.getConsumer(), now);
      if (check != QueueOutcome.Q_OK || d.getDelayMs() < 0) {
        out.add(refused(d.getOffset(), e, check == QueueOutcome.Q_OK ? QueueOutcome.Q_INVALID : check));
        continue;
      }
      release(e, d.getDelayMs(), now, "", "");
      out.add(result(e, QueueOutcome.Q_OK));
    }
    advanceStart();
    return out;
  }

  List<QueueResult> reject(Reject r, long now) {
    List<QueueResult> out = new ArrayList<>();
    for (long offset : r.getOffsetsList()) {
      QueueEntry.Builder e = live.get(offset);
      QueueOutcome check = checkLease(e, r.getConsumer(), now);
      if (check != QueueOutcome.Q_OK) {
        out.add(refused(offset, e, check));
        continue;
      }
      leased--;
      e.setLastFailureMs(now);
      if (e.getFirstFailureMs() == 0) {
        e.setFirstFailureMs(now);
      }
      die(e, REJECTED, bound(r.getErrorClass()), bound(r.getReason().isEmpty() ? r.getErrorMessage()
          : r.getReason() + (r.getErrorMessage().isEmpty() ? "" : ": " + r.getErrorMessage())), now);
      out.add(result(e, QueueOutcome.Q_OK));
    }
    advanceStart();
    return out;
  }

  List<QueueResult> extend(Extend x, long now) {
    List<QueueResult> out = new ArrayList<>();
    for (long offset : x.getOffsetsList()) {
      QueueEntry.Builder e = live.get(offset);
      QueueOutcome check = checkLease(e, x.getConsumer(), now);
      if (check != QueueOutcome.Q_OK || x.getLeaseMs() <= 0) {
        out.add(refused(offset, e, check == QueueOutcome.Q_OK ? QueueOutcome.Q_INVALID : check));
        continue;
      }
      e.setLeaseDeadlineMs(now + x.getLeaseMs());
      out.add(result(e, QueueOutcome.Q_OK));
    }
    return out;
  }

  /** Leases past their deadline (or every lease of a disconnected consumer) go back after their delay. */
  List<QueueResult> expire(Expire x, long now) {
    List<QueueResult> out = new ArrayList<>();
    for (OffsetDelay d : x.getOffsetsList()) {
      QueueEntry.Builder e = live.get(d.getOffset());
      if (e == null || e.getState() != QueueState.LEASED) {
        continue;
      }
      boolean released = !x.getConsumer().isEmpty() && x.getConsumer().equals(e.getConsumer());
      if (!released && e.getLeaseDeadlineMs() > now) {
        continue; // extended meanwhile
      }
      release(e, Math.max(0, d.getDelayMs()), now, "", "");
      out.add(result(e, QueueOutcome.Q_OK));
    }
    advanceStart();
    return out;
  }

  List<QueueResult> forwarded(QueueSettle s) {
    List<QueueResult> out = new ArrayList<>();
    for (long offset : s.getOffsetsList()) {
      QueueEntry.Builder e = dead.get(offset);
      if (e == null) {
        out.add(refused(offset, null, QueueOutcome.Q_INVALID));
        continue;
      }
      e.setForwarded(true);
      out.add(result(e, QueueOutcome.Q_OK));
    }
    return out;
  }

  List<QueueResult> redrive(Redrive r, long now) {
    List<QueueResult> out = new ArrayList<>();
    int limit = r.getLimit() <= 0 ? Integer.MAX_VALUE : r.getLimit();
    Iterator<QueueEntry.Builder> it = dead.values().iterator();
    while (it.hasNext() && out.size() < limit) {
      QueueEntry.Builder e = it.next();
      if (!r.getReason().isEmpty() && !r.getReason().equals(e.getReason())
          || r.getFromTimeMs() > 0 && e.getDeadAtMs() < r.getFromTimeMs()
          || r.getToTimeMs() > 0 && e.getDeadAtMs() >= r.getToTimeMs()
          || r.getFromOffset() > 0 && e.getOffset() < r.getFromOffset()
          || r.getToOffset() > 0 && e.getOffset() >= r.getToOffset()
          || r.getByKey() && e.getKeyHash() != r.getKeyHash()) {
        continue;
      }
      if (config.getMaxRedrives() > 0 && e.getRedrives() >= config.getMaxRedrives()) {
        continue; // loop guard: stays dead
      }
      it.remove();
      e.setState(QueueState.AVAILABLE).setDeliveryCount(0).setVisibleAtMs(now).setRedrives(e.getRedrives() + 1)
          .clearReason().clearErrorClass().clearErrorMessage().setForwarded(false).setDeadAtMs(0)
          .clearConsumer().setLeaseDeadlineMs(0);
      live.put(e.getOffset(), e);
      parkedKeys.remove(e.getKeyHash());
      out.add(result(e, QueueOutcome.Q_OK));
    }
    advanceStart();
    return out;
  }

  void skipKey(long keyHash) {
    parkedKeys.remove(keyHash);
  }

  // ---- helpers ----

  private QueueOutcome checkLease(QueueEntry.Builder e, String consumer, long now) {
    if (e == null || e.getState() != QueueState.LEASED || !e.getConsumer().equals(consumer)) {
      return QueueOutcome.Q_NOT_LEASED;
    }
    if (e.getLeaseDeadlineMs() <= now) {
      return QueueOutcome.Q_LEASE_EXPIRED;
    }
    return QueueOutcome.Q_OK;
  }

  /** A leased entry goes back to the queue after {@code delayMs}, or dies after max deliveries. */
  private void release(QueueEntry.Builder e, long delayMs, long now, String errorClass, String errorMessage) {
    leased--;
    e.setLastFailureMs(now).clearConsumer().setLeaseDeadlineMs(0);
    if (e.getFirstFailureMs() == 0) {
      e.setFirstFailureMs(now);
    }
    if (config.getMaxDeliveries() > 0 && e.getDeliveryCount() >= config.getMaxDeliveries()) {
      die(e, MAX_DELIVERIES, errorClass, errorMessage, now);
    } else {
      e.setState(QueueState.AVAILABLE).setVisibleAtMs(now + delayMs);
    }
  }

  private void die(QueueEntry.Builder e, String reason, String errorClass, String errorMessage, long now) {
    live.remove(e.getOffset());
    e.setState(QueueState.DEAD).setReason(reason).setErrorClass(errorClass).setErrorMessage(errorMessage)
        .setDeadAtMs(now).clearConsumer().setLeaseDeadlineMs(0).setForwarded(false);
    dead.put(e.getOffset(), e);
    if (config.getOrderingKey() && config.getStrict()) {
      parkedKeys.add(e.getKeyHash());
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
    if (e == null) {
      e = dead.get(offset);
    }
    return e == null ? null : e.build();
  }

  static Map<String, QueueGroup> newMap() {
    return new TreeMap<>();
  }
}
