#!/usr/bin/env bash
# Installs everything WALLE builds and tests with, from Debian 12's packages.
# Safe to re-run; does nothing when everything is present.
set -euo pipefail

packages=(
  g++ cmake ninja-build pkg-config git ca-certificates
  libabsl-dev libcereal-dev librapidcheck-dev libgtest-dev libgmock-dev
  libgoogle-perftools-dev libxxhash-dev libcli11-dev libbenchmark-dev
  libssl-dev  # HMAC-SHA256 for the connection handshake (core/link/handshake.h)
  libspdlog-dev  # the server's leveled logs to stderr (runtime/logger.h)
  parallel  # GNU parallel: tests/sharded_sweep_test.sh runs shards with it
  liburing-dev  # io_uring, for disk/uring_bench.cc (walle-uring-bench; optional in CMake)
  clang libclang-rt-14-dev  # libFuzzer and clang's sanitizers, for scripts/fuzz.sh
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "install-deps: installing ${missing[*]}"
$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
