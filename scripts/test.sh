#!/usr/bin/env bash
# Install dependencies, build with AddressSanitizer + UndefinedBehaviorSanitizer and warnings
# as errors, and run every test (unit, property, simulation, determinism across processes).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build/asan -G Ninja -DCMAKE_BUILD_TYPE=Asan -DWALLE_WERROR=ON >/dev/null
cmake --build build/asan -j"$(nproc)"
cd build/asan
exec ctest --output-on-failure -j"$(nproc)"
