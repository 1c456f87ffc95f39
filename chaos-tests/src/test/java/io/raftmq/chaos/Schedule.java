package io.raftmq.chaos;

import com.fasterxml.jackson.annotation.JsonIgnore;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * A fault schedule: what to inject when, for how long, over a run of {@code durationMs} of workload
 * (healing, the drain and the checks come after). Replayable from its JSON file; a random one is also
 * reproducible from its seed ({@link ScheduleGenerator}). Targets are node selectors resolved when the
 * event fires: {@code n1}..{@code n3}, {@code leader:P} / {@code follower:P} (of partition P),
 * {@code random}; {@code one-way} takes {@code a>b}.
 *
 * @param name a scenario name, or {@code random-<seed>}
 * @param seed the seed it was drawn from (also seeds the run's random choices, e.g. {@code random})
 * @param durationMs how long the workload runs under the schedule
 * @param events the faults, by start time
 */
public record Schedule(String name, long seed, long durationMs, List<Event> events) {
  public Schedule {
    List<Event> sorted = new ArrayList<>(events);
    sorted.sort(Comparator.comparingLong(Event::atMs));
    events = List.copyOf(sorted);
  }

  /**
   * One fault.
   *
   * @param atMs start, from the workload's start
   * @param fault what
   * @param target where (a node selector)
   * @param durationMs how long until it heals (0 for crashes)
   */
  public record Event(long atMs, Fault fault, String target, long durationMs) {
    @JsonIgnore
    public long endMs() {
      return atMs + durationMs;
    }

    @Override
    public String toString() {
      return fault.id() + "(" + target + ") @" + atMs + "ms for " + durationMs + "ms";
    }
  }

  public Schedule withEvents(List<Event> es) {
    return new Schedule(name, seed, durationMs, es);
  }

  public Schedule named(String n) {
    return new Schedule(n, seed, durationMs, events);
  }

  public String toJson() {
    try {
      return History.JSON.copy().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(this);
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }

  public void write(Path file) throws IOException {
    Files.createDirectories(file.toAbsolutePath().getParent());
    Files.writeString(file, toJson() + "\n");
  }

  public static Schedule read(Path file) throws IOException {
    return History.JSON.readValue(file.toFile(), Schedule.class);
  }

  /** A schedule from the test resources ({@code /schedules/<name>.json}). */
  public static Schedule resource(String name) throws IOException {
    try (InputStream in = Schedule.class.getResourceAsStream("/schedules/" + name + ".json")) {
      if (in == null) {
        throw new IOException("no schedule resource " + name);
      }
      return History.JSON.readValue(in, Schedule.class);
    }
  }

  @Override
  public String toString() {
    return name + " (seed " + seed + ", " + durationMs + " ms): " + events;
  }
}
