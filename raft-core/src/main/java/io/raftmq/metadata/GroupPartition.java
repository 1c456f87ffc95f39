package io.raftmq.metadata;

import io.raftmq.raft.proto.GroupPartitions;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.SortedSet;
import java.util.TreeMap;
import java.util.TreeSet;

/** One partition of one topic, as consumer-group assignment sees it; ordered by topic, then partition. */
public record GroupPartition(String topic, int partition) implements Comparable<GroupPartition> {
  @Override
  public int compareTo(GroupPartition o) {
    int c = topic.compareTo(o.topic);
    return c != 0 ? c : Integer.compare(partition, o.partition);
  }

  @Override
  public String toString() {
    return topic + "-" + partition;
  }

  /** Decodes the grouped wire form. */
  public static SortedSet<GroupPartition> fromProto(Collection<GroupPartitions> list) {
    SortedSet<GroupPartition> out = new TreeSet<>();
    for (GroupPartitions g : list) {
      for (int p : g.getPartitionsList()) {
        out.add(new GroupPartition(g.getTopic(), p));
      }
    }
    return out;
  }

  /** Encodes a set grouped by topic, in order. */
  public static List<GroupPartitions> toProto(Collection<GroupPartition> set) {
    Map<String, GroupPartitions.Builder> byTopic = new TreeMap<>();
    for (GroupPartition gp : new TreeSet<>(set)) {
      byTopic.computeIfAbsent(gp.topic, t -> GroupPartitions.newBuilder().setTopic(t)).addPartitions(gp.partition);
    }
    List<GroupPartitions> out = new ArrayList<>();
    byTopic.values().forEach(b -> out.add(b.build()));
    return out;
  }
}
