package io.raftmq.client;

/**
 * One dead message of a queue group in a partition, as the partition's state keeps it (the copy in
 * the dead-letter topic carries the same facts as {@link DeadLetters} headers).
 *
 * @param offset the message's offset in its partition
 * @param reason {@code MAX_DELIVERIES}, {@code REJECTED} or {@code EXPIRED}
 * @param errorClass the client's error class, or empty
 * @param errorMessage the client's error message or reject reason, or empty
 * @param attempts deliveries made before it died
 * @param firstFailureMs time of the first failed attempt (leader clock, ms since the epoch), 0 if none
 * @param lastFailureMs time of the last failed attempt, 0 if none
 * @param deadAtMs when it died
 * @param forwarded whether its copy is in the dead-letter topic yet
 * @param redrives how often it was redriven before
 */
public record DeadLetterEntry(long offset, String reason, String errorClass, String errorMessage, int attempts,
    long firstFailureMs, long lastFailureMs, long deadAtMs, boolean forwarded, int redrives) {}
