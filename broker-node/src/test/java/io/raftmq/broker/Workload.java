package io.raftmq.broker;

import static org.assertj.core.api.Assertions.assertThat;

import io.raftmq.client.Consumer;
import io.raftmq.client.ConsumerConfig;
import io.raftmq.client.ConsumerRecord;
import io.raftmq.client.Message;
import io.raftmq.client.OffsetReset;
import io.raftmq.client.Producer;
import io.raftmq.client.RaftMqClient;
import io.raftmq.client.RecordMetadata;
import io.raftmq.client.TopicPartition;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * A keyed workload and its checker: remembers every acknowledged message (value → partition and
 * offset), reads the topic back, and checks that each acknowledged message is there exactly once, at
 * its acknowledged offset, in send order per key, with dense offsets per partition.
 */
final class Workload {
  final String topic;
  final int partitions;
  final Map<String, RecordMetadata> acked = new ConcurrentHashMap<>();
  final Map<String, Throwable> failed = new ConcurrentHashMap<>();
  private final List<CompletableFuture<RecordMetadata>> pending = new ArrayList<>();

  Workload(String topic, int partitions) {
    this.topic = topic;
    this.partitions = partitions;
  }

  static String key(int i) {
    return "key-" + (i % 97);
  }

  static String value(int i) {
    return "value-" + i;
  }

  /** Sends messages {@code from} to {@code to - 1} without waiting for them. */
  void send(Producer producer, int from, int to) {
    for (int i = from; i < to; i++) {
      String value = value(i);
      CompletableFuture<RecordMetadata> f = producer.send(Message.of(topic, key(i), value));
      f.whenComplete((md, e) -> {
        if (e == null) {
          acked.put(value, md);
        } else {
          failed.put(value, e);
        }
      });
      synchronized (pending) {
        pending.add(f);
      }
    }
  }

  /** Waits for every send to finish (acked or failed). */
  void awaitSends(Duration timeout) throws Exception {
    List<CompletableFuture<RecordMetadata>> all;
    synchronized (pending) {
      all = new ArrayList<>(pending);
    }
    CompletableFuture.allOf(all.stream().map(f -> f.handle((m, e) -> null)).toArray(CompletableFuture[]::new))
        .get(timeout.toMillis(), TimeUnit.MILLISECONDS);
  }

  /** Reads every partition from the start until {@code expected} records arrived (or the deadline). */
  static Map<TopicPartition, List<ConsumerRecord>> readAll(RaftMqClient client, String topic, int partitions,
      int expected, Duration timeout) {
    Map<TopicPartition, List<ConsumerRecord>> out = new HashMap<>();
    List<TopicPartition> tps = new ArrayList<>();
    for (int p = 0; p < partitions; p++) {
      tps.add(new TopicPartition(topic, p));
      out.put(tps.get(p), new ArrayList<>());
    }
    try (Consumer consumer = client.consumer(ConsumerConfig.builder()
        .autoOffsetReset(OffsetReset.EARLIEST).maxPollRecords(5000).build())) {
      consumer.assign(tps);
      consumer.seekToBeginning(tps);
      long deadline = System.nanoTime() + timeout.toNanos();
      int total = 0;
      while (total < expected && System.nanoTime() < deadline) {
        for (ConsumerRecord r : consumer.poll(Duration.ofMillis(500))) {
          out.get(new TopicPartition(r.topic(), r.partition())).add(r);
          total++;
        }
      }
    }
    return out;
  }

  /** Checks the read-back against what was acknowledged; returns the number of records read. */
  int verify(Map<TopicPartition, List<ConsumerRecord>> read) {
    Map<String, Long> seen = new HashMap<>();
    Map<String, Integer> partitionOfKey = new HashMap<>();
    int total = 0;
    for (Map.Entry<TopicPartition, List<ConsumerRecord>> e : read.entrySet()) {
      List<ConsumerRecord> records = e.getValue();
      Map<String, Integer> lastIndexOfKey = new HashMap<>();
      for (int i = 0; i < records.size(); i++) {
        ConsumerRecord r = records.get(i);
        assertThat(r.offset()).as("dense offsets in %s", e.getKey()).isEqualTo(records.get(0).offset() + i);
        String value = r.valueAsString();
        assertThat(seen.put(value, r.offset())).as("%s read twice", value).isNull();
        Integer p = partitionOfKey.putIfAbsent(r.keyAsString(), r.partition());
        assertThat(p == null || p == r.partition()).as("key %s in one partition", r.keyAsString()).isTrue();
        int index = Integer.parseInt(value.substring("value-".length()));
        Integer last = lastIndexOfKey.put(r.keyAsString(), index);
        assertThat(last == null || last < index).as("send order of key %s", r.keyAsString()).isTrue();
        total++;
      }
    }
    for (Map.Entry<String, RecordMetadata> a : acked.entrySet()) {
      Long offset = seen.get(a.getKey());
      assertThat(offset).as("acked %s is readable", a.getKey()).isNotNull();
      assertThat(offset).as("acked %s at its acked offset", a.getKey()).isEqualTo(a.getValue().offset());
    }
    return total;
  }
}
