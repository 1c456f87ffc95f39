package io.raftmq.client;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.text.ParseException;
import java.time.Duration;
import java.time.format.DateTimeParseException;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.function.Predicate;

/**
 * Settings of a {@link QueueConsumer}. Immutable and thread-safe; build with {@link #builder()}.
 *
 * <p>Two kinds of settings. The consumer's own: {@link #groupId()}, {@link #topics()},
 * {@link #consumerId()}, {@link #handlerThreads()} and {@link #retryable()}. And the group's, kept by
 * the broker per partition (visibility timeout, max deliveries, backoff, max in flight, ordering, key
 * failure mode, max redrives, dead-letter topic): only those set explicitly on the builder are sent,
 * with every receive, and the broker applies them to the group in each partition where they differ —
 * so <b>the last consumer's settings win</b>, per partition. Settings not set keep what the group has
 * (the broker's defaults, given here, for a new group). Give every consumer of a group the same
 * settings, or set them on none but one.
 */
public final class QueueConsumerConfig {
  /** Value of {@link Builder#maxDeliveries} and {@link Builder#maxRedrives} for "no limit". */
  public static final int UNLIMITED = -1;

  /** Default of {@link #visibilityTimeout()}. */
  public static final Duration DEFAULT_VISIBILITY_TIMEOUT = Duration.ofSeconds(30);
  /** Default of {@link #maxDeliveries()}. */
  public static final int DEFAULT_MAX_DELIVERIES = 5;
  /** Default of {@link #backoffBase()}. */
  public static final Duration DEFAULT_BACKOFF_BASE = Duration.ofSeconds(1);
  /** Default of {@link #backoffMax()}. */
  public static final Duration DEFAULT_BACKOFF_MAX = Duration.ofSeconds(60);
  /** Default of {@link #maxInFlight()}. */
  public static final int DEFAULT_MAX_IN_FLIGHT = 50_000;
  /** Default of {@link #maxRedrives()}. */
  public static final int DEFAULT_MAX_REDRIVES = 3;
  /** Default of {@link #settleLinger()}: 5 ms. */
  public static final Duration DEFAULT_SETTLE_LINGER = Duration.ofMillis(5);
  /** Default of {@link #receiveMaxBytes()}: 16 MiB. */
  public static final int DEFAULT_RECEIVE_MAX_BYTES = 16 << 20;
  /** Longest lease a consumer may ask for. */
  public static final Duration MAX_VISIBILITY_TIMEOUT = Duration.ofHours(12);

  private static final String NAME = "[a-zA-Z0-9._-]{1,200}";

  private final String groupId;
  private final List<String> topics;
  private final String consumerId;
  private final Duration visibilityTimeout;
  private final Integer maxDeliveries;
  private final Duration backoffBase;
  private final Duration backoffMax;
  private final Integer maxInFlight;
  private final QueueOrdering ordering;
  private final KeyFailureMode keyFailureMode;
  private final Integer maxRedrives;
  private final String deadLetterTopic;
  private final int handlerThreads;
  private final int receiveMaxBytes;
  private final Duration settleLinger;
  private final Predicate<Throwable> retryable;

  private QueueConsumerConfig(Builder b) {
    if (b.groupId == null) {
      throw new IllegalArgumentException("a queue consumer needs a group id");
    }
    this.groupId = b.groupId;
    if (!groupId.matches(NAME)) {
      throw new IllegalArgumentException("group id '" + groupId + "' is invalid: use 1 to 200 of [a-zA-Z0-9._-]");
    }
    if (b.topics == null || b.topics.isEmpty()) {
      throw new IllegalArgumentException("name at least one topic");
    }
    for (String t : b.topics) {
      if (t == null || !t.matches(NAME)) {
        throw new IllegalArgumentException("topic name '" + t + "' is invalid: use 1 to 200 of [a-zA-Z0-9._-]");
      }
    }
    this.topics = List.copyOf(new java.util.LinkedHashSet<>(b.topics));
    this.consumerId = b.consumerId == null ? UUID.randomUUID().toString() : b.consumerId;
    if (consumerId.isEmpty() || consumerId.length() > 200) {
      throw new IllegalArgumentException("consumer id must be 1 to 200 characters");
    }
    this.visibilityTimeout = b.visibilityTimeout;
    if (visibilityTimeout != null && (visibilityTimeout.toMillis() < 1
        || visibilityTimeout.compareTo(MAX_VISIBILITY_TIMEOUT) > 0)) {
      throw new IllegalArgumentException("visibilityTimeout must be 1 ms .. 12 h: " + visibilityTimeout);
    }
    this.maxDeliveries = b.maxDeliveries;
    if (maxDeliveries != null && maxDeliveries < 1 && maxDeliveries != UNLIMITED) {
      throw new IllegalArgumentException("maxDeliveries must be >= 1 or UNLIMITED: " + maxDeliveries);
    }
    this.backoffBase = b.backoffBase;
    if (backoffBase != null && backoffBase.toMillis() < 1) {
      throw new IllegalArgumentException("backoffBase must be at least 1 ms: " + backoffBase);
    }
    this.backoffMax = b.backoffMax;
    if (backoffMax != null && backoffMax.toMillis() < 1) {
      throw new IllegalArgumentException("backoffMax must be at least 1 ms: " + backoffMax);
    }
    if ((backoffBase != null || backoffMax != null) && backoffBase().compareTo(backoffMax()) > 0) {
      throw new IllegalArgumentException("backoffBase (" + backoffBase() + ") must not exceed backoffMax ("
          + backoffMax() + ")");
    }
    this.maxInFlight = b.maxInFlight;
    if (maxInFlight != null && maxInFlight < 1) {
      throw new IllegalArgumentException("maxInFlight must be positive: " + maxInFlight);
    }
    this.ordering = b.ordering;
    this.keyFailureMode = b.keyFailureMode;
    this.maxRedrives = b.maxRedrives;
    if (maxRedrives != null && maxRedrives < 1 && maxRedrives != UNLIMITED) {
      throw new IllegalArgumentException("maxRedrives must be >= 1 or UNLIMITED: " + maxRedrives);
    }
    this.deadLetterTopic = b.deadLetterTopic;
    if (deadLetterTopic != null) {
      if (!deadLetterTopic.matches(NAME)) {
        throw new IllegalArgumentException("dead-letter topic name '" + deadLetterTopic
            + "' is invalid: use 1 to 200 of [a-zA-Z0-9._-]");
      }
      if (topics.contains(deadLetterTopic)) {
        throw new IllegalArgumentException("the dead-letter topic must not be one of the consumed topics");
      }
    }
    if (b.handlerThreads < 1 || b.handlerThreads > 1000) {
      throw new IllegalArgumentException("handlerThreads must be 1 .. 1000: " + b.handlerThreads);
    }
    this.handlerThreads = b.handlerThreads;
    if (b.receiveMaxBytes < 1024) {
      throw new IllegalArgumentException("receiveMaxBytes must be at least 1024: " + b.receiveMaxBytes);
    }
    this.receiveMaxBytes = b.receiveMaxBytes;
    if (b.settleLinger == null || b.settleLinger.isNegative() || b.settleLinger.compareTo(Duration.ofMinutes(1)) > 0) {
      throw new IllegalArgumentException("settleLinger must be 0 .. 1 min: " + b.settleLinger);
    }
    this.settleLinger = b.settleLinger;
    this.retryable = Objects.requireNonNull(b.retryable, "retryable");
  }

  /** A builder with the defaults; {@link Builder#groupId} and {@link Builder#topics} are required. */
  public static Builder builder() {
    return new Builder();
  }

  /** The queue group ({@code [a-zA-Z0-9._-]{1,200}}); required. */
  public String groupId() {
    return groupId;
  }

  /** The topics consumed (all their partitions), in the order given, without duplicates; required. */
  public List<String> topics() {
    return topics;
  }

  /** This consumer's id in the group, the owner of its leases (default a random UUID). */
  public String consumerId() {
    return consumerId;
  }

  /**
   * How long a message stays leased to the consumer that received it before it returns to the queue
   * (counted as a failed attempt) unless acked, nacked, rejected or extended (default 30 s; 1 ms .. 12 h).
   */
  public Duration visibilityTimeout() {
    return visibilityTimeout == null ? DEFAULT_VISIBILITY_TIMEOUT : visibilityTimeout;
  }

  /**
   * Deliveries of a message before the broker dead-letters it with reason {@code MAX_DELIVERIES}
   * (default 5; {@link #UNLIMITED} for never).
   */
  public int maxDeliveries() {
    return maxDeliveries == null ? DEFAULT_MAX_DELIVERIES : maxDeliveries;
  }

  /**
   * Base of the retry backoff: after failed attempt {@code n} (a nack without delay, a lease that ran
   * out, a consumer that disconnected) a message is available again after a random delay in
   * {@code [0, min(base * 2^(n-1), max)]} (full jitter). Default 1 s.
   */
  public Duration backoffBase() {
    return backoffBase == null ? DEFAULT_BACKOFF_BASE : backoffBase;
  }

  /** Cap of the retry backoff (default 60 s); see {@link #backoffBase()}. */
  public Duration backoffMax() {
    return backoffMax == null ? DEFAULT_BACKOFF_MAX : backoffMax;
  }

  /**
   * Most messages of the group leased at once in one partition, over all its consumers: the queue's
   * backpressure (default 50,000: room for several consumers' full receives of one partition, so that
   * consumers converging on a partition do not get short leases, each one more Raft entry).
   */
  public int maxInFlight() {
    return maxInFlight == null ? DEFAULT_MAX_IN_FLIGHT : maxInFlight;
  }

  /** In which order messages are handed out (default {@link QueueOrdering#NONE}). */
  public QueueOrdering ordering() {
    return ordering == null ? QueueOrdering.NONE : ordering;
  }

  /** With {@link QueueOrdering#KEY}: what a dead message does to its key (default {@link KeyFailureMode#LENIENT}). */
  public KeyFailureMode keyFailureMode() {
    return keyFailureMode == null ? KeyFailureMode.LENIENT : keyFailureMode;
  }

  /** Redrives of a message after which it stays dead, a loop guard (default 3; {@link #UNLIMITED}). */
  public int maxRedrives() {
    return maxRedrives == null ? DEFAULT_MAX_REDRIVES : maxRedrives;
  }

  /**
   * Where the broker copies the dead letters of {@code topic} for this group (default
   * {@code <topic>.dlq.<group>}, see {@link DeadLetters#defaultTopic}); created on demand.
   */
  public String deadLetterTopic(String topic) {
    return deadLetterTopic == null ? DeadLetters.defaultTopic(topic, groupId) : deadLetterTopic;
  }

  /** The dead-letter topic if set explicitly (one for all consumed topics). */
  public Optional<String> deadLetterTopic() {
    return Optional.ofNullable(deadLetterTopic);
  }

  /** Threads that run the handler of {@link QueueConsumer#subscribe} (default 4). */
  public int handlerThreads() {
    return handlerThreads;
  }

  /**
   * Upper bound for the record bytes of one receive response from one broker (default 16 MiB, and at
   * most half the client's {@link ClientConfig#maxFrameBytes()}), shared by the partitions it asks: the
   * broker leases no more messages than fit, judged by each partition's mean stored record size, and
   * always at least one (a response carries whole producer batches: a share can be exceeded by up to a
   * batch at each end). It bounds memory per receive the way {@link ConsumerConfig#fetchMaxBytes()}
   * does for stream consumers, and keeps a response of large messages under the frame limit (a
   * response over it would cost each of its messages a delivery attempt).
   */
  public int receiveMaxBytes() {
    return receiveMaxBytes;
  }

  /**
   * How long an ack, nack, reject or extend waits to share a request with others (default 5 ms): within
   * it, the consumer's next receive carries its queued acks of the partitions it asks in the same Raft
   * command as the new leases; what is left is sent as one settle request per leader when a linger
   * passes without a new settle (while settles keep coming, at most ten lingers after the first: 50 ms
   * by default), when 20,000 are queued, or when a receive goes out.
   */
  public Duration settleLinger() {
    return settleLinger;
  }

  /**
   * Decides, for {@link QueueConsumer#subscribe}, whether an exception a handler threw is retryable
   * (true: nack, the message comes back after the group's backoff) or permanent (false: reject, the
   * message is dead-lettered now). Default {@link #defaultRetryable()}.
   */
  public Predicate<Throwable> retryable() {
    return retryable;
  }

  /** Whether any group setting was set explicitly (then the consumer sends the ones that were). */
  public boolean hasGroupSettings() {
    return visibilityTimeout != null || maxDeliveries != null || backoffBase != null || backoffMax != null
        || maxInFlight != null || ordering != null || keyFailureMode != null || maxRedrives != null
        || deadLetterTopic != null;
  }

  /** The visibility timeout if set explicitly. */
  public Optional<Duration> explicitVisibilityTimeout() {
    return Optional.ofNullable(visibilityTimeout);
  }

  /** The max deliveries if set explicitly. */
  public Optional<Integer> explicitMaxDeliveries() {
    return Optional.ofNullable(maxDeliveries);
  }

  /** The backoff base if set explicitly. */
  public Optional<Duration> explicitBackoffBase() {
    return Optional.ofNullable(backoffBase);
  }

  /** The backoff cap if set explicitly. */
  public Optional<Duration> explicitBackoffMax() {
    return Optional.ofNullable(backoffMax);
  }

  /** The max in flight if set explicitly. */
  public Optional<Integer> explicitMaxInFlight() {
    return Optional.ofNullable(maxInFlight);
  }

  /** The ordering if set explicitly. */
  public Optional<QueueOrdering> explicitOrdering() {
    return Optional.ofNullable(ordering);
  }

  /** The key failure mode if set explicitly. */
  public Optional<KeyFailureMode> explicitKeyFailureMode() {
    return Optional.ofNullable(keyFailureMode);
  }

  /** The max redrives if set explicitly. */
  public Optional<Integer> explicitMaxRedrives() {
    return Optional.ofNullable(maxRedrives);
  }

  /**
   * The default classification of {@link #retryable()}. Looking along the cause chain (outermost
   * first), a {@link PermanentFailureException} means permanent and a {@link RetryableFailureException}
   * retryable. Otherwise the exception itself decides, after unwrapping {@link CompletionException} and
   * {@link ExecutionException}: parse and validation errors are <b>permanent</b> — {@link
   * IllegalArgumentException} (so {@link NumberFormatException} too), {@link ParseException}, {@link
   * DateTimeParseException}, {@link UnsupportedOperationException} — because the same message will fail
   * the same way next time; everything else is
   * <b>retryable</b>: {@link IOException}, {@link UncheckedIOException}, {@link
   * java.util.concurrent.TimeoutException}, {@link RaftMqException}, other runtime exceptions and errors.
   */
  public static Predicate<Throwable> defaultRetryable() {
    return QueueConsumerConfig::isRetryableByDefault;
  }

  private static boolean isRetryableByDefault(Throwable t) {
    int depth = 0;
    for (Throwable c = t; c != null && depth < 32; c = c.getCause(), depth++) {
      if (c instanceof PermanentFailureException) {
        return false;
      }
      if (c instanceof RetryableFailureException) {
        return true;
      }
    }
    Throwable e = t;
    while ((e instanceof CompletionException || e instanceof ExecutionException) && e.getCause() != null) {
      e = e.getCause();
    }
    return !(e instanceof IllegalArgumentException
        || e instanceof ParseException
        || e instanceof DateTimeParseException
        || e instanceof UnsupportedOperationException);
  }

  /** Builds a {@link QueueConsumerConfig}; not thread-safe. */
  public static final class Builder {
    private String groupId;
    private List<String> topics = List.of();
    private String consumerId;
    private Duration visibilityTimeout;
    private Integer maxDeliveries;
    private Duration backoffBase;
    private Duration backoffMax;
    private Integer maxInFlight;
    private QueueOrdering ordering;
    private KeyFailureMode keyFailureMode;
    private Integer maxRedrives;
    private String deadLetterTopic;
    private int handlerThreads = 4;
    private int receiveMaxBytes = DEFAULT_RECEIVE_MAX_BYTES;
    private Duration settleLinger = DEFAULT_SETTLE_LINGER;
    private Predicate<Throwable> retryable = defaultRetryable();

    private Builder() {}

    /** See {@link QueueConsumerConfig#groupId()}. */
    public Builder groupId(String groupId) {
      this.groupId = groupId;
      return this;
    }

    /** See {@link QueueConsumerConfig#topics()}. */
    public Builder topics(List<String> topics) {
      this.topics = topics;
      return this;
    }

    /** See {@link QueueConsumerConfig#topics()}. */
    public Builder topics(String... topics) {
      this.topics = List.of(topics);
      return this;
    }

    /** See {@link QueueConsumerConfig#consumerId()}. */
    public Builder consumerId(String consumerId) {
      this.consumerId = consumerId;
      return this;
    }

    /** See {@link QueueConsumerConfig#visibilityTimeout()}; a group setting. */
    public Builder visibilityTimeout(Duration visibilityTimeout) {
      this.visibilityTimeout = Objects.requireNonNull(visibilityTimeout, "visibilityTimeout");
      return this;
    }

    /** See {@link QueueConsumerConfig#maxDeliveries()}; a group setting. */
    public Builder maxDeliveries(int maxDeliveries) {
      this.maxDeliveries = maxDeliveries;
      return this;
    }

    /** See {@link QueueConsumerConfig#backoffBase()}; a group setting. */
    public Builder backoffBase(Duration backoffBase) {
      this.backoffBase = Objects.requireNonNull(backoffBase, "backoffBase");
      return this;
    }

    /** See {@link QueueConsumerConfig#backoffMax()}; a group setting. */
    public Builder backoffMax(Duration backoffMax) {
      this.backoffMax = Objects.requireNonNull(backoffMax, "backoffMax");
      return this;
    }

    /** See {@link QueueConsumerConfig#maxInFlight()}; a group setting. */
    public Builder maxInFlight(int maxInFlight) {
      this.maxInFlight = maxInFlight;
      return this;
    }

    /** See {@link QueueConsumerConfig#ordering()}; a group setting. */
    public Builder ordering(QueueOrdering ordering) {
      this.ordering = Objects.requireNonNull(ordering, "ordering");
      return this;
    }

    /** See {@link QueueConsumerConfig#keyFailureMode()}; a group setting. */
    public Builder keyFailureMode(KeyFailureMode keyFailureMode) {
      this.keyFailureMode = Objects.requireNonNull(keyFailureMode, "keyFailureMode");
      return this;
    }

    /** See {@link QueueConsumerConfig#maxRedrives()}; a group setting. */
    public Builder maxRedrives(int maxRedrives) {
      this.maxRedrives = maxRedrives;
      return this;
    }

    /** See {@link QueueConsumerConfig#deadLetterTopic(String)}; a group setting. */
    public Builder deadLetterTopic(String deadLetterTopic) {
      this.deadLetterTopic = Objects.requireNonNull(deadLetterTopic, "deadLetterTopic");
      return this;
    }

    /** See {@link QueueConsumerConfig#handlerThreads()}. */
    public Builder handlerThreads(int handlerThreads) {
      this.handlerThreads = handlerThreads;
      return this;
    }

    /** See {@link QueueConsumerConfig#receiveMaxBytes()}. */
    public Builder receiveMaxBytes(int receiveMaxBytes) {
      this.receiveMaxBytes = receiveMaxBytes;
      return this;
    }

    /** See {@link QueueConsumerConfig#settleLinger()}. */
    public Builder settleLinger(Duration settleLinger) {
      this.settleLinger = settleLinger;
      return this;
    }

    /** See {@link QueueConsumerConfig#retryable()}. */
    public Builder retryable(Predicate<Throwable> retryable) {
      this.retryable = retryable;
      return this;
    }

    /** The config; throws {@link IllegalArgumentException} on an invalid or missing value. */
    public QueueConsumerConfig build() {
      return new QueueConsumerConfig(this);
    }
  }
}
