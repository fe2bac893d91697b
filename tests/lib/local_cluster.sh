# Shell helpers for scripts that run a local WALLE cluster on 127.0.0.1: the end-to-end suite,
# the installed-package test, the wctl tests and scripts/run.sh. Source it after setting
#   WALLE        the walle server binary
#   LOG_TAG      what log lines start with, e.g. "e2e"
# It sets WORK (a fresh temporary directory, unless WORK is set already), SERVER_PID and
# CLIENT_PIDS, and stops every process it started by its pid on exit, also when a step fails
# (E2E_KEEP=1 keeps WORK).

if [ -n "${WORK:-}" ]; then mkdir -p "$WORK"; else WORK=$(mktemp -d /tmp/walle-${LOG_TAG:-cluster}.XXXXXX); fi
declare -A SERVER_PID
CLIENT_PIDS=()
START=$(date +%s)
# Under AddressSanitizer freed memory waits in a 256 MiB quarantine, which a bound on a server's
# RSS would count as growth; a 16 MiB quarantine still catches use-after-free on the hot paths.
# Ignored by builds without ASan. Options already set by the caller win.
export ASAN_OPTIONS="quarantine_size_mb=16${ASAN_OPTIONS:+:$ASAN_OPTIONS}"

log() { echo "[${LOG_TAG:-cluster} $(( $(date +%s) - START ))s] $*"; }
fail() {
  log "FAIL: $*"
  for i in 0 1 2; do [ -f "$WORK/log$i" ] && { echo "--- server $i log (last 20 lines)"; tail -20 "$WORK/log$i"; }; done
  exit 1
}

cleanup() {
  local pids=("${CLIENT_PIDS[@]}" "${SERVER_PID[@]}")
  for pid in "${pids[@]}"; do kill -CONT "$pid" 2>/dev/null || true; kill -9 "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ -n "${E2E_KEEP:-}" ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

# wait_for WHAT SECONDS COMMAND...: polls COMMAND every 50 ms until it succeeds, failing with
# WHAT at the deadline (the sleep is the polling interval, not a wait for a race to settle).
wait_for() {
  local what=$1 seconds=$2
  shift 2
  local deadline=$(( $(date +%s%N) + seconds * 1000000000 ))
  until "$@"; do
    [ "$(date +%s%N)" -lt "$deadline" ] || fail "timed out after ${seconds}s waiting for: $what"
    sleep 0.05
  done
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port_free() { ! port_open "$1"; }

# make_cluster STREAM...: picks six free ports in a random range (parallel runs do not collide),
# the servers' (PORT) then their metrics endpoints' (METRICS_PORT), and writes $WORK/cluster
# (hosting the streams named) and a fresh $WORK/secret.
make_cluster() {
  local base=$(( 20000 + RANDOM % 20000 ))
  for p in $(seq "$base" $((base + 5))); do port_free "$p" || fail "port $p is taken; run again"; done
  PORT=($base $((base + 1)) $((base + 2)))
  METRICS_PORT=($((base + 3)) $((base + 4)) $((base + 5)))
  {
    echo "cluster ${LOG_TAG:-local}"
    for i in 0 1 2; do echo "server $i 127.0.0.1:${PORT[$i]}"; done
    for s in "$@"; do echo "stream $s"; done
  } > "$WORK/cluster"
  head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$WORK/secret"
  chmod 600 "$WORK/secret"
}

# start_server I: server I in the background, with the flags in SERVER_FLAGS (if set), logging
# to $WORK/logI; returns once it listens.
start_server() {
  local i=$1
  "$WALLE" --data-dir "$WORK/d$i" --node-id "$i" --cluster-file "$WORK/cluster" \
    --secret-file "$WORK/secret" --metrics-listen "127.0.0.1:${METRICS_PORT[$i]}" \
    --log-level info ${SERVER_FLAGS[@]+"${SERVER_FLAGS[@]}"} 2>> "$WORK/log$i" &
  SERVER_PID[$i]=$!
  wait_for "server $i listening" 10 port_open "${PORT[$i]}"
}

stop_server() {  # stop_server I SIGNAL: sets STOP_STATUS to the server's exit status
  local i=$1 sig=$2
  kill "-$sig" "${SERVER_PID[$i]}"
  STOP_STATUS=0
  wait "${SERVER_PID[$i]}" 2>/dev/null || STOP_STATUS=$?
  unset "SERVER_PID[$i]"
}
