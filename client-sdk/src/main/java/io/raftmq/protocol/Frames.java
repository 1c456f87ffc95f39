package io.raftmq.protocol;

import com.google.protobuf.CodedInputStream;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.MessageLite;
import com.google.protobuf.Parser;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.CompositeByteBuf;
import io.netty.handler.codec.ByteToMessageDecoder;
import io.netty.handler.codec.LengthFieldBasedFrameDecoder;
import java.io.IOException;

/**
 * Framing of the wire protocol: {@code int32 frameLength, int32 headerLength, header, body}. See
 * {@code protocol.proto}. The length is checked before anything is allocated for the frame.
 */
public final class Frames {
  private Frames() {}

  /** Default upper bound for one frame: a 1 MiB message plus generous room for a batch of them. */
  public static final int DEFAULT_MAX_FRAME_BYTES = 64 * 1024 * 1024;

  /**
   * Splits a stream into frames (without the leading length field); a too-long frame fails fast. The
   * bytes of a frame that spans several reads are gathered in one buffer of the frame's size, allocated
   * once its length is known ({@link #frameSizedCumulator}).
   */
  public static LengthFieldBasedFrameDecoder newFrameDecoder(int maxFrameBytes) {
    LengthFieldBasedFrameDecoder decoder = new LengthFieldBasedFrameDecoder(maxFrameBytes, 0, 4, 0, 4, true);
    decoder.setCumulator(frameSizedCumulator(maxFrameBytes));
    return decoder;
  }

  /**
   * Netty's merge cumulator, except that a buffer that must grow is replaced by one the size of the whole
   * frame at its reader index (when that length is readable and at most {@code maxFrameBytes}; plus room
   * for the next read) instead of
   * growing by doubling: a multi-megabyte response is then copied once, into one allocation, instead of
   * once per doubling with a fresh (zeroed) buffer each time.
   */
  static ByteToMessageDecoder.Cumulator frameSizedCumulator(int maxFrameBytes) {
    return (alloc, cumulation, in) -> {
      if (cumulation == in) {
        in.release();
        return cumulation;
      }
      if (!cumulation.isReadable() && in.isContiguous()) {
        // Nothing pending: the read itself is the cumulation (no copy).
        cumulation.release();
        return in;
      }
      try {
        int adding = in.readableBytes();
        if (adding <= cumulation.writableBytes() && cumulation.refCnt() == 1 && !cumulation.isReadOnly()) {
          cumulation.writeBytes(in, in.readerIndex(), adding);
          in.readerIndex(in.writerIndex());
          return cumulation;
        }
        int needed = cumulation.readableBytes() + adding;
        int size = -1;
        if (cumulation.readableBytes() >= 4) {
          long frame = 4L + cumulation.getInt(cumulation.readerIndex());
          if (frame > needed && frame <= 4L + maxFrameBytes) {
            // Room past the frame for the read that completes it and starts the next one (reads are at
            // most 64 KiB), so that one does not copy the whole frame again.
            size = (int) Math.min(Integer.MAX_VALUE, frame + Math.min(frame, 64 << 10));
          }
        }
        if (size < 0) {
          size = alloc.calculateNewCapacity(needed, Integer.MAX_VALUE);
        }
        ByteBuf grown = alloc.buffer(size);
        ByteBuf toRelease = grown;
        try {
          grown.writeBytes(cumulation, cumulation.readerIndex(), cumulation.readableBytes());
          grown.writeBytes(in, in.readerIndex(), adding);
          in.readerIndex(in.writerIndex());
          toRelease = cumulation;
          return grown;
        } finally {
          toRelease.release();
        }
      } finally {
        in.release();
      }
    };
  }

  /** A decoded frame: its header and a retained slice of its body, which the receiver must release. */
  public static final class Decoded<T> {
    public final T header;
    public final ByteBuf body;

    Decoded(T header, ByteBuf body) {
      this.header = header;
      this.body = body;
    }
  }

  /**
   * Parses a frame produced by {@link #newFrameDecoder}. The body is a retained slice of {@code frame};
   * the caller still releases {@code frame} itself.
   *
   * @throws InvalidProtocolBufferException if the header length or the header is malformed
   */
  public static <T> Decoded<T> decode(ByteBuf frame, Parser<T> parser) throws InvalidProtocolBufferException {
    if (frame.readableBytes() < 4) {
      throw new InvalidProtocolBufferException("frame shorter than its header length field");
    }
    int headerLength = frame.readInt();
    if (headerLength < 0 || headerLength > frame.readableBytes()) {
      throw new InvalidProtocolBufferException("header length " + headerLength + " exceeds the frame");
    }
    T header;
    try {
      CodedInputStream in = CodedInputStream.newInstance(frame.nioBuffer(frame.readerIndex(), headerLength));
      header = parser.parseFrom(in);
    } catch (IOException e) {
      throw e instanceof InvalidProtocolBufferException ipe ? ipe : new InvalidProtocolBufferException(e);
    }
    frame.skipBytes(headerLength);
    ByteBuf body = frame.readRetainedSlice(frame.readableBytes());
    return new Decoded<>(header, body);
  }

  /**
   * Builds a whole frame: length fields, the serialized header and then {@code body} (may be null),
   * whose reference passes to the returned buffer.
   */
  public static ByteBuf encode(ByteBufAllocator alloc, MessageLite header, ByteBuf body) {
    int headerLength = header.getSerializedSize();
    int bodyLength = body == null ? 0 : body.readableBytes();
    ByteBuf head = alloc.buffer(8 + headerLength);
    head.writeInt(4 + headerLength + bodyLength);
    head.writeInt(headerLength);
    try {
      header.writeTo(new io.netty.buffer.ByteBufOutputStream(head));
    } catch (IOException e) {
      head.release();
      if (body != null) {
        body.release();
      }
      throw new IllegalStateException("cannot serialize a frame header", e);
    }
    if (body == null || bodyLength == 0) {
      if (body != null) {
        body.release();
      }
      return head;
    }
    CompositeByteBuf frame = alloc.compositeBuffer(2);
    frame.addComponents(true, head, body);
    return frame;
  }

  /** Prefix for a frame whose body is sent separately (e.g. as a file region): lengths and header. */
  public static ByteBuf encodeHead(ByteBufAllocator alloc, MessageLite header, long bodyLength) {
    int headerLength = header.getSerializedSize();
    ByteBuf head = alloc.buffer(8 + headerLength);
    head.writeInt((int) (4 + headerLength + bodyLength));
    head.writeInt(headerLength);
    try {
      header.writeTo(new io.netty.buffer.ByteBufOutputStream(head));
    } catch (IOException e) {
      head.release();
      throw new IllegalStateException("cannot serialize a frame header", e);
    }
    return head;
  }
}
