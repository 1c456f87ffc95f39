package io.raftmq.client;

/** With {@link QueueOrdering#KEY}: what happens to a key's later messages once one of its messages died. */
public enum KeyFailureMode {
  /** They keep flowing (the default). */
  LENIENT,
  /** They stay parked until an operator redrives the dead message (or skips the key). */
  STRICT
}
