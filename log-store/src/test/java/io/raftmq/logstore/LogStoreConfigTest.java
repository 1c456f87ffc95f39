package io.raftmq.logstore;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class LogStoreConfigTest {
  @Test
  void shouldDefaultTo128MiBSegmentsAnd4KiBIndexInterval() {
    assertThat(LogStoreConfig.defaults().segmentSizeBytes()).isEqualTo(128L * 1024 * 1024);
    assertThat(LogStoreConfig.defaults().indexIntervalBytes()).isEqualTo(4096);
  }

  @Test
  void shouldRejectSegmentSizesThatDoNotFitAnIntAndNegativeIntervals() {
    assertThatThrownBy(() -> LogStoreConfig.builder().segmentSizeBytes(0)).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> LogStoreConfig.builder().segmentSizeBytes(Integer.MAX_VALUE + 1L))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> LogStoreConfig.builder().indexIntervalBytes(-1)).isInstanceOf(IllegalArgumentException.class);
    LogStoreConfig c = LogStoreConfig.builder().segmentSizeBytes(1000).indexIntervalBytes(0).build();
    assertThat(c.segmentSizeBytes()).isEqualTo(1000);
    assertThat(c.indexIntervalBytes()).isZero();
  }
}
