package io.raftmq.chaos;

/** The kinds of fault a schedule can inject; each heals itself after the event's duration. */
public enum Fault {
  /** SIGKILL of the target node; restarted after the duration. */
  KILL,
  /** SIGKILL of every node at once; all restarted after the duration. */
  KILL_ALL,
  /** SIGSTOP of the target node; SIGCONT after the duration (longer than an election timeout: a stale leader). */
  PAUSE,
  /** The target node cut from every other node, both ways (with three nodes: a minority/majority split). */
  ISOLATE,
  /** The two nodes other than the target cut from each other; the target still sees both. */
  BRIDGE,
  /** Packets from the target ({@code a} of {@code a>b}) to another node dropped, the other way kept. */
  ONE_WAY,
  /** A producer's client closed with sends in flight (mid-batch); a new producer process takes over. */
  PRODUCER_CRASH,
  /** A consumer's client closed before it committed what it read; a new consumer process takes over. */
  CONSUMER_CRASH;

  /** The name used in schedule files and reports. */
  public String id() {
    return name().toLowerCase(java.util.Locale.ROOT).replace('_', '-');
  }

  /** Whether this fault cuts network links. */
  boolean isNetwork() {
    return this == ISOLATE || this == BRIDGE || this == ONE_WAY;
  }
}
