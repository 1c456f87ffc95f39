package io.raftmq.cli;

import java.time.Duration;
import java.time.format.DateTimeParseException;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import picocli.CommandLine.ITypeConverter;

/**
 * Parses the durations users type: {@code 500ms}, {@code 5s}, {@code 2m}, {@code 1h}, {@code 1d}
 * (optionally with a fraction, {@code 1.5s}) or ISO-8601 ({@code PT5S}). A bare number is rejected,
 * because nobody can tell which unit it meant.
 */
public final class Durations implements ITypeConverter<Duration> {
  private static final Pattern SIMPLE = Pattern.compile("(\\d+(?:\\.\\d+)?)\\s*(ms|s|m|h|d)");

  @Override
  public Duration convert(String value) {
    return parse(value);
  }

  /**
   * @throws IllegalArgumentException naming the accepted forms
   */
  public static Duration parse(String text) {
    String s = text == null ? "" : text.trim().toLowerCase(Locale.ROOT);
    Matcher m = SIMPLE.matcher(s);
    Duration d;
    if (m.matches()) {
      double amount = Double.parseDouble(m.group(1));
      long unitNanos = switch (m.group(2)) {
        case "ms" -> 1_000_000L;
        case "s" -> 1_000_000_000L;
        case "m" -> 60_000_000_000L;
        case "h" -> 3_600_000_000_000L;
        case "d" -> 86_400_000_000_000L;
        default -> throw new IllegalStateException("unit " + m.group(2));
      };
      double nanos = amount * unitNanos;
      if (nanos > Long.MAX_VALUE) {
        throw new IllegalArgumentException("duration '" + text + "' is too long");
      }
      d = Duration.ofNanos(Math.round(nanos));
    } else if (s.startsWith("p") || s.startsWith("-p")) {
      try {
        d = Duration.parse(s.toUpperCase(Locale.ROOT));
      } catch (DateTimeParseException e) {
        throw bad(text);
      }
    } else {
      throw bad(text);
    }
    if (d.isNegative()) {
      throw new IllegalArgumentException("duration '" + text + "' is negative");
    }
    return d;
  }

  /** {@code 1.5s}, {@code 250ms}: a short human form for messages. */
  public static String format(Duration d) {
    long ms = d.toMillis();
    if (ms < 1000 || ms % 1000 != 0) {
      return ms + "ms";
    }
    return (ms / 1000) + "s";
  }

  private static IllegalArgumentException bad(String text) {
    return new IllegalArgumentException(
        "bad duration '" + text + "': expected e.g. 500ms, 5s, 2m, 1h or ISO-8601 like PT5S");
  }
}
