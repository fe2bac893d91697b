#!/usr/bin/env bash
# A server's limits with many streams (the "Many streams per server" issue's Limits part):
# three fresh walle servers hosting N streams (default 10000). Prints, per server: how long it
# took to open the streams, open file descriptors, resident memory and disk use; then the
# fdatasyncs and writes the servers do over an idle window; then it writes a few entries to
# every stream (wctl bench --streams N), kills every server with SIGKILL, restarts them and
# prints the same figures for the recovery.
#
#   bench/limits-bench.sh BUILD_DIR [N]     (env SEGMENT_BYTES=4194304, IDLE_SECS=5,
#                                            STOP_AFTER_KILL=1 E2E_KEEP=1 WORK=DIR,
#                                            WALLE_SERVER_FLAGS="...")
set -euo pipefail
BUILD=${1:?usage: limits-bench.sh BUILD_DIR [N]}
N=${2:-10000}
WALLE="$BUILD/runtime/walle"
WCTL="$BUILD/tools/wctl/wctl"
IDLE_SECS=${IDLE_SECS:-5}
LOG_TAG=limits
source "$(dirname "$0")/../tests/lib/local_cluster.sh"
read -r -a SERVER_FLAGS <<< "${WALLE_SERVER_FLAGS:-}"
SERVER_FLAGS+=(--segment-bytes "${SEGMENT_BYTES:-4194304}")

metric() {  # metric I NAME_REGEX: the sum of server I's samples of the metrics matching it
  curl -s "127.0.0.1:${METRICS_PORT[$1]}/metrics" | awk -v re="$2" '$1 ~ re {s += $2} END {print s + 0}'
}
wctl() { "$WCTL" --cluster-file "$WORK/cluster" --secret-file "$WORK/secret" "$@"; }
all_answer() {  # every server serves every stream
  for i in 0 1 2; do [ "$(metric "$i" '^walle_streams[{]state="serving"[}]')" -eq "$N" ] || return 1; done
}

# figures WHAT T0: one line per server.
figures() {
  local what=$1 t0=$2
  local secs=$(python3 -c "print('%.1f' % ($(date +%s.%N) - $t0))")
  for i in 0 1 2; do
    local pid=${SERVER_PID[$i]}
    local fds=$(ls /proc/"$pid"/fd | wc -l)
    local rss=$(awk '/VmRSS/ {printf "%.0f", $2 / 1024}' /proc/"$pid"/status)
    local hwm=$(awk '/VmHWM/ {printf "%.0f", $2 / 1024}' /proc/"$pid"/status)
    local disk=$(du -sm "$WORK/d$i" 2>/dev/null | cut -f1)
    echo "$what: server $i: $N streams open in ${secs}s; $fds fds, RSS $rss MiB (peak $hwm MiB), data dir $disk MiB"
  done
}

names=()
for i in $(seq 0 $((N - 1))); do names+=("s$i"); done
make_cluster "${names[@]}"
t0=$(date +%s.%N)
for i in 0 1 2; do start_server "$i"; done
wait_for "the servers to open $N streams" 1800 all_answer
figures "fresh start" "$t0"

sync_metric='^walle_disk_syncs_total[{]kind="fdatasync"[}]'
ops_metric='^walle_disk_operations_total'
claim_metric='^walle_claims_granted_total'
idle_window() {  # idle_window WHAT: server 0's disk work and claims over IDLE_SECS
  local syncs=$(metric 0 "$sync_metric") ops=$(metric 0 "$ops_metric") claims=$(metric 0 "$claim_metric")
  sleep "$IDLE_SECS"  # the measured window, not a wait for a condition
  echo "$1, next ${IDLE_SECS}s: server 0: $(( $(metric 0 "$sync_metric") - syncs )) fdatasyncs," \
       "$(( $(metric 0 "$ops_metric") - ops )) disk operations," \
       "$(( $(metric 0 "$claim_metric") - claims )) claims granted"
}
idle_window "idle after the fresh start"

log "writing to every stream"
wctl --json bench --entry-bytes 1024 --in-flight 1 --streams "$N" --duration-s 5 --warmup-s 0 \
  > "$WORK/bench.json" 2> "$WORK/bench.err" || fail "wctl bench failed: $(tail -5 "$WORK/bench.err")"
python3 -c "import json; r = json.load(open('$WORK/bench.json')); print('wrote %d entries (%.0f/s)' % (r['entries'], r['entries_per_s']))"

for i in 0 1 2; do stop_server "$i" KILL; done
# STOP_AFTER_KILL=1 (with E2E_KEEP=1): leave the killed servers' directories for a profile.
[ -n "${STOP_AFTER_KILL:-}" ] && exit 0
t0=$(date +%s.%N)
for i in 0 1 2; do start_server "$i"; done
wait_for "the servers to recover $N streams" 1800 all_answer
figures "after kill -9" "$t0"
# Each stream the kill left with uncommitted entries is resolved once (a member claims it
# after the dead writer's lease); then the servers must fall idle again: windows until one
# has no claim and no fdatasync, for at most SETTLE_SECS (default 900).
settle_deadline=$(( $(date +%s) + ${SETTLE_SECS:-900} ))
for k in $(seq 1 100000); do
  window=$(idle_window "recovered + $(( (k - 1) * IDLE_SECS ))s")
  echo "$window"
  case "$window" in *": 0 fdatasyncs, "*", 0 claims granted") break ;; esac
  [ "$(date +%s)" -lt "$settle_deadline" ] || fail "the servers did not fall idle within ${SETTLE_SECS:-900}s of the recovery"
done
figures "recovered and settled" "$t0"
