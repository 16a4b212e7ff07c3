#!/usr/bin/env bash
# ZeRO-Offload's host AdamW step against torch::optim::AdamW on the same partition and threads
# (bench/host_adamw_bench.cc), then the tiny CPU job's tokens/s with the optimizer on the
# device and offloaded (60 steps, 3 alternating rounds, the median step's tokens/s). Extra
# arguments go to the AdamW benchmark (e.g. --elements 16777216).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/bench/moe_bench_host_adamw ] || scripts/build.sh > /dev/null
echo "host AdamW vs torch::optim::AdamW:"
build/bench/moe_bench_host_adamw "$@"
spec_dir=$(mktemp -d)
trap 'rm -rf "$spec_dir"' EXIT
for offload in none cpu; do
  sed -e "s|\.\./\.\./|$PWD/|" -e "s|^checkpoint:|checkpoint:\n  output_dir: $spec_dir/out-$offload|" \
      -e "s|^training:|training:\n  max_steps: 60|" \
      -e "s|^zero:|zero:\n  offload_optimizer: $offload|" configs/jobs/tiny-cpu.yaml \
      > "$spec_dir/$offload.yaml"
done
for round in 1 2 3; do
  for offload in none cpu; do
    rm -rf "$spec_dir/out-$offload"
    build/worker/moe-worker --log-level warn train --spec "$spec_dir/$offload.yaml" \
      --metrics-file "$spec_dir/$offload-$round.jsonl" > /dev/null
  done
done
/usr/bin/python3 - "$spec_dir" <<'PY'
import json, statistics, sys
rates = {}
for offload in ("none", "cpu"):
    for round in (1, 2, 3):
        steps = [json.loads(l) for l in open(f"{sys.argv[1]}/{offload}-{round}.jsonl")]
        steps = [s for s in steps if s.get("event") == "step"][1:]  # the first warms up
        rates.setdefault(offload, []).append(statistics.median(s["tokens_per_second"] for s in steps))
print(json.dumps({"tiny_tokens_per_s_device": statistics.median(rates["none"]),
                  "tiny_tokens_per_s_offload": statistics.median(rates["cpu"]),
                  "offload_over_device": statistics.median(rates["cpu"]) /
                                         statistics.median(rates["none"])}))
PY
