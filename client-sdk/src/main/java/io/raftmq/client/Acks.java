package io.raftmq.client;

/** How much durability a producer waits for before it completes a send's future. */
public enum Acks {
  /** The batch's Raft entry is committed on a majority (fsynced) and applied by the leader; offsets are known. */
  QUORUM,
  /** The leader accepted the entry into its Raft log, before replication or fsync; offsets are -1. */
  LEADER,
  /** No reply at all (at-most-once): the future completes once the request is written to the socket. */
  NONE
}
