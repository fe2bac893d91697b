#!/usr/bin/env bash
# One run of the yardsticks and WALLE on this machine, one after another: raw fdatasync,
# loopback RTT, ideal-wal (the physical limit: 3 replicas, group commit, no protocol), a 3-node
# etcd and NATS JetStream (../shared/bench/peerbench), then WALLE (bench/walle-bench.sh). Prints
# peerbench's table; WALLE's figures are its last rows. Only ratios within one run count.
#
#   bench/peers.sh [--quick] [--out FILE]     (builds Release first)
set -euo pipefail
cd "$(dirname "$0")/.."
PEERBENCH=${PEERBENCH:-../shared/bench/peerbench/run.sh}
[ -x "$PEERBENCH" ] || [ -f "$PEERBENCH" ] || { echo "bench/peers.sh: no $PEERBENCH" >&2; exit 2; }
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release -j2 --target walle wctl
WALLE_BENCH_CMD="bash $PWD/bench/walle-bench.sh $PWD/build/release" exec bash "$PEERBENCH" "$@"
