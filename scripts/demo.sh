#!/usr/bin/env bash
# The local cluster demo (scripts/run.sh): three walle servers on 127.0.0.1 with data under
# ./local-cluster, a benchmark with a live progress line, writes that go on while a server is
# killed (and are all read back), its restart and catch-up, a summary, and everything stopped.
# With `keep`, the cluster stays up until Ctrl-C instead, for wctl.
#
#   scripts/demo.sh BUILD_DIR [demo|keep]
set -euo pipefail
BUILD=${1:?usage: demo.sh BUILD_DIR [demo|keep]}
MODE=${2:-demo}
WALLE="$BUILD/runtime/walle"
WCTL="$BUILD/tools/wctl/wctl"
LOG_TAG=walle
WORK="$PWD/local-cluster"
rm -rf "$WORK"
E2E_KEEP=1  # the data and logs stay for a look afterwards
source "$(dirname "$0")/../tests/lib/local_cluster.sh"
w() { "$WCTL" --cluster-file "$WORK/cluster" --secret-file "$WORK/secret" "$@"; }

make_cluster demo orders
for i in 0 1 2; do start_server "$i"; done
answered() { [ "$(w --json status demo | grep -o '"answered":true' | wc -l)" -eq 3 ]; }
wait_for "the three servers to open stream demo" 15 answered
log "3 servers on 127.0.0.1 ports ${PORT[*]}; data and logs in $WORK"

if [ "$MODE" = keep ]; then
  cat <<EOT
The cluster runs until Ctrl-C. In another shell:
  export WALLE_CLUSTER_FILE=$WORK/cluster WALLE_SECRET_FILE=$WORK/secret
  $WCTL status
  echo hello | $WCTL put demo
  $WCTL read demo --from 1
  $WCTL bench --duration-s 5
EOT
  trap 'log "stopping"; exit 0' INT TERM
  while true; do sleep 1; done
fi

log "benchmark: 1 KiB entries, 64 in flight, 5 s"
w bench --duration-s 5 --warmup-s 0.5 --entry-bytes 1024 --in-flight 64 | sed 's/^/  /'

seq 1 2000 | sed 's/^/order /' > "$WORK/batch1"
seq 2001 4000 | sed 's/^/order /' > "$WORK/batch2"
log "writing 2,000 entries to stream orders"
w put orders < "$WORK/batch1" | sed 's/^/  /'
stop_server 1 9
log "server 1 killed (kill -9); writing 2,000 more with a new claim on the 2 servers left"
w put orders < "$WORK/batch2" | sed 's/^/  /'
w read orders --from 1 --to 4000 | cut -f2 > "$WORK/read"
cat "$WORK/batch1" "$WORK/batch2" | cmp -s - "$WORK/read" || fail "the 4,000 entries do not read back as written"
log "read back all 4,000 entries, in order, intact: nothing lost"

start_server 1
caught_up() { w --json status orders | grep -q '"server":1,"answered":true,"error":"","writer":"[^"]*","lease_left_ms":-\?[0-9]*,"committed_id":4000'; }
wait_for "server 1 to catch up to entry 4000" 30 caught_up
log "server 1 restarted and caught up"
echo
w status
echo
log "done; stopping the servers (data and logs stay in $WORK)"
