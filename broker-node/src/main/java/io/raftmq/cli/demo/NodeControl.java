package io.raftmq.cli.demo;

/**
 * How the demo crashes and restarts a broker node: {@code scripts/cluster.sh kill N} / {@code start N}
 * for a cluster of processes, {@code stop(N)} / {@code start(N)} for a test's in-JVM cluster.
 */
public interface NodeControl {
  /** Crashes node {@code nodeId} and returns once it is down; returns a line saying what was done. */
  String kill(int nodeId) throws Exception;

  /** Starts node {@code nodeId} again on its data (it need not be healthy yet); returns a line saying what was done. */
  String restart(int nodeId) throws Exception;
}
