package io.raftmq.client;

import java.time.Instant;
import java.util.Objects;

/**
 * Where {@link Admin#resetOffsets} moves a group's committed offsets. Targets are clamped to
 * [log start, high watermark].
 */
public sealed interface OffsetResetSpec {
  /** To each partition's log start offset. */
  record ToEarliest() implements OffsetResetSpec {}

  /** To each partition's high watermark (skip everything so far). */
  record ToLatest() implements OffsetResetSpec {}

  /** To this offset in every partition. */
  record ToOffset(long offset) implements OffsetResetSpec {
    public ToOffset {
      if (offset < 0) {
        throw new IllegalArgumentException("offset must be >= 0: " + offset);
      }
    }
  }

  /** To the first record at or after this time. */
  record ToDatetime(Instant time) implements OffsetResetSpec {
    public ToDatetime {
      Objects.requireNonNull(time, "time");
    }
  }

  /** By this many records from the committed offset (negative: back). */
  record ShiftBy(long delta) implements OffsetResetSpec {}
}
