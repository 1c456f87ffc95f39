package io.raftmq.metadata;

import io.raftmq.raft.proto.CreateTopic;
import java.util.regex.Pattern;

/** What makes a topic valid; checked by the broker before proposing and again at apply. */
public final class TopicRules {
  private TopicRules() {}

  public static final int MAX_PARTITIONS = 1000;
  public static final int MAX_NAME_LENGTH = 200;
  private static final Pattern NAME = Pattern.compile("[a-zA-Z0-9._-]{1," + MAX_NAME_LENGTH + "}");

  /** Null if the name is valid, else why not. */
  public static String validateName(String name) {
    if (name == null || !NAME.matcher(name).matches() || name.equals(".") || name.equals("..")) {
      return "invalid topic name '" + name + "': use 1-" + MAX_NAME_LENGTH
          + " characters of [a-zA-Z0-9._-], not '.' or '..'";
    }
    return null;
  }

  /** Null if the partition count is valid, else why not. */
  public static String validatePartitions(int partitions) {
    if (partitions < 1 || partitions > MAX_PARTITIONS) {
      return "invalid partition count " + partitions + ": must be 1.." + MAX_PARTITIONS;
    }
    return null;
  }

  static String validate(CreateTopic c) {
    String bad = validateName(c.getName());
    if (bad == null) {
      bad = validatePartitions(c.getPartitions());
    }
    if (bad == null && c.getAssignmentsCount() != c.getPartitions()) {
      bad = "placement covers " + c.getAssignmentsCount() + " of " + c.getPartitions() + " partitions";
    }
    if (bad == null) {
      for (var a : c.getAssignmentsList()) {
        if (a.getReplicasCount() != c.getReplicationFactor() || a.getReplicasCount() == 0) {
          bad = "placement does not match replication factor " + c.getReplicationFactor();
          break;
        }
      }
    }
    return bad;
  }
}
