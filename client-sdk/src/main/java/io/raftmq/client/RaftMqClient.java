package io.raftmq.client;

import io.raftmq.client.internal.AdminImpl;
import io.raftmq.client.internal.ClientRuntime;
import io.raftmq.client.internal.ConsumerImpl;
import io.raftmq.client.internal.HostPort;
import io.raftmq.client.internal.MetadataCache;
import io.raftmq.client.internal.ProducerImpl;
import io.raftmq.client.internal.QueueConsumerImpl;
import io.raftmq.protocol.ErrorCode;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The entry point of the SDK: a connection to a RaftMQ cluster, from which producers, consumers and an
 * admin are made. It owns the network threads, one TCP connection per broker node (opened lazily,
 * reopened with back-off after a failure), the cluster metadata cache and the callback thread on
 * which every future of the SDK completes. Thread-safe; one client per application is usually enough.
 * Closing it closes everything made from it.
 *
 * <pre>{@code
 * try (RaftMqClient client = RaftMqClient.connect("127.0.0.1:7070,127.0.0.1:7071");
 *      Producer producer = client.producer()) {
 *   producer.send(Message.of("orders", "order-42", "{...}")).join();
 * }
 * }</pre>
 */
public final class RaftMqClient implements AutoCloseable {
  private final ClientRuntime rt;
  private final Admin admin;
  private final java.util.Set<AutoCloseable> children = java.util.concurrent.ConcurrentHashMap.newKeySet();

  private RaftMqClient(ClientConfig config) {
    List<HostPort> bootstrap = HostPort.parseList(config.bootstrap());
    this.rt = new ClientRuntime(config, bootstrap);
    this.admin = new AdminImpl(rt);
  }

  /**
   * A client for the cluster at {@code bootstrap} ({@code "host:port,host:port"}) with default settings.
   * Does not connect yet.
   *
   * @throws RaftMqException {@code INVALID_REQUEST} if the address list is malformed
   */
  public static RaftMqClient connect(String bootstrap) {
    return connect(ClientConfig.builder().bootstrap(bootstrap).build());
  }

  /**
   * A client with {@code config}. Does not connect yet.
   *
   * @throws RaftMqException {@code INVALID_REQUEST} if the address list is malformed
   */
  public static RaftMqClient connect(ClientConfig config) {
    return new RaftMqClient(config);
  }

  /** A producer with default settings; close it (or the client) when done. */
  public Producer producer() {
    return producer(ProducerConfig.defaults());
  }

  /** A producer with {@code config}; it starts one sender thread. Close it (or the client) when done. */
  public Producer producer(ProducerConfig config) {
    ProducerImpl[] self = new ProducerImpl[1];
    self[0] = new ProducerImpl(rt, config, () -> children.remove(self[0]));
    children.add(self[0]);
    return self[0];
  }

  /** A consumer with default settings (single-threaded use). */
  public Consumer consumer() {
    return consumer(ConsumerConfig.defaults());
  }

  /** A consumer with {@code config} (single-threaded use). */
  public Consumer consumer(ConsumerConfig config) {
    ConsumerImpl c = new ConsumerImpl(rt, config);
    return c;
  }

  /**
   * A member of the queue group {@link QueueConsumerConfig#groupId()} on its topics (thread-safe). It
   * connects on the first {@link QueueConsumer#receive} or {@link QueueConsumer#subscribe}. Close it (or
   * the client) when done: closing puts back what it received but never handed out.
   */
  public QueueConsumer queueConsumer(QueueConsumerConfig config) {
    QueueConsumerImpl[] self = new QueueConsumerImpl[1];
    self[0] = new QueueConsumerImpl(rt, config, () -> children.remove(self[0]));
    children.add(self[0]);
    return self[0];
  }

  /** The admin of this client (shared, thread-safe). */
  public Admin admin() {
    return admin;
  }

  /**
   * Asks some node (known nodes first, then the bootstrap list) for fresh metadata of all topics, and
   * updates the client's cache with it. Blocks up to {@code timeout}.
   *
   * @throws RaftMqException if no node answered in time
   */
  public ClusterMetadata metadata(Duration timeout) {
    try {
      ClusterMetadata m = rt.metadata().fetch(List.of()).get(timeout.toNanos(), TimeUnit.NANOSECONDS);
      return m;
    } catch (TimeoutException e) {
      throw new RaftMqException(ErrorCode.REQUEST_TIMED_OUT, "no metadata within " + timeout.toMillis() + " ms",
          true, e);
    } catch (ExecutionException e) {
      throw MetadataCache.asRaftMq(e.getCause());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new RaftMqException(ErrorCode.REQUEST_TIMED_OUT, "interrupted while waiting for metadata", true, e);
    }
  }

  /**
   * Closes the producers and queue consumers made from this client (each flushes first), then the
   * connections and threads.
   * In-flight requests fail. Idempotent.
   */
  @Override
  public void close() {
    for (AutoCloseable c : List.copyOf(children)) {
      try {
        c.close();
      } catch (Exception ignored) {
        // keep closing the rest
      }
    }
    children.clear();
    rt.close();
  }
}
