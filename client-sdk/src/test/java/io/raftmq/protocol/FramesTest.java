package io.raftmq.protocol;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.InvalidProtocolBufferException;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class FramesTest {
  @Test
  void shouldRoundTripAHeaderAndBodyThroughTheFrameDecoder() throws Exception {
    Request req = Request.newBuilder().setCorrelationId(77).setApiKey(ApiKey.PRODUCE).setClientId("t")
        .setProduce(ProduceRequest.newBuilder().setAcks(Acks.ACKS_QUORUM).setTimeoutMs(5)).build();
    ByteBuf body = Unpooled.copiedBuffer("record-bytes", StandardCharsets.UTF_8);
    ByteBuf frame = Frames.encode(ByteBufAllocator.DEFAULT, req, body);
    assertThat(frame.getInt(0)).isEqualTo(frame.readableBytes() - 4);

    EmbeddedChannel ch = new EmbeddedChannel(Frames.newFrameDecoder(1024));
    // Split the frame in two writes to exercise reassembly.
    ByteBuf first = frame.readRetainedSlice(5);
    ch.writeInbound(first);
    Object none = ch.readInbound();
    assertThat(none).isNull();
    ch.writeInbound(frame);
    ByteBuf decodedFrame = ch.readInbound();
    Frames.Decoded<Request> d = Frames.decode(decodedFrame, Request.parser());
    assertThat(d.header).isEqualTo(req);
    assertThat(d.body.toString(StandardCharsets.UTF_8)).isEqualTo("record-bytes");
    d.body.release();
    decodedFrame.release();
    ch.finishAndReleaseAll();
  }

  @Test
  void shouldEncodeAFrameWithoutBody() throws Exception {
    Response resp = Response.newBuilder().setCorrelationId(3).setError(ErrorCode.THROTTLED).build();
    ByteBuf frame = Frames.encode(ByteBufAllocator.DEFAULT, resp, null);
    frame.skipBytes(4);
    Frames.Decoded<Response> d = Frames.decode(frame, Response.parser());
    assertThat(d.header).isEqualTo(resp);
    assertThat(d.body.readableBytes()).isZero();
    d.body.release();
    frame.release();
  }

  @Test
  void shouldRejectAHeaderLengthBeyondTheFrame() {
    ByteBuf bad = Unpooled.buffer().writeInt(100).writeBytes(new byte[10]);
    assertThatThrownBy(() -> Frames.decode(bad, Request.parser())).isInstanceOf(InvalidProtocolBufferException.class)
        .hasMessageContaining("header length");
    ByteBuf negative = Unpooled.buffer().writeInt(-1);
    assertThatThrownBy(() -> Frames.decode(negative, Request.parser())).isInstanceOf(InvalidProtocolBufferException.class);
    ByteBuf tiny = Unpooled.buffer().writeShort(1);
    assertThatThrownBy(() -> Frames.decode(tiny, Request.parser())).isInstanceOf(InvalidProtocolBufferException.class);
  }

  @Test
  void shouldRejectAFrameAboveTheMaximumBeforeBufferingIt() {
    EmbeddedChannel ch = new EmbeddedChannel(Frames.newFrameDecoder(1024));
    ByteBuf huge = Unpooled.buffer().writeInt(10_000).writeInt(0);
    assertThatThrownBy(() -> ch.writeInbound(huge)).hasMessageContaining("exceeds");
    ch.finishAndReleaseAll();
  }

  @Test
  void shouldGatherAFrameSpreadOverManyReadsIntoOneBufferOfItsSize() {
    // Three frames back to back (small, 1 MiB, small), fed in reads of 1,000 bytes that cut across them.
    byte[] big = new byte[1 << 20];
    new java.util.Random(7).nextBytes(big);
    ByteBuf stream = Unpooled.buffer();
    for (byte[] body : new byte[][] {"a".getBytes(StandardCharsets.UTF_8), big, "zz".getBytes(StandardCharsets.UTF_8)}) {
      stream.writeInt(body.length).writeBytes(body);
    }
    java.util.List<Integer> allocations = new java.util.ArrayList<>();
    io.netty.buffer.AbstractByteBufAllocator counting = new io.netty.buffer.AbstractByteBufAllocator(false) {
      @Override
      protected ByteBuf newHeapBuffer(int initialCapacity, int maxCapacity) {
        allocations.add(initialCapacity);
        return Unpooled.buffer(initialCapacity, maxCapacity);
      }

      @Override
      protected ByteBuf newDirectBuffer(int initialCapacity, int maxCapacity) {
        allocations.add(initialCapacity);
        return Unpooled.directBuffer(initialCapacity, maxCapacity);
      }

      @Override
      public boolean isDirectBufferPooled() {
        return false;
      }
    };
    EmbeddedChannel ch = new EmbeddedChannel();
    ch.config().setAllocator(counting);
    ch.pipeline().addLast(Frames.newFrameDecoder(2 << 20));
    while (stream.isReadable()) {
      ch.writeInbound(stream.readRetainedSlice(Math.min(1000, stream.readableBytes())).copy());
    }
    stream.release();
    ByteBuf a = ch.readInbound();
    ByteBuf b = ch.readInbound();
    ByteBuf c = ch.readInbound();
    assertThat(a.toString(StandardCharsets.UTF_8)).isEqualTo("a");
    byte[] got = new byte[b.readableBytes()];
    b.readBytes(got);
    assertThat(got).isEqualTo(big);
    assertThat(c.toString(StandardCharsets.UTF_8)).isEqualTo("zz");
    // The big frame was gathered in one buffer of about its size (not grown by doubling, nor copied again).
    assertThat(allocations).anyMatch(n -> n >= 4 + big.length && n <= 4 + big.length + (64 << 10));
    assertThat(allocations.stream().filter(n -> n > 4096).count()).as("allocations %s", allocations).isEqualTo(1);
    a.release();
    b.release();
    c.release();
    ch.finishAndReleaseAll();
  }
}
