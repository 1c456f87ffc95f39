package io.raftmq.client.internal;

import io.raftmq.client.RaftMqException;
import io.raftmq.protocol.ErrorCode;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Accounts for the producer's buffer memory: a batch reserves its capacity before it is created and
 * gives it back when it completes. A reservation that does not fit blocks, up to the caller's limit,
 * then fails with {@code THROTTLED} ("buffer exhausted"): this is the producer's back-pressure.
 * Thread-safe; waiters are served in arrival order (fair lock).
 */
public final class BufferPool {
  private final long totalBytes;
  private final ReentrantLock lock = new ReentrantLock(true);
  private final Condition freed = lock.newCondition();
  private long availableBytes;

  /** A pool of {@code totalBytes}. */
  public BufferPool(long totalBytes) {
    this.totalBytes = totalBytes;
    this.availableBytes = totalBytes;
  }

  /**
   * Reserves {@code bytes}, blocking up to {@code maxBlockNanos} for enough to be released.
   *
   * @throws RaftMqException {@code THROTTLED} if the memory did not become free in time,
   *     {@code MESSAGE_TOO_LARGE} if {@code bytes} exceeds the whole pool
   */
  public void allocate(int bytes, long maxBlockNanos) {
    if (bytes > totalBytes) {
      throw new RaftMqException(ErrorCode.MESSAGE_TOO_LARGE,
          "a batch of " + bytes + " bytes is larger than the buffer memory (" + totalBytes + " bytes)");
    }
    long remaining = maxBlockNanos;
    lock.lock();
    try {
      while (availableBytes < bytes) {
        if (remaining <= 0) {
          throw new RaftMqException(ErrorCode.THROTTLED, "BufferExhausted: no room for " + bytes
              + " bytes in the producer's buffer memory (" + totalBytes + " bytes) within "
              + TimeUnit.NANOSECONDS.toMillis(maxBlockNanos) + " ms", true, null);
        }
        try {
          remaining = freed.awaitNanos(remaining);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new RaftMqException(ErrorCode.THROTTLED, "interrupted while waiting for buffer memory", true, e);
        }
      }
      availableBytes -= bytes;
      if (availableBytes > 0) {
        // The fair lock hands over in order; let the next waiter check whether it fits too.
        freed.signal();
      }
    } finally {
      lock.unlock();
    }
  }

  /** Gives {@code bytes} back and wakes waiters. */
  public void release(int bytes) {
    lock.lock();
    try {
      availableBytes += bytes;
      freed.signalAll();
    } finally {
      lock.unlock();
    }
  }

  /** Bytes not reserved now. */
  public long availableBytes() {
    lock.lock();
    try {
      return availableBytes;
    } finally {
      lock.unlock();
    }
  }

  /** The pool size. */
  public long totalBytes() {
    return totalBytes;
  }
}
