package io.raftmq.client;

import io.raftmq.protocol.Frames;
import java.time.Duration;
import java.util.Objects;

/**
 * Settings of a {@link RaftMqClient}: where the cluster is and how long to wait for it. Immutable and
 * thread-safe; build with {@link #builder()}.
 */
public final class ClientConfig {
  private final String bootstrap;
  private final String clientId;
  private final Duration requestTimeout;
  private final Duration connectTimeout;
  private final Duration metadataMaxAge;
  private final int maxFrameBytes;

  private ClientConfig(Builder b) {
    this.bootstrap = Objects.requireNonNull(b.bootstrap, "bootstrap");
    this.clientId = b.clientId;
    this.requestTimeout = positive(b.requestTimeout, "requestTimeout");
    this.connectTimeout = positive(b.connectTimeout, "connectTimeout");
    this.metadataMaxAge = positive(b.metadataMaxAge, "metadataMaxAge");
    if (b.maxFrameBytes < 1024) {
      throw new IllegalArgumentException("maxFrameBytes must be >= 1024: " + b.maxFrameBytes);
    }
    this.maxFrameBytes = b.maxFrameBytes;
  }

  static Duration positive(Duration d, String name) {
    Objects.requireNonNull(d, name);
    if (d.isNegative() || d.isZero()) {
      throw new IllegalArgumentException(name + " must be positive: " + d);
    }
    return d;
  }

  /** A builder with the defaults. */
  public static Builder builder() {
    return new Builder();
  }

  /** Comma-separated {@code host:port} client addresses of some nodes. */
  public String bootstrap() {
    return bootstrap;
  }

  /** Free text naming this client in broker logs and metrics. */
  public String clientId() {
    return clientId;
  }

  /** How long one request may take before it fails with {@code REQUEST_TIMED_OUT} (default 30 s). */
  public Duration requestTimeout() {
    return requestTimeout;
  }

  /** How long a TCP connect may take (default 5 s). */
  public Duration connectTimeout() {
    return connectTimeout;
  }

  /** Cached metadata older than this is refreshed (default 30 s). */
  public Duration metadataMaxAge() {
    return metadataMaxAge;
  }

  /** Largest response frame accepted (default {@link Frames#DEFAULT_MAX_FRAME_BYTES}). */
  public int maxFrameBytes() {
    return maxFrameBytes;
  }

  /** Builds a {@link ClientConfig}; not thread-safe. */
  public static final class Builder {
    private String bootstrap;
    private String clientId = "raftmq-java";
    private Duration requestTimeout = Duration.ofSeconds(30);
    private Duration connectTimeout = Duration.ofSeconds(5);
    private Duration metadataMaxAge = Duration.ofSeconds(30);
    private int maxFrameBytes = Frames.DEFAULT_MAX_FRAME_BYTES;

    private Builder() {}

    /** Comma-separated {@code host:port} client addresses; required. */
    public Builder bootstrap(String bootstrap) {
      this.bootstrap = bootstrap;
      return this;
    }

    /** Names this client in broker logs and metrics. */
    public Builder clientId(String clientId) {
      this.clientId = Objects.requireNonNull(clientId, "clientId");
      return this;
    }

    /** Per-request timeout. */
    public Builder requestTimeout(Duration requestTimeout) {
      this.requestTimeout = requestTimeout;
      return this;
    }

    /** TCP connect timeout. */
    public Builder connectTimeout(Duration connectTimeout) {
      this.connectTimeout = connectTimeout;
      return this;
    }

    /** Maximum age of cached metadata. */
    public Builder metadataMaxAge(Duration metadataMaxAge) {
      this.metadataMaxAge = metadataMaxAge;
      return this;
    }

    /** Largest response frame accepted. */
    public Builder maxFrameBytes(int maxFrameBytes) {
      this.maxFrameBytes = maxFrameBytes;
      return this;
    }

    /** The config; throws {@link IllegalArgumentException} on an invalid value. */
    public ClientConfig build() {
      return new ClientConfig(this);
    }
  }
}
