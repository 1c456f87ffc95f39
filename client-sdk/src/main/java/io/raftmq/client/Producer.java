package io.raftmq.client;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;

/**
 * Sends messages to topic partitions. Messages are batched per partition and sent to each partition's
 * leader; the broker appends each batch as one Raft entry and, with {@link Acks#QUORUM}, answers once
 * a majority has it. Retriable failures (leader changes, timeouts, lost connections) are retried
 * within {@link ProducerConfig#deliveryTimeout()}; with {@link ProducerConfig#idempotent()} the broker
 * drops a retried batch it already has, so a retry never duplicates. Messages to one partition are
 * stored in send order. Thread-safe: share one producer between threads.
 */
public interface Producer extends AutoCloseable {
  /**
   * Queues {@code message} for sending. Returns at once unless the buffer memory is full, in which case
   * it blocks up to {@link ProducerConfig#maxBlock()} (it also blocks up to that long for the topic's
   * metadata the first time a topic is used). Never throws for broker errors: the future fails with a
   * {@link RaftMqException} instead, also when the buffer stayed full ({@code THROTTLED}), the message
   * is too large ({@code MESSAGE_TOO_LARGE}), the topic is unknown ({@code UNKNOWN_TOPIC}) or the
   * producer is closed. Futures complete on an SDK callback thread, never on a network thread; do not
   * block in their callbacks.
   */
  CompletableFuture<RecordMetadata> send(Message message);

  /** Sends every queued message at once (ignoring linger) and blocks until all their futures completed. */
  void flush();

  /** {@link #flush()}, then releases the producer's resources. Idempotent. */
  @Override
  void close();

  /**
   * Flushes for at most {@code timeout}; messages still unsent then fail with a {@link RaftMqException}.
   */
  void close(Duration timeout);

  /**
   * The partition a message with {@code key} goes to: {@code toPositive(murmur2(key)) % partitions}, the
   * same as Kafka's default partitioner. Blocks up to {@link ProducerConfig#maxBlock()} for the topic's
   * metadata.
   *
   * @throws RaftMqException if the topic is unknown
   */
  int partitionFor(String topic, byte[] key);
}
