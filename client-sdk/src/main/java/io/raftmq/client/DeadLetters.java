package io.raftmq.client;

/**
 * Header names of RaftMQ's queue features: the provenance headers every dead letter carries in its DLQ
 * topic, and the per-message time-to-live header a producer may set. Values are UTF-8 text (numbers in
 * decimal). A dead letter keeps the original record's key, value, timestamp and headers, plus these.
 */
public final class DeadLetters {
  private DeadLetters() {}

  /** Per-message time to live in ms (decimal text), counted from the record's timestamp; overrides the
   *  topic's {@code message.ttl.ms}. A queue group dead-letters (or drops) it once expired. */
  public static final String TTL_HEADER = "raftmq.ttl.ms";

  /** Deterministic id of the dead-lettering: {@code group/topic/partition/offset/deadLetterSequence}. */
  public static final String ID = "raftmq.dlq.id";
  public static final String ORIGINAL_TOPIC = "raftmq.dlq.original.topic";
  public static final String ORIGINAL_PARTITION = "raftmq.dlq.original.partition";
  public static final String ORIGINAL_OFFSET = "raftmq.dlq.original.offset";
  /** The original key again (also the dead letter's own key), absent for a record without key. */
  public static final String ORIGINAL_KEY = "raftmq.dlq.original.key";
  public static final String GROUP = "raftmq.dlq.group";
  /** {@code MAX_DELIVERIES}, {@code REJECTED} or {@code EXPIRED}. */
  public static final String REASON = "raftmq.dlq.reason";
  /** The client's error class (bounded to 1024 characters), if it gave one. */
  public static final String ERROR_CLASS = "raftmq.dlq.error.class";
  /** The client's error message or reject reason (bounded to 1024 characters). */
  public static final String ERROR_MESSAGE = "raftmq.dlq.error.message";
  /** Deliveries made before it died. */
  public static final String ATTEMPTS = "raftmq.dlq.attempts";
  public static final String FIRST_FAILURE_MS = "raftmq.dlq.first.failure.ms";
  public static final String LAST_FAILURE_MS = "raftmq.dlq.last.failure.ms";
  public static final String DEAD_AT_MS = "raftmq.dlq.dead.at.ms";

  public static final String MAX_DELIVERIES = "MAX_DELIVERIES";
  public static final String REJECTED = "REJECTED";
  public static final String EXPIRED = "EXPIRED";

  /** The default DLQ topic of a queue group on {@code topic}. */
  public static String defaultTopic(String topic, String group) {
    return topic + ".dlq." + group;
  }
}
