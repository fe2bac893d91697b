#!/usr/bin/env bash
# wctl against a real local cluster: every command, its --help, its --json output and its exit
# statuses (0 done, 1 protocol error, 2 bad usage, 3 unreachable), while servers go down.
#
#   tests/wctl/run.sh WALLE WCTL
set -euo pipefail
USAGE="usage: run.sh WALLE WCTL"
WALLE=${1:?$USAGE}
WCTL=${2:?$USAGE}
LOG_TAG=wctl
source "$(dirname "$0")/../lib/local_cluster.sh"

# expect_exit CODE WHAT CMD...: runs CMD, output in $WORK/out, and fails unless it exits CODE.
expect_exit() {
  local code=$1 what=$2 got=0
  shift 2
  "$@" > "$WORK/out" 2>&1 || got=$?
  [ "$got" -eq "$code" ] || fail "$what: exit $got, expected $code: $(head -c 600 "$WORK/out")"
}
says() { grep -q -- "$1" "$WORK/out" || fail "$2: output lacks '$1': $(head -c 600 "$WORK/out")"; }
w() { "$WCTL" --cluster-file "$WORK/cluster" --secret-file "$WORK/secret" "$@"; }

# --help answers for wctl and every command, without a cluster.
expect_exit 0 "wctl --help" "$WCTL" --help
for cmd in status claim put read tail bench; do
  expect_exit 0 "wctl $cmd --help" "$WCTL" "$cmd" --help
  says "Usage" "wctl $cmd --help"
done
expect_exit 2 "no command" "$WCTL"
expect_exit 2 "an unknown command" "$WCTL" frobnicate
expect_exit 2 "an unknown flag" "$WCTL" read orders --frm 3
expect_exit 2 "a missing cluster file" "$WCTL" --cluster-file "$WORK/none" --secret-file "$WORK/none" status
says "cluster" "a missing cluster file"

make_cluster orders payments
for i in 0 1 2; do start_server "$i"; done
answered() { [ "$(w --json status orders | grep -o '"answered":true' | wc -l)" -eq 3 ]; }
wait_for "all three servers to answer for stream orders" 10 answered
log "3 servers up; all answer wctl status"

expect_exit 2 "a stream not in the cluster file" w put nosuch x
says "not in the cluster file" "a stream not in the cluster file"

# put: arguments, stdin lines, stdin whole; read them back in order.
expect_exit 0 "put args" w put orders one two three
says "ids 1..3" "put args"
printf 'four\nfive\n' > "$WORK/lines"
expect_exit 0 "put stdin" sh -c "\"$WCTL\" --cluster-file '$WORK/cluster' --secret-file '$WORK/secret' put orders < '$WORK/lines'"
says "ids 4..5" "put stdin"
printf 'six\nstill six' > "$WORK/whole"
expect_exit 0 "put --whole" sh -c "\"$WCTL\" --cluster-file '$WORK/cluster' --secret-file '$WORK/secret' put orders --whole < '$WORK/whole'"
says "ids 6..6" "put --whole"
expect_exit 0 "read" w read orders --from 1 --to 5
printf '1\tone\n2\ttwo\n3\tthree\n4\tfour\n5\tfive\n' | cmp -s - "$WORK/out" || fail "read printed: $(cat "$WORK/out")"
expect_exit 0 "read --json" w read orders --from 2 --to 2 --json
says '"id":2' "read --json"
says '"data":"two"' "read --json"
expect_exit 0 "tail (the last entries)" w tail orders
[ "$(wc -l < "$WORK/out")" -ge 6 ] || fail "tail printed $(wc -l < "$WORK/out") lines, expected the 6 entries' 7"
expect_exit 1 "read past the commit point" w read orders --from 100 --to 100 --timeout-ms 300
says "not committed" "read past the commit point"
log "put (args, lines, whole), read, read --json and tail print what was committed"

# tail -f follows new commits until interrupted.
"$WCTL" --cluster-file "$WORK/cluster" --secret-file "$WORK/secret" tail orders -f > "$WORK/follow" 2>&1 &
FOLLOW=$!
CLIENT_PIDS+=($FOLLOW)
follow_printed() { grep -q "seven" "$WORK/follow"; }
expect_exit 0 "put while following" w put orders seven
wait_for "tail -f to print the new entry" 10 follow_printed
kill -INT "$FOLLOW"
follow_status=0
wait "$FOLLOW" || follow_status=$?
[ "$follow_status" -eq 0 ] || fail "tail -f exited $follow_status on SIGINT"
log "tail -f printed a new commit and stopped cleanly on SIGINT"

# claim: a live holder makes a claim without --preempt fail (3), with --preempt succeed.
"$WCTL" --cluster-file "$WORK/cluster" --secret-file "$WORK/secret" claim payments --hold-s 3 \
  > "$WORK/holder" 2>&1 &
HOLDER=$!
CLIENT_PIDS+=($HOLDER)
holding() { grep -q "claimed payments" "$WORK/holder"; }
wait_for "the holder to claim payments" 10 holding
expect_exit 3 "a claim against a live lease" w claim payments --wait-ms 0
expect_exit 0 "a preempting claim" w claim payments --preempt
says "claimed payments" "a preempting claim"
holder_status=0
wait "$HOLDER" || holder_status=$?
[ "$holder_status" -eq 1 ] || fail "the fenced holder exited $holder_status, expected 1: $(cat "$WORK/holder")"
log "claim: refused against a live lease (3), taken with --preempt, the old holder fenced (1)"

# status as a table and as JSON; bench prints figures.
expect_exit 0 "status" w status
says "SERVER" "status"
says "stream payments" "status"
expect_exit 0 "bench" w bench --duration-s 1 --warmup-s 0.2 --json
says '"entries_per_s"' "bench --json"
grep -q '"entries":0,' "$WORK/out" && fail "bench committed nothing: $(cat "$WORK/out")"
log "bench: $(tail -1 "$WORK/out")"

# One server down: writes go on, status says who is missing.
stop_server 2 9
expect_exit 0 "put with a server down" w put orders eight
expect_exit 0 "status with a server down" w status orders
says "no answer" "status with a server down"
# All down: unreachable (3), with a hint.
stop_server 0 9
stop_server 1 9
expect_exit 3 "status of a cluster that is down" w status orders
says "is the cluster up" "status of a cluster that is down"
expect_exit 3 "put to a cluster that is down" w put orders nine
log "PASS: wctl's commands, output and exit statuses hold against a live, a degraded and a dead cluster"
