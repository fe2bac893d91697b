#!/usr/bin/env bash
# The main job: install dependencies, build (Release), and sweep simulation seeds of the
# default workload across all cores. Extra arguments go to `walle-sim sweep`, e.g.
#   scripts/run.sh --seeds 1..100000
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DWALLE_BUILD_TESTS=OFF >/dev/null
cmake --build build/release -j"$(nproc)" --target walle-sim
if [ $# -eq 0 ]; then set -- --seeds 1..10000; fi
exec build/release/tools/walle-sim/walle-sim sweep "$@"
