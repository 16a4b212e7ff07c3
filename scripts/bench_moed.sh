#!/usr/bin/env bash
# moed figures, each side by side with its baseline in one run:
#  1. step reports per second moed ingests (gRPC ReportSteps from 4 threads into SQLite, a job
#     whose "worker" only sleeps keeping the attempt open) vs the same batches written straight
#     into the catalogue (moe_bench_moed_ingest);
#  2. time from `moed` start to the first training step of a job it resumes after a vanished
#     machine (moed and workers SIGKILLed after a checkpoint) vs from submit to the first step
#     of the same job started fresh;
#  3. the demo job (2 ranks) trained by hand vs under moed (reports, heartbeats, metrics);
#  4. a /metrics scrape with 8 x 32 layers x 8 experts of series, over HTTP vs serialised;
#  5. the catalogue at scale: moed start-up (with its integrity check), the first page of
#     `moectl list` and `moed --check` with 10,000 jobs vs 10 (moe_bench_catalogue).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/bench/moe_bench_moed_ingest ] || scripts/build.sh > /dev/null
work=${TMPDIR:-/tmp}/moe_moed_bench
rm -rf "$work"
mkdir -p "$work"

source scripts/lib/moed.sh
# Seconds (with fractions) until file $1 contains a training step line.
wait_first_step() {
  local start=$2
  until grep -qs '| loss ' "$1"; do sleep 0.02; done
  awk -v now="$(date +%s.%N)" -v start="$start" 'BEGIN { printf "%.2f", now - start }'
}

echo "== step report ingestion"
printf '#!/bin/sh\nsleep 600\n' > "$work/sleeper"
chmod +x "$work/sleeper"
start_moed --worker-bin "$work/sleeper"
sed -e "s|\.\./\.\./|$PWD/|" -e 's/world_size: 2/world_size: 1/' -e "s|^checkpoint:|checkpoint:\n  output_dir: $work/out0|" \
  configs/jobs/tiny-cpu.yaml > "$work/ingest.yaml"
build/client/moectl submit "$work/ingest.yaml" > /dev/null
sleep 0.5
# The sleeping "worker" holds rank 0's token, as a real worker would.
token=$(tr '\0' '\n' < "/proc/$(pgrep -f "$work/sleeper train" | head -n 1)/environ" | sed -n 's/^MOE_WORKER_TOKEN=//p')
build/bench/moe_bench_moed_ingest --moed "$MOECTL_SERVER" --job 1 --attempt 1 --token "$token" \
  --db "$work/direct.db"
kill $moed; wait $moed || true
rm -rf "$work/data"

echo "== moed start to first step of a resumed job (vs a fresh job's submit to first step)"
sed -e "s|\.\./\.\./|$PWD/|" -e 's/save_steps: 100/save_steps: 20/' -e 's/logging_steps: 20/logging_steps: 1/' \
  -e "s|^checkpoint:|checkpoint:\n  output_dir: $work/out|" configs/jobs/tiny-cpu.yaml > "$work/job.yaml"
start_moed
t0=$(date +%s.%N)
build/client/moectl submit "$work/job.yaml" > /dev/null
fresh=$(wait_first_step "$work/data/jobs/1/attempt-1/rank-0.log" "$t0")
until build/client/moectl checkpoints 1 | grep -q checkpoint-step; do sleep 0.05; done
kill -9 $moed; pkill -9 -f "$work/data/jobs/1/job.yaml" || true
sleep 0.5
t0=$(date +%s.%N)
start_moed
resumed=$(wait_first_step "$work/data/jobs/1/attempt-2/rank-0.log" "$t0")
kill $moed; wait $moed || true
echo "{\"fresh_submit_to_first_step_s\": $fresh, \"moed_start_to_resumed_first_step_s\": $resumed}"

echo "== reporting overhead: the demo job on 2 ranks by hand vs under moed"
for run in direct moed; do
  sed -e "s|\.\./\.\./|$PWD/|" -e "s|^checkpoint:|checkpoint:\n  output_dir: $work/overhead-$run|" \
    configs/jobs/tiny-cpu.yaml > "$work/$run.yaml"
done
t0=$(date +%s.%N)
port=$(( 20000 + RANDOM % 20000 ))
for rank in 0 1; do
  WORLD_SIZE=2 RANK=$rank MASTER_ADDR=127.0.0.1 MASTER_PORT=$port \
    build/worker/moe-worker --log-level warn train --spec "$work/direct.yaml" &
done
wait
direct=$(awk -v now="$(date +%s.%N)" -v start="$t0" 'BEGIN { printf "%.2f", now - start }')
rm -rf "$work/data"
start_moed
t0=$(date +%s.%N)
build/client/moectl submit "$work/moed.yaml" --watch > /dev/null
under_moed=$(awk -v now="$(date +%s.%N)" -v start="$t0" 'BEGIN { printf "%.2f", now - start }')
kill $moed; wait $moed || true
echo "{\"by_hand_s\": $direct, \"under_moed_s\": $under_moed, \"ratio\": $(awk -v a="$under_moed" -v b="$direct" 'BEGIN { printf "%.3f", a / b }')}"

echo "== /metrics scrape, 8 x 32 layers x 8 experts"
build/bench/moe_bench_metrics_scrape

echo "== the catalogue at scale: 10,000 jobs vs 10 (moed start-up with its integrity check, first list page, moed --check)"
build/bench/moe_bench_catalogue --moed build/server/moed --dir "$work/catalogue"
