package io.raftmq.chaos;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The network harness: what it creates, the rules it installs and that it leaves nothing behind. */
class ChaosNetworkIT {
  @BeforeEach
  void requireNamespaces() {
    String reason = ChaosNetwork.unavailableReason();
    assumeTrue(reason == null, "skipped: " + reason);
  }

  private static String sh(String... cmd) throws Exception {
    return ChaosNetwork.run(List.of(cmd)).output();
  }

  @Test
  void shouldCreateNamespacesJoinedByABridgeAndRemoveThemAll() throws Exception {
    String ns;
    String prefix;
    try (ChaosNetwork net = ChaosNetwork.create(3)) {
      ns = net.namespace(1);
      prefix = ns.substring(0, ns.length() - 2);
      assertThat(sh("ip", "netns", "list")).contains(net.namespace(1), net.namespace(2), net.namespace(3));
      assertThat(prefix.length() + 2).as("interface names fit in 15 characters").isLessThanOrEqualTo(15);
      assertThat(sh("ip", "-n", ns, "-o", "-4", "addr", "show")).contains(net.address(1) + "/24");
      assertThat(sh("ip", "-o", "-4", "addr", "show")).contains(net.hostAddress() + "/24");
      // The root namespace reaches the node through the bridge (a route via the bridge exists).
      assertThat(sh("ip", "route", "get", net.address(2))).contains(prefix + "br");
    }
    assertThat(sh("ip", "netns", "list")).doesNotContain(prefix);
    assertThat(sh("ip", "-o", "link", "show")).doesNotContain(prefix);
  }

  @Test
  void shouldCutAndHealLinksInsideTheNodesNamespacesOnly() throws Exception {
    String hostRulesBefore = sh("nft", "list", "ruleset");
    try (ChaosNetwork net = ChaosNetwork.create(3)) {
      net.dropFrom(2, Set.of(1, 3));
      String inside = ChaosNetwork.run(List.of("ip", "netns", "exec", net.namespace(2), "nft", "list", "ruleset"))
          .output();
      assertThat(inside).contains("ip saddr " + net.address(1) + " drop", "ip saddr " + net.address(3) + " drop")
          .doesNotContain(net.hostAddress());
      assertThat(sh("nft", "list", "ruleset")).as("the host's rules are untouched").isEqualTo(hostRulesBefore);
      net.heal(2);
      assertThat(ChaosNetwork.run(List.of("ip", "netns", "exec", net.namespace(2), "nft", "list", "ruleset"))
          .output()).doesNotContain("drop");
    }
  }

  @Test
  void shouldSweepWhatADeadRunLeftBehind() throws Exception {
    // pid "zzzzz" (60466175) is above any pid_max, so its owner is certainly dead.
    String stale = "rqc-zzzzz-0-";
    ChaosNetwork.sh("ip", "netns", "add", stale + "n1");
    ChaosNetwork.sh("ip", "link", "add", stale + "br", "type", "bridge");
    try {
      ChaosNetwork.sweepStale();
      assertThat(sh("ip", "netns", "list")).doesNotContain(stale);
      assertThat(sh("ip", "-o", "link", "show")).doesNotContain(stale);
    } finally {
      ChaosNetwork.quiet("ip", "netns", "del", stale + "n1");
      ChaosNetwork.quiet("ip", "link", "del", stale + "br");
    }
  }
}
