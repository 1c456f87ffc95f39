package io.raftmq.chaos;

import io.raftmq.client.Consumer;
import io.raftmq.client.ConsumerConfig;
import io.raftmq.client.ConsumerRecord;
import io.raftmq.client.OffsetReset;
import io.raftmq.client.RaftMqClient;
import io.raftmq.client.TopicPartition;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;

/**
 * An assign-based consumer: its own client, the given partitions assigned, each seeked to the offset
 * committed in {@link Store} (0 if none). Out-of-range positions are errors, never silently reset, so a
 * skip or rewind is the broker's. Its session is its process id: one assignment per incarnation.
 */
public final class AssignLogConsumer implements LogConsumer {
  private final RaftMqClient client;
  private final Consumer consumer;
  private final String topic;
  private final String session;
  private final Store store;
  private final Map<Integer, Long> starts = new HashMap<>();

  /** The committed offsets of the workload's "group" while consumers are assign-based. Thread-safe. */
  public static final class Store {
    private final Map<Integer, Long> committed = new ConcurrentHashMap<>();

    void commit(Map<Integer, Long> offsets) {
      committed.putAll(offsets);
    }

    Map<Integer, Long> get(List<Integer> partitions) {
      Map<Integer, Long> out = new HashMap<>();
      for (int p : partitions) {
        Long o = committed.get(p);
        if (o != null) {
          out.put(p, o);
        }
      }
      return out;
    }
  }

  AssignLogConsumer(RaftMqClient client, String topic, String process, List<Integer> partitions, Store store) {
    this.client = client;
    this.topic = topic;
    this.session = process;
    this.store = store;
    this.consumer = client.consumer(ConsumerConfig.builder().autoOffsetReset(OffsetReset.NONE)
        .maxPollRecords(1000).fetchMaxWait(Duration.ofMillis(200)).build());
    consumer.assign(partitions.stream().map(p -> new TopicPartition(topic, p)).toList());
    Map<Integer, Long> committed = store.get(partitions);
    for (int p : partitions) {
      long start = committed.getOrDefault(p, 0L);
      consumer.seek(new TopicPartition(topic, p), start);
      starts.put(p, start);
    }
  }

  /** A factory of assign consumers, each with its own client from {@code clients}. */
  public static Factory factory(Function<String, RaftMqClient> clients) {
    Store store = new Store();
    return new Factory() {
      @Override
      public LogConsumer create(String process, String topic, List<Integer> partitions) {
        return new AssignLogConsumer(clients.apply(process), topic, process, partitions, store);
      }

      @Override
      public String group() {
        return "assign";
      }
    };
  }

  @Override
  public String session() {
    return session;
  }

  @Override
  public Map<Integer, Long> startPositions() {
    return Map.copyOf(starts);
  }

  @Override
  public List<ConsumerRecord> poll(Duration timeout) {
    return consumer.poll(timeout);
  }

  @Override
  public Map<Integer, Long> commit(Map<Integer, Long> nextOffsets) {
    store.commit(nextOffsets);
    return nextOffsets;
  }

  @Override
  public Map<Integer, Long> fetchCommitted() {
    return store.get(List.copyOf(starts.keySet()));
  }

  @Override
  public void close() {
    try {
      consumer.close();
    } finally {
      client.close();
    }
  }

  @Override
  public String toString() {
    return "AssignLogConsumer{" + topic + " " + starts.keySet() + "}";
  }
}
