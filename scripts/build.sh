#!/usr/bin/env bash
# Configures and builds moetrain into build/ (Ninja, ccache when present). Extra arguments go
# to CMake, e.g. scripts/build.sh -DCMAKE_BUILD_TYPE=Debug.
set -euo pipefail
cd "$(dirname "$0")/.."
# ccache across clones (CI builds a fresh clone elsewhere): paths relative to the project, the
# build directory left out of the hash, and LibTorch's precompiled headers cacheable.
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1 CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-10G}
export CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
cmake -S . -B build -G Ninja "$@" > build.configure.log 2>&1 || { cat build.configure.log; exit 1; }
rm -f build.configure.log
cmake --build build -j"$(nproc)"
