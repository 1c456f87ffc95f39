package io.raftmq.client;

import java.util.List;
import java.util.Set;

/**
 * A consumer group in detail: members, what each consumes, and per partition the committed offset,
 * the high watermark and the lag.
 *
 * @param name the group id
 * @param state Empty, Stable or Reconciling
 * @param generation the group's generation
 * @param assignor cooperative-sticky, range or round-robin
 * @param members live members
 * @param partitions one row per partition of the group's topics
 */
public record GroupDescription(String name, String state, long generation, String assignor,
    List<Member> members, List<PartitionLag> partitions) {

  /**
   * One member.
   *
   * @param memberId the member's id
   * @param clientId the client id it connected with
   * @param host the host it reported
   * @param topics what it subscribes to
   * @param assignment what it consumes now
   * @param target what the assignor wants it to own (differs during a hand-over)
   */
  public record Member(String memberId, String clientId, String host, List<String> topics,
      Set<TopicPartition> assignment, Set<TopicPartition> target) {
    /** More members than partitions: this one has nothing to do. */
    public boolean idle() {
      return target.isEmpty();
    }
  }

  /**
   * The group's position in one partition.
   *
   * @param partition the partition
   * @param committedOffset the committed offset, -1 if none
   * @param logEndOffset the high watermark, -1 if unknown
   * @param lag high watermark minus committed offset (the whole log from its start if nothing is committed), -1 if unknown
   * @param memberId the member consuming it now, or empty
   * @param host that member's host, or empty
   */
  public record PartitionLag(TopicPartition partition, long committedOffset, long logEndOffset, long lag,
      String memberId, String host) {}
}
