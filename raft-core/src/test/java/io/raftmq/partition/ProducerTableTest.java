package io.raftmq.partition;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/**
 * A producer's first batch must carry sequence 0. Found by the chaos suite (kill-all-bounce): after a
 * failover a new producer id's second batch (sequence 52) reached the leader before its first
 * (sequence 0, 52 records) and was appended; the first was then judged a duplicate with an unknown
 * offset, acknowledged, and never written.
 */
class ProducerTableTest {
  @Test
  void shouldRefuseANewProducersBatchThatOvertookItsFirst() {
    ProducerTable table = new ProducerTable();
    assertThat(table.check(3, 0, 52, 1)).isEqualTo(ProducerTable.Verdict.OUT_OF_ORDER);
    assertThat(table.check(3, 0, 0, 52)).isEqualTo(ProducerTable.Verdict.APPEND);
    table.record(3, 0, 0, 52, 100, 1);
    assertThat(table.check(3, 0, 52, 1)).isEqualTo(ProducerTable.Verdict.APPEND);
  }

  @Test
  void shouldRefuseANewEpochThatDoesNotStartAtZero() {
    ProducerTable table = new ProducerTable();
    table.record(3, 0, 0, 5, 0, 1);
    assertThat(table.check(3, 1, 7, 1)).isEqualTo(ProducerTable.Verdict.OUT_OF_ORDER);
    assertThat(table.check(3, 1, 0, 1)).isEqualTo(ProducerTable.Verdict.APPEND);
  }
}
