package io.raftmq.client.internal;

import io.netty.buffer.CompositeByteBuf;
import io.netty.buffer.Unpooled;
import io.raftmq.client.Acks;
import io.raftmq.client.Message;
import io.raftmq.client.NodeAddress;
import io.raftmq.client.Producer;
import io.raftmq.client.ProducerConfig;
import io.raftmq.client.RaftMqException;
import io.raftmq.client.RecordMetadata;
import io.raftmq.client.TopicDescription;
import io.raftmq.client.TopicPartition;
import io.raftmq.protocol.ApiKey;
import io.raftmq.protocol.ErrorCode;
import io.raftmq.protocol.Errors;
import io.raftmq.protocol.InitProducerRequest;
import io.raftmq.protocol.InitProducerResponse;
import io.raftmq.protocol.PartitionBatch;
import io.raftmq.protocol.PartitionProduceResult;
import io.raftmq.protocol.ProduceRequest;
import io.raftmq.protocol.ProduceResponse;
import io.raftmq.protocol.RecordCodec;
import io.raftmq.protocol.Request;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The {@link Producer}: {@code send} appends to the {@link RecordAccumulator} on the caller's thread; one
 * sender thread per producer drains ready batches, assigns sequences, groups batches by leader into one
 * produce request per node and sends them; responses are handled on the client's callback thread,
 * which completes the futures or puts batches back for a retry. Thread-safe.
 */
public final class ProducerImpl implements Producer {
  private static final Logger log = LoggerFactory.getLogger(ProducerImpl.class);

  private final ClientRuntime rt;
  private final ProducerConfig config;
  private final MetadataCache metadata;
  private final RecordAccumulator accumulator;
  private final ProducerIdState pid = new ProducerIdState();
  private final boolean idempotent;
  private final ConcurrentHashMap<String, Integer> stickyPartition = new ConcurrentHashMap<>();
  private final Object wakeLock = new Object();
  private final Thread senderThread;
  private boolean wakeup; // guarded by wakeLock
  private volatile boolean running = true;
  private volatile boolean initInFlight;

  private final Runnable onClose;

  /** Creates the producer and starts its sender thread; {@code onClose} runs once it is closed. */
  public ProducerImpl(ClientRuntime rt, ProducerConfig config, Runnable onClose) {
    this.rt = rt;
    this.onClose = onClose;
    this.config = config;
    this.metadata = rt.metadata();
    this.idempotent = config.idempotent() && config.acks() != Acks.NONE;
    this.accumulator = new RecordAccumulator(new BufferPool(config.bufferMemoryBytes()), config.batchSizeBytes(),
        config.linger().toNanos(), config.deliveryTimeout().toNanos(),
        idempotent ? config.maxInFlightPerPartition() : 1, this::wake);
    this.senderThread = new Thread(this::runSender, "raftmq-producer-sender");
    this.senderThread.setDaemon(true);
    this.senderThread.start();
  }

  // ---- caller side ----

  @Override
  public CompletableFuture<RecordMetadata> send(Message message) {
    if (accumulator.isClosing()) {
      return CompletableFuture.failedFuture(
          new RaftMqException(ErrorCode.INVALID_REQUEST, "the producer is closed", false, null));
    }
    long start = System.nanoTime();
    long timestamp = message.timestamp() != null ? message.timestamp() : System.currentTimeMillis();
    int size = RecordCodec.encodedSize(timestamp, message.key(), message.value(), message.headers());
    if (size > config.maxMessageBytes()) {
      return CompletableFuture.failedFuture(new RaftMqException(ErrorCode.MESSAGE_TOO_LARGE, "message of " + size
          + " encoded bytes exceeds maxMessageBytes " + config.maxMessageBytes()));
    }
    try {
      TopicDescription topic = metadata.awaitTopic(message.topic(), config.maxBlock(), config.retryBackoff());
      int partitions = topic.partitions().size();
      int partition;
      if (message.partition() != null) {
        partition = message.partition();
        if (partition >= partitions) {
          return CompletableFuture.failedFuture(new RaftMqException(ErrorCode.UNKNOWN_PARTITION, "topic '"
              + message.topic() + "' has " + partitions + " partitions, not " + (partition + 1), false, null));
        }
      } else if (message.key() != null) {
        partition = Murmur2.partition(message.key(), partitions);
      } else {
        partition = stickyPartition(message.topic(), partitions, size);
      }
      long remaining = config.maxBlock().toNanos() - (System.nanoTime() - start);
      return accumulator.append(new TopicPartition(message.topic(), partition), timestamp, message.key(),
          message.value(), message.headers(), size, remaining);
    } catch (RaftMqException e) {
      return CompletableFuture.failedFuture(e);
    }
  }

  /**
   * Null keys stick to one partition until its open batch cannot take the record; then the next batch
   * goes to another partition (Kafka's sticky partitioner), so slow producers still spread evenly.
   */
  private int stickyPartition(String topic, int partitions, int size) {
    Integer current = stickyPartition.get(topic);
    if (current != null && current < partitions && accumulator.hasRoom(new TopicPartition(topic, current), size)) {
      return current;
    }
    int next = current == null ? ThreadLocalRandom.current().nextInt(partitions) : (current + 1) % partitions;
    stickyPartition.put(topic, next);
    return next;
  }

  @Override
  public int partitionFor(String topic, byte[] key) {
    TopicDescription t = metadata.awaitTopic(topic, config.maxBlock(), config.retryBackoff());
    return Murmur2.partition(key, t.partitions().size());
  }

  @Override
  public void flush() {
    accumulator.beginFlush();
    try {
      for (ProducerBatch b : accumulator.incompleteBatches()) {
        b.done.join();
      }
    } finally {
      accumulator.endFlush();
    }
  }

  @Override
  public void close() {
    close(Duration.ofDays(36500));
  }

  @Override
  public synchronized void close(Duration timeout) {
    if (!running) {
      return;
    }
    accumulator.beginClose();
    long deadline = System.nanoTime() + Math.min(timeout.toMillis(), TimeUnit.DAYS.toMillis(36500)) * 1_000_000L;
    for (ProducerBatch b : accumulator.incompleteBatches()) {
      try {
        b.done.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
      } catch (TimeoutException e) {
        break;
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        break;
      } catch (java.util.concurrent.ExecutionException e) {
        // done never fails
      }
    }
    running = false;
    wake();
    try {
      senderThread.join(TimeUnit.SECONDS.toMillis(5));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    RaftMqException closed = new RaftMqException(ErrorCode.REQUEST_TIMED_OUT,
        "the producer was closed before the message was acknowledged", true, null);
    for (ProducerBatch b : accumulator.incompleteBatches()) {
      finish(b, () -> b.fail(closed));
    }
    onClose.run();
  }

  // ---- sender thread ----

  private void wake() {
    synchronized (wakeLock) {
      wakeup = true;
      wakeLock.notifyAll();
    }
  }

  private void runSender() {
    while (running) {
      try {
        long wait = runOnce(System.nanoTime());
        synchronized (wakeLock) {
          if (!wakeup && wait > 0) {
            TimeUnit.NANOSECONDS.timedWait(wakeLock, wait);
          }
          wakeup = false;
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      } catch (RuntimeException e) {
        log.error("producer sender loop failed; continuing", e);
      }
    }
  }

  /** One round of the sender: returns how long it may sleep before the next round (ns). */
  long runOnce(long now) {
    long backoff = config.retryBackoff().toNanos();
    long wait = TimeUnit.SECONDS.toNanos(1);
    for (ProducerBatch b : accumulator.expire(now)) {
      RaftMqException e = new RaftMqException(ErrorCode.REQUEST_TIMED_OUT, "delivery timeout of "
          + config.deliveryTimeout().toMillis() + " ms expired for " + b.recordCount + " records to " + b.tp
          + " after " + b.attempts + " attempts", true, null);
      rt.callbacks().execute(() -> failBatch(b, e));
    }
    if (!accumulator.hasIncomplete()) {
      return wait;
    }
    if (idempotent && !pid.hasId()) {
      initProducerId();
      return Math.min(wait, backoff);
    }
    if (metadata.needsRefresh()) {
      metadata.maybeRefresh().whenComplete((m, e) -> wake());
    }
    RecordAccumulator.Drained d;
    if (idempotent) {
      long currentId = pid.producerId();
      d = accumulator.drain(now, this::leaderAddress, config.maxRequestBytes(), currentId,
          b -> pid.assignIfCurrent(b, currentId));
    } else {
      d = accumulator.drain(now, this::leaderAddress, config.maxRequestBytes());
    }
    if (!d.unknownLeaders.isEmpty()) {
      metadata.requestUpdate();
      metadata.maybeRefresh().whenComplete((m, e) -> wake());
      wait = Math.min(wait, Math.max(backoff, TimeUnit.MILLISECONDS.toNanos(10)));
    }
    for (Map.Entry<HostPort, List<ProducerBatch>> e : d.byNode.entrySet()) {
      sendProduce(e.getKey(), e.getValue());
    }
    if (d.nextReadyNanos != Long.MAX_VALUE) {
      wait = Math.min(wait, d.nextReadyNanos - now);
    }
    wait = Math.min(wait, accumulator.nextDeadlineNanos() - now);
    return Math.max(wait, 0);
  }

  private HostPort leaderAddress(TopicPartition tp) {
    NodeAddress n = metadata.leader(tp);
    return n == null ? null : new HostPort(n.host(), n.port());
  }

  private void initProducerId() {
    if (initInFlight) {
      return;
    }
    initInFlight = true;
    rt.call("init producer", metadata::metadataLeaderOrAny,
        () -> Request.newBuilder().setApiKey(ApiKey.INIT_PRODUCER)
            .setInitProducer(InitProducerRequest.getDefaultInstance()),
        reply -> {
          InitProducerResponse r = reply.header().getInitProducer();
          if (r.getError() == ErrorCode.NONE) {
            return Attempt.done(r);
          }
          if (r.getError() == ErrorCode.NOT_LEADER) {
            metadata.metadataLeaderHint(r.hasLeader() ? r.getLeader() : null);
            return Attempt.retry(new RaftMqException(r.getError(), "init producer: " + r.getErrorMessage()));
          }
          // Keep trying: without a producer id nothing can be sent; batches expire by delivery timeout.
          return Attempt.retry(new RaftMqException(r.getError(), "init producer: " + r.getErrorMessage()));
        }, config.requestTimeout())
        .whenComplete((r, e) -> {
          if (e == null) {
            pid.set(r.getProducerId(), r.getProducerEpoch());
            log.debug("producer id {} epoch {}", r.getProducerId(), r.getProducerEpoch());
          } else {
            log.warn("cannot get a producer id yet: {}", e.getMessage());
          }
          initInFlight = false;
          wake();
        });
  }

  private void sendProduce(HostPort node, List<ProducerBatch> batches) {
    ProduceRequest.Builder pr = ProduceRequest.newBuilder()
        .setAcks(switch (config.acks()) {
          case QUORUM -> io.raftmq.protocol.Acks.ACKS_QUORUM;
          case LEADER -> io.raftmq.protocol.Acks.ACKS_LEADER;
          case NONE -> io.raftmq.protocol.Acks.ACKS_NONE;
        })
        .setTimeoutMs((int) Math.min(Integer.MAX_VALUE, config.requestTimeout().toMillis()));
    CompositeByteBuf body = Unpooled.compositeBuffer(Math.max(2, batches.size()));
    for (ProducerBatch b : batches) {
      b.attempts++;
      pr.addBatches(PartitionBatch.newBuilder()
          .setTopic(b.tp.topic()).setPartition(b.tp.partition())
          .setProducerId(idempotent ? b.producerId : -1).setProducerEpoch(idempotent ? b.producerEpoch : 0)
          .setBaseSequence(idempotent ? b.baseSequence : -1)
          .setRecordCount(b.recordCount).setRecordsSize(b.sizeBytes()).setMaxTimestamp(b.maxTimestamp));
      body.addComponent(true, b.payload());
    }
    Request.Builder req = Request.newBuilder().setApiKey(ApiKey.PRODUCE).setProduce(pr);
    // The broker answers REQUEST_TIMED_OUT at timeout_ms; give its answer time to arrive.
    Duration timeout = config.requestTimeout().plus(Duration.ofSeconds(2));
    if (config.acks() == Acks.NONE) {
      rt.network().sendNoResponse(node, req, body, timeout).whenComplete((r, e) -> {
        for (ProducerBatch b : batches) {
          if (e == null) {
            finish(b, () -> b.succeed(-1, -1));
          } else {
            retryOrFail(b, MetadataCache.asRaftMq(e), null, true);
          }
        }
      });
      return;
    }
    rt.network().send(node, req, body, timeout).whenComplete((reply, e) -> {
      if (e != null) {
        RaftMqException ex = MetadataCache.asRaftMq(e);
        metadata.onNodeUnreachable(node);
        batches.forEach(b -> retryOrFail(b, ex, null, true));
        return;
      }
      try (reply) {
        handleProduceResponse(node, batches, reply);
      }
    });
  }

  private void handleProduceResponse(HostPort node, List<ProducerBatch> batches, Reply reply) {
    if (reply.header().getError() != ErrorCode.NONE) {
      RaftMqException ex = new RaftMqException(reply.header().getError(),
          "produce to " + node + ": " + reply.header().getErrorMessage());
      batches.forEach(b -> retryOrFail(b, ex, null, ex.code() == ErrorCode.REQUEST_TIMED_OUT));
      return;
    }
    ProduceResponse resp = reply.header().getProduce();
    Map<TopicPartition, PartitionProduceResult> byTp = null;
    if (resp.getResultsCount() != batches.size()) {
      byTp = new HashMap<>();
      for (PartitionProduceResult r : resp.getResultsList()) {
        byTp.put(new TopicPartition(r.getTopic(), r.getPartition()), r);
      }
    }
    for (int i = 0; i < batches.size(); i++) {
      ProducerBatch b = batches.get(i);
      PartitionProduceResult r = byTp == null ? resp.getResults(i) : byTp.get(b.tp);
      if (r == null) {
        retryOrFail(b, new RaftMqException(ErrorCode.REQUEST_TIMED_OUT, "produce response from " + node
            + " has no result for " + b.tp, true, null), null, true);
        continue;
      }
      switch (r.getError()) {
        case NONE -> finish(b, () -> b.succeed(r.getBaseOffset(), r.getLogTimeMs()));
        case DUPLICATE_SEQUENCE -> {
          log.info("{} (sequence {}) was already written by an earlier attempt; its offsets are unknown", b.tp,
              b.baseSequence);
          finish(b, () -> b.succeed(-1, r.getLogTimeMs()));
        }
        default -> retryOrFail(b, new RaftMqException(r.getError(), "produce to " + b.tp + " at " + node + ": "
            + r.getErrorMessage()), r.hasLeader() ? r.getLeader() : null, r.getError() == ErrorCode.REQUEST_TIMED_OUT);
      }
    }
  }

  private void retryOrFail(ProducerBatch b, RaftMqException e, io.raftmq.protocol.LeaderHint hint,
      boolean outcomeUnknown) {
    long now = System.nanoTime();
    if (e.code() == ErrorCode.OUT_OF_ORDER_SEQUENCE && running && accumulator.hasIncompletePredecessor(b)
        && now - b.deadlineNanos < 0) {
      // A gap behind a batch of this partition that is still on its way (or being retried): not written;
      // send it again once everything before it went out.
      log.debug("resending {} after its predecessor", b);
      accumulator.reenqueue(b, now);
      return;
    }
    if (outcomeUnknown) {
      b.maybeWritten = true;
    }
    if (Errors.needsMetadataRefresh(e.code()) || outcomeUnknown) {
      metadata.onLeaderError(b.tp, hint);
    }
    long retryAt = now + config.retryBackoff().toNanos();
    if (e.isRetriable() && running && retryAt - b.deadlineNanos < 0) {
      log.debug("retrying {} after {}", b, e.getMessage());
      accumulator.reenqueue(b, retryAt);
      return;
    }
    failBatch(b, e);
  }

  private void failBatch(ProducerBatch b, RaftMqException e) {
    if (idempotent && b.baseSequence >= 0) {
      if (b.maybeWritten || e.code() == ErrorCode.OUT_OF_ORDER_SEQUENCE || e.code() == ErrorCode.PRODUCER_FENCED
          || e.code() == ErrorCode.REQUEST_TIMED_OUT) {
        // The broker may hold this sequence (or disagrees about sequences): start over with a new id.
        pid.requestReset();
      } else {
        pid.rollback(b);
      }
    }
    finish(b, () -> b.fail(e));
  }

  /** Removes {@code b} from the queue (returning its memory) and then completes its futures. */
  private void finish(ProducerBatch b, Runnable complete) {
    if (b.isCompleted()) {
      return;
    }
    accumulator.remove(b);
    complete.run();
  }

  /** The accumulator (tests). */
  RecordAccumulator accumulator() {
    return accumulator;
  }

  /** The producer id state (tests). */
  ProducerIdState producerIdState() {
    return pid;
  }
}
