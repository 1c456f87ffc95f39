package io.raftmq.cli;

import io.raftmq.client.Message;
import io.raftmq.client.Producer;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.PrintWriter;

/**
 * The loop of {@code raftmq produce}: reads lines, sends each as a message without waiting for the
 * previous one, reports each failure (bad line or failed send) as one line on stderr, and waits for
 * every send at the end. Used from one thread; the send callbacks run on SDK threads.
 */
final class LineProducer {
  /** After this many error lines, further failures are only counted. */
  static final int MAX_REPORTED_ERRORS = 20;

  /** How many lines were acknowledged and how many failed. */
  record Summary(long acknowledged, long failed) {}

  private final Producer producer;
  private final ProduceLines lines;
  private final PrintWriter err;
  private long acknowledged;
  private long failed;
  private long inFlight;
  private long reported;

  LineProducer(Producer producer, ProduceLines lines, PrintWriter err) {
    this.producer = producer;
    this.lines = lines;
    this.err = err;
  }

  /** Sends every line of {@code in}, then flushes and waits for all acknowledgements. */
  Summary run(BufferedReader in) throws IOException, InterruptedException {
    long lineNo = 0;
    String line;
    while ((line = in.readLine()) != null) {
      lineNo++;
      Message m;
      try {
        m = lines.toMessage(line);
      } catch (IllegalArgumentException e) {
        fail(lineNo, e.getMessage());
        continue;
      }
      long n = lineNo;
      synchronized (this) {
        inFlight++;
      }
      try {
        producer.send(m).whenComplete((md, ex) -> done(n, ex));
      } catch (RuntimeException e) {
        // send() reports broker errors through the future; a throw here is a local refusal.
        done(n, e);
      }
    }
    producer.flush();
    synchronized (this) {
      // flush() returns when the futures are complete; their callbacks may still be running.
      while (inFlight > 0) {
        wait();
      }
      err.flush();
      return new Summary(acknowledged, failed);
    }
  }

  private synchronized void done(long lineNo, Throwable ex) {
    inFlight--;
    if (ex == null) {
      acknowledged++;
    } else {
      fail(lineNo, RaftMqCli.describe(RaftMqCli.unwrap(ex)));
    }
    notifyAll();
  }

  private synchronized void fail(long lineNo, String why) {
    failed++;
    if (reported < MAX_REPORTED_ERRORS) {
      err.println("error: line " + lineNo + ": " + why);
      err.flush();
    } else if (reported == MAX_REPORTED_ERRORS) {
      err.println("error: more failures; only counting them from now on");
      err.flush();
    }
    reported++;
  }
}
