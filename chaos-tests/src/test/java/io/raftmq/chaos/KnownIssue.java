package io.raftmq.chaos;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * Bugs the suite found in the stack that are reported but not fixed yet, each recognised by a
 * signature in a node's log. A failing run names the ones it matches in its summary. The gate
 * quarantines a run (reports it as aborted, loudly, instead of failed) only when every failing check
 * is one the issue explains; safety checks are never quarantined. The soak counts them as violations.
 */
enum KnownIssue {
  /**
   * Ratis 3.3.0 follower: an appendEntries that arrives late (held in a gRPC stream across a partition,
   * or accepted while a leader-driven snapshot install is under way) is appended after the install
   * completed, with entries at or below the installed snapshot index. Ratis' own checks then fail
   * ("Entry term less than RaftLog's last term", "Difference between entry index and RaftLog's last
   * index", "lastWrittenIndex == ...") and either every later append fails or the group's division
   * closes itself: that replica stays behind until the node restarts. Liveness only: the other two
   * replicas keep committing, nothing acknowledged is lost, and the replica's stored prefix is intact.
   */
  RATIS_STALE_APPEND_AFTER_SNAPSHOT_INSTALL(List.of("Entry term less than RaftLog's last term",
      "Difference between entry index and RaftLog's last index", "SegmentedRaftLogWorker hit exception"),
      "liveness", "replicas' high watermarks still differ");

  final List<String> logSignatures;
  final String check;
  final String violation;

  KnownIssue(List<String> logSignatures, String check, String violation) {
    this.logSignatures = logSignatures;
    this.check = check;
    this.violation = violation;
  }

  /** The known issues whose signature appears in any of {@code logs}. */
  static List<KnownIssue> diagnose(List<Path> logs) {
    List<KnownIssue> found = new ArrayList<>();
    for (KnownIssue issue : values()) {
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
