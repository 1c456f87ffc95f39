package io.raftmq.client;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Instant;
import org.junit.jupiter.api.Test;

class RedriveFilterTest {
  @Test
  void shouldMatchEverythingUnlessNarrowed() {
    RedriveFilter all = RedriveFilter.all();
    assertThat(all.reason()).isEmpty();
    assertThat(all.key()).isEmpty();
    assertThat(all.fromTime()).isEmpty();
    assertThat(all.limit()).isZero();
    assertThat(all.fromOffset()).isZero();
    assertThat(all.toOffset()).isZero();
  }

  @Test
  void shouldKeepItsFieldsAndCopyTheKey() {
    byte[] key = {1, 2};
    RedriveFilter f = RedriveFilter.builder().reason("REJECTED").key(key).fromOffset(3).toOffset(9)
        .fromTime(Instant.ofEpochMilli(10)).toTime(Instant.ofEpochMilli(20)).limit(7).build();
    key[0] = 9;
    assertThat(f.key()).hasValueSatisfying(k -> assertThat(k).containsExactly(1, 2));
    assertThat(f.reason()).contains("REJECTED");
    assertThat(f.withLimit(2).limit()).isEqualTo(2);
    assertThat(f.withLimit(2).reason()).contains("REJECTED");
    assertThat(f.withLimit(2).toOffset()).isEqualTo(9);
    assertThat(RedriveFilter.builder().key("k").build().key()).hasValueSatisfying(k -> assertThat(k).containsExactly('k'));
  }

  @Test
  void shouldRefuseEmptyRangesAndNegativeValues() {
    assertThatThrownBy(() -> RedriveFilter.builder().fromOffset(5).toOffset(5).build())
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> RedriveFilter.builder().fromTime(Instant.ofEpochMilli(5)).toTime(Instant.ofEpochMilli(5))
        .build()).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> RedriveFilter.builder().limit(-1).build()).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> RedriveFilter.builder().fromOffset(-1).build()).isInstanceOf(IllegalArgumentException.class);
  }
}
