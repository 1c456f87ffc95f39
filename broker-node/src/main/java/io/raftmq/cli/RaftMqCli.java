package io.raftmq.cli;

import io.raftmq.client.Admin;
import io.raftmq.client.ClientConfig;
import io.raftmq.client.RaftMqClient;
import io.raftmq.client.RaftMqException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.IExitCodeExceptionMapper;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ParseResult;
import picocli.CommandLine.ScopeType;
import picocli.CommandLine.Spec;

/**
 * The {@code raftmq} command line: {@code node start} runs a broker; {@code cluster}, {@code topic},
 * {@code group}, {@code produce}, {@code consume}, {@code queue}, {@code dlq} and {@code bench} are
 * clients of a running cluster.
 *
 * <p>Exit codes: 0 success; 1 an error (broker error, bad input, a message not acknowledged); 2 a usage
 * error (unknown or malformed option); 10 {@code cluster status} found the cluster unhealthy. Every
 * error is one {@code error: ...} line on stderr; {@code -v} adds the stack trace.
 */
@Command(
    name = "raftmq",
    mixinStandardHelpOptions = true,
    scope = ScopeType.INHERIT,
    versionProvider = RaftMqCli.Version.class,
    sortOptions = false,
    usageHelpAutoWidth = true,
    description = "RaftMQ, a Raft-replicated message broker: run a node, manage topics and consumer groups, produce, "
        + "consume, receive from queue groups and handle their dead letters, benchmark.",
    footer = {"", "Exit codes: 0 ok, 1 error, 2 usage error, 10 cluster unhealthy (cluster status)."},
    subcommands = {
        NodeCommand.class,
        ClusterCommand.class,
        TopicCommand.class,
        GroupCommand.class,
        ProduceCommand.class,
        ConsumeCommand.class,
        QueueCommand.class,
        DlqCommand.class,
        BenchCommand.class,
        DemoCommand.class,
        CommandLine.HelpCommand.class
    })
public final class RaftMqCli implements Callable<Integer> {
  /** Exit code of a failed command (broker error, bad input, unacknowledged message). */
  public static final int EXIT_ERROR = 1;
  /** Exit code of a usage error, picocli's convention. */
  public static final int EXIT_USAGE = 2;
  /** Exit code of {@code cluster status} when a node is down or a partition has no leader (as rpk). */
  public static final int EXIT_UNHEALTHY = 10;

  @Spec
  CommandSpec spec;

  @Option(names = "--bootstrap", scope = ScopeType.INHERIT, paramLabel = "HOST:PORT[,HOST:PORT...]",
      defaultValue = "${env:RAFTMQ_BOOTSTRAP:-127.0.0.1:9091}",
      description = "Broker client addresses to start from (env RAFTMQ_BOOTSTRAP; default ${DEFAULT-VALUE}).")
  String bootstrap;

  @Option(names = "--request-timeout", scope = ScopeType.INHERIT, paramLabel = "DURATION", defaultValue = "10s",
      converter = Durations.class,
      description = "How long one request to the cluster may take, e.g. 500ms, 5s, PT1M (default ${DEFAULT-VALUE}).")
  Duration requestTimeout;

  @Option(names = {"-v", "--verbose"}, scope = ScopeType.INHERIT,
      description = "Log more (INFO) and print stack traces of errors.")
  boolean verbose;

  /** Where {@code produce} reads its lines; tests replace it. */
  private final InputStream stdin;

  RaftMqCli(InputStream stdin) {
    this.stdin = stdin;
  }

  public static void main(String[] args) {
    System.exit(commandLine(System.in).execute(args));
  }

  /** The configured command line reading {@code stdin}; its out/err are System.out/err unless set. */
  public static CommandLine commandLine(InputStream stdin) {
    RaftMqCli cli = new RaftMqCli(stdin);
    CommandLine cmd = new CommandLine(cli);
    cmd.setCaseInsensitiveEnumValuesAllowed(true);
    cmd.setExecutionStrategy(RaftMqCli::executeWithLogging);
    cmd.setExecutionExceptionHandler(RaftMqCli::handleExecutionException);
    cmd.setParameterExceptionHandler(RaftMqCli::handleParameterException);
    cmd.setExitCodeExceptionMapper(exitCodes());
    return cmd;
  }

  @Override
  public Integer call() {
    throw new ParameterException(spec.commandLine(), "missing command (try 'raftmq --help')");
  }

  /** Connects a client to {@link #bootstrap} with this invocation's request timeout. */
  RaftMqClient connect() {
    return connect(bootstrap, requestTimeout);
  }

  /** Connects a client to {@code bootstrap} with {@code timeout} per request. */
  RaftMqClient connect(String bootstrapServers, Duration timeout) {
    return RaftMqClient.connect(ClientConfig.builder()
        .bootstrap(bootstrapServers)
        .clientId("raftmq-cli")
        .requestTimeout(timeout)
        .build());
  }

  /** Connects, makes one admin request, waits for its answer and disconnects. */
  <T> T admin(Function<Admin, CompletableFuture<T>> request) throws Exception {
    try (RaftMqClient client = connect()) {
      return await(request.apply(client.admin()));
    }
  }

  /** Waits for a request's future within the request timeout, plus slack (the SDK bounds it too). */
  <T> T await(CompletableFuture<T> f) throws Exception {
    return f.get(requestTimeout.toMillis() + 5_000, TimeUnit.MILLISECONDS);
  }

  InputStream stdin() {
    return stdin;
  }

  Duration requestTimeout() {
    return requestTimeout;
  }

  boolean verbose() {
    return verbose;
  }

  /**
   * Quietens logging for client commands before running them: a CLI's stdout is for results and its
   * stderr for one-line errors, so only WARN and above are logged (INFO with -v). {@code node start}
   * keeps logback.xml's levels.
   */
  private static int executeWithLogging(ParseResult parseResult) {
    ParseResult last = parseResult;
    while (last.hasSubcommand()) {
      last = last.subcommand();
    }
    boolean nodeStart = last.commandSpec().userObject() instanceof NodeCommand.Start;
    boolean verbose = parseResult.hasMatchedOption("-v") || last.hasMatchedOption("-v");
    if (!nodeStart) {
      Logging.quietForCli(verbose);
    }
    return new CommandLine.RunLast().execute(parseResult);
  }

  private static int handleExecutionException(Exception ex, CommandLine cmd, ParseResult parseResult) {
    Throwable cause = unwrap(ex);
    PrintWriter err = cmd.getErr();
    err.println("error: " + describe(cause));
    Object root = cmd.getCommandSpec().root().userObject();
    if (root instanceof RaftMqCli cli && cli.verbose) {
      cause.printStackTrace(err);
    }
    err.flush();
    return EXIT_ERROR;
  }

  private static int handleParameterException(ParameterException ex, String[] args) {
    CommandLine cmd = ex.getCommandLine();
    PrintWriter err = cmd.getErr();
    String help = cmd.getCommandSpec().qualifiedName() + " --help";
    String msg = ex.getMessage() == null ? "bad arguments" : ex.getMessage();
    if (msg.startsWith("Error: ")) {
      msg = msg.substring("Error: ".length()); // picocli's own prefix on argument-group errors
    }
    if (msg.contains("--help")) {
      err.println("error: " + msg);
    } else {
      err.println("error: " + msg + " (see '" + help + "')");
    }
    Object root = cmd.getCommandSpec().root().userObject();
    if (root instanceof RaftMqCli cli && cli.verbose) {
      ex.printStackTrace(err);
    }
    err.flush();
    return EXIT_USAGE;
  }

  private static IExitCodeExceptionMapper exitCodes() {
    return t -> unwrap(t) instanceof ParameterException ? EXIT_USAGE : EXIT_ERROR;
  }

  /** Strips the wrappers futures and picocli put around the exception that says what went wrong. */
  static Throwable unwrap(Throwable t) {
    Throwable c = t;
    while ((c instanceof CompletionException || c instanceof ExecutionException
        || c instanceof CommandLine.ExecutionException) && c.getCause() != null) {
      c = c.getCause();
    }
    return c;
  }

  /** One line saying what failed. */
  static String describe(Throwable t) {
    String msg = t.getMessage();
    if (t instanceof RaftMqException || t instanceof IllegalArgumentException) {
      return msg == null ? t.getClass().getSimpleName() : firstLine(msg);
    }
    if (t instanceof java.nio.file.NoSuchFileException) {
      return "no such file: " + msg;
    }
    if (t instanceof java.util.concurrent.TimeoutException) {
      return "timed out waiting for the cluster" + (msg == null ? "" : ": " + msg);
    }
    if (t instanceof java.net.BindException) {
      return "cannot bind: " + msg;
    }
    return msg == null || msg.isBlank() ? t.getClass().getName() : firstLine(msg) + " (" + t.getClass().getSimpleName() + ")";
  }

  private static String firstLine(String s) {
    int nl = s.indexOf('\n');
    return nl < 0 ? s : s.substring(0, nl);
  }

  /** The version, from the jar manifest when there is one. */
  static final class Version implements CommandLine.IVersionProvider {
    @Override
    public String[] getVersion() {
      String v = RaftMqCli.class.getPackage().getImplementationVersion();
      return new String[] {"raftmq " + (v == null ? "0.1.0-SNAPSHOT" : v)};
    }
  }
}
