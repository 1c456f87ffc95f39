package io.raftmq.logstore;

/**
 * Settings of a {@link PartitionLog}. Immutable and thread-safe; build one with {@link #builder()}.
 */
public final class LogStoreConfig {
  /** Default {@link #segmentSizeBytes()}: 128 MiB. */
  public static final long DEFAULT_SEGMENT_SIZE_BYTES = 128L * 1024 * 1024;
  /** Default {@link #indexIntervalBytes()}: 4 KiB. */
  public static final int DEFAULT_INDEX_INTERVAL_BYTES = 4096;

  private static final LogStoreConfig DEFAULTS = builder().build();

  private final long segmentSizeBytes;
  private final int indexIntervalBytes;

  private LogStoreConfig(Builder b) {
    this.segmentSizeBytes = b.segmentSizeBytes;
    this.indexIntervalBytes = b.indexIntervalBytes;
  }

  /**
   * The active segment is rolled before an append that would make it larger than this. A batch larger
   * than this still goes into a segment of its own.
   */
  public long segmentSizeBytes() {
    return segmentSizeBytes;
  }

  /** The sparse indexes get one entry per this many bytes of batches (0: one entry per batch). */
  public int indexIntervalBytes() {
    return indexIntervalBytes;
  }

  /** A builder holding the defaults. */
  public static Builder builder() {
    return new Builder();
  }

  /** The default configuration. */
  public static LogStoreConfig defaults() {
    return DEFAULTS;
  }

  @Override
  public String toString() {
    return "LogStoreConfig{segmentSizeBytes=" + segmentSizeBytes + ", indexIntervalBytes=" + indexIntervalBytes + "}";
  }

  /** Builds a {@link LogStoreConfig}; not thread-safe. */
  public static final class Builder {
    private long segmentSizeBytes = DEFAULT_SEGMENT_SIZE_BYTES;
    private int indexIntervalBytes = DEFAULT_INDEX_INTERVAL_BYTES;

    private Builder() {}

    /** See {@link LogStoreConfig#segmentSizeBytes()}; 1 .. {@link Integer#MAX_VALUE}. */
    public Builder segmentSizeBytes(long segmentSizeBytes) {
      if (segmentSizeBytes < 1 || segmentSizeBytes > Integer.MAX_VALUE) {
        throw new IllegalArgumentException("segmentSizeBytes must be in 1.." + Integer.MAX_VALUE + ": " + segmentSizeBytes);
      }
      this.segmentSizeBytes = segmentSizeBytes;
      return this;
    }

    /** See {@link LogStoreConfig#indexIntervalBytes()}; must be &gt;= 0. */
    public Builder indexIntervalBytes(int indexIntervalBytes) {
      if (indexIntervalBytes < 0) {
        throw new IllegalArgumentException("indexIntervalBytes must be >= 0: " + indexIntervalBytes);
      }
      this.indexIntervalBytes = indexIntervalBytes;
      return this;
    }

    public LogStoreConfig build() {
      return new LogStoreConfig(this);
    }
  }
}
