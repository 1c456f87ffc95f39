package io.raftmq.client.internal;

import io.raftmq.client.ClientConfig;
import io.raftmq.client.RaftMqException;
import io.raftmq.protocol.ErrorCode;
import io.raftmq.protocol.Request;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * What a client's producers, consumers and admin share: the network client, the metadata cache, the
 * callback thread (where every future of the SDK completes) and a timer for retries. Thread-safe.
 */
public final class ClientRuntime implements AutoCloseable {
  /** Pause between attempts of metadata-level requests (admin, init producer, list offsets). */
  public static final Duration RETRY_BACKOFF = Duration.ofMillis(100);

  private final ClientConfig config;
  private final ExecutorService callbacks;
  private final ScheduledExecutorService timer;
  private final NetworkClient network;
  private final MetadataCache metadata;

  /** Starts the threads; no connection is opened yet. */
  public ClientRuntime(ClientConfig config, List<HostPort> bootstrap) {
    this.config = config;
    this.callbacks = Executors.newSingleThreadExecutor(daemon("raftmq-client-callback"));
    this.timer = Executors.newSingleThreadScheduledExecutor(daemon("raftmq-client-timer"));
    this.network = new NetworkClient(config.clientId(), config.maxFrameBytes(), config.connectTimeout(), callbacks);
    this.metadata = new MetadataCache(network, bootstrap, config.requestTimeout(), config.metadataMaxAge());
  }

  static java.util.concurrent.ThreadFactory daemon(String name) {
    AtomicInteger n = new AtomicInteger();
    return r -> {
      Thread t = new Thread(r, name + "-" + n.incrementAndGet());
      t.setDaemon(true);
      return t;
    };
  }

  /** The client settings. */
  public ClientConfig config() {
    return config;
  }

  /** The network client. */
  public NetworkClient network() {
    return network;
  }

  /** The metadata cache. */
  public MetadataCache metadata() {
    return metadata;
  }

  /** The SDK callback executor. */
  public ExecutorService callbacks() {
    return callbacks;
  }

  /** Runs {@code task} on the timer thread after {@code delay}; false if the client is closed. */
  public boolean schedule(Runnable task, Duration delay) {
    try {
      timer.schedule(() -> {
        try {
          callbacks.execute(task);
        } catch (RejectedExecutionException ignored) {
          // closed
        }
      }, Math.max(0, delay.toNanos()), TimeUnit.NANOSECONDS);
      return true;
    } catch (RejectedExecutionException e) {
      return false;
    }
  }

  /**
   * Sends a request built by {@code request} to {@code target} and interprets the reply with
   * {@code handle}; retriable outcomes (including network failures) are retried after
   * {@link #RETRY_BACKOFF} (re-evaluating the target) until {@code timeout} has passed.
   */
  public <T> CompletableFuture<T> call(String what, Supplier<HostPort> target, Supplier<Request.Builder> request,
      Function<Reply, Attempt<T>> handle, Duration timeout) {
    CompletableFuture<T> result = new CompletableFuture<>();
    attempt(what, target, request, handle, System.nanoTime() + timeout.toNanos(), result, 1);
    return result;
  }

  private <T> void attempt(String what, Supplier<HostPort> target, Supplier<Request.Builder> request,
      Function<Reply, Attempt<T>> handle, long deadline, CompletableFuture<T> result, int n) {
    long remaining = deadline - System.nanoTime();
    if (remaining <= 0) {
      result.completeExceptionally(new RaftMqException(ErrorCode.REQUEST_TIMED_OUT, what + " timed out", true, null));
      return;
    }
    HostPort to;
    try {
      to = target.get();
    } catch (RuntimeException e) {
      result.completeExceptionally(MetadataCache.asRaftMq(e));
      return;
    }
    network.send(to, request.get(), null, Duration.ofNanos(remaining)).whenComplete((reply, e) -> {
      Attempt<T> a;
      if (e != null) {
        RaftMqException ex = MetadataCache.asRaftMq(e);
        a = Attempt.of(ex);
        if (ex.isRetriable()) {
          metadata.onNodeUnreachable(to);
        }
      } else {
        try (reply) {
          if (reply.header().getError() != ErrorCode.NONE) {
            a = Attempt.of(new RaftMqException(reply.header().getError(),
                what + " failed at " + to + ": " + reply.header().getErrorMessage()));
          } else {
            a = handle.apply(reply);
          }
        } catch (RuntimeException ex) {
          a = Attempt.fail(MetadataCache.asRaftMq(ex));
        }
      }
      if (!a.retry) {
        if (a.error != null) {
          result.completeExceptionally(a.error);
        } else {
          result.complete(a.value);
        }
        return;
      }
      if (System.nanoTime() + RETRY_BACKOFF.toNanos() >= deadline) {
        result.completeExceptionally(new RaftMqException(a.error.code(),
            what + " gave up after " + n + " attempts: " + a.error.getMessage(), true, a.error));
        return;
      }
      if (!schedule(() -> attempt(what, target, request, handle, deadline, result, n + 1), RETRY_BACKOFF)) {
        result.completeExceptionally(new RaftMqException(ErrorCode.INVALID_REQUEST, "the client is closed", false, a.error));
      }
    });
  }

  /** Stops the network, the timer and the callback thread. */
  @Override
  public void close() {
    network.close();
    timer.shutdownNow();
    callbacks.shutdown();
    try {
      callbacks.awaitTermination(5, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
