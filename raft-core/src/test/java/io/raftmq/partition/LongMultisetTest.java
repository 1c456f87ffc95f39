package io.raftmq.partition;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;

/** The deadline multiset against a sorted map of counts. */
class LongMultisetTest {

  @Test
  void randomAddsAndRemovesAgreeWithASortedMapOfCounts() {
    for (long seed = 0; seed < 10; seed++) {
      Random random = new Random(seed);
      LongMultiset m = new LongMultiset();
      TreeMap<Long, Integer> model = new TreeMap<>();
      long clock = 1000;
      long size = 0;
      for (int step = 0; step < 5_000; step++) {
        if (random.nextInt(3) > 0 || model.isEmpty()) {
          // Mostly ascending (deadlines of successive acquires), sometimes earlier (short extends).
          long v = random.nextInt(5) == 0 ? clock - random.nextInt(500) : (clock += random.nextInt(3));
          int n = 1 + random.nextInt(4);
          m.add(v, n);
          model.merge(v, n, Integer::sum);
          size += n;
        } else {
          List<Long> keys = new ArrayList<>(model.keySet());
          long v = keys.get(random.nextInt(Math.min(keys.size(), random.nextBoolean() ? 3 : keys.size())));
          // One at a time (an unlease), or several at once (an ack run's leases of one acquire),
          // sometimes more than are held: all of them go.
          int n = random.nextBoolean() ? 1 : 1 + random.nextInt(6);
          int held = model.get(v);
          assertThat(n == 1 ? m.remove(v) : m.remove(v, n)).isTrue();
          model.computeIfPresent(v, (k, c) -> c <= n ? null : c - n);
          size -= Math.min(n, held);
        }
        assertThat(m.isEmpty()).isEqualTo(model.isEmpty());
        assertThat(m.size()).isEqualTo(size);
        if (!model.isEmpty()) {
          assertThat(m.min()).as("seed %d step %d", seed, step).isEqualTo(model.firstKey());
        }
      }
      assertThat(m.remove(-1)).as("absent").isFalse();
    }
  }
}
