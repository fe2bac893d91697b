#!/usr/bin/env bash
# The main job. Installs dependencies, builds (Release), then
#   scripts/run.sh                  the local cluster demo: 3 servers on loopback, a benchmark,
#                                   a server killed while writing, nothing lost, its catch-up
#   scripts/run.sh cluster          the same cluster, kept up until Ctrl-C, for wctl
#   scripts/run.sh sweep [OPTIONS]  a simulation sweep (walle-sim sweep OPTIONS; default
#                                   --seeds 1..10000)
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=${1:-demo}
case "$MODE" in
  demo|cluster|sweep) ;;
  -h|--help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "scripts/run.sh: unknown mode '$MODE' (demo, cluster or sweep; --help)" >&2; exit 2 ;;
esac
scripts/install-deps.sh
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DWALLE_BUILD_TESTS=OFF >/dev/null
if [ "$MODE" = sweep ]; then
  shift
  cmake --build build/release -j"$(nproc)" --target walle-sim
  if [ $# -eq 0 ]; then set -- --seeds 1..10000; fi
  exec build/release/tools/walle-sim/walle-sim sweep "$@"
fi
cmake --build build/release -j"$(nproc)" --target walle wctl
[ "$MODE" = cluster ] && exec scripts/demo.sh build/release keep
exec scripts/demo.sh build/release demo
