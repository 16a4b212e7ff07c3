#!/usr/bin/env bash
# The whole test suite: installs what moetrain needs (Debian packages; the npm packages of
# the reference tokenizer), builds, and runs every ctest test. GPU tests (label gpu) skip
# themselves without a device. Then builds the libFuzzer targets and gives each a short pass
# (MOE_FUZZ_SECONDS, default 5; 0 skips). Extra arguments go to ctest, e.g.
# scripts/test.sh -L unit.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
if command -v npm > /dev/null; then
  (cd tests/reference && npm ci --no-audit --no-fund --loglevel=error)
else
  echo "test: npm not found; the reference tokenizer tests will skip"
fi
scripts/build.sh
ctest --test-dir build --output-on-failure -j"$(nproc)" "$@"
if [ "${MOE_FUZZ_SECONDS:-5}" != 0 ]; then
  scripts/fuzz.sh "${MOE_FUZZ_SECONDS:-5}"
fi
