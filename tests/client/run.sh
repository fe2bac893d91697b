#!/usr/bin/env bash
# The client library's promises under trouble, on three real servers (tests/client/client_behaviour.cc):
# puts from callbacks are refused, never blocked, past the pipeline; and close() with every
# server killed returns an error within its grace, every put resolved.
#
#   tests/client/run.sh WALLE CLIENT_BEHAVIOUR
set -euo pipefail
USAGE="usage: run.sh WALLE CLIENT_BEHAVIOUR"
WALLE=${1:?$USAGE}
BEHAVIOUR=${2:?$USAGE}
LOG_TAG=client
source "$(dirname "$0")/../lib/local_cluster.sh"

make_cluster pressure down
for i in 0 1 2; do start_server "$i"; done

out=$(timeout 60 "$BEHAVIOUR" "$WORK/cluster" "$WORK/secret" pressure callback-backpressure 2>&1) \
  || fail "callback-backpressure: $out"
log "callback-backpressure: $out"

# close-when-down talks over a fifo: it says "ready", we kill every server, then we tell it.
mkfifo "$WORK/to_client"
"$BEHAVIOUR" "$WORK/cluster" "$WORK/secret" down close-when-down \
  < "$WORK/to_client" > "$WORK/client.out" 2>&1 &
CLIENT=$!
CLIENT_PIDS+=("$CLIENT")  # stopped by cleanup if we fail first
exec 3> "$WORK/to_client"
client_ready() { grep -q '^ready$' "$WORK/client.out"; }
wait_for "the client to claim and commit with the cluster up" 30 client_ready
for i in 0 1 2; do stop_server "$i" KILL; done
log "killed every server (kill -9)"
echo go >&3
exec 3>&-
client_exited() { ! kill -0 "$CLIENT" 2>/dev/null; }
wait_for "the client's close() to return with the cluster down" 30 client_exited
status=0
wait "$CLIENT" || status=$?
out=$(cat "$WORK/client.out")
[ "$status" -eq 0 ] || fail "close-when-down exited $status: $out"
log "close-when-down: $(echo "$out" | tr '\n' ' ')"
log "PASS: backpressure from callbacks, and close() with the cluster down"
