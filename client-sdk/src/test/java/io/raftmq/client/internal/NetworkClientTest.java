package io.raftmq.client.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.netty.buffer.Unpooled;
import io.raftmq.client.RaftMqException;
import io.raftmq.protocol.ApiKey;
import io.raftmq.protocol.ErrorCode;
import io.raftmq.protocol.ListTopicsResponse;
import io.raftmq.protocol.Request;
import io.raftmq.protocol.Response;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class NetworkClientTest {
  private final ExecutorService callbacks = Executors.newSingleThreadExecutor(r -> new Thread(r, "test-callback"));
  private final NetworkClient client = new NetworkClient("test", 1 << 20, Duration.ofSeconds(2), callbacks);
  private FakeBroker broker;

  @AfterEach
  void tearDown() {
    client.close();
    callbacks.shutdownNow();
    if (broker != null) {
      broker.close();
    }
  }

  private static Request.Builder listTopics() {
    return Request.newBuilder().setApiKey(ApiKey.LIST_TOPICS);
  }

  @Test
  void shouldMatchPipelinedResponsesByCorrelationIdWhateverTheirOrder() throws Exception {
    broker = new FakeBroker(ex -> null); // hold every request
    List<CompletableFuture<Reply>> futures = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      futures.add(client.send(broker.address(), listTopics(), Unpooled.copiedBuffer("body" + i, StandardCharsets.UTF_8),
          Duration.ofSeconds(10)));
    }
    await().atMost(Duration.ofSeconds(5)).until(() -> broker.received().size() == 3);
    // Every request was on the wire before any response: they are pipelined on one connection.
    assertThat(client.inFlightCount(broker.address())).isEqualTo(3);
    List<FakeBroker.Exchange> got = broker.received();
    for (int i = 2; i >= 0; i--) { // answer in reverse order, naming the request's body
      FakeBroker.Exchange ex = got.get(i);
      ex.reply(Response.newBuilder().setListTopics(ListTopicsResponse.newBuilder().addNames(new String(ex.body))),
          ByteBuffer.wrap(("resp-" + new String(ex.body)).getBytes()));
    }
    AtomicReference<String> thread = new AtomicReference<>();
    for (int i = 0; i < 3; i++) {
      CompletableFuture<Reply> f = futures.get(i);
      final int n = i;
      try (Reply r = f.thenApply(x -> {
        thread.set(Thread.currentThread().getName());
        return x;
      }).get(5, TimeUnit.SECONDS)) {
        assertThat(r.header().getListTopics().getNames(0)).isEqualTo("body" + n);
        assertThat(r.body().toString(StandardCharsets.UTF_8)).isEqualTo("resp-body" + n);
      }
    }
    assertThat(got).extracting(e -> e.request.getClientId()).containsOnly("test");
    assertThat(got.stream().map(e -> e.request.getCorrelationId()).distinct().count()).isEqualTo(3);
  }

  @Test
  void shouldCompleteFuturesOnTheCallbackExecutorNotTheEventLoop() throws Exception {
    broker = new FakeBroker(ex -> null);
    AtomicReference<String> thread = new AtomicReference<>();
    CompletableFuture<Reply> f = client.send(broker.address(), listTopics(), null, Duration.ofSeconds(5));
    CompletableFuture<Void> observed = f.whenComplete((r, e) -> {
      thread.set(Thread.currentThread().getName());
      if (r != null) {
        r.close();
      }
    }).thenApply(r -> null);
    await().atMost(Duration.ofSeconds(5)).until(() -> broker.received().size() == 1);
    broker.received().get(0).reply(Response.newBuilder(), null); // callback registered before the reply
    observed.get(5, TimeUnit.SECONDS);
    assertThat(thread.get()).isEqualTo("test-callback");
  }

  @Test
  void shouldFailInFlightRequestsWithARetriableErrorWhenTheConnectionDrops() throws Exception {
    broker = new FakeBroker(ex -> null);
    CompletableFuture<Reply> a = client.send(broker.address(), listTopics(), null, Duration.ofSeconds(30));
    CompletableFuture<Reply> b = client.send(broker.address(), listTopics(), null, Duration.ofSeconds(30));
    await().atMost(Duration.ofSeconds(5)).until(() -> broker.received().size() == 2);
    broker.dropConnections();
    for (CompletableFuture<Reply> f : List.of(a, b)) {
      ExecutionException e = org.junit.jupiter.api.Assertions.assertThrows(ExecutionException.class,
          () -> f.get(5, TimeUnit.SECONDS));
      assertThat(e.getCause()).isInstanceOfSatisfying(RaftMqException.class, x -> {
        assertThat(x.isRetriable()).isTrue();
        assertThat(x.code()).isEqualTo(ErrorCode.REQUEST_TIMED_OUT);
      });
    }
    // The next request reconnects.
    broker.handler(ex -> FakeBroker.Reply.of(Response.newBuilder()));
    await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> {
      try (Reply r = client.send(broker.address(), listTopics(), null, Duration.ofSeconds(2)).get(3, TimeUnit.SECONDS)) {
        assertThat(r.header().getError()).isEqualTo(ErrorCode.NONE);
      }
    });
  }

  @Test
  void shouldTimeOutARequestWithoutResponseAndDropTheLateReply() throws Exception {
    broker = new FakeBroker(ex -> null);
    CompletableFuture<Reply> f = client.send(broker.address(), listTopics(), null, Duration.ofMillis(200));
    ExecutionException e = org.junit.jupiter.api.Assertions.assertThrows(ExecutionException.class,
        () -> f.get(5, TimeUnit.SECONDS));
    assertThat(((RaftMqException) e.getCause()).code()).isEqualTo(ErrorCode.REQUEST_TIMED_OUT);
    broker.received().get(0).reply(Response.newBuilder(), null); // late: must be ignored
    broker.handler(ex -> FakeBroker.Reply.of(Response.newBuilder().setError(ErrorCode.THROTTLED)));
    try (Reply r = client.send(broker.address(), listTopics(), null, Duration.ofSeconds(5)).get(5, TimeUnit.SECONDS)) {
      assertThat(r.header().getError()).isEqualTo(ErrorCode.THROTTLED);
    }
  }

  @Test
  void shouldFailFastWhenNothingListens() throws Exception {
    int port;
    try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
      port = s.getLocalPort();
    }
    CompletableFuture<Reply> f = client.send(new HostPort("127.0.0.1", port), listTopics(), null, Duration.ofSeconds(30));
    ExecutionException e = org.junit.jupiter.api.Assertions.assertThrows(ExecutionException.class,
        () -> f.get(10, TimeUnit.SECONDS));
    assertThat(((RaftMqException) e.getCause()).isRetriable()).isTrue();
  }

  @Test
  void shouldCompleteARequestWithoutResponseOnceWritten() throws Exception {
    broker = new FakeBroker(ex -> null);
    CompletableFuture<Reply> f = client.sendNoResponse(broker.address(), listTopics(), null, Duration.ofSeconds(5));
    assertThat(f.get(5, TimeUnit.SECONDS)).isNull();
    assertThat(client.inFlightCount(broker.address())).isZero();
  }
}
