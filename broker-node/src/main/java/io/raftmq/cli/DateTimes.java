package io.raftmq.cli;

import java.time.Duration;
import java.time.Instant;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeParseException;
import java.util.regex.Pattern;
import picocli.CommandLine.ITypeConverter;

/**
 * Parses the points in time users type, as ISO-8601: with a zone offset ({@code 2024-05-01T12:00:00Z},
 * {@code 2024-05-01T14:00:00.250+02:00}), or without one ({@code 2024-05-01T12:00}, {@code 2024-05-01}),
 * which is then read as UTC, never as the machine's zone, so that the same command means the same
 * instant everywhere. A space may stand for the {@code T}.
 */
public final class DateTimes implements ITypeConverter<Instant> {
  private static final Pattern SPACE_FOR_T = Pattern.compile("^(\\d{4}-\\d{2}-\\d{2}) (\\d)");

  @Override
  public Instant convert(String value) {
    return parse(value);
  }

  /**
   * A point in time as {@link #parse} reads it, or a duration ({@code 30m}, {@code 2h}, {@code PT1H})
   * meaning that long before {@code now}.
   *
   * @throws IllegalArgumentException naming the accepted forms
   */
  public static Instant parseOrAgo(String text, Instant now) {
    Duration ago;
    try {
      ago = Durations.parse(text);
    } catch (IllegalArgumentException notADuration) {
      try {
        return parse(text);
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException("bad time '" + text + "': expected ISO-8601 like 2024-05-01T12:00:00Z, "
            + "2024-05-01T14:00:00+02:00 or 2024-05-01 (read as UTC), or a duration ago like 30m or 2h");
      }
    }
    return now.minus(ago);
  }

  /** picocli's converter of {@link #parseOrAgo}, relative to the time of parsing. */
  public static final class OrAgo implements ITypeConverter<Instant> {
    @Override
    public Instant convert(String value) {
      return parseOrAgo(value, Instant.now());
    }
  }

  /**
   * @throws IllegalArgumentException naming the accepted forms
   */
  public static Instant parse(String text) {
    String s = text == null ? "" : SPACE_FOR_T.matcher(text.trim()).replaceFirst("$1T$2");
    try {
      return OffsetDateTime.parse(s).toInstant();
    } catch (DateTimeParseException e) {
      // not with an offset; try the forms without one
    }
    try {
      return LocalDateTime.parse(s).toInstant(ZoneOffset.UTC);
    } catch (DateTimeParseException e) {
      // not a local date-time either
    }
    try {
      return LocalDate.parse(s).atStartOfDay(ZoneOffset.UTC).toInstant();
    } catch (DateTimeParseException e) {
      throw new IllegalArgumentException("bad date-time '" + text + "': expected ISO-8601 like 2024-05-01T12:00:00Z, "
          + "2024-05-01T14:00:00+02:00, or 2024-05-01T12:00:00 or 2024-05-01 (read as UTC)");
    }
  }
}
