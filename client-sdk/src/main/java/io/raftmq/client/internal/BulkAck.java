package io.raftmq.client.internal;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The one future of {@code QueueConsumer.ackAll}: completes when each of its acks has an outcome,
 * normally if all succeeded, else with the first failure (the other acks took effect or failed on
 * their own). Its settles tell it their outcome as they complete ({@link SettleOp#bulk}), so no
 * callback is registered per message.
 */
final class BulkAck {
  private final CompletableFuture<Void> result = new CompletableFuture<>();
  private final AtomicInteger pending;
  private final AtomicReference<Throwable> firstFailure = new AtomicReference<>();

  BulkAck(int count) {
    pending = new AtomicInteger(count);
    if (count == 0) {
      result.complete(null);
    }
  }

  /** One ack's outcome: null if it succeeded. */
  void done(Throwable failure) {
    done(failure, 1);
  }

  /** The outcome of {@code acks} of its acks (a run of them settled together): null if they succeeded. */
  void done(Throwable failure, int acks) {
    if (failure != null) {
      firstFailure.compareAndSet(null, failure);
    }
    if (pending.addAndGet(-acks) == 0) {
      Throwable f = firstFailure.get();
      if (f == null) {
        result.complete(null);
      } else {
        result.completeExceptionally(f);
      }
    }
  }

  CompletableFuture<Void> future() {
    return result;
  }
}
