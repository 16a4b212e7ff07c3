#!/usr/bin/env bash
# The demo job: installs what moetrain needs, builds it, runs the tiny CPU job's data pipeline
# end to end (tokenizer, 400 NQ-style samples, packing, batches for every rank) reporting
# packing efficiency, then builds the job's 4-expert model, saves it and describes it. The
# training loop replaces these steps when it lands.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
spec=configs/jobs/tiny-cpu.yaml
build/worker/moe-worker data --spec "$spec"
build/worker/moe-worker init --spec "$spec" --out runs/tiny-cpu/init
build/worker/moe-worker inspect --checkpoint runs/tiny-cpu/init
