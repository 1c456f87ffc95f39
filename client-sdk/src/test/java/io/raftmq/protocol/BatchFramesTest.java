package io.raftmq.protocol;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class BatchFramesTest {
  @Test
  void shouldWalkFramesAndExposeTheirHeaders() {
    ByteBuffer frames = TestBatches.concat(
        TestBatches.frame(10, 7, 1111, List.of(TestBatches.Rec.of("a", "1"), TestBatches.Rec.of("b", "2"))),
        TestBatches.frame(12, 8, 2222, List.of(TestBatches.Rec.of(null, "3"))));
    List<long[]> seen = new ArrayList<>();
    List<String> values = new ArrayList<>();
    BatchFrames.forEach(frames, f -> {
      seen.add(new long[] {f.baseOffset(), f.recordCount(), f.raftIndex(), f.logTimeMs(), f.nextOffset()});
      RecordCodec.decode(f.payload(), f.recordCount(), (i, ts, k, v, h) -> values.add(new String(v)));
    });
    assertThat(seen).hasSize(2);
    assertThat(seen.get(0)).containsExactly(10, 2, 7, 1111, 12);
    assertThat(seen.get(1)).containsExactly(12, 1, 8, 2222, 13);
    assertThat(values).containsExactly("1", "2", "3");
  }

  @Test
  void shouldDetectACrcMismatch() {
    ByteBuffer frame = TestBatches.frame(0, 1, 1, List.of(TestBatches.Rec.of("k", "value")));
    int last = frame.limit() - 1;
    frame.put(last, (byte) (frame.get(last) ^ 0x01));
    assertThatThrownBy(() -> BatchFrames.forEach(frame, f -> {}))
        .isInstanceOf(CorruptRecordException.class).hasMessageContaining("CRC");
  }

  @Test
  void shouldRejectATruncatedFrame() {
    ByteBuffer frame = TestBatches.frame(0, 1, 1, List.of(TestBatches.Rec.of("k", "value")));
    assertThatThrownBy(() -> BatchFrames.forEach(frame.duplicate().limit(frame.limit() - 1), f -> {}))
        .isInstanceOf(CorruptRecordException.class);
    assertThatThrownBy(() -> BatchFrames.forEach(frame.duplicate().limit(20), f -> {}))
        .isInstanceOf(CorruptRecordException.class).hasMessageContaining("truncated");
  }
}
