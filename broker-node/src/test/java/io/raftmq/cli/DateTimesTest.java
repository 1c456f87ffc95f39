package io.raftmq.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Instant;
import org.junit.jupiter.api.Test;

class DateTimesTest {
  @Test
  void shouldParseInstantsWithAnOffset() {
    assertThat(DateTimes.parse("2024-05-01T12:00:00Z")).isEqualTo(Instant.parse("2024-05-01T12:00:00Z"));
    assertThat(DateTimes.parse("2024-05-01T14:00:00.250+02:00")).isEqualTo(Instant.parse("2024-05-01T12:00:00.250Z"));
    assertThat(DateTimes.parse("2024-05-01T07:30-04:30")).isEqualTo(Instant.parse("2024-05-01T12:00:00Z"));
  }

  @Test
  void shouldReadTimesWithoutAnOffsetAsUtc() {
    assertThat(DateTimes.parse("2024-05-01T12:00:00")).isEqualTo(Instant.parse("2024-05-01T12:00:00Z"));
    assertThat(DateTimes.parse("2024-05-01T12:00")).isEqualTo(Instant.parse("2024-05-01T12:00:00Z"));
    assertThat(DateTimes.parse(" 2024-05-01 12:00:05.5 ")).isEqualTo(Instant.parse("2024-05-01T12:00:05.500Z"));
    assertThat(DateTimes.parse("2024-05-01")).isEqualTo(Instant.parse("2024-05-01T00:00:00Z"));
  }

  @Test
  void shouldRejectAnythingElseNamingTheAcceptedForms() {
    assertThatThrownBy(() -> DateTimes.parse("yesterday")).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("bad date-time 'yesterday'").hasMessageContaining("2024-05-01T12:00:00Z")
        .hasMessageContaining("UTC");
    assertThatThrownBy(() -> DateTimes.parse("1714564800000")).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> DateTimes.parse("2024-13-01")).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> DateTimes.parse("")).isInstanceOf(IllegalArgumentException.class);
  }
}
