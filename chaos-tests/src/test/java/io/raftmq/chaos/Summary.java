package io.raftmq.chaos;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/** The summary table of a set of runs: one line per run, then faults by kind and violations per check. */
final class Summary {
  private Summary() {}

  static String table(List<RunResult> runs) {
    StringBuilder b = new StringBuilder();
    b.append(String.format("%-36s %20s %6s %9s %9s  %s%n", "schedule", "seed", "wall s", "attempted", "acked",
        "result"));
    long attempted = 0;
    long acked = 0;
    long wall = 0;
    Map<String, Long> faults = new TreeMap<>();
    Map<String, Long> violations = new LinkedHashMap<>();
    int failed = 0;
    for (RunResult r : runs) {
      b.append(String.format("%-36s %20d %6d %9d %9d  %s%n", r.schedule().name(), r.schedule().seed(),
          r.wallMillis() / 1000, r.attempted(), r.acked(), r.failed() ? "FAILED " + (r.knownIssues().isEmpty() ? "" : "(known issue " + r.knownIssues() + ") ")
              + r.keptAt() : "ok"));
      attempted += r.attempted();
      acked += r.acked();
      wall += r.wallMillis();
      failed += r.failed() ? 1 : 0;
      r.faults().forEach((k, v) -> faults.merge(k, (long) v, Long::sum));
      for (CheckResult c : r.checks()) {
        violations.merge(c.name(), c.violations(), Long::sum);
      }
    }
    b.append(String.format("%n%d runs (%d failed) in %d s: sends attempted %d, acknowledged %d%n", runs.size(),
        failed, wall / 1000, attempted, acked));
    b.append("faults injected by kind:\n");
    faults.forEach((k, v) -> b.append(String.format("  %-24s %6d%n", k, v)));
    long known = runs.stream().filter(r -> KnownIssue.explains(r.knownIssues(), r)).count();
    if (known > 0) {
      b.append(String.format("failed runs fully explained by a known issue (chaos-tests/README.md): %d%n", known));
    }
    b.append("violations per check:\n");
    violations.forEach((k, v) -> b.append(String.format("  %-24s %6d%n", k, v)));
    return b.toString();
  }
}
