package io.raftmq.logstore;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.WritableByteChannel;

/**
 * A byte range of one segment file holding whole batch frames, as returned by
 * {@link PartitionLog#read(long, int)}. The bytes are immutable (committed data never changes), so a
 * slice can be read by any thread, any number of times, for as long as its segment exists.
 *
 * <p>If the segment is deleted by retention ({@link PartitionLog#deleteSegmentsBelow(long)}) or the
 * log is closed, reading the slice fails with a {@link java.nio.channels.ClosedChannelException};
 * fetch again (the new read then reports {@link OffsetOutOfRangeException}). Do not interrupt a
 * thread while it reads a slice: an interrupt closes the shared {@link FileChannel} for every reader.
 */
public final class FetchSlice {
  private static final FetchSlice EMPTY = new FetchSlice(null, 0, 0, -1, -1);

  private final FileChannel channel;
  private final long position;
  private final int sizeInBytes;
  private final long firstBatchBaseOffset;
  private final long nextOffset;

  FetchSlice(FileChannel channel, long position, int sizeInBytes, long firstBatchBaseOffset, long nextOffset) {
    this.channel = channel;
    this.position = position;
    this.sizeInBytes = sizeInBytes;
    this.firstBatchBaseOffset = firstBatchBaseOffset;
    this.nextOffset = nextOffset;
  }

  /** The slice of nothing (a read at {@link PartitionLog#nextOffset()}). */
  public static FetchSlice empty() {
    return EMPTY;
  }

  /** The segment's channel; {@code null} for {@link #empty()}. Use positional operations only. */
  public FileChannel channel() {
    return channel;
  }

  /** File position of the first byte. */
  public long position() {
    return position;
  }

  /** Number of bytes: a whole number of batch frames. */
  public int sizeInBytes() {
    return sizeInBytes;
  }

  /** Base offset of the first batch in the slice, -1 for an empty slice. */
  public long firstBatchBaseOffset() {
    return firstBatchBaseOffset;
  }

  /** The offset after the last record of the slice's last batch; -1 for an empty slice. */
  public long nextOffset() {
    return nextOffset;
  }

  /** Whether the slice holds no bytes. */
  public boolean isEmpty() {
    return sizeInBytes == 0;
  }

  /** Copies the bytes into a new heap buffer (position 0, limit {@link #sizeInBytes()}). */
  public ByteBuffer readFully() throws IOException {
    return readInto(ByteBuffer.allocate(sizeInBytes));
  }

  /**
   * Reads the whole slice into {@code reuse} (cleared first) if it has the room, else into a new heap
   * buffer; returns the buffer holding it, flipped. For readers that scan many slices with one buffer.
   */
  public ByteBuffer readFully(ByteBuffer reuse) throws IOException {
    if (reuse == null || reuse.capacity() < sizeInBytes) {
      return readFully();
    }
    reuse.clear().limit(sizeInBytes);
    return readInto(reuse);
  }

  private ByteBuffer readInto(ByteBuffer out) throws IOException {
    while (out.hasRemaining()) {
      int n = channel.read(out, position + out.position());
      if (n < 0) {
        throw new EOFException("segment ended at " + (position + out.position()) + " inside a slice");
      }
    }
    return out.flip();
  }

  /**
   * Writes up to {@code maxCount} bytes of the slice, starting {@code fromRelativePosition} bytes into
   * it, to {@code target} with {@link FileChannel#transferTo} (zero copy where the OS allows). May
   * write fewer bytes (like {@code transferTo}); call again with the advanced position.
   *
   * @return the number of bytes written
   */
  public long transferTo(WritableByteChannel target, long fromRelativePosition, long maxCount) throws IOException {
    if (fromRelativePosition < 0 || fromRelativePosition > sizeInBytes || maxCount < 0) {
      throw new IllegalArgumentException("fromRelativePosition " + fromRelativePosition + " / maxCount " + maxCount
          + " outside a slice of " + sizeInBytes + " bytes");
    }
    long count = Math.min(maxCount, sizeInBytes - fromRelativePosition);
    if (count == 0) {
      return 0;
    }
    return channel.transferTo(position + fromRelativePosition, count, target);
  }

  @Override
  public String toString() {
    return "FetchSlice{position=" + position + ", sizeInBytes=" + sizeInBytes + ", firstBatchBaseOffset="
        + firstBatchBaseOffset + "}";
  }
}
