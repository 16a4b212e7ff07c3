#!/usr/bin/env bash
# The demo job: installs what moetrain needs, builds it, and trains configs/jobs/tiny-cpu.yaml
# (a 4-expert MPT-MoE from random initialisation on the 400 shipped NQ-style questions, about a
# minute on two cores) with checkpoints under runs/tiny-cpu/, then scores the final checkpoint
# on the held-out questions and on the whole sample (exact match, loss, expert load).
# Run it again to train from scratch; `moe-worker train --spec ... --resume-from latest`
# continues an interrupted run.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
spec=configs/jobs/tiny-cpu.yaml
rm -rf runs/tiny-cpu
build/worker/moe-worker train --spec "$spec"
last=$(ls -d runs/tiny-cpu/checkpoint-step-* | sort -t- -k3 -n | tail -1)
echo "final checkpoint: $last; eval on the whole sample (training questions included):"
build/worker/moe-worker eval --checkpoint "$last" --data datasets/nq_sample.jsonl
