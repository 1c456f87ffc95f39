package io.raftmq.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.raftmq.client.ConsumerRecord;
import io.raftmq.client.Message;
import java.util.Map;
import org.HdrHistogram.Histogram;
import org.junit.jupiter.api.Test;

/** The helpers {@code bench produce}, {@code bench consume} and {@code bench e2e} share. */
class BenchTest {
  private static ConsumerRecord received(Message m) {
    return new ConsumerRecord(m.topic(), 0, 0, 0, 0, m.key(), m.value(), m.headers());
  }

  @Test
  void shouldPrintPercentilesInMillisecondsThenTheMax() {
    Histogram h = new Histogram(3);
    for (int us = 1; us <= 1000; us++) {
      h.recordValue(us); // below 2048 a 3-digit histogram holds values exactly
    }
    assertThat(BenchCommand.percentilesMs(h, 50, 90, 99, 99.9))
        .isEqualTo("p50 0.500 p90 0.900 p99 0.990 p99.9 0.999 max 1.000");
    assertThat(BenchCommand.percentilesMs(new Histogram(3), 50)).isEqualTo("p50 0.000 max 0.000");
  }

  @Test
  void shouldPrintRatesPerSecond() {
    assertThat(BenchCommand.rates(5_000, 5_120_000, 2_000_000_000L)).isEqualTo("2500 msg/s, 2.56 MB/s");
    assertThat(BenchCommand.rates(0, 0, 0)).isEqualTo("0 msg/s, 0.00 MB/s");
  }

  @Test
  void shouldLeaveOutFivePercentAtMostTenThousandAsWarmup() {
    assertThat(BenchCommand.Run.warmup(150_000)).isEqualTo(7_500);
    assertThat(BenchCommand.Run.warmup(1_000_000)).isEqualTo(10_000);
    assertThat(BenchCommand.Run.warmup(10)).isZero();
  }

  @Test
  void shouldReadBackTheSendTimeOnlyOfThisRunsRecords() {
    Message m = BenchE2eCommand.stamped("t", new byte[] {1, 2, 3}, 77L, 123_456_789L);
    assertThat(m.value()).containsExactly(1, 2, 3);
    assertThat(BenchE2eCommand.sentAt(received(m), 77L)).isEqualTo(123_456_789L);
    assertThat(BenchE2eCommand.sentAt(received(m), 78L)).isEqualTo(-1);
    assertThat(BenchE2eCommand.sentAt(new ConsumerRecord("t", 0, 0, 0, 0, null, null, Map.of()), 77L)).isEqualTo(-1);
    assertThat(BenchE2eCommand.sentAt(new ConsumerRecord("t", 0, 0, 0, 0, null, null,
        Map.of(BenchE2eCommand.STAMP_HEADER, new byte[3])), 77L)).isEqualTo(-1);
  }

  @Test
  void shouldBuildPlainBenchMessagesWithoutKeyOrHeaders() {
    Message m = BenchCommand.MessageMaker.PLAIN.make("t", new byte[] {9}, 1L);
    assertThat(m.key()).isNull();
    assertThat(m.headers()).isEmpty();
    assertThat(m.value()).containsExactly(9);
  }
}
