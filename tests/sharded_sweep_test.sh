#!/usr/bin/env bash
# Sharded sweeps add up to the unsharded one. Runs 4 shards of a seed range through GNU
# parallel (as on several machines), merges them with `walle-sim report`, and checks that the
# result is what one unsharded sweep of the same seeds says: the same seeds with the same
# verdicts, digests and failures, and the same coverage table. Then checks that the check can
# fail: a dropped seed and a seed in two shards must both be caught.
#
#   sharded_sweep_test.sh WALLE_SIM WORK_DIR EXPECTED_STATUS SEEDS [sweep options...]
#
# EXPECTED_STATUS is the unsharded sweep's exit status (1 for a planted bug); the report of
# the shards must exit with the same.
set -euo pipefail

sim=$1
dir=$2
expected=$3
seeds=$4
shift 4
options=("$@")
shards=4

command -v parallel >/dev/null || {
  echo "GNU parallel is missing: run scripts/install-deps.sh" >&2
  exit 1
}
rm -rf "$dir"
mkdir -p "$dir"
cd "$dir"

fail() {
  echo "FAILED: $*" >&2
  exit 1
}
# Runs a command that may exit nonzero; its status is in $status.
run() {
  set +e
  "$@"
  status=$?
  set -e
}
# The seed lines of results files, in seed order: every field of them is deterministic.
seed_lines() { cat "$@" | grep '"type":"seed"' | sort; }
# A report without the lines that depend on how the seeds were split (files, wall times).
split_free() { grep -v -e '^  file ' -e '^throughput:' "$1"; }
coverage_table() { grep -E '^coverage \(|^  [a-z_]+ +[0-9]+ times in' "$1"; }

# The shards, two at a time on this machine. With --sshlogin the same line spreads them over
# machines (docs/simulation.md, "Sweeps across machines").
run parallel --will-cite --jobs 2 --joblog shards.log \
  "$sim" sweep --seeds "$seeds" --shard {}/$shards --jobs 1 --json shard-{}.jsonl \
  --failures failures-{}.txt "${options[@]}" ">" shard-{}.out "2>&1" ::: $(seq 0 $((shards - 1)))
# A shard's exit status is 0, or 1 when one of its seeds failed; anything else is an error.
awk -v expected="$expected" 'NR > 1 && !($7 == 0 || ($7 == 1 && expected == 1)) {
  print "shard job exited " $7 ": " $0; bad = 1 } END { exit bad }' shards.log ||
  fail "a shard did not run (see $dir/shard-*.out)"

run "$sim" sweep --seeds "$seeds" --jobs 2 --json whole.jsonl --failures failures-whole.txt \
  "${options[@]}" >whole.out 2>&1
[ "$status" -eq "$expected" ] || fail "the unsharded sweep exited $status, expected $expected"

run "$sim" report shard-*.jsonl >shards.report
[ "$status" -eq "$expected" ] || fail "report of the shards exited $status, expected $expected"
run "$sim" report whole.jsonl >whole.report
[ "$status" -eq "$expected" ] || fail "report of the unsharded sweep exited $status"

cmp -s <(seed_lines shard-*.jsonl) <(seed_lines whole.jsonl) ||
  fail "the shards' seed lines differ from the unsharded sweep's"
diff <(split_free shards.report) <(split_free whole.report) ||
  fail "the report of the shards differs from the report of the unsharded sweep"
# The report's coverage table and failures are the ones the sweep itself printed.
diff <(coverage_table shards.report) <(coverage_table whole.out) ||
  fail "the report's coverage table differs from the unsharded sweep's"
diff <(grep '^FAIL' shards.report | sort) <(grep '^FAIL' whole.out | sort) ||
  fail "the report's FAIL lines differ from the unsharded sweep's"
done_line=$(grep -E '^done: [0-9]+ seeds, [0-9]+ failures' whole.out) ||
  fail "no summary line in the unsharded sweep's output"
read -r ran failed < <(sed -E 's/^done: ([0-9]+) seeds, ([0-9]+) failures.*/\1 \2/' <<<"$done_line")
grep -q ": $ran ran, $failed failed, 0 nondeterministic, 0 missing$" shards.report ||
  fail "the report does not count $ran seeds and $failed failures: $(head -1 shards.report)"

# The check must be able to fail. A shard that lost a seed line:
mkdir -p broken
cp shard-*.jsonl broken/
sed '1{/"type":"seed"/d}' shard-2.jsonl >broken/shard-2.jsonl
run "$sim" report broken/shard-*.jsonl >broken.report
[ "$status" -eq 1 ] || fail "report exited $status for a dropped seed, expected 1"
grep -q '^missing: 1 seeds' broken.report || fail "report did not name the dropped seed"
! cmp -s <(seed_lines broken/shard-*.jsonl) <(seed_lines whole.jsonl) ||
  fail "the seed-line comparison missed a dropped seed"
# ... and a seed in two shards:
cp shard-2.jsonl broken/shard-2.jsonl
grep -m1 '"type":"seed"' shard-0.jsonl >>broken/shard-1.jsonl
tail -1 shard-1.jsonl >>broken/shard-1.jsonl  # the summary line stays last
run "$sim" report broken/shard-*.jsonl >broken.report
[ "$status" -eq 2 ] || fail "report exited $status for a seed in two shards, expected 2"
grep -q '^error: seed .* is in both' broken.report || fail "report did not name the overlap"

echo "sharded sweep of $seeds: $ran seeds, $failed failures, same as unsharded"
