package io.raftmq.chaos;

import io.raftmq.chaos.Op.Type;
import io.raftmq.client.RaftMqClient;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;

/**
 * Plays a {@link Schedule} against a cluster and workload: each event fires at its time, resolves its
 * target (the leader of a partition is asked of the cluster then), injects the fault, and heals it
 * after its duration. Overlapping faults compose: a node stays down (or paused) until every kill (or
 * pause) of it healed, and the network carries the union of the active cuts. Every fault and heal is
 * recorded in the history as process {@code nemesis}.
 */
final class Nemesis {
  private final ChaosCluster cluster;
  private final LogWorkload workload;
  private final History history;
  private final RaftMqClient client;
  private final String topic;
  private final SplittableRandom random;
  private final int n;
  private final int[] down;
  private final int[] paused;
  private final List<boolean[][]> cuts = new ArrayList<>();
  private final Map<String, Integer> injected = new TreeMap<>();

  Nemesis(ChaosCluster cluster, LogWorkload workload, History history, RaftMqClient client, String topic, long seed) {
    this.cluster = cluster;
    this.workload = workload;
    this.history = history;
    this.client = client;
    this.topic = topic;
    this.random = new SplittableRandom(seed ^ 0x5DEECE66DL);
    this.n = cluster.size();
    this.down = new int[n + 1];
    this.paused = new int[n + 1];
  }

  /** Faults injected so far, by kind. */
  synchronized Map<String, Integer> injected() {
    return new TreeMap<>(injected);
  }

  /** Fires every event of {@code schedule} at its time from {@code startNanos}; returns when all healed. */
  void play(Schedule schedule, long startNanos) throws InterruptedException {
    List<Thread> threads = new ArrayList<>();
    for (Schedule.Event e : schedule.events()) {
      Thread t = new Thread(() -> {
        try {
          sleepUntil(startNanos + TimeUnit.MILLISECONDS.toNanos(e.atMs()));
          Runnable heal = inject(e);
          if (heal != null) {
            Thread.sleep(e.durationMs());
            heal.run();
          }
        } catch (InterruptedException ie) {
          Thread.currentThread().interrupt();
        } catch (Exception ex) {
          history.add(Op.of("nemesis", Type.INFO, e.fault().id()).withError("nemesis failed: " + ex));
        }
      }, "nemesis-" + e.fault().id() + "@" + e.atMs());
      t.setDaemon(true);
      t.start();
      threads.add(t);
    }
    for (Thread t : threads) {
      t.join();
    }
  }

  private static void sleepUntil(long deadlineNanos) throws InterruptedException {
    long left = deadlineNanos - System.nanoTime();
    if (left > 0) {
      TimeUnit.NANOSECONDS.sleep(left);
    }
  }

  /** Injects {@code e}; returns how to heal it, or null for faults that need none (or were skipped). */
  private Runnable inject(Schedule.Event e) throws IOException {
    Op inv = history.add(Op.of("nemesis", Type.INVOKE, e.fault().id()).withValue(e.target()));
    switch (e.fault()) {
      case KILL -> {
        int node = resolve(e.target());
        kill(node);
        done(inv, e, "killed n" + node);
        return () -> restart(node);
      }
      case KILL_ALL -> {
        for (int i = 1; i <= n; i++) {
          kill(i);
        }
        done(inv, e, "killed all");
        return () -> {
          for (int i = 1; i <= n; i++) {
            restart(i);
          }
        };
      }
      case PAUSE -> {
        int node = resolve(e.target());
        synchronized (this) {
          if (!cluster.isRunning(node)) {
            history.add(inv.complete(Type.FAIL).withValue("n" + node + " is not running"));
            return null;
          }
          paused[node]++;
          cluster.pause(node);
        }
        done(inv, e, "paused n" + node);
        return () -> resume(node);
      }
      case ISOLATE -> {
        int node = resolve(e.target());
        boolean[][] cut = new boolean[n + 1][n + 1];
        for (int other = 1; other <= n; other++) {
          if (other != node) {
            cut[node][other] = true;
            cut[other][node] = true;
          }
        }
        addCut(cut);
        done(inv, e, "isolated n" + node);
        return () -> removeCut(cut, "isolate n" + node);
      }
      case BRIDGE -> {
        int node = resolve(e.target());
        boolean[][] cut = new boolean[n + 1][n + 1];
        for (int a = 1; a <= n; a++) {
          for (int b = 1; b <= n; b++) {
            if (a != b && a != node && b != node) {
              cut[a][b] = true;
            }
          }
        }
        addCut(cut);
        done(inv, e, "bridge through n" + node);
        return () -> removeCut(cut, "bridge through n" + node);
      }
      case ONE_WAY -> {
        String[] ab = e.target().split(">");
        int a = resolve(ab[0]);
        int b = ab.length > 1 ? resolve(ab[1]) : a;
        if (b == a) {
          b = a % n + 1;
        }
        boolean[][] cut = new boolean[n + 1][n + 1];
        cut[a][b] = true;
        addCut(cut);
        done(inv, e, "dropping n" + a + " -> n" + b);
        int bb = b;
        return () -> removeCut(cut, "one-way n" + a + " -> n" + bb);
      }
      case PRODUCER_CRASH -> {
        workload.crashProducer(Integer.parseInt(e.target()));
        done(inv, e, "producer " + e.target() + " crashed");
        return null;
      }
      case CONSUMER_CRASH -> {
        workload.crashConsumer(Integer.parseInt(e.target()));
        done(inv, e, "consumer " + e.target() + " crashed");
        return null;
      }
      default -> throw new IllegalStateException("unknown fault " + e.fault());
    }
  }

  private synchronized void done(Op inv, Schedule.Event e, String what) {
    injected.merge(e.fault().id(), 1, Integer::sum);
    history.add(inv.complete(Type.OK).withValue(what));
  }

  private void kill(int node) {
    synchronized (this) {
      down[node]++;
      paused[node] = 0;
      cluster.kill(node);
    }
  }

  private void restart(int node) {
    Op inv = history.add(Op.of("nemesis", Type.INVOKE, "heal").withValue("restart n" + node));
    synchronized (this) {
      if (--down[node] > 0 || cluster.isRunning(node)) {
        history.add(inv.complete(Type.OK).withValue("n" + node + " stays down (another kill)"));
        return;
      }
      try {
        cluster.startNode(node);
        history.add(inv.complete(Type.OK));
      } catch (IOException e) {
        history.add(inv.complete(Type.INFO).withError(String.valueOf(e)));
      }
    }
  }

  private void resume(int node) {
    Op inv = history.add(Op.of("nemesis", Type.INVOKE, "heal").withValue("resume n" + node));
    synchronized (this) {
      if (paused[node] > 0 && --paused[node] > 0) {
        history.add(inv.complete(Type.OK).withValue("n" + node + " stays paused (another pause)"));
        return;
      }
      try {
        cluster.resume(node);
        history.add(inv.complete(Type.OK));
      } catch (IOException e) {
        history.add(inv.complete(Type.INFO).withError(String.valueOf(e)));
      }
    }
  }

  private synchronized void addCut(boolean[][] cut) throws IOException {
    cuts.add(cut);
    applyCuts();
  }

  private void removeCut(boolean[][] cut, String what) {
    Op inv = history.add(Op.of("nemesis", Type.INVOKE, "heal").withValue(what));
    synchronized (this) {
      cuts.remove(cut);
      try {
        applyCuts();
        history.add(inv.complete(Type.OK));
      } catch (IOException e) {
        history.add(inv.complete(Type.INFO).withError(String.valueOf(e)));
      }
    }
  }

  private void applyCuts() throws IOException {
    boolean[][] union = new boolean[n + 1][n + 1];
    for (boolean[][] c : cuts) {
      for (int a = 1; a <= n; a++) {
        for (int b = 1; b <= n; b++) {
          union[a][b] |= c[a][b];
        }
      }
    }
    cluster.network().apply(union);
  }

  /** Heals everything still active: network rules, pauses, dead nodes. */
  synchronized void healAll() throws IOException {
    history.add(Op.of("nemesis", Type.INVOKE, "heal-all"));
    cuts.clear();
    cluster.network().healAll();
    for (int i = 1; i <= n; i++) {
      paused[i] = 0;
      cluster.resume(i);
      down[i] = 0;
      if (!cluster.isRunning(i)) {
        cluster.startNode(i);
      }
    }
    history.add(Op.of("nemesis", Type.OK, "heal-all"));
  }

  /** Resolves a node selector: n1..nN, leader:P, follower:P, random. */
  int resolve(String target) {
    String t = target.trim();
    if (t.startsWith("n")) {
      return Integer.parseInt(t.substring(1));
    }
    if (t.startsWith("leader:")) {
      int leader = ChaosCluster.leaderOf(client, topic, Integer.parseInt(t.substring(7)));
      return leader > 0 ? leader : randomNode();
    }
    if (t.startsWith("follower:")) {
      int p = Integer.parseInt(t.substring(9));
      int leader = ChaosCluster.leaderOf(client, topic, p);
      List<Integer> followers = new ArrayList<>();
      for (int i = 1; i <= n; i++) {
        if (i != leader) {
          followers.add(i);
        }
      }
      synchronized (this) {
        return followers.get(random.nextInt(followers.size()));
      }
    }
    return randomNode();
  }

  private synchronized int randomNode() {
    return 1 + random.nextInt(n);
  }
}
