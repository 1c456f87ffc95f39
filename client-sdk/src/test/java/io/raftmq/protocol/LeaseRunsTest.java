package io.raftmq.protocol;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class LeaseRunsTest {
  private static List<Long> write(long[] offsets, int[] counts) {
    List<Long> out = new ArrayList<>();
    LeaseRuns.Writer w = new LeaseRuns.Writer(out::add);
    for (int i = 0; i < offsets.length; i++) {
      w.add(offsets[i], counts[i]);
    }
    w.flush();
    return out;
  }

  @Test
  void consecutiveOffsetsWithOneDeliveryCountMakeOneRun() {
    assertThat(write(new long[] {7, 8, 9, 10, 12, 13, 14}, new int[] {1, 1, 2, 2, 2, 2, 1}))
        .containsExactly(7L, 2L, 1L, 9L, 2L, 2L, 12L, 2L, 2L, 14L, 1L, 1L);
    assertThat(write(new long[0], new int[0])).isEmpty();
  }

  @Test
  void countAndValidateAgreeAndMalformedRunsAreRefused() {
    List<Long> runs = write(new long[] {0, 1, 2, 5}, new int[] {1, 1, 1, 3});
    assertThat(LeaseRuns.validate(runs::get, runs.size())).isEqualTo(4);
    assertThat(LeaseRuns.count(runs::get, runs.size())).isEqualTo(4);
    List<Long> partial = List.of(0L, 1L);
    assertThatThrownBy(() -> LeaseRuns.validate(partial::get, partial.size()))
        .isInstanceOf(CorruptRecordException.class).hasMessageContaining("triples");
    List<Long> empty = List.of(3L, 0L, 1L);
    assertThatThrownBy(() -> LeaseRuns.validate(empty::get, empty.size()))
        .isInstanceOf(CorruptRecordException.class).hasMessageContaining("bad lease run");
    List<Long> huge = List.of(0L, (long) Integer.MAX_VALUE, 1L, 0L, 1L, 1L);
    assertThatThrownBy(() -> LeaseRuns.validate(huge::get, huge.size()))
        .isInstanceOf(CorruptRecordException.class).hasMessageContaining("more than");
  }
}
