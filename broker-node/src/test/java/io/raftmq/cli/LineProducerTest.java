package io.raftmq.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.raftmq.client.Message;
import io.raftmq.client.Producer;
import io.raftmq.client.RaftMqException;
import io.raftmq.client.RecordMetadata;
import io.raftmq.protocol.ErrorCode;
import java.io.BufferedReader;
import java.io.PrintWriter;
import java.io.StringReader;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;

class LineProducerTest {
  /** Completes sends on flush(), from another thread, failing values that start with "fail". */
  static final class FakeProducer implements Producer {
    final List<Message> sent = new ArrayList<>();
    final List<CompletableFuture<RecordMetadata>> futures = new ArrayList<>();

    @Override
    public synchronized CompletableFuture<RecordMetadata> send(Message message) {
      sent.add(message);
      CompletableFuture<RecordMetadata> f = new CompletableFuture<>();
      futures.add(f);
      return f;
    }

    @Override
    public void flush() {
      Thread t = new Thread(() -> {
        synchronized (this) {
          for (int i = 0; i < sent.size(); i++) {
            String v = new String(sent.get(i).value(), StandardCharsets.UTF_8);
            if (v.startsWith("fail")) {
              futures.get(i).completeExceptionally(new RaftMqException(ErrorCode.MESSAGE_TOO_LARGE, "too big"));
            } else {
              futures.get(i).complete(new RecordMetadata(sent.get(i).topic(), 0, i, 0));
            }
          }
        }
      });
      t.start();
      try {
        t.join();
      } catch (InterruptedException e) {
        throw new IllegalStateException(e);
      }
    }

    @Override
    public void close() {}

    @Override
    public void close(Duration timeout) {}

    @Override
    public int partitionFor(String topic, byte[] key) {
      return 0;
    }
  }

  @Test
  void shouldCountAcknowledgedLinesAndReportBadLinesAndFailedSends() throws Exception {
    FakeProducer producer = new FakeProducer();
    StringWriter err = new StringWriter();
    ProduceLines lines = new ProduceLines("orders", null, ":", Map.of(), null);
    String input = "k1:v1\nno separator\nk2:fail me\nk3:v3\n";

    LineProducer.Summary s = new LineProducer(producer, lines, new PrintWriter(err))
        .run(new BufferedReader(new StringReader(input)));

    assertThat(s).isEqualTo(new LineProducer.Summary(2, 2));
    assertThat(producer.sent).hasSize(3);
    assertThat(err.toString().lines()).containsExactlyInAnyOrder(
        "error: line 2: no key separator ':' in line",
        "error: line 3: MESSAGE_TOO_LARGE: too big");
    assertThat(ProduceCommand.summaryLine(s, "orders")).isEqualTo("produced 2 messages to orders, 2 failed");
  }

  @Test
  void shouldSummarizeASuccessfulRunWithoutErrors() throws Exception {
    FakeProducer producer = new FakeProducer();
    StringWriter err = new StringWriter();
    LineProducer.Summary s = new LineProducer(producer, new ProduceLines("t", "k", null, Map.of(), null),
        new PrintWriter(err)).run(new BufferedReader(new StringReader("a\nb\n\n")));
    assertThat(s).isEqualTo(new LineProducer.Summary(3, 0));
    assertThat(err.toString()).isEmpty();
    assertThat(ProduceCommand.summaryLine(s, "t")).isEqualTo("produced 3 messages to t");
    assertThat(ProduceCommand.summaryLine(new LineProducer.Summary(1, 0), "t")).isEqualTo("produced 1 message to t");
  }

  @Test
  void shouldStopPrintingErrorsAfterALimitButKeepCounting() throws Exception {
    FakeProducer producer = new FakeProducer();
    StringWriter err = new StringWriter();
    String input = "x\n".repeat(LineProducer.MAX_REPORTED_ERRORS + 5);
    LineProducer.Summary s = new LineProducer(producer, new ProduceLines("t", null, "=", Map.of(), null),
        new PrintWriter(err)).run(new BufferedReader(new StringReader(input)));
    assertThat(s.failed()).isEqualTo(LineProducer.MAX_REPORTED_ERRORS + 5);
    assertThat(err.toString().lines()).hasSize(LineProducer.MAX_REPORTED_ERRORS + 1);
  }
}
