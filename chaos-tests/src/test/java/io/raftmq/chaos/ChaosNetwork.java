package io.raftmq.chaos;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Three network namespaces joined by a bridge in the root namespace, and the nftables rules that cut
 * links between them. Every name this creates is {@code rqc-<pid>-<run>-<role>} (pid and run in base
 * 36, at most 14 characters), so runs never collide, and {@link #sweepStale()} removes what a dead JVM
 * left behind. The bridge carries {@code 10.213.K.254/24} (K chosen per run, unused on this host); node
 * i is {@code 10.213.K.i}. Rules live only inside the nodes' namespaces, in a table {@code inet chaos}
 * this class owns; the host's own rules and interfaces are never touched. The test JVM (root namespace)
 * reaches every node through the bridge, and no rule ever drops its traffic.
 */
public final class ChaosNetwork implements AutoCloseable {
  static final String PREFIX = "rqc-";
  private static final Pattern NAME = Pattern.compile("rqc-([0-9a-z]+)-[0-9a-z]-[a-z0-9]+");
  private static final AtomicInteger RUNS = new AtomicInteger();

  private final String base;
  private final int subnet;
  private final int nodes;
  private boolean closed;

  private ChaosNetwork(String base, int subnet, int nodes) {
    this.base = base;
    this.subnet = subnet;
    this.nodes = nodes;
  }

  /**
   * Why chaos runs cannot run here, or null if they can: root, {@code ip netns} and {@code nft} are
   * needed (nothing is installed at run time).
   */
  public static String unavailableReason() {
    if (!"root".equals(System.getProperty("user.name"))) {
      return "chaos tests need root (network namespaces, nftables); running as " + System.getProperty("user.name");
    }
    try {
      Result ip = run(List.of("ip", "netns", "list"));
      if (ip.code != 0) {
        return "'ip netns list' failed: " + ip.output;
      }
      Result nft = run(List.of("nft", "--version"));
      if (nft.code != 0) {
        return "'nft --version' failed: " + nft.output;
      }
    } catch (IOException e) {
      return "ip/nft missing (install iproute2 and nftables): " + e.getMessage();
    }
    return null;
  }

  /** Creates the bridge, {@code nodes} namespaces and their links. Cleans up if any step fails. */
  public static ChaosNetwork create(int nodes) throws IOException {
    sweepStale();
    long pid = ProcessHandle.current().pid();
    int run = RUNS.getAndIncrement() % 36;
    String base = PREFIX + Long.toString(pid, 36) + "-" + Integer.toString(run, 36) + "-";
    int subnet = pickSubnet(pid, run);
    ChaosNetwork net = new ChaosNetwork(base, subnet, nodes);
    try {
      net.build();
    } catch (IOException | RuntimeException e) {
      net.close();
      throw e;
    }
    return net;
  }

  private static int pickSubnet(long pid, int run) throws IOException {
    String addrs = run(List.of("ip", "-o", "-4", "addr", "show")).output;
    int start = (int) Math.floorMod(pid * 31 + run * 7, 250) + 1;
    for (int i = 0; i < 250; i++) {
      int k = (start + i - 1) % 250 + 1;
      if (!addrs.contains(" 10.213." + k + ".")) {
        return k;
      }
    }
    throw new IOException("no free 10.213.K.0/24 subnet");
  }

  private void build() throws IOException {
    sh("ip", "link", "add", bridge(), "type", "bridge");
    sh("ip", "addr", "add", "10.213." + subnet + ".254/24", "dev", bridge());
    sh("ip", "link", "set", bridge(), "up");
    for (int i = 1; i <= nodes; i++) {
      sh("ip", "netns", "add", namespace(i));
      sh("ip", "link", "add", base + "h" + i, "type", "veth", "peer", "name", base + "p" + i);
      sh("ip", "link", "set", base + "p" + i, "netns", namespace(i));
      sh("ip", "link", "set", base + "h" + i, "master", bridge());
      sh("ip", "link", "set", base + "h" + i, "up");
      sh("ip", "-n", namespace(i), "addr", "add", address(i) + "/24", "dev", base + "p" + i);
      sh("ip", "-n", namespace(i), "link", "set", base + "p" + i, "up");
      sh("ip", "-n", namespace(i), "link", "set", "lo", "up");
      heal(i);
    }
  }

  /** The namespace of node {@code i} (1-based). */
  public String namespace(int i) {
    return base + "n" + i;
  }

  /** The address of node {@code i} inside its namespace. */
  public String address(int i) {
    return "10.213." + subnet + "." + i;
  }

  /** The test JVM's address on the bridge. */
  public String hostAddress() {
    return "10.213." + subnet + ".254";
  }

  private String bridge() {
    return base + "br";
  }

  /** The command prefix that runs a program inside node {@code i}'s namespace. */
  public List<String> execIn(int i) {
    return List.of("ip", "netns", "exec", namespace(i));
  }

  /**
   * Drops, in node {@code to}'s namespace, every packet arriving from each node in {@code from}; the
   * test JVM's traffic is never dropped. Replaces the node's earlier rules atomically.
   */
  public void dropFrom(int to, Set<Integer> from) throws IOException {
    StringBuilder rules = new StringBuilder();
    rules.append("table inet chaos {}\n");
    rules.append("delete table inet chaos\n");
    rules.append("table inet chaos {\n  chain input {\n    type filter hook input priority 0; policy accept;\n");
    for (int f : from) {
      rules.append("    ip saddr ").append(address(f)).append(" drop\n");
    }
    rules.append("  }\n}\n");
    List<String> cmd = new ArrayList<>(execIn(to));
    cmd.addAll(List.of("nft", "-f", "-"));
    Result r = run(cmd, rules.toString());
    if (r.code != 0) {
      throw new IOException("nft in " + namespace(to) + " failed: " + r.output + "\n" + rules);
    }
  }

  /** Removes every rule from node {@code i}'s namespace. */
  public void heal(int i) throws IOException {
    dropFrom(i, Set.of());
  }

  /** Removes every rule from every namespace. */
  public void healAll() throws IOException {
    for (int i = 1; i <= nodes; i++) {
      heal(i);
    }
  }

  /**
   * Applies a set of cut directed links: {@code cut[a][b]} drops a's packets to b. Every node's rules
   * are replaced, so links not listed are healed.
   */
  public void apply(boolean[][] cut) throws IOException {
    for (int to = 1; to <= nodes; to++) {
      Set<Integer> from = new HashSet<>();
      for (int f = 1; f <= nodes; f++) {
        if (f != to && cut[f][to]) {
          from.add(f);
        }
      }
      dropFrom(to, from);
    }
  }

  /** Deletes the namespaces, veths and bridge of this run (the node processes must be gone). */
  @Override
  public synchronized void close() {
    if (closed) {
      return;
    }
    closed = true;
    for (int i = 1; i <= nodes; i++) {
      quiet("ip", "netns", "del", namespace(i));
      quiet("ip", "link", "del", base + "h" + i);
    }
    quiet("ip", "link", "del", bridge());
  }

  /**
   * Removes namespaces and links named by this class whose owning JVM is no longer alive (processes
   * still inside such a namespace were started by that JVM's harness and are killed first).
   */
  public static void sweepStale() {
    try {
      for (String line : run(List.of("ip", "netns", "list")).output.split("\n")) {
        String name = line.trim().split("\\s+")[0];
        if (isStale(name)) {
          for (String pid : run(List.of("ip", "netns", "pids", name)).output.split("\\s+")) {
            if (!pid.isBlank()) {
              quiet("kill", "-9", pid.trim());
            }
          }
          quiet("ip", "netns", "del", name);
        }
      }
      for (String line : run(List.of("ip", "-o", "link", "show")).output.split("\n")) {
        String[] parts = line.split(":\\s+");
        if (parts.length > 1) {
          String name = parts[1].split("@")[0].trim();
          if (isStale(name)) {
            quiet("ip", "link", "del", name);
          }
        }
      }
    } catch (IOException e) {
      // nothing to sweep if ip is missing; create() reports that
    }
  }

  private static boolean isStale(String name) {
    Matcher m = NAME.matcher(name);
    if (!m.matches()) {
      return false;
    }
    long pid = Long.parseLong(m.group(1), 36);
    return ProcessHandle.of(pid).map(p -> !p.isAlive()).orElse(true);
  }

  record Result(int code, String output) {}

  static Result run(List<String> cmd) throws IOException {
    return run(cmd, null);
  }

  static Result run(List<String> cmd, String stdin) throws IOException {
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    if (stdin != null) {
      p.getOutputStream().write(stdin.getBytes(StandardCharsets.UTF_8));
    }
    p.getOutputStream().close();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    try {
      if (!p.waitFor(30, TimeUnit.SECONDS)) {
        p.destroyForcibly();
        throw new IOException("timed out: " + cmd);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted: " + cmd, e);
    }
    return new Result(p.exitValue(), out.trim());
  }

  static void sh(String... cmd) throws IOException {
    Result r = run(List.of(cmd));
    if (r.code != 0) {
      throw new IOException(String.join(" ", cmd) + " failed (" + r.code + "): " + r.output);
    }
  }

  static void quiet(String... cmd) {
    try {
      run(List.of(cmd));
    } catch (IOException e) {
      // best effort
    }
  }

  @Override
  public String toString() {
    return String.format(Locale.ROOT, "%s* 10.213.%d.0/24", base, subnet);
  }
}
