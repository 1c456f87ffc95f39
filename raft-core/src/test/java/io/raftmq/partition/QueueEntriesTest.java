package io.raftmq.partition;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;

/** The live-entry table against a sorted map doing the same operations. */
class QueueEntriesTest {

  @Test
  void randomAppendsRemovesInsertsAndCompactionsAgreeWithASortedMap() {
    for (long seed = 0; seed < 20; seed++) {
      Random random = new Random(seed);
      QueueEntries t = new QueueEntries();
      TreeMap<Long, Long> model = new TreeMap<>(); // offset -> key hash
      long next = 0;
      for (int step = 0; step < 5_000; step++) {
        int op = random.nextInt(12);
        if (op < 3) {
          long off = next;
          next += 1 + random.nextInt(3);
          int i = t.append(off, off * 7 + 1, 0);
          model.put(off, off * 7 + 1);
          assertThat(t.offset[i]).isEqualTo(off);
        } else if (op == 3) {
          // A run of plain records (no key): key hash 0.
          int n = random.nextInt(60);
          t.appendRun(next, n);
          for (int k = 0; k < n; k++) {
            model.put(next + k, 0L);
          }
          next += n + random.nextInt(2);
        } else if (op == 9 && !model.isEmpty()) {
          // An ack run: consecutive live slots freed with the head left behind, then settled.
          int i = t.find(model.firstKey()) + random.nextInt(Math.min(model.size(), 5));
          for (int n = random.nextInt(40); n > 0 && i < t.tail(); n--, i++) {
            if (t.state[i] != QueueEntries.FREE) {
              model.remove(t.offset[i]);
              t.free(i);
            }
          }
          t.settleHead();
        } else if (op < 8 && !model.isEmpty()) {
          // Remove mostly near the front, sometimes anywhere (a stuck message keeps the head back).
          List<Long> keys = new ArrayList<>(model.keySet());
          long off = keys.get(random.nextInt(4) == 0 ? random.nextInt(keys.size())
              : Math.min(keys.size() - 1, random.nextInt(8)));
          int i = t.find(off);
          assertThat(i).as("seed %d step %d: %d is live", seed, step, off).isNotNegative();
          t.remove(i);
          model.remove(off);
          assertThat(t.find(off)).isEqualTo(-1);
        } else if (op == 8 && next > 0) {
          // A redrive puts back an offset below others.
          long off = random.nextLong(next);
          if (!model.containsKey(off)) {
            int i = t.insert(off, off * 7 + 1, 0);
            assertThat(t.offset[i]).isEqualTo(off);
            model.put(off, off * 7 + 1);
          }
        } else {
          t.compact();
        }
        assertThat(t.size()).isEqualTo(model.size());
        if (!model.isEmpty()) {
          assertThat(t.firstOffset()).isEqualTo(model.firstKey());
        }
      }
      // Every live entry is found with its own data, in offset order; nothing else is.
      List<Long> walked = new ArrayList<>();
      for (int i = t.head(); i < t.tail(); i++) {
        if (t.state[i] != QueueEntries.FREE) {
          walked.add(t.offset[i]);
          assertThat(t.keyHash[i]).isEqualTo(model.get(t.offset[i]));
          assertThat(t.state[i]).isEqualTo(QueueEntries.AVAILABLE);
          assertThat(t.deliveries[i]).isZero();
          assertThat(t.consumer[i]).isNull();
        }
      }
      assertThat(walked).containsExactlyElementsOf(model.keySet());
      for (Map.Entry<Long, Long> e : model.entrySet()) {
        assertThat(t.keyHash[t.find(e.getKey())]).isEqualTo(e.getValue());
      }
    }
  }

  @Test
  void freeSlotsDoNotAccumulateBehindAStuckHead() {
    QueueEntries t = new QueueEntries();
    t.append(0, 0, 0); // never settled
    for (long off = 1; off < 1_000_000; off++) {
      t.remove(t.append(off, 0, 0));
      t.compact();
    }
    assertThat(t.size()).isEqualTo(1);
    assertThat(t.tail() - t.head()).as("slots in use").isLessThan(200);
    assertThat(t.offset.length).as("capacity").isLessThan(1024);
  }

  @Test
  void aDrainedTableGivesItsMemoryBack() {
    QueueEntries t = new QueueEntries();
    for (long off = 0; off < 40_000; off++) {
      t.append(off, off, 0);
    }
    assertThat(t.capacity()).isGreaterThanOrEqualTo(40_000);
    for (long off = 0; off < 39_990; off++) {
      t.remove(t.find(off));
    }
    t.compact();
    assertThat(t.capacity()).as("not at the first compaction").isGreaterThanOrEqualTo(40_000);
    for (int i = 1; i < QueueEntries.SHRINK_WINDOW; i++) {
      t.compact();
    }
    assertThat(t.capacity()).isLessThanOrEqualTo(64);
    assertThat(t.size()).isEqualTo(10);
    assertThat(t.keyHash[t.find(39_995)]).isEqualTo(39_995);
    for (long off = 39_990; off < 40_000; off++) {
      t.remove(t.find(off));
    }
    for (long off = 40_000; off < 50_000; off++) {
      t.append(off, off, 0);
    }
    for (long off = 40_000; off < 50_000; off++) {
      t.remove(t.find(off));
    }
    t.compact();
    assertThat(t.capacity()).as("an empty table at once").isLessThanOrEqualTo(64);
  }

  @Test
  void reserveMakesRoomForABatchOfAppendsWithOneReallocationAtMost() {
    QueueEntries t = new QueueEntries();
    t.append(0, 0, 0);
    t.remove(t.find(0)); // a drained table: tail and head back at 0
    t.append(1, 0, 0);
    t.reserve(10_000);
    long[] arrays = t.offset;
    assertThat(arrays.length).as("room for the batch").isGreaterThanOrEqualTo(10_001);
    for (long off = 2; off <= 10_001; off++) {
      t.append(off, 0, 0);
    }
    assertThat(t.offset).as("no reallocation while appending the batch").isSameAs(arrays);
    assertThat(t.size()).isEqualTo(10_001);
    assertThat(t.find(5_000)).isNotNegative();
    assertThat(t.keyHash[t.find(10_001)]).isZero();
    long[] before = t.offset;
    t.reserve(10);
    assertThat(t.offset).as("enough room already").isSameAs(before);
  }

  @Test
  void aTableInSteadyUseKeepsItsSize() {
    // Bursts of 2,000 in, then acks down to a few hundred: the capacity settles and stays.
    QueueEntries t = new QueueEntries();
    long next = 0;
    long oldest = 0;
    java.util.Set<Integer> capacities = new java.util.HashSet<>();
    for (int round = 0; round < 2_000; round++) {
      for (int i = 0; i < 2_000; i++) {
        t.append(next++, 0, 0);
      }
      t.compact();
      while (t.size() > 300 + (round % 7) * 100) {
        t.remove(t.find(oldest++));
      }
      t.compact();
      if (round >= 1_000) {
        capacities.add(t.capacity());
      }
    }
    assertThat(capacities).as("capacities in the second half").hasSize(1);
  }

  @Test
  void appendsMustAscendAndALiveOffsetCannotBeInsertedTwice() {
    QueueEntries t = new QueueEntries();
    t.append(5, 0, 0);
    assertThatThrownBy(() -> t.append(5, 0, 0)).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> t.insert(5, 0, 0)).isInstanceOf(IllegalArgumentException.class);
    t.insert(3, 0, 0);
    assertThat(t.firstOffset()).isEqualTo(3);
  }
}
