package io.raftmq.client.internal;

import io.raftmq.client.RaftMqException;
import io.raftmq.protocol.ErrorCode;
import java.util.ArrayList;
import java.util.List;

/** A network address of a broker's client port. */
public record HostPort(String host, int port) {
  @Override
  public String toString() {
    return host.indexOf(':') >= 0 ? "[" + host + "]:" + port : host + ":" + port;
  }

  /**
   * Parses {@code "h:p,h:p"} ({@code [v6]:p} allowed).
   *
   * @throws RaftMqException with {@code INVALID_REQUEST} on a malformed list
   */
  public static List<HostPort> parseList(String list) {
    if (list == null || list.isBlank()) {
      throw invalid(list, "empty bootstrap address list");
    }
    List<HostPort> out = new ArrayList<>();
    for (String part : list.split(",")) {
      String s = part.trim();
      if (s.isEmpty()) {
        continue;
      }
      int colon = s.lastIndexOf(':');
      if (colon <= 0 || colon == s.length() - 1) {
        throw invalid(list, "'" + s + "' is not host:port");
      }
      String host = s.substring(0, colon);
      if (host.startsWith("[") && host.endsWith("]")) {
        host = host.substring(1, host.length() - 1);
      } else if (host.indexOf(':') >= 0) {
        throw invalid(list, "'" + s + "': write IPv6 addresses as [addr]:port");
      }
      int port;
      try {
        port = Integer.parseInt(s.substring(colon + 1));
      } catch (NumberFormatException e) {
        throw invalid(list, "'" + s + "' has a non-numeric port");
      }
      if (port < 1 || port > 65535 || host.isEmpty()) {
        throw invalid(list, "'" + s + "' has an invalid host or port");
      }
      out.add(new HostPort(host, port));
    }
    if (out.isEmpty()) {
      throw invalid(list, "no address");
    }
    return List.copyOf(out);
  }

  private static RaftMqException invalid(String list, String why) {
    return new RaftMqException(ErrorCode.INVALID_REQUEST, "bad bootstrap address list \"" + list + "\": " + why);
  }
}
