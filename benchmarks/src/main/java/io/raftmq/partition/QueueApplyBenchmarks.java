package io.raftmq.partition;

import io.raftmq.raft.proto.Acquire;
import io.raftmq.raft.proto.PartitionReply;
import io.raftmq.raft.proto.QueueConfig;
import io.raftmq.raft.proto.Settle;
import java.util.concurrent.TimeUnit;
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
import org.openjdk.jmh.annotations.Warmup;

/**
 * What every replica does per queue message: apply an {@code Acquire} that takes in {@code batch} new
 * records and leases them, then a {@code Settle} that acks them all, each with its reply serialised
 * (as the state machine returns it). One invocation is one such cycle of {@code batch} messages, with
 * {@code inFlight} other messages leased meanwhile (a queue group under load). In the benchmarks module
 * but in the partition package: the queue group's commands are package-private.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
public class QueueApplyBenchmarks {
  @Param({"1000"})
  int batch;

  @Param({"0", "10000"})
  int inFlight;

  QueueGroup group;
  long now;
  String consumer;

  @Setup(Level.Iteration)
  public void newGroup() {
    pendingRuns = new long[0];
    group = new QueueGroup("bench", QueueConfig.newBuilder().setVisibilityTimeoutMs(30_000).setMaxDeliveries(5)
        .setBackoffBaseMs(1000).setBackoffMaxMs(60_000).setMaxInFlight(1_000_000).build(), 0);
    now = 1_700_000_000_000L;
    consumer = "consumer-0123456789abcdef";
    // Leases held by another consumer for the whole run, ahead of the cycled messages.
    if (inFlight > 0) {
      group.acquire(Acquire.newBuilder().setConsumer("holder").setMax(inFlight).setLeaseMs(3_600_000)
          .setFirstNewOffset(0).setNewRecordCount(inFlight).build(), now, Long.MAX_VALUE, PartitionReply.newBuilder());
    }
  }

  /** One acquire of {@code batch} new records and one settle acking them (cycles/s; x batch = messages/s). */
  @Benchmark
  public int acquireAndAck() {
    now++;
    PartitionReply.Builder leased = PartitionReply.newBuilder();
    group.acquire(Acquire.newBuilder().setConsumer(consumer).setMax(batch).setLeaseMs(30_000)
        .setFirstNewOffset(group.end()).setNewRecordCount(batch).build(), now, Long.MAX_VALUE, leased);
    PartitionReply acquired = leased.build();
    int bytes = acquired.toByteArray().length;
    Settle.Builder s = Settle.newBuilder().setConsumer(consumer);
    for (int i = 0; i < acquired.getLeasedRunsCount(); i += 3) {
      for (long o = acquired.getLeasedRuns(i), end = o + acquired.getLeasedRuns(i + 1); o < end; o++) {
        s.addAcks(o);
      }
    }
    PartitionReply.Builder settled = PartitionReply.newBuilder();
    group.settle(s.build(), now, settled);
    return bytes + settled.build().toByteArray().length;
  }

  /** The leases of the last {@link #acquireCarryingAcks} cycle, as (first offset, length) pairs. */
  long[] pendingRuns = new long[0];

  /**
   * As a queue consumer of the SDK does it: one acquire of {@code batch} new records that also carries
   * the acks of the batch before as runs of consecutive offsets (cycles/s; x batch = messages/s).
   */
  @Benchmark
  public int acquireCarryingAcks() {
    now++;
    Acquire.Builder a = Acquire.newBuilder().setConsumer(new String(consumer)).setMax(batch).setLeaseMs(30_000)
        .setFirstNewOffset(group.end()).setNewRecordCount(batch);
    for (long v : pendingRuns) {
      a.addAckRuns(v);
    }
    PartitionReply.Builder leased = PartitionReply.newBuilder();
    group.acquire(a.build(), now, Long.MAX_VALUE, leased);
    PartitionReply acquired = leased.build();
    int runs = acquired.getLeasedRunsCount() / 3;
    if (pendingRuns.length != runs * 2) {
      pendingRuns = new long[runs * 2];
    }
    for (int i = 0; i < runs; i++) {
      pendingRuns[2 * i] = acquired.getLeasedRuns(3 * i);
      pendingRuns[2 * i + 1] = acquired.getLeasedRuns(3 * i + 1);
    }
    return acquired.toByteArray().length;
  }
}
