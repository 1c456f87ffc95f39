package io.raftmq.cli;

import io.raftmq.client.ConsumerRecord;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * How {@code raftmq consume --format} renders a record. Placeholders: {@code %t} topic, {@code %p}
 * partition, {@code %o} offset, {@code %k} key, {@code %v} value, {@code %T} timestamp (ms since the
 * epoch), {@code %h} headers ({@code k=v,k2=v2}), {@code %%} a percent sign; escapes {@code \n},
 * {@code \t}, {@code \\}. For queue deliveries ({@link #compileForDeliveries}) also {@code %c}, the
 * delivery count. Keys, values and headers are decoded as UTF-8; a null key or value renders as
 * nothing. Every record ends with a newline: one is appended unless the format already ends with
 * {@code \n}. Compiled once, immutable and thread-safe.
 */
public final class RecordFormat {
  private sealed interface Part permits Literal, Field {}

  private record Literal(String text) implements Part {}

  private record Field(char code) implements Part {}

  private final String pattern;
  private final List<Part> parts;
  private final boolean appendNewline;

  private RecordFormat(String pattern, List<Part> parts, boolean appendNewline) {
    this.pattern = pattern;
    this.parts = parts;
    this.appendNewline = appendNewline;
  }

  /**
   * @throws IllegalArgumentException on an unknown placeholder or escape, naming it
   */
  public static RecordFormat compile(String pattern) {
    return compile(pattern, "tpokvTh", "%t %p %o %k %v %T %h %%");
  }

  /**
   * As {@link #compile}, also accepting {@code %c}, the delivery count of a queue delivery (see
   * {@link #render(ConsumerRecord, int)}).
   *
   * @throws IllegalArgumentException on an unknown placeholder or escape, naming it
   */
  public static RecordFormat compileForDeliveries(String pattern) {
    return compile(pattern, "tpokvThc", "%t %p %o %c %k %v %T %h %%");
  }

  private static RecordFormat compile(String pattern, String codes, String known) {
    List<Part> parts = new ArrayList<>();
    StringBuilder lit = new StringBuilder();
    for (int i = 0; i < pattern.length(); i++) {
      char c = pattern.charAt(i);
      if (c != '%' && c != '\\') {
        lit.append(c);
        continue;
      }
      if (i + 1 >= pattern.length()) {
        throw new IllegalArgumentException("format '" + pattern + "' ends with a lone '" + c + "'");
      }
      char n = pattern.charAt(++i);
      if (c == '\\') {
        switch (n) {
          case 'n' -> lit.append('\n');
          case 't' -> lit.append('\t');
          case '\\' -> lit.append('\\');
          default -> throw new IllegalArgumentException(
              "unknown escape '\\" + n + "' in format (known: \\n \\t \\\\)");
        }
      } else if (n == '%') {
        lit.append('%');
      } else if (codes.indexOf(n) >= 0) {
        if (lit.length() > 0) {
          parts.add(new Literal(lit.toString()));
          lit.setLength(0);
        }
        parts.add(new Field(n));
      } else {
        throw new IllegalArgumentException(
            "unknown placeholder '%" + n + "' in format (known: " + known + ")");
      }
    }
    if (lit.length() > 0) {
      parts.add(new Literal(lit.toString()));
    }
    boolean endsWithNewline = !parts.isEmpty() && parts.get(parts.size() - 1) instanceof Literal l
        && l.text().endsWith("\n");
    return new RecordFormat(pattern, List.copyOf(parts), !endsWithNewline);
  }

  /** The record rendered, newline included. */
  public String render(ConsumerRecord r) {
    return render(r, 0);
  }

  /** A queue delivery's record rendered, {@code %c} as {@code deliveryCount}, newline included. */
  public String render(ConsumerRecord r, int deliveryCount) {
    StringBuilder sb = new StringBuilder();
    for (Part p : parts) {
      if (p instanceof Literal l) {
        sb.append(l.text());
      } else if (p instanceof Field f) {
        switch (f.code()) {
          case 't' -> sb.append(r.topic());
          case 'p' -> sb.append(r.partition());
          case 'o' -> sb.append(r.offset());
          case 'k' -> sb.append(utf8(r.key()));
          case 'v' -> sb.append(utf8(r.value()));
          case 'T' -> sb.append(r.timestamp());
          case 'h' -> appendHeaders(sb, r.headers());
          case 'c' -> sb.append(deliveryCount);
          default -> throw new IllegalStateException("placeholder %" + f.code());
        }
      }
    }
    if (appendNewline) {
      sb.append('\n');
    }
    return sb.toString();
  }

  @Override
  public String toString() {
    return pattern;
  }

  private static void appendHeaders(StringBuilder sb, Map<String, byte[]> headers) {
    boolean first = true;
    for (Map.Entry<String, byte[]> h : headers.entrySet()) {
      if (!first) {
        sb.append(',');
      }
      first = false;
      sb.append(h.getKey()).append('=').append(utf8(h.getValue()));
    }
  }

  private static String utf8(byte[] b) {
    return b == null ? "" : new String(b, StandardCharsets.UTF_8);
  }
}
