#!/usr/bin/env bash
# The demo job: installs what moetrain needs, builds it, and runs the tiny CPU job's data
# pipeline end to end (tokenizer, 400 NQ-style samples, packing, batches for every rank),
# reporting packing efficiency. The training loop replaces this step when it lands.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
exec build/worker/moe-worker data --spec configs/jobs/tiny-cpu.yaml "$@"
