package io.raftmq.chaos;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * What one run of a schedule gave: every check, the workload's counts, the faults injected, and where
 * its artifacts were kept (only when it failed).
 */
public record RunResult(Schedule schedule, List<CheckResult> checks, long attempted, long acked,
    Map<String, Integer> faults, long wallMillis, Path keptAt, List<KnownIssue> knownIssues) {

  public boolean failed() {
    return checks.stream().anyMatch(c -> !c.ok());
  }

  public CheckResult check(String name) {
    return checks.stream().filter(c -> c.name().equals(name)).findFirst()
        .orElseThrow(() -> new IllegalArgumentException("no check " + name));
  }

  public String summary() {
    StringBuilder b = new StringBuilder();
    b.append(failed() ? "FAILED " : "passed ").append(schedule.name()).append(" seed=").append(schedule.seed())
        .append(" in ").append(wallMillis / 1000).append(" s: sends attempted=").append(attempted)
        .append(" acked=").append(acked).append(" faults=").append(faults).append('\n');
    for (CheckResult c : checks) {
      b.append("  ").append(c).append('\n');
    }
    for (KnownIssue k : knownIssues) {
      b.append("  node logs match known issue ").append(k).append(KnownIssue.explains(knownIssues, this)
          ? " (it explains every failed check)" : " (it does not explain every failed check)").append('\n');
    }
    if (keptAt != null) {
      b.append("  artifacts: ").append(keptAt).append('\n');
    }
    return b.toString();
  }
}
