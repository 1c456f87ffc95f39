package io.raftmq.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.raftmq.client.ConsumerRecord;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

class RecordFormatTest {
  private static ConsumerRecord record(String key, String value, Map<String, byte[]> headers) {
    return new ConsumerRecord("orders", 2, 41, 1_700_000_000_123L, 1_700_000_000_200L,
        key == null ? null : key.getBytes(StandardCharsets.UTF_8),
        value == null ? null : value.getBytes(StandardCharsets.UTF_8), headers);
  }

  @Test
  void shouldRenderTheValueAndANewlineByDefault() {
    assertThat(RecordFormat.compile("%v").render(record("k", "hello", Map.of()))).isEqualTo("hello\n");
  }

  @Test
  void shouldRenderEveryPlaceholder() {
    Map<String, byte[]> headers = new LinkedHashMap<>();
    headers.put("trace", "abc".getBytes(StandardCharsets.UTF_8));
    headers.put("src", "web".getBytes(StandardCharsets.UTF_8));
    String out = RecordFormat.compile("%t %p %o %k %v %T %h 100%%").render(record("order-1", "{\"x\":1}", headers));
    assertThat(out).isEqualTo("orders 2 41 order-1 {\"x\":1} 1700000000123 trace=abc,src=web 100%\n");
  }

  @Test
  void shouldTurnEscapesIntoCharactersAndNotDoubleATrailingNewline() {
    RecordFormat f = RecordFormat.compile("%k\\t%v\\n");
    assertThat(f.render(record("a", "b", Map.of()))).isEqualTo("a\tb\n");
    assertThat(RecordFormat.compile("%v\\n\\n").render(record(null, "v", Map.of()))).isEqualTo("v\n\n");
    assertThat(RecordFormat.compile("back\\\\slash").render(record(null, "v", Map.of()))).isEqualTo("back\\slash\n");
  }

  @Test
  void shouldRenderNullKeyAndValueAsNothing() {
    assertThat(RecordFormat.compile("[%k][%v]").render(record(null, null, Map.of()))).isEqualTo("[][]\n");
  }

  @Test
  void shouldRejectUnknownPlaceholdersAndEscapes() {
    assertThatThrownBy(() -> RecordFormat.compile("%x")).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("'%x'");
    assertThatThrownBy(() -> RecordFormat.compile("\\q")).hasMessageContaining("unknown escape");
    assertThatThrownBy(() -> RecordFormat.compile("value %")).hasMessageContaining("lone");
  }
}
