package io.raftmq.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.raftmq.client.Message;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ProduceLinesTest {
  private static String utf8(byte[] b) {
    return b == null ? null : new String(b, StandardCharsets.UTF_8);
  }

  @Test
  void shouldSendTheWholeLineAsValueWithoutAKey() {
    Message m = new ProduceLines("t", null, null, Map.of(), null).toMessage("a:b c");
    assertThat(m.topic()).isEqualTo("t");
    assertThat(m.key()).isNull();
    assertThat(utf8(m.value())).isEqualTo("a:b c");
    assertThat(m.partition()).isNull();
  }

  @Test
  void shouldSplitAtTheFirstSeparatorOnly() {
    ProduceLines lines = new ProduceLines("t", null, "::", Map.of(), null);
    Message m = lines.toMessage("order-1::{\"a\"::1}");
    assertThat(utf8(m.key())).isEqualTo("order-1");
    assertThat(utf8(m.value())).isEqualTo("{\"a\"::1}");
    Message empty = lines.toMessage("::");
    assertThat(utf8(empty.key())).isEmpty();
    assertThat(utf8(empty.value())).isEmpty();
  }

  @Test
  void shouldRejectALineWithoutTheSeparatorShowingInvisibleOnes() {
    ProduceLines lines = new ProduceLines("t", null, ProduceLines.unescape("\\t"), Map.of(), null);
    assertThat(utf8(lines.toMessage("k\tv").key())).isEqualTo("k");
    assertThatThrownBy(() -> lines.toMessage("no tab here")).isInstanceOf(IllegalArgumentException.class)
        .hasMessage("no key separator '\\t' in line");
  }

  @Test
  void shouldApplyFixedKeyHeadersAndPartition() {
    Message m = new ProduceLines("t", "k1", null, Map.of("h", "v"), 3).toMessage("value");
    assertThat(utf8(m.key())).isEqualTo("k1");
    assertThat(m.partition()).isEqualTo(3);
    assertThat(utf8(m.headers().get("h"))).isEqualTo("v");
  }

  @Test
  void shouldUnescapeTabNewlineAndBackslashOnly() {
    assertThat(ProduceLines.unescape("a\\tb\\nc\\\\d\\x")).isEqualTo("a\tb\nc\\d\\x");
  }
}
