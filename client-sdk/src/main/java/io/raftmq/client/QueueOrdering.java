package io.raftmq.client;

/** In which order a queue group hands out a partition's messages. */
public enum QueueOrdering {
  /** Any order, any number of messages in flight at once: maximum parallelism (the default). */
  NONE,
  /**
   * At most one message per key in flight per group, in offset order: a key's next message is leased
   * only after the previous one was acked or dead-lettered. A failing key waits out its backoff while
   * other keys flow.
   */
  KEY
}
