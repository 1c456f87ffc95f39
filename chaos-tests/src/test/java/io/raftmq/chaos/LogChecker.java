package io.raftmq.chaos;

import io.raftmq.chaos.Op.Read;
import io.raftmq.chaos.Op.Type;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * The checks of a log workload's history (research/reliability.md §7.2, L1–L6), each a named
 * {@link CheckResult}:
 *
 * <ul>
 *   <li>{@code lost}: every acknowledged send is read by some poll (the final drain included).
 *   <li>{@code unique-offsets}: each (partition, offset) holds one value across acks and reads, and an
 *       acknowledged value is read at the offset its ack gave.
 *   <li>{@code duplicates}: a value read at more than one offset; must be 0 with the idempotent producer.
 *   <li>{@code phantoms}: a value read that no send wrote (unexpected), or whose send certainly failed
 *       (aborted read).
 *   <li>{@code real-time-order}: a send acknowledged before another send to the same partition was
 *       invoked has the lower offset; one producer's acknowledged sends to a partition have increasing
 *       offsets in send order.
 *   <li>{@code consumer-order}: within one consumer session, each partition's reads are consecutive
 *       offsets (no skip, no step back) starting at the session's start position.
 *   <li>{@code committed-offsets}: a group's committed offset never goes backwards: a fetch sees at
 *       least every commit completed before it began, and at least what an earlier fetch saw.
 *   <li>With queue consumers: {@code queue-lost}: every acknowledged send was acked by the queue
 *       group; {@code queue-redelivery}: a message's delivery count only grows (a delivery received
 *       before another was asked for has the lower count), and no message comes back to a receive
 *       asked for after its ack completed.
 * </ul>
 *
 * Replica and liveness checks are not history checks; the runner adds them.
 */
public final class LogChecker {
  private static final int EXAMPLES = 10;

  private final boolean idempotent;

  /** @param idempotent whether the producers were idempotent (duplicates are then violations) */
  public LogChecker(boolean idempotent) {
    this.idempotent = idempotent;
  }

  /** Runs every history check. */
  public List<CheckResult> check(List<Op> history) {
    Index ix = new Index(history);
    List<CheckResult> out = new ArrayList<>(List.of(lost(ix), uniqueOffsets(ix), duplicates(ix), phantoms(ix),
        realTimeOrder(ix), consumerOrder(ix), committedOffsets(ix)));
    if (ix.queueReceives > 0) {
      out.add(queueLost(ix));
      out.add(queueRedelivery(ix));
    }
    return out;
  }

  /** An acknowledged send: its value, partition, offset (-1 unknown), invoke and completion times. */
  record Send(String process, String value, int partition, long offset, long invokeNanos, long okNanos,
      long invokeIndex) {}

  /** The history digested once for all checks. */
  static final class Index {
    final Map<Long, Op> invokes = new HashMap<>();
    final Map<String, Send> acked = new LinkedHashMap<>();
    final Set<String> attempted = new HashSet<>();
    final Set<String> failed = new HashSet<>();
    final Set<String> unknown = new HashSet<>();
    /** Every ok read with the session it was read in, in history order. */
    final List<SessionRead> reads = new ArrayList<>();
    final Map<String, Map<Integer, Long>> sessionStarts = new HashMap<>();
    final List<Op> completedCommits = new ArrayList<>();
    final List<Op> completedFetches = new ArrayList<>();
    /** Ok queue receives, and each message they leased, by partition and offset. */
    long queueReceives;
    final Map<List<Long>, List<Timed>> deliveries = new HashMap<>();
    /** Ok queue acks by partition and offset, and the values they acked. */
    final Map<List<Long>, List<Timed>> queueAcks = new HashMap<>();
    final Set<String> queueAckedValues = new HashSet<>();
    /** Values whose ack's outcome is unknown (it timed out, say): it may have been applied. */
    final Set<String> queueMaybeAckedValues = new HashSet<>();

    Index(List<Op> history) {
      for (Op op : history) {
        if (op.type() == Type.INVOKE) {
          invokes.put(op.index(), op);
          if ("send".equals(op.f())) {
            attempted.add(op.value());
          }
          continue;
        }
        Op inv = op.invokeIndex() == null ? null : invokes.get(op.invokeIndex());
        switch (op.f()) {
          case "send" -> {
            String v = inv != null ? inv.value() : op.value();
            if (op.type() == Type.OK) {
              int p = op.partition() != null ? op.partition() : inv.partition();
              acked.put(v, new Send(op.process(), v, p, op.offset() == null ? -1 : op.offset(),
                  inv == null ? op.timeNanos() : inv.timeNanos(), op.timeNanos(),
                  inv == null ? op.index() : inv.index()));
            } else if (op.type() == Type.FAIL) {
              failed.add(v);
            } else {
              unknown.add(v);
            }
          }
          case "poll" -> {
            if (op.type() == Type.OK && op.reads() != null) {
              String session = op.session() != null ? op.session() : op.process();
              for (Read r : op.reads()) {
                reads.add(new SessionRead(session, r, op.index()));
              }
            }
          }
          case "assign" -> {
            if (op.type() == Type.OK && op.offsets() != null) {
              sessionStarts.put(op.session() != null ? op.session() : op.process(), op.offsets());
            }
          }
          case "commit" -> {
            if (op.type() == Type.OK) {
              completedCommits.add(op);
            }
          }
          case "fetch_committed" -> {
            if (op.type() == Type.OK) {
              completedFetches.add(op);
            }
          }
          case "q_receive" -> {
            if (op.type() == Type.OK) {
              queueReceives++;
              long invoked = inv == null ? op.timeNanos() : inv.timeNanos();
              for (Read r : op.reads() == null ? List.<Read>of() : op.reads()) {
                deliveries.computeIfAbsent(List.of((long) r.partition(), r.offset()), k -> new ArrayList<>())
                    .add(new Timed(invoked, op.timeNanos(), r.deliveryCount() == null ? -1 : r.deliveryCount(),
                        op.index()));
              }
            }
          }
          case "q_ack" -> {
            if (op.type() == Type.OK && inv != null) {
              queueAcks.computeIfAbsent(List.of((long) inv.partition(), inv.offset()), k -> new ArrayList<>())
                  .add(new Timed(inv.timeNanos(), op.timeNanos(), -1, op.index()));
              queueAckedValues.add(inv.value());
            } else if (op.type() == Type.INFO && inv != null) {
              queueMaybeAckedValues.add(inv.value());
            }
          }
          default -> {
            // nemesis and other operations carry no data to check
          }
        }
      }
    }
  }

  record SessionRead(String session, Read read, long opIndex) {}

  /** A queue delivery or ack: when it was invoked and completed, its delivery count (-1 for an ack). */
  record Timed(long invokeNanos, long okNanos, int deliveryCount, long opIndex) {}

  CheckResult lost(Index ix) {
    Set<String> read = new HashSet<>();
    for (SessionRead r : ix.reads) {
      read.add(r.read().value());
    }
    List<String> examples = new ArrayList<>();
    long lost = 0;
    for (Send s : ix.acked.values()) {
      if (!read.contains(s.value())) {
        lost++;
        if (examples.size() < EXAMPLES) {
          examples.add(s.value() + " acked at " + s.partition() + "/" + s.offset() + " never read");
        }
      }
    }
    long recovered = ix.unknown.stream().filter(read::contains).count();
    return new CheckResult("lost", lost, counts("attempted", ix.attempted.size(), "acked", ix.acked.size(),
        "read-distinct", read.size(), "lost", lost, "unknown-sends", ix.unknown.size(),
        "unknown-recovered", recovered), examples);
  }

  CheckResult uniqueOffsets(Index ix) {
    Map<Long, Map<Long, Set<String>>> byPosition = new HashMap<>();
    for (SessionRead r : ix.reads) {
      byPosition.computeIfAbsent((long) r.read().partition(), k -> new HashMap<>())
          .computeIfAbsent(r.read().offset(), k -> new HashSet<>()).add(r.read().value());
    }
    for (Send s : ix.acked.values()) {
      if (s.offset() >= 0) {
        byPosition.computeIfAbsent((long) s.partition(), k -> new HashMap<>())
            .computeIfAbsent(s.offset(), k -> new HashSet<>()).add(s.value());
      }
    }
    List<String> examples = new ArrayList<>();
    long conflicts = 0;
    long positions = 0;
    for (var p : new TreeMap<>(byPosition).entrySet()) {
      for (var o : new TreeMap<>(p.getValue()).entrySet()) {
        positions++;
        if (o.getValue().size() > 1) {
          conflicts++;
          if (examples.size() < EXAMPLES) {
            examples.add("offset " + p.getKey() + "/" + o.getKey() + " holds " + o.getValue());
          }
        }
      }
    }
    // An acked value read elsewhere than its ack said.
    Map<String, Set<Long>> readAt = new HashMap<>();
    for (SessionRead r : ix.reads) {
      readAt.computeIfAbsent(r.read().value(), k -> new HashSet<>()).add(r.read().offset());
    }
    long mismatched = 0;
    for (Send s : ix.acked.values()) {
      Set<Long> at = readAt.get(s.value());
      if (s.offset() >= 0 && at != null && !at.contains(s.offset())) {
        mismatched++;
        if (examples.size() < EXAMPLES) {
          examples.add(s.value() + " acked at " + s.partition() + "/" + s.offset() + " but read at " + at);
        }
      }
    }
    return new CheckResult("unique-offsets", conflicts + mismatched,
        counts("positions", positions, "conflicting-positions", conflicts, "ack-read-mismatches", mismatched),
        examples);
  }

  CheckResult duplicates(Index ix) {
    Map<String, Set<String>> positions = new HashMap<>();
    for (SessionRead r : ix.reads) {
      positions.computeIfAbsent(r.read().value(), k -> new HashSet<>())
          .add(r.read().partition() + "/" + r.read().offset());
    }
    List<String> examples = new ArrayList<>();
    long dups = 0;
    for (var e : positions.entrySet()) {
      if (e.getValue().size() > 1) {
        dups++;
        if (examples.size() < EXAMPLES) {
          examples.add(e.getKey() + " at " + new java.util.TreeSet<>(e.getValue()));
        }
      }
    }
    return new CheckResult("duplicates", idempotent ? dups : 0,
        counts("duplicated-values", dups, "idempotent", idempotent ? 1 : 0), examples);
  }

  CheckResult phantoms(Index ix) {
    List<String> examples = new ArrayList<>();
    long unexpected = 0;
    long aborted = 0;
    Set<String> seen = new HashSet<>();
    for (SessionRead r : ix.reads) {
      String v = r.read().value();
      if (!seen.add(v)) {
        continue;
      }
      if (!ix.attempted.contains(v)) {
        unexpected++;
        if (examples.size() < EXAMPLES) {
          examples.add("never sent: " + v + " at " + r.read().partition() + "/" + r.read().offset());
        }
      } else if (ix.failed.contains(v) && !ix.acked.containsKey(v)) {
        aborted++;
        if (examples.size() < EXAMPLES) {
          examples.add("send failed but read: " + v + " at " + r.read().partition() + "/" + r.read().offset());
        }
      }
    }
    return new CheckResult("phantoms", unexpected + aborted,
        counts("unexpected", unexpected, "aborted-reads", aborted, "failed-sends", ix.failed.size()), examples);
  }

  CheckResult realTimeOrder(Index ix) {
    List<String> examples = new ArrayList<>();
    Map<Integer, List<Send>> byPartition = new TreeMap<>();
    for (Send s : ix.acked.values()) {
      if (s.offset() >= 0) {
        byPartition.computeIfAbsent(s.partition(), k -> new ArrayList<>()).add(s);
      }
    }
    long realTime = 0;
    long pairsChecked = 0;
    for (List<Send> sends : byPartition.values()) {
      List<Send> byCompletion = new ArrayList<>(sends);
      byCompletion.sort(Comparator.comparingLong(Send::okNanos));
      List<Send> byInvoke = new ArrayList<>(sends);
      byInvoke.sort(Comparator.comparingLong(Send::invokeNanos));
      int i = 0;
      Send maxBefore = null;
      for (Send b : byInvoke) {
        while (i < byCompletion.size() && byCompletion.get(i).okNanos() < b.invokeNanos()) {
          Send a = byCompletion.get(i++);
          if (maxBefore == null || a.offset() > maxBefore.offset()) {
            maxBefore = a;
          }
        }
        if (maxBefore != null) {
          pairsChecked++;
          if (maxBefore.offset() >= b.offset()) {
            realTime++;
            if (examples.size() < EXAMPLES) {
              examples.add(maxBefore.value() + " acked at " + maxBefore.offset() + " before " + b.value()
                  + " was sent, which got " + b.partition() + "/" + b.offset());
            }
          }
        }
      }
    }
    // One producer's sends to one partition: offsets increase in send order.
    Map<String, List<Send>> byProducer = new HashMap<>();
    for (Send s : ix.acked.values()) {
      if (s.offset() >= 0) {
        byProducer.computeIfAbsent(s.process() + "/" + s.partition(), k -> new ArrayList<>()).add(s);
      }
    }
    long producerOrder = 0;
    for (List<Send> sends : byProducer.values()) {
      sends.sort(Comparator.comparingLong(Send::invokeIndex));
      for (int k = 1; k < sends.size(); k++) {
        if (sends.get(k).offset() <= sends.get(k - 1).offset()) {
          producerOrder++;
          if (examples.size() < EXAMPLES) {
            examples.add(sends.get(k - 1).value() + "@" + sends.get(k - 1).offset() + " sent before "
                + sends.get(k).value() + "@" + sends.get(k).offset());
          }
        }
      }
    }
    return new CheckResult("real-time-order", realTime + producerOrder,
        counts("ordered-pairs-checked", pairsChecked, "real-time-violations", realTime,
            "producer-order-violations", producerOrder), examples);
  }

  CheckResult consumerOrder(Index ix) {
    List<String> examples = new ArrayList<>();
    Map<String, Long> last = new HashMap<>();
    long skips = 0;
    long backwards = 0;
    long badStart = 0;
    for (SessionRead r : ix.reads) {
      String key = r.session() + "/" + r.read().partition();
      Long prev = last.get(key);
      long off = r.read().offset();
      if (prev == null) {
        Map<Integer, Long> starts = ix.sessionStarts.get(r.session());
        Long start = starts == null ? null : starts.get(r.read().partition());
        if (start != null && start >= 0 && off != start) {
          badStart++;
          if (examples.size() < EXAMPLES) {
            examples.add(key + " started at " + start + " but first read " + off);
          }
        }
      } else if (off <= prev) {
        backwards++;
        if (examples.size() < EXAMPLES) {
          examples.add(key + " read " + off + " after " + prev + " (op " + r.opIndex() + ")");
        }
      } else if (off != prev + 1) {
        skips++;
        if (examples.size() < EXAMPLES) {
          examples.add(key + " skipped from " + prev + " to " + off + " (op " + r.opIndex() + ")");
        }
      }
      last.put(key, prev == null ? off : Math.max(prev, off));
    }
    return new CheckResult("consumer-order", skips + backwards + badStart,
        counts("reads", ix.reads.size(), "session-partitions", last.size(), "skips", skips,
            "nonmonotonic", backwards, "wrong-start", badStart), examples);
  }

  CheckResult committedOffsets(Index ix) {
    List<String> examples = new ArrayList<>();
    long violations = 0;
    long fetchesChecked = 0;
    for (Op fetch : ix.completedFetches) {
      Op fetchInvoke = ix.invokes.get(fetch.invokeIndex());
      long fetchStart = fetchInvoke == null ? fetch.timeNanos() : fetchInvoke.timeNanos();
      String group = fetch.session();
      if (fetch.offsets() == null) {
        continue;
      }
      for (var e : fetch.offsets().entrySet()) {
        fetchesChecked++;
        long floor = -1;
        String because = null;
        for (Op c : ix.completedCommits) {
          if (c.timeNanos() < fetchStart && java.util.Objects.equals(c.session(), group) && c.offsets() != null) {
            Long o = c.offsets().get(e.getKey());
            if (o != null && o > floor) {
              floor = o;
              because = "commit op " + c.index();
            }
          }
        }
        for (Op other : ix.completedFetches) {
          if (other.timeNanos() < fetchStart && java.util.Objects.equals(other.session(), group)
              && other.offsets() != null) {
            Long o = other.offsets().get(e.getKey());
            if (o != null && o > floor) {
              floor = o;
              because = "fetch op " + other.index();
            }
          }
        }
        if (e.getValue() < floor) {
          violations++;
          if (examples.size() < EXAMPLES) {
            examples.add("group " + group + " partition " + e.getKey() + " committed " + e.getValue()
                + " (op " + fetch.index() + ") after " + floor + " (" + because + ")");
          }
        }
      }
    }
    return new CheckResult("committed-offsets", violations,
        counts("commits", ix.completedCommits.size(), "fetched-offsets-checked", fetchesChecked), examples);
  }

  /**
   * Every acknowledged send was acked by the queue group (at least once; nothing is dead-lettered). An
   * ack whose outcome is unknown (it timed out) may have been applied, and the message then never
   * comes back: such a value counts as acked-unknown, not lost. That it really was applied is what the
   * queue drain shows (liveness: the group ends holding nothing, so every message was settled).
   */
  CheckResult queueLost(Index ix) {
    List<String> examples = new ArrayList<>();
    long lost = 0;
    long unknown = 0;
    for (Send s : ix.acked.values()) {
      if (ix.queueAckedValues.contains(s.value())) {
        continue;
      }
      if (ix.queueMaybeAckedValues.contains(s.value())) {
        unknown++;
        continue;
      }
      lost++;
      if (examples.size() < EXAMPLES) {
        examples.add(s.value() + " acked at " + s.partition() + "/" + s.offset() + " never acked by the queue group");
      }
    }
    return new CheckResult("queue-lost", lost, counts("acked-sends", ix.acked.size(), "queue-acked-values",
        ix.queueAckedValues.size(), "acked-unknown", unknown), examples);
  }

  /**
   * A message's delivery counts only grow: a delivery received before another was asked for has the
   * lower count (no failover resets one); and a message whose ack completed is never delivered to a
   * receive asked for after that.
   */
  CheckResult queueRedelivery(Index ix) {
    List<String> examples = new ArrayList<>();
    long violations = 0;
    long redelivered = 0;
    for (Map.Entry<List<Long>, List<Timed>> e : ix.deliveries.entrySet()) {
      List<Timed> ds = e.getValue();
      if (ds.size() > 1) {
        redelivered++;
      }
      String at = e.getKey().get(0) + "/" + e.getKey().get(1);
      for (Timed d1 : ds) {
        for (Timed d2 : ds) {
          if (d1.okNanos() < d2.invokeNanos() && d2.deliveryCount() <= d1.deliveryCount()) {
            violations++;
            if (examples.size() < EXAMPLES) {
              examples.add(at + " delivered as attempt " + d2.deliveryCount() + " (op " + d2.opIndex()
                  + ") after attempt " + d1.deliveryCount() + " (op " + d1.opIndex() + ")");
            }
          }
        }
        for (Timed a : ix.queueAcks.getOrDefault(e.getKey(), List.of())) {
          if (a.okNanos() < d1.invokeNanos()) {
            violations++;
            if (examples.size() < EXAMPLES) {
              examples.add(at + " delivered again (op " + d1.opIndex() + ") after its ack completed (op "
                  + a.opIndex() + ")");
            }
          }
        }
      }
    }
    return new CheckResult("queue-redelivery", violations, counts("messages-delivered", ix.deliveries.size(),
        "redelivered", redelivered, "acks", ix.queueAcks.values().stream().mapToLong(List::size).sum()), examples);
  }

  static Map<String, Long> counts(Object... kv) {
    Map<String, Long> m = new LinkedHashMap<>();
    for (int i = 0; i < kv.length; i += 2) {
      m.put((String) kv[i], ((Number) kv[i + 1]).longValue());
    }
    return m;
  }
}
