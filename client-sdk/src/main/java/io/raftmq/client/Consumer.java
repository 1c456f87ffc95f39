package io.raftmq.client;

import java.time.Duration;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Reads records from assigned partitions, each from its current position onwards, by fetching
 * committed batches from the partitions' leaders. Not thread-safe: use one consumer from one thread,
 * as with Kafka's consumer.
 */
public interface Consumer extends AutoCloseable {
  /**
   * Replaces the assignment with {@code partitions} (no consumer group). New partitions start where
   * {@link ConsumerConfig#autoOffsetReset()} says unless {@link #seek} is called; positions of
   * partitions kept are kept.
   */
  void assign(Collection<TopicPartition> partitions);

  /** The assigned partitions. */
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

  /** Releases the consumer; fetches in flight are abandoned. Idempotent. */
  @Override
  void close();
}
