package io.raftmq.chaos;

import java.util.ArrayList;
import java.util.List;

/**
 * Shrinks a failing schedule to a smaller one that still fails: first delta debugging over its events
 * (drop halves, then quarters, ... of the events while it still fails), then halving each remaining
 * fault's duration while it still fails, then cutting the run short after the last fault. Every
 * candidate costs a real run, so a budget bounds the number of trials; since timing makes a replay only
 * roughly deterministic, a candidate is accepted only when it fails {@code confirmations} times in a row.
 */
public final class Shrinker {
  /** Runs a candidate; true when it fails. */
  @FunctionalInterface
  public interface Trial {
    boolean fails(Schedule candidate) throws Exception;
  }

  /** The smallest failing schedule found, the trials spent, and what each accepted step did. */
  public record Outcome(Schedule schedule, int trials, List<String> steps) {}

  private final Trial trial;
  private final int budget;
  private final int confirmations;
  private int trials;
  private final List<String> steps = new ArrayList<>();

  public Shrinker(Trial trial, int budget, int confirmations) {
    this.trial = trial;
    this.budget = budget;
    this.confirmations = confirmations;
  }

  public Outcome shrink(Schedule failing) throws Exception {
    Schedule current = failing;
    // 1. ddmin over events: try removing each of n chunks.
    int n = 2;
    while (current.events().size() >= 1 && trials < budget) {
      List<Schedule.Event> events = current.events();
      int size = events.size();
      n = Math.min(n, size);
      boolean reduced = false;
      for (int i = 0; i < n && trials < budget; i++) {
        int from = i * size / n;
        int to = (i + 1) * size / n;
        List<Schedule.Event> rest = new ArrayList<>(events.subList(0, from));
        rest.addAll(events.subList(to, size));
        Schedule candidate = current.withEvents(rest);
        if (confirmedFailing(candidate)) {
          steps.add("removed " + events.subList(from, to));
          current = candidate;
          n = Math.max(n - 1, 2);
          reduced = true;
          break;
        }
      }
      if (!reduced) {
        if (n >= size) {
          break;
        }
        n = Math.min(2 * n, size);
      }
    }
    // 2. Halve durations while it still fails.
    for (int i = 0; i < current.events().size() && trials < budget; i++) {
      while (trials < budget) {
        Schedule.Event e = current.events().get(i);
        if (e.durationMs() < 200) {
          break;
        }
        List<Schedule.Event> es = new ArrayList<>(current.events());
        es.set(i, new Schedule.Event(e.atMs(), e.fault(), e.target(), e.durationMs() / 2));
        Schedule candidate = current.withEvents(es);
        if (!confirmedFailing(candidate)) {
          break;
        }
        steps.add("halved " + e);
        current = candidate;
      }
    }
    // 3. End the run soon after the last fault heals.
    long lastEnd = current.events().stream().mapToLong(Schedule.Event::endMs).max().orElse(0);
    long shorter = Math.max(lastEnd + 3000, 5000);
    if (shorter < current.durationMs() && trials < budget) {
      Schedule candidate = new Schedule(current.name(), current.seed(), shorter, current.events());
      if (confirmedFailing(candidate)) {
        steps.add("run shortened to " + shorter + " ms");
        current = candidate;
      }
    }
    return new Outcome(current, trials, List.copyOf(steps));
  }

  private boolean confirmedFailing(Schedule candidate) throws Exception {
    for (int i = 0; i < confirmations; i++) {
      if (trials >= budget) {
        return false;
      }
      trials++;
      if (!trial.fails(candidate)) {
        return false;
      }
    }
    return true;
  }
}
