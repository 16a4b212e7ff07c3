#!/usr/bin/env bash
# Configures and builds moetrain into build/ (Ninja, ccache when present). Extra arguments go
# to CMake, e.g. scripts/build.sh -DCMAKE_BUILD_TYPE=Debug.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/ccache.sh
cmake -S . -B build -G Ninja "$@" > build.configure.log 2>&1 || { cat build.configure.log; exit 1; }
grep -E "^-- LibTorch" build.configure.log | sed 's/^-- /build: /' || true
rm -f build.configure.log
cmake --build build -j"$(nproc)"
