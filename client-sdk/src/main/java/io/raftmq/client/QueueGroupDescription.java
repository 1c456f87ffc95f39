package io.raftmq.client;

import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * A queue group's state on one topic, per partition where the group exists (a queue group comes into
 * being in a partition at the first receive from it), read from each partition's leader.
 *
 * @param topic the topic
 * @param group the queue group
 * @param partitions one row per partition where the group exists, by partition number
 */
public record QueueGroupDescription(String topic, String group, List<Partition> partitions) {

  /**
   * The group in one partition.
   *
   * @param partition the partition number
   * @param start offsets below this are settled (acked, dropped or dead)
   * @param end offsets at or above this were never seen by the group
   * @param highWatermark the partition's high watermark
   * @param inFlight messages leased now
   * @param available unsettled messages waiting (new, or back after a failure)
   * @param redelivered deliveries after the first, a running total
   * @param leaseExpiries leases that ran out, a running total
   * @param acked messages acked, a running total
   * @param dead dead messages kept (for listing and redrive)
   * @param deadByReason dead messages per reason code
   * @param oldestDeadMs when the oldest dead message died (ms since the epoch), 0 if none
   * @param deadLetterTopic where dead letters are copied
   * @param settings the group's settings there
   * @param deadEntries the dead messages, oldest first, if asked for (bounded), else empty
   */
  public record Partition(int partition, long start, long end, long highWatermark, int inFlight, int available,
      long redelivered, long leaseExpiries, long acked, int dead, Map<String, Long> deadByReason, long oldestDeadMs,
      String deadLetterTopic, QueueGroupSettings settings, List<DeadLetterEntry> deadEntries) {

    /** Messages produced but not yet seen by the group ({@code highWatermark - end}, at least 0). */
    public long unseen() {
      return Math.max(0, highWatermark - end);
    }

    /** Messages still to process: unseen plus available plus in flight. */
    public long backlog() {
      return unseen() + available + inFlight;
    }
  }

  /** Leased messages over all partitions. */
  public long inFlight() {
    return partitions.stream().mapToLong(Partition::inFlight).sum();
  }

  /** Waiting messages over all partitions (available, not counting unseen ones). */
  public long available() {
    return partitions.stream().mapToLong(Partition::available).sum();
  }

  /** Dead messages over all partitions. */
  public long dead() {
    return partitions.stream().mapToLong(Partition::dead).sum();
  }

  /** Redeliveries over all partitions. */
  public long redelivered() {
    return partitions.stream().mapToLong(Partition::redelivered).sum();
  }

  /** Messages still to process over all partitions. */
  public long backlog() {
    return partitions.stream().mapToLong(Partition::backlog).sum();
  }

  /** Dead messages per reason over all partitions, by reason. */
  public Map<String, Long> deadByReason() {
    Map<String, Long> out = new TreeMap<>();
    partitions.forEach(p -> p.deadByReason().forEach((r, n) -> out.merge(r, n, Long::sum)));
    return out;
  }

  /** When the oldest dead message of any partition died (ms since the epoch), 0 if none. */
  public long oldestDeadMs() {
    return partitions.stream().mapToLong(Partition::oldestDeadMs).filter(t -> t > 0).min().orElse(0);
  }
}
