package io.raftmq.metadata;

import io.raftmq.raft.proto.CreateTopic;
import io.raftmq.raft.proto.GroupRecord;
import io.raftmq.raft.proto.MetadataCommand;
import io.raftmq.raft.proto.MetadataReply;
import io.raftmq.raft.proto.MetadataSnapshot;
import io.raftmq.raft.proto.MetadataStatus;
import io.raftmq.raft.proto.NodeRecord;
import io.raftmq.raft.proto.PartitionAssignment;
import io.raftmq.raft.proto.RegisterNode;
import io.raftmq.raft.proto.TopicRecord;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The cluster's metadata as a deterministic state machine: nodes and their client addresses, topics
 * with their placement, deleted topics (so that every node removes their groups), and producer-id
 * allocation.
 *
 * <p>The apply thread writes; readers get an immutable {@link MetadataView} published through a
 * volatile field, so metadata requests never lock.
 */
public final class MetadataCore {
  private final Map<Integer, NodeRecord> nodes = new TreeMap<>();
  private final Map<String, TopicRecord> topics = new TreeMap<>();
  private final List<TopicRecord> deleted = new ArrayList<>();
  private long nextProducerId = 1;
  private long nextTopicId = 1;
  private long logTimeMs;
  private final ConsumerGroups groups = new ConsumerGroups();
  private volatile MetadataView view = MetadataView.EMPTY;

  /** Applies one committed command. Never throws for a bad request: the reply says what was wrong. */
  public MetadataReply apply(MetadataCommand command) {
    logTimeMs = Math.max(logTimeMs, command.getLeaderTimeMs());
    MetadataReply reply;
    switch (command.getCommandCase()) {
      case REGISTER_NODE:
        reply = registerNode(command.getRegisterNode());
        break;
      case CREATE_TOPIC:
        reply = createTopic(command.getCreateTopic());
        break;
      case DELETE_TOPIC:
        reply = deleteTopic(command.getDeleteTopic().getName());
        break;
      case ALLOCATE_PRODUCER_ID:
        reply = MetadataReply.newBuilder().setStatus(MetadataStatus.OK).setProducerId(nextProducerId++).build();
        break;
      case JOIN_GROUP:
        reply = groups.join(command.getJoinGroup(), logTimeMs, partitionCounts());
        break;
      case LEAVE_GROUP:
        reply = groups.leave(command.getLeaveGroup(), logTimeMs, partitionCounts());
        break;
      case UPDATE_MEMBER_ASSIGNMENT:
        reply = groups.update(command.getUpdateMemberAssignment(), logTimeMs);
        break;
      case DELETE_GROUP:
        reply = groups.delete(command.getDeleteGroup());
        break;
      case READ_BARRIER:
        return MetadataReply.newBuilder().setStatus(MetadataStatus.OK).build();
      case COMMAND_NOT_SET:
      default:
        reply = error(MetadataStatus.INVALID, "unknown command " + command.getCommandCase());
    }
    publish();
    return reply;
  }

  private MetadataReply registerNode(RegisterNode r) {
    nodes.put(r.getNodeId(), NodeRecord.newBuilder()
        .setNodeId(r.getNodeId())
        .setHost(r.getHost())
        .setClientPort(r.getClientPort())
        .setHttpPort(r.getHttpPort())
        .build());
    return MetadataReply.newBuilder().setStatus(MetadataStatus.OK).build();
  }

  private MetadataReply createTopic(CreateTopic c) {
    if (topics.containsKey(c.getName())) {
      return error(MetadataStatus.TOPIC_EXISTS, "topic '" + c.getName() + "' already exists");
    }
    String invalid = TopicRules.validate(c);
    if (invalid != null) {
      return error(MetadataStatus.INVALID, invalid);
    }
    long topicId = nextTopicId++;
    topics.put(c.getName(), TopicRecord.newBuilder()
        .setName(c.getName())
        .setTopicId(topicId)
        .setPartitions(c.getPartitions())
        .setReplicationFactor(c.getReplicationFactor())
        .putAllConfigs(c.getConfigsMap())
        .addAllAssignments(c.getAssignmentsList())
        .setCreatedAtMs(logTimeMs)
        .build());
    groups.onTopicsChanged(java.util.Set.of(c.getName()), logTimeMs, partitionCounts());
    return MetadataReply.newBuilder().setStatus(MetadataStatus.OK).setTopicId(topicId).build();
  }

  private MetadataReply deleteTopic(String name) {
    TopicRecord t = topics.remove(name);
    if (t == null) {
      return error(MetadataStatus.TOPIC_NOT_FOUND, "topic '" + name + "' does not exist");
    }
    deleted.add(t);
    groups.onTopicsChanged(java.util.Set.of(name), logTimeMs, partitionCounts());
    return MetadataReply.newBuilder().setStatus(MetadataStatus.OK).setTopicId(t.getTopicId()).build();
  }

  private Map<String, Integer> partitionCounts() {
    Map<String, Integer> counts = new TreeMap<>();
    topics.forEach((name, t) -> counts.put(name, t.getPartitions()));
    return counts;
  }

  /** "Empty" (no members), "Stable" (every member consumes its target) or "Reconciling". */
  public static String groupState(GroupRecord g) {
    return ConsumerGroups.state(g);
  }

  private static MetadataReply error(MetadataStatus status, String message) {
    return MetadataReply.newBuilder().setStatus(status).setMessage(message).build();
  }

  private void publish() {
    view = new MetadataView(Collections.unmodifiableMap(new TreeMap<>(nodes)),
        Collections.unmodifiableMap(new TreeMap<>(topics)), List.copyOf(deleted),
        Collections.unmodifiableMap(new TreeMap<>(groups.groups())));
  }

  /** The current metadata; immutable, safe from any thread. */
  public MetadataView view() {
    return view;
  }

  public MetadataSnapshot snapshot(long appliedIndex) {
    return MetadataSnapshot.newBuilder()
        .setLogTimeMs(logTimeMs)
        .addAllNodes(nodes.values())
        .addAllTopics(topics.values())
        .setNextProducerId(nextProducerId)
        .setNextTopicId(nextTopicId)
        .addAllDeletedTopics(deleted)
        .setAppliedIndex(appliedIndex)
        .addAllGroups(groups.groups().values())
        .putAllDeletedGroupGenerations(groups.deletedGenerations())
        .build();
  }

  public void load(MetadataSnapshot s) {
    nodes.clear();
    topics.clear();
    deleted.clear();
    s.getNodesList().forEach(n -> nodes.put(n.getNodeId(), n));
    s.getTopicsList().forEach(t -> topics.put(t.getName(), t));
    deleted.addAll(s.getDeletedTopicsList());
    nextProducerId = s.getNextProducerId();
    nextTopicId = s.getNextTopicId();
    logTimeMs = s.getLogTimeMs();
    groups.load(s.getGroupsList(), s.getDeletedGroupGenerationsMap());
    publish();
  }

  /** An immutable view of the metadata. */
  public record MetadataView(Map<Integer, NodeRecord> nodes, Map<String, TopicRecord> topics,
      List<TopicRecord> deletedTopics, Map<String, GroupRecord> groups) {
    static final MetadataView EMPTY = new MetadataView(Map.of(), Map.of(), List.of(), Map.of());

    public GroupRecord group(String name) {
      return groups.get(name);
    }

    public TopicRecord topic(String name) {
      return topics.get(name);
    }

    public List<Integer> replicas(TopicRecord topic, int partition) {
      PartitionAssignment a = topic.getAssignments(partition);
      return a.getReplicasList();
    }
  }
}
