package io.raftmq.client;

/**
 * A queue group's settings in one partition, as the broker applies them (defaults filled in).
 *
 * @param visibilityTimeoutMs lease length of a receive that does not ask for another
 * @param maxDeliveries deliveries before a message dies with {@code MAX_DELIVERIES}; -1 unlimited
 * @param backoffBaseMs base of the retry backoff
 * @param backoffMaxMs cap of the retry backoff
 * @param maxInFlight messages leased at once in the partition for the group
 * @param ordering in which order messages are handed out
 * @param keyFailureMode with key ordering, what a dead message does to its key
 * @param maxRedrives redrives after which a message stays dead; -1 unlimited
 * @param deadLetterTopic where dead letters are copied
 */
public record QueueGroupSettings(long visibilityTimeoutMs, int maxDeliveries, long backoffBaseMs, long backoffMaxMs,
    int maxInFlight, QueueOrdering ordering, KeyFailureMode keyFailureMode, int maxRedrives,
    String deadLetterTopic) {}
