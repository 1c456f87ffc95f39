package io.raftmq.metadata;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.HashSet;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.SortedMap;
import java.util.SortedSet;
import java.util.TreeMap;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

class AssignorsTest {
  private static SortedMap<String, Set<String>> members(int n, String... topics) {
    SortedMap<String, Set<String>> subs = new TreeMap<>();
    for (int i = 0; i < n; i++) {
      subs.put("m" + i, Set.of(topics));
    }
    return subs;
  }

  private static void assertCoversExactlyOnce(SortedMap<String, SortedSet<GroupPartition>> a, Map<String, Integer> counts) {
    Set<GroupPartition> seen = new HashSet<>();
    int total = 0;
    for (SortedSet<GroupPartition> s : a.values()) {
      for (GroupPartition gp : s) {
        assertThat(seen.add(gp)).as("%s assigned twice in %s", gp, a).isTrue();
      }
      total += s.size();
    }
    assertThat(total).isEqualTo(counts.values().stream().mapToInt(Integer::intValue).sum());
  }

  private static int spread(SortedMap<String, SortedSet<GroupPartition>> a) {
    int min = a.values().stream().mapToInt(Set::size).min().orElse(0);
    int max = a.values().stream().mapToInt(Set::size).max().orElse(0);
    return max - min;
  }

  @Test
  void shouldSplitRangesPerTopic() {
    var a = Assignors.assign(Assignors.RANGE, members(3, "t"), Map.of("t", 7), Map.of());
    assertThat(a.get("m0")).extracting(GroupPartition::partition).containsExactly(0, 1, 2);
    assertThat(a.get("m1")).extracting(GroupPartition::partition).containsExactly(3, 4);
    assertThat(a.get("m2")).extracting(GroupPartition::partition).containsExactly(5, 6);
  }

  @Test
  void shouldDealRoundRobin() {
    var a = Assignors.assign(Assignors.ROUND_ROBIN, members(2, "a", "b"), Map.of("a", 2, "b", 1), Map.of());
    assertThat(a.get("m0")).containsExactly(new GroupPartition("a", 0), new GroupPartition("b", 0));
    assertThat(a.get("m1")).containsExactly(new GroupPartition("a", 1));
  }

  @Test
  void shouldLeaveExtraMembersIdle() {
    for (String assignor : Assignors.ALL) {
      var a = Assignors.assign(assignor, members(5, "t"), Map.of("t", 3), Map.of());
      assertCoversExactlyOnce(a, Map.of("t", 3));
      assertThat(a.values().stream().filter(Set::isEmpty).count()).as(assignor).isEqualTo(2);
    }
  }

  @Test
  void stickyShouldMoveOnlyWhatBalanceNeedsWhenAMemberJoins() {
    Map<String, Integer> counts = Map.of("t", 6);
    var before = Assignors.assign(Assignors.COOPERATIVE_STICKY, members(3, "t"), counts, Map.of());
    assertThat(spread(before)).isZero();
    var after = Assignors.assign(Assignors.COOPERATIVE_STICKY, members(4, "t"), counts, before);
    assertCoversExactlyOnce(after, counts);
    assertThat(spread(after)).isLessThanOrEqualTo(1);
    int kept = 0;
    for (String m : before.keySet()) {
      Set<GroupPartition> both = new TreeSet<>(before.get(m));
      both.retainAll(after.get(m));
      kept += both.size();
    }
    // 6 partitions over 4 members (2,2,1,1): a single partition moves to the new member.
    assertThat(kept).isEqualTo(5);
    assertThat(after.get("m3")).hasSize(1);
  }

  @Test
  void stickyShouldKeepEverythingOfSurvivorsWhenAMemberLeaves() {
    Map<String, Integer> counts = Map.of("t", 8);
    var before = Assignors.assign(Assignors.COOPERATIVE_STICKY, members(4, "t"), counts, Map.of());
    SortedMap<String, Set<String>> three = members(4, "t");
    three.remove("m1");
    var after = Assignors.assign(Assignors.COOPERATIVE_STICKY, three, counts, before);
    assertCoversExactlyOnce(after, counts);
    for (String m : three.keySet()) {
      assertThat(after.get(m)).containsAll(before.get(m));
    }
  }

  @Test
  void shouldCoverEverythingOnceForRandomSubscriptions() {
    long seed = System.nanoTime();
    Random random = new Random(seed);
    for (int round = 0; round < 200; round++) {
      Map<String, Integer> counts = new TreeMap<>();
      int topics = 1 + random.nextInt(4);
      for (int t = 0; t < topics; t++) {
        counts.put("t" + t, 1 + random.nextInt(8));
      }
      SortedMap<String, Set<String>> subs = new TreeMap<>();
      int n = 1 + random.nextInt(6);
      for (int m = 0; m < n; m++) {
        Set<String> s = new TreeSet<>();
        s.add("t" + random.nextInt(topics));
        if (random.nextBoolean()) {
          s.add("t" + random.nextInt(topics));
        }
        subs.put("m" + m, s);
      }
      Map<String, Integer> subscribed = new TreeMap<>(counts);
      subscribed.keySet().removeIf(t -> subs.values().stream().noneMatch(s -> s.contains(t)));
      SortedMap<String, SortedSet<GroupPartition>> previous = new TreeMap<>();
      for (String assignor : Assignors.ALL) {
        var a = Assignors.assign(assignor, subs, counts, previous);
        assertCoversExactlyOnce(a, subscribed);
        a.forEach((m, set) -> set.forEach(gp ->
            assertThat(subs.get(m)).as("seed %d: %s only gets subscribed topics", seed, m).contains(gp.topic())));
        assertThat(Assignors.assign(assignor, subs, counts, previous)).as("deterministic").isEqualTo(a);
        previous = a;
      }
    }
  }
}
