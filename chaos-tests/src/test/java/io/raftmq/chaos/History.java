package io.raftmq.chaos;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The append-only record of a run: every operation's invoke and completion, in the order they
 * happened, each stamped with its index and monotonic time. Kept in memory for the checkers and, when
 * given a file, written to it as JSON lines as it grows. Thread-safe.
 */
public final class History implements AutoCloseable {
  static final ObjectMapper JSON = new ObjectMapper()
      .disable(SerializationFeature.FAIL_ON_EMPTY_BEANS)
      .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);

  private final long startNanos = System.nanoTime();
  private final List<Op> ops = new ArrayList<>();
  private final BufferedWriter out;

  /** A history kept only in memory. */
  public History() {
    this.out = null;
  }

  /** A history also written to {@code file} (JSON lines). */
  public History(Path file) throws IOException {
    Files.createDirectories(file.getParent());
    this.out = Files.newBufferedWriter(file);
  }

  /** Appends {@code op}, giving it the next index and the current time; returns the stamped entry. */
  public synchronized Op add(Op op) {
    Op stamped = op.stamped(ops.size(), System.nanoTime() - startNanos);
    ops.add(stamped);
    if (out != null) {
      try {
        out.write(JSON.writeValueAsString(stamped));
        out.newLine();
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
    return stamped;
  }

  /** Nanoseconds since the history began (the time base of its entries). */
  public long now() {
    return System.nanoTime() - startNanos;
  }

  /** A copy of the entries so far. */
  public synchronized List<Op> ops() {
    return List.copyOf(ops);
  }

  /** Reads a history written by {@link #History(Path)}. */
  public static List<Op> read(Path file) throws IOException {
    List<Op> ops = new ArrayList<>();
    for (String line : Files.readAllLines(file)) {
      if (!line.isBlank()) {
        ops.add(JSON.readValue(line, Op.class));
      }
    }
    return ops;
  }

  @Override
  public synchronized void close() {
    if (out != null) {
      try {
        out.close();
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
  }
}
