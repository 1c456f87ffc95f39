package io.raftmq.client.internal;

import io.raftmq.protocol.ApiKey;
import io.raftmq.protocol.ErrorCode;
import io.raftmq.protocol.MetadataResponse;
import io.raftmq.protocol.NodeInfo;
import io.raftmq.protocol.PartitionMetadata;
import io.raftmq.protocol.Response;
import io.raftmq.protocol.TopicMetadata;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Collectors;

/**
 * A fake broker node answering by API key. METADATA is answered from {@link #topics} (partition count
 * and leader node id per topic) and {@link #nodes}; other keys go to registered handlers.
 */
public final class FakeNode implements AutoCloseable {
  public final int nodeId;
  public final FakeBroker broker;
  /** topic -> leader node id per partition. */
  public final Map<String, int[]> topics = new ConcurrentHashMap<>();
  /** every node of the fake cluster (including this). */
  public final List<FakeNode> nodes = new java.util.concurrent.CopyOnWriteArrayList<>();
  public volatile int metadataLeader = -1;
  private final Map<ApiKey, FakeBroker.Handler> handlers = new ConcurrentHashMap<>();

  public FakeNode(int nodeId) throws InterruptedException {
    this.nodeId = nodeId;
    this.broker = new FakeBroker(this::dispatch);
    nodes.add(this);
  }

  /** The handler registered for {@code key} (null if none). */
  public FakeBroker.Handler handler(ApiKey key) {
    return handlers.get(key);
  }

  public FakeNode on(ApiKey key, FakeBroker.Handler h) {
    handlers.put(key, h);
    return this;
  }

  public List<FakeBroker.Exchange> received(ApiKey key) {
    return broker.received().stream().filter(e -> e.request.getApiKey() == key).collect(Collectors.toList());
  }

  public String bootstrap() {
    return broker.address().toString();
  }

  private FakeBroker.Reply dispatch(FakeBroker.Exchange ex) {
    FakeBroker.Handler h = handlers.get(ex.request.getApiKey());
    if (h != null) {
      return h.handle(ex);
    }
    if (ex.request.getApiKey() == ApiKey.METADATA) {
      return FakeBroker.Reply.of(Response.newBuilder().setMetadata(metadata()));
    }
    return FakeBroker.Reply.of(Response.newBuilder().setError(ErrorCode.UNSUPPORTED_VERSION));
  }

  public MetadataResponse.Builder metadata() {
    MetadataResponse.Builder m = MetadataResponse.newBuilder().setAnsweringNode(nodeId).setMetadataLeader(metadataLeader);
    for (FakeNode n : nodes) {
      m.addNodes(NodeInfo.newBuilder().setNodeId(n.nodeId).setHost("127.0.0.1").setPort(n.broker.port()));
    }
    topics.forEach((name, leaders) -> {
      TopicMetadata.Builder t = TopicMetadata.newBuilder().setName(name).setReplicationFactor(1).setTopicId(1);
      for (int p = 0; p < leaders.length; p++) {
        t.addPartitions(PartitionMetadata.newBuilder().setPartition(p).setLeader(leaders[p]).addReplicas(leaders[p]));
      }
      m.addTopics(t);
    });
    return m;
  }

  @Override
  public void close() {
    broker.close();
  }
}
