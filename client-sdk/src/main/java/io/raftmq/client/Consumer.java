package io.raftmq.client;

import java.time.Duration;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Reads records from partitions, each from its current position onwards, by fetching committed batches
 * from the partitions' leaders. Partitions come either from {@link #assign} (no group) or from
 * {@link #subscribe} (a consumer group, {@link ConsumerConfig#groupId()}): the group's members share
 * the partitions of the subscribed topics, resume from the group's committed offsets, and hand
 * partitions over cooperatively when members join or leave. Not thread-safe: use one consumer from
 * one thread, as with Kafka's consumer.
 */
public interface Consumer extends AutoCloseable {
  /**
   * Joins the consumer group {@link ConsumerConfig#groupId()} subscribed to {@code topics}; partitions
   * arrive (and leave) during later {@link #poll} calls, which call {@code listener}.
   *
   * @throws IllegalStateException without a group id, or after {@link #assign}
   */
  void subscribe(Collection<String> topics, RebalanceListener listener);

  /** {@link #subscribe(Collection, RebalanceListener)} without a listener. */
  default void subscribe(Collection<String> topics) {
    subscribe(topics, RebalanceListener.NONE);
  }

  /** The subscribed topics (empty without a subscription). */
  Set<String> subscription();

  /** Leaves the group (committing first if auto-commit is on); the consumer may subscribe again. */
  void unsubscribe();

  /**
   * Commits the current positions of all owned partitions (the offsets after the records polls have
   * returned) and waits. Commit after processing: that is what makes delivery at-least-once.
   *
   * @throws RaftMqException e.g. {@code GENERATION_FENCED} when a partition moved to another member
   */
  void commitSync();

  /** Commits {@code offsets} (the next offset to read, per partition) and waits. */
  void commitSync(Map<TopicPartition, Long> offsets);

  /** Commits the current positions without waiting; {@code callback} (may be null) runs in a later poll. */
  void commitAsync(OffsetCommitCallback callback);

  /** {@link #commitAsync(OffsetCommitCallback)} without a callback (failures are logged). */
  default void commitAsync() {
    commitAsync(null);
  }

  /** Commits {@code offsets} without waiting. */
  void commitAsync(Map<TopicPartition, Long> offsets, OffsetCommitCallback callback);

  /** The group's committed offsets of {@code partitions} (absent: nothing committed); blocks up to the request timeout. */
  Map<TopicPartition, Long> committed(Set<TopicPartition> partitions);

  /** Stops returning (and fetching) records of {@code partitions} until {@link #resume}; they stay owned. */
  void pause(Collection<TopicPartition> partitions);

  /** Undoes {@link #pause}. */
  void resume(Collection<TopicPartition> partitions);

  /** The paused partitions. */
  Set<TopicPartition> paused();

  /**
   * Moves the positions of {@code partitions} to the first record at or after {@code timestampMs}
   * (the high watermark if there is none).
   */
  void seekToTimestamp(Collection<TopicPartition> partitions, long timestampMs);

  /** The group generation this member acts in, -1 without a group or before the first join. */
  long groupGeneration();

  /**
   * Replaces the assignment with {@code partitions} (no consumer group). New partitions start where
   * {@link ConsumerConfig#autoOffsetReset()} says unless {@link #seek} is called; positions of
   * partitions kept are kept.
   */
  void assign(Collection<TopicPartition> partitions);

  /** The partitions this consumer reads now (assigned, or owned in its group). */
  Set<TopicPartition> assignment();

  /**
   * Returns the next records of the assigned partitions, in offset order per partition, at most
   * {@link ConsumerConfig#maxPollRecords()}, and advances the positions past them. Returns as soon as
   * some records are there, or an empty list (never null) once {@code timeout} has passed. Retriable
   * errors are handled inside (metadata refresh, retry on the next poll).
   *
   * @throws RaftMqException on a position out of range with {@link OffsetReset#NONE}, or a corrupt batch
   */
  List<ConsumerRecord> poll(Duration timeout);

  /** Sets the next offset {@link #poll} returns for {@code tp}, which must be assigned. */
  void seek(TopicPartition tp, long offset);

  /** Moves the positions of {@code tps} to their log start offsets (resolved on the next poll). */
  void seekToBeginning(Collection<TopicPartition> tps);

  /** Moves the positions of {@code tps} to their high watermarks (resolved on the next poll). */
  void seekToEnd(Collection<TopicPartition> tps);

  /**
   * The offset of the next record {@link #poll} returns for {@code tp}; asks the broker if the position
   * is not resolved yet (blocks up to the client's request timeout).
   */
  long position(TopicPartition tp);

  /**
   * For each partition, the first offset whose record timestamp is at or after the given time (ms), or
   * the high watermark if none is. Uses {@code LIST_OFFSETS}; blocks up to the request timeout.
   */
  Map<TopicPartition, Long> offsetsForTimes(Map<TopicPartition, Long> timestamps);

  /** The log start offsets of {@code tps}; blocks up to the request timeout. */
  Map<TopicPartition, Long> beginningOffsets(Collection<TopicPartition> tps);

  /** The high watermarks (next offset to be committed) of {@code tps}; blocks up to the request timeout. */
  Map<TopicPartition, Long> endOffsets(Collection<TopicPartition> tps);

  /**
   * Releases the consumer: in a group, commits the positions if auto-commit is on, calls the
   * listener's revoke, and leaves the group so its partitions move at once (not after the session
   * timeout). Fetches in flight are abandoned. Idempotent.
   */
  @Override
  void close();
}
