package io.raftmq.client;

import java.util.Map;

/**
 * One queue group on one topic, with totals over the partitions where it exists, as
 * {@link Admin#listQueueGroups} reports it.
 *
 * @param topic the topic
 * @param group the queue group
 * @param deadLetterTopic where its dead letters go (that of its lowest partition, if they differ)
 * @param partitions partitions where the group exists
 * @param inFlight messages leased now
 * @param available unsettled messages waiting
 * @param backlog messages still to process (unseen, available and in flight)
 * @param redelivered deliveries after the first, a running total
 * @param leaseExpiries leases that ran out, a running total
 * @param acked messages acked, a running total
 * @param dead dead messages kept (the DLQ depth)
 * @param deadByReason dead messages per reason code
 * @param oldestDeadMs when the oldest dead message died (ms since the epoch), 0 if none
 */
public record QueueGroupListing(String topic, String group, String deadLetterTopic, int partitions, long inFlight,
    long available, long backlog, long redelivered, long leaseExpiries, long acked, long dead,
    Map<String, Long> deadByReason, long oldestDeadMs) {

  /** The most frequent reason among the dead messages, or empty if none. */
  public String topReason() {
    return deadByReason.entrySet().stream().max(Map.Entry.comparingByValue()).map(Map.Entry::getKey).orElse("");
  }
}
