#!/usr/bin/env bash
# End-to-end suite: three real walle servers on 127.0.0.1, writers and a reader in processes of
# their own (walle-e2e-client), real faults while writing. Afterwards every acknowledged entry
# must read back from a fresh reader with identical bytes, in order, on an intact checksum
# chain. Every process started here is stopped by its pid on exit, also when a step fails.
#
#   tests/e2e/run.sh WALLE WALLE_E2E_CLIENT WALLE_E2E_NEVER_READER
set -euo pipefail

USAGE="usage: run.sh WALLE WALLE_E2E_CLIENT WALLE_E2E_NEVER_READER"
WALLE=${1:?$USAGE}
CLIENT=${2:?$USAGE}
NEVER_READER=${3:?$USAGE}
STREAM=orders
LEASE_MS=1000
LOG_TAG=e2e
source "$(dirname "$0")/../lib/local_cluster.sh"

SERVER_FLAGS=(--segment-bytes 4194304 --max-buffered-bytes 8388608)  # the bounds tested here
make_cluster "$STREAM"

writer() {  # writer NAME ENTRIES: a writer process in the background, 1,000 entries a second
  "$CLIENT" write --cluster-file "$WORK/cluster" --secret-file "$WORK/secret" --stream "$STREAM" \
    --entries "$2" --entry-bytes 200 --lease-ms "$LEASE_MS" --acked "$WORK/acked-$1" --per-second 1000 \
    --timeout-s 60 2>> "$WORK/client-$1.log" &
  CLIENT_PIDS+=($!)
  LAST_CLIENT=$!
}

acked() { [ -f "$WORK/acked-$1" ] && wc -l < "$WORK/acked-$1" || echo 0; }
has_acked() { [ "$(acked "$1")" -ge "$2" ]; }
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
# scrape I: server I's metrics endpoint, answer body only, into $WORK/metrics$I.
scrape() {
  (exec 3<>"/dev/tcp/127.0.0.1/${METRICS_PORT[$1]}"
   printf 'GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n' >&3
   cat <&3) > "$WORK/metrics-raw$1" || fail "cannot scrape server $1's metrics"
  head -1 "$WORK/metrics-raw$1" | grep -q '^HTTP/1.1 200' || fail "server $1's metrics: $(head -1 "$WORK/metrics-raw$1")"
  sed '1,/^\r$/d' "$WORK/metrics-raw$1" > "$WORK/metrics$1"
}
# metric I NAME: the value of a sample line "NAME VALUE" from the last scrape of server I.
metric() { awk -v n="$2" '$1 == n {print $2; found=1} END {if (!found) print "missing"}' "$WORK/metrics$1"; }

for i in 0 1 2; do start_server "$i"; done
log "3 servers up on ports ${PORT[*]}"

# 1. A writer; kill -9 of a server while it writes, and its restart.
writer a 3000
wait_for "writer a's first 300 acknowledgements" 20 has_acked a 300
stop_server 1 9
log "server 1 killed (-9) at $(acked a) entries acknowledged"
wait_for "writer a going on with 2 of 3 servers" 20 has_acked a 1200
start_server 1
log "server 1 restarted"

# 2. kill -9 of the writer process, and a new claim from another that fences it.
wait_for "writer a's 1500th acknowledgement" 20 has_acked a 1500
kill -9 "$LAST_CLIENT"; wait "$LAST_CLIENT" 2>/dev/null || true
log "writer a killed (-9) at $(acked a) entries acknowledged"
writer b 100000
B=$LAST_CLIENT
wait_for "writer b's first 500 acknowledgements" 20 has_acked b 500

# 3. SIGSTOP of the writer past its lease; another claims meanwhile; SIGCONT: b is fenced.
kill -STOP "$B"
log "writer b stopped (SIGSTOP) at $(acked b) acknowledged"
writer c 1500
C=$LAST_CLIENT
wait_for "writer c's first 200 acknowledgements" 20 has_acked c 200
kill -CONT "$B"
b_status=0
wait "$B" || b_status=$?
[ "$b_status" -eq 3 ] || fail "writer b exited $b_status after SIGCONT, not 3 (fenced)"
log "writer b resumed (SIGCONT) and found itself fenced, as it must"

# 4. SIGSTOP of a server past the lease, then SIGCONT, while c writes.
kill -STOP "${SERVER_PID[2]}"
sleep $(( LEASE_MS * 2 / 1000 ))
kill -CONT "${SERVER_PID[2]}"
log "server 2 paused past the lease and resumed"
c_status=0
wait "$C" || c_status=$?
[ "$c_status" -eq 0 ] || fail "writer c exited $c_status"
log "writer c done: $(acked c) acknowledged"

# 5. Bad input to a live server under load: it keeps serving, its memory stays bounded.
writer d 4000
D=$LAST_CLIENT
wait_for "writer d under way" 20 has_acked d 200
rss_before=$(rss_kb "${SERVER_PID[0]}")
bad() { (exec 3<>"/dev/tcp/127.0.0.1/${PORT[0]}"; printf "$1" >&3; sleep 0.2) 2>/dev/null || true; }
bad 'GET / HTTP/1.1\r\nHost: x\r\n\r\n'                       # random bytes
bad '\x10\x00\x00\x00\x01\x02'                                 # a truncated frame
bad '\xff\xff\xff\xff\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00'  # a huge length prefix
head -c 100000 /dev/urandom > "$WORK/noise"
(exec 3<>"/dev/tcp/127.0.0.1/${PORT[0]}"; cat "$WORK/noise" >&3) 2>/dev/null || true
# A server of another cluster, and one with the wrong secret, both dialing everyone.
sed 's/^cluster e2e/cluster other/' "$WORK/cluster" > "$WORK/cluster-other"
printf 'wrong' > "$WORK/secret-wrong"; chmod 600 "$WORK/secret-wrong"
for variant in "cluster-other secret" "cluster secret-wrong"; do
  set -- $variant
  "$WALLE" --data-dir "$WORK/intruder-$1-$2" --node-id 1 --cluster-file "$WORK/$1" \
    --secret-file "$WORK/$2" --listen 127.0.0.1:0 2>> "$WORK/intruder.log" &
  INTRUDER=$!
  CLIENT_PIDS+=($INTRUDER)
  sleep 0.5
  kill -9 "$INTRUDER"; wait "$INTRUDER" 2>/dev/null || true
done
# A client that asks for large reads and never reads the answers: dropped at the send bound.
never=$("$NEVER_READER" --cluster-file "$WORK/cluster" --secret-file "$WORK/secret" \
  --stream "$STREAM" --server 0 --timeout-s 30 2>&1) || fail "the never-reading client: $never"
log "never-reading client: $never"
d_status=0
wait "$D" || d_status=$?
[ "$d_status" -eq 0 ] || fail "writer d exited $d_status while the server got bad input"
rss_after=$(rss_kb "${SERVER_PID[0]}")
grep -q "fails its check\|exceeds the limit\|payload checksum" "$WORK/log0" || fail "no bad frame logged by server 0"
grep -q "belongs to cluster 'other'" "$WORK/log0" || fail "the other cluster's server was not refused with its reason"
grep -q "does not match the cluster secret" "$WORK/log0" || fail "the wrong secret was not refused with its reason"
log "bad input refused; server 0 RSS ${rss_before} kB before, ${rss_after} kB after; writer d done"
[ "$rss_after" -lt $(( rss_before + 65536 )) ] || fail "server 0 grew by more than 64 MiB under bad input"
grep -q "does not read" "$WORK/log0" || fail "server 0 did not log dropping the never-reading client"

# The metrics of server 0, scraped live: what it did under that load must show.
scrape 0
for name in walle_puts_acked_total walle_fdatasync_duration_seconds_count 'walle_stream_commit_id{stream="orders"}' \
    'walle_handshakes_total{result="failed"}' 'walle_connection_drops_total{reason="bad_frame"}' \
    'walle_connection_drops_total{reason="send_bound"}' walle_metrics_scrapes_total; do
  v=$(metric 0 "$name")
  [ "$v" != missing ] && [ "${v%.*}" -gt 0 ] 2>/dev/null || fail "metric $name of server 0 is $v, want > 0"
done
grep -q '^walle_fdatasync_duration_seconds_bucket{le="+Inf"}' "$WORK/metrics0" || fail "no fdatasync histogram"
log "metrics of server 0: $(metric 0 walle_puts_acked_total) puts acknowledged," \
    "$(metric 0 walle_fdatasync_duration_seconds_count) fdatasyncs," \
    "$(metric 0 'walle_handshakes_total{result="failed"}') handshakes refused"

# 6. A clean stop of all three (SIGTERM: exit 0) and a restart.
for i in 0 1 2; do
  stop_server "$i" TERM
  [ "$STOP_STATUS" -eq 0 ] || fail "server $i exited $STOP_STATUS on SIGTERM"
done
grep -q "stopped cleanly" "$WORK/log0" || fail "server 0 did not log a clean stop"
log "all servers stopped cleanly (SIGTERM, exit 0)"
for i in 0 1 2; do start_server "$i"; done
log "all servers restarted"

# 7. A fresh reader checks every acknowledged entry of every writer.
expect=()
for w in a b c d; do expect+=(--expect "$WORK/acked-$w"); done
total=$(cat "$WORK"/acked-* | wc -l)
out=$("$CLIENT" read --cluster-file "$WORK/cluster" --secret-file "$WORK/secret" \
  --stream "$STREAM" "${expect[@]}" --timeout-s 60 2>&1) || fail "the reader: $out"
log "$out"
log "PASS: $total acknowledged entries checked after kill -9 of a server and a writer, a fenced" \
    "writer, a paused server, bad input and a clean restart, in $(( $(date +%s) - START ))s"
