package io.raftmq.logstore;

import static io.raftmq.logstore.TestBatches.appendBatches;
import static io.raftmq.logstore.TestBatches.readAll;
import static io.raftmq.logstore.TestBatches.smallSegments;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.raftmq.logstore.TestBatches.Batch;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AppendPreconditionTest {
  @TempDir Path dir;
  private PartitionLog log;
  private List<Batch> batches;

  @BeforeEach
  void setUp() throws IOException {
    log = PartitionLog.open(dir, smallSegments(300, 50));
    batches = appendBatches(log, 10);
  }

  @org.junit.jupiter.api.AfterEach
  void tearDown() throws IOException {
    log.close();
  }

  private void assertUnchanged() throws IOException {
    Batch last = batches.get(batches.size() - 1);
    assertThat(log.nextOffset()).isEqualTo(last.nextOffset());
    assertThat(log.lastRaftIndex()).isEqualTo(last.raftIndex());
    assertThat(log.sizeInBytes()).isEqualTo(batches.stream().mapToLong(Batch::frameSize).sum());
    assertThat(readAll(log)).containsExactlyElementsOf(batches);
    long onDisk = 0;
    for (Path p : TestBatches.logFiles(dir)) {
      onDisk += Files.size(p);
    }
    assertThat(onDisk).isEqualTo(log.sizeInBytes());
  }

  private void assertRejected(long baseOffset, int recordCount, long raftIndex, int attributes) throws IOException {
    int segments = log.segmentFiles().size();
    assertThatThrownBy(() -> log.append(baseOffset, recordCount, raftIndex, 0, 0, attributes,
        ByteBuffer.allocate(200))).isInstanceOf(IllegalArgumentException.class);
    assertThat(log.segmentFiles()).hasSize(segments);
    assertUnchanged();
  }

  @Test
  void shouldRejectABaseOffsetOtherThanNextOffset() throws IOException {
    long next = log.nextOffset();
    long raft = log.lastRaftIndex() + 1;
    assertRejected(next + 1, 1, raft, 0);
    assertRejected(next - 1, 1, raft, 0);
    assertRejected(0, 1, raft, 0);
  }

  @Test
  void shouldRejectARaftIndexThatDoesNotIncrease() throws IOException {
    long next = log.nextOffset();
    assertRejected(next, 1, log.lastRaftIndex(), 0);
    assertRejected(next, 1, log.lastRaftIndex() - 1, 0);
  }

  @Test
  void shouldRejectNonPositiveRecordCountsAndAttributesBeyondAByte() throws IOException {
    long next = log.nextOffset();
    long raft = log.lastRaftIndex() + 1;
    assertRejected(next, 0, raft, 0);
    assertRejected(next, -3, raft, 0);
    assertRejected(next, 1, raft, 256);
    assertRejected(next, 1, raft, -1);
  }

  @Test
  void shouldRejectANegativeBaseOffsetInAnEmptyLog() throws IOException {
    try (PartitionLog empty = PartitionLog.open(dir.resolve("empty"), LogStoreConfig.defaults())) {
      assertThatThrownBy(() -> empty.append(-1, 1, 0, 0, 0, 0, ByteBuffer.allocate(1)))
          .isInstanceOf(IllegalArgumentException.class);
      assertThat(empty.isEmpty()).isTrue();
      assertThat(empty.segmentFiles()).isEmpty();
      empty.append(7, 1, 0, 0, 0, 0, ByteBuffer.allocate(1));
      assertThat(empty.logStartOffset()).isEqualTo(7);
      assertThat(empty.nextOffset()).isEqualTo(8);
    }
  }

  @Test
  void shouldRejectUseAfterClose() throws IOException {
    log.close();
    assertThatThrownBy(() -> log.append(log.nextOffset(), 1, log.lastRaftIndex() + 1, 0, 0, 0, ByteBuffer.allocate(1)))
        .isInstanceOf(IllegalStateException.class);
    assertThatThrownBy(() -> log.read(0, 1)).isInstanceOf(IllegalStateException.class);
  }
}
