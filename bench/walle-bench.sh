#!/usr/bin/env bash
# WALLE's side of the yardstick run (bench/peers.sh): three walle servers and wctl bench on this
# machine, the configurations the peers run: 1 KiB at 1, 64 and 256 in flight, 64 KiB at 64.
# Prints one line per configuration, then a last line with all of them (peerbench puts the
# last line into its table) and the servers' peak RSS.
#
#   bench/walle-bench.sh BUILD_DIR      (env: PEERBENCH_SECS, PEERBENCH_WORK from peerbench)
set -euo pipefail
BUILD=${1:?usage: walle-bench.sh BUILD_DIR}
WALLE="$BUILD/runtime/walle"
WCTL="$BUILD/tools/wctl/wctl"
SECS=${PEERBENCH_SECS:-5}
LOG_TAG=bench
[ -n "${PEERBENCH_WORK:-}" ] && WORK="$PEERBENCH_WORK/walle"
source "$(dirname "$0")/../tests/lib/local_cluster.sh"

make_cluster bench
for i in 0 1 2; do start_server "$i"; done
answered() { "$WCTL" --cluster-file "$WORK/cluster" --secret-file "$WORK/secret" --json status bench | grep -o '"answered":true' | wc -l | grep -q 3; }
wait_for "the servers to open stream bench" 15 answered

summary=()
for cfg in "1024 1" "1024 64" "1024 256" "65536 64"; do
  set -- $cfg
  out=$("$WCTL" --cluster-file "$WORK/cluster" --secret-file "$WORK/secret" --json bench \
          --entry-bytes "$1" --in-flight "$2" --duration-s "$SECS" --warmup-s 1 2>/dev/null)
  echo "$out"
  summary+=("$(python3 -c "import json,sys; r=json.loads(sys.argv[1]); print('%dB@%d: %.0f/s %.1fMB/s p50 %.0fus p99 %.0fus p999 %.0fus' % (r['entry_bytes'], r['in_flight'], r['entries_per_s'], r['mb_per_s'], r['p50_us'], r['p99_us'], r['p999_us']))" "$out")")
done
rss=0
for i in 0 1 2; do
  r=$(awk '/VmHWM/ {print $2}' "/proc/${SERVER_PID[$i]}/status")
  [ "$r" -gt "$rss" ] && rss=$r
done
echo "walle: $(IFS='; '; echo "${summary[*]}"); server peak RSS $((rss / 1024)) MiB"
