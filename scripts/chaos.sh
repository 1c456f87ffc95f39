#!/usr/bin/env bash
# The chaos soak: random fault schedules (and the named scenarios) against real broker processes in
# network namespaces, every history checked; prints a summary table (operations attempted and
# acknowledged, faults by kind, violations per check). Needs root, iproute2 and nftables.
#
#   scripts/chaos.sh [--schedules N] [--duration 60s] [--seed S] [--no-named] [--shrink TRIALS] [--unsafe]
#   scripts/chaos.sh --schedule PATH/schedule.json [--shrink TRIALS]     replay one schedule (e.g. a failure's)
#
#   --schedules N     random schedules to run (default 30), seeds S, S+1, ... (default S: the current time)
#   --duration D      length of each random schedule: 60s, 90000ms, 2m (default 60s)
#   --no-named        skip the named scenarios (run once by default)
#   --shrink T        on a failure, spend up to T more runs shrinking its schedule (shrunk-schedule.json)
#   --unsafe          nodes run the planted ack-before-commit bug (the suite must then fail)
#   --group-consumers the consumers join a consumer group (broker commits, rebalances on crashes)
#   --queue-consumers two consumers of a queue group also take, ack and nack every message (checks:
#                     queue-lost, queue-redelivery)
#   --install-stress  32 KiB Raft log segments: the log is purged often, so nearly every fault ends in
#                     a snapshot install (the regime of the stale-append-after-install bug, now fixed)
#
# A failed run keeps history.jsonl, schedule.json, summary.txt, node logs and data under
# chaos-tests/target/chaos-failures/<schedule>-<time>/. To make it a regression, copy its schedule.json
# (or shrunk-schedule.json) to chaos-tests/src/test/resources/schedules/regression-<name>.json: the gate
# of `mvn verify` runs every regression-*.json. MVN_ARGS (e.g. -o) is passed to Maven.
set -euo pipefail

ROOT="$(cd -- "$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")/.." && pwd)"
SCHEDULES=30
DURATION=60s
SEED=""
NAMED=true
SCHEDULE=""
SHRINK=0
UNSAFE=false
SEGMENT_BYTES=0
CONSUMERS=assign
QUEUE_CONSUMERS=0

usage() { sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --schedules) SCHEDULES="$2"; shift 2 ;;
    --duration) DURATION="$2"; shift 2 ;;
    --seed) SEED="$2"; shift 2 ;;
    --no-named) NAMED=false; shift ;;
    --schedule) SCHEDULE="$(readlink -f -- "$2")"; shift 2 ;;
    --shrink) SHRINK="$2"; shift 2 ;;
    --unsafe) UNSAFE=true; shift ;;
    --install-stress) SEGMENT_BYTES=32768; shift ;;
    --group-consumers) CONSUMERS=group; shift ;;
    --queue-consumers) QUEUE_CONSUMERS=2; shift ;;
    -h|--help) usage 0 ;;
    *) echo "chaos.sh: unknown argument '$1'" >&2; usage 2 >&2 ;;
  esac
done

if [ "$(id -u)" -ne 0 ]; then
  echo "chaos.sh: needs root (network namespaces and nftables)" >&2
  exit 2
fi
for tool in ip nft; do
  command -v "$tool" >/dev/null 2>&1 || { echo "chaos.sh: '$tool' is missing (apt-get install iproute2 nftables)" >&2; exit 2; }
done

cd "$ROOT"
# shellcheck disable=SC2086
mvn -B -q ${MVN_ARGS:-} install -DskipTests
status=0
# shellcheck disable=SC2086
mvn -B -ntp ${MVN_ARGS:-} -pl chaos-tests test -Dtest=ChaosSoak -Dsurefire.failIfNoSpecifiedTests=false \
  -Dchaos.schedules="$SCHEDULES" -Dchaos.duration="$DURATION" -Dchaos.seed="$SEED" -Dchaos.named="$NAMED" \
  -Dchaos.schedule="$SCHEDULE" -Dchaos.shrink="$SHRINK" -Dchaos.unsafe="$UNSAFE" -Dchaos.raftSegmentBytes="$SEGMENT_BYTES" \
  -Dchaos.consumers="$CONSUMERS" -Dchaos.queueConsumers="$QUEUE_CONSUMERS" >chaos-tests/target/chaos-soak-maven.log 2>&1 \
  || status=$?
SUMMARY=chaos-tests/target/chaos-soak-summary.txt
if [ -f "$SUMMARY" ]; then
  cat "$SUMMARY"
else
  tail -n 40 chaos-tests/target/chaos-soak-maven.log
fi
echo "(run log: chaos-tests/target/surefire-reports/io.raftmq.chaos.ChaosSoak-output.txt; exit $status)"
exit "$status"
