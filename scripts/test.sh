#!/usr/bin/env bash
# The whole test suite: installs what moetrain needs (Debian packages; PyTorch and the reference
# libraries the tests compare with into .venv/),
# builds (with CUDA and NCCL compiled in), and runs every ctest test. GPU tests (label gpu)
# skip themselves without a device. Then builds the libFuzzer targets and gives each a short pass
# (MOE_FUZZ_SECONDS, default 5; 0 skips). Extra arguments go to ctest, e.g.
# scripts/test.sh -L unit.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
build/worker/moe-worker --version  # the LibTorch the tests run on, and whether CUDA is built in
ctest --test-dir build --output-on-failure -j"$(nproc)" "$@"
if [ "${MOE_FUZZ_SECONDS:-5}" != 0 ]; then
  scripts/fuzz.sh "${MOE_FUZZ_SECONDS:-5}"
fi
