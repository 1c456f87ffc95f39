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
  private final String groupId;
  private final boolean enableAutoCommit;
  private final Duration autoCommitInterval;
  private final Duration sessionTimeout;
  private final String assignor;
  private final Duration maxPollInterval;

  /** The partition assignors a group can use. */
  public static final java.util.Set<String> ASSIGNORS = java.util.Set.of("cooperative-sticky", "range", "round-robin");

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
    this.groupId = b.groupId;
    if (groupId != null && !groupId.matches("[a-zA-Z0-9._-]{1,200}")) {
      throw new IllegalArgumentException("group id '" + groupId + "' is invalid: use 1 to 200 of [a-zA-Z0-9._-]");
    }
    this.enableAutoCommit = b.enableAutoCommit;
    this.autoCommitInterval = Objects.requireNonNull(b.autoCommitInterval, "autoCommitInterval");
    this.sessionTimeout = Objects.requireNonNull(b.sessionTimeout, "sessionTimeout");
    if (sessionTimeout.toMillis() < 1000 || sessionTimeout.toMillis() > 300_000) {
      throw new IllegalArgumentException("sessionTimeout must be 1 s .. 300 s: " + sessionTimeout);
    }
    if (autoCommitInterval.isNegative() || autoCommitInterval.isZero()) {
      throw new IllegalArgumentException("autoCommitInterval must be positive");
    }
    this.maxPollInterval = Objects.requireNonNull(b.maxPollInterval, "maxPollInterval");
    if (maxPollInterval.toMillis() < 1000) {
      throw new IllegalArgumentException("maxPollInterval must be at least 1 s: " + maxPollInterval);
    }
    this.assignor = Objects.requireNonNull(b.assignor, "assignor");
    if (!ASSIGNORS.contains(assignor)) {
      throw new IllegalArgumentException("unknown assignor '" + assignor + "'; use one of " + ASSIGNORS);
    }
  }

  /** The consumer group to join with {@link Consumer#subscribe} (default none). */
  public String groupId() {
    return groupId;
  }

  /**
   * Whether a group member commits by itself (default true): at the start of a poll once
   * {@link #autoCommitInterval()} has passed it commits the positions after what earlier polls
   * returned (so at-least-once holds), before a revoke, and on close.
   */
  public boolean enableAutoCommit() {
    return enableAutoCommit;
  }

  /** How often auto-commit commits (default 5 s). */
  public Duration autoCommitInterval() {
    return autoCommitInterval;
  }

  /** A member not heard from for this long is expired and its partitions move (default 10 s). */
  public Duration sessionTimeout() {
    return sessionTimeout;
  }

  /**
   * A group member whose application has not called {@link Consumer#poll} for this long leaves the
   * group by itself, so that a stuck processor does not hold its partitions (default 5 min); its next
   * poll reports the partitions lost and joins again.
   */
  public Duration maxPollInterval() {
    return maxPollInterval;
  }

  /** The group's partition assignor: cooperative-sticky (default), range or round-robin. */
  public String assignor() {
    return assignor;
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
    private String groupId;
    private boolean enableAutoCommit = true;
    private Duration autoCommitInterval = Duration.ofSeconds(5);
    private Duration sessionTimeout = Duration.ofSeconds(10);
    private String assignor = "cooperative-sticky";
    private Duration maxPollInterval = Duration.ofMinutes(5);

    private Builder() {}

    /** See {@link ConsumerConfig#maxPollInterval()}. */
    public Builder maxPollInterval(Duration maxPollInterval) {
      this.maxPollInterval = maxPollInterval;
      return this;
    }

    /** See {@link ConsumerConfig#groupId()}. */
    public Builder groupId(String groupId) {
      this.groupId = groupId;
      return this;
    }

    /** See {@link ConsumerConfig#enableAutoCommit()}. */
    public Builder enableAutoCommit(boolean enableAutoCommit) {
      this.enableAutoCommit = enableAutoCommit;
      return this;
    }

    /** See {@link ConsumerConfig#autoCommitInterval()}. */
    public Builder autoCommitInterval(Duration autoCommitInterval) {
      this.autoCommitInterval = autoCommitInterval;
      return this;
    }

    /** See {@link ConsumerConfig#sessionTimeout()}. */
    public Builder sessionTimeout(Duration sessionTimeout) {
      this.sessionTimeout = sessionTimeout;
      return this;
    }

    /** See {@link ConsumerConfig#assignor()}. */
    public Builder assignor(String assignor) {
      this.assignor = assignor;
      return this;
    }

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
