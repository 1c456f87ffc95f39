package io.raftmq.logstore;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class BatchHeaderTest {
  @Test
  void shouldPinTheFrameLayoutSharedWithTheClientSdk() {
    assertThat(BatchHeader.BASE_OFFSET).isZero();
    assertThat(BatchHeader.LENGTH).isEqualTo(8);
    assertThat(BatchHeader.CRC).isEqualTo(12);
    assertThat(BatchHeader.MAGIC).isEqualTo(16);
    assertThat(BatchHeader.ATTRIBUTES).isEqualTo(17);
    assertThat(BatchHeader.RECORD_COUNT).isEqualTo(18);
    assertThat(BatchHeader.RAFT_INDEX).isEqualTo(22);
    assertThat(BatchHeader.LOG_TIME).isEqualTo(30);
    assertThat(BatchHeader.MAX_TIMESTAMP).isEqualTo(38);
    assertThat(BatchHeader.HEADER_SIZE).isEqualTo(46);
    assertThat(BatchHeader.LOG_OVERHEAD).isEqualTo(12);
    assertThat(BatchHeader.MAGIC_V1).isEqualTo((byte) 1);
    assertThat(BatchHeader.MIN_LENGTH).isEqualTo(34);
  }
}
