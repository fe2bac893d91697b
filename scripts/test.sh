#!/usr/bin/env bash
# Install dependencies, build with AddressSanitizer + UndefinedBehaviorSanitizer and warnings
# as errors, and run every test (unit, property, simulation, determinism across processes);
# then build every fuzz target with clang and run each for 45 s on its corpus (scripts/fuzz.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build/asan -G Ninja -DCMAKE_BUILD_TYPE=Asan -DWALLE_WERROR=ON >/dev/null
cmake --build build/asan -j"$(nproc)"
(cd build/asan && ctest --output-on-failure -j"$(nproc)")
scripts/fuzz.sh --seconds "${WALLE_FUZZ_SECONDS:-45}"
