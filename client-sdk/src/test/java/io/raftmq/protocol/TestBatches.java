package io.raftmq.protocol;

import java.nio.ByteBuffer;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32C;

/** Builds record sets and stored batch frames the way a producer and the log store would. */
public final class TestBatches {
  private TestBatches() {}

  /** One record of a test batch. */
  public record Rec(long timestamp, byte[] key, byte[] value, Map<String, byte[]> headers) {
    public static Rec of(String key, String value) {
      return new Rec(1000, key == null ? null : key.getBytes(), value == null ? null : value.getBytes(), Map.of());
    }
  }

  /** The RecordCodec encoding of {@code recs}. */
  public static ByteBuffer records(List<Rec> recs) {
    int size = 0;
    for (Rec r : recs) {
      size += RecordCodec.encodedSize(r.timestamp, r.key, r.value, r.headers);
    }
    ByteBuffer b = ByteBuffer.allocate(size);
    for (Rec r : recs) {
      RecordCodec.write(b, r.timestamp, r.key, r.value, r.headers);
    }
    return b.flip();
  }

  /** A stored batch frame holding {@code recs} from {@code baseOffset}. */
  public static ByteBuffer frame(long baseOffset, long raftIndex, long logTimeMs, List<Rec> recs) {
    ByteBuffer payload = records(recs);
    ByteBuffer f = ByteBuffer.allocate(BatchFrames.HEADER_SIZE + payload.remaining());
    f.putLong(BatchFrames.BASE_OFFSET, baseOffset);
    f.putInt(BatchFrames.LENGTH, BatchFrames.HEADER_SIZE - BatchFrames.LOG_OVERHEAD + payload.remaining());
    f.put(BatchFrames.MAGIC, BatchFrames.MAGIC_V1);
    f.put(BatchFrames.ATTRIBUTES, (byte) 0);
    f.putInt(BatchFrames.RECORD_COUNT, recs.size());
    f.putLong(BatchFrames.RAFT_INDEX, raftIndex);
    f.putLong(BatchFrames.LOG_TIME, logTimeMs);
    f.putLong(BatchFrames.MAX_TIMESTAMP, recs.stream().mapToLong(Rec::timestamp).max().orElse(-1));
    f.position(BatchFrames.HEADER_SIZE).put(payload).flip();
    CRC32C crc = new CRC32C();
    crc.update(f.duplicate().position(BatchFrames.MAGIC));
    f.putInt(BatchFrames.CRC, (int) crc.getValue());
    return f;
  }

  /** The concatenation of {@code buffers}. */
  public static ByteBuffer concat(ByteBuffer... buffers) {
    int n = 0;
    for (ByteBuffer b : buffers) {
      n += b.remaining();
    }
    ByteBuffer out = ByteBuffer.allocate(n);
    for (ByteBuffer b : buffers) {
      out.put(b.duplicate());
    }
    return out.flip();
  }
}
