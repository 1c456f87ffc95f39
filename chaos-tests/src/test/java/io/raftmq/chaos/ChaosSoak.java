package io.raftmq.chaos;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The soak, started by hand through {@code scripts/chaos.sh} (not part of {@code mvn verify}: its name
 * matches no surefire include). System properties:
 *
 * <ul>
 *   <li>{@code chaos.schedules} (default 30): random schedules to run, seeds {@code chaos.seed},
 *       {@code chaos.seed + 1}, ... (default seed: the current time);
 *   <li>{@code chaos.duration} (default 60s): each random schedule's length;
 *   <li>{@code chaos.named} (default true): also run the named scenarios once;
 *   <li>{@code chaos.schedule}: instead, replay this schedule file (e.g. a failure's schedule.json);
 *   <li>{@code chaos.shrink} (default 0): trials allowed to shrink each failing schedule; the smallest
 *       failing schedule found is written next to the failure as {@code shrunk-schedule.json};
 *   <li>{@code chaos.unsafe} (default false): run the nodes with the planted ack-before-commit bug;
 *   <li>{@code chaos.raftSegmentBytes} (default 0: the broker's): Raft log segment size of the nodes.
 * </ul>
 *
 * Prints the summary table and writes it to {@code target/chaos-soak-summary.txt}; fails if any run did.
 */
class ChaosSoak {
  @Test
  void soak() throws Exception {
    String reason = ChaosNetwork.unavailableReason();
    assumeTrue(reason == null, "skipped: " + reason);
    ChaosRunner.Options options = ChaosRunner.Options.defaults()
        .unsafe(Boolean.parseBoolean(System.getProperty("chaos.unsafe", "false")));
    ChaosRunner runner = new ChaosRunner(options);
    int shrinkBudget = Integer.parseInt(System.getProperty("chaos.shrink", "0"));
    List<Schedule> schedules = new ArrayList<>();
    String file = System.getProperty("chaos.schedule", "");
    if (!file.isBlank()) {
      schedules.add(Schedule.read(Path.of(file)));
    } else {
      if (Boolean.parseBoolean(System.getProperty("chaos.named", "true"))) {
        for (String name : ChaosGateIT.SCENARIOS) {
          schedules.add(Schedule.resource(name));
        }
      }
      int count = Integer.parseInt(System.getProperty("chaos.schedules", "30"));
      long durationMs = parseDuration(System.getProperty("chaos.duration", "60s")).toMillis();
      String seedProp = System.getProperty("chaos.seed", "");
      long seed = seedProp.isBlank() ? System.currentTimeMillis() : Long.parseLong(seedProp);
      for (int i = 0; i < count; i++) {
        schedules.add(ScheduleGenerator.generate(seed + i, durationMs));
      }
    }
    List<RunResult> results = new ArrayList<>();
    Path summaryFile = Path.of("target", "chaos-soak-summary.txt");
    for (Schedule s : schedules) {
      RunResult r = runner.run(s);
      results.add(r);
      if (r.failed() && shrinkBudget > 0 && r.keptAt() != null) {
        Shrinker.Outcome out = new Shrinker(c -> runner.run(c.named(s.name() + "-shrink")).failed(),
            shrinkBudget, 1).shrink(s);
        out.schedule().named("shrunk-" + s.name()).write(r.keptAt().resolve("shrunk-schedule.json"));
        Files.writeString(r.keptAt().resolve("shrink.txt"), "trials: " + out.trials() + "\n"
            + String.join("\n", out.steps()) + "\n" + out.schedule() + "\n");
        ChaosRunner.log("shrunk " + s.name() + " in " + out.trials() + " trials to " + out.schedule());
      }
      Files.writeString(summaryFile, Summary.table(results));
    }
    String table = Summary.table(results);
    System.out.println(table);
    Files.writeString(summaryFile, table);
    assertThat(results).as(table).noneMatch(RunResult::failed);
  }

  static Duration parseDuration(String s) {
    String t = s.trim().toLowerCase(java.util.Locale.ROOT);
    if (t.endsWith("ms")) {
      return Duration.ofMillis(Long.parseLong(t.substring(0, t.length() - 2)));
    }
    if (t.endsWith("s")) {
      return Duration.ofSeconds(Long.parseLong(t.substring(0, t.length() - 1)));
    }
    if (t.endsWith("m")) {
      return Duration.ofMinutes(Long.parseLong(t.substring(0, t.length() - 1)));
    }
    return Duration.ofSeconds(Long.parseLong(t));
  }
}
