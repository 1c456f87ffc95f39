package io.raftmq.client;

import java.util.Map;
import java.util.Objects;

/**
 * What {@link Admin#createTopic} asks for.
 *
 * @param name topic name, {@code [a-zA-Z0-9._-]{1,200}}
 * @param partitions partition count, 1..1000
 * @param replicationFactor replicas per partition; 0 lets the broker choose (min(3, nodes))
 * @param configs topic configuration overrides (may be empty)
 */
public record NewTopic(String name, int partitions, int replicationFactor, Map<String, String> configs) {
  /** Copies {@code configs}. */
  public NewTopic {
    Objects.requireNonNull(name, "name");
    configs = configs == null ? Map.of() : Map.copyOf(configs);
  }

  /** A topic with the default replication factor and no configuration overrides. */
  public static NewTopic of(String name, int partitions) {
    return new NewTopic(name, partitions, 0, Map.of());
  }
}
