package io.raftmq.client;

import java.nio.charset.StandardCharsets;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * What a {@link Producer} sends: a topic, an optional partition, key, value, headers and timestamp.
 * Immutable once built (the byte arrays are not copied: do not modify them after building) and
 * thread-safe.
 */
public final class Message {
  private final String topic;
  private final Integer partition;
  private final byte[] key;
  private final byte[] value;
  private final Map<String, byte[]> headers;
  private final Long timestamp;

  private Message(Builder b) {
    this.topic = b.topic;
    this.partition = b.partition;
    this.key = b.key;
    this.value = b.value;
    this.headers = b.headers == null ? Map.of() : Collections.unmodifiableMap(b.headers);
    this.timestamp = b.timestamp;
  }

  /** A builder for a message to {@code topic}. */
  public static Builder builder(String topic) {
    return new Builder(topic);
  }

  /** A message with UTF-8 key and value (either may be null). */
  public static Message of(String topic, String key, String value) {
    return builder(topic).key(key).value(value).build();
  }

  /** A message with the given key and value (either may be null). */
  public static Message of(String topic, byte[] key, byte[] value) {
    return builder(topic).key(key).value(value).build();
  }

  /** The topic. */
  public String topic() {
    return topic;
  }

  /** The explicit partition, or null to choose it from the key (murmur2) or round-robin when the key is null. */
  public Integer partition() {
    return partition;
  }

  /** The key, or null. */
  public byte[] key() {
    return key;
  }

  /** The value, or null. */
  public byte[] value() {
    return value;
  }

  /** The headers, in insertion order; never null. */
  public Map<String, byte[]> headers() {
    return headers;
  }

  /** The record timestamp (ms since the epoch), or null for "now at send". */
  public Long timestamp() {
    return timestamp;
  }

  @Override
  public String toString() {
    return "Message{topic=" + topic + ", partition=" + partition + ", key=" + (key == null ? "null" : key.length + "B")
        + ", value=" + (value == null ? "null" : value.length + "B") + ", headers=" + headers.keySet() + "}";
  }

  /** Builds a {@link Message}; not thread-safe. */
  public static final class Builder {
    private final String topic;
    private Integer partition;
    private byte[] key;
    private byte[] value;
    private LinkedHashMap<String, byte[]> headers;
    private Long timestamp;

    private Builder(String topic) {
      this.topic = Objects.requireNonNull(topic, "topic");
    }

    /** Sends to this partition instead of choosing one from the key. */
    public Builder partition(int partition) {
      if (partition < 0) {
        throw new IllegalArgumentException("partition must be >= 0: " + partition);
      }
      this.partition = partition;
      return this;
    }

    /** The key (null allowed). */
    public Builder key(byte[] key) {
      this.key = key;
      return this;
    }

    /** The key as UTF-8 (null allowed). */
    public Builder key(String key) {
      this.key = key == null ? null : key.getBytes(StandardCharsets.UTF_8);
      return this;
    }

    /** The value (null allowed). */
    public Builder value(byte[] value) {
      this.value = value;
      return this;
    }

    /** The value as UTF-8 (null allowed). */
    public Builder value(String value) {
      this.value = value == null ? null : value.getBytes(StandardCharsets.UTF_8);
      return this;
    }

    /** Adds (or replaces) a header; its value may be null. */
    public Builder header(String name, byte[] value) {
      Objects.requireNonNull(name, "header name");
      if (headers == null) {
        headers = new LinkedHashMap<>();
      }
      headers.put(name, value);
      return this;
    }

    /** Adds (or replaces) a header with a UTF-8 value. */
    public Builder header(String name, String value) {
      return header(name, value == null ? null : value.getBytes(StandardCharsets.UTF_8));
    }

    /** The record timestamp (ms since the epoch); default: the time of {@link Producer#send}. */
    public Builder timestamp(long timestampMs) {
      this.timestamp = timestampMs;
      return this;
    }

    /** The message. */
    public Message build() {
      return new Message(this);
    }
  }
}
