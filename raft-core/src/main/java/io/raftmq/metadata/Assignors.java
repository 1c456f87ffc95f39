package io.raftmq.metadata;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SortedMap;
import java.util.SortedSet;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * The consumer-group partition assignors. Each is a deterministic function of the members (in
 * member-id order), their subscriptions, the topics' partition counts and (for sticky) the previous
 * target: every replica of the metadata group computes the same assignment at apply.
 */
public final class Assignors {
  public static final String COOPERATIVE_STICKY = "cooperative-sticky";
  public static final String RANGE = "range";
  public static final String ROUND_ROBIN = "round-robin";
  public static final Set<String> ALL = Set.of(COOPERATIVE_STICKY, RANGE, ROUND_ROBIN);

  private Assignors() {}

  /**
   * The target assignment: member id → partitions. Members subscribed to nothing that exists get an
   * empty set (they are idle, as are members beyond the number of partitions).
   *
   * @param subscriptions member id → subscribed topics, for every member
   * @param partitionCounts topic → partition count, for existing topics
   * @param previous the previous target (used by the sticky assignor)
   */
  public static SortedMap<String, SortedSet<GroupPartition>> assign(String assignor,
      SortedMap<String, Set<String>> subscriptions, Map<String, Integer> partitionCounts,
      Map<String, ? extends Set<GroupPartition>> previous) {
    SortedMap<String, SortedSet<GroupPartition>> out = new TreeMap<>();
    subscriptions.keySet().forEach(m -> out.put(m, new TreeSet<>()));
    if (subscriptions.isEmpty()) {
      return out;
    }
    switch (assignor) {
      case RANGE -> range(subscriptions, partitionCounts, out);
      case ROUND_ROBIN -> roundRobin(subscriptions, partitionCounts, out);
      default -> sticky(subscriptions, partitionCounts, previous, out);
    }
    return out;
  }

  private static SortedSet<String> subscribedTopics(SortedMap<String, Set<String>> subs, Map<String, Integer> counts) {
    SortedSet<String> topics = new TreeSet<>();
    subs.values().forEach(topics::addAll);
    topics.retainAll(counts.keySet());
    return topics;
  }

  /** Per topic, contiguous ranges over the members subscribed to it; the first ones get one extra. */
  private static void range(SortedMap<String, Set<String>> subs, Map<String, Integer> counts,
      SortedMap<String, SortedSet<GroupPartition>> out) {
    for (String topic : subscribedTopics(subs, counts)) {
      List<String> members = new ArrayList<>();
      subs.forEach((m, t) -> {
        if (t.contains(topic)) {
          members.add(m);
        }
      });
      int n = counts.get(topic);
      int each = n / members.size();
      int extra = n % members.size();
      int p = 0;
      for (int i = 0; i < members.size(); i++) {
        int take = each + (i < extra ? 1 : 0);
        for (int k = 0; k < take; k++) {
          out.get(members.get(i)).add(new GroupPartition(topic, p++));
        }
      }
    }
  }

  /** All partitions in (topic, partition) order, dealt in turn to the members subscribed to each. */
  private static void roundRobin(SortedMap<String, Set<String>> subs, Map<String, Integer> counts,
      SortedMap<String, SortedSet<GroupPartition>> out) {
    List<String> members = new ArrayList<>(subs.keySet());
    int next = 0;
    for (String topic : subscribedTopics(subs, counts)) {
      for (int p = 0; p < counts.get(topic); p++) {
        for (int tries = 0; tries < members.size(); tries++) {
          String m = members.get(next % members.size());
          next++;
          if (subs.get(m).contains(topic)) {
            out.get(m).add(new GroupPartition(topic, p));
            break;
          }
        }
      }
    }
  }

  /**
   * Keeps every member's previous partitions that still exist and that it still subscribes to, gives
   * unowned partitions to the least loaded eligible member, then moves partitions one at a time from
   * the most to the least loaded member until no two eligible members differ by more than one.
   */
  private static void sticky(SortedMap<String, Set<String>> subs, Map<String, Integer> counts,
      Map<String, ? extends Set<GroupPartition>> previous, SortedMap<String, SortedSet<GroupPartition>> out) {
    SortedSet<GroupPartition> all = new TreeSet<>();
    for (String topic : subscribedTopics(subs, counts)) {
      for (int p = 0; p < counts.get(topic); p++) {
        all.add(new GroupPartition(topic, p));
      }
    }
    Set<GroupPartition> taken = new HashSet<>();
    for (Map.Entry<String, SortedSet<GroupPartition>> e : out.entrySet()) {
      Set<GroupPartition> prev = previous.get(e.getKey());
      if (prev == null) {
        continue;
      }
      for (GroupPartition gp : new TreeSet<>(prev)) {
        if (all.contains(gp) && subs.get(e.getKey()).contains(gp.topic()) && taken.add(gp)) {
          e.getValue().add(gp);
        }
      }
    }
    for (GroupPartition gp : all) {
      if (taken.contains(gp)) {
        continue;
      }
      String best = null;
      for (Map.Entry<String, SortedSet<GroupPartition>> e : out.entrySet()) {
        if (subs.get(e.getKey()).contains(gp.topic())
            && (best == null || e.getValue().size() < out.get(best).size())) {
          best = e.getKey();
        }
      }
      if (best != null) {
        out.get(best).add(gp);
        taken.add(gp);
      }
    }
    // Balance: each move lowers the spread; bounded by the number of partitions times members.
    int limit = all.size() * out.size() + 1;
    for (int moves = 0; moves < limit; moves++) {
      if (!moveOne(subs, out)) {
        break;
      }
    }
  }

  private static boolean moveOne(SortedMap<String, Set<String>> subs, SortedMap<String, SortedSet<GroupPartition>> out) {
    // The most loaded member that can give a partition to a member with at least two fewer.
    List<String> byLoadDesc = new ArrayList<>(out.keySet());
    byLoadDesc.sort((a, b) -> {
      int c = Integer.compare(out.get(b).size(), out.get(a).size());
      return c != 0 ? c : a.compareTo(b);
    });
    List<String> byLoadAsc = new ArrayList<>(out.keySet());
    byLoadAsc.sort((a, b) -> {
      int c = Integer.compare(out.get(a).size(), out.get(b).size());
      return c != 0 ? c : a.compareTo(b);
    });
    for (String from : byLoadDesc) {
      for (String to : byLoadAsc) {
        if (out.get(from).size() - out.get(to).size() <= 1) {
          break;
        }
        // Give away the last (highest) partition the receiver may take.
        List<GroupPartition> candidates = new ArrayList<>(out.get(from));
        for (int i = candidates.size() - 1; i >= 0; i--) {
          GroupPartition gp = candidates.get(i);
          if (subs.get(to).contains(gp.topic())) {
            out.get(from).remove(gp);
            out.get(to).add(gp);
            return true;
          }
        }
      }
    }
    return false;
  }
}
