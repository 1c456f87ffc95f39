package io.raftmq.client.internal;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.raftmq.client.RecordMetadata;
import io.raftmq.client.TopicPartition;
import io.raftmq.protocol.RecordCodec;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * One partition's records on their way to the broker: their encoded bytes ({@link RecordCodec}
 * layout), their futures, and the batch's send state. Appends happen under the partition deque's
 * lock in {@link RecordAccumulator}; the send state is touched by the sender and the response handler
 * under the same lock. The sequence, once assigned on the first send, is kept for every retry.
 */
public final class ProducerBatch {
  final TopicPartition tp;
  final int capacityBytes;
  final long createdNanos;
  final long deadlineNanos;
  /**
   * The encoded records, in chunks allocated as the batch grows (16 KiB, doubling up to 256 KiB), so a
   * batch that lingers out with a few records costs a few KiB, not its whole capacity. Buffer memory
   * is accounted for the full capacity up front, in {@link RecordAccumulator}.
   */
  private final List<ByteBuffer> chunks = new ArrayList<>(2);
  private ByteBuffer current;
  private int nextChunkBytes = FIRST_CHUNK_BYTES;
  private int sizeBytes;
  private final List<CompletableFuture<RecordMetadata>> futures = new ArrayList<>();
  private final AtomicBoolean completed = new AtomicBoolean();
  /** Completes (never exceptionally) once every future of the batch completed. */
  final CompletableFuture<Void> done = new CompletableFuture<>();

  int recordCount;
  long maxTimestamp = -1;
  /** No more appends: full, or taken for sending. */
  boolean sealed;
  boolean inFlight;
  long retryAtNanos;
  int attempts;
  /** An attempt ended in a way that leaves open whether the broker stored it. */
  boolean maybeWritten;
  long producerId = -1;
  int producerEpoch;
  int baseSequence = -1;

  ProducerBatch(TopicPartition tp, int capacityBytes, long nowNanos, long deliveryTimeoutNanos) {
    this.tp = tp;
    this.capacityBytes = capacityBytes;
    this.createdNanos = nowNanos;
    this.deadlineNanos = nowNanos + deliveryTimeoutNanos;
  }

  static final int FIRST_CHUNK_BYTES = 16 * 1024;
  static final int MAX_CHUNK_BYTES = 256 * 1024;

  /** Appends a record of {@code size} encoded bytes, or returns null (and seals) if it does not fit. */
  CompletableFuture<RecordMetadata> tryAppend(long timestamp, byte[] key, byte[] value, Map<String, byte[]> headers,
      int size) {
    if (sealed) {
      return null;
    }
    if (capacityBytes - sizeBytes < size) {
      sealed = true;
      return null;
    }
    if (current == null || current.remaining() < size) {
      int chunk = Math.max(size, Math.min(capacityBytes - sizeBytes, nextChunkBytes));
      nextChunkBytes = Math.min(MAX_CHUNK_BYTES, nextChunkBytes * 2);
      current = ByteBuffer.allocate(chunk);
      chunks.add(current);
    }
    RecordCodec.write(current, timestamp, key, value, headers);
    sizeBytes += size;
    recordCount++;
    maxTimestamp = Math.max(maxTimestamp, timestamp);
    CompletableFuture<RecordMetadata> f = new CompletableFuture<>();
    futures.add(f);
    if (sizeBytes == capacityBytes) {
      sealed = true;
    }
    return f;
  }

  /** Whether a record of {@code size} bytes would fit now. */
  boolean hasRoomFor(int size) {
    return !sealed && capacityBytes - sizeBytes >= size;
  }

  /** Encoded bytes of the records. */
  int sizeBytes() {
    return sizeBytes;
  }

  /** A fresh wrapper of the records for one send (the network releases it); no copy. */
  ByteBuf payload() {
    if (chunks.size() == 1) {
      return Unpooled.wrappedBuffer(current.array(), 0, current.position());
    }
    ByteBuf[] parts = new ByteBuf[chunks.size()];
    for (int i = 0; i < parts.length; i++) {
      ByteBuffer c = chunks.get(i);
      parts[i] = Unpooled.wrappedBuffer(c.array(), 0, c.position());
    }
    return Unpooled.wrappedBuffer(parts.length, parts);
  }

  /** Completes every future with offsets from {@code baseOffset} (-1 = unknown); true the first time only. */
  boolean succeed(long baseOffset, long logTimeMs) {
    if (!completed.compareAndSet(false, true)) {
      return false;
    }
    for (int i = 0; i < futures.size(); i++) {
      futures.get(i).complete(new RecordMetadata(tp.topic(), tp.partition(), baseOffset < 0 ? -1 : baseOffset + i,
          logTimeMs));
    }
    done.complete(null);
    return true;
  }

  /** Fails every future with {@code e}; true the first time only. */
  boolean fail(RuntimeException e) {
    if (!completed.compareAndSet(false, true)) {
      return false;
    }
    for (CompletableFuture<RecordMetadata> f : futures) {
      f.completeExceptionally(e);
    }
    done.complete(null);
    return true;
  }

  /** Whether the batch's futures are completed. */
  boolean isCompleted() {
    return completed.get();
  }

  @Override
  public String toString() {
    return "ProducerBatch{" + tp + ", records=" + recordCount + ", bytes=" + sizeBytes() + ", seq=" + baseSequence
        + ", attempts=" + attempts + "}";
  }
}
