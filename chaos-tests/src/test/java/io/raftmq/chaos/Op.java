package io.raftmq.chaos;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import java.util.List;
import java.util.Map;

/**
 * One line of a history, Jepsen's model: every client operation is recorded twice, an {@code invoke}
 * before the call and a completion ({@code ok}: it happened; {@code fail}: it certainly did not;
 * {@code info}: unknown) after it, which names its invoke by {@link #invokeIndex}. The nemesis records
 * its faults in the same history (process {@code nemesis}).
 *
 * @param index position in the history (0, 1, 2, ...)
 * @param timeNanos monotonic time since the history began
 * @param process the logical process: a producer or consumer incarnation ({@code p3}, {@code c7}), the
 *     {@code drain}, or {@code nemesis}; a crashed client comes back as a new process
 * @param type invoke, ok, fail or info
 * @param f the function: {@code send}, {@code poll}, {@code assign}, {@code commit},
 *     {@code fetch_committed}, {@code crash}, the queue group's {@code q_receive}, {@code q_ack} and
 *     {@code q_nack}, or a fault kind for the nemesis
 * @param invokeIndex for a completion, the index of its invoke
 * @param value the value sent (unique per send), or a fault's description
 * @param partition the partition of a send, or of a queue ack or nack
 * @param offset the offset an ok send was acknowledged at (-1 if the broker did not say); the offset
 *     a queue ack or nack settles
 * @param reads the records an ok poll returned; the messages an ok queue receive leased
 * @param offsets partition to offset: start positions of an assign, offsets of a commit or fetch_committed
 * @param session a consumer's assignment session (order is checked within one); the group of a commit
 * @param error why an operation failed or is unknown
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record Op(
    long index,
    long timeNanos,
    String process,
    Type type,
    String f,
    Long invokeIndex,
    String value,
    Integer partition,
    Long offset,
    List<Read> reads,
    Map<Integer, Long> offsets,
    String session,
    String error) {

  /** The four kinds of history entry. */
  public enum Type {
    /** The operation is about to be called. */
    @JsonProperty("invoke") INVOKE,
    /** It happened. */
    @JsonProperty("ok") OK,
    /** It certainly did not happen. */
    @JsonProperty("fail") FAIL,
    /** It may or may not have happened. */
    @JsonProperty("info") INFO
  }

  /**
   * One record a poll returned, or one message a queue receive leased ({@code deliveryCount}: which
   * delivery of it this was; null for a poll).
   */
  @JsonInclude(JsonInclude.Include.NON_NULL)
  public record Read(int partition, long offset, String value, Integer deliveryCount) {
    public Read(int partition, long offset, String value) {
      this(partition, offset, value, null);
    }
  }

  /** A builder-ish starting point for tests and the recorder: an entry with only the required fields. */
  static Op of(String process, Type type, String f) {
    return new Op(-1, -1, process, type, f, null, null, null, null, null, null, null, null);
  }

  Op withValue(String v) {
    return new Op(index, timeNanos, process, type, f, invokeIndex, v, partition, offset, reads, offsets, session, error);
  }

  Op withPartition(int p) {
    return new Op(index, timeNanos, process, type, f, invokeIndex, value, p, offset, reads, offsets, session, error);
  }

  Op withOffset(long o) {
    return new Op(index, timeNanos, process, type, f, invokeIndex, value, partition, o, reads, offsets, session, error);
  }

  Op withReads(List<Read> r) {
    return new Op(index, timeNanos, process, type, f, invokeIndex, value, partition, offset, r, offsets, session, error);
  }

  Op withOffsets(Map<Integer, Long> o) {
    return new Op(index, timeNanos, process, type, f, invokeIndex, value, partition, offset, reads, o, session, error);
  }

  Op withSession(String s) {
    return new Op(index, timeNanos, process, type, f, invokeIndex, value, partition, offset, reads, offsets, s, error);
  }

  Op withError(String e) {
    return new Op(index, timeNanos, process, type, f, invokeIndex, value, partition, offset, reads, offsets, session, e);
  }

  Op withInvokeIndex(long i) {
    return new Op(index, timeNanos, process, type, f, i, value, partition, offset, reads, offsets, session, error);
  }

  Op stamped(long i, long t) {
    return new Op(i, t, process, type, f, invokeIndex, value, partition, offset, reads, offsets, session, error);
  }

  /** The completion of this invoke. */
  Op complete(Type t) {
    return new Op(-1, -1, process, t, f, index, value, partition, offset, reads, offsets, session, error);
  }
}
