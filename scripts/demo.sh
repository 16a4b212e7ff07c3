#!/usr/bin/env bash
# The demo: installs what moetrain needs, builds it, starts moed with its data under
# runs/moed/, submits configs/jobs/tiny-cpu.yaml (a 4-expert MPT-MoE from random initialisation
# on the 400 shipped NQ-style questions, 2 CPU workers with ZeRO-2, about a minute on two cores)
# and watches it to the end, scores the final checkpoint with `moe-worker eval`, and stops moed.
# Run it again to train from scratch.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
rm -rf runs/tiny-cpu runs/moed
mkdir -p runs
build/server/moed --data-dir runs/moed --listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0 --slots 2 > runs/moed.log 2>&1 &
moed=$!
trap 'kill $moed 2> /dev/null; wait $moed 2> /dev/null || true' EXIT
for _ in $(seq 100); do
  port=$(sed -n 's/^moed listening on port \([0-9]*\),.*$/\1/p' runs/moed.log)
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { cat runs/moed.log; exit 1; }
export MOECTL_SERVER=127.0.0.1:$port
metrics=$(sed -n 's/^moed listening on port [0-9]*, metrics on port \([0-9]*\)$/\1/p' runs/moed.log)
echo "moed is listening on $MOECTL_SERVER (log: runs/moed.log, catalogue: runs/moed/moed.db," \
  "Prometheus metrics: http://127.0.0.1:$metrics/metrics)"
build/client/moectl submit configs/jobs/tiny-cpu.yaml --watch
build/client/moectl status 1
# The spec names no output_dir: the job's own is runs/tiny-cpu/<job id>/.
last=$(ls -d runs/tiny-cpu/1/checkpoint-step-* | sort -t- -k3 -n | tail -1)
echo "final checkpoint: $last; eval on the whole sample (training questions included):"
build/worker/moe-worker eval --checkpoint "$last" --data datasets/nq_sample.jsonl
