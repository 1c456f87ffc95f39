package io.raftmq.client;

import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.Arrays;
import java.util.Optional;

/**
 * Which dead messages of a queue group {@link Admin#redrive} (or {@link Admin#purgeDeadLetters})
 * acts on: all of them unless narrowed by reason, the time they died, key, offset range, and a count
 * per partition. Every condition set must hold. Immutable and thread-safe; build with
 * {@link #builder()}, or take {@link #all()}.
 */
public final class RedriveFilter {
  private static final RedriveFilter ALL = builder().build();

  private final String reason;
  private final Instant fromTime;
  private final Instant toTime;
  private final byte[] key;
  private final long fromOffset;
  private final long toOffset;
  private final int limit;

  private RedriveFilter(Builder b) {
    if (b.fromTime != null && b.toTime != null && !b.fromTime.isBefore(b.toTime)) {
      throw new IllegalArgumentException("fromTime must be before toTime");
    }
    if (b.fromOffset < 0 || b.toOffset < 0) {
      throw new IllegalArgumentException("offsets must not be negative");
    }
    if (b.toOffset > 0 && b.fromOffset >= b.toOffset) {
      throw new IllegalArgumentException("fromOffset must be below toOffset");
    }
    if (b.limit < 0) {
      throw new IllegalArgumentException("limit must not be negative: " + b.limit);
    }
    this.reason = b.reason;
    this.fromTime = b.fromTime;
    this.toTime = b.toTime;
    this.key = b.key == null ? null : b.key.clone();
    this.fromOffset = b.fromOffset;
    this.toOffset = b.toOffset;
    this.limit = b.limit;
  }

  /** Every dead message of the group. */
  public static RedriveFilter all() {
    return ALL;
  }

  /** A builder matching everything until narrowed. */
  public static Builder builder() {
    return new Builder();
  }

  /** Only messages dead for this reason ({@code MAX_DELIVERIES}, {@code REJECTED}, {@code EXPIRED}). */
  public Optional<String> reason() {
    return Optional.ofNullable(reason);
  }

  /** Only messages that died at or after this time. */
  public Optional<Instant> fromTime() {
    return Optional.ofNullable(fromTime);
  }

  /** Only messages that died before this time. */
  public Optional<Instant> toTime() {
    return Optional.ofNullable(toTime);
  }

  /** Only messages with this key (a copy), if set. */
  public Optional<byte[]> key() {
    return Optional.ofNullable(key).map(byte[]::clone);
  }

  /** Only offsets at or above this (0: no bound). */
  public long fromOffset() {
    return fromOffset;
  }

  /** Only offsets below this (0: no bound). */
  public long toOffset() {
    return toOffset;
  }

  /** At most this many per partition (0: no limit). */
  public int limit() {
    return limit;
  }

  /** This filter with another per-partition limit. */
  public RedriveFilter withLimit(int limit) {
    Builder b = new Builder();
    b.reason = reason;
    b.fromTime = fromTime;
    b.toTime = toTime;
    b.key = key;
    b.fromOffset = fromOffset;
    b.toOffset = toOffset;
    b.limit = limit;
    return b.build();
  }

  @Override
  public String toString() {
    return "RedriveFilter{reason=" + reason + ", fromTime=" + fromTime + ", toTime=" + toTime + ", key="
        + (key == null ? null : Arrays.toString(key)) + ", offsets=[" + fromOffset + ", "
        + (toOffset == 0 ? "end" : toOffset) + "), limit=" + limit + "}";
  }

  /** Builds a {@link RedriveFilter}; not thread-safe. */
  public static final class Builder {
    private String reason;
    private Instant fromTime;
    private Instant toTime;
    private byte[] key;
    private long fromOffset;
    private long toOffset;
    private int limit;

    private Builder() {}

    /** See {@link RedriveFilter#reason()}; the broker refuses an unknown reason ({@code INVALID_REQUEST}). */
    public Builder reason(String reason) {
      this.reason = reason == null || reason.isEmpty() ? null : reason;
      return this;
    }

    /** See {@link RedriveFilter#fromTime()}. */
    public Builder fromTime(Instant fromTime) {
      this.fromTime = fromTime;
      return this;
    }

    /** See {@link RedriveFilter#toTime()}. */
    public Builder toTime(Instant toTime) {
      this.toTime = toTime;
      return this;
    }

    /** See {@link RedriveFilter#key()}. */
    public Builder key(byte[] key) {
      this.key = key == null ? null : key.clone();
      return this;
    }

    /** See {@link RedriveFilter#key()}: the key as UTF-8. */
    public Builder key(String key) {
      return key(key == null ? null : key.getBytes(StandardCharsets.UTF_8));
    }

    /** See {@link RedriveFilter#fromOffset()}. */
    public Builder fromOffset(long fromOffset) {
      this.fromOffset = fromOffset;
      return this;
    }

    /** See {@link RedriveFilter#toOffset()}. */
    public Builder toOffset(long toOffset) {
      this.toOffset = toOffset;
      return this;
    }

    /** See {@link RedriveFilter#limit()}. */
    public Builder limit(int limit) {
      this.limit = limit;
      return this;
    }

    /** The filter; throws {@link IllegalArgumentException} on an empty range or a negative value. */
    public RedriveFilter build() {
      return new RedriveFilter(this);
    }
  }
}
