package io.raftmq.chaos;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * The chaos gate of {@code mvn verify}: the named scenarios, every regression schedule kept in
 * {@code src/test/resources/schedules/}, and a few random schedules (fixed seeds plus one drawn from
 * the commit being tested), each on a fresh three-node cluster in network namespaces. Skipped, with the
 * reason, where namespaces and nftables are not available.
 *
 * <p>{@code -Draftmq.chaos.gate=full} runs the fuller gate: random schedules of 30 s instead of 20 s and
 * one more fixed seed (11). The default keeps {@code mvn verify} inside its time budget on two cores.
 */
class ChaosGateIT {
  /** The named scenarios (research/reliability.md §7.1). */
  static final List<String> SCENARIOS = List.of("kill-leader-during-append", "kill-all-bounce",
      "stale-leader-pause", "isolate-leader", "bridge", "follower-catch-up-by-snapshot");
  static final boolean FULL = "full".equals(System.getProperty("raftmq.chaos.gate"));
  static final long RANDOM_DURATION_MS = FULL ? 30_000 : 20_000;

  private static final List<RunResult> results = new ArrayList<>();

  @BeforeAll
  static void requireNamespaces() {
    String reason = ChaosNetwork.unavailableReason();
    assumeTrue(reason == null, "chaos gate skipped: " + reason);
  }

  @TestFactory
  Stream<DynamicTest> namedScenarios() {
    return SCENARIOS.stream().map(name -> DynamicTest.dynamicTest(name, () -> {
      RunResult r = run(Schedule.resource(name));
      if (name.equals("follower-catch-up-by-snapshot")) {
        assertThat(r.faults().getOrDefault("(snapshot-installs)", 0))
            .as("a follower caught up by snapshot install\n%s", r.summary()).isPositive();
      }
    }));
  }

  @TestFactory
  Stream<DynamicTest> regressions() throws IOException, URISyntaxException {
    URL dir = ChaosGateIT.class.getResource("/schedules");
    List<Path> files = new ArrayList<>();
    try (Stream<Path> s = Files.list(Path.of(dir.toURI()))) {
      s.filter(p -> p.getFileName().toString().startsWith("regression-")).sorted().forEach(files::add);
    }
    // A regression whose faults are those of a named scenario is covered by that scenario's run.
    List<List<Schedule.Event>> named = new ArrayList<>();
    for (String name : SCENARIOS) {
      named.add(Schedule.resource(name).events());
    }
    return files.stream().map(f -> DynamicTest.dynamicTest(f.getFileName().toString(), () -> {
      Schedule s = Schedule.read(f);
      if (named.contains(s.events())) {
        System.out.println(s.name() + ": same faults as a named scenario, which this gate runs");
        return;
      }
      run(s);
    }));
  }

  /** The random schedules; the one of seed 12 also runs queue consumers (queue-lost, queue-redelivery). */
  @TestFactory
  Stream<DynamicTest> randomSchedules() {
    return gateSeeds().stream().map(seed -> seed == 12L
        ? DynamicTest.dynamicTest("random seed 12 with queue consumers", () -> {
          RunResult r = run(ScheduleGenerator.generate(seed, RANDOM_DURATION_MS).named("random-12-queue"),
              ChaosRunner.Options.defaults().queueConsumers(2));
          assertThat(r.check("queue-redelivery").counts().get("messages-delivered"))
              .as("the queue group took messages").isPositive();
        })
        : DynamicTest.dynamicTest("random seed " + seed, () -> run(ScheduleGenerator.generate(seed, RANDOM_DURATION_MS))));
  }

  /** The log workload with its consumers in a consumer group: commits to the broker, rebalances on crashes. */
  @TestFactory
  Stream<DynamicTest> groupConsumers() {
    return Stream.of(DynamicTest.dynamicTest("group consumers, random seed 27", () -> {
      RunResult r = run(ScheduleGenerator.generate(27, RANDOM_DURATION_MS).named("random-27-group"),
          ChaosRunner.Options.defaults().groupConsumers(true));
      assertThat(r.check("committed-offsets").counts().get("commits")).as("the group committed").isPositive();
    }));
  }

  /**
   * Seed 12 (with queue consumers), one drawn from the commit under test (so each commit explores a new
   * one) and, in the full gate, seed 11.
   */
  static List<Long> gateSeeds() {
    List<Long> seeds = new ArrayList<>(FULL ? List.of(11L, 12L) : List.of(12L));
    try {
      ChaosNetwork.Result head = ChaosNetwork.run(List.of("git", "rev-parse", "HEAD"));
      if (head.code() == 0 && head.output().length() >= 12) {
        seeds.add(Long.parseLong(head.output().substring(0, 12), 16));
      } else {
        seeds.add(13L);
      }
    } catch (IOException e) {
      seeds.add(13L);
    }
    return seeds;
  }

  private static RunResult run(Schedule s) throws Exception {
    return run(s, ChaosRunner.Options.defaults());
  }

  private static RunResult run(Schedule s, ChaosRunner.Options options) throws Exception {
    RunResult r = new ChaosRunner(options).run(s);
    synchronized (results) {
      results.add(r);
    }
    if (KnownIssue.explains(r.knownIssues(), r)) {
      // A reported, unfixed bug of the stack (see chaos-tests/README.md, "Known issues"): shown as an
      // aborted test with the whole summary, never as a pass; safety violations are never quarantined.
      System.out.println("QUARANTINED (known issue " + r.knownIssues() + "):\n" + r.summary());
      org.junit.jupiter.api.Assumptions.abort("QUARANTINED: known issue " + r.knownIssues() + "\n" + r.summary());
    }
    assertThat(r.failed()).as("chaos run failed; replay with scripts/chaos.sh --schedule %s\n%s",
        r.keptAt() == null ? "?" : r.keptAt().resolve("schedule.json"), r.summary()).isFalse();
    assertThat(r.acked()).as("the workload made progress").isGreaterThan(100);
    return r;
  }

  @AfterAll
  static void writeSummary() throws IOException {
    if (!results.isEmpty()) {
      String table = Summary.table(results);
      System.out.println(table);
      Files.writeString(Path.of("target", "chaos-gate-summary.txt"), table);
    }
  }
}
