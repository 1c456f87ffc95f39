package io.raftmq.client;

import java.nio.charset.StandardCharsets;
import java.util.Map;

/** A record a {@link Consumer} read: where it is stored and what it holds. Immutable and thread-safe. */
public final class ConsumerRecord {
  private final String topic;
  private final int partition;
  private final long offset;
  private final long timestamp;
  private final long logTimeMs;
  private final byte[] key;
  private final byte[] value;
  private final Map<String, byte[]> headers;

  /** Creates a record; the SDK builds these, tests may too. */
  public ConsumerRecord(String topic, int partition, long offset, long timestamp, long logTimeMs,
      byte[] key, byte[] value, Map<String, byte[]> headers) {
    this.topic = topic;
    this.partition = partition;
    this.offset = offset;
    this.timestamp = timestamp;
    this.logTimeMs = logTimeMs;
    this.key = key;
    this.value = value;
    this.headers = headers == null ? Map.of() : headers;
  }

  /** The topic. */
  public String topic() {
    return topic;
  }

  /** The partition. */
  public int partition() {
    return partition;
  }

  /** The record's offset in its partition. */
  public long offset() {
    return offset;
  }

  /** The producer's timestamp (ms since the epoch). */
  public long timestamp() {
    return timestamp;
  }

  /** The leader's append time of the record's batch (ms since the epoch). */
  public long logTimeMs() {
    return logTimeMs;
  }

  /** The key, or null. */
  public byte[] key() {
    return key;
  }

  /** The value, or null. */
  public byte[] value() {
    return value;
  }

  /** The headers (insertion order); never null. */
  public Map<String, byte[]> headers() {
    return headers;
  }

  /** The key decoded as UTF-8, or null. */
  public String keyAsString() {
    return key == null ? null : new String(key, StandardCharsets.UTF_8);
  }

  /** The value decoded as UTF-8, or null. */
  public String valueAsString() {
    return value == null ? null : new String(value, StandardCharsets.UTF_8);
  }

  /** The record's topic and partition. */
  public TopicPartition topicPartition() {
    return new TopicPartition(topic, partition);
  }

  @Override
  public String toString() {
    return "ConsumerRecord{" + topic + "-" + partition + "@" + offset + ", timestamp=" + timestamp + "}";
  }
}
