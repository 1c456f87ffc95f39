#!/usr/bin/env bash
# A local three-node RaftMQ cluster on one machine, for development and demos.
#
#   scripts/cluster.sh up         build if needed, start nodes 1-3 (those not running), wait until healthy
#   scripts/cluster.sh down       stop the nodes this script started (SIGTERM, then SIGKILL)
#   scripts/cluster.sh status     which node processes are alive, and `raftmq cluster status`
#   scripts/cluster.sh kill N     kill -9 node N (a crash, for failover experiments)
#   scripts/cluster.sh start N    start node N again with the same flags
#
# Node N listens on $RAFTMQ_HOST (127.0.0.1): clients 909N, Raft 919N, HTTP 808N (the bases can be
# moved with RAFTMQ_CLIENT_PORT_BASE=9090, RAFTMQ_RAFT_PORT_BASE=9190, RAFTMQ_HTTP_PORT_BASE=8080).
# Its data is in $RAFTMQ_DATA_DIR/node-N (default <repo>/data), its log in node-N.log, its pid in
# node-N.pid. Only processes recorded in those pid files, and still running `raftmq node start` on
# that data dir, are ever signalled.
#
# Other settings: RAFTMQ_WAIT_SECONDS (60) bounds `up`'s wait for health, RAFTMQ_STOP_SECONDS (20) the
# wait for a clean stop before SIGKILL; RAFTMQ_HEAP_OPTS and RAFTMQ_JAVA_OPTS go to bin/raftmq.
set -euo pipefail

ROOT="$(cd -- "$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")/.." && pwd)"
RAFTMQ="$ROOT/bin/raftmq"
JAR="$ROOT/broker-node/target/raftmq.jar"
NODES=3
HOST="${RAFTMQ_HOST:-127.0.0.1}"
DATA_DIR="${RAFTMQ_DATA_DIR:-$ROOT/data}"
CLIENT_PORT_BASE="${RAFTMQ_CLIENT_PORT_BASE:-9090}"
RAFT_PORT_BASE="${RAFTMQ_RAFT_PORT_BASE:-9190}"
HTTP_PORT_BASE="${RAFTMQ_HTTP_PORT_BASE:-8080}"
WAIT_SECONDS="${RAFTMQ_WAIT_SECONDS:-60}"
STOP_SECONDS="${RAFTMQ_STOP_SECONDS:-20}"

die() {
  echo "error: $*" >&2
  exit 1
}

usage() {
  sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

client_port() { echo $((CLIENT_PORT_BASE + $1)); }
raft_port() { echo $((RAFT_PORT_BASE + $1)); }
http_port() { echo $((HTTP_PORT_BASE + $1)); }
node_dir() { echo "$DATA_DIR/node-$1"; }
pid_file() { echo "$DATA_DIR/node-$1.pid"; }
log_file() { echo "$DATA_DIR/node-$1.log"; }

peers() {
  local n list=""
  for ((n = 1; n <= NODES; n++)); do
    list+="${list:+,}$n@$HOST:$(raft_port "$n")"
  done
  echo "$list"
}

bootstrap() {
  local n list=""
  for ((n = 1; n <= NODES; n++)); do
    list+="${list:+,}$HOST:$(client_port "$n")"
  done
  echo "$list"
}

check_node() {
  if ! [[ "$1" =~ ^[0-9]+$ ]] || (($1 < 1 || $1 > NODES)); then
    die "node must be 1..$NODES, not '$1'"
  fi
}

# The pid of node N if it is running (a live process running `node start` on node N's data dir),
# else nothing. A stale pid file (crashed node, reused pid) yields nothing.
node_pid() {
  local file pid args
  file="$(pid_file "$1")"
  [[ -f "$file" ]] || return 0
  pid="$(tr -dc '0-9' <"$file")"
  [[ -n "$pid" ]] || return 0
  if [[ -r "/proc/$pid/cmdline" ]]; then
    args="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)"
  else
    args="$(ps -ww -o args= -p "$pid" 2>/dev/null || true)"
  fi
  # The JVM, or still its launcher (nohup, then bin/raftmq, before they exec java: a node started a
  # moment ago on a busy machine).
  if [[ "$args" == *io.raftmq.cli.RaftMqCli*"--data-dir $(node_dir "$1")"* ||
    "$args" == *"$RAFTMQ node start"*"--data-dir $(node_dir "$1")"* ]]; then
    echo "$pid"
  fi
}

# Whether the jar is missing or older than any source file or pom.
needs_build() {
  [[ -f "$JAR" && -d "$ROOT/broker-node/target/lib" ]] || return 0
  local newer
  newer="$(find "$ROOT" -maxdepth 1 -name pom.xml -newer "$JAR" -print -quit)"
  [[ -z "$newer" ]] || return 0
  newer="$(find "$ROOT"/*/src/main "$ROOT"/*/pom.xml -newer "$JAR" -type f -print -quit 2>/dev/null || true)"
  [[ -n "$newer" ]]
}

build() {
  if needs_build; then
    echo "building (mvn -q package -DskipTests) ..."
    (cd "$ROOT" && mvn -q package -DskipTests) || die "build failed"
  fi
}

start_node() {
  local n="$1" pid dir
  pid="$(node_pid "$n")"
  if [[ -n "$pid" ]]; then
    echo "node $n already running (pid $pid)"
    return 0
  fi
  dir="$(node_dir "$n")"
  mkdir -p "$dir"
  # bin/raftmq execs java, so $! is the JVM's pid.
  nohup "$RAFTMQ" node start \
    --id "$n" \
    --data-dir "$dir" \
    --host "$HOST" \
    --client-port "$(client_port "$n")" \
    --raft-port "$(raft_port "$n")" \
    --http-port "$(http_port "$n")" \
    --peers "$(peers)" \
    >>"$(log_file "$n")" 2>&1 </dev/null &
  echo "$!" >"$(pid_file "$n")"
  echo "node $n started (pid $!): client $HOST:$(client_port "$n"), raft $(raft_port "$n"), http $(http_port "$n")"
}

stop_node() {
  local n="$1" pid waited=0
  pid="$(node_pid "$n")"
  if [[ -z "$pid" ]]; then
    echo "node $n not running"
    rm -f "$(pid_file "$n")"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null && ((waited < STOP_SECONDS * 10)); do
    sleep 0.1
    waited=$((waited + 1))
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "node $n (pid $pid) did not stop within ${STOP_SECONDS}s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  else
    echo "node $n stopped (pid $pid)"
  fi
  rm -f "$(pid_file "$n")"
}

cluster_status() {
  "$RAFTMQ" --bootstrap "$(bootstrap)" --request-timeout 3s cluster status
}

# Whether the process started for node N (its pid file) is still alive. Used while the nodes this
# script just started come up, instead of node_pid: a starting node's command line is briefly this
# script's (forked, not yet exec'd), empty (mid-exec) or the launcher's.
started_alive() {
  local pid
  pid="$(tr -dc '0-9' 2>/dev/null <"$(pid_file "$1")" || true)"
  [[ -n "$pid" && "$pid" != 0 ]] && kill -0 "$pid" 2>/dev/null
}

wait_healthy() {
  local deadline=$((SECONDS + WAIT_SECONDS)) n
  echo "waiting up to ${WAIT_SECONDS}s for the cluster to become healthy ..."
  while ((SECONDS < deadline)); do
    for ((n = 1; n <= NODES; n++)); do
      if ! started_alive "$n"; then
        echo "node $n exited; last lines of $(log_file "$n"):" >&2
        tail -n 20 "$(log_file "$n")" >&2 || true
        return 1
      fi
    done
    if cluster_status >/dev/null 2>&1; then
      return 0
    fi
    sleep 1
  done
  echo "cluster not healthy after ${WAIT_SECONDS}s:" >&2
  cluster_status >&2 || true
  return 1
}

cmd_up() {
  local n
  build
  mkdir -p "$DATA_DIR"
  for ((n = 1; n <= NODES; n++)); do
    start_node "$n"
  done
  wait_healthy || die "see the logs in $DATA_DIR/node-*.log"
  echo
  cluster_status || true
  echo
  echo "data and logs:  $DATA_DIR/node-N, $DATA_DIR/node-N.log"
  echo "bootstrap:      $(bootstrap)"
  echo "health:         curl http://$HOST:$(http_port 1)/health"
  if [[ "$(bootstrap)" == 127.0.0.1:9091,* ]]; then
    echo "try:            bin/raftmq topic create orders --partitions 3"
  else
    echo "try:            RAFTMQ_BOOTSTRAP=$(bootstrap) bin/raftmq topic create orders --partitions 3"
  fi
  echo "stop:           scripts/cluster.sh down"
}

cmd_down() {
  local n
  for ((n = 1; n <= NODES; n++)); do
    stop_node "$n"
  done
}

cmd_status() {
  local n pid
  for ((n = 1; n <= NODES; n++)); do
    pid="$(node_pid "$n")"
    if [[ -n "$pid" ]]; then
      echo "node $n: process alive (pid $pid)"
    else
      echo "node $n: no process"
    fi
  done
  echo
  cluster_status
}

cmd_kill() {
  local n="$1" pid
  pid="$(node_pid "$n")"
  [[ -n "$pid" ]] || die "node $n is not running"
  kill -KILL "$pid"
  rm -f "$(pid_file "$n")"
  echo "node $n killed (pid $pid)"
}

main() {
  (($# >= 1)) || usage
  case "$1" in
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    kill)
      (($# == 2)) || usage
      check_node "$2"
      cmd_kill "$2"
      ;;
    start)
      (($# == 2)) || usage
      check_node "$2"
      [[ -f "$JAR" ]] || build
      mkdir -p "$DATA_DIR"
      start_node "$2"
      ;;
    -h | --help | help) usage ;;
    *) usage ;;
  esac
}

main "$@"
