package io.raftmq.client;

import java.time.Duration;
import java.util.Objects;

/** Settings of a {@link Consumer}. Immutable and thread-safe; build with {@link #builder()}. */
public final class ConsumerConfig {
  private final int maxPollRecords;
  private final int fetchMaxBytes;
  private final int maxPartitionFetchBytes;
  private final Duration fetchMaxWait;
  private final OffsetReset autoOffsetReset;

  private ConsumerConfig(Builder b) {
    if (b.maxPollRecords < 1 || b.fetchMaxBytes < 1 || b.maxPartitionFetchBytes < 1) {
      throw new IllegalArgumentException("maxPollRecords, fetchMaxBytes and maxPartitionFetchBytes must be positive");
    }
    this.maxPollRecords = b.maxPollRecords;
    this.fetchMaxBytes = b.fetchMaxBytes;
    this.maxPartitionFetchBytes = b.maxPartitionFetchBytes;
    this.fetchMaxWait = Objects.requireNonNull(b.fetchMaxWait, "fetchMaxWait");
    if (fetchMaxWait.isNegative()) {
      throw new IllegalArgumentException("fetchMaxWait must not be negative");
    }
    this.autoOffsetReset = Objects.requireNonNull(b.autoOffsetReset, "autoOffsetReset");
  }

  /** A builder with the defaults. */
  public static Builder builder() {
    return new Builder();
  }

  /** The defaults. */
  public static ConsumerConfig defaults() {
    return builder().build();
  }

  /** Most records one {@link Consumer#poll} returns (default 500). */
  public int maxPollRecords() {
    return maxPollRecords;
  }

  /** Upper bound of one fetch response body (default 8 MiB). */
  public int fetchMaxBytes() {
    return fetchMaxBytes;
  }

  /** Upper bound of one partition's share of a fetch (default 1 MiB; at least one batch is returned). */
  public int maxPartitionFetchBytes() {
    return maxPartitionFetchBytes;
  }

  /** How long the broker holds a fetch open waiting for data (default 500 ms). */
  public Duration fetchMaxWait() {
    return fetchMaxWait;
  }

  /** Where to start without a position or when out of range (default {@link OffsetReset#LATEST}). */
  public OffsetReset autoOffsetReset() {
    return autoOffsetReset;
  }

  /** Builds a {@link ConsumerConfig}; not thread-safe. */
  public static final class Builder {
    private int maxPollRecords = 500;
    private int fetchMaxBytes = 8 * 1024 * 1024;
    private int maxPartitionFetchBytes = 1024 * 1024;
    private Duration fetchMaxWait = Duration.ofMillis(500);
    private OffsetReset autoOffsetReset = OffsetReset.LATEST;

    private Builder() {}

    /** See {@link ConsumerConfig#maxPollRecords()}. */
    public Builder maxPollRecords(int maxPollRecords) {
      this.maxPollRecords = maxPollRecords;
      return this;
    }

    /** See {@link ConsumerConfig#fetchMaxBytes()}. */
    public Builder fetchMaxBytes(int fetchMaxBytes) {
      this.fetchMaxBytes = fetchMaxBytes;
      return this;
    }

    /** See {@link ConsumerConfig#maxPartitionFetchBytes()}. */
    public Builder maxPartitionFetchBytes(int maxPartitionFetchBytes) {
      this.maxPartitionFetchBytes = maxPartitionFetchBytes;
      return this;
    }

    /** See {@link ConsumerConfig#fetchMaxWait()}. */
    public Builder fetchMaxWait(Duration fetchMaxWait) {
      this.fetchMaxWait = fetchMaxWait;
      return this;
    }

    /** See {@link ConsumerConfig#autoOffsetReset()}. */
    public Builder autoOffsetReset(OffsetReset autoOffsetReset) {
      this.autoOffsetReset = autoOffsetReset;
      return this;
    }

    /** The config; throws {@link IllegalArgumentException} on an invalid value. */
    public ConsumerConfig build() {
      return new ConsumerConfig(this);
    }
  }
}
