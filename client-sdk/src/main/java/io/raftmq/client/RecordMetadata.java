package io.raftmq.client;

/**
 * Where the broker stored a sent message.
 *
 * @param topic the topic
 * @param partition the partition
 * @param offset the message's offset, or -1 when it is not known (acks other than {@link Acks#QUORUM},
 *     or a retried batch the broker recognised as already written)
 * @param timestamp the leader's log time stamped into the message's batch (ms since the epoch), -1 if
 *     unknown
 */
public record RecordMetadata(String topic, int partition, long offset, long timestamp) {}
