package io.raftmq.client;

import java.util.Objects;

/**
 * One partition of one topic; a value type.
 *
 * @param topic the topic name
 * @param partition the partition number, from 0
 */
public record TopicPartition(String topic, int partition) {
  /** Validates the fields. */
  public TopicPartition {
    Objects.requireNonNull(topic, "topic");
  }

  @Override
  public String toString() {
    return topic + "-" + partition;
  }
}
