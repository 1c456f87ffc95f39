package io.raftmq.broker;

import io.netty.channel.FileRegion;
import io.netty.util.AbstractReferenceCounted;
import io.raftmq.logstore.FetchSlice;
import java.io.IOException;
import java.nio.channels.WritableByteChannel;

/**
 * A byte range of a segment file sent with {@code FileChannel.transferTo} (sendfile on Linux) instead
 * of being copied through the heap. Unlike Netty's {@code DefaultFileRegion} it does not close the
 * file, which the log-store keeps open for every reader.
 */
final class SliceRegion extends AbstractReferenceCounted implements FileRegion {
  private final FetchSlice slice;
  private long transferred;

  SliceRegion(FetchSlice slice) {
    this.slice = slice;
  }

  @Override
  public long position() {
    return 0;
  }

  @Override
  @Deprecated
  public long transfered() {
    return transferred;
  }

  @Override
  public long transferred() {
    return transferred;
  }

  @Override
  public long count() {
    return slice.sizeInBytes();
  }

  @Override
  public long transferTo(WritableByteChannel target, long position) throws IOException {
    long remaining = count() - position;
    if (remaining <= 0) {
      return 0;
    }
    long written = slice.transferTo(target, position, remaining);
    if (written > 0) {
      transferred += written;
    }
    return written;
  }

  @Override
  public FileRegion retain() {
    super.retain();
    return this;
  }

  @Override
  public FileRegion retain(int increment) {
    super.retain(increment);
    return this;
  }

  @Override
  public FileRegion touch() {
    return this;
  }

  @Override
  public FileRegion touch(Object hint) {
    return this;
  }

  @Override
  protected void deallocate() {
    // the log-store owns the file channel
  }
}
