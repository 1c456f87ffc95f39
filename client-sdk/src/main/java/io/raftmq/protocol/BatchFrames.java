package io.raftmq.protocol;

import java.nio.ByteBuffer;
import java.util.zip.CRC32C;

/**
 * The layout of a stored batch frame: what {@code log-store} writes to its segment files and what a
 * fetch response's body carries, byte for byte (big-endian).
 *
 * <pre>
 *  0  int64 baseOffset      offset of the batch's first record
 *  8  int32 length          bytes after this field (34 + payload)
 * 12  int32 crc32c          CRC32C of bytes 16 .. end
 * 16  int8  magic           1
 * 17  int8  attributes      low 3 bits: codec (0 = none)
 * 18  int32 recordCount
 * 22  int64 raftIndex       the Raft log index of the entry that committed the batch
 * 30  int64 logTimeMs       the leader's time stamped into that entry
 * 38  int64 maxTimestamp    the largest record timestamp
 * 46  payload               records, {@link RecordCodec} layout
 * </pre>
 *
 * <p>The constants here must match {@code io.raftmq.logstore.BatchHeader}; a cross-module test pins it.
 */
public final class BatchFrames {
  private BatchFrames() {}

  public static final int BASE_OFFSET = 0;
  public static final int LENGTH = 8;
  public static final int CRC = 12;
  public static final int MAGIC = 16;
  public static final int ATTRIBUTES = 17;
  public static final int RECORD_COUNT = 18;
  public static final int RAFT_INDEX = 22;
  public static final int LOG_TIME = 30;
  public static final int MAX_TIMESTAMP = 38;
  public static final int HEADER_SIZE = 46;
  /** Bytes of the header before the length field ends: a frame is {@code LOG_OVERHEAD + length} long. */
  public static final int LOG_OVERHEAD = 12;
  public static final byte MAGIC_V1 = 1;

  /** A view of one frame inside a buffer; cheap to create, no copies. */
  public static final class Frame {
    private final ByteBuffer buf;
    private final int start;

    private Frame(ByteBuffer buf, int start) {
      this.buf = buf;
      this.start = start;
    }

    public long baseOffset() {
      return buf.getLong(start + BASE_OFFSET);
    }

    public int recordCount() {
      return buf.getInt(start + RECORD_COUNT);
    }

    /** Offset after the batch's last record. */
    public long nextOffset() {
      return baseOffset() + recordCount();
    }

    public long raftIndex() {
      return buf.getLong(start + RAFT_INDEX);
    }

    public long logTimeMs() {
      return buf.getLong(start + LOG_TIME);
    }

    public long maxTimestamp() {
      return buf.getLong(start + MAX_TIMESTAMP);
    }

    public int codec() {
      return buf.get(start + ATTRIBUTES) & 0x07;
    }

    public int sizeInBytes() {
      return LOG_OVERHEAD + buf.getInt(start + LENGTH);
    }

    /** The records, {@link RecordCodec} layout. */
    public ByteBuffer payload() {
      return buf.duplicate().position(start + HEADER_SIZE).limit(start + sizeInBytes()).slice();
    }

    /** Whether the stored CRC32C matches the bytes. */
    public boolean checksumValid() {
      CRC32C crc = new CRC32C();
      crc.update(buf.duplicate().position(start + MAGIC).limit(start + sizeInBytes()));
      return (int) crc.getValue() == buf.getInt(start + CRC);
    }
  }

  /** Receives frames from {@link #forEach}. */
  public interface FrameVisitor {
    void frame(Frame frame);
  }

  /**
   * Walks the whole frames in {@code frames} (position to limit), verifying each checksum.
   *
   * @throws CorruptRecordException on a truncated frame or a checksum mismatch
   */
  public static void forEach(ByteBuffer frames, FrameVisitor visitor) {
    int pos = frames.position();
    int limit = frames.limit();
    while (pos < limit) {
      if (limit - pos < HEADER_SIZE) {
        throw new CorruptRecordException("truncated batch header at " + pos);
      }
      int length = frames.getInt(pos + LENGTH);
      if (length < HEADER_SIZE - LOG_OVERHEAD || length > limit - pos - LOG_OVERHEAD) {
        throw new CorruptRecordException("batch length " + length + " out of bounds at " + pos);
      }
      Frame frame = new Frame(frames, pos);
      if (!frame.checksumValid()) {
        throw new CorruptRecordException("CRC mismatch in batch at offset " + frame.baseOffset());
      }
      visitor.frame(frame);
      pos += LOG_OVERHEAD + length;
    }
  }
}
