package io.raftmq.client.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.raftmq.client.Delivery;
import io.raftmq.client.TopicPartition;
import io.raftmq.protocol.BatchFrames;
import io.raftmq.protocol.CorruptRecordException;
import io.raftmq.protocol.LeaseRuns;
import io.raftmq.protocol.PartitionReceiveResult;
import io.raftmq.protocol.TestBatches;
import io.raftmq.protocol.TestBatches.Rec;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32C;
import org.junit.jupiter.api.Test;

class DeliveryDecoderTest {
  private static final TopicPartition TP = new TopicPartition("orders", 2);

  private static ByteBuffer frame(long base, String... values) {
    List<Rec> recs = new java.util.ArrayList<>();
    for (String v : values) {
      recs.add(new Rec(1000 + base, ("k" + v).getBytes(), v.getBytes(), Map.of("h", v.getBytes())));
    }
    return TestBatches.frame(base, 1, 5000 + base, recs);
  }

  /** A partition's receive result leasing offsets[i] for the counts[i]-th time until {@code deadline}. */
  private static PartitionReceiveResult leased(long deadline, long[] offsets, int... counts) {
    PartitionReceiveResult.Builder b = PartitionReceiveResult.newBuilder().setLeaseDeadlineMs(deadline);
    LeaseRuns.Writer runs = new LeaseRuns.Writer(b::addLeaseRuns);
    for (int i = 0; i < offsets.length; i++) {
      runs.add(offsets[i], counts[i]);
    }
    runs.flush();
    return b.build();
  }

  /** {@code f} with another codec in its attributes, checksum fixed: decoding it would fail. */
  private static ByteBuffer withCodec(ByteBuffer f, int codec) {
    ByteBuffer c = ByteBuffer.allocate(f.remaining()).put(f.duplicate()).flip();
    c.put(BatchFrames.ATTRIBUTES, (byte) codec);
    CRC32C crc = new CRC32C();
    crc.update(c.duplicate().position(BatchFrames.MAGIC));
    c.putInt(BatchFrames.CRC, (int) crc.getValue());
    return c;
  }

  @Test
  void shouldKeepOnlyTheDeliveredOffsetsWithTheirCountsAndDeadlines() {
    ByteBuffer frames = TestBatches.concat(frame(10, "a", "b", "c"), frame(13, "d", "e"));
    DeliveryDecoder.Decoded d = DeliveryDecoder.decode(TP, leased(9000, new long[] {11, 13, 14}, 1, 3, 1), frames,
        30_000, null, 3);
    assertThat(d.missing()).isEmpty();
    assertThat(d.deliveries()).extracting(Delivery::offset).containsExactly(11L, 13L, 14L);
    assertThat(d.deliveries()).extracting(Delivery::valueAsString).containsExactly("b", "d", "e");
    assertThat(d.deliveries()).extracting(Delivery::keyAsString).containsExactly("kb", "kd", "ke");
    assertThat(d.deliveries()).extracting(Delivery::deliveryCount).containsExactly(1, 3, 1);
    assertThat(d.deliveries()).extracting(Delivery::leaseDeadlineMs).containsExactly(9000L, 9000L, 9000L);
    DeliveryImpl first = d.deliveries().get(0);
    assertThat(first.topic()).isEqualTo("orders");
    assertThat(first.partition()).isEqualTo(2);
    assertThat(first.timestamp()).isEqualTo(1010);
    assertThat(first.logTimeMs()).isEqualTo(5010);
    assertThat(first.headers()).containsOnlyKeys("h");
    assertThat(first.leaseMs()).isEqualTo(30_000);
  }

  @Test
  void shouldSkipFramesWithoutDeliveredOffsetsWithoutDecodingThem() {
    // The first frame has a codec this client cannot decode: it must not even try, nothing there was delivered.
    ByteBuffer frames = TestBatches.concat(withCodec(frame(0, "x", "y"), 3), frame(2, "z"));
    DeliveryDecoder.Decoded d = DeliveryDecoder.decode(TP, leased(1, new long[] {2}, 1), frames, 1000, null, 100);
    assertThat(d.deliveries()).extracting(Delivery::valueAsString).containsExactly("z");
    assertThatThrownBy(() -> DeliveryDecoder.decode(TP, leased(1, new long[] {1}, 1), frames, 1000, null, 100))
        .isInstanceOf(CorruptRecordException.class).hasMessageContaining("codec");
  }

  @Test
  void shouldReportDeliveredOffsetsWhoseRecordIsMissingAndAcceptAnyOrder() {
    ByteBuffer frames = frame(20, "a", "b");
    DeliveryDecoder.Decoded d = DeliveryDecoder.decode(TP, leased(7, new long[] {21, 25, 20}, 2, 1, 1), frames,
        1000, null, 100);
    assertThat(d.deliveries()).extracting(Delivery::offset).containsExactly(20L, 21L);
    assertThat(d.deliveries()).extracting(Delivery::deliveryCount).as("counts stay with their offsets")
        .containsExactly(1, 2);
    assertThat(d.missing()).containsExactly(25L);
  }

  @Test
  void shouldRefuseMoreLeasesThanTheReceiveAskedForBeforeAllocatingForThem() {
    ByteBuffer frames = frame(0, "a");
    // One run of two billion leases: a broken or hostile answer must not make the client allocate for it.
    PartitionReceiveResult huge = PartitionReceiveResult.newBuilder().setTopic(TP.topic()).setPartition(TP.partition())
        .setLeaseDeadlineMs(1).addLeaseRuns(0).addLeaseRuns(2_000_000_000L).addLeaseRuns(1).build();
    assertThatThrownBy(() -> DeliveryDecoder.decode(TP, huge, frames, 1000, null, 8000))
        .isInstanceOf(CorruptRecordException.class).hasMessageContaining("at most 8000");
    assertThatThrownBy(() -> DeliveryDecoder.decode(TP, leased(1, new long[] {0, 1, 2}, 1, 1, 1), frames, 1000, null, 2))
        .isInstanceOf(CorruptRecordException.class).hasMessageContaining("3 leases");
    assertThat(DeliveryDecoder.decode(TP, leased(1, new long[] {0}, 1), frames, 1000, null, 1).deliveries()).hasSize(1);
  }

  @Test
  void shouldRefuseAFrameWithABadChecksum() {
    ByteBuffer f = frame(0, "a");
    f.put(f.limit() - 1, (byte) (f.get(f.limit() - 1) ^ 1));
    assertThatThrownBy(() -> DeliveryDecoder.decode(TP, leased(1, new long[] {0}, 1), f, 1000, null, 100))
        .isInstanceOf(CorruptRecordException.class);
  }

  @Test
  void shouldEstimateTheLeaseFromTheDeadlineWhenTheGroupDecides() {
    ByteBuffer frames = frame(0, "a");
    long deadline = System.currentTimeMillis() + 10_000;
    DeliveryImpl d = DeliveryDecoder.decode(TP, leased(deadline, new long[] {0}, 1), frames, 0, null, 100).deliveries().get(0);
    assertThat(d.leaseMs()).isBetween(9_000L, 10_000L);
    assertThat(DeliveryDecoder.estimateLeaseMs(1000, 2000)).isEqualTo(30_000); // clocks disagree: the default
    assertThat(DeliveryDecoder.estimateLeaseMs(2010, 2000)).isEqualTo(100); // at least 100 ms
  }

  @Test
  void sharesShouldSumToTheMaximumAndRotate() {
    assertThat(QueueConsumerImpl.shares(10, 4, 0)).containsExactly(3, 3, 2, 2);
    assertThat(QueueConsumerImpl.shares(10, 4, 3)).containsExactly(3, 2, 2, 3);
    assertThat(QueueConsumerImpl.shares(2, 4, 1)).containsExactly(0, 1, 1, 0);
    assertThat(QueueConsumerImpl.shares(2, 4, 3)).containsExactly(1, 0, 0, 1);
    assertThat(QueueConsumerImpl.shares(1, 1, 0)).containsExactly(1);
  }
}
