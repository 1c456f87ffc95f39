package io.raftmq.broker;

import io.prometheus.metrics.core.metrics.CounterWithCallback;
import io.raftmq.partition.QueueGroup;

import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.instrumentation.jvm.JvmMetrics;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.raftmq.protocol.ErrorCode;
import io.raftmq.raft.RaftHost;

/**
 * Every metric the node exports, defined once. Each node has its own registry, so that several nodes
 * can share a JVM in tests. Names follow Prometheus conventions: {@code raftmq_} prefix, base units,
 * {@code _total} on counters (added by the client library).
 */
final class BrokerMetrics {
  final PrometheusRegistry registry = new PrometheusRegistry();
  private final Counter requests = Counter.builder()
      .name("raftmq_requests_total")
      .help("Client requests handled, by API and error code")
      .labelNames("api", "error")
      .register(registry);
  private final Histogram requestDuration = Histogram.builder()
      .name("raftmq_request_duration_seconds")
      .help("Time from a request's arrival to its response, by API")
      .labelNames("api")
      .classicUpperBounds(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5)
      .register(registry);
  private final Counter messagesIn = Counter.builder()
      .name("raftmq_messages_in_total")
      .help("Records appended (committed and applied on this leader), by topic; retried duplicates not counted")
      .labelNames("topic")
      .register(registry);
  private final Counter bytesIn = Counter.builder()
      .name("raftmq_bytes_in_total")
      .help("Record bytes appended (committed and applied on this leader), by topic")
      .labelNames("topic")
      .register(registry);
  private final Counter bytesOut = Counter.builder()
      .name("raftmq_fetch_bytes_out_total")
      .help("Batch bytes sent to fetching clients")
      .register(registry);
  private final Counter badFrames = Counter.builder()
      .name("raftmq_bad_frames_total")
      .help("Connections closed for a malformed or oversized frame")
      .register(registry);
  private final Counter notReady = Counter.builder()
      .name("raftmq_requests_not_ready_total")
      .help("Requests answered METADATA_BEHIND because the node had not caught up with the metadata group after"
          + " starting")
      .register(registry);

  BrokerMetrics() {
    JvmMetrics.builder().register(registry);
  }

  /** A per-partition counter read from the replicas' queue-command batchers: {@code sent()[index]}. */
  private void queueBatcherCounter(PartitionDirectory partitions, String name, String help, int index) {
    CounterWithCallback.builder()
        .name(name)
        .help(help)
        .labelNames("topic", "partition")
        .callback(cb -> partitions.all().values().forEach(lp -> {
          QueueCommandBatcher b = lp.queueBatcherIfAny();
          if (b != null) {
            cb.call(b.sent()[index], lp.topic, String.valueOf(lp.partition));
          }
        }))
        .register(registry);
  }

  /** Registers the gauges read from the node's replicas at scrape time. */
  void registerPartitionGauges(PartitionDirectory partitions, RaftHost host) {
    GaugeWithCallback.builder()
        .name("raftmq_partition_high_watermark")
        .help("Offset below which this replica's records are committed and readable")
        .labelNames("topic", "partition")
        .callback(cb -> partitions.all().values().forEach(lp ->
            cb.call(lp.stateMachine.highWatermark(), lp.topic, String.valueOf(lp.partition))))
        .register(registry);
    GaugeWithCallback.builder()
        .name("raftmq_partition_log_start_offset")
        .help("First offset this replica still stores")
        .labelNames("topic", "partition")
        .callback(cb -> partitions.all().values().forEach(lp ->
            cb.call(lp.stateMachine.logStartOffset(), lp.topic, String.valueOf(lp.partition))))
        .register(registry);
    GaugeWithCallback.builder()
        .name("raftmq_partition_is_leader")
        .help("1 if this node leads the partition's Raft group")
        .labelNames("topic", "partition")
        .callback(cb -> partitions.all().values().forEach(lp ->
            cb.call(lp.isLeader() ? 1 : 0, lp.topic, String.valueOf(lp.partition))))
        .register(registry);
    GaugeWithCallback.builder()
        .name("raftmq_raft_term")
        .help("Current Raft term of the partition's group on this node")
        .labelNames("topic", "partition")
        .callback(cb -> partitions.all().values().forEach(lp ->
            cb.call(lp.term(), lp.topic, String.valueOf(lp.partition))))
        .register(registry);
    GaugeWithCallback.builder()
        .name("raftmq_raft_applied_index")
        .help("Last Raft index applied by this replica")
        .labelNames("topic", "partition")
        .callback(cb -> partitions.all().values().forEach(lp ->
            cb.call(lp.division.getInfo().getLastAppliedIndex(), lp.topic, String.valueOf(lp.partition))))
        .register(registry);
    GaugeWithCallback.builder()
        .name("raftmq_partitions_without_leader")
        .help("Local replicas whose group has no known leader")
        .callback(cb -> cb.call(partitions.all().values().stream().filter(lp -> lp.leaderNodeId() < 0).count()))
        .register(registry);
    GaugeWithCallback.builder()
        .name("raftmq_consumer_group_lag")
        .help("High watermark minus the group's committed offset, exported by the partition's leader")
        .labelNames("group", "topic", "partition")
        .callback(cb -> partitions.all().values().forEach(lp -> {
          if (!lp.isLeader()) {
            return;
          }
          long hw = lp.stateMachine.highWatermark();
          lp.stateMachine.groupOffsets().forEach((group, g) -> {
            if (g.getOffset() >= 0) {
              cb.call(Math.max(0, hw - g.getOffset()), group, lp.topic, String.valueOf(lp.partition));
            }
          });
        }))
        .register(registry);
    GaugeWithCallback.builder()
        .name("raftmq_consumer_group_committed_offset")
        .help("The group's committed offset, exported by the partition's leader")
        .labelNames("group", "topic", "partition")
        .callback(cb -> partitions.all().values().forEach(lp -> {
          if (lp.isLeader()) {
            lp.stateMachine.groupOffsets().forEach((group, g) -> {
              if (g.getOffset() >= 0) {
                cb.call(g.getOffset(), group, lp.topic, String.valueOf(lp.partition));
              }
            });
          }
        }))
        .register(registry);
    registerQueueGauges(partitions);
    // Group commit of queue commands on this node's leaders: commands / entries is how many receives
    // and settles one Raft entry carries (since the replica's batcher was made; a restarted division
    // starts again from 0).
    queueBatcherCounter(partitions, "raftmq_queue_raft_entries",
        "Raft entries this node proposed for queue commands (one command or one QueueBatch each)", 0);
    queueBatcherCounter(partitions, "raftmq_queue_commands",
        "Queue commands (acquires, settles, expiries, ...) this node proposed, alone or batched", 1);
    CounterWithCallback.builder()
        .name("raftmq_division_restarts")
        .help("Partition Raft divisions this node restarted after Ratis closed them by itself")
        .callback(cb -> cb.call(host.divisionRestarts()))
        .register(registry);
    GaugeWithCallback.builder()
        .name("raftmq_metadata_is_leader")
        .help("1 if this node leads the metadata group")
        .callback(cb -> cb.call(host.division(RaftHost.METADATA_GROUP_ID)
            .map(d -> d.getInfo().isLeader() ? 1.0 : 0.0).orElse(0.0)))
        .register(registry);
  }

  /** Queue groups' state per partition, exported by the partition's leader (every replica holds the same). */
  private void registerQueueGauges(PartitionDirectory partitions) {
    queueGauge(partitions, "raftmq_queue_in_flight", "Messages leased to a consumer now",
        s -> s.inFlight());
    queueGauge(partitions, "raftmq_queue_available", "Unsettled messages waiting (new, or back after a failure)",
        s -> s.available());
    queueGauge(partitions, "raftmq_queue_dlq_depth", "Dead-lettered messages of the group (not redriven or purged)",
        s -> s.dead());
    queueGauge(partitions, "raftmq_queue_dlq_oldest_age_seconds", "Age of the group's oldest dead letter",
        s -> s.dead() == 0 ? 0 : Math.max(0, System.currentTimeMillis() - s.oldestDeadMs()) / 1000.0);
    queueGauge(partitions, "raftmq_queue_unforwarded_dead_letters", "Dead letters not yet copied to the DLQ topic",
        s -> s.unforwarded().size());
    CounterWithCallback.builder()
        .name("raftmq_queue_redeliveries")
        .help("Deliveries after a message's first, by group and partition")
        .labelNames("group", "topic", "partition")
        .callback(cb -> forEachQueue(partitions, (lp, s) ->
            cb.call(s.redelivered(), s.group(), lp.topic, String.valueOf(lp.partition))))
        .register(registry);
    CounterWithCallback.builder()
        .name("raftmq_queue_lease_expiries")
        .help("Leases that ran out before the consumer settled them")
        .labelNames("group", "topic", "partition")
        .callback(cb -> forEachQueue(partitions, (lp, s) ->
            cb.call(s.leaseExpiries(), s.group(), lp.topic, String.valueOf(lp.partition))))
        .register(registry);
    CounterWithCallback.builder()
        .name("raftmq_queue_acked")
        .help("Messages acknowledged")
        .labelNames("group", "topic", "partition")
        .callback(cb -> forEachQueue(partitions, (lp, s) ->
            cb.call(s.acked(), s.group(), lp.topic, String.valueOf(lp.partition))))
        .register(registry);
    GaugeWithCallback.builder()
        .name("raftmq_queue_dead")
        .help("Dead-lettered messages of the group by reason (MAX_DELIVERIES, REJECTED, EXPIRED)")
        .labelNames("group", "topic", "partition", "reason")
        .callback(cb -> forEachQueue(partitions, (lp, s) -> s.deadByReason().forEach((reason, n) ->
            cb.call(n, s.group(), lp.topic, String.valueOf(lp.partition), reason))))
        .register(registry);
  }

  private void queueGauge(PartitionDirectory partitions, String name, String help,
      java.util.function.ToDoubleFunction<QueueGroup.Stats> value) {
    GaugeWithCallback.builder()
        .name(name)
        .help(help)
        .labelNames("group", "topic", "partition")
        .callback(cb -> forEachQueue(partitions, (lp, s) ->
            cb.call(value.applyAsDouble(s), s.group(), lp.topic, String.valueOf(lp.partition))))
        .register(registry);
  }

  private static void forEachQueue(PartitionDirectory partitions,
      java.util.function.BiConsumer<PartitionDirectory.LocalPartition, QueueGroup.Stats> action) {
    partitions.all().values().forEach(lp -> {
      if (lp.isLeader()) {
        lp.stateMachine.queueGroups().values().forEach(q -> action.accept(lp, q.stats()));
      }
    });
  }

  void request(String api, ErrorCode error, long startNanos) {
    requests.labelValues(api, error.name().toLowerCase()).inc();
    requestDuration.labelValues(api).observe((System.nanoTime() - startNanos) / 1e9);
  }

  void messagesIn(String topic, int count, int bytes) {
    messagesIn.labelValues(topic).inc(count);
    bytesIn.labelValues(topic).inc(bytes);
  }

  void bytesOut(long bytes) {
    bytesOut.inc(bytes);
  }

  void badFrame() {
    badFrames.inc();
  }

  void notReady() {
    notReady.inc();
  }
}
