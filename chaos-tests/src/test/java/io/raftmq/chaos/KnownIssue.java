package io.raftmq.chaos;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * A bug the suite found in the stack that is reported but not fixed yet, recognised by a signature in a
 * node's log. A failing run names the ones it matches in its summary. The gate quarantines a run
 * (reports it as aborted, loudly, instead of failed) only when every failing check is one the issue
 * explains; safety checks are never quarantined. The soak counts them as violations.
 *
 * <p>{@link #ALL} lists the issues known today: none. The one that was here,
 * {@code RATIS_STALE_APPEND_AFTER_SNAPSHOT_INSTALL} (a follower stuck after a snapshot install raced
 * with older appends), is fixed in the broker; see chaos-tests/README.md, "Bugs this suite found". Add
 * an issue here only with its report and a regression schedule, and remove it with its fix.
 *
 * @param name shown in summaries
 * @param logSignatures texts of which any one, in any node's log, identifies the issue
 * @param check the name of the only check whose failures the issue may explain
 * @param violation the start of the only violation text the issue may explain
 */
record KnownIssue(String name, List<String> logSignatures, String check, String violation) {
  /** Every known issue the suite diagnoses. */
  static final List<KnownIssue> ALL = List.of();

  /** The known issues whose signature appears in any of {@code logs}. */
  static List<KnownIssue> diagnose(List<Path> logs) {
    return diagnose(ALL, logs);
  }

  static List<KnownIssue> diagnose(List<KnownIssue> candidates, List<Path> logs) {
    List<KnownIssue> found = new ArrayList<>();
    for (KnownIssue issue : candidates) {
      for (Path log : logs) {
        if (issue.logSignatures.stream().anyMatch(sig -> contains(log, sig))) {
          found.add(issue);
          break;
        }
      }
    }
    return found;
  }

  /** Whether every failing check of {@code r} is fully explained by one of {@code issues}. */
  static boolean explains(List<KnownIssue> issues, RunResult r) {
    if (issues.isEmpty() || !r.failed()) {
      return false;
    }
    for (CheckResult c : r.checks()) {
      if (c.ok()) {
        continue;
      }
      boolean explained = issues.stream().anyMatch(i -> i.check.equals(c.name())
          && c.examples().size() == c.violations()
          && c.examples().stream().allMatch(e -> e.startsWith(i.violation)));
      if (!explained) {
        return false;
      }
    }
    return true;
  }

  @Override
  public String toString() {
    return name;
  }

  private static boolean contains(Path log, String text) {
    if (!Files.exists(log)) {
      return false;
    }
    try (Stream<String> lines = Files.lines(log, java.nio.charset.StandardCharsets.ISO_8859_1)) {
      return lines.anyMatch(l -> l.contains(text));
    } catch (IOException | java.io.UncheckedIOException e) {
      return false;
    }
  }
}
