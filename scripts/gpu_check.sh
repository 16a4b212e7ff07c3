#!/usr/bin/env bash
# The one prepared run for a GPU machine (PyTorch 2.11 with CUDA preinstalled as python3, no
# package archive): builds moe-worker and the gpu tests against that PyTorch, with the Debian
# build dependencies staged beforehand on a CPU machine into .gpu/debs
#   MOE_EXTRA_DEBS="libgloo-dev libboost1.74-dev pkgconf pkg-config libpkgconf3" \
#     ../shared/gpu/stage-deps.sh
# runs every test labelled gpu, then trains an MPT-shaped model (d_model 4096, 32 heads,
# 4 layers, vocabulary 50432, sequence 2048, bf16, packed NQ-style rows; dense, then 4 experts
# top-1) for 20 steps each and prints tokens/s, MFU against 989 TFLOP/s (H100/H200 dense bf16)
# and the peak of CUDA memory against the memory plan. Results go under $OUT (default
# gpu-results/): build.log, gpu-tests.log, train-*.log, train-*.jsonl, summary.txt.
# Usage: scripts/gpu_check.sh [STEPS]   (default 20; MOE_GPU_MICRO_BATCH, default 4)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-gpu-results}
mkdir -p "$out"
steps=${1:-20}
micro=${MOE_GPU_MICRO_BATCH:-4}
python=${MOE_TORCH_PYTHON:-$(command -v python3)}
summary="$out/summary.txt"
log() { echo "$*" | tee -a "$summary"; }
: > "$summary"

# 1. Build: the staged packages into a private prefix, LibTorch from the machine's PyTorch.
start=$(date +%s)
prefix=/opt/moe-deps
if [ -d .gpu/debs ]; then
  mkdir -p "$prefix"
  for f in .gpu/debs/*.deb; do dpkg -x "$f" "$prefix"; done
fi
export PATH="$prefix/usr/bin:$PATH"
export LD_LIBRARY_PATH="$prefix/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}"
# The staged .pc files say /usr: pkg-config puts the private prefix in front of their paths.
[ -d .gpu/debs ] && export PKG_CONFIG_SYSROOT_DIR="$prefix"
log "machine: $(nproc) cores; $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo 'nvidia-smi: none')"
log "python: $python: $("$python" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "gpus", torch.cuda.device_count())')"
command -v nvcc > /dev/null || log "note: no nvcc on PATH; CMake's CUDA toolkit search may fail"
gen=(); command -v ninja > /dev/null && gen=(-G Ninja)
if ! { cmake -S . -B build-gpu "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DMOE_TORCH_PYTHON="$python" \
         -DCMAKE_PREFIX_PATH="$prefix/usr;$prefix/usr/lib/x86_64-linux-gnu/cmake;$prefix/usr/share/cmake" \
         -DProtobuf_PROTOC_EXECUTABLE="$prefix/usr/bin/protoc" &&
       cmake --build build-gpu -j"$(nproc)" --target moe-worker gpu_test; } > "$out/build.log" 2>&1; then
  tail -n 40 "$out/build.log"
  log "build: FAILED (see $out/build.log)"
  exit 1
fi
log "build: $(( $(date +%s) - start )) s; $(build-gpu/worker/moe-worker --version)"
ldd build-gpu/worker/moe-worker | grep -E 'torch_cuda|nccl' | tee -a "$summary" || true

# 2. The gpu tests.
start=$(date +%s)
(cd build-gpu && CUBLAS_WORKSPACE_CONFIG=:4096:8 ./tests/worker/gpu/gpu_test) > "$out/gpu-tests.log" 2>&1 &&
  gpu_tests=passed || gpu_tests=FAILED
log "gpu tests: $gpu_tests in $(( $(date +%s) - start )) s: $(grep -cE '^\[       OK \]' "$out/gpu-tests.log") ok, $(grep -cE '^\[  FAILED  \]' "$out/gpu-tests.log") failed lines, $(grep -cE '^\[  SKIPPED \]' "$out/gpu-tests.log") skipped"
grep -E '^\[  (FAILED|SKIPPED) \]|Failure|measured' "$out/gpu-tests.log" | head -n 20 | tee -a "$summary" || true

# 3. The MPT-shaped runs: NQ-style rows repeated to fill 2048-token packed rows.
work=$(mktemp -d)
for _ in $(seq 40); do cat datasets/nq_sample.jsonl; done > "$work/nq_x40.jsonl"
run() {  # NAME EXPERTS(0 = dense)
  local name=$1 experts=$2 moe=""
  if [ "$experts" -gt 0 ]; then
    moe="  moe: {experts: [factual_lookup, numerical_reasoning, multi_hop_reasoning, commonsense_reasoning], top_k: 1, routing: label_guided}"
  fi
  cat > "$work/$name.yaml" <<YAML
name: gpu-$name
model:
  config: {d_model: 4096, n_heads: 32, n_layers: 4, expansion_ratio: 4, max_seq_len: 2048, vocab_size: 50432}
  tokenizer: $PWD/assets/tiny-tokenizer/tokenizer.json
  precision: bf16
$moe
data: {train_file: $work/nq_x40.jsonl, max_seq_len: 2048, max_target_len: 64, packing: true}
training: {epochs: 1, max_steps: $steps, micro_batch_size: $micro, grad_accumulation: 1, learning_rate: 1.0e-4, warmup_steps: 2}
zero: {stage: 2}
checkpoint: {output_dir: $work/out-$name, save_steps: 0, save_at_epoch_end: false}
resources: {device: cuda, world_size: 1}
logging: {logging_steps: 10, tensorboard: false}
YAML
  local start; start=$(date +%s)
  if MOE_PEAK_FLOPS=989e12 build-gpu/worker/moe-worker train --spec "$work/$name.yaml" \
       --metrics-file "$out/train-$name.jsonl" > "$out/train-$name.log" 2>&1; then
    "$python" - "$out/train-$name.jsonl" "$out/train-$name.log" "$name" "$micro" <<'PY' | tee -a "$summary"
import json, re, sys
steps = [json.loads(l) for l in open(sys.argv[1]) if '"tokens_per_second"' in l]
last = steps[-1]  # the last 10 steps: past warm-up and the first step's allocations
log = open(sys.argv[2]).read()
plan = re.search(r"total\s+([0-9.]+) GB", log)
peak = re.search(r"peak (\S+) memory in training ([0-9.]+) GB", log)
mfu = last["model_flops_per_second"] / 989e12
print(f"{sys.argv[3]:5s} micro-batch {sys.argv[4]} x 2048: {last['tokens_per_second']:,.0f} tokens/s, "
      f"MFU {100 * mfu:.1f}% of 989 TFLOP/s, loss {last['loss']:.3f}; "
      f"peak {peak.group(2) if peak else '?'} GB vs plan {plan.group(1) if plan else '?'} GB")
PY
  else
    tail -n 20 "$out/train-$name.log"
    log "$name: FAILED after $(( $(date +%s) - start )) s (see $out/train-$name.log)"
  fi
}
run dense 0
run moe 4
rm -rf "$work"
[ "$gpu_tests" = passed ]
