package io.raftmq.bench;

import com.google.protobuf.ByteString;
import io.raftmq.logstore.LogStoreConfig;
import io.raftmq.logstore.PartitionLog;
import io.raftmq.partition.PartitionCore;
import io.raftmq.protocol.RecordCodec;
import io.raftmq.raft.proto.AppendBatch;
import io.raftmq.raft.proto.PartitionCommand;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The per-batch work a broker does on the produce path, one batch of {@code records} records of
 * {@code valueBytes} at a time: checking the records a client sent, and applying the committed batch
 * (idempotence check, offset assignment, append to the segment file, no fsync).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
public class HotPathBenchmarks {
  @Param({"100", "1024"})
  int valueBytes;

  @Param({"1000"})
  int records;

  ByteBuffer encoded;
  ByteString recordBytes;
  Path dir;
  PartitionLog log;
  PartitionCore core;
  long raftIndex;
  int sequence;

  @Setup(Level.Trial)
  public void encode() {
    byte[] value = new byte[valueBytes];
    new Random(1).nextBytes(value);
    int size = 0;
    for (int i = 0; i < records; i++) {
      size += RecordCodec.encodedSize(1_700_000_000_000L + i, null, value, Map.of());
    }
    encoded = ByteBuffer.allocate(size);
    for (int i = 0; i < records; i++) {
      RecordCodec.write(encoded, 1_700_000_000_000L + i, null, value, Map.of());
    }
    encoded.flip();
    recordBytes = ByteString.copyFrom(encoded.duplicate());
  }

  @Setup(Level.Iteration)
  public void openLog() throws IOException {
    dir = Files.createTempDirectory("raftmq-jmh");
    log = PartitionLog.open(dir, LogStoreConfig.builder().segmentSizeBytes(64L * 1024 * 1024).build());
    core = new PartitionCore(log);
    raftIndex = 0;
    sequence = 0;
  }

  @TearDown(Level.Iteration)
  public void deleteLog() throws IOException {
    log.close();
    try (Stream<Path> files = Files.walk(dir)) {
      files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    }
  }

  /** What the broker does to a produce request's records before proposing them (batches/s). */
  @Benchmark
  public RecordCodec.Validation validateRecords() {
    return RecordCodec.validate(encoded, records, 1024 * 1024);
  }

  /** Apply of one committed AppendBatch of an idempotent producer, without fsync (batches/s). */
  @Benchmark
  public long applyAppendBatch() throws IOException {
    PartitionCommand command = PartitionCommand.newBuilder()
        .setLeaderTimeMs(1_700_000_000_000L + raftIndex)
        .setAppendBatch(AppendBatch.newBuilder()
            .setProducerId(7)
            .setProducerEpoch(0)
            .setBaseSequence(sequence)
            .setRecordCount(records)
            .setMaxTimestamp(1_700_000_000_000L)
            .setRecords(recordBytes))
        .build();
    sequence += records;
    return core.apply(command, ++raftIndex).getBaseOffset();
  }
}
