package io.raftmq.chaos;

import io.raftmq.client.Consumer;
import io.raftmq.client.ConsumerConfig;
import io.raftmq.client.ConsumerRecord;
import io.raftmq.client.OffsetReset;
import io.raftmq.client.RaftMqClient;
import io.raftmq.client.RebalanceListener;
import io.raftmq.client.TopicPartition;
import java.time.Duration;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;

/**
 * A consumer in a consumer group: subscribes to the topic, commits synchronously to the broker, and
 * on a crash drops its client without leaving (the group notices by the session timeout). Its session
 * changes with every assignment change (each assigned, revoked or lost callback), and the session's
 * start positions are taken when the partitions arrive, so the checker holds each stint of ownership
 * to consecutive offsets from where the group's committed offset put it.
 */
public final class GroupLogConsumer implements LogConsumer {
  static final String GROUP = "chaos-group";

  private final RaftMqClient client;
  private final Consumer consumer;
  private final String topic;
  private final String process;
  private int stint;
  private String session;
  private final Map<Integer, Long> starts = new HashMap<>();

  GroupLogConsumer(RaftMqClient client, String topic, String process) {
    this.client = client;
    this.topic = topic;
    this.process = process;
    this.session = process + "-s0";
    this.consumer = client.consumer(ConsumerConfig.builder().groupId(GROUP).enableAutoCommit(false)
        .autoOffsetReset(OffsetReset.EARLIEST).sessionTimeout(Duration.ofSeconds(6))
        .maxPollRecords(1000).fetchMaxWait(Duration.ofMillis(200)).build());
    consumer.subscribe(List.of(topic), new RebalanceListener() {
      @Override
      public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
        changed();
      }

      @Override
      public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
        changed();
      }

      @Override
      public void onPartitionsLost(Collection<TopicPartition> partitions) {
        changed();
      }
    });
  }

  /** A new session: its start positions are the owned partitions' positions now. */
  private void changed() {
    stint++;
    session = process + "-g" + consumer.groupGeneration() + "-s" + stint;
    starts.clear();
    for (TopicPartition tp : consumer.assignment()) {
      long position;
      try {
        position = consumer.position(tp);
      } catch (RuntimeException e) {
        position = -1;
      }
      starts.put(tp.partition(), position);
    }
  }

  /** A factory of group consumers, each with its own client from {@code clients}. */
  public static Factory factory(Function<String, RaftMqClient> clients) {
    return new Factory() {
      @Override
      public LogConsumer create(String process, String topic, List<Integer> partitions) {
        return new GroupLogConsumer(clients.apply(process), topic, process);
      }

      @Override
      public String group() {
        return GROUP;
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
    Map<TopicPartition, Long> offsets = new HashMap<>();
    Map<Integer, Long> sent = new HashMap<>();
    Set<TopicPartition> owned = consumer.assignment();
    nextOffsets.forEach((p, o) -> {
      TopicPartition tp = new TopicPartition(topic, p);
      if (owned.contains(tp)) {
        offsets.put(tp, o);
        sent.put(p, o);
      }
    });
    if (!offsets.isEmpty()) {
      consumer.commitSync(offsets);
    }
    return sent;
  }

  @Override
  public Map<Integer, Long> fetchCommitted() {
    Set<TopicPartition> tps = new HashSet<>();
    for (int p : starts.keySet()) {
      tps.add(new TopicPartition(topic, p));
    }
    Map<Integer, Long> out = new HashMap<>();
    if (!tps.isEmpty()) {
      consumer.committed(tps).forEach((tp, o) -> out.put(tp.partition(), o));
    }
    return out;
  }

  /** A crash: the client goes away without leaving the group or committing. */
  @Override
  public void close() {
    client.close();
  }
}
