#!/usr/bin/env bash
# The chaos run: a 2-worker CPU job under moed while random faults hit it (kill -9 of a worker,
# of moed, of everything; SIGTERM to a worker and to moed; a frozen worker; the newest
# checkpoint damaged while the machine is down), then the checks: COMPLETED, final weights
# byte-identical to an uninterrupted run, no committed checkpoint lost, steps redone per fault
# within the save interval. Prints the table of faults and steps redone.
# Usage: scripts/chaos.sh [FAULTS (default 40)] [SEED (default 1)]
# (CI runs the same test with 7 faults, one of each kind.)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh > /dev/null
MOE_CHAOS_FAULTS="${1:-40}" MOE_CHAOS_SEED="${2:-1}" \
  build/tests/server/chaos_test --gtest_brief=1 | grep -v "^\[ \|^Running main\|^Note:"
