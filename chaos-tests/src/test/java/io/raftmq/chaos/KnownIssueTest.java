package io.raftmq.chaos;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Quarantine is narrow: a known issue excuses only the failure it explains, never a safety check. */
class KnownIssueTest {
  /** An example issue (the one this suite once had: a follower stuck after a snapshot install, now fixed). */
  private static final KnownIssue STUCK = new KnownIssue("STUCK_FOLLOWER_EXAMPLE",
      List.of("Entry term less than RaftLog's last term", "Difference between entry index and RaftLog's last index"),
      "liveness", "replicas' high watermarks still differ");

  private static RunResult result(CheckResult... checks) {
    return new RunResult(new Schedule("s", 1, 1000, List.of()), List.of(checks), 10, 10, Map.of(), 1, null,
        List.of(STUCK));
  }

  private static CheckResult pass(String name) {
    return new CheckResult(name, 0, Map.of(), List.of());
  }

  @Test
  void shouldRecogniseTheSignatureInANodeLog(@TempDir Path dir) throws Exception {
    Files.writeString(dir.resolve("a.log"), "x\nCaused by: java.lang.IllegalStateException: Entry term less than "
        + "RaftLog's last term: 3, entry: term: 2\n");
    Files.writeString(dir.resolve("b.log"), "all fine\n");
    Files.writeString(dir.resolve("c.log"), "java.lang.IllegalStateException: Difference between entry index and "
        + "RaftLog's last index 146 (or snapshot index 1424) is greater than 1\n");
    assertThat(KnownIssue.diagnose(List.of(STUCK), List.of(dir.resolve("c.log")))).containsExactly(STUCK);
    assertThat(KnownIssue.diagnose(List.of(STUCK), List.of(dir.resolve("a.log"), dir.resolve("b.log"))))
        .containsExactly(STUCK);
    assertThat(KnownIssue.diagnose(List.of(STUCK), List.of(dir.resolve("b.log"), dir.resolve("missing.log")))).isEmpty();
  }

  @Test
  void shouldKnowNoIssueToday(@TempDir Path dir) throws Exception {
    Files.writeString(dir.resolve("a.log"), "java.lang.IllegalStateException: Entry term less than "
        + "RaftLog's last term: 3, entry: term: 2\n");
    assertThat(KnownIssue.ALL).isEmpty();
    assertThat(KnownIssue.diagnose(List.of(dir.resolve("a.log")))).isEmpty();
  }

  @Test
  void shouldExplainOnlyAStuckReplica() {
    RunResult stuck = result(pass("lost"), new CheckResult("liveness", 1, Map.of(),
        List.of("replicas' high watermarks still differ 30 s after the drain")));
    assertThat(KnownIssue.explains(List.of(STUCK), stuck)).isTrue();
  }

  @Test
  void shouldNeverExplainASafetyViolation() {
    RunResult lost = result(new CheckResult("lost", 3, Map.of(), List.of("p1-1 acked at 0/1 never read")),
        new CheckResult("liveness", 1, Map.of(), List.of("replicas' high watermarks still differ 30 s after the drain")));
    assertThat(KnownIssue.explains(List.of(STUCK), lost)).isFalse();
  }

  @Test
  void shouldNotExplainOtherLivenessFailures() {
    RunResult noLeader = result(new CheckResult("liveness", 2, Map.of(),
        List.of("replicas' high watermarks still differ 30 s after the drain",
            "a partition without a leader 10 s after healing")));
    assertThat(KnownIssue.explains(List.of(STUCK), noLeader)).isFalse();
    assertThat(KnownIssue.explains(List.of(), result(new CheckResult("liveness", 1, Map.of(),
        List.of("replicas' high watermarks still differ 30 s after the drain"))))).isFalse();
  }
}
