package io.raftmq.client;

import java.util.List;
import java.util.Map;

/**
 * What {@link Admin#redrive} or {@link Admin#purgeDeadLetters} did, or would do on a dry run.
 *
 * @param topic the topic
 * @param group the queue group
 * @param dryRun true if nothing changed (the offsets are what would have been acted on)
 * @param purged true for a purge (dead entries dropped), false for a redrive (back to the queue)
 * @param offsets per partition number, the offsets acted on, in offset order (partitions with none left out)
 * @param keptByLoopGuard per partition number, matching messages that stay dead because they were
 *     redriven too often already (partitions with none left out)
 */
public record RedriveResult(String topic, String group, boolean dryRun, boolean purged,
    Map<Integer, List<Long>> offsets, Map<Integer, Integer> keptByLoopGuard) {

  /** Messages acted on over all partitions. */
  public long count() {
    return offsets.values().stream().mapToLong(List::size).sum();
  }

  /** Messages kept by the loop guard over all partitions. */
  public long keptByLoopGuardTotal() {
    return keptByLoopGuard.values().stream().mapToLong(Integer::longValue).sum();
  }
}
