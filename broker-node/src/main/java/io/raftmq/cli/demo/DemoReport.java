package io.raftmq.cli.demo;

import java.util.ArrayList;
import java.util.List;

/**
 * The demo's result: one row per consumer group, the dead letters found in the DLQ topics, a few
 * lines about the run, and the named checks, each passed or failed with what was seen.
 */
public final class DemoReport {
  /** One check: its name, whether it passed, what was seen. */
  public record Check(String name, boolean passed, String detail) {}

  /** One consumer group's line of the summary. */
  record GroupRow(String group, String model, String processed, long duplicates, String order, String deadLetters,
      String backlog, long errors, boolean ok) {}

  /** One dead letter read from a DLQ topic. */
  record DeadLetterRow(String dlqTopic, String orderId, String customerId, String reason, String attempts,
      String source, String error) {}

  private final List<String> header = new ArrayList<>();
  private final List<String> notes = new ArrayList<>();
  private final List<GroupRow> groups = new ArrayList<>();
  private final List<DeadLetterRow> deadLetters = new ArrayList<>();
  private final List<Check> checks = new ArrayList<>();

  void line(String text) {
    header.add(text);
  }

  /** A line printed under the groups' table. */
  void note(String text) {
    notes.add(text);
  }

  void group(GroupRow row) {
    groups.add(row);
  }

  void deadLetter(DeadLetterRow row) {
    deadLetters.add(row);
  }

  /** Adds a check and returns whether it passed. */
  boolean check(String name, boolean passed, String detail) {
    checks.add(new Check(name, passed, detail));
    return passed;
  }

  /** Every check, in the order made. */
  public List<Check> checks() {
    return List.copyOf(checks);
  }

  /** The checks that failed. */
  public List<Check> failures() {
    return checks.stream().filter(c -> !c.passed()).toList();
  }

  /** Whether every check passed (and there was at least one). */
  public boolean passed() {
    return !checks.isEmpty() && failures().isEmpty();
  }

  /** The summary as text: the run, the groups' table, the dead letters, the checks and the verdict. */
  public String render() {
    StringBuilder sb = new StringBuilder();
    sb.append("== order-event bus: summary ==\n");
    header.forEach(l -> sb.append(l).append('\n'));
    sb.append('\n');
    Columns t = new Columns("GROUP", "CONSUMER", "PROCESSED", "DUPLICATES", "PER-CUSTOMER-ORDER", "DEAD-LETTERS",
        "LAG/BACKLOG", "ERRORS", "CHECK");
    for (GroupRow g : groups) {
      t.row(g.group(), g.model(), g.processed(), g.duplicates(), g.order(), g.deadLetters(), g.backlog(), g.errors(),
          g.ok() ? "ok" : "FAILED");
    }
    sb.append(t.render());
    notes.forEach(n -> sb.append(n).append('\n'));
    sb.append('\n');
    if (deadLetters.isEmpty()) {
      sb.append("dead letters: none found in the DLQ topics\n");
    } else {
      sb.append("dead letters, as read back from the DLQ topics (reason and attempts from their headers):\n");
      Columns d = new Columns("DLQ-TOPIC", "ORDER", "CUSTOMER", "REASON", "ATTEMPTS", "FROM", "ERROR");
      for (DeadLetterRow r : deadLetters) {
        d.row(r.dlqTopic(), r.orderId(), r.customerId(), r.reason(), r.attempts(), r.source(), r.error());
      }
      sb.append(d.render());
    }
    sb.append('\n');
    List<Check> failed = failures();
    if (failed.isEmpty()) {
      sb.append("result: all ").append(checks.size()).append(" checks passed\n");
    } else {
      sb.append("failed checks:\n");
      failed.forEach(c -> sb.append("  - ").append(c.name()).append(": ").append(c.detail()).append('\n'));
      sb.append("result: FAILED (").append(failed.size()).append(" of ").append(checks.size())
          .append(" checks failed)\n");
    }
    return sb.toString();
  }

  /** Every check with its detail, one per line (for a test's failure message, or -v). */
  public String renderChecks() {
    StringBuilder sb = new StringBuilder();
    for (Check c : checks) {
      sb.append(c.passed() ? "  ok    " : "  FAIL  ").append(c.name()).append(": ").append(c.detail()).append('\n');
    }
    return sb.toString();
  }

  /** Aligned text columns, two spaces apart, as the CLI's other tables. */
  static final class Columns {
    private final List<String[]> rows = new ArrayList<>();
    private final int columns;

    Columns(String... headers) {
      this.columns = headers.length;
      rows.add(headers);
    }

    void row(Object... cells) {
      String[] r = new String[columns];
      for (int i = 0; i < columns; i++) {
        r[i] = String.valueOf(cells[i]);
      }
      rows.add(r);
    }

    String render() {
      int[] width = new int[columns];
      for (String[] r : rows) {
        for (int i = 0; i < columns; i++) {
          width[i] = Math.max(width[i], r[i].length());
        }
      }
      StringBuilder sb = new StringBuilder();
      for (String[] r : rows) {
        StringBuilder line = new StringBuilder();
        for (int i = 0; i < columns; i++) {
          line.append(r[i]).append(" ".repeat(i < columns - 1 ? width[i] - r[i].length() + 2 : 0));
        }
        sb.append(line.toString().stripTrailing()).append('\n');
      }
      return sb.toString();
    }
  }
}
