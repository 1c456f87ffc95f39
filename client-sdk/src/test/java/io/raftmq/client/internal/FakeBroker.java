package io.raftmq.client.internal;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.nio.NioEventLoopGroup;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.raftmq.protocol.Frames;
import io.raftmq.protocol.Request;
import io.raftmq.protocol.Response;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A tiny in-test server speaking the frame protocol: each request goes to a handler that returns a
 * reply (header + optional body), or null for no reply (the handler may reply later via {@link Exchange}).
 */
public final class FakeBroker implements AutoCloseable {
  /** A received request with a copy of its body, and the means to answer it. */
  public static final class Exchange {
    public final Request request;
    public final byte[] body;
    public final Channel channel;

    Exchange(Request request, byte[] body, Channel channel) {
      this.request = request;
      this.body = body;
      this.channel = channel;
    }

    /** Sends {@code response} (correlation id filled in) with {@code body} (may be null). */
    public void reply(Response.Builder response, ByteBuffer body) {
      Response r = response.setCorrelationId(request.getCorrelationId()).build();
      ByteBuf b = body == null ? null : Unpooled.wrappedBuffer(body.duplicate());
      channel.writeAndFlush(Frames.encode(channel.alloc(), r, b));
    }
  }

  /** Decides how to answer. */
  public interface Handler {
    /** A response to send now, or null to send nothing (yet). */
    Reply handle(Exchange ex);
  }

  /** A response and its body. */
  public record Reply(Response.Builder header, ByteBuffer body) {
    public static Reply of(Response.Builder header) {
      return new Reply(header, null);
    }
  }

  private final EventLoopGroup group = new NioEventLoopGroup(1);
  private final Channel server;
  private final List<Exchange> received = new CopyOnWriteArrayList<>();
  private final java.util.Set<Channel> clients = ConcurrentHashMap.newKeySet();
  private volatile Handler handler;

  /** Starts on an ephemeral loopback port. */
  public FakeBroker(Handler handler) throws InterruptedException {
    this.handler = handler;
    this.server = new ServerBootstrap().group(group).channel(NioServerSocketChannel.class)
        .childHandler(new ChannelInitializer<SocketChannel>() {
          @Override
          protected void initChannel(SocketChannel ch) {
            clients.add(ch);
            ch.pipeline().addLast(Frames.newFrameDecoder(64 << 20), new SimpleChannelInboundHandler<ByteBuf>() {
              @Override
              protected void channelRead0(ChannelHandlerContext ctx, ByteBuf frame) throws Exception {
                Frames.Decoded<Request> d = Frames.decode(frame, Request.parser());
                byte[] body = new byte[d.body.readableBytes()];
                d.body.readBytes(body);
                d.body.release();
                Exchange ex = new Exchange(d.header, body, ctx.channel());
                received.add(ex);
                Reply r = FakeBroker.this.handler.handle(ex);
                if (r != null) {
                  ex.reply(r.header(), r.body());
                }
              }
            });
          }
        }).bind("127.0.0.1", 0).sync().channel();
  }

  /** Replaces the handler. */
  public void handler(Handler handler) {
    this.handler = handler;
  }

  /** The server's address. */
  public HostPort address() {
    InetSocketAddress a = (InetSocketAddress) server.localAddress();
    return new HostPort("127.0.0.1", a.getPort());
  }

  /** The port. */
  public int port() {
    return address().port();
  }

  /** Every request received so far. */
  public List<Exchange> received() {
    return received;
  }

  /** Closes every client connection. */
  public void dropConnections() {
    clients.forEach(Channel::close);
  }

  @Override
  public void close() {
    server.close().syncUninterruptibly();
    dropConnections();
    group.shutdownGracefully(0, 1, java.util.concurrent.TimeUnit.SECONDS).syncUninterruptibly();
  }
}
