package io.raftmq.chaos;

import io.raftmq.client.ConsumerRecord;
import java.time.Duration;
import java.util.List;
import java.util.Map;

/**
 * What the log workload needs from a consumer, so that different kinds can be plugged in: today
 * {@link AssignLogConsumer} (assign + seek, committed offsets kept by the workload), later a consumer
 * in a group (subscribe, rebalances, commits to the broker). Used from one thread.
 *
 * <p>A <em>session</em> is a stretch of polling in which each partition's reads must be consecutive
 * offsets from the session's start positions; the checker checks order within a session. An assign
 * consumer has one session per incarnation; a group consumer starts a new session on every rebalance
 * (its id should name the member and generation).
 */
public interface LogConsumer extends AutoCloseable {
  /** The current session's id (changes when the assignment changes). */
  String session();

  /**
   * The current session's start position per assigned partition (-1 if not known), read once after
   * the session begins; the workload records it as the session's {@code assign} operation.
   */
  Map<Integer, Long> startPositions();

  /** The next records; may change the session (a rebalance). Throws on errors. */
  List<ConsumerRecord> poll(Duration timeout);

  /**
   * Commits, per partition, the offset of the next record to read; returns what it committed (a group
   * consumer leaves out partitions it no longer owns), which the history records.
   */
  Map<Integer, Long> commit(Map<Integer, Long> nextOffsets);

  /** The committed offsets of the partitions this consumer reads, as the store of commits says now. */
  Map<Integer, Long> fetchCommitted();

  /** Ends the consumer abruptly: nothing is committed, nothing flushed (a client crash). */
  @Override
  void close();

  /** Makes consumers for the workload: one per incarnation of a consumer process. */
  interface Factory {
    /**
     * A consumer for workload process {@code process} reading {@code partitions} of {@code topic}
     * (a group consumer may read others instead, as its group assigns).
     */
    LogConsumer create(String process, String topic, List<Integer> partitions);

    /** The name of the group whose committed offsets the checker follows. */
    String group();
  }
}
