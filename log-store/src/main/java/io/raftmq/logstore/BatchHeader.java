package io.raftmq.logstore;

import java.nio.ByteBuffer;
import java.util.zip.CRC32C;

/**
 * The layout of one stored batch frame, byte for byte (big-endian). The client SDK's
 * {@code io.raftmq.protocol.BatchFrames} parses the same bytes; the constants must stay equal.
 *
 * <pre>
 *  0  int64 baseOffset      offset of the batch's first record
 *  8  int32 length          bytes after this field (34 + payload length)
 * 12  int32 crc32c          CRC32C of bytes 16 .. end of frame
 * 16  int8  magic           1
 * 17  int8  attributes      low 3 bits: codec (0 = none); opaque to the store
 * 18  int32 recordCount
 * 22  int64 raftIndex       Raft log index of the entry that committed the batch
 * 30  int64 logTimeMs       leader time stamped into that entry
 * 38  int64 maxTimestamp    largest record timestamp in the batch
 * 46  payload               opaque bytes (records)
 * </pre>
 *
 * <p>Stateless; safe from any thread.
 */
public final class BatchHeader {
  private BatchHeader() {}

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
  /** Bytes up to the end of the length field: a frame is {@code LOG_OVERHEAD + length} long. */
  public static final int LOG_OVERHEAD = 12;
  public static final byte MAGIC_V1 = 1;
  /** The smallest legal value of the length field (a batch with an empty payload). */
  public static final int MIN_LENGTH = HEADER_SIZE - LOG_OVERHEAD;
  /** The largest payload a frame can carry (its size must fit an int). */
  public static final int MAX_PAYLOAD_BYTES = Integer.MAX_VALUE - HEADER_SIZE;

  /**
   * Writes a complete header, CRC included, into {@code header} at indexes 0..45 (absolute puts; the
   * buffer's position and limit are set to 0 and {@link #HEADER_SIZE}). {@code payload} is read from
   * its position to its limit and is left as it was. {@code crc} is reset and used as scratch.
   */
  static void write(ByteBuffer header, CRC32C crc, long baseOffset, int attributes, int recordCount,
      long raftIndex, long logTimeMs, long maxTimestamp, ByteBuffer payload) {
    int payloadSize = payload.remaining();
    header.clear();
    header.putLong(BASE_OFFSET, baseOffset);
    header.putInt(LENGTH, MIN_LENGTH + payloadSize);
    header.put(MAGIC, MAGIC_V1);
    header.put(ATTRIBUTES, (byte) attributes);
    header.putInt(RECORD_COUNT, recordCount);
    header.putLong(RAFT_INDEX, raftIndex);
    header.putLong(LOG_TIME, logTimeMs);
    header.putLong(MAX_TIMESTAMP, maxTimestamp);
    crc.reset();
    header.position(MAGIC).limit(HEADER_SIZE);
    crc.update(header);
    int payloadPosition = payload.position();
    crc.update(payload);
    payload.position(payloadPosition);
    header.putInt(CRC, (int) crc.getValue());
    header.position(0).limit(HEADER_SIZE);
  }
}
