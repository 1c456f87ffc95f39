package io.raftmq.broker;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.nio.NioEventLoopGroup;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.util.concurrent.DefaultThreadFactory;
import io.raftmq.protocol.Frames;
import java.net.InetSocketAddress;

/**
 * The client-facing TCP server: length-prefixed frames, checked against the maximum frame size before
 * anything is allocated for them. NIO transport, so fetches go out with sendfile.
 */
final class ClientServer implements AutoCloseable {
  private final EventLoopGroup boss = new NioEventLoopGroup(1, new DefaultThreadFactory("raftmq-accept", true));
  private final EventLoopGroup workers = new NioEventLoopGroup(2, new DefaultThreadFactory("raftmq-io", true));
  private final Channel channel;

  ClientServer(String host, int port, int maxFrameBytes, ClientHandler handler) throws InterruptedException {
    ServerBootstrap b = new ServerBootstrap()
        .group(boss, workers)
        .channel(NioServerSocketChannel.class)
        .option(ChannelOption.SO_BACKLOG, 1024)
        .option(ChannelOption.SO_REUSEADDR, true)
        .childOption(ChannelOption.TCP_NODELAY, true)
        .childHandler(new ChannelInitializer<SocketChannel>() {
          @Override
          protected void initChannel(SocketChannel ch) {
            ch.pipeline().addLast("frames", Frames.newFrameDecoder(maxFrameBytes));
            ch.pipeline().addLast("requests", handler);
          }
        });
    channel = b.bind(new InetSocketAddress(host, port)).sync().channel();
  }

  int port() {
    return ((InetSocketAddress) channel.localAddress()).getPort();
  }

  @Override
  public void close() {
    channel.close().syncUninterruptibly();
    boss.shutdownGracefully(0, 2, java.util.concurrent.TimeUnit.SECONDS);
    workers.shutdownGracefully(0, 2, java.util.concurrent.TimeUnit.SECONDS);
  }
}
