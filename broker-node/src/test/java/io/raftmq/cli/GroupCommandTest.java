package io.raftmq.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.raftmq.cli.RaftMqCliTest.Run;
import io.raftmq.client.GroupDescription;
import io.raftmq.client.GroupListing;
import io.raftmq.client.OffsetResetPlan;
import io.raftmq.client.OffsetResetSpec;
import io.raftmq.client.TopicPartition;
import java.io.ByteArrayInputStream;
import java.time.Instant;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** Parsing and rendering of {@code raftmq group}, {@code consume --group} and {@code bench consume|e2e}, without a cluster. */
class GroupCommandTest {
  private static Run run(String... args) {
    return RaftMqCliTest.run(args);
  }

  /** The reset target picocli parsed from {@code args} (after {@code group reset-offsets g --topic t}). */
  private static OffsetResetSpec resetSpec(String... target) {
    RaftMqCli cli = new RaftMqCli(new ByteArrayInputStream(new byte[0]));
    String[] args = new String[4 + target.length];
    System.arraycopy(new String[] {"group", "reset-offsets", "g", "--topic=t"}, 0, args, 0, 4);
    System.arraycopy(target, 0, args, 4, target.length);
    CommandLine.ParseResult pr = new CommandLine(cli).parseArgs(args);
    GroupCommand.ResetOffsets reset = (GroupCommand.ResetOffsets) pr.subcommand().subcommand().commandSpec().userObject();
    return reset.target.spec();
  }

  private static TopicPartition tp(String topic, int partition) {
    return new TopicPartition(topic, partition);
  }

  @Test
  void shouldParseEachResetTarget() {
    assertThat(resetSpec("--to-earliest")).isEqualTo(new OffsetResetSpec.ToEarliest());
    assertThat(resetSpec("--to-latest")).isEqualTo(new OffsetResetSpec.ToLatest());
    assertThat(resetSpec("--to-offset", "42")).isEqualTo(new OffsetResetSpec.ToOffset(42));
    assertThat(resetSpec("--shift-by", "-10")).isEqualTo(new OffsetResetSpec.ShiftBy(-10));
    assertThat(resetSpec("--shift-by", "5")).isEqualTo(new OffsetResetSpec.ShiftBy(5));
    assertThat(resetSpec("--to-datetime", "2024-05-01T12:00"))
        .isEqualTo(new OffsetResetSpec.ToDatetime(Instant.parse("2024-05-01T12:00:00Z")));
    assertThat(resetSpec("--to-datetime", "2024-05-01T14:00:00+02:00"))
        .isEqualTo(new OffsetResetSpec.ToDatetime(Instant.parse("2024-05-01T12:00:00Z")));
  }

  @Test
  void shouldRefuseTwoResetTargetsAsAUsageError() {
    Run r = run("group", "reset-offsets", "g", "--topic", "t", "--to-offset", "5", "--to-latest");
    assertThat(r.exitCode()).isEqualTo(RaftMqCli.EXIT_USAGE);
    assertThat(r.err().lines()).singleElement().asString()
        .startsWith("error: --to-latest, --to-offset=N are mutually exclusive")
        .contains("raftmq group reset-offsets --help");
    assertThat(r.out()).isEmpty();

    Run twice = run("group", "reset-offsets", "g", "--topic", "t", "--to-earliest", "--shift-by", "1", "--execute");
    assertThat(twice.exitCode()).isEqualTo(RaftMqCli.EXIT_USAGE);
    assertThat(twice.err()).contains("mutually exclusive");
  }

  @Test
  void shouldRequireOneResetTargetAndATopic() {
    Run none = run("group", "reset-offsets", "g", "--topic", "t", "--execute");
    assertThat(none.exitCode()).isEqualTo(RaftMqCli.EXIT_USAGE);
    assertThat(none.err().lines()).singleElement().asString().startsWith("error: Missing required argument")
        .contains("--to-earliest | --to-latest | --to-offset=N | --to-datetime=ISO | --shift-by=N");

    Run noTopic = run("group", "reset-offsets", "g", "--to-earliest");
    assertThat(noTopic.exitCode()).isEqualTo(RaftMqCli.EXIT_USAGE);
    assertThat(noTopic.err()).contains("--topic");

    Run noGroup = run("group", "reset-offsets", "--topic", "t", "--to-earliest");
    assertThat(noGroup.exitCode()).isEqualTo(RaftMqCli.EXIT_USAGE);
    assertThat(noGroup.err()).contains("GROUP");
  }

  @Test
  void shouldRejectBadResetValues() {
    Run date = run("group", "reset-offsets", "g", "--topic", "t", "--to-datetime", "yesterday");
    assertThat(date.exitCode()).isEqualTo(RaftMqCli.EXIT_USAGE);
    assertThat(date.err().lines()).singleElement().asString().contains("bad date-time 'yesterday'");

    Run notNumber = run("group", "reset-offsets", "g", "--topic", "t", "--to-offset", "ten");
    assertThat(notNumber.exitCode()).isEqualTo(RaftMqCli.EXIT_USAGE);

    // Checked before any connection is made.
    Run negative = run("group", "reset-offsets", "g", "--topic", "t", "--to-offset", "-1");
    assertThat(negative.exitCode()).isEqualTo(RaftMqCli.EXIT_ERROR);
    assertThat(negative.err()).isEqualTo("error: --to-offset must be >= 0" + System.lineSeparator());
  }

  @Test
  void shouldExit2ForAMissingGroupSubcommandOrArgument() {
    Run r = run("group");
    assertThat(r.exitCode()).isEqualTo(RaftMqCli.EXIT_USAGE);
    assertThat(r.err()).startsWith("error: missing subcommand: list, describe, reset-offsets or delete");
    assertThat(run("group", "describe").exitCode()).isEqualTo(RaftMqCli.EXIT_USAGE);
    assertThat(run("group", "delete").exitCode()).isEqualTo(RaftMqCli.EXIT_USAGE);
    assertThat(run("bench").err()).contains("produce, consume, e2e or queue");
  }

  @Test
  void shouldRefuseConsumeOptionsThatContradictAGroup() {
    Run partition = run("consume", "t", "--group", "g", "--partition", "0");
    assertThat(partition.exitCode()).isEqualTo(RaftMqCli.EXIT_USAGE);
    assertThat(partition.err().lines()).singleElement().asString()
        .contains("--partition and --group cannot be combined");

    Run offset = run("consume", "t", "--group", "g", "--from", "5");
    assertThat(offset.exitCode()).isEqualTo(RaftMqCli.EXIT_USAGE);
    assertThat(offset.err()).contains("--from OFFSET cannot be used with --group").contains("reset-offsets");
  }

  @Test
  void shouldAcceptConsumeWithAGroupAndEarliest() {
    // Parses and gets as far as connecting (exit 1 from the unreachable broker, not 2 from the parser).
    Run r = run("--bootstrap", "127.0.0.1:" + RaftMqCliTest.deadPort(), "--request-timeout", "300ms",
        "consume", "t", "--group", "g", "--from", "earliest", "--max-messages", "3");
    assertThat(r.exitCode()).isEqualTo(RaftMqCli.EXIT_ERROR);
    assertThat(r.err().lines()).singleElement().asString().startsWith("error: ");
  }

  @Test
  void shouldValidateBenchOptionsBeforeConnecting() {
    Run rate = run("bench", "e2e", "--topic", "t", "--rate", "0");
    assertThat(rate.exitCode()).isEqualTo(RaftMqCli.EXIT_ERROR);
    assertThat(rate.err()).isEqualTo("error: --rate must be at least 1" + System.lineSeparator());

    Run tooShort = run("bench", "e2e", "--topic", "t", "--rate", "10", "--duration", "50ms");
    assertThat(tooShort.exitCode()).isEqualTo(RaftMqCli.EXIT_ERROR);
    assertThat(tooShort.err()).contains("less than one message");

    Run consumers = run("bench", "consume", "--topic", "t", "--consumers", "0");
    assertThat(consumers.exitCode()).isEqualTo(RaftMqCli.EXIT_ERROR);
    assertThat(consumers.err()).isEqualTo("error: --consumers must be at least 1" + System.lineSeparator());

    Run missingTopic = run("bench", "consume");
    assertThat(missingTopic.exitCode()).isEqualTo(RaftMqCli.EXIT_USAGE);
    assertThat(missingTopic.err()).contains("--topic");
  }

  @Test
  void shouldRenderHelpForTheNewCommands() {
    for (String[] args : new String[][] {{"group", "--help"}, {"group", "list", "--help"}, {"group", "describe", "--help"},
        {"group", "reset-offsets", "--help"}, {"group", "delete", "--help"}, {"bench", "consume", "--help"},
        {"bench", "e2e", "--help"}}) {
      Run r = run(args);
      assertThat(r.exitCode()).as(String.join(" ", args)).isZero();
      assertThat(r.out()).as(String.join(" ", args)).startsWith("Usage: raftmq");
    }
    String resetHelp = run("group", "reset-offsets", "--help").out().replaceAll("\\s+", " ");
    assertThat(resetHelp).contains("the time is UTC")
        .contains("(--to-earliest | --to-latest | --to-offset=N | --to-datetime=ISO | --shift-by=N)");
    assertThat(run("consume", "--help").out()).contains("--group=GROUP");
  }

  @Test
  void shouldListGroupsAsATable() {
    String s = GroupCommand.ListGroups.render(List.of(
        new GroupListing("billing", "Stable", 12, 3, List.of("orders", "refunds")),
        new GroupListing("audit", "Empty", 4, 0, List.of())));
    assertThat(s).isEqualTo("""
        GROUP    TYPE    STATE   GENERATION  MEMBERS  TOPICS
        audit    stream  Empty   4           0        -
        billing  stream  Stable  12          3        orders,refunds
        """);
    assertThat(GroupCommand.ListGroups.render(List.of())).isEmpty();
  }

  @Test
  void shouldDescribeAGroupWithLagMembersAndIdleOnes() {
    GroupDescription d = new GroupDescription("billing", "Reconciling", 7, "cooperative-sticky",
        List.of(
            new GroupDescription.Member("m-1", "app", "10.0.0.1", List.of("orders"),
                Set.of(tp("orders", 1), tp("orders", 0)), Set.of(tp("orders", 0), tp("orders", 1))),
            new GroupDescription.Member("m-2", "app", "10.0.0.2", List.of("orders"),
                Set.of(tp("orders", 2)), Set.of()),
            new GroupDescription.Member("m-3", "", "10.0.0.3", List.of("orders"), Set.of(), Set.of())),
        List.of(
            new GroupDescription.PartitionLag(tp("orders", 2), -1, 30, 30, "m-2", "10.0.0.2"),
            new GroupDescription.PartitionLag(tp("orders", 0), 100, 120, 20, "m-1", "10.0.0.1"),
            new GroupDescription.PartitionLag(tp("orders", 1), 5, -1, -1, "", "")));
    assertThat(GroupCommand.Describe.render(d)).isEqualTo("""
        GROUP: billing  STATE: Reconciling  GENERATION: 7  ASSIGNOR: cooperative-sticky

        TOPIC   PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG  MEMBER  HOST
        orders  0          100             120             20   m-1     10.0.0.1
        orders  1          5               -               -    -       -
        orders  2          -               30              30   m-2     10.0.0.2

        MEMBER  CLIENT-ID  HOST      ASSIGNMENT
        m-1     app        10.0.0.1  orders:0,1
        m-2     app        10.0.0.2  orders:2 (target idle)
        m-3     -          10.0.0.3  idle
        """);
  }

  @Test
  void shouldSayWhenAGroupHasNoMembers() {
    GroupDescription d = new GroupDescription("g", "Empty", 3, "range", List.of(),
        List.of(new GroupDescription.PartitionLag(tp("t", 0), 10, 10, 0, "", "")));
    assertThat(GroupCommand.Describe.render(d)).endsWith("""
        TOPIC  PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG  MEMBER  HOST
        t      0          10              10              0    -       -

        no active members
        """);
  }

  @Test
  void shouldShowAMemberTakingOverPartitionsAndSeveralTopics() {
    GroupDescription.Member m = new GroupDescription.Member("m", "c", "h", List.of("a", "b"),
        Set.of(tp("b", 0)), Set.of(tp("b", 0), tp("a", 3), tp("a", 1)));
    assertThat(GroupCommand.Describe.assignment(m)).isEqualTo("b:0 (target a:1,3 b:0)");
    GroupDescription.Member joining = new GroupDescription.Member("m", "c", "h", List.of("a"), Set.of(), Set.of(tp("a", 0)));
    assertThat(GroupCommand.Describe.assignment(joining)).isEqualTo("none (target a:0)");
  }

  @Test
  void shouldRenderAResetPlanByPartition() {
    OffsetResetPlan plan = new OffsetResetPlan("g", false, List.of(
        new OffsetResetPlan.Row(tp("t", 1), -1, 0),
        new OffsetResetPlan.Row(tp("t", 0), 250, 0)));
    assertThat(GroupCommand.ResetOffsets.render(plan)).isEqualTo("""
        TOPIC  PARTITION  CURRENT-OFFSET  NEW-OFFSET
        t      0          250             0
        t      1          -               0
        """);
  }
}
