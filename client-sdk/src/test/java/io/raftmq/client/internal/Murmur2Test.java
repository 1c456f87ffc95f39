package io.raftmq.client.internal;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class Murmur2Test {
  @Test
  void shouldMatchKafkasTestVectors() {
    assertThat(Murmur2.hash("21".getBytes())).isEqualTo(-973932308);
    assertThat(Murmur2.hash("foobar".getBytes())).isEqualTo(-790332482);
    assertThat(Murmur2.hash("a-little-bit-long-string".getBytes())).isEqualTo(-985981536);
    assertThat(Murmur2.hash("a-little-bit-longer-string".getBytes())).isEqualTo(-1486304829);
    assertThat(Murmur2.hash("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8".getBytes())).isEqualTo(-58897971);
    assertThat(Murmur2.hash(new byte[] {'a', 'b', 'c'})).isEqualTo(479470107);
  }

  @Test
  void shouldPickPartitionsLikeKafkasDefaultPartitioner() {
    // toPositive clears the sign bit (it is not Math.abs): -973932308 & 0x7fffffff = 1173551340.
    assertThat(Murmur2.partition("21".getBytes(), 1000)).isEqualTo(1173551340 % 1000);
    assertThat(Murmur2.partition("foobar".getBytes(), 7)).isEqualTo((-790332482 & 0x7fffffff) % 7);
  }
}
