#!/usr/bin/env bash
# Submit to first training step of the demo job (2 ranks, CPU), through the local launcher and
# through Slurm, side by side in one run: ROUNDS (default 3) alternating pairs on one moed and a
# single-node Slurm cluster of its own (scripts/slurm_cluster.sh; needs root). Prints the
# median of each and their ratio as JSON.
#   scripts/bench_slurm.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
[ -x build/server/moed ] || scripts/build.sh > /dev/null
work=${TMPDIR:-/tmp}/moe_slurm_bench
cluster=$(mktemp -d /tmp/slurm-XXXXXX)  # short: Slurm's socket paths
rm -rf "$work"
mkdir -p "$work"
cleanup() {
  [ -n "${moed:-}" ] && kill "$moed" 2>/dev/null && wait "$moed" 2>/dev/null
  scancel --user="$(id -un)" 2>/dev/null || true
  scripts/slurm_cluster.sh stop "$cluster"
  rm -rf "$cluster"
}
trap cleanup EXIT
export "$(scripts/slurm_cluster.sh start "$cluster")"

source scripts/lib/moed.sh
start_moed

# Submits the demo job through launcher $1; sets $elapsed to the seconds from submit to its
# first step line, then waits for it to complete.
job=0
first_step() {
  local launcher=$1
  job=$((job + 1))
  sed -e "s|\.\./\.\./|$PWD/|" -e 's/logging_steps: 20/logging_steps: 1/' \
    -e 's/^  epochs: 30/  epochs: 30\n  max_steps: 3/' \
    -e "s|^checkpoint:|checkpoint:\n  output_dir: $work/out-$job|" \
    -e "s|^  world_size: 2|  world_size: 2\n  launcher: $launcher|" \
    configs/jobs/tiny-cpu.yaml > "$work/job-$job.yaml"
  local t0
  t0=$(date +%s.%N)
  build/client/moectl submit "$work/job-$job.yaml" > /dev/null
  until grep -qs '| loss ' "$work/data/jobs/$job/attempt-$job/rank-0.log"; do sleep 0.02; done
  elapsed=$(awk -v now="$(date +%s.%N)" -v start="$t0" 'BEGIN { printf "%.3f", now - start }')
  until build/client/moectl status "$job" | grep -q COMPLETED; do sleep 0.1; done
}

local_s=() slurm_s=()
for _ in $(seq "$rounds"); do
  first_step local
  local_s+=("$elapsed")
  first_step slurm
  slurm_s+=("$elapsed")
done
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
l=$(median "${local_s[@]}")
s=$(median "${slurm_s[@]}")
echo "{\"rounds\": $rounds, \"local_submit_to_first_step_s\": $l, \"slurm_submit_to_first_step_s\": $s, \"slurm_over_local\": $(awk -v a="$s" -v b="$l" 'BEGIN { printf "%.3f", a / b }'), \"local_all\": \"${local_s[*]}\", \"slurm_all\": \"${slurm_s[*]}\"}"
