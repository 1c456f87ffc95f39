package io.raftmq.cli.demo;

import io.raftmq.client.ClientConfig;
import io.raftmq.client.ClusterMetadata;
import io.raftmq.client.Consumer;
import io.raftmq.client.ConsumerConfig;
import io.raftmq.client.ConsumerRecord;
import io.raftmq.client.DeadLetters;
import io.raftmq.client.Delivery;
import io.raftmq.client.GroupDescription;
import io.raftmq.client.Message;
import io.raftmq.client.NewTopic;
import io.raftmq.client.NodeAddress;
import io.raftmq.client.OffsetReset;
import io.raftmq.client.PartitionInfo;
import io.raftmq.client.Producer;
import io.raftmq.client.QueueConsumer;
import io.raftmq.client.QueueConsumerConfig;
import io.raftmq.client.QueueGroupDescription;
import io.raftmq.client.QueueOrdering;
import io.raftmq.client.RaftMqClient;
import io.raftmq.client.RaftMqException;
import io.raftmq.client.RebalanceListener;
import io.raftmq.client.TopicDescription;
import io.raftmq.client.TopicPartition;
import io.raftmq.protocol.ErrorCode;
import java.io.PrintWriter;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;
import java.util.stream.Collectors;

/**
 * The order-event bus of the design seeds, end to end against a running cluster: an order service
 * publishes {@code order.created} events (JSON, keyed by customer id so that a customer's orders share a
 * partition and keep their order) at a steady rate to a partitioned topic, and five independent
 * consumer groups work on them at once, each with its own client:
 *
 * <ul>
 *   <li><b>inventory</b> — a stream consumer group of two members, fast, committing after every poll;
 *   <li><b>loyalty-points</b> — a queue group, two threads calling {@code receive(20)} and settling
 *       each delivery themselves: a total that is not a number is {@code reject}ed (dead letter
 *       {@code REJECTED});
 *   <li><b>recommendations</b> — a stream consumer group with auto-commit;
 *   <li><b>warehouse</b> — a queue group, slow and batched: receives 50 at a time and takes its time
 *       packing them before acking the batch;
 *   <li><b>fraud-audit</b> — a queue group with {@code ordering=key} and {@code subscribe(handler)}: a
 *       malformed total throws a parse error (permanent: rejected), a flagged order's scoring call times
 *       out on every attempt (retryable: nacked with backoff until max deliveries, dead letter
 *       {@code MAX_DELIVERIES}).
 * </ul>
 *
 * <p>Midway a node is killed and later restarted (through a {@link NodeControl}). After the last order
 * the demo waits for every group to catch up, then checks and reports: each group processed every order
 * it should (all of them, minus the poison ones for the groups that cannot process those), each
 * customer's orders in order where the group promises it (stream groups, and the queue group with
 * {@code ordering=key}), the poison orders in the DLQ topics exactly once with the right reasons (read
 * back from the dead letters' headers), no lag or queue backlog left, and a healthy cluster.
 */
public final class OrderBusDemo {
  static final String INVENTORY = "inventory";
  static final String LOYALTY = "loyalty-points";
  static final String RECOMMENDATIONS = "recommendations";
  static final String WAREHOUSE = "warehouse";
  static final String FRAUD = "fraud-audit";
  /** The stream groups, which an earlier run may have left behind. */
  static final List<String> STREAM_GROUPS = List.of(INVENTORY, RECOMMENDATIONS);
  /** The queue groups, in the summary's order. */
  static final List<String> QUEUE_GROUPS = List.of(LOYALTY, WAREHOUSE, FRAUD);
  /** Max deliveries of fraud-audit: a flagged order dies after this many attempts. */
  static final int FRAUD_MAX_DELIVERIES = 4;

  private final Settings settings;
  private final PrintWriter out;
  private final long startNanos = System.nanoTime();
  private final List<Thread> threads = new ArrayList<>();
  private final List<AutoCloseable> closeables = new ArrayList<>();
  private volatile boolean stopping;
  /** The run's topic, chosen by {@link #prepareTopic}. */
  private volatile String topic;

  /**
   * What to run against and how.
   *
   * @param bootstrap client addresses of the cluster
   * @param topic the orders topic; created here (if it exists, {@code <topic>-2}, {@code -3}, … instead)
   * @param partitions its partition count
   * @param orders how many orders to publish
   * @param duration over how long (a steady rate)
   * @param customers how many customers place them
   * @param poisonPairs poison orders: this many with a malformed total, and as many flagged ones
   * @param killNode the node to kill midway (0: none)
   * @param nodeControl how to kill and restart it (needed with {@code killNode})
   * @param drainTimeout how long the groups may take to catch up after the last order
   * @param seed the seed of the order plan
   * @param warehouseBatch the warehouse's receive size
   * @param warehouseMsPerOrder the warehouse's packing time per order
   */
  public record Settings(String bootstrap, String topic, int partitions, int orders, Duration duration, int customers,
      int poisonPairs, int killNode, NodeControl nodeControl, Duration drainTimeout, long seed, int warehouseBatch,
      long warehouseMsPerOrder) {
    /** Checks the values. */
    public Settings {
      Objects.requireNonNull(bootstrap, "bootstrap");
      Objects.requireNonNull(topic, "topic");
      if (partitions < 1) {
        throw new IllegalArgumentException("--partitions must be positive");
      }
      if (orders < 10) {
        throw new IllegalArgumentException("--orders must be at least 10");
      }
      if (duration.isNegative() || drainTimeout.isNegative() || drainTimeout.isZero()) {
        throw new IllegalArgumentException("durations must not be negative");
      }
      if (killNode < 0 || (killNode > 0 && nodeControl == null)) {
        throw new IllegalArgumentException("--kill-node needs a way to kill the node");
      }
      if (warehouseBatch < 1 || warehouseMsPerOrder < 0) {
        throw new IllegalArgumentException("bad warehouse settings");
      }
    }

    /** The defaults of {@code bin/raftmq demo orders}: 2,000 orders over 25 s, 6 partitions, no kill. */
    public static Settings defaults(String bootstrap) {
      return new Settings(bootstrap, "orders", 6, 2000, Duration.ofSeconds(25), 200, 2, 0, null,
          Duration.ofSeconds(120), 42, 50, 15);
    }

    /** These settings with {@code n} orders (and a tenth as many customers, at least 20). */
    public Settings withOrders(int n) {
      return new Settings(bootstrap, topic, partitions, n, duration, Math.max(20, n / 10), poisonPairs, killNode,
          nodeControl, drainTimeout, seed, warehouseBatch, warehouseMsPerOrder);
    }

    /** These settings sending over {@code d}. */
    public Settings withDuration(Duration d) {
      return new Settings(bootstrap, topic, partitions, orders, d, customers, poisonPairs, killNode, nodeControl,
          drainTimeout, seed, warehouseBatch, warehouseMsPerOrder);
    }

    /** These settings killing {@code node} midway through {@code control}. */
    public Settings withKill(int node, NodeControl control) {
      return new Settings(bootstrap, topic, partitions, orders, duration, customers, poisonPairs, node, control,
          drainTimeout, seed, warehouseBatch, warehouseMsPerOrder);
    }

    /** These settings on topic {@code name} with {@code n} partitions. */
    public Settings withTopic(String name, int n) {
      return new Settings(bootstrap, name, n, orders, duration, customers, poisonPairs, killNode, nodeControl,
          drainTimeout, seed, warehouseBatch, warehouseMsPerOrder);
    }

    /** These settings waiting up to {@code d} for the groups to catch up. */
    public Settings withDrainTimeout(Duration d) {
      return new Settings(bootstrap, topic, partitions, orders, duration, customers, poisonPairs, killNode, nodeControl,
          d, seed, warehouseBatch, warehouseMsPerOrder);
    }

    /** These settings with plan seed {@code s}. */
    public Settings withSeed(long s) {
      return new Settings(bootstrap, topic, partitions, orders, duration, customers, poisonPairs, killNode, nodeControl,
          drainTimeout, s, warehouseBatch, warehouseMsPerOrder);
    }
  }

  /** A demo that prints its progress to {@code out}. */
  public OrderBusDemo(Settings settings, PrintWriter out) {
    this.settings = settings;
    this.out = out;
  }

  // ---------------------------------------------------------------------------------------------
  // the run

  /** Runs the demo and returns its report (also on failures: they are failed checks). */
  public DemoReport run() throws Exception {
    Settings s = settings;
    List<Order> plan = Order.plan(s.seed(), s.orders(), s.customers(), s.poisonPairs());
    Map<String, Order> byId = plan.stream().collect(Collectors.toMap(Order::orderId, o -> o));
    Map<String, GroupLedger> ledgers = new LinkedHashMap<>();
    ledgers.put(INVENTORY, new GroupLedger(INVENTORY, plan, o -> true, true));
    ledgers.put(LOYALTY, new GroupLedger(LOYALTY, plan, o -> o.poison() != Order.Poison.MALFORMED_TOTAL, false));
    ledgers.put(RECOMMENDATIONS, new GroupLedger(RECOMMENDATIONS, plan, o -> true, true));
    ledgers.put(WAREHOUSE, new GroupLedger(WAREHOUSE, plan, o -> true, false));
    ledgers.put(FRAUD, new GroupLedger(FRAUD, plan, o -> o.poison() == Order.Poison.NONE, true));

    DemoReport report = new DemoReport();
    try (RaftMqClient admin = connect("demo-admin")) {
      log("order-event bus: %d orders from %d customers over %s to topic '%s' (%d partitions), %d of them poison; "
              + "cluster %s", s.orders(), s.customers(), human(s.duration()), s.topic(), s.partitions(),
          plan.stream().filter(o -> o.poison() != Order.Poison.NONE).count(), s.bootstrap());
      prepareTopic(admin);

      // Queue groups start at the log end of a partition the first time they receive from it: start
      // every consumer, and wait until each group is there in every partition, before the first order.
      Map<String, AtomicInteger[]> streamAssigned = new HashMap<>();
      startInventory(ledgers.get(INVENTORY), streamAssigned);
      startLoyalty(ledgers.get(LOYALTY));
      startRecommendations(ledgers.get(RECOMMENDATIONS), streamAssigned);
      startWarehouse(ledgers.get(WAREHOUSE));
      startFraudAudit(ledgers.get(FRAUD));
      awaitGroupsReady(admin, streamAssigned);

      AtomicInteger sent = new AtomicInteger();
      AtomicInteger acked = new AtomicInteger();
      AtomicReference<Throwable> sendError = new AtomicReference<>();
      Chaos chaos = s.killNode() > 0 ? new Chaos(sent) : null;
      if (chaos != null) {
        chaos.thread.start();
      }
      Thread progress = daemon("demo-progress", () -> progress(sent, ledgers));
      progress.start();
      long produceNanos = produce(plan, sent, acked, sendError);
      if (chaos != null) {
        chaos.thread.join();
      }
      log("order service done: %d sent, %d acknowledged in %s%s", sent.get(), acked.get(),
          human(Duration.ofNanos(produceNanos)),
          sendError.get() == null ? "" : "; first failure: " + describe(sendError.get()));

      boolean drained = drain(admin, ledgers, byId);
      stopping = true;
      progress.interrupt();
      stopConsumers();
      log(drained ? "every group caught up; checking" : "not every group caught up within %s; checking what there is",
          human(s.drainTimeout()));
      buildReport(report, admin, plan, byId, ledgers, acked.get(), sendError.get(), chaos);
    } finally {
      stopping = true;
      stopConsumers();
    }
    return report;
  }

  private RaftMqClient connect(String clientId) {
    return RaftMqClient.connect(ClientConfig.builder().bootstrap(settings.bootstrap()).clientId(clientId)
        .requestTimeout(Duration.ofSeconds(10)).build());
  }

  /**
   * Creates the run's topic: the one asked for or, if it (or one of its dead-letter topics) exists from
   * an earlier run, the first free {@code <topic>-2}, {@code <topic>-3}, … so that nothing of an earlier
   * run is touched and every group starts on an empty topic. Nothing is deleted.
   */
  private void prepareTopic(RaftMqClient admin) throws Exception {
    List<String> existing = get(admin.admin().listTopics());
    String name = settings.topic();
    for (int n = 2; taken(existing, name); n++) {
      name = settings.topic() + "-" + n;
    }
    if (!name.equals(settings.topic())) {
      log("topic '%s' exists (an earlier run): this run uses '%s'", settings.topic(), name);
    }
    topic = name;
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    boolean attempted = false;
    while (true) {
      try {
        get(admin.admin().createTopic(NewTopic.of(topic, settings.partitions())));
        break;
      } catch (RaftMqException e) {
        // An earlier attempt of ours that timed out (waiting for the partitions' leaders, on a busy
        // machine) may have created it.
        if (attempted && e.code() == ErrorCode.TOPIC_ALREADY_EXISTS) {
          break;
        }
        if (System.nanoTime() > deadline || !e.isRetriable()) {
          throw e;
        }
        attempted = true;
        Thread.sleep(500);
      }
    }
    String created = topic;
    boolean led = waitUntil(Duration.ofSeconds(60), () -> {
      try {
        TopicDescription d = get(admin.admin().describeTopic(created));
        return d.partitions().size() == settings.partitions() && d.partitions().stream().allMatch(p -> p.leader() > 0);
      } catch (Exception e) {
        return false;
      }
    });
    if (!led) {
      throw new TimeoutException("topic " + topic + " has no leader for every partition after 60 s");
    }
    log("created topic '%s' with %d partitions (replication 3)", topic, settings.partitions());
  }

  private static boolean taken(List<String> existing, String name) {
    return existing.contains(name)
        || QUEUE_GROUPS.stream().anyMatch(g -> existing.contains(DeadLetters.defaultTopic(name, g)));
  }

  // ---------------------------------------------------------------------------------------------
  // the consumer groups

  /** inventory: a stream group of two members, reserving stock, committing after each poll. */
  private void startInventory(GroupLedger ledger, Map<String, AtomicInteger[]> assigned) {
    RaftMqClient client = own(connect("demo-" + INVENTORY));
    AtomicInteger[] members = {new AtomicInteger(), new AtomicInteger()};
    assigned.put(INVENTORY, members);
    for (int m = 0; m < members.length; m++) {
      AtomicInteger owned = members[m];
      ConsumerConfig cfg = ConsumerConfig.builder().groupId(INVENTORY).autoOffsetReset(OffsetReset.EARLIEST)
          .enableAutoCommit(false).fetchMaxWait(Duration.ofMillis(100)).build();
      worker("demo-" + INVENTORY + "-" + (m + 1), () -> streamLoop(client, cfg, ledger, owned, true));
    }
  }

  /** recommendations: a stream group of one member, with auto-commit every second. */
  private void startRecommendations(GroupLedger ledger, Map<String, AtomicInteger[]> assigned) {
    RaftMqClient client = own(connect("demo-" + RECOMMENDATIONS));
    AtomicInteger owned = new AtomicInteger();
    assigned.put(RECOMMENDATIONS, new AtomicInteger[] {owned});
    ConsumerConfig cfg = ConsumerConfig.builder().groupId(RECOMMENDATIONS).autoOffsetReset(OffsetReset.EARLIEST)
        .enableAutoCommit(true).autoCommitInterval(Duration.ofSeconds(1)).fetchMaxWait(Duration.ofMillis(100)).build();
    worker("demo-" + RECOMMENDATIONS, () -> streamLoop(client, cfg, ledger, owned, false));
  }

  private void streamLoop(RaftMqClient client, ConsumerConfig cfg, GroupLedger ledger, AtomicInteger owned,
      boolean commitEachPoll) {
    Map<String, List<String>> recentOrders = new HashMap<>(); // the "recommendation model"
    try (Consumer consumer = client.consumer(cfg)) {
      consumer.subscribe(List.of(topic), new RebalanceListener() {
        @Override
        public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
          if (commitEachPoll) {
            try {
              consumer.commitSync();
            } catch (RuntimeException e) {
              ledger.error(e);
            }
          }
        }

        @Override
        public void onPartitionsAssigned(Collection<TopicPartition> partitions) {}
      });
      while (!stopping) {
        try {
          List<ConsumerRecord> records = consumer.poll(Duration.ofMillis(200));
          owned.set(consumer.assignment().size());
          for (ConsumerRecord r : records) {
            Order.Event e = Order.Event.parse(r.valueAsString());
            if (!commitEachPoll) {
              recentOrders.computeIfAbsent(e.customerId(), c -> new ArrayList<>()).add(e.orderId());
            }
            ledger.processed(e.orderId(), Thread.currentThread().getName() + " " + r.topicPartition() + "@" + r.offset());
          }
          if (commitEachPoll && !records.isEmpty()) {
            consumer.commitSync();
          }
        } catch (RuntimeException e) {
          ledger.error(e);
          pause(200);
        }
      }
      if (commitEachPoll) {
        try {
          consumer.commitSync();
        } catch (RuntimeException e) {
          ledger.error(e);
        }
      }
    } catch (RuntimeException e) {
      ledger.error(e);
    }
  }

  /**
   * loyalty-points: a queue group, two threads receiving 20 at a time and settling each delivery
   * themselves; an order whose total is not a number can never earn points: rejected.
   */
  private void startLoyalty(GroupLedger ledger) {
    RaftMqClient client = own(connect("demo-" + LOYALTY));
    QueueConsumer qc = own(client.queueConsumer(QueueConsumerConfig.builder().groupId(LOYALTY)
        .topics(topic).visibilityTimeout(Duration.ofSeconds(5)).backoffBase(Duration.ofMillis(500))
        .backoffMax(Duration.ofSeconds(5)).build()));
    for (int t = 1; t <= 2; t++) {
      worker("demo-" + LOYALTY + "-" + t, () -> {
        while (!stopping) {
          try {
            for (Delivery d : qc.receive(20, Duration.ofMillis(500))) {
              Order.Event e = Order.Event.parse(d.valueAsString());
              BigDecimal total;
              try {
                total = e.total();
              } catch (NumberFormatException bad) {
                settled(d.reject("no points for a total that is not a number", bad), ledger);
                continue;
              }
              long points = total.longValue(); // one point per currency unit
              if (points >= 0) {
                ledger.processed(e.orderId());
              }
              settled(d.ack(), ledger);
            }
          } catch (RuntimeException e) {
            ledger.error(e);
            pause(200);
          }
        }
      });
    }
  }

  /** warehouse: a queue group, slow and batched: 50 orders at a time, packed, then acked together. */
  private void startWarehouse(GroupLedger ledger) {
    RaftMqClient client = own(connect("demo-" + WAREHOUSE));
    QueueConsumer qc = own(client.queueConsumer(QueueConsumerConfig.builder().groupId(WAREHOUSE)
        .topics(topic).visibilityTimeout(Duration.ofSeconds(10)).backoffBase(Duration.ofMillis(500))
        .backoffMax(Duration.ofSeconds(5)).build()));
    worker("demo-" + WAREHOUSE, () -> {
      while (!stopping) {
        try {
          List<Delivery> batch = qc.receive(settings.warehouseBatch(), Duration.ofMillis(500));
          if (batch.isEmpty()) {
            continue;
          }
          pause(settings.warehouseMsPerOrder() * batch.size()); // packing the batch
          for (Delivery d : batch) {
            ledger.processed(Order.Event.parse(d.valueAsString()).orderId());
            settled(d.ack(), ledger);
          }
        } catch (RuntimeException e) {
          ledger.error(e);
          pause(200);
        }
      }
    });
  }

  /**
   * fraud-audit: a queue group with {@code ordering=key} (a customer's orders one at a time, in order)
   * and a handler: a malformed total is a parse error (permanent: rejected at once); a flagged order's
   * scoring call times out every time (retryable: back after the backoff, dead after
   * {@link #FRAUD_MAX_DELIVERIES} deliveries).
   */
  private void startFraudAudit(GroupLedger ledger) {
    RaftMqClient client = own(connect("demo-" + FRAUD));
    QueueConsumer qc = own(client.queueConsumer(QueueConsumerConfig.builder().groupId(FRAUD)
        .topics(topic).ordering(QueueOrdering.KEY).maxDeliveries(FRAUD_MAX_DELIVERIES)
        .visibilityTimeout(Duration.ofSeconds(5)).backoffBase(Duration.ofMillis(200)).backoffMax(Duration.ofSeconds(2))
        .handlerThreads(16).build()));
    qc.subscribe(d -> {
      Order.Event e = Order.Event.parse(d.valueAsString());
      BigDecimal total = e.total(); // NumberFormatException: permanent
      if (e.flagged()) {
        throw new TimeoutException("fraud scoring service timed out for " + e.orderId() + " (manual review)");
      }
      if (total.signum() >= 0) {
        ledger.processed(e.orderId());
      }
    });
  }

  private static void settled(CompletableFuture<Void> settle, GroupLedger ledger) {
    settle.whenComplete((v, e) -> {
      if (e != null) {
        ledger.error(e);
      }
    });
  }

  /** Waits until the stream groups own every partition and the queue groups exist in every partition. */
  private void awaitGroupsReady(RaftMqClient admin, Map<String, AtomicInteger[]> streamAssigned) throws Exception {
    int p = settings.partitions();
    boolean ready = waitUntil(Duration.ofSeconds(60), () -> {
      for (AtomicInteger[] members : streamAssigned.values()) {
        int owned = 0;
        for (AtomicInteger m : members) {
          owned += m.get();
        }
        if (owned != p) {
          return false;
        }
      }
      for (String g : QUEUE_GROUPS) {
        try {
          if (get(admin.admin().describeQueue(topic, g)).partitions().size() != p) {
            return false;
          }
        } catch (Exception e) {
          return false;
        }
      }
      return true;
    });
    if (!ready) {
      throw new TimeoutException("the consumer groups were not all in place on " + topic
          + " within 60 s (stream groups own every partition, queue groups received from every partition)");
    }
    log("5 consumer groups ready: %s (stream, 2 members), %s (queue), %s (stream), %s (queue, slow batches), "
        + "%s (queue, ordering=key)", INVENTORY, LOYALTY, RECOMMENDATIONS, WAREHOUSE, FRAUD);
  }

  // ---------------------------------------------------------------------------------------------
  // the order service

  /** Sends the orders at a steady rate; returns how long it took until the last acknowledgement. */
  private long produce(List<Order> plan, AtomicInteger sent, AtomicInteger acked, AtomicReference<Throwable> error)
      throws Exception {
    long start = System.nanoTime();
    long intervalNanos = settings.duration().toNanos() / plan.size();
    List<CompletableFuture<?>> pending = new ArrayList<>(plan.size());
    try (RaftMqClient client = connect("demo-order-service"); Producer producer = client.producer()) {
      for (Order o : plan) {
        long due = start + o.index() * intervalNanos;
        long wait;
        while ((wait = due - System.nanoTime()) > 0) {
          LockSupport.parkNanos(wait);
        }
        Message m = Message.builder(topic).key(o.customerId()).value(o.toJson())
            .header("type", Order.TYPE).build();
        pending.add(producer.send(m).whenComplete((md, e) -> {
          if (e == null) {
            acked.incrementAndGet();
          } else {
            error.compareAndSet(null, e);
          }
        }));
        sent.incrementAndGet();
      }
      producer.flush();
      for (CompletableFuture<?> f : pending) {
        try {
          f.get(3, TimeUnit.MINUTES);
        } catch (ExecutionException | TimeoutException e) {
          error.compareAndSet(null, e);
        }
      }
    }
    return System.nanoTime() - start;
  }

  /** Kills the node a third into the run and restarts it two thirds in. */
  private final class Chaos {
    final Thread thread;
    volatile int killedAt = -1;
    volatile int restartedAt = -1;
    volatile String killed;
    volatile String restarted;
    volatile Throwable error;

    Chaos(AtomicInteger sent) {
      int n = settings.orders();
      int node = settings.killNode();
      thread = daemon("demo-chaos", () -> {
        try {
          awaitSent(sent, n / 3);
          killedAt = sent.get();
          log("killing node %d after order %d ...", node, killedAt);
          killed = settings.nodeControl().kill(node);
          log("%s", killed);
          awaitSent(sent, 2 * n / 3);
          restartedAt = sent.get();
          log("restarting node %d after order %d ...", node, restartedAt);
          restarted = settings.nodeControl().restart(node);
          log("%s", restarted);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        } catch (Exception e) {
          error = e;
          log("node control failed: %s", describe(e));
        }
      });
    }

    private void awaitSent(AtomicInteger sent, int n) throws InterruptedException {
      while (sent.get() < n && !stopping) {
        Thread.sleep(20);
      }
    }
  }

  // ---------------------------------------------------------------------------------------------
  // catching up and checking

  /**
   * Waits until every group has processed its orders, has no lag or backlog left, the DLQ topics hold
   * the expected dead letters and the cluster is healthy; false if the drain timeout passed first.
   */
  private boolean drain(RaftMqClient admin, Map<String, GroupLedger> ledgers, Map<String, Order> byId)
      throws InterruptedException {
    return waitUntil(settings.drainTimeout(), () -> {
      if (!ledgers.values().stream().allMatch(GroupLedger::complete)) {
        return false;
      }
      try {
        for (String g : STREAM_GROUPS) {
          if (streamLag(admin, g) != 0) {
            return false;
          }
        }
        for (String g : QUEUE_GROUPS) {
          QueueGroupDescription q = get(admin.admin().describeQueue(topic, g));
          if (q.backlog() != 0 || q.dead() != expectedDead(g, byId.values()).size()) {
            return false;
          }
          if (!readDeadLetters(admin, g).keySet().equals(expectedDead(g, byId.values()).keySet())) {
            return false;
          }
        }
        return health(admin).healthy();
      } catch (Exception e) {
        return false;
      }
    });
  }

  /** The orders {@code group} should dead-letter, with their reasons. */
  static Map<String, String> expectedDead(String group, Collection<Order> orders) {
    Map<String, String> out = new TreeMap<>();
    for (Order o : orders) {
      if (o.poison() == Order.Poison.MALFORMED_TOTAL && (group.equals(LOYALTY) || group.equals(FRAUD))) {
        out.put(o.orderId(), DeadLetters.REJECTED);
      } else if (o.poison() == Order.Poison.FLAGGED && group.equals(FRAUD)) {
        out.put(o.orderId(), DeadLetters.MAX_DELIVERIES);
      }
    }
    return out;
  }

  private long streamLag(RaftMqClient admin, String group) throws Exception {
    GroupDescription d = get(admin.admin().describeGroup(group));
    long lag = 0;
    int rows = 0;
    for (GroupDescription.PartitionLag p : d.partitions()) {
      if (p.partition().topic().equals(topic)) {
        rows++;
        lag += p.lag() < 0 ? Long.MAX_VALUE / 16 : p.lag();
      }
    }
    return rows == settings.partitions() ? lag : Long.MAX_VALUE / 16;
  }

  /** A dead letter as found in a DLQ topic. */
  record DeadLetter(String orderId, String customerId, String reason, String attempts, String group,
      String originalTopic, String originalPartition, String originalOffset, String errorClass, String errorMessage,
      long dlqOffset) {}

  /** Every dead letter in {@code group}'s DLQ topic, by order id (a list: more than one would be a duplicate). */
  private Map<String, List<DeadLetter>> readDeadLetters(RaftMqClient client, String group) throws Exception {
    String dlq = DeadLetters.defaultTopic(topic, group);
    Map<String, List<DeadLetter>> out = new TreeMap<>();
    if (!get(client.admin().listTopics()).contains(dlq)) {
      return out;
    }
    TopicDescription td = get(client.admin().describeTopic(dlq));
    List<TopicPartition> tps = td.partitions().stream().map(p -> new TopicPartition(dlq, p.partition())).toList();
    try (Consumer c = client.consumer(ConsumerConfig.builder().autoOffsetReset(OffsetReset.EARLIEST).build())) {
      c.assign(tps);
      c.seekToBeginning(tps);
      Map<TopicPartition, Long> end = c.endOffsets(tps);
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
      while (tps.stream().anyMatch(tp -> c.position(tp) < end.get(tp))) {
        if (System.nanoTime() > deadline) {
          throw new TimeoutException("could not read " + dlq + " to its end");
        }
        for (ConsumerRecord r : c.poll(Duration.ofMillis(200))) {
          Order.Event e = Order.Event.parse(r.valueAsString());
          DeadLetter d = new DeadLetter(e.orderId(), e.customerId(), header(r, DeadLetters.REASON),
              header(r, DeadLetters.ATTEMPTS), header(r, DeadLetters.GROUP), header(r, DeadLetters.ORIGINAL_TOPIC),
              header(r, DeadLetters.ORIGINAL_PARTITION), header(r, DeadLetters.ORIGINAL_OFFSET),
              header(r, DeadLetters.ERROR_CLASS), header(r, DeadLetters.ERROR_MESSAGE), r.offset());
          out.computeIfAbsent(e.orderId(), k -> new ArrayList<>()).add(d);
        }
      }
    }
    return out;
  }

  private static String header(ConsumerRecord r, String name) {
    byte[] v = r.headers().get(name);
    return v == null ? null : new String(v, StandardCharsets.UTF_8);
  }

  /** What the cluster looks like: every node answering, and a live leader for every partition of the topic. */
  record Health(int nodes, int nodesUp, int partitionsWithoutLeader, int metadataLeader) {
    boolean healthy() {
      return nodes > 0 && nodesUp == nodes && partitionsWithoutLeader == 0 && metadataLeader > 0;
    }

    @Override
    public String toString() {
      return nodesUp + "/" + nodes + " nodes up, " + partitionsWithoutLeader + " partitions without a live leader, "
          + "metadata leader " + (metadataLeader > 0 ? "node " + metadataLeader : "none");
    }
  }

  private Health health(RaftMqClient client) {
    ClusterMetadata md = client.metadata(Duration.ofSeconds(5));
    Map<Integer, Boolean> up = new HashMap<>();
    for (NodeAddress n : md.nodes()) {
      try (RaftMqClient one = RaftMqClient.connect(ClientConfig.builder().bootstrap(n.host() + ":" + n.port())
          .clientId("demo-health").requestTimeout(Duration.ofSeconds(3)).build())) {
        up.put(n.nodeId(), one.metadata(Duration.ofSeconds(3)).answeringNode() == n.nodeId());
      } catch (RuntimeException e) {
        up.put(n.nodeId(), false);
      }
    }
    int leaderless = 0;
    for (PartitionInfo p : md.topic(topic).map(TopicDescription::partitions).orElse(List.of())) {
      if (p.leader() <= 0 || !up.getOrDefault(p.leader(), false)) {
        leaderless++;
      }
    }
    int ml = md.metadataLeader();
    return new Health(md.nodes().size(), (int) up.values().stream().filter(b -> b).count(), leaderless,
        up.getOrDefault(ml, false) ? ml : -1);
  }

  private void buildReport(DemoReport report, RaftMqClient admin, List<Order> plan, Map<String, Order> byId,
      Map<String, GroupLedger> ledgers, int acked, Throwable sendError, Chaos chaos) {
    Settings s = settings;
    List<Order> poison = plan.stream().filter(o -> o.poison() != Order.Poison.NONE).toList();
    report.line(String.format(Locale.ROOT, "orders: %d published to '%s' (%d partitions, keyed by customer, %d "
        + "customers), %d acknowledged", plan.size(), topic, s.partitions(), s.customers(), acked));
    report.line("poison: " + poison.stream().map(o -> o.orderId() + " (" + o.customerId() + ", "
        + (o.poison() == Order.Poison.MALFORMED_TOTAL ? "total \"" + o.total() + "\"" : "flagged for review") + ")")
        .collect(Collectors.joining(", ")));
    report.check("order service: every order acknowledged", acked == plan.size(),
        acked + " of " + plan.size() + (sendError == null ? "" : "; " + describe(sendError)));
    if (chaos != null) {
      boolean ok = chaos.error == null && chaos.killed != null && chaos.restarted != null;
      report.line(String.format(Locale.ROOT, "node %d: killed after order %d, restarted after order %d%s",
          s.killNode(), chaos.killedAt, chaos.restartedAt, chaos.error == null ? "" : " (" + describe(chaos.error) + ")"));
      report.check("node " + s.killNode() + " killed midway and restarted", ok,
          ok ? chaos.killed + "; " + chaos.restarted : String.valueOf(chaos.error));
    }
    Health health;
    try {
      health = health(admin);
    } catch (RuntimeException e) {
      health = new Health(0, 0, s.partitions(), -1);
    }
    report.line("cluster at the end: " + health);
    report.check("cluster healthy at the end", health.healthy(), health.toString());

    for (Map.Entry<String, GroupLedger> e : ledgers.entrySet()) {
      String g = e.getKey();
      GroupLedger l = e.getValue();
      boolean ok = true;
      String processed = l.processedCount() + "/" + l.expectedCount();
      ok &= report.check(g + ": processed every order it can", l.complete() && l.unexpected() == 0,
          processed + (l.complete() ? "" : ", missing e.g. " + l.missing(5))
              + (l.unexpected() == 0 ? "" : ", processed poison/unknown orders " + l.unexpectedExamples()));
      String order;
      if (l.checksOrder()) {
        ok &= report.check(g + ": each customer's orders in order", l.outOfOrder() == 0,
            l.outOfOrder() == 0 ? "held for " + l.customers() + " customers"
                : l.outOfOrder() + " out of order, e.g. " + l.outOfOrderExamples());
        order = l.outOfOrder() == 0 ? "held (" + l.customers() + " customers)" : "BROKEN (" + l.outOfOrder() + ")";
      } else {
        order = "n/a (ordering=none)";
      }
      String deadText = "-";
      String backlog;
      if (STREAM_GROUPS.contains(g)) {
        long lag;
        try {
          lag = streamLag(admin, g);
        } catch (Exception ex) {
          lag = -1;
        }
        backlog = lag >= 0 && lag < Long.MAX_VALUE / 16 ? "lag " + lag : "unknown";
        ok &= report.check(g + ": lag back to 0", lag == 0, backlog);
      } else {
        QueueGroupDescription q = null;
        try {
          q = get(admin.admin().describeQueue(topic, g));
        } catch (Exception ex) {
          report.check(g + ": queue described", false, describe(ex));
          ok = false;
        }
        backlog = q == null ? "unknown" : "depth " + q.backlog() + ", in flight " + q.inFlight();
        ok &= report.check(g + ": queue depth back to 0", q != null && q.backlog() == 0 && q.inFlight() == 0, backlog);
        ok &= checkDeadLetters(report, admin, g, byId, q);
        Map<String, Long> byReason = q == null ? Map.of() : q.deadByReason();
        deadText = byReason.isEmpty() ? "none" : byReason.entrySet().stream()
            .map(r -> r.getValue() + " " + r.getKey()).collect(Collectors.joining(", "));
      }
      report.group(new DemoReport.GroupRow(g, model(g), processed, l.duplicates(), order, deadText, backlog,
          l.errors(), ok));
      if (l.errors() > 0) {
        report.note(g + ": " + l.errors() + " consumer error(s) retried (failover), the last: " + shorten(l.lastError(), 160));
      }
    }
  }

  /** The DLQ topic of {@code g} holds each expected dead letter exactly once, with its reason and provenance. */
  private boolean checkDeadLetters(DemoReport report, RaftMqClient admin, String g, Map<String, Order> byId,
      QueueGroupDescription q) {
    String dlq = DeadLetters.defaultTopic(topic, g);
    Map<String, String> expected = expectedDead(g, byId.values());
    Map<String, List<DeadLetter>> found;
    try {
      found = readDeadLetters(admin, g);
    } catch (Exception e) {
      return report.check(g + ": dead letters in " + dlq, false, "cannot read it: " + describe(e));
    }
    List<String> problems = new ArrayList<>();
    for (Map.Entry<String, List<DeadLetter>> f : found.entrySet()) {
      String id = f.getKey();
      if (!expected.containsKey(id)) {
        problems.add(id + " should not be dead");
      }
      if (f.getValue().size() > 1) {
        problems.add(id + " is there " + f.getValue().size() + " times");
      }
      for (DeadLetter d : f.getValue()) {
        Order o = byId.get(id);
        report.deadLetter(new DemoReport.DeadLetterRow(dlq, id, d.customerId(), d.reason(), d.attempts(),
            d.originalTopic() + "/" + d.originalPartition() + "@" + d.originalOffset(), shorten(
                (d.errorClass() == null ? "" : simpleName(d.errorClass()) + ": ")
                    + (d.errorMessage() == null ? "" : d.errorMessage()), 100)));
        String want = expected.get(id);
        if (want != null && !want.equals(d.reason())) {
          problems.add(id + " has reason " + d.reason() + ", expected " + want);
        }
        if (!topic.equals(d.originalTopic()) || !g.equals(d.group()) || d.originalOffset() == null
            || d.originalPartition() == null || (o != null && !o.customerId().equals(d.customerId()))) {
          problems.add(id + " lacks its provenance headers (topic " + d.originalTopic() + ", group " + d.group()
              + ", partition " + d.originalPartition() + ", offset " + d.originalOffset() + ")");
        }
        if (DeadLetters.MAX_DELIVERIES.equals(want)
            && !String.valueOf(FRAUD_MAX_DELIVERIES).equals(d.attempts())) {
          problems.add(id + " died after " + d.attempts() + " attempts, expected " + FRAUD_MAX_DELIVERIES);
        }
      }
    }
    for (String id : expected.keySet()) {
      if (!found.containsKey(id)) {
        problems.add(id + " (" + expected.get(id) + ") is missing");
      }
    }
    if (q != null && q.dead() != expected.size()) {
      problems.add("the group counts " + q.dead() + " dead, expected " + expected.size());
    }
    String summary = expected.isEmpty() ? "none expected, none there"
        : expected.size() + " expected (" + expected.values().stream()
            .collect(Collectors.groupingBy(r -> r, TreeMap::new, Collectors.counting())) + "), "
            + found.values().stream().mapToInt(List::size).sum() + " there";
    return report.check(g + ": poison orders in " + dlq + " with their reasons", problems.isEmpty(),
        problems.isEmpty() ? summary : String.join("; ", problems));
  }

  private static String model(String group) {
    return switch (group) {
      case INVENTORY -> "stream, 2 members, commit per poll";
      case LOYALTY -> "queue, 2 threads x receive(20)";
      case RECOMMENDATIONS -> "stream, auto-commit";
      case WAREHOUSE -> "queue, slow batches of 50";
      case FRAUD -> "queue, ordering=key, handler";
      default -> "";
    };
  }

  // ---------------------------------------------------------------------------------------------
  // plumbing

  private void progress(AtomicInteger sent, Map<String, GroupLedger> ledgers) {
    while (!stopping) {
      try {
        Thread.sleep(2000);
      } catch (InterruptedException e) {
        return;
      }
      if (stopping) {
        return;
      }
      StringBuilder sb = new StringBuilder();
      sb.append(String.format(Locale.ROOT, "sent %d/%d |", sent.get(), settings.orders()));
      ledgers.forEach((g, l) -> sb.append(' ').append(g).append(' ').append(l.processedCount()));
      log("%s", sb);
    }
  }

  private <T extends AutoCloseable> T own(T resource) {
    synchronized (closeables) {
      closeables.add(resource);
    }
    return resource;
  }

  private void worker(String name, Runnable body) {
    Thread t = daemon(name, body);
    synchronized (threads) {
      threads.add(t);
    }
    t.start();
  }

  private static Thread daemon(String name, Runnable body) {
    Thread t = new Thread(body, name);
    t.setDaemon(true);
    return t;
  }

  /** Stops the workers, then closes the consumers and their clients, newest first. Idempotent. */
  private void stopConsumers() {
    stopping = true;
    List<Thread> ts;
    synchronized (threads) {
      ts = new ArrayList<>(threads);
      threads.clear();
    }
    for (Thread t : ts) {
      try {
        t.join(15_000);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    List<AutoCloseable> cs;
    synchronized (closeables) {
      cs = new ArrayList<>(closeables);
      closeables.clear();
    }
    for (int i = cs.size() - 1; i >= 0; i--) {
      try {
        AutoCloseable c = cs.get(i);
        if (c instanceof QueueConsumer qc) {
          qc.close(Duration.ofSeconds(10));
        } else {
          c.close();
        }
      } catch (Exception e) {
        log("closing: %s", describe(e));
      }
    }
  }

  private boolean waitUntil(Duration timeout, BooleanSupplier condition) throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (true) {
      if (condition.getAsBoolean()) {
        return true;
      }
      if (System.nanoTime() > deadline) {
        return false;
      }
      Thread.sleep(250);
    }
  }

  private static void pause(long ms) {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private static <T> T get(CompletableFuture<T> f) throws Exception {
    try {
      return f.get(30, TimeUnit.SECONDS);
    } catch (ExecutionException e) {
      Throwable c = e.getCause();
      while (c instanceof java.util.concurrent.CompletionException && c.getCause() != null) {
        c = c.getCause();
      }
      if (c instanceof Exception ex) {
        throw ex;
      }
      throw e;
    }
  }

  private synchronized void log(String format, Object... args) {
    double t = (System.nanoTime() - startNanos) / 1e9;
    out.printf(Locale.ROOT, "[%6.1fs] %s%n", t, String.format(Locale.ROOT, format, args));
    out.flush();
  }

  private static String describe(Throwable t) {
    Throwable c = t;
    while ((c instanceof ExecutionException || c instanceof java.util.concurrent.CompletionException)
        && c.getCause() != null) {
      c = c.getCause();
    }
    return c.getClass().getSimpleName() + (c.getMessage() == null ? "" : ": " + c.getMessage());
  }

  private static String human(Duration d) {
    long ms = d.toMillis();
    return ms % 1000 == 0 ? ms / 1000 + "s" : String.format(Locale.ROOT, "%.1fs", ms / 1000.0);
  }

  private static String simpleName(String className) {
    int dot = className.lastIndexOf('.');
    return dot < 0 ? className : className.substring(dot + 1);
  }

  private static String shorten(String s, int max) {
    return s.length() <= max ? s : s.substring(0, max - 3) + "...";
  }
}
