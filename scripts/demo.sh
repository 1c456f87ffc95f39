#!/usr/bin/env bash
# The order-event bus, end to end on a local three-node cluster:
#
#   scripts/demo.sh [raftmq demo orders options, e.g. --orders 2000 --duration 25s]
#
# Starts a cluster with scripts/cluster.sh (or reuses one that is running and healthy), then runs
# `bin/raftmq demo orders`: an order service publishes order.created events to the topic `orders`
# (6 partitions, keyed by customer) while five consumer groups work on them (inventory and
# recommendations as stream groups; loyalty-points, warehouse and fraud-audit as queue groups), a few
# poison orders end in the dead-letter topics, and node 2 is killed with kill -9 a third of the way in
# and restarted two thirds in. It ends with a summary per group and exits non-zero if any check failed.
# A cluster this script started is stopped again, and its data dir removed if this script created it.
#
# Environment: DEMO_KILL_NODE (2; 0 kills none); the cluster.sh settings (RAFTMQ_DATA_DIR, ports, ...).
set -euo pipefail

ROOT="$(cd -- "$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")/.." && pwd)"
CLUSTER="$ROOT/scripts/cluster.sh"
RAFTMQ="$ROOT/bin/raftmq"
DATA_DIR="${RAFTMQ_DATA_DIR:-$ROOT/data}"
KILL_NODE="${DEMO_KILL_NODE:-2}"
CLIENT_PORT_BASE="${RAFTMQ_CLIENT_PORT_BASE:-9090}"
HOST="${RAFTMQ_HOST:-127.0.0.1}"
BOOTSTRAP="$HOST:$((CLIENT_PORT_BASE + 1)),$HOST:$((CLIENT_PORT_BASE + 2)),$HOST:$((CLIENT_PORT_BASE + 3))"

case "${1:-}" in
  -h | --help)
    sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
esac

started=false
created_data=false

cleanup() {
  local rc=$?
  if [[ "$started" == true ]]; then
    echo
    echo "stopping the cluster this demo started ..."
    "$CLUSTER" down || true
    if [[ "$created_data" == true ]]; then
      rm -rf -- "$DATA_DIR"
      echo "removed $DATA_DIR"
    fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if "$CLUSTER" status >/dev/null 2>&1; then
  echo "reusing the running cluster ($BOOTSTRAP)"
elif "$CLUSTER" status 2>/dev/null | grep -q 'process alive'; then
  # Some nodes of an earlier cluster.sh up are running: start the missing ones, leave it running after.
  echo "starting the missing nodes of the running cluster ..."
  "$CLUSTER" up
else
  [[ -d "$DATA_DIR" ]] || created_data=true
  started=true
  "$CLUSTER" up
fi
echo

args=(--bootstrap "$BOOTSTRAP" demo orders)
if [[ "$KILL_NODE" != 0 ]]; then
  args+=(--kill-node "$KILL_NODE" --cluster-script "$CLUSTER")
fi
export RAFTMQ_DATA_DIR="$DATA_DIR"
set +e
"$RAFTMQ" "${args[@]}" "$@"
rc=$?
set -e
exit "$rc"
