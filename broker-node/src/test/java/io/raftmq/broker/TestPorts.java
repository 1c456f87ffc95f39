package io.raftmq.broker;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Ports for test clusters, taken from below Linux's ephemeral range (32768-60999). A port that
 * {@code new ServerSocket(0)} hands out comes from that range and, once closed, can be taken by any
 * outgoing connection (Ratis' gRPC clients make many) before the node binds it. Each JVM starts at a
 * random point of 20000-31999 and moves on, checking each port by binding it.
 */
public final class TestPorts {
  private static final int LOW = 20_000;
  private static final int HIGH = 32_000;
  private static final AtomicInteger NEXT =
      new AtomicInteger(LOW + ThreadLocalRandom.current().nextInt(HIGH - LOW));

  private TestPorts() {}

  /** A port free on 127.0.0.1 right now, not handed out before by this JVM. */
  public static int next() {
    for (int attempt = 0; attempt < HIGH - LOW; attempt++) {
      int port = LOW + Math.floorMod(NEXT.getAndIncrement() - LOW, HIGH - LOW);
      try (ServerSocket s = new ServerSocket()) {
        s.setReuseAddress(true);
        s.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port));
        return port;
      } catch (IOException busy) {
        // taken: try the next one
      }
    }
    throw new IllegalStateException("no free port in " + LOW + ".." + HIGH);
  }
}
