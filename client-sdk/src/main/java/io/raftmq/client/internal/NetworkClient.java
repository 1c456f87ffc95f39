package io.raftmq.client.internal;

import com.google.protobuf.InvalidProtocolBufferException;
import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.nio.NioEventLoopGroup;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.DefaultThreadFactory;
import io.raftmq.client.RaftMqException;
import io.raftmq.protocol.ErrorCode;
import io.raftmq.protocol.Frames;
import io.raftmq.protocol.Request;
import io.raftmq.protocol.Response;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The client's network layer: one lazily opened TCP connection per broker address, requests pipelined
 * on it and matched to responses by correlation id. A lost connection fails its in-flight requests with
 * a retriable {@link RaftMqException} ({@code REQUEST_TIMED_OUT}, "may or may not have taken effect");
 * the next request reconnects, with an exponential back-off (50 ms .. 1 s) after failed connects during
 * which requests to that address fail at once. Futures complete on the given callback executor, never
 * on a Netty event loop. Thread-safe.
 */
public final class NetworkClient implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(NetworkClient.class);
  private static final long MIN_RECONNECT_BACKOFF_MS = 50;
  private static final long MAX_RECONNECT_BACKOFF_MS = 1000;

  /**
   * The buffers of every client in this process: Netty's pooled allocator with 16 MiB chunks instead of
   * its default 4 MiB, because a queue receive or a fetch of thousands of 1 KiB messages is a frame of
   * several MiB, which the default would allocate outside its pool (fresh memory, zeroed page by page)
   * for every response. Memory held is what the largest concurrent frames need, as before.
   */
  static final PooledByteBufAllocator ALLOCATOR = new PooledByteBufAllocator(true,
      PooledByteBufAllocator.defaultNumHeapArena(), PooledByteBufAllocator.defaultNumDirectArena(),
      PooledByteBufAllocator.defaultPageSize(), Math.max(11, PooledByteBufAllocator.defaultMaxOrder()),
      PooledByteBufAllocator.defaultSmallCacheSize(), PooledByteBufAllocator.defaultNormalCacheSize(),
      PooledByteBufAllocator.defaultUseCacheForAllThreads());

  private final String clientId;
  private final int maxFrameBytes;
  private final EventLoopGroup group;
  private final Bootstrap bootstrap;
  private final Executor callbacks;
  private final ConcurrentHashMap<HostPort, Connection> connections = new ConcurrentHashMap<>();
  private final ConcurrentHashMap<HostPort, Backoff> backoffs = new ConcurrentHashMap<>();
  private final AtomicInteger correlation = new AtomicInteger();
  private volatile boolean closed;

  /** Starts an event loop group; connections open on first use. */
  public NetworkClient(String clientId, int maxFrameBytes, Duration connectTimeout, Executor callbacks) {
    this.clientId = clientId;
    this.maxFrameBytes = maxFrameBytes;
    this.callbacks = callbacks;
    int threads = Math.max(1, Math.min(4, Runtime.getRuntime().availableProcessors() / 2));
    this.group = new NioEventLoopGroup(threads, new DefaultThreadFactory("raftmq-client-io", true));
    this.bootstrap = new Bootstrap()
        .group(group)
        .channel(NioSocketChannel.class)
        .option(ChannelOption.ALLOCATOR, ALLOCATOR)
        .option(ChannelOption.TCP_NODELAY, true)
        .option(ChannelOption.SO_KEEPALIVE, true)
        .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) Math.min(Integer.MAX_VALUE, connectTimeout.toMillis()));
  }

  /**
   * Sends a request and completes with its response, or fails with a {@link RaftMqException} after
   * {@code timeout} or when the connection is lost. The correlation id and client id of {@code header}
   * are set here. {@code body} (may be null) is released by this call in every case. The caller must
   * close the {@link Reply}.
   */
  public CompletableFuture<Reply> send(HostPort to, Request.Builder header, ByteBuf body, Duration timeout) {
    return doSend(to, header, body, timeout, true);
  }

  /**
   * Sends a request that gets no response (a produce with acks=none); completes once the frame is
   * written and flushed to the socket. {@code body} is released by this call in every case.
   */
  public CompletableFuture<Reply> sendNoResponse(HostPort to, Request.Builder header, ByteBuf body, Duration timeout) {
    return doSend(to, header, body, timeout, false);
  }

  private CompletableFuture<Reply> doSend(
      HostPort to, Request.Builder header, ByteBuf body, Duration timeout, boolean expectResponse) {
    Connection c;
    try {
      c = connection(to);
    } catch (RaftMqException e) {
      ReferenceCountUtil.release(body);
      return CompletableFuture.failedFuture(e);
    }
    int corr = correlation.incrementAndGet() & Integer.MAX_VALUE;
    Request request = header.setCorrelationId(corr).setClientId(clientId).build();
    CompletableFuture<Reply> future = new CompletableFuture<>();
    Pending pending = new Pending(future, request.getApiKey().name());
    c.inFlight.put(corr, pending);
    if (c.dead) {
      ReferenceCountUtil.release(body);
      fail(c.inFlight.remove(corr), lost(c, null));
      return future;
    }
    try {
      pending.timeout = c.channel.eventLoop().schedule(
          () -> fail(c.inFlight.remove(corr), new RaftMqException(ErrorCode.REQUEST_TIMED_OUT,
              request.getApiKey() + " to " + to + " got no response within " + timeout.toMillis() + " ms", true, null)),
          timeout.toMillis(), TimeUnit.MILLISECONDS);
    } catch (RejectedExecutionException e) {
      ReferenceCountUtil.release(body);
      fail(c.inFlight.remove(corr), closedException());
      return future;
    }
    c.connectFuture.addListener(cf -> {
      if (!cf.isSuccess()) {
        ReferenceCountUtil.release(body);
        c.failAll(lost(c, cf.cause()));
        return;
      }
      ByteBuf frame;
      try {
        frame = Frames.encode(c.channel.alloc(), request, body);
      } catch (RuntimeException e) {
        fail(c.inFlight.remove(corr), new RaftMqException(ErrorCode.INVALID_REQUEST, "cannot encode request: " + e, e));
        return;
      }
      c.channel.writeAndFlush(frame).addListener(w -> {
        if (!w.isSuccess()) {
          fail(c.inFlight.remove(corr), lost(c, w.cause()));
        } else if (!expectResponse) {
          Pending p = c.inFlight.remove(corr);
          if (p != null) {
            p.cancelTimeout();
            complete(p.future, null);
          }
        }
      });
    });
    return future;
  }

  /** Closes the connection to {@code to}, failing its in-flight requests (used after protocol errors and by tests). */
  public void disconnect(HostPort to) {
    Connection c = connections.get(to);
    if (c != null) {
      c.channel.close();
    }
  }

  /** Number of requests awaiting a response on the connection to {@code to}. */
  public int inFlightCount(HostPort to) {
    Connection c = connections.get(to);
    return c == null ? 0 : c.inFlight.size();
  }

  private Connection connection(HostPort to) {
    if (closed) {
      throw closedException();
    }
    Connection c = connections.get(to);
    if (c != null && !c.dead) {
      return c;
    }
    synchronized (this) {
      c = connections.get(to);
      if (c != null && !c.dead) {
        return c;
      }
      Backoff b = backoffs.get(to);
      long now = System.nanoTime();
      if (b != null && now < b.nextAttemptNanos) {
        throw new RaftMqException(ErrorCode.REQUEST_TIMED_OUT, "cannot connect to " + to + " (" + b.lastError
            + "); retrying in " + TimeUnit.NANOSECONDS.toMillis(b.nextAttemptNanos - now) + " ms", true, null);
      }
      Connection conn = new Connection(to);
      ChannelFuture cf = bootstrap.clone().handler(new ChannelInitializer<SocketChannel>() {
        @Override
        protected void initChannel(SocketChannel ch) {
          ch.pipeline().addLast(Frames.newFrameDecoder(maxFrameBytes), new ResponseHandler(conn));
        }
      }).connect(to.host(), to.port());
      conn.channel = cf.channel();
      conn.connectFuture = cf;
      connections.put(to, conn);
      cf.addListener(f -> {
        if (f.isSuccess()) {
          backoffs.remove(to);
          log.debug("connected to {}", to);
        } else {
          backoffs.compute(to, (k, old) -> Backoff.after(old, String.valueOf(f.cause())));
          log.debug("cannot connect to {}: {}", to, String.valueOf(f.cause()));
          conn.failAll(lost(conn, f.cause()));
        }
      });
      conn.channel.closeFuture().addListener(f -> {
        connections.remove(to, conn);
        conn.failAll(lost(conn, null));
      });
      return conn;
    }
  }

  private RaftMqException lost(Connection c, Throwable cause) {
    String why = cause == null ? "connection lost" : "connection failed: " + cause.getMessage();
    return new RaftMqException(ErrorCode.REQUEST_TIMED_OUT,
        "request to " + c.address + " may or may not have taken effect: " + why, true, cause);
  }

  private static RaftMqException closedException() {
    return new RaftMqException(ErrorCode.INVALID_REQUEST, "the client is closed", false, null);
  }

  private void complete(CompletableFuture<Reply> future, Reply reply) {
    try {
      callbacks.execute(() -> {
        if (!future.complete(reply) && reply != null) {
          reply.close();
        }
      });
    } catch (RejectedExecutionException e) {
      if (reply != null) {
        reply.close();
      }
      future.completeExceptionally(closedException());
    }
  }

  private void fail(Pending p, RaftMqException e) {
    if (p == null) {
      return;
    }
    p.cancelTimeout();
    try {
      callbacks.execute(() -> p.future.completeExceptionally(e));
    } catch (RejectedExecutionException rejected) {
      p.future.completeExceptionally(e);
    }
  }

  /** Closes every connection (failing in-flight requests) and stops the event loops. */
  @Override
  public void close() {
    closed = true;
    for (Connection c : connections.values()) {
      c.channel.close();
    }
    group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
  }

  private static final class Pending {
    final CompletableFuture<Reply> future;
    final String api;
    volatile java.util.concurrent.ScheduledFuture<?> timeout;

    Pending(CompletableFuture<Reply> future, String api) {
      this.future = future;
      this.api = api;
    }

    void cancelTimeout() {
      java.util.concurrent.ScheduledFuture<?> t = timeout;
      if (t != null) {
        t.cancel(false);
      }
    }
  }

  private record Backoff(long nextAttemptNanos, long delayMs, String lastError) {
    static Backoff after(Backoff old, String error) {
      long delay = old == null ? MIN_RECONNECT_BACKOFF_MS : Math.min(MAX_RECONNECT_BACKOFF_MS, old.delayMs * 2);
      return new Backoff(System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(delay), delay, error);
    }
  }

  private final class Connection {
    final HostPort address;
    final ConcurrentHashMap<Integer, Pending> inFlight = new ConcurrentHashMap<>();
    volatile Channel channel;
    volatile ChannelFuture connectFuture;
    volatile boolean dead;

    Connection(HostPort address) {
      this.address = address;
    }

    void failAll(RaftMqException e) {
      dead = true;
      for (Integer corr : inFlight.keySet()) {
        fail(inFlight.remove(corr), e);
      }
    }
  }

  private final class ResponseHandler extends ChannelInboundHandlerAdapter {
    private final Connection conn;

    ResponseHandler(Connection conn) {
      this.conn = conn;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
      ByteBuf frame = (ByteBuf) msg;
      try {
        Frames.Decoded<Response> decoded = Frames.decode(frame, Response.parser());
        Pending p = conn.inFlight.remove(decoded.header.getCorrelationId());
        if (p == null) {
          // Timed out already, or a response to a request we never sent: drop it.
          decoded.body.release();
          log.debug("dropping response with unknown correlation id {} from {}",
              decoded.header.getCorrelationId(), conn.address);
          return;
        }
        p.cancelTimeout();
        complete(p.future, new Reply(decoded.header, decoded.body));
      } catch (InvalidProtocolBufferException e) {
        log.warn("malformed frame from {}, closing the connection: {}", conn.address, e.getMessage());
        ctx.close();
      } finally {
        frame.release();
      }
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
      conn.failAll(lost(conn, null));
      ctx.fireChannelInactive();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
      log.debug("connection to {} failed: {}", conn.address, String.valueOf(cause));
      conn.failAll(lost(conn, cause));
      ctx.close();
    }
  }
}
