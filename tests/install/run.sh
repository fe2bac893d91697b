#!/usr/bin/env bash
# The installed package works for an application: `cmake --install` the build into a temporary
# prefix, build examples/ as a separate CMake project against it (find_package(walle),
# walle::client), start three servers from the same install, and run the example twice: the
# second run's claim waits out the first writer's lease and continues its stream.
#
#   tests/install/run.sh BUILD_DIR EXAMPLES_DIR "EXTRA CXX FLAGS"
set -euo pipefail
USAGE="usage: run.sh BUILD_DIR EXAMPLES_DIR EXTRA_CXX_FLAGS"
BUILD=${1:?$USAGE}
EXAMPLES=${2:?$USAGE}
FLAGS=${3-}
LOG_TAG=install
WALLE=unset  # set once installed
source "$(dirname "$0")/../lib/local_cluster.sh"

cmake --install "$BUILD" --prefix "$WORK/prefix" > "$WORK/install.log" || fail "cmake --install: $(tail -5 "$WORK/install.log")"
WALLE="$WORK/prefix/bin/walle"
[ -x "$WALLE" ] || fail "no walle server in the installed prefix"
[ -f "$WORK/prefix/include/walle/client.h" ] || fail "no walle/client.h in the installed prefix"
log "installed into $WORK/prefix"

cmake -S "$EXAMPLES" -B "$WORK/example" -G Ninja -DCMAKE_PREFIX_PATH="$WORK/prefix" \
  -DCMAKE_CXX_FLAGS="$FLAGS" -DCMAKE_EXE_LINKER_FLAGS="$FLAGS" > "$WORK/configure.log" 2>&1 \
  || fail "configuring the example against the package: $(tail -20 "$WORK/configure.log")"
cmake --build "$WORK/example" > "$WORK/build.log" 2>&1 || fail "building the example: $(tail -20 "$WORK/build.log")"
# The example must get everything from the prefix, never from the build tree.
grep -q "$(cd "$BUILD" && pwd)" "$WORK/example/build.ninja" && fail "the example's build refers to the build tree"
log "examples/ built against the installed package"

make_cluster orders
for i in 0 1 2; do start_server "$i"; done
log "3 installed servers up on ports ${PORT[*]}"

run_example() {  # run_example ENTRIES: sets OUT to what it printed
  OUT=$(timeout 60 "$WORK/example/quickstart" "$WORK/cluster" "$WORK/secret" orders "$1" 2>&1) \
    || fail "quickstart $1 exited $?: $OUT"
  echo "$OUT" | sed 's/^/  /'
  grep -q "read $1 entries back, in order, intact" <<< "$OUT" || fail "quickstart did not read back its $1 entries"
}
run_example 1000
run_example 300
# The second writer continued the stream after the first's 1000 entries and 10 tailed ones.
grep -q "ids 1011..1310" <<< "$OUT" || fail "the second writer did not continue the stream at 1011"
out=$(timeout 60 "$WORK/example/quickstart" "$WORK/cluster" "$WORK/secret" nosuchstream 1 2>&1) && fail "a stream not in the cluster file was accepted"
echo "$out" | grep -q "not in the cluster file" || fail "an unknown stream's error does not say so: $out"
log "PASS: the installed package builds an application that writes, reads back and tails a stream"
