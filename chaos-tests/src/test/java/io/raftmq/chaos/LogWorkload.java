package io.raftmq.chaos;

import io.raftmq.chaos.Op.Read;
import io.raftmq.chaos.Op.Type;
import io.raftmq.client.ConsumerConfig;
import io.raftmq.client.ConsumerRecord;
import io.raftmq.client.Consumer;
import io.raftmq.client.Delivery;
import io.raftmq.client.Message;
import io.raftmq.client.OffsetReset;
import io.raftmq.client.Producer;
import io.raftmq.client.ProducerConfig;
import io.raftmq.client.QueueConsumer;
import io.raftmq.client.QueueConsumerConfig;
import io.raftmq.client.RaftMqClient;
import io.raftmq.client.RecordMetadata;
import io.raftmq.client.TopicPartition;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;

/**
 * The log workload: producer processes sending unique values ({@code <process>-<n>}) round-robin to
 * every partition through idempotent producers, and consumer processes polling their partitions and
 * committing their positions, all recorded in a {@link History}. Crashes replace a client abruptly
 * with a new process. {@link #drain} reads every partition from the beginning with a fresh client.
 */
public final class LogWorkload implements AutoCloseable {
  /** Workload shape. */
  public record Config(int partitions, int producers, int consumers, int sendsPerSecondPerProducer,
      int maxOutstandingPerProducer, boolean idempotent, int queueConsumers) {
    public static Config defaults() {
      return new Config(4, 2, 2, 120, 200, true, 0);
    }

    /** Also {@code n} consumers of the queue group {@link #QUEUE_GROUP} on the same topic. */
    public Config withQueueConsumers(int n) {
      return new Config(partitions, producers, consumers, sendsPerSecondPerProducer, maxOutstandingPerProducer,
          idempotent, n);
    }
  }

  /** The queue group of the queue consumers. */
  static final String QUEUE_GROUP = "chaos-queue";

  private final String topic;
  private final Config config;
  private final History history;
  private final Function<String, RaftMqClient> clients;
  private final LogConsumer.Factory consumers;
  private final AtomicBoolean stopping = new AtomicBoolean();
  private final AtomicInteger processIds = new AtomicInteger();
  private final List<Thread> threads = new ArrayList<>();
  private final List<ProducerLoop> producerLoops = new ArrayList<>();
  private final List<ConsumerLoop> consumerLoops = new ArrayList<>();
  private final List<QueueLoop> queueLoops = new ArrayList<>();
  final AtomicLong acked = new AtomicLong();
  final AtomicLong attempted = new AtomicLong();

  public LogWorkload(String topic, Config config, History history, Function<String, RaftMqClient> clients,
      LogConsumer.Factory consumers) {
    this.topic = topic;
    this.config = config;
    this.history = history;
    this.clients = clients;
    this.consumers = consumers;
  }

  /** Starts the producer and consumer threads. */
  public void start() {
    for (int i = 0; i < config.producers(); i++) {
      ProducerLoop loop = new ProducerLoop(i);
      producerLoops.add(loop);
      threads.add(daemon(loop, "chaos-producer-" + i));
    }
    for (int i = 0; i < config.consumers(); i++) {
      List<Integer> mine = new ArrayList<>();
      for (int p = 0; p < config.partitions(); p++) {
        if (p % config.consumers() == i) {
          mine.add(p);
        }
      }
      ConsumerLoop loop = new ConsumerLoop(mine);
      consumerLoops.add(loop);
      threads.add(daemon(loop, "chaos-consumer-" + i));
    }
    for (int i = 0; i < config.queueConsumers(); i++) {
      QueueLoop loop = new QueueLoop();
      queueLoops.add(loop);
      threads.add(daemon(loop, "chaos-queue-consumer-" + i));
    }
  }

  /** Crashes producer {@code index} (mod the number of producers): its client is closed with sends in flight. */
  public void crashProducer(int index) {
    producerLoops.get(Math.floorMod(index, producerLoops.size())).crash.set(true);
  }

  /**
   * Crashes consumer {@code index}: closed before committing what it read since its last commit; and
   * queue consumer {@code index}, if there are any: gone with its leases and unsent settles.
   */
  public void crashConsumer(int index) {
    consumerLoops.get(Math.floorMod(index, consumerLoops.size())).crash.set(true);
    if (!queueLoops.isEmpty()) {
      queueLoops.get(Math.floorMod(index, queueLoops.size())).crash.set(true);
    }
  }

  /**
   * Stops sending, waits up to {@code timeout} for every outstanding send to complete, and stops the
   * consumers. Returns whether every send completed.
   */
  public boolean stop(Duration timeout) throws InterruptedException {
    stopping.set(true);
    long deadline = System.nanoTime() + timeout.toNanos();
    boolean all = true;
    for (Thread t : threads) {
      t.join(Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime())));
      all &= !t.isAlive();
    }
    return all;
  }

  private static Thread daemon(Runnable r, String name) {
    Thread t = new Thread(r, name);
    t.setDaemon(true);
    t.start();
    return t;
  }

  private String nextProcess(char kind) {
    return kind + String.valueOf(processIds.incrementAndGet());
  }

  private final class ProducerLoop implements Runnable {
    final AtomicBoolean crash = new AtomicBoolean();
    final int index;

    ProducerLoop(int index) {
      this.index = index;
    }

    @Override
    public void run() {
      long n = 0;
      long intervalNanos = TimeUnit.SECONDS.toNanos(1) / config.sendsPerSecondPerProducer();
      long next = System.nanoTime();
      while (!stopping.get()) {
        String process = nextProcess('p');
        Semaphore outstanding = new Semaphore(config.maxOutstandingPerProducer());
        RaftMqClient client = clients.apply(process);
        Producer producer = client.producer(ProducerConfig.builder().idempotent(config.idempotent())
            .linger(Duration.ofMillis(5)).batchSizeBytes(16 * 1024).maxBlock(Duration.ofSeconds(3))
            .requestTimeout(Duration.ofSeconds(5)).deliveryTimeout(Duration.ofSeconds(25))
            .retryBackoff(Duration.ofMillis(100)).build());
        try {
          while (!stopping.get() && !crash.get()) {
            long now = System.nanoTime();
            if (now < next) {
              TimeUnit.NANOSECONDS.sleep(next - now);
            }
            next += intervalNanos;
            if (!outstanding.tryAcquire(100, TimeUnit.MILLISECONDS)) {
              next = System.nanoTime();
              continue;
            }
            int partition = (int) ((n + index) % config.partitions());
            String value = process + "-" + n++;
            Op invoke = history.add(Op.of(process, Type.INVOKE, "send").withValue(value).withPartition(partition));
            attempted.incrementAndGet();
            CompletableFuture<RecordMetadata> f;
            try {
              f = producer.send(Message.builder(topic).partition(partition).value(value).build());
            } catch (RuntimeException e) {
              f = CompletableFuture.failedFuture(e);
            }
            // Failed before it returned: it never left the client.
            boolean definite = f.isCompletedExceptionally();
            f.whenComplete((md, e) -> {
              if (e == null) {
                acked.incrementAndGet();
                history.add(invoke.complete(Type.OK).withOffset(md.offset()));
              } else {
                history.add(invoke.complete(definite ? Type.FAIL : Type.INFO).withError(String.valueOf(e)));
              }
              outstanding.release();
            });
          }
          if (crash.getAndSet(false)) {
            history.add(Op.of(process, Type.INFO, "crash").withValue("producer closed with sends in flight"));
            producer.close(Duration.ZERO);
            client.close();
          } else {
            producer.close(Duration.ofSeconds(30));
            outstanding.acquire(config.maxOutstandingPerProducer());
            client.close();
          }
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          producer.close(Duration.ZERO);
          client.close();
          return;
        } catch (RuntimeException e) {
          history.add(Op.of(process, Type.INFO, "crash").withError("producer loop: " + e));
          producer.close(Duration.ZERO);
          client.close();
        }
      }
    }
  }

  private final class ConsumerLoop implements Runnable {
    final AtomicBoolean crash = new AtomicBoolean();
    final List<Integer> partitions;

    ConsumerLoop(List<Integer> partitions) {
      this.partitions = partitions;
    }

    @Override
    public void run() {
      while (!stopping.get()) {
        String process = nextProcess('c');
        LogConsumer consumer;
        try {
          consumer = consumers.create(process, topic, partitions);
        } catch (RuntimeException e) {
          history.add(Op.of(process, Type.INFO, "crash").withError("consumer create: " + e));
          sleep(500);
          continue;
        }
        try {
          consumeUntilCrashOrStop(process, consumer);
        } finally {
          consumer.close();
        }
      }
    }

    private void consumeUntilCrashOrStop(String process, LogConsumer consumer) {
      String session = null;
      Map<Integer, Long> positions = new HashMap<>();
      long lastCommit = System.nanoTime();
      long lastFetch = System.nanoTime();
      while (!stopping.get()) {
        if (crash.getAndSet(false)) {
          history.add(Op.of(process, Type.INFO, "crash").withValue("consumer closed before committing "
              + positions));
          return;
        }
        if (!consumer.session().equals(session)) {
          session = consumer.session();
          Op a = history.add(Op.of(process, Type.INVOKE, "assign").withSession(session));
          history.add(a.complete(Type.OK).withOffsets(consumer.startPositions()));
          positions.keySet().retainAll(consumer.startPositions().keySet());
        }
        Op inv = history.add(Op.of(process, Type.INVOKE, "poll").withSession(session));
        try {
          List<ConsumerRecord> records = consumer.poll(Duration.ofMillis(300));
          List<Read> reads = new ArrayList<>(records.size());
          for (ConsumerRecord r : records) {
            reads.add(new Read(r.partition(), r.offset(), r.valueAsString()));
            positions.put(r.partition(), r.offset() + 1);
          }
          if (!consumer.session().equals(session)) {
            // The assignment changed inside this poll: its records belong to the new session.
            session = consumer.session();
            Op a = history.add(Op.of(process, Type.INVOKE, "assign").withSession(session));
            history.add(a.complete(Type.OK).withOffsets(consumer.startPositions()));
            positions.keySet().retainAll(consumer.startPositions().keySet());
          }
          history.add(inv.complete(Type.OK).withReads(reads).withSession(session));
        } catch (RuntimeException e) {
          history.add(inv.complete(Type.FAIL).withError(String.valueOf(e)));
          sleep(200);
        }
        long now = System.nanoTime();
        if (now - lastCommit > TimeUnit.SECONDS.toNanos(1) && !positions.isEmpty()) {
          lastCommit = now;
          Map<Integer, Long> offsets = Map.copyOf(positions);
          Op c = history.add(Op.of(process, Type.INVOKE, "commit").withOffsets(offsets)
              .withSession(consumers.group()));
          try {
            // What was committed: a group consumer leaves out partitions it no longer owns.
            history.add(c.complete(Type.OK).withOffsets(consumer.commit(offsets)));
          } catch (RuntimeException e) {
            history.add(c.complete(Type.INFO).withError(String.valueOf(e)));
          }
        }
        if (now - lastFetch > TimeUnit.SECONDS.toNanos(3)) {
          lastFetch = now;
          Op fc = history.add(Op.of(process, Type.INVOKE, "fetch_committed").withSession(consumers.group()));
          try {
            history.add(fc.complete(Type.OK).withOffsets(consumer.fetchCommitted()));
          } catch (RuntimeException e) {
            history.add(fc.complete(Type.FAIL).withError(String.valueOf(e)));
          }
        }
      }
    }
  }

  /**
   * The queue group's settings: short leases and backoff so that redeliveries happen within a run, and
   * deliveries enough that nothing is dead-lettered (a dead letter is not an ack).
   */
  static QueueConsumerConfig queueConfig(String topic, String consumerId) {
    return QueueConsumerConfig.builder().groupId(QUEUE_GROUP).topics(topic).consumerId(consumerId)
        .visibilityTimeout(Duration.ofSeconds(4)).maxDeliveries(1000).backoffBase(Duration.ofMillis(100))
        .backoffMax(Duration.ofSeconds(1)).build();
  }

  /**
   * Makes the queue group exist in every partition before anything is produced (a queue group starts at
   * a partition's end on its first receive there), so that every acknowledged send is the group's to
   * process. Returns whether it did within {@code timeout}.
   */
  public boolean ensureQueueGroup(RaftMqClient client, Duration timeout) {
    long deadline = System.nanoTime() + timeout.toNanos();
    try (QueueConsumer qc = client.queueConsumer(queueConfig(topic, "ensure"))) {
      while (System.nanoTime() < deadline) {
        try {
          qc.receive(config.partitions(), Duration.ofMillis(200)).forEach(Delivery::ack);
          if (client.admin().describeQueue(topic, QUEUE_GROUP).get(5, TimeUnit.SECONDS).partitions().size()
              == config.partitions()) {
            return true;
          }
        } catch (Exception e) {
          sleep(200);
        }
      }
    }
    return false;
  }

  /**
   * Leases, then acks (or, one in ten, nacks) what it got; every receive, ack and nack recorded. Every
   * other receive is acked with one {@code ackAll} (runs of offsets settled together), the others one
   * delivery at a time.
   */
  private final class QueueLoop implements Runnable {
    final AtomicBoolean crash = new AtomicBoolean();

    @Override
    public void run() {
      while (!stopping.get()) {
        String process = nextProcess('q');
        RaftMqClient client = clients.apply(process);
        try {
          QueueConsumer qc = client.queueConsumer(queueConfig(topic, process));
          long n = 0;
          long receives = 0;
          while (!stopping.get() && !crash.get()) {
            List<Delivery> got = receive(process, qc, 100, Duration.ofMillis(300));
            if (receives++ % 2 == 0) {
              List<Delivery> acks = new ArrayList<>(got.size());
              for (Delivery d : got) {
                if (n++ % 10 == 9) {
                  settle(process, d, true);
                } else {
                  acks.add(d);
                }
              }
              ackAll(process, qc, acks);
            } else {
              for (Delivery d : got) {
                settle(process, d, n++ % 10 == 9);
              }
            }
          }
          if (crash.getAndSet(false)) {
            history.add(Op.of(process, Type.INFO, "crash").withValue("queue consumer gone with its leases"));
            client.close();
            continue;
          }
          qc.close(Duration.ofSeconds(10));
          client.close();
        } catch (RuntimeException e) {
          history.add(Op.of(process, Type.INFO, "crash").withError("queue loop: " + e));
          client.close();
          sleep(200);
        }
      }
    }
  }

  private List<Delivery> receive(String process, QueueConsumer qc, int max, Duration wait) {
    Op inv = history.add(Op.of(process, Type.INVOKE, "q_receive"));
    try {
      List<Delivery> got = qc.receive(max, wait);
      List<Read> leased = new ArrayList<>(got.size());
      for (Delivery d : got) {
        leased.add(new Read(d.partition(), d.offset(), new String(d.value(), StandardCharsets.UTF_8),
            d.deliveryCount()));
      }
      history.add(inv.complete(Type.OK).withReads(leased));
      return got;
    } catch (RuntimeException e) {
      history.add(inv.complete(Type.FAIL).withError(String.valueOf(e)));
      sleep(200);
      return List.of();
    }
  }

  /**
   * Acks {@code d} (or nacks it), recording the outcome when it arrives: ok, or info (unknown). The
   * future completes once it is recorded.
   */
  private CompletableFuture<Void> settle(String process, Delivery d, boolean nack) {
    Op inv = history.add(Op.of(process, Type.INVOKE, nack ? "q_nack" : "q_ack").withPartition(d.partition())
        .withOffset(d.offset()).withValue(new String(d.value(), StandardCharsets.UTF_8)));
    CompletableFuture<Void> f;
    try {
      f = nack ? d.nack() : d.ack();
    } catch (RuntimeException e) {
      f = CompletableFuture.failedFuture(e);
    }
    return f.whenComplete((v, e) -> history.add(e == null ? inv.complete(Type.OK)
        : inv.complete(Type.INFO).withError(String.valueOf(e))));
  }

  /**
   * Acks {@code ds} with one {@code ackAll}, recorded as an ack of each: all ok when it succeeds, all
   * unknown (info) when it fails (some of them may have taken effect).
   */
  private void ackAll(String process, QueueConsumer qc, List<Delivery> ds) {
    List<Op> invs = new ArrayList<>(ds.size());
    for (Delivery d : ds) {
      invs.add(history.add(Op.of(process, Type.INVOKE, "q_ack").withPartition(d.partition())
          .withOffset(d.offset()).withValue(new String(d.value(), StandardCharsets.UTF_8))));
    }
    CompletableFuture<Void> f;
    try {
      f = qc.ackAll(ds);
    } catch (RuntimeException e) {
      f = CompletableFuture.failedFuture(e);
    }
    f.whenComplete((v, e) -> invs.forEach(inv -> history.add(e == null ? inv.complete(Type.OK)
        : inv.complete(Type.INFO).withError("ackAll: " + e))));
  }

  /**
   * Receives and acks with a fresh queue consumer (process {@code qdrain}) until the queue group holds
   * nothing (no backlog, nothing leased; leases of crashed consumers expire first), recording it all.
   * Returns whether it got there before {@code timeout}.
   */
  public boolean drainQueue(RaftMqClient client, Duration timeout) {
    String process = "qdrain";
    long deadline = System.nanoTime() + timeout.toNanos();
    try (QueueConsumer qc = client.queueConsumer(queueConfig(topic, process))) {
      while (System.nanoTime() < deadline) {
        List<Delivery> got = receive(process, qc, 500, Duration.ofMillis(500));
        List<CompletableFuture<Void>> acks = new ArrayList<>();
        for (Delivery d : got) {
          acks.add(settle(process, d, false));
        }
        try {
          CompletableFuture.allOf(acks.toArray(CompletableFuture[]::new)).get(10, TimeUnit.SECONDS);
        } catch (Exception e) {
          continue; // some ack failed or is unknown: its message comes back after its lease
        }
        if (got.isEmpty()) {
          try {
            if (client.admin().describeQueue(topic, QUEUE_GROUP).get(5, TimeUnit.SECONDS).backlog() == 0) {
              return true;
            }
          } catch (Exception e) {
            sleep(200);
          }
        }
      }
    }
    return false;
  }

  /**
   * Reads every partition from offset 0 with a fresh client until each reaches {@code targets} (the
   * offset after the last record it must have), recording the polls as process {@code drain}. Returns
   * whether it got there before {@code timeout}.
   */
  public boolean drain(RaftMqClient client, Map<Integer, Long> targets, Duration timeout) {
    String process = "drain";
    Map<Integer, Long> starts = new HashMap<>();
    List<TopicPartition> tps = new ArrayList<>();
    for (int p = 0; p < config.partitions(); p++) {
      tps.add(new TopicPartition(topic, p));
      starts.put(p, 0L);
    }
    Op a = history.add(Op.of(process, Type.INVOKE, "assign").withSession(process));
    history.add(a.complete(Type.OK).withOffsets(starts));
    long deadline = System.nanoTime() + timeout.toNanos();
    Map<Integer, Long> next = new HashMap<>(starts);
    try (Consumer consumer = client.consumer(ConsumerConfig.builder().autoOffsetReset(OffsetReset.NONE)
        .maxPollRecords(5000).fetchMaxWait(Duration.ofMillis(100)).build())) {
      consumer.assign(tps);
      for (TopicPartition tp : tps) {
        consumer.seek(tp, 0);
      }
      // Read at least everything committed now (acks without an offset included).
      Map<Integer, Long> goal = new HashMap<>(targets);
      while (System.nanoTime() < deadline) {
        try {
          consumer.endOffsets(tps).forEach((tp, end) -> goal.merge(tp.partition(), end, Math::max));
          break;
        } catch (RuntimeException e) {
          sleep(200);
        }
      }
      while (System.nanoTime() < deadline) {
        boolean done = true;
        for (int p = 0; p < config.partitions(); p++) {
          done &= next.get(p) >= goal.getOrDefault(p, 0L);
        }
        if (done) {
          return true;
        }
        Op inv = history.add(Op.of(process, Type.INVOKE, "poll").withSession(process));
        try {
          List<ConsumerRecord> records = consumer.poll(Duration.ofMillis(500));
          List<Read> reads = new ArrayList<>(records.size());
          for (ConsumerRecord r : records) {
            reads.add(new Read(r.partition(), r.offset(), r.valueAsString()));
            next.merge(r.partition(), r.offset() + 1, Math::max);
          }
          history.add(inv.complete(Type.OK).withReads(reads).withSession(process));
        } catch (RuntimeException e) {
          history.add(inv.complete(Type.FAIL).withError(String.valueOf(e)));
          sleep(200);
        }
      }
    }
    return false;
  }

  private static void sleep(long ms) {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  @Override
  public void close() throws InterruptedException {
    stop(Duration.ofSeconds(5));
  }
}
