package io.raftmq.protocol;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

class RecordCodecTest {
  private record Decoded(int index, long timestamp, byte[] key, byte[] value, Map<String, byte[]> headers) {}

  private static List<Decoded> decodeAll(ByteBuffer b, int count) {
    List<Decoded> out = new ArrayList<>();
    RecordCodec.decode(b, count, (i, ts, k, v, h) -> out.add(new Decoded(i, ts, k, v, h)));
    return out;
  }

  @Test
  void shouldRoundTripRecordsWithNullKeysValuesAndHeaders() {
    Map<String, byte[]> headers = new LinkedHashMap<>();
    headers.put("trace", "abc".getBytes(StandardCharsets.UTF_8));
    headers.put("nullable", null);
    headers.put("ünïcødé", new byte[] {1, 2, 3});
    ByteBuffer b = TestBatches.records(List.of(
        new TestBatches.Rec(-5, null, null, Map.of()),
        new TestBatches.Rec(1_700_000_000_000L, "k".getBytes(), new byte[0], headers),
        new TestBatches.Rec(Long.MAX_VALUE, new byte[300], "v".getBytes(), Map.of())));
    int expectedSize = RecordCodec.encodedSize(-5, null, null, Map.of())
        + RecordCodec.encodedSize(1_700_000_000_000L, "k".getBytes(), new byte[0], headers)
        + RecordCodec.encodedSize(Long.MAX_VALUE, new byte[300], "v".getBytes(), Map.of());
    assertThat(b.remaining()).isEqualTo(expectedSize);
    assertThat(RecordCodec.validate(b, 3, 1024)).isEqualTo(RecordCodec.Validation.OK);

    List<Decoded> d = decodeAll(b, 3);
    assertThat(d).hasSize(3);
    assertThat(d.get(0).timestamp()).isEqualTo(-5);
    assertThat(d.get(0).key()).isNull();
    assertThat(d.get(0).value()).isNull();
    assertThat(d.get(0).headers()).isEmpty();
    assertThat(d.get(1).key()).isEqualTo("k".getBytes());
    assertThat(d.get(1).value()).isEmpty();
    assertThat(d.get(1).headers()).containsOnlyKeys("trace", "nullable", "ünïcødé");
    assertThat(d.get(1).headers().get("trace")).isEqualTo("abc".getBytes());
    assertThat(d.get(1).headers().get("nullable")).isNull();
    assertThat(d.get(1).headers().get("ünïcødé")).containsExactly(1, 2, 3);
    assertThat(d.get(2).timestamp()).isEqualTo(Long.MAX_VALUE);
    assertThat(d.get(2).key()).hasSize(300);
    assertThat(RecordCodec.timestampAt(b, 2)).isEqualTo(Long.MAX_VALUE);
    assertThat(b.position()).isZero(); // not consumed
  }

  @Test
  void validateShouldRejectTruncatedRecords() {
    ByteBuffer b = TestBatches.records(List.of(TestBatches.Rec.of("a", "b"), TestBatches.Rec.of("c", "d")));
    for (int cut = 0; cut < b.remaining(); cut++) {
      ByteBuffer truncated = b.duplicate().limit(cut);
      assertThat(RecordCodec.validate(truncated, 2, 1024)).as("cut at %d", cut).isEqualTo(RecordCodec.Validation.CORRUPT);
    }
    assertThat(RecordCodec.validate(b, 3, 1024)).isEqualTo(RecordCodec.Validation.CORRUPT);
    assertThat(RecordCodec.validate(b, 1, 1024)).isEqualTo(RecordCodec.Validation.CORRUPT); // trailing bytes
  }

  @Test
  void validateShouldRejectGarbageWithoutThrowing() {
    Random random = new Random(42);
    System.out.println("seed 42");
    for (int i = 0; i < 2000; i++) {
      byte[] junk = new byte[random.nextInt(64)];
      random.nextBytes(junk);
      RecordCodec.Validation v = RecordCodec.validate(ByteBuffer.wrap(junk), 1 + random.nextInt(3), 1024);
      assertThat(v).isNotNull();
    }
    // A length prefix claiming far more than is there.
    ByteBuffer lying = ByteBuffer.wrap(new byte[] {(byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, 0x07, 0, 0});
    assertThat(RecordCodec.validate(lying, 1, 1024)).isEqualTo(RecordCodec.Validation.CORRUPT);
  }

  @Test
  void validateShouldTellPlainRecordsOnlyWithoutKeysAndWithoutTheNamedHeader() {
    byte[] ttl = "raftmq.ttl.ms".getBytes(StandardCharsets.UTF_8);
    TestBatches.Rec plain = new TestBatches.Rec(1, null, "v".getBytes(), Map.of("trace", "x".getBytes()));
    ByteBuffer plainOnly = TestBatches.records(List.of(plain, new TestBatches.Rec(2, null, null, Map.of())));
    assertThat(RecordCodec.validate(plainOnly, 2, 1024, ttl)).isEqualTo(RecordCodec.Validation.PLAIN);
    assertThat(RecordCodec.validate(plainOnly, 2, 1024)).isEqualTo(RecordCodec.Validation.OK);
    assertThat(RecordCodec.validate(plainOnly, 2, 1024, null)).isEqualTo(RecordCodec.Validation.OK);

    ByteBuffer emptyKey = TestBatches.records(List.of(plain, new TestBatches.Rec(2, new byte[0], null, Map.of())));
    assertThat(RecordCodec.validate(emptyKey, 2, 1024, ttl)).isEqualTo(RecordCodec.Validation.OK);
    ByteBuffer withTtl = TestBatches.records(List.of(plain, new TestBatches.Rec(2, null, null,
        Map.of("raftmq.ttl.ms", "5".getBytes()))));
    assertThat(RecordCodec.validate(withTtl, 2, 1024, ttl)).isEqualTo(RecordCodec.Validation.OK);
    // A header whose name only starts like the named one does not count.
    ByteBuffer lookalike = TestBatches.records(List.of(new TestBatches.Rec(2, null, null,
        Map.of("raftmq.ttl.msx", "5".getBytes(), "raftmq.ttl.m", new byte[0]))));
    assertThat(RecordCodec.validate(lookalike, 1, 1024, ttl)).isEqualTo(RecordCodec.Validation.PLAIN);
    // Corruption and size still win over plainness.
    assertThat(RecordCodec.validate(plainOnly, 3, 1024, ttl)).isEqualTo(RecordCodec.Validation.CORRUPT);
    ByteBuffer big = TestBatches.records(List.of(new TestBatches.Rec(1, null, new byte[2000], Map.of())));
    assertThat(RecordCodec.validate(big, 1, 1000, ttl)).isEqualTo(RecordCodec.Validation.TOO_LARGE);
  }

  @Test
  void validateShouldFlagRecordsAboveTheMaximum() {
    ByteBuffer b = TestBatches.records(List.of(new TestBatches.Rec(1, null, new byte[2000], Map.of())));
    assertThat(RecordCodec.validate(b, 1, 1000)).isEqualTo(RecordCodec.Validation.TOO_LARGE);
    assertThat(RecordCodec.validate(b, 1, 4000)).isEqualTo(RecordCodec.Validation.OK);
  }

  @Test
  void decodeShouldFailCleanlyOnAHugeValueLengthInsteadOfAllocatingIt() {
    // body: timestamp 0, key null (zigzag -1 = 1), value length zigzag(2^30) claimed but absent.
    ByteBuffer body = ByteBuffer.allocate(16);
    RecordCodec.writeVarlong(body, 0);
    RecordCodec.writeVarint(body, 1);
    RecordCodec.writeVarint(body, RecordCodec.zigzag(1 << 30));
    body.flip();
    ByteBuffer rec = ByteBuffer.allocate(32);
    RecordCodec.writeVarint(rec, body.remaining());
    rec.put(body).flip();
    assertThatThrownBy(() -> decodeAll(rec, 1)).isInstanceOf(CorruptRecordException.class);
    assertThat(RecordCodec.validate(rec, 1, 1024)).isEqualTo(RecordCodec.Validation.CORRUPT);
  }
}
