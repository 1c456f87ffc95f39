package io.raftmq.broker;

import static org.assertj.core.api.Assertions.assertThat;

import io.raftmq.cli.demo.DemoReport;
import io.raftmq.cli.demo.NodeControl;
import io.raftmq.cli.demo.OrderBusDemo;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The order-event bus demo ({@code bin/raftmq demo orders}, {@code scripts/demo.sh}) on a real
 * three-node cluster in this JVM, smaller and faster than the script's run: 400 orders over 8 s, five
 * consumer groups, four poison orders, node 2 stopped a third of the way in and started again two
 * thirds in. Every check of the demo's summary must pass.
 */
class DemoIT {
  @TempDir
  static Path dir;

  @Test
  @Timeout(value = 150, unit = TimeUnit.SECONDS)
  void orderEventBusPassesEveryCheckThroughANodeRestart() throws Exception {
    try (TestCluster cluster = new TestCluster(dir).start()) {
      NodeControl nodes = new NodeControl() {
        @Override
        public String kill(int nodeId) {
          cluster.stop(nodeId);
          return "node " + nodeId + " stopped";
        }

        @Override
        public String restart(int nodeId) {
          cluster.start(nodeId);
          return "node " + nodeId + " started";
        }
      };
      OrderBusDemo.Settings settings = OrderBusDemo.Settings.defaults(cluster.bootstrap())
          .withOrders(400)
          .withDuration(Duration.ofSeconds(8))
          .withKill(2, nodes)
          .withDrainTimeout(Duration.ofSeconds(60));
      PrintWriter out = new PrintWriter(System.out, true);

      DemoReport report = new OrderBusDemo(settings, out).run();

      out.println(report.render());
      out.print(report.renderChecks());
      out.flush();
      assertThat(report.failures()).as(report.renderChecks()).isEmpty();
      assertThat(report.checks()).extracting(DemoReport.Check::name).contains(
          "order service: every order acknowledged",
          "node 2 killed midway and restarted",
          "cluster healthy at the end",
          "inventory: each customer's orders in order",
          "recommendations: lag back to 0",
          "loyalty-points: poison orders in orders.dlq.loyalty-points with their reasons",
          "warehouse: queue depth back to 0",
          "fraud-audit: each customer's orders in order",
          "fraud-audit: poison orders in orders.dlq.fraud-audit with their reasons");
    }
  }
}
