package io.raftmq.protocol;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Map;

/**
 * The layout of records inside a batch: the bytes a producer sends for one partition, which the broker
 * stores as the payload of one batch frame and a consumer decodes again. The broker never re-encodes
 * them; it only walks them once with {@link #validate} to check sizes and structure.
 *
 * <pre>
 * record := varint bodyLength            bytes of the record after this varint
 *           zigzag varlong timestamp     ms since the epoch
 *           zigzag varint keyLength      -1 = null key
 *           key bytes
 *           zigzag varint valueLength    -1 = null value
 *           value bytes
 *           varint headerCount
 *           header* := varint keyLength, UTF-8 key bytes, zigzag varint valueLength (-1 = null), value bytes
 * </pre>
 *
 * <p>Record {@code i} of a batch has offset {@code baseOffset + i}. Stateless and thread-safe.
 */
public final class RecordCodec {
  private RecordCodec() {}

  /** Bytes needed to encode one record; lets a producer size its buffer before writing. */
  public static int encodedSize(long timestamp, byte[] key, byte[] value, Map<String, byte[]> headers) {
    int body = bodySize(timestamp, key, value, headers);
    return varintSize(body) + body;
  }

  private static int bodySize(long timestamp, byte[] key, byte[] value, Map<String, byte[]> headers) {
    int size = varlongSize(zigzag(timestamp));
    size += bytesSize(key) + bytesSize(value);
    size += varintSize(headers.size());
    for (Map.Entry<String, byte[]> h : headers.entrySet()) {
      int keyLen = utf8Length(h.getKey());
      size += varintSize(keyLen) + keyLen + bytesSize(h.getValue());
    }
    return size;
  }

  /** Appends one record to {@code out}, which must have {@link #encodedSize} bytes remaining. */
  public static void write(ByteBuffer out, long timestamp, byte[] key, byte[] value, Map<String, byte[]> headers) {
    writeVarint(out, bodySize(timestamp, key, value, headers));
    writeVarlong(out, zigzag(timestamp));
    writeBytes(out, key);
    writeBytes(out, value);
    writeVarint(out, headers.size());
    for (Map.Entry<String, byte[]> h : headers.entrySet()) {
      byte[] k = h.getKey().getBytes(StandardCharsets.UTF_8);
      writeVarint(out, k.length);
      out.put(k);
      writeBytes(out, h.getValue());
    }
  }

  /** What {@link #validate} found. */
  public enum Validation {
    OK,
    /**
     * Well-formed, and plain: no record has a key or the header {@link #validate(ByteBuffer, int, int, byte[])}
     * was asked about.
     */
    PLAIN,
    /** The bytes do not hold exactly the announced number of well-formed records. */
    CORRUPT,
    /** A record is larger than the maximum. */
    TOO_LARGE
  }

  /**
   * Checks that {@code records} (position to limit, not consumed) holds exactly {@code count} well-formed
   * records, none larger than {@code maxRecordBytes}. Allocates nothing.
   */
  public static Validation validate(ByteBuffer records, int count, int maxRecordBytes) {
    Validation v = validate(records, count, maxRecordBytes, null);
    return v == Validation.PLAIN ? Validation.OK : v;
  }

  /**
   * {@link #validate(ByteBuffer, int, int)}, in the same single walk also telling whether the records are
   * {@link Validation#PLAIN}: none has a key (a null key; an empty one is a key) and none a header named
   * {@code plainHeader} (UTF-8 bytes; null: the answer is never PLAIN).
   */
  public static Validation validate(ByteBuffer records, int count, int maxRecordBytes, byte[] plainHeader) {
    ByteBuffer b = records.duplicate();
    boolean plain = plainHeader != null;
    try {
      for (int i = 0; i < count; i++) {
        int bodyLength = readVarint(b);
        if (bodyLength < 0 || bodyLength > b.remaining()) {
          return Validation.CORRUPT;
        }
        if (bodyLength > maxRecordBytes) {
          return Validation.TOO_LARGE;
        }
        int end = b.position() + bodyLength;
        readVarlong(b);
        // A null key is the one-byte varint zigzag(-1) = 1.
        plain &= b.get(b.position()) == 1;
        skipBytes(b, end);
        skipBytes(b, end);
        int headers = readVarint(b);
        if (headers < 0) {
          return Validation.CORRUPT;
        }
        for (int h = 0; h < headers; h++) {
          int keyLength = readVarint(b);
          if (keyLength < 0 || b.position() + keyLength > end) {
            return Validation.CORRUPT;
          }
          if (plain && keyLength == plainHeader.length && regionEquals(b, b.position(), plainHeader)) {
            plain = false;
          }
          b.position(b.position() + keyLength);
          skipBytes(b, end);
        }
        if (b.position() != end) {
          return Validation.CORRUPT;
        }
      }
      if (b.hasRemaining()) {
        return Validation.CORRUPT;
      }
      return plain ? Validation.PLAIN : Validation.OK;
    } catch (RuntimeException e) {
      return Validation.CORRUPT;
    }
  }

  /** Receives decoded records. */
  public interface Visitor {
    /** Called once per record, in offset order. */
    void record(int index, long timestamp, byte[] key, byte[] value, Map<String, byte[]> headers);
  }

  /**
   * Decodes {@code count} records from {@code records} (position to limit, not consumed).
   *
   * @throws CorruptRecordException if the bytes do not decode
   */
  public static void decode(ByteBuffer records, int count, Visitor visitor) {
    decode(records, count, null, visitor);
  }

  /**
   * Decodes the records of {@code records} whose index {@code wanted} accepts (all when null), skipping
   * the others without allocating for them; the visitor sees only the wanted ones, in order.
   *
   * @throws CorruptRecordException if the bytes do not decode
   */
  public static void decode(ByteBuffer records, int count, java.util.function.IntPredicate wanted, Visitor visitor) {
    ByteBuffer b = records.duplicate();
    try {
      for (int i = 0; i < count; i++) {
        int bodyLength = readVarint(b);
        int end = b.position() + bodyLength;
        if (bodyLength < 0 || end > b.limit()) {
          throw new CorruptRecordException("record " + i + " overruns its batch");
        }
        if (wanted != null && !wanted.test(i)) {
          b.position(end);
          continue;
        }
        long timestamp = unzigzag(readVarlong(b));
        byte[] key = readBytes(b);
        byte[] value = readBytes(b);
        int headerCount = readVarint(b);
        Map<String, byte[]> headers;
        if (headerCount == 0) {
          headers = Map.of();
        } else {
          headers = new java.util.LinkedHashMap<>(Math.max(4, headerCount * 2));
          for (int h = 0; h < headerCount; h++) {
            int keyLength = readVarint(b);
            if (keyLength < 0 || keyLength > end - b.position()) {
              throw new CorruptRecordException("record " + i + " has a header key overrunning it");
            }
            byte[] k = new byte[keyLength];
            b.get(k);
            headers.put(new String(k, StandardCharsets.UTF_8), readBytes(b));
          }
        }
        if (b.position() != end) {
          throw new CorruptRecordException("record " + i + " has trailing bytes");
        }
        visitor.record(i, timestamp, key, value, headers);
      }
    } catch (java.nio.BufferUnderflowException | IllegalArgumentException | NegativeArraySizeException e) {
      throw new CorruptRecordException("records do not decode: " + e);
    }
  }

  /** Receives what {@link #scanKeys} reads of each record. */
  public interface KeyVisitor {
    /**
     * @param keyHash {@link #keyHash} of the record's key (0: no key)
     * @param header the value of the header asked for (UTF-8), or null if the record has none
     */
    void record(int index, long timestamp, long keyHash, String header);
  }

  /**
   * Walks {@code count} records reading only their timestamps, key hashes and one header (by name), with
   * no allocation for keys and values: what a queue group's leader needs of new records.
   *
   * @throws CorruptRecordException if the bytes do not decode
   */
  public static void scanKeys(ByteBuffer records, int count, String headerName, KeyVisitor visitor) {
    ByteBuffer b = records.duplicate();
    byte[] wanted = headerName.getBytes(StandardCharsets.UTF_8);
    try {
      for (int i = 0; i < count; i++) {
        int bodyLength = readVarint(b);
        int end = b.position() + bodyLength;
        if (bodyLength < 0 || end > b.limit()) {
          throw new CorruptRecordException("record " + i + " overruns its batch");
        }
        long timestamp = unzigzag(readVarlong(b));
        int keyLength = unzigzag(readVarint(b));
        long hash = 0;
        if (keyLength >= 0) {
          if (keyLength > end - b.position()) {
            throw new CorruptRecordException("record " + i + " has a key overrunning it");
          }
          hash = keyHash(b, b.position(), keyLength);
          b.position(b.position() + keyLength);
        }
        skipBytes(b, end);
        String header = null;
        int headerCount = readVarint(b);
        for (int h = 0; h < headerCount; h++) {
          int nameLength = readVarint(b);
          if (nameLength < 0 || nameLength > end - b.position()) {
            throw new CorruptRecordException("record " + i + " has a header key overrunning it");
          }
          boolean match = nameLength == wanted.length;
          for (int k = 0; match && k < nameLength; k++) {
            match = b.get(b.position() + k) == wanted[k];
          }
          b.position(b.position() + nameLength);
          if (match) {
            byte[] v = readBytes(b);
            header = v == null ? null : new String(v, StandardCharsets.UTF_8);
          } else {
            skipBytes(b, end);
          }
        }
        if (b.position() != end) {
          throw new CorruptRecordException("record " + i + " has trailing bytes");
        }
        visitor.record(i, timestamp, hash, header);
      }
    } catch (java.nio.BufferUnderflowException | IllegalArgumentException e) {
      throw new CorruptRecordException("records do not decode: " + e);
    }
  }

  /** A 64-bit hash of a key (FNV-1a), never 0 for a key; 0 stands for "no key". */
  public static long keyHash(byte[] key) {
    return key == null ? 0 : keyHash(ByteBuffer.wrap(key), 0, key.length);
  }

  private static long keyHash(ByteBuffer b, int from, int length) {
    long h = 0xcbf29ce484222325L;
    for (int i = 0; i < length; i++) {
      h = (h ^ (b.get(from + i) & 0xff)) * 0x100000001b3L;
    }
    return h == 0 ? 1 : h;
  }

  /** Timestamp of record {@code index} without decoding the others' keys and values. */
  public static long timestampAt(ByteBuffer records, int index) {
    ByteBuffer b = records.duplicate();
    for (int i = 0; i < index; i++) {
      int bodyLength = readVarint(b);
      b.position(b.position() + bodyLength);
    }
    readVarint(b);
    return unzigzag(readVarlong(b));
  }

  // ---- varints (protobuf's encoding) ----

  private static int bytesSize(byte[] bytes) {
    return bytes == null ? varintSize(zigzag(-1)) : varintSize(zigzag(bytes.length)) + bytes.length;
  }

  private static void writeBytes(ByteBuffer out, byte[] bytes) {
    if (bytes == null) {
      writeVarint(out, zigzag(-1));
    } else {
      writeVarint(out, zigzag(bytes.length));
      out.put(bytes);
    }
  }

  private static byte[] readBytes(ByteBuffer b) {
    int length = unzigzag(readVarint(b));
    if (length < 0) {
      return null;
    }
    if (length > b.remaining()) {
      // Checked before allocating: a corrupt length must not allocate up to 2 GiB.
      throw new java.nio.BufferUnderflowException();
    }
    byte[] bytes = new byte[length];
    b.get(bytes);
    return bytes;
  }

  private static boolean regionEquals(ByteBuffer b, int at, byte[] expected) {
    for (int k = 0; k < expected.length; k++) {
      if (b.get(at + k) != expected[k]) {
        return false;
      }
    }
    return true;
  }

  private static void skipBytes(ByteBuffer b, int end) {
    int length = unzigzag(readVarint(b));
    if (length < -1 || b.position() + Math.max(length, 0) > end) {
      throw new IllegalArgumentException("length " + length + " overruns the record");
    }
    if (length > 0) {
      b.position(b.position() + length);
    }
  }

  static int zigzag(int n) {
    return (n << 1) ^ (n >> 31);
  }

  static int unzigzag(int n) {
    return (n >>> 1) ^ -(n & 1);
  }

  static long zigzag(long n) {
    return (n << 1) ^ (n >> 63);
  }

  static long unzigzag(long n) {
    return (n >>> 1) ^ -(n & 1);
  }

  static int varintSize(int value) {
    int size = 1;
    while ((value & ~0x7F) != 0) {
      size++;
      value >>>= 7;
    }
    return size;
  }

  static int varlongSize(long value) {
    int size = 1;
    while ((value & ~0x7FL) != 0) {
      size++;
      value >>>= 7;
    }
    return size;
  }

  static void writeVarint(ByteBuffer out, int value) {
    while ((value & ~0x7F) != 0) {
      out.put((byte) ((value & 0x7F) | 0x80));
      value >>>= 7;
    }
    out.put((byte) value);
  }

  static void writeVarlong(ByteBuffer out, long value) {
    while ((value & ~0x7FL) != 0) {
      out.put((byte) ((value & 0x7F) | 0x80));
      value >>>= 7;
    }
    out.put((byte) value);
  }

  static int readVarint(ByteBuffer b) {
    int result = 0;
    for (int shift = 0; shift < 35; shift += 7) {
      byte x = b.get();
      result |= (x & 0x7F) << shift;
      if (x >= 0) {
        return result;
      }
    }
    throw new IllegalArgumentException("varint too long");
  }

  static long readVarlong(ByteBuffer b) {
    long result = 0;
    for (int shift = 0; shift < 70; shift += 7) {
      byte x = b.get();
      result |= (long) (x & 0x7F) << shift;
      if (x >= 0) {
        return result;
      }
    }
    throw new IllegalArgumentException("varlong too long");
  }

  private static int utf8Length(String s) {
    int length = 0;
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c < 0x80) {
        length++;
      } else if (c < 0x800) {
        length += 2;
      } else if (Character.isHighSurrogate(c)) {
        length += 4;
        i++;
      } else {
        length += 3;
      }
    }
    return length;
  }
}
