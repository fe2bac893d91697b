#!/usr/bin/env bash
# Many streams per server (the "Many streams per server" issue's benchmark): for each stream
# count N, three fresh walle servers hosting N streams, one writer per stream at 1 in flight
# of 1 KiB (wctl bench --streams N --in-flight 1), then one writer on one stream at 256 in
# flight for the aggregate-throughput yardstick. Prints, per configuration: entries/s, p50 and
# p99 commit latency, and fdatasyncs per second per server (server 0's metrics, over the
# measured window), plus how long the servers took to open the N streams.
#
#   bench/streams-bench.sh BUILD_DIR [N...]        (default N: 1 10 100; env SECS=5,
#                                                  SEGMENT_BYTES=4194304,
#                                                  WALLE_SERVER_FLAGS="--sync per-stream")
set -euo pipefail
BUILD=${1:?usage: streams-bench.sh BUILD_DIR [N...]}
shift
COUNTS=("$@")
[ ${#COUNTS[@]} -eq 0 ] && COUNTS=(1 10 100)
WALLE="$BUILD/runtime/walle"
WCTL="$BUILD/tools/wctl/wctl"
SECS=${SECS:-5}
LOG_TAG=streams
source "$(dirname "$0")/../tests/lib/local_cluster.sh"
# Extra flags for every server, e.g. WALLE_SERVER_FLAGS="--sync per-stream" for the comparison.
read -r -a SERVER_FLAGS <<< "${WALLE_SERVER_FLAGS:-}"
# Every stream preallocates its segments: at the default 64 MiB, 1000 streams on 3 servers
# would reserve hundreds of GB. SEGMENT_BYTES (default 4 MiB) keeps the bench on one disk.
SERVER_FLAGS+=(--segment-bytes "${SEGMENT_BYTES:-4194304}")

fdatasyncs() {  # server 0's fdatasync count
  curl -s "127.0.0.1:${METRICS_PORT[0]}/metrics" | awk '/^walle_disk_syncs_total\{kind="fdatasync"\}/ {print $2}'
}

# run_config N IN_FLIGHT STREAMS_WRITTEN: one line of figures.
run_config() {
  local n=$1 in_flight=$2 written=$3
  local names=()
  for i in $(seq 0 $((n - 1))); do names+=("b$i"); done
  for i in 0 1 2; do [ -n "${SERVER_PID[$i]:-}" ] && stop_server "$i" TERM; done
  rm -rf "$WORK"/d0 "$WORK"/d1 "$WORK"/d2
  make_cluster "${names[@]}"
  local t0=$(date +%s.%N)
  for i in 0 1 2; do start_server "$i"; done
  last_open() {  # every server serves every stream
    for i in 0 1 2; do
      [ "$(curl -s "127.0.0.1:${METRICS_PORT[$i]}/metrics" | awk '/^walle_streams\{state="serving"\}/ {print $2}')" = "$n" ] || return 1
    done
  }
  wait_for "the servers to open $n streams" 600 last_open
  local opened=$(python3 -c "import sys; print('%.1f' % ($(date +%s.%N) - $t0))")
  local before=$(fdatasyncs)
  local out
  out=$("$WCTL" --cluster-file "$WORK/cluster" --secret-file "$WORK/secret" --json bench \
          --entry-bytes 1024 --in-flight "$in_flight" --streams "$written" --duration-s "$SECS" \
          --warmup-s 0 2>/dev/null)
  local after=$(fdatasyncs)
  python3 - "$out" "$n" "$in_flight" "$written" "$before" "$after" "$SECS" "$opened" <<'EOF'
import json, sys
r = json.loads(sys.argv[1])
n, in_flight, written, before, after, secs, opened = sys.argv[2:]
syncs = (float(after) - float(before)) / float(secs)
print("streams=%s written=%s in_flight=%s: %.0f entries/s, p50 %.0f us, p99 %.0f us, "
      "server 0 %.0f fdatasyncs/s; %s s to open the streams"
      % (n, written, in_flight, r["entries_per_s"], r["p50_us"], r["p99_us"], syncs, opened))
EOF
}

for n in "${COUNTS[@]}"; do run_config "$n" 1 "$n"; done
run_config 1 256 1
