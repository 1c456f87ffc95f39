package io.raftmq.partition;

import io.raftmq.raft.proto.ProducerBatch;
import io.raftmq.raft.proto.ProducerEntry;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * What a partition remembers of each idempotent producer: its epoch and its last few batches, so that a
 * batch retried after a leader failover gets its original offsets back instead of a second copy.
 *
 * <p>Part of the deterministic partition state: changed only by apply, saved in snapshots. Not
 * thread-safe; owned by the apply thread.
 */
final class ProducerTable {
  /** Batches remembered per producer: a producer keeps at most one batch in flight per partition. */
  static final int WINDOW = 5;

  /** The verdict on an incoming batch. */
  enum Verdict {
    /** The next batch of this producer (or one we know nothing of): append it. */
    APPEND,
    /** The same batch was appended before: answer with its offsets. */
    DUPLICATE,
    /** Older than the window: it was appended, but its offsets are forgotten. */
    DUPLICATE_UNKNOWN_OFFSET,
    /** A gap in the sequence: an earlier batch is missing. */
    OUT_OF_ORDER,
    /** A newer epoch of the producer id exists. */
    FENCED
  }

  private static final class Entry {
    int epoch;
    long lastLogTimeMs;
    final ArrayDeque<ProducerBatch> batches = new ArrayDeque<>(WINDOW);

    int lastSequence() {
      return batches.isEmpty() ? -1 : batches.peekLast().getLastSequence();
    }
  }

  private final Map<Long, Entry> producers = new HashMap<>();
  private long duplicateOffset = -1;

  /** Judges a batch; after {@link Verdict#DUPLICATE}, {@link #duplicateOffset()} holds the original offset. */
  Verdict check(long producerId, int epoch, int baseSequence, int count) {
    Entry e = producers.get(producerId);
    // A producer (or a new epoch of it) starts at sequence 0: a later batch that overtook its first one
    // (sent to a new leader while the first is retried) must wait, or the first would then look like a
    // duplicate of it and be acknowledged without being written.
    if (e == null) {
      return baseSequence == 0 ? Verdict.APPEND : Verdict.OUT_OF_ORDER;
    }
    if (epoch < e.epoch) {
      return Verdict.FENCED;
    }
    if (epoch > e.epoch) {
      return baseSequence == 0 ? Verdict.APPEND : Verdict.OUT_OF_ORDER;
    }
    int lastSequence = baseSequence + count - 1;
    for (ProducerBatch b : e.batches) {
      if (b.getFirstSequence() == baseSequence && b.getLastSequence() == lastSequence) {
        duplicateOffset = b.getBaseOffset();
        return Verdict.DUPLICATE;
      }
    }
    if (e.batches.isEmpty() || baseSequence == e.lastSequence() + 1) {
      return Verdict.APPEND;
    }
    if (baseSequence <= e.lastSequence()) {
      return Verdict.DUPLICATE_UNKNOWN_OFFSET;
    }
    return Verdict.OUT_OF_ORDER;
  }

  long duplicateOffset() {
    return duplicateOffset;
  }

  /** Records an appended batch. */
  void record(long producerId, int epoch, int baseSequence, int count, long baseOffset, long logTimeMs) {
    Entry e = producers.computeIfAbsent(producerId, id -> new Entry());
    if (epoch != e.epoch) {
      e.batches.clear();
      e.epoch = epoch;
    }
    if (e.batches.size() == WINDOW) {
      e.batches.removeFirst();
    }
    e.batches.addLast(ProducerBatch.newBuilder()
        .setFirstSequence(baseSequence)
        .setLastSequence(baseSequence + count - 1)
        .setBaseOffset(baseOffset)
        .build());
    e.lastLogTimeMs = logTimeMs;
  }

  /** Forgets producers idle since before {@code cutoffLogTimeMs} (log time, so every replica agrees). */
  void expireIdleBefore(long cutoffLogTimeMs) {
    Iterator<Entry> it = producers.values().iterator();
    while (it.hasNext()) {
      if (it.next().lastLogTimeMs < cutoffLogTimeMs) {
        it.remove();
      }
    }
  }

  int size() {
    return producers.size();
  }

  List<ProducerEntry> toProto() {
    List<ProducerEntry> out = new ArrayList<>(producers.size());
    producers.entrySet().stream()
        .sorted(Map.Entry.comparingByKey())
        .forEach(en -> out.add(ProducerEntry.newBuilder()
            .setProducerId(en.getKey())
            .setEpoch(en.getValue().epoch)
            .setLastLogTimeMs(en.getValue().lastLogTimeMs)
            .addAllBatches(en.getValue().batches)
            .build()));
    return out;
  }

  void load(List<ProducerEntry> entries) {
    producers.clear();
    for (ProducerEntry pe : entries) {
      Entry e = new Entry();
      e.epoch = pe.getEpoch();
      e.lastLogTimeMs = pe.getLastLogTimeMs();
      e.batches.addAll(pe.getBatchesList());
      producers.put(pe.getProducerId(), e);
    }
  }
}
