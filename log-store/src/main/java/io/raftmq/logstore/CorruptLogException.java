package io.raftmq.logstore;

import java.io.IOException;

/**
 * A segment that is not the last one holds bytes that are not a sequence of whole, valid batches
 * (or the segments are not contiguous). The store refuses to open: this needs an operator (or a
 * snapshot install that replaces the directory), never a silent truncation.
 */
public final class CorruptLogException extends IOException {
  /** @param message what is wrong, and in which file */
  public CorruptLogException(String message) {
    super(message);
  }
}
