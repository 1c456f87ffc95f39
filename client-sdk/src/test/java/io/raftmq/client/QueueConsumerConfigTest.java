package io.raftmq.client;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.text.ParseException;
import java.time.Duration;
import java.time.LocalDate;
import java.time.format.DateTimeParseException;
import java.util.List;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeoutException;
import java.util.function.Predicate;
import org.junit.jupiter.api.Test;

class QueueConsumerConfigTest {
  private static QueueConsumerConfig.Builder valid() {
    return QueueConsumerConfig.builder().groupId("billing").topics("orders");
  }

  @Test
  void shouldApplyTheDocumentedDefaults() {
    QueueConsumerConfig c = valid().build();
    assertThat(c.visibilityTimeout()).isEqualTo(Duration.ofSeconds(30));
    assertThat(c.maxDeliveries()).isEqualTo(5);
    assertThat(c.backoffBase()).isEqualTo(Duration.ofSeconds(1));
    assertThat(c.backoffMax()).isEqualTo(Duration.ofSeconds(60));
    assertThat(c.maxInFlight()).isEqualTo(50_000);
    assertThat(c.receiveMaxBytes()).isEqualTo(16 << 20);
    assertThat(c.settleLinger()).isEqualTo(Duration.ofMillis(5));
    assertThat(c.ordering()).isEqualTo(QueueOrdering.NONE);
    assertThat(c.keyFailureMode()).isEqualTo(KeyFailureMode.LENIENT);
    assertThat(c.maxRedrives()).isEqualTo(3);
    assertThat(c.deadLetterTopic("orders")).isEqualTo("orders.dlq.billing");
    assertThat(c.handlerThreads()).isEqualTo(4);
    assertThat(c.consumerId()).hasSize(36);
    assertThat(valid().build().consumerId()).isNotEqualTo(c.consumerId());
    assertThat(c.hasGroupSettings()).isFalse();
  }

  @Test
  void shouldRememberWhichGroupSettingsWereSetExplicitly() {
    QueueConsumerConfig c = valid().maxDeliveries(QueueConsumerConfig.UNLIMITED).ordering(QueueOrdering.KEY).build();
    assertThat(c.hasGroupSettings()).isTrue();
    assertThat(c.explicitMaxDeliveries()).contains(-1);
    assertThat(c.explicitOrdering()).contains(QueueOrdering.KEY);
    assertThat(c.explicitVisibilityTimeout()).isEmpty();
    assertThat(c.explicitBackoffBase()).isEmpty();
    assertThat(c.explicitKeyFailureMode()).isEmpty();
    assertThat(c.deadLetterTopic()).isEmpty();
    assertThat(valid().deadLetterTopic("all.dead").build().deadLetterTopic("orders")).isEqualTo("all.dead");
  }

  @Test
  void shouldRefuseInvalidSettings() {
    assertThatThrownBy(() -> QueueConsumerConfig.builder().topics("orders").build())
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("group id");
    assertThatThrownBy(() -> valid().groupId("bad group").build()).hasMessageContaining("invalid");
    assertThatThrownBy(() -> valid().groupId("x".repeat(201)).build()).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> valid().topics(List.of()).build()).hasMessageContaining("topic");
    assertThatThrownBy(() -> valid().topics("a b").build()).hasMessageContaining("topic name");
    assertThatThrownBy(() -> valid().visibilityTimeout(Duration.ZERO).build()).hasMessageContaining("visibilityTimeout");
    assertThatThrownBy(() -> valid().receiveMaxBytes(1023).build()).hasMessageContaining("receiveMaxBytes");
    assertThatThrownBy(() -> valid().settleLinger(Duration.ofMillis(-1)).build()).hasMessageContaining("settleLinger");
    assertThatThrownBy(() -> valid().visibilityTimeout(Duration.ofHours(13)).build())
        .hasMessageContaining("visibilityTimeout");
    assertThatThrownBy(() -> valid().maxDeliveries(0).build()).hasMessageContaining("maxDeliveries");
    assertThatThrownBy(() -> valid().maxRedrives(-2).build()).hasMessageContaining("maxRedrives");
    assertThatThrownBy(() -> valid().maxInFlight(0).build()).hasMessageContaining("maxInFlight");
    assertThatThrownBy(() -> valid().backoffBase(Duration.ofMinutes(2)).build())
        .hasMessageContaining("must not exceed backoffMax");
    assertThatThrownBy(() -> valid().backoffBase(Duration.ofSeconds(5)).backoffMax(Duration.ofSeconds(2)).build())
        .hasMessageContaining("must not exceed backoffMax");
    assertThatThrownBy(() -> valid().handlerThreads(0).build()).hasMessageContaining("handlerThreads");
    assertThatThrownBy(() -> valid().deadLetterTopic("orders").build()).hasMessageContaining("dead-letter topic");
    assertThatThrownBy(() -> valid().consumerId("").build()).hasMessageContaining("consumer id");
    assertThatThrownBy(() -> valid().retryable(null).build()).isInstanceOf(NullPointerException.class);
    // Valid edge values.
    assertThat(valid().backoffBase(Duration.ofSeconds(60)).build().backoffBase()).isEqualTo(Duration.ofSeconds(60));
    assertThat(valid().maxRedrives(QueueConsumerConfig.UNLIMITED).build().maxRedrives()).isEqualTo(-1);
  }

  @Test
  void shouldClassifyParseAndValidationErrorsAsPermanentByDefault() {
    Predicate<Throwable> retryable = QueueConsumerConfig.defaultRetryable();
    assertThat(retryable.test(new IllegalArgumentException("bad"))).isFalse();
    assertThat(retryable.test(new NumberFormatException("x"))).isFalse();
    assertThat(retryable.test(new ParseException("x", 0))).isFalse();
    DateTimeParseException dt = org.junit.jupiter.api.Assertions.assertThrows(DateTimeParseException.class,
        () -> LocalDate.parse("not a date"));
    assertThat(retryable.test(dt)).isFalse();
    assertThat(retryable.test(new UnsupportedOperationException())).isFalse();
    assertThat(retryable.test(new PermanentFailureException("poison"))).isFalse();
    assertThat(retryable.test(new RuntimeException("wrapped", new PermanentFailureException("poison")))).isFalse();
    assertThat(retryable.test(new CompletionException(new NumberFormatException("x")))).isFalse();
    assertThat(retryable.test(new ExecutionException(new ParseException("x", 0)))).isFalse();
  }

  @Test
  void shouldClassifyTimeoutsIoAndOtherErrorsAsRetryableByDefault() {
    Predicate<Throwable> retryable = QueueConsumerConfig.defaultRetryable();
    assertThat(retryable.test(new IOException("down"))).isTrue();
    assertThat(retryable.test(new UncheckedIOException(new IOException("down")))).isTrue();
    assertThat(retryable.test(new TimeoutException())).isTrue();
    assertThat(retryable.test(new IllegalStateException())).isTrue();
    assertThat(retryable.test(new NullPointerException())).isTrue();
    assertThat(retryable.test(new RaftMqException(io.raftmq.protocol.ErrorCode.UNKNOWN_TOPIC, "x"))).isTrue();
    assertThat(retryable.test(new OutOfMemoryError())).isTrue();
    // A wrapper around a cause that is permanent by type is judged by the wrapper itself...
    assertThat(retryable.test(new RuntimeException(new IllegalArgumentException()))).isTrue();
    // ...and the explicit marker wins over the type of what it wraps.
    assertThat(retryable.test(new RetryableFailureException("later", new IllegalArgumentException()))).isTrue();
    assertThat(retryable.test(new RetryableFailureException("later", new PermanentFailureException("x")))).isTrue();
  }
}
