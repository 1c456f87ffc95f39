package io.raftmq.broker;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.prometheus.metrics.exporter.httpserver.MetricsHandler;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * The node's HTTP side, on its own port and threads, away from the data path: {@code /metrics}
 * (Prometheus text format) and {@code /health} (200 when the node serves, 503 otherwise, with a JSON
 * body naming what it found).
 */
final class HttpEndpoints implements AutoCloseable {
  private final HttpServer server;
  private final ExecutorService executor = Executors.newFixedThreadPool(2, r -> {
    Thread t = new Thread(r, "raftmq-http");
    t.setDaemon(true);
    return t;
  });

  HttpEndpoints(String host, int port, BrokerMetrics metrics, BrokerNode node) throws IOException {
    server = HttpServer.create(new InetSocketAddress(host, port), 64);
    server.createContext("/metrics", new MetricsHandler(metrics.registry));
    server.createContext("/health", exchange -> health(exchange, node));
    server.setExecutor(executor);
    server.start();
  }

  private static void health(HttpExchange exchange, BrokerNode node) throws IOException {
    BrokerNode.Health h = node.health();
    String body = String.format(
        "{\"status\":\"%s\",\"node\":%d,\"metadataLeader\":%d,\"registered\":%b,"
            + "\"partitions\":%d,\"partitionsWithoutLeader\":%d}%n",
        h.healthy() ? "UP" : "DOWN", h.nodeId(), h.metadataLeader(), h.registered(), h.partitions(),
        h.partitionsWithoutLeader());
    byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
    exchange.getResponseHeaders().set("Content-Type", "application/json");
    exchange.sendResponseHeaders(h.healthy() ? 200 : 503, bytes.length);
    try (OutputStream out = exchange.getResponseBody()) {
      out.write(bytes);
    }
  }

  int port() {
    return server.getAddress().getPort();
  }

  @Override
  public void close() {
    server.stop(0);
    executor.shutdownNow();
  }
}
