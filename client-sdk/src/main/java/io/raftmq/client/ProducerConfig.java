package io.raftmq.client;

import java.time.Duration;
import java.util.Objects;

/** Settings of a {@link Producer}. Immutable and thread-safe; build with {@link #builder()}. */
public final class ProducerConfig {
  private final Acks acks;
  private final Duration linger;
  private final int batchSizeBytes;
  private final long bufferMemoryBytes;
  private final Duration maxBlock;
  private final Duration deliveryTimeout;
  private final Duration requestTimeout;
  private final Duration retryBackoff;
  private final boolean idempotent;
  private final int maxMessageBytes;
  private final int maxRequestBytes;
  private final int maxInFlightPerPartition;

  private ProducerConfig(Builder b) {
    this.acks = Objects.requireNonNull(b.acks, "acks");
    this.linger = nonNegative(b.linger, "linger");
    this.batchSizeBytes = atLeast(b.batchSizeBytes, 1, "batchSizeBytes");
    if (b.bufferMemoryBytes < b.batchSizeBytes) {
      throw new IllegalArgumentException("bufferMemoryBytes must be >= batchSizeBytes: " + b.bufferMemoryBytes);
    }
    this.bufferMemoryBytes = b.bufferMemoryBytes;
    this.maxBlock = nonNegative(b.maxBlock, "maxBlock");
    this.deliveryTimeout = ClientConfig.positive(b.deliveryTimeout, "deliveryTimeout");
    this.requestTimeout = ClientConfig.positive(b.requestTimeout, "requestTimeout");
    this.retryBackoff = nonNegative(b.retryBackoff, "retryBackoff");
    if (b.maxInFlightPerPartition < 1 || b.maxInFlightPerPartition > 16) {
      throw new IllegalArgumentException("maxInFlightPerPartition must be 1..16: " + b.maxInFlightPerPartition);
    }
    this.maxInFlightPerPartition = b.maxInFlightPerPartition;
    this.idempotent = b.idempotent;
    this.maxMessageBytes = atLeast(b.maxMessageBytes, 1, "maxMessageBytes");
    this.maxRequestBytes = atLeast(b.maxRequestBytes, 1024, "maxRequestBytes");
  }

  private static Duration nonNegative(Duration d, String name) {
    Objects.requireNonNull(d, name);
    if (d.isNegative()) {
      throw new IllegalArgumentException(name + " must not be negative: " + d);
    }
    return d;
  }

  private static int atLeast(int v, int min, String name) {
    if (v < min) {
      throw new IllegalArgumentException(name + " must be >= " + min + ": " + v);
    }
    return v;
  }

  /** A builder with the defaults. */
  public static Builder builder() {
    return new Builder();
  }

  /** The defaults. */
  public static ProducerConfig defaults() {
    return builder().build();
  }

  /** Durability a send waits for (default {@link Acks#QUORUM}). */
  public Acks acks() {
    return acks;
  }

  /** How long a non-full batch waits for more messages before it is sent (default 5 ms). */
  public Duration linger() {
    return linger;
  }

  /** Target size of one partition's batch (default 1 MiB): one batch is one Raft entry, so bigger batches amortize the per-entry round trip; a larger single message gets its own batch. */
  public int batchSizeBytes() {
    return batchSizeBytes;
  }

  /** Bytes of unsent and unacknowledged batches the producer may hold (default 64 MiB). */
  public long bufferMemoryBytes() {
    return bufferMemoryBytes;
  }

  /** How long {@link Producer#send} blocks for buffer memory or topic metadata (default 60 s). */
  public Duration maxBlock() {
    return maxBlock;
  }

  /** Upper bound from send to the future's completion, retries included (default 120 s). */
  public Duration deliveryTimeout() {
    return deliveryTimeout;
  }

  /** How long the broker and the client wait for one produce request (default 30 s). */
  public Duration requestTimeout() {
    return requestTimeout;
  }

  /** Pause before a batch is retried (default 100 ms). */
  public Duration retryBackoff() {
    return retryBackoff;
  }

  /**
   * Batches of one partition an idempotent producer may have in flight at once (default 5). The broker
   * appends them only in sequence order, so order holds; more in flight hides the Raft round trip. A
   * producer that is not idempotent always keeps one in flight, since its retries could reorder.
   */
  public int maxInFlightPerPartition() {
    return maxInFlightPerPartition;
  }

  /** Whether batches carry a producer id and sequence so that retries are not duplicated (default true). */
  public boolean idempotent() {
    return idempotent;
  }

  /** Largest encoded message accepted by send (default 1 MiB); larger fail with {@code MESSAGE_TOO_LARGE}. */
  public int maxMessageBytes() {
    return maxMessageBytes;
  }

  /** Largest produce request body sent to one node (default 8 MiB). */
  public int maxRequestBytes() {
    return maxRequestBytes;
  }

  /** Builds a {@link ProducerConfig}; not thread-safe. */
  public static final class Builder {
    private Acks acks = Acks.QUORUM;
    private Duration linger = Duration.ofMillis(5);
    private int batchSizeBytes = 1024 * 1024;
    private long bufferMemoryBytes = 64L * 1024 * 1024;
    private Duration maxBlock = Duration.ofSeconds(60);
    private Duration deliveryTimeout = Duration.ofSeconds(120);
    private Duration requestTimeout = Duration.ofSeconds(30);
    private Duration retryBackoff = Duration.ofMillis(100);
    private int maxInFlightPerPartition = 5;
    private boolean idempotent = true;
    private int maxMessageBytes = 1024 * 1024;
    private int maxRequestBytes = 8 * 1024 * 1024;

    private Builder() {}

    /** See {@link ProducerConfig#acks()}. */
    public Builder acks(Acks acks) {
      this.acks = acks;
      return this;
    }

    /** See {@link ProducerConfig#linger()}. */
    public Builder linger(Duration linger) {
      this.linger = linger;
      return this;
    }

    /** See {@link ProducerConfig#batchSizeBytes()}. */
    public Builder batchSizeBytes(int batchSizeBytes) {
      this.batchSizeBytes = batchSizeBytes;
      return this;
    }

    /** See {@link ProducerConfig#bufferMemoryBytes()}. */
    public Builder bufferMemoryBytes(long bufferMemoryBytes) {
      this.bufferMemoryBytes = bufferMemoryBytes;
      return this;
    }

    /** See {@link ProducerConfig#maxBlock()}. */
    public Builder maxBlock(Duration maxBlock) {
      this.maxBlock = maxBlock;
      return this;
    }

    /** See {@link ProducerConfig#deliveryTimeout()}. */
    public Builder deliveryTimeout(Duration deliveryTimeout) {
      this.deliveryTimeout = deliveryTimeout;
      return this;
    }

    /** See {@link ProducerConfig#requestTimeout()}. */
    public Builder requestTimeout(Duration requestTimeout) {
      this.requestTimeout = requestTimeout;
      return this;
    }

    /** See {@link ProducerConfig#maxInFlightPerPartition()}. */
    public Builder maxInFlightPerPartition(int maxInFlightPerPartition) {
      this.maxInFlightPerPartition = maxInFlightPerPartition;
      return this;
    }

    /** See {@link ProducerConfig#retryBackoff()}. */
    public Builder retryBackoff(Duration retryBackoff) {
      this.retryBackoff = retryBackoff;
      return this;
    }

    /** See {@link ProducerConfig#idempotent()}. */
    public Builder idempotent(boolean idempotent) {
      this.idempotent = idempotent;
      return this;
    }

    /** See {@link ProducerConfig#maxMessageBytes()}. */
    public Builder maxMessageBytes(int maxMessageBytes) {
      this.maxMessageBytes = maxMessageBytes;
      return this;
    }

    /** See {@link ProducerConfig#maxRequestBytes()}. */
    public Builder maxRequestBytes(int maxRequestBytes) {
      this.maxRequestBytes = maxRequestBytes;
      return this;
    }

    /** The config; throws {@link IllegalArgumentException} on an invalid value. */
    public ProducerConfig build() {
      return new ProducerConfig(this);
    }
  }
}
