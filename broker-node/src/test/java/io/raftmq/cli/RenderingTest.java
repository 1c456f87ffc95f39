package io.raftmq.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.raftmq.client.ClusterMetadata;
import io.raftmq.client.NodeAddress;
import io.raftmq.client.PartitionInfo;
import io.raftmq.client.TopicDescription;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class RenderingTest {
  private static final List<NodeAddress> NODES = List.of(
      new NodeAddress(1, "127.0.0.1", 9091, 8081),
      new NodeAddress(2, "127.0.0.1", 9092, 8082),
      new NodeAddress(3, "127.0.0.1", 9093, 8083));

  private static TopicDescription orders(int leaderOfP1) {
    return new TopicDescription("orders", 7, 3, List.of(
        new PartitionInfo(0, 1, List.of(1, 2, 3), 0, 120),
        new PartitionInfo(1, leaderOfP1, List.of(2, 3, 1), 10, 99)), Map.of("retention.ms", "1000"));
  }

  @Test
  void shouldAlignColumnsWithoutTrailingSpaces() {
    String s = new Table("A", "LONG-HEADER", "C").row("xxxxx", 1, "").row("y", 22, "z").render();
    assertThat(s).isEqualTo("""
        A      LONG-HEADER  C
        xxxxx  1
        y      22           z
        """);
  }

  @Test
  void shouldDescribeATopicAsATable() {
    assertThat(TopicCommand.Describe.render(orders(-1))).isEqualTo("""
        TOPIC: orders  ID: 7  PARTITIONS: 2  REPLICATION-FACTOR: 3
        CONFIGS: retention.ms=1000

        PARTITION  LEADER  REPLICAS  LOG-START-OFFSET  HIGH-WATERMARK
        0          1       1,2,3     0                 120
        1          none    2,3,1     10                99
        """);
  }

  @Test
  void shouldReportAHealthyCluster() {
    ClusterMetadata md = new ClusterMetadata(NODES, 2, 1, List.of(orders(2)));
    ClusterCommand.Report r = ClusterCommand.Report.of(md, Map.of(1, true, 2, true, 3, true));
    assertThat(r.healthy()).isTrue();
    assertThat(r.render()).isEqualTo("""
        NODE  ADDRESS         HTTP            STATUS  LEADS
        1     127.0.0.1:9091  127.0.0.1:8081  up      1
        2     127.0.0.1:9092  127.0.0.1:8082  up      1
        3     127.0.0.1:9093  127.0.0.1:8083  up      0

        metadata leader: 2
        topics: 1, partitions: 2, without leader: 0
        healthy: yes
        """);
  }

  @Test
  void shouldCountAPartitionLedByADownNodeAsLeaderless() {
    ClusterMetadata md = new ClusterMetadata(NODES, 1, 1, List.of(orders(3)));
    ClusterCommand.Report r = ClusterCommand.Report.of(md, Map.of(1, true, 2, true, 3, false));
    assertThat(r.healthy()).isFalse();
    assertThat(r.leaderless()).isEqualTo(1);
    assertThat(r.render()).contains("3     127.0.0.1:9093  127.0.0.1:8083  down    1")
        .endsWith("healthy: no (1 node down, 1 partition without a live leader)\n");
  }

  @Test
  void shouldBeUnhealthyWithoutAMetadataLeader() {
    ClusterMetadata md = new ClusterMetadata(NODES, -1, 1, List.of());
    ClusterCommand.Report r = ClusterCommand.Report.of(md, Map.of(1, true, 2, true, 3, true));
    assertThat(r.healthy()).isFalse();
    assertThat(r.render()).contains("metadata leader: none").contains("no live metadata leader");
  }

  @Test
  void shouldSplitBenchMessagesOverProducersWithoutLosingAny() {
    assertThat(BenchCommand.Run.share(10, 3, 0)).isEqualTo(4);
    assertThat(BenchCommand.Run.share(10, 3, 1)).isEqualTo(3);
    assertThat(BenchCommand.Run.share(10, 3, 2)).isEqualTo(3);
    assertThat(BenchCommand.Run.share(2, 4, 3)).isZero();
  }
}
