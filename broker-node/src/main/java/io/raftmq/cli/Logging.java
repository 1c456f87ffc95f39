package io.raftmq.cli;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import org.slf4j.ILoggerFactory;
import org.slf4j.LoggerFactory;

/**
 * Log levels for the two kinds of process the jar runs. logback.xml configures a broker node (INFO
 * for io.raftmq, WARN for the chatty Ratis and Netty); a client command lowers everything to WARN here
 * so its stdout and stderr carry only results and errors. Does nothing if logback is not the SLF4J
 * backend, or if the user chose a config file with {@code -Dlogback.configurationFile}.
 */
final class Logging {
  /**
   * Ratis' shaded gRPC logs through java.util.logging, which bypasses logback (there is no
   * jul-to-slf4j bridge); held here because JUL keeps loggers only weakly.
   */
  private static final java.util.logging.Logger SHADED_GRPC =
      java.util.logging.Logger.getLogger("org.apache.ratis.thirdparty.io.grpc");

  private Logging() {}

  /** A node keeps logback.xml's levels; only the shaded gRPC's JUL logging is cut to WARNING. */
  static void forNode() {
    SHADED_GRPC.setLevel(java.util.logging.Level.WARNING);
  }

  static void quietForCli(boolean verbose) {
    if (System.getProperty("logback.configurationFile") != null) {
      return;
    }
    ILoggerFactory factory = LoggerFactory.getILoggerFactory();
    if (!(factory instanceof LoggerContext ctx)) {
      return;
    }
    Level level = verbose ? Level.INFO : Level.WARN;
    ctx.getLogger(Logger.ROOT_LOGGER_NAME).setLevel(level);
    ctx.getLogger("io.raftmq").setLevel(level);
  }
}
