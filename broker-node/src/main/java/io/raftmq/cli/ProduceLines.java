package io.raftmq.cli;

import io.raftmq.client.Message;
import java.util.Map;

/**
 * Turns one input line of {@code raftmq produce} into a message: the whole line is the value, with a
 * fixed key ({@code --key}) or none; or, with a key separator, the line is {@code KEY SEP VALUE} split at
 * the first separator. Immutable and thread-safe.
 */
final class ProduceLines {
  private final String topic;
  private final String fixedKey;
  private final String separator;
  private final Map<String, String> headers;
  private final Integer partition;

  /**
   * @param fixedKey the key of every message, or null
   * @param separator the key separator, or null for whole-line values; exclusive with {@code fixedKey}
   * @param partition the partition of every message, or null to let the producer choose
   */
  ProduceLines(String topic, String fixedKey, String separator, Map<String, String> headers, Integer partition) {
    if (fixedKey != null && separator != null) {
      throw new IllegalArgumentException("--key and --key-separator are mutually exclusive");
    }
    if (separator != null && separator.isEmpty()) {
      throw new IllegalArgumentException("--key-separator must not be empty");
    }
    this.topic = topic;
    this.fixedKey = fixedKey;
    this.separator = separator;
    this.headers = Map.copyOf(headers);
    this.partition = partition;
  }

  /**
   * The message for {@code line}.
   *
   * @throws IllegalArgumentException if a key separator is in use and the line lacks it
   */
  Message toMessage(String line) {
    Message.Builder b = Message.builder(topic);
    if (separator != null) {
      int at = line.indexOf(separator);
      if (at < 0) {
        throw new IllegalArgumentException("no key separator '" + printable(separator) + "' in line");
      }
      b.key(line.substring(0, at)).value(line.substring(at + separator.length()));
    } else {
      if (fixedKey != null) {
        b.key(fixedKey);
      }
      b.value(line);
    }
    headers.forEach(b::header);
    if (partition != null) {
      b.partition(partition);
    }
    return b.build();
  }

  /** {@code \t} for a tab, so that a message about an invisible separator can be read. */
  static String printable(String s) {
    return s.replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r");
  }

  /** Reads {@code \t} and {@code \n} in a separator typed on the command line as the characters. */
  static String unescape(String s) {
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c == '\\' && i + 1 < s.length()) {
        char n = s.charAt(i + 1);
        if (n == 't' || n == 'n' || n == '\\') {
          sb.append(n == 't' ? '\t' : n == 'n' ? '\n' : '\\');
          i++;
          continue;
        }
      }
      sb.append(c);
    }
    return sb.toString();
  }
}
