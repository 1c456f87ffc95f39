package io.raftmq.chaos;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The outcome of one named check: how many violations it found (0 = it holds), the counts that say
 * what it looked at, and a few examples of violations to start an investigation from.
 */
public record CheckResult(String name, long violations, Map<String, Long> counts, List<String> examples) {
  public CheckResult {
    counts = new LinkedHashMap<>(counts);
    examples = List.copyOf(examples.subList(0, Math.min(examples.size(), 10)));
  }

  public boolean ok() {
    return violations == 0;
  }

  @Override
  public String toString() {
    return (ok() ? "PASS " : "FAIL ") + name + " violations=" + violations + " " + counts
        + (examples.isEmpty() ? "" : " e.g. " + examples);
  }
}
