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

  // ---- queue groups ----

  /**
   * A queue group's state on {@code topic}, per partition where the group exists, from each
   * partition's leader, without listing dead entries. Fails with {@code UNKNOWN_TOPIC}, or
   * {@code UNKNOWN_QUEUE_GROUP} when the group exists in none of the topic's partitions.
   */
  default CompletableFuture<QueueGroupDescription> describeQueue(String topic, String group) {
    return describeQueue(topic, group, 0);
  }

  /**
   * As {@link #describeQueue(String, String)}, also listing up to {@code deadLimit} dead entries per
   * partition, oldest first ({@link QueueGroupDescription.Partition#deadEntries()}).
   */
  CompletableFuture<QueueGroupDescription> describeQueue(String topic, String group, int deadLimit);

  /**
   * Every queue group of every topic with totals over its partitions, sorted by topic then group:
   * asks each partition's leader for all queue groups there. A topic without queue groups (such as a
   * dead-letter topic nobody consumes as a queue) contributes nothing.
   */
  CompletableFuture<List<QueueGroupListing>> listQueueGroups();

  /**
   * Returns the dead messages of {@code group} on {@code topic} that match {@code filter} to the
   * group's queue, in place, in every partition (a request to each partition's leader): they are
   * delivered again with a fresh delivery count; other groups of the topic see nothing, and no payload
   * is republished. A message already redriven {@link QueueConsumerConfig#maxRedrives()} times stays
   * dead (the loop guard; counted in the result). With {@code dryRun} nothing changes: the result says
   * what would. Fails with {@code UNKNOWN_TOPIC}, {@code UNKNOWN_QUEUE_GROUP} or {@code INVALID_REQUEST}
   * (an unknown reason, say).
   */
  CompletableFuture<RedriveResult> redrive(String topic, String group, RedriveFilter filter, boolean dryRun);

  /**
   * As {@link #redrive(String, String, RedriveFilter, boolean)} (not a dry run), paced to about
   * {@code ratePerSecond} messages per second over the whole topic: every second it redrives at most
   * that many, spread over the partitions that still have matching messages, until no partition has
   * any (or the filter's per-partition limit is reached). The future completes after the last round.
   *
   * @throws IllegalArgumentException if {@code ratePerSecond} is not positive
   */
  CompletableFuture<RedriveResult> redrive(String topic, String group, RedriveFilter filter, int ratePerSecond);

  /**
   * Drops the dead entries of {@code group} on {@code topic} that match {@code filter}, in every
   * partition: they are settled for good and no longer listed or redrivable. The copies already in the
   * dead-letter topic stay there (it is an ordinary topic). With {@code dryRun} nothing changes: the
   * result says what would be dropped.
   */
  CompletableFuture<RedriveResult> purgeDeadLetters(String topic, String group, RedriveFilter filter, boolean dryRun);
}
