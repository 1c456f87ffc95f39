package io.raftmq.broker;

import com.google.protobuf.InvalidProtocolBufferException;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.handler.codec.DecoderException;
import io.netty.handler.codec.TooLongFrameException;
import io.raftmq.protocol.ErrorCode;
import io.raftmq.protocol.Frames;
import io.raftmq.protocol.Request;
import io.raftmq.protocol.Response;
import java.io.IOException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Turns frames into requests and hands them to the handlers. A frame that does not decode, or that is
 * too long, closes its connection (after an error response when the correlation id is known); nothing
 * else is affected. Runs on the connection's event loop; shared by all connections.
 */
@ChannelHandler.Sharable
final class ClientHandler extends SimpleChannelInboundHandler<ByteBuf> {
  private static final Logger LOG = LoggerFactory.getLogger(ClientHandler.class);

  private final BrokerContext ctx;
  private final ProduceHandler produce;
  private final FetchHandler fetch;
  private final AdminHandler admin;
  private final GroupHandler groups;
  private final QueueHandler queues;
  private final DeadLetterForwarder forwarder;

  ClientHandler(BrokerContext ctx) {
    this.ctx = ctx;
    this.produce = new ProduceHandler(ctx);
    this.fetch = new FetchHandler(ctx);
    this.admin = new AdminHandler(ctx);
    this.groups = new GroupHandler(ctx);
    this.queues = new QueueHandler(ctx);
    this.forwarder = new DeadLetterForwarder(ctx, queues);
  }

  /** Stops the leader services that run outside requests (the dead-letter forwarder's connections). */
  void close() {
    forwarder.close();
  }

  @Override
  public void channelInactive(ChannelHandlerContext channel) throws Exception {
    queues.onDisconnect(channel.channel());
    super.channelInactive(channel);
  }

  @Override
  protected void channelRead0(ChannelHandlerContext channel, ByteBuf frame) {
    long start = System.nanoTime();
    Frames.Decoded<Request> decoded;
    try {
      decoded = Frames.decode(frame, Request.parser());
    } catch (InvalidProtocolBufferException e) {
      LOG.warn("closing connection from {}: malformed frame: {}", channel.channel().remoteAddress(), e.getMessage());
      ctx.metrics.badFrame();
      channel.close();
      return;
    }
    Request request = decoded.header;
    ByteBuf body = decoded.body;
    try {
      if (request.getApiVersion() > 1) {
        replyError(channel, request, ErrorCode.UNSUPPORTED_VERSION, "api version " + request.getApiVersion());
        return;
      }
      if (!ctx.ready()) {
        ctx.metrics.notReady();
        replyError(channel, request, ErrorCode.METADATA_BEHIND, "node " + ctx.config.nodeId()
            + " is starting: its metadata has not caught up with the cluster yet; retry");
        return;
      }
      if (request.getBodyCase() != Request.BodyCase.PRODUCE && body.isReadable()) {
        replyError(channel, request, ErrorCode.INVALID_REQUEST, "only produce requests carry a body");
        return;
      }
      switch (request.getBodyCase()) {
        case PRODUCE -> produce.handle(channel, request, body, start);
        case FETCH -> fetch.handle(channel, request, start);
        case METADATA, CREATE_TOPIC, DELETE_TOPIC, LIST_TOPICS, DESCRIBE_TOPIC, INIT_PRODUCER, LIST_OFFSETS ->
            admin.handle(channel, request, start);
        case GROUP_HEARTBEAT, COMMIT_OFFSETS, FETCH_OFFSETS, LIST_GROUPS, DESCRIBE_GROUP, DELETE_GROUP ->
            groups.handle(channel, request, start);
        case QUEUE_RECEIVE, QUEUE_SETTLE, DESCRIBE_QUEUE, QUEUE_REDRIVE -> queues.handle(channel, request, start);
        case BODY_NOT_SET -> replyError(channel, request, ErrorCode.INVALID_REQUEST, "request without a body");
        default -> replyError(channel, request, ErrorCode.INVALID_REQUEST, "unknown request " + request.getBodyCase());
      }
    } catch (RuntimeException e) {
      LOG.error("request {} from {} failed", request.getBodyCase(), channel.channel().remoteAddress(), e);
      replyError(channel, request, ErrorCode.UNKNOWN_SERVER_ERROR, e.toString());
    } finally {
      body.release();
    }
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext channel, Throwable cause) {
    if (cause instanceof TooLongFrameException || cause instanceof DecoderException) {
      LOG.warn("closing connection from {}: {}", channel.channel().remoteAddress(), cause.getMessage());
      ctx.metrics.badFrame();
    } else if (!(cause instanceof IOException)) {
      LOG.warn("closing connection from {}", channel.channel().remoteAddress(), cause);
    }
    channel.close();
  }

  static void reply(ChannelHandlerContext channel, Response response, ByteBuf body) {
    channel.writeAndFlush(Frames.encode(channel.alloc(), response, body))
        .addListener(ChannelFutureListener.FIRE_EXCEPTION_ON_FAILURE);
  }

  static void replyError(ChannelHandlerContext channel, Request request, ErrorCode code, String message) {
    reply(channel, Response.newBuilder()
        .setCorrelationId(request.getCorrelationId())
        .setError(code)
        .setErrorMessage(message)
        .build(), null);
  }
}
