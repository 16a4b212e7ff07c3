#!/usr/bin/env bash
# Forward + backward of a small MPT-MoE on CPU: our LibTorch model (build/bench/moe_bench_model)
# against the same model in Python PyTorch (bench/model_step_bench.py, with the project venv's
# PyTorch: the very LibTorch the C++ side links), side by side in one run, interleaved, same
# threads and shapes.
# Extra arguments go to both, e.g. scripts/bench_model.sh --threads 2 --experts 0.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/bench/moe_bench_model ] || scripts/build.sh > /dev/null
args=(--d-model 256 --heads 8 --layers 4 --experts 4 --top-k 1 --batch 4 --seq 256 --steps 10 "$@")
echo "config: ${args[*]}"
printf '%-6s %14s %14s %8s\n' round "ours ms/step" "python ms/step" ratio
for round in 1 2 3; do
  ours=$(build/bench/moe_bench_model "${args[@]}")
  python=$(.venv/bin/python bench/model_step_bench.py "${args[@]}")
  /usr/bin/python3 -c '
import json, sys
o, p = json.loads(sys.argv[2]), json.loads(sys.argv[3])
print("%-6s %14.1f %14.1f %7.2fx" % (sys.argv[1], o["ms_per_step"], p["ms_per_step"], p["ms_per_step"] / o["ms_per_step"]))' \
    "$round" "$ours" "$python"
done
echo "ratio > 1: ours is faster"
