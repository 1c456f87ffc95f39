package io.raftmq.chaos;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The checker is checked against a real broker with a planted bug: nodes started with the hidden
 * {@code --unsafe-ack-before-commit-for-tests} flag acknowledge a produce when the leader appends it,
 * before the quorum commit. A leader that is cut off keeps acknowledging sends that the new leader
 * never has, so the suite must report lost acknowledged messages within a few schedules.
 */
class UnsafeBrokerIT {
  static final int MAX_SCHEDULES = 3;

  @Test
  void shouldFailWithinAFewSchedulesAgainstABrokerThatAcksBeforeCommit() throws Exception {
    String reason = ChaosNetwork.unavailableReason();
    assumeTrue(reason == null, "skipped: " + reason);
    ChaosRunner runner = new ChaosRunner(ChaosRunner.Options.defaults().unsafe(true)
        .failuresIn(java.nio.file.Path.of("target", "chaos-unsafe-runs")));
    List<Schedule> schedules = new ArrayList<>();
    schedules.add(Schedule.resource("isolate-leader").named("unsafe-isolate-leader"));
    for (long seed = 1; schedules.size() < MAX_SCHEDULES; seed++) {
      schedules.add(ScheduleGenerator.generate(seed, 30_000).named("unsafe-random-" + seed));
    }
    List<String> tried = new ArrayList<>();
    RunResult failing = null;
    for (Schedule s : schedules) {
      RunResult r = runner.run(s);
      tried.add(r.summary());
      if (r.failed()) {
        failing = r;
        break;
      }
    }
    assertThat(failing).as("the unsafe broker passed %d schedules:\n%s", tried.size(), tried).isNotNull();
    assertThat(failing.check("lost").violations())
        .as("acknowledged messages were lost\n%s", failing.summary()).isPositive();
    assertThat(failing.checks()).as("the harness itself worked").noneMatch(c -> c.name().equals("harness"));
  }
}
