package io.raftmq.client.internal;

import io.netty.buffer.ByteBuf;
import io.raftmq.protocol.Response;
import java.nio.ByteBuffer;

/** A response header and its body; the receiver must {@link #close()} it to release the body. */
public final class Reply implements AutoCloseable {
  private final Response header;
  private final ByteBuf body;

  Reply(Response header, ByteBuf body) {
    this.header = header;
    this.body = body;
  }

  /** The response header. */
  public Response header() {
    return header;
  }

  /** The body bytes (may be empty). */
  public ByteBuf body() {
    return body;
  }

  /** {@code length} body bytes from {@code offset} as one (possibly copied) NIO buffer. */
  public ByteBuffer bodySlice(int offset, int length) {
    return body.nioBuffer(body.readerIndex() + offset, length);
  }

  @Override
  public void close() {
    if (body != null && body.refCnt() > 0) {
      body.release();
    }
  }
}
