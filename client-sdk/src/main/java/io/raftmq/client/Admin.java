package io.raftmq.client;

import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * Topic administration. Requests go to the metadata group's leader (a node that is not the leader
 * answers NOT_LEADER with a hint and the SDK retries there). Futures fail with a
 * {@link RaftMqException} and complete on an SDK callback thread. Thread-safe.
 */
public interface Admin {
  /**
   * Creates a topic. The broker commits it to the metadata group and starts a Raft group per
   * partition; the future completes when metadata shows the topic with a leader for every partition
   * (bounded by the client's request timeout).
   */
  CompletableFuture<TopicDescription> createTopic(NewTopic topic);

  /** Deletes a topic and all its data; the broker stops its partitions' Raft groups. */
  CompletableFuture<Void> deleteTopic(String name);

  /** The names of all topics, sorted. */
  CompletableFuture<List<String>> listTopics();

  /** One topic's partitions, leaders, offsets and configuration; fails with {@code UNKNOWN_TOPIC}. */
  CompletableFuture<TopicDescription> describeTopic(String name);

  /** Every consumer group, sorted by name. */
  CompletableFuture<List<GroupListing>> listGroups();

  /**
   * A group's members, state and generation, and per partition of its topics the committed offset,
   * high watermark and lag; fails with {@code UNKNOWN_GROUP}.
   */
  CompletableFuture<GroupDescription> describeGroup(String group);

  /**
   * Moves a group's committed offsets in every partition of {@code topic}. With {@code execute} false
   * nothing changes: the plan says what would. Refused ({@code GROUP_NOT_EMPTY}) while the group has
   * live members; {@code UNKNOWN_GROUP} for a group that does not exist.
   */
  CompletableFuture<OffsetResetPlan> resetOffsets(String group, String topic, OffsetResetSpec spec, boolean execute);

  /** Deletes a group without live members, with its committed offsets in every partition. */
  CompletableFuture<Void> deleteGroup(String group);
}
