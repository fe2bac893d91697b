#!/usr/bin/env bash
# Mutation testing for the simulator: applies each mutant (tools/mutants/NN-area-name.patch,
# one realistic bug each) to a scratch copy of the repo, builds walle-sim and sweeps seeds
# until a checker fails. A mutant is caught when the sweep fails; it survives when every seed
# passes. See tools/mutants/README.md.
#
# Bash only (no python): CI machines have bash, git, cmake and ninja.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: tools/mutants/run.sh [options]
  -n, --seeds N           seeds per mutant: sweep 1..N (default 10000)
  -j, --jobs J            sweep workers and build jobs (default: nproc)
  -m, --mutants GLOBS     comma-separated globs on mutant names, e.g. '0[1-4]-*,*backfill*'
                          (default: all)
  -w, --workload W        walle-sim workload (default protocol)
  -o, --output FILE       markdown report (default mutants-report.md)
  -b, --baseline-seeds N  seeds of the unmutated sanity sweep (default 300)
      --rev REV           sources to mutate: a commit (default HEAD)
      --worktree          sources to mutate: the working tree's tracked files, uncommitted
                          changes included (instead of --rev)
      --scratch DIR       parent directory for the scratch copy (default: /tmp)
      --keep              keep the scratch copy (sources and build) at exit
      --check             only check that every patch still applies to the current tree
                          (git apply --check) and has its header lines; exit 1 if not
      --list              list the mutants (name, area) and exit
  -v, --verbose           forward walle-sim's sweep progress lines to stderr
  -h, --help              this help
Exit status: 0 the run finished (whatever the score), 1 --check found a stale patch,
2 bad usage or a broken setup (the baseline failed, the scratch build failed).
EOF
}

die() { echo "run.sh: $*" >&2; exit 2; }

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(git -C "$HERE" rev-parse --show-toplevel 2>/dev/null || (cd "$HERE/../.." && pwd))"
MUTANTS_DIR="$HERE"

SEEDS=10000
JOBS="$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)"
FILTER="*"
WORKLOAD=protocol
OUTPUT=mutants-report.md
BASELINE_SEEDS=300
REV=HEAD
USE_WORKTREE=0
SCRATCH_PARENT="${TMPDIR:-/tmp}"
KEEP=0
MODE=run
VERBOSE=0

need_arg() { [[ $# -ge 2 && -n "$2" ]] || die "$1 needs a value (see --help)"; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    -n|--seeds) need_arg "$@"; SEEDS="$2"; shift 2 ;;
    -j|--jobs) need_arg "$@"; JOBS="$2"; shift 2 ;;
    -m|--mutants) need_arg "$@"; FILTER="$2"; shift 2 ;;
    -w|--workload) need_arg "$@"; WORKLOAD="$2"; shift 2 ;;
    -o|--output) need_arg "$@"; OUTPUT="$2"; shift 2 ;;
    -b|--baseline-seeds) need_arg "$@"; BASELINE_SEEDS="$2"; shift 2 ;;
    --rev) need_arg "$@"; REV="$2"; shift 2 ;;
    --worktree) USE_WORKTREE=1; shift ;;
    --scratch) need_arg "$@"; SCRATCH_PARENT="$2"; shift 2 ;;
    --keep) KEEP=1; shift ;;
    --check) MODE=check; shift ;;
    --list) MODE=list; shift ;;
    -v|--verbose) VERBOSE=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $1" ;;
  esac
done
[[ "$SEEDS" =~ ^[1-9][0-9]*$ ]] || die "--seeds must be a positive integer"
[[ "$JOBS" =~ ^[1-9][0-9]*$ ]] || die "--jobs must be a positive integer"
[[ "$BASELINE_SEEDS" =~ ^[0-9]+$ ]] || die "--baseline-seeds must be an integer"

# --- the mutants ------------------------------------------------------------------------------

header_field() { sed -n "s/^$2: //p" "$1" | head -n 1; }

matches_filter() {
  local name="$1" glob globs
  IFS=, read -ra globs <<<"$FILTER"
  for glob in "${globs[@]}"; do
    # shellcheck disable=SC2053  # the glob is meant to match
    [[ "$name" == $glob ]] && return 0
  done
  return 1
}

PATCHES=()
for p in "$MUTANTS_DIR"/*.patch; do
  [[ -e "$p" ]] || continue
  name="$(basename "$p" .patch)"
  matches_filter "$name" && PATCHES+=("$p")
done
[[ ${#PATCHES[@]} -gt 0 ]] || die "no mutant matches '$FILTER' in $MUTANTS_DIR"

if [[ "$MODE" == list ]]; then
  for p in "${PATCHES[@]}"; do
    printf '%-55s %s\n' "$(basename "$p" .patch)" "$(header_field "$p" Area)"
  done
  exit 0
fi

if [[ "$MODE" == check ]]; then
  # Against the current tree (working files), from the repo root: fast, no build.
  stale=0
  for p in "${PATCHES[@]}"; do
    name="$(basename "$p" .patch)"
    problem=""
    if [[ -z "$(header_field "$p" Area)" || -z "$(header_field "$p" Bug)" ]]; then
      problem="missing 'Area:' or 'Bug:' header line"
    elif ! grep -q '^diff --git ' "$p"; then
      problem="no 'diff --git' section"
    elif ! out="$(cd "$REPO" && git apply --check "$p" 2>&1)"; then
      problem="does not apply: ${out//$'\n'/; }"
    fi
    if [[ -n "$problem" ]]; then
      echo "STALE $name: $problem"
      stale=$((stale + 1))
    fi
  done
  echo "checked ${#PATCHES[@]} mutants: $((${#PATCHES[@]} - stale)) apply, $stale stale"
  [[ $stale -eq 0 ]] || exit 1
  exit 0
fi

# --- the scratch copy -------------------------------------------------------------------------

for tool in git cmake ninja; do
  command -v "$tool" >/dev/null || die "$tool is needed"
done
mkdir -p "$SCRATCH_PARENT"
SCRATCH="$(mktemp -d "$SCRATCH_PARENT/walle-mutants.XXXXXX")"
SRC="$SCRATCH/src"
BUILD="$SCRATCH/build"
LOGS="$SCRATCH/logs"
SWEEP_PID=""
cleanup() {
  local status=$?
  if [[ -n "$SWEEP_PID" ]] && kill -0 "$SWEEP_PID" 2>/dev/null; then
    kill -INT "$SWEEP_PID" 2>/dev/null || true
    wait "$SWEEP_PID" 2>/dev/null || true
  fi
  if [[ $KEEP -eq 1 ]]; then
    echo "run.sh: scratch copy kept in $SCRATCH" >&2
  else
    rm -rf "$SCRATCH"
  fi
  exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$SRC" "$LOGS"

START=$SECONDS
elapsed() {
  local s=$((SECONDS - START))
  printf '%dm%02ds' $((s / 60)) $((s % 60))
}
say() { echo "[mutants $(elapsed)] $*" >&2; }

if [[ $USE_WORKTREE -eq 1 ]]; then
  SOURCE_DESC="working tree of $(git -C "$REPO" rev-parse --short HEAD) (uncommitted changes included)"
  (cd "$REPO" && git ls-files -z | tar --null -T - --ignore-failed-read -cf - 2>/dev/null) |
    tar -xf - -C "$SRC"
else
  git -C "$REPO" rev-parse --verify --quiet "$REV^{commit}" >/dev/null || die "no such commit: $REV"
  SOURCE_DESC="$(git -C "$REPO" rev-parse --short "$REV") ($REV)"
  git -C "$REPO" archive "$REV" | tar -xf - -C "$SRC"
fi
# A private repository in the scratch copy: resetting between mutants rewrites only the files
# the last patch touched, so each build is incremental.
git -C "$SRC" init -q
git -C "$SRC" add -A
git -C "$SRC" -c user.name=walle-mutants -c user.email=mutants@localhost \
  commit -q --no-verify -m "unmutated sources"

say "scratch copy of $SOURCE_DESC in $SCRATCH"
say "configuring a Release build (-Werror: a mutant that warns is BUILD-FAILED)"
if ! cmake -S "$SRC" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DWALLE_BUILD_TESTS=OFF \
  -DWALLE_WERROR=ON >"$LOGS/configure.log" 2>&1; then
  tail -n 30 "$LOGS/configure.log" >&2
  die "cmake configure failed (log above)"
fi

build() {  # build LOG: incremental build of walle-sim only
  cmake --build "$BUILD" -j "$JOBS" --target walle-sim >"$1" 2>&1
}
SIM="$BUILD/tools/walle-sim/walle-sim"

# sweep N OUT ERR FAILURES: runs seeds 1..N, stopping at the first failure; returns its exit status
sweep() {
  local rc=0
  if [[ $VERBOSE -eq 1 ]]; then
    "$SIM" sweep --workload "$WORKLOAD" --seeds "1..$1" --stop-on-first -j "$JOBS" \
      --failures "$4" >"$2" 2> >(tee "$3" | sed -u 's/^/    /' >&2) &
  else
    "$SIM" sweep --workload "$WORKLOAD" --seeds "1..$1" --stop-on-first -j "$JOBS" \
      --failures "$4" >"$2" 2>"$3" &
  fi
  SWEEP_PID=$!
  wait "$SWEEP_PID" || rc=$?
  SWEEP_PID=""
  return $rc
}

# --- baseline ---------------------------------------------------------------------------------

say "building unmutated walle-sim (the first build takes a few minutes)"
if ! build "$LOGS/build-baseline.log"; then
  grep -E 'error:|warning:' "$LOGS/build-baseline.log" | head -n 20 >&2 || true
  die "the unmutated tree does not build (log: $LOGS/build-baseline.log; use --keep)"
fi
# The unmutated binary, kept: a mutant's first failing seed must pass without the mutant, or
# the catch is the tree's own failure (a seed beyond the baseline's range), not the mutant's.
BASE_SIM="$SCRATCH/walle-sim.unmutated"
cp "$SIM" "$BASE_SIM"
if [[ $BASELINE_SEEDS -gt 0 ]]; then
  say "baseline: unmutated sweep of seeds 1..$BASELINE_SEEDS"
  rc=0
  sweep "$BASELINE_SEEDS" "$LOGS/baseline.out" "$LOGS/baseline.err" "$LOGS/baseline-failures.txt" ||
    rc=$?
  if [[ $rc -ne 0 ]]; then
    grep -m 3 -A 2 '^FAIL' "$LOGS/baseline.out" >&2 || tail -n 5 "$LOGS/baseline.err" >&2
    die "the unmutated tree fails its baseline sweep (exit $rc): fix that before scoring mutants"
  fi
  say "baseline passed"
fi

# --- the mutants ------------------------------------------------------------------------------

md_escape() { local s="$1"; s="${s//|/\\|}"; printf '%s' "$s"; }

ROWS=()
total=${#PATCHES[@]}
ran=0 caught=0 caught_2000=0 stale=0 build_failed=0 errors=0 base_fails=0
i=0
for p in "${PATCHES[@]}"; do
  i=$((i + 1))
  name="$(basename "$p" .patch)"
  area="$(header_field "$p" Area)"
  result="" seed="" invariant="" build_s="" sweep_s=""
  git -C "$SRC" reset -q --hard
  git -C "$SRC" clean -q -fd
  if ! git -C "$SRC" apply "$p" 2>"$LOGS/$name.apply.log"; then
    result=STALE
    stale=$((stale + 1))
    say "[$i/$total] $name: STALE (does not apply: $(head -n 1 "$LOGS/$name.apply.log"))"
  else
    say "[$i/$total] $name: building"
    t0=$SECONDS
    if ! build "$LOGS/$name.build.log"; then
      build_s=$((SECONDS - t0))
      result="BUILD-FAILED"
      build_failed=$((build_failed + 1))
      invariant="$(grep -m 1 -E 'error:|warning:' "$LOGS/$name.build.log" | cut -c 1-80 || true)"
      say "[$i/$total] $name: BUILD-FAILED ($invariant)"
    else
      build_s=$((SECONDS - t0))
      say "[$i/$total] $name: sweeping seeds 1..$SEEDS"
      t0=$SECONDS
      rc=0
      sweep "$SEEDS" "$LOGS/$name.out" "$LOGS/$name.err" "$LOGS/$name.failures.txt" || rc=$?
      sweep_s=$((SECONDS - t0))
      fail_line="$(grep -m 1 '^FAIL seed=' "$LOGS/$name.out" || true)"
      if [[ $rc -eq 1 && -n "$fail_line" ]]; then
        seed="$(sed 's/^FAIL seed=\([0-9]*\) .*/\1/' <<<"$fail_line")"
        # "FAIL seed=S workload=W: at T s: invariant: message" -> "invariant: message"
        invariant="$(sed -e 's/^FAIL seed=[0-9]* workload=[^:]*: //' -e 's/^at [0-9.]*s: //' \
          <<<"$fail_line" | cut -c 1-80)"
        if ! "$BASE_SIM" run --workload "$WORKLOAD" --seed "$seed" >"$LOGS/$name.base.out" 2>&1; then
          result="BASE-FAILS"  # the unmutated tree fails this seed too: not scored
          base_fails=$((base_fails + 1))
        else
          result=caught
          ran=$((ran + 1))
          caught=$((caught + 1))
          [[ $seed -le 2000 ]] && caught_2000=$((caught_2000 + 1))
        fi
      elif [[ $rc -eq 0 ]]; then
        result=SURVIVED
        ran=$((ran + 1))
      else
        result=ERROR
        errors=$((errors + 1))
        invariant="walle-sim sweep exited $rc: $(tail -n 1 "$LOGS/$name.err" | cut -c 1-60)"
      fi
      say "[$i/$total] $name: $result${seed:+ at seed $seed}${invariant:+ ($invariant)}" \
        "build ${build_s}s, sweep ${sweep_s}s"
    fi
  fi
  ROWS+=("| $name | $(md_escape "$area") | $result | ${seed:--} | $(md_escape "${invariant:--}") | ${build_s:--} | ${sweep_s:--} |")
done
git -C "$SRC" reset -q --hard

# --- the report -------------------------------------------------------------------------------

pct=0
[[ $ran -gt 0 ]] && pct=$(((caught * 1000 / ran + 5) / 10))
within=$caught_2000
[[ $SEEDS -lt 2000 ]] && within=$caught
SCORE="caught $caught of $ran mutants ($pct%) within $SEEDS seeds; $within within 2000"
excluded=$((stale + build_failed + errors + base_fails))
[[ $excluded -gt 0 ]] &&
  SCORE+=" (not scored: $stale stale, $build_failed build-failed, $errors errors, $base_fails failing unmutated too)"

{
  echo "# Mutation score of walle-sim (workload \`$WORKLOAD\`)"
  echo
  echo "Sources: $SOURCE_DESC. Seeds 1..$SEEDS per mutant with \`--stop-on-first -j $JOBS\`"
  echo "(with several workers the first failure reported is not always the lowest failing seed);"
  echo "baseline: the unmutated tree passed seeds 1..$BASELINE_SEEDS. Run on $(date -u '+%Y-%m-%d %H:%M UTC'),"
  echo "$(elapsed) in all."
  echo
  echo "| mutant | area | result | first failing seed | invariant | build s | sweep s |"
  echo "|---|---|---|---|---|---|---|"
  printf '%s\n' "${ROWS[@]}"
  echo
  echo "**Score: $SCORE.**"
  echo
  echo "## The mutants"
  echo
  for p in "${PATCHES[@]}"; do
    echo "- \`$(basename "$p" .patch)\` ($(header_field "$p" Area)): $(header_field "$p" Bug)"
  done
} >"$OUTPUT"

cat "$OUTPUT"
say "$SCORE"
say "report written to $OUTPUT"
