#!/usr/bin/env bash
# The whole test suite: installs what moetrain needs (Debian packages; PyTorch into .venv/),
# builds (with CUDA and NCCL compiled in), and runs every ctest test. GPU tests (label gpu)
# skip themselves without a device. Then builds the libFuzzer targets and gives each a short pass
# (MOE_FUZZ_SECONDS, default 5; 0 skips). Extra arguments go to ctest, e.g.
# scripts/test.sh -L unit.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# The Tokenizers.js reference (tests/reference) came from the npm registry, which these
# machines no longer reach: its tests skip, saying so.
echo "test: the Tokenizers.js reference tests skip (no npm registry here)"
scripts/build.sh
build/worker/moe-worker --version  # the LibTorch the tests run on, and whether CUDA is built in
ctest --test-dir build --output-on-failure -j"$(nproc)" "$@"
if [ "${MOE_FUZZ_SECONDS:-5}" != 0 ]; then
  scripts/fuzz.sh "${MOE_FUZZ_SECONDS:-5}"
fi
