#!/usr/bin/env bash
# Installs what moetrain needs to build, run and test: Debian packages, and PyTorch 2.11 (its
# LibTorch, with CUDA and NCCL) from PyPI into the project's virtual environment .venv/, with
# the Python packages the tests use as references. Idempotent: nothing is fetched when all is
# present. With MOE_TORCH_PYTHON set (a Python whose PyTorch the build should use, e.g. a GPU
# machine's), no PyTorch is installed.
# Usage: scripts/setup.sh        (as root, or with sudo on PATH)
set -euo pipefail

pkgs=(
  # toolchain
  build-essential cmake ninja-build ccache pkg-config git clang-format
  # fuzzing: clang with libFuzzer and the sanitizer runtimes (scripts/fuzz.sh)
  clang libclang-rt-dev
  # tests: openssl makes the TLS certificates of the security tests
  openssl
  # training: Gloo's headers, which c10d's include (LibTorch itself comes from PyPI, below);
  # python3-venv makes the project's virtual environment
  libgloo-dev python3-venv
  # service: gRPC, protobuf, Abseil, logging, metrics, catalogue
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev
  libspdlog-dev prometheus-cpp-dev libsqlite3-dev libssl-dev
  # formats and text
  libyaml-cpp-dev nlohmann-json3-dev libcli11-dev libpcre2-dev libutf8proc-dev
  # TensorBoard event files: CRC-32C from Boost.CRC (headers)
  libboost-dev
  # tests: GoogleTest; a real Prometheus server (and promtool) scraping moed; curl for its API
  libgtest-dev libgmock-dev prometheus libcurl4-openssl-dev
  # the Slurm launcher: sbatch/srun/squeue, and a single-node cluster for its tests
  # (scripts/slurm_cluster.sh)
  slurm-client slurmctld slurmd munge
)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${#missing[@]} packages: ${missing[*]}"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "setup: all ${#pkgs[@]} packages present"
fi

# PyTorch from PyPI, the version the GPU machines carry; numpy for it, crc32c for the
# independent TensorBoard encoder in the tests; and the originals the tests compare with
# (pinned): Hugging Face tokenizers (Rust) and transformers, TensorBoard's reader, safetensors.
torch_version=2.11.0
python_pkgs=("torch==$torch_version" numpy crc32c tokenizers==0.22.2 transformers==4.57.3
             tensorboard==2.21.0 safetensors==0.8.0)
# References that build against the torch above (no build isolation): DeepSpeed's memory
# estimators, for the memory plan's test; Accelerate, for the speed benchmark.
reference_pkgs=(deepspeed==0.19.8 accelerate==1.16.0)
if [ -n "${MOE_TORCH_PYTHON:-}" ]; then
  echo "setup: LibTorch from $MOE_TORCH_PYTHON ($("$MOE_TORCH_PYTHON" -c 'import torch; print(torch.__version__)'))"
  exit 0
fi
cd "$(dirname "$0")/.."
venv=.venv
if ! "$venv/bin/python" - "$torch_version" 2>/dev/null <<'PY'
import sys, torch, numpy, crc32c, tokenizers, transformers, tensorboard, safetensors
import deepspeed, accelerate
sys.exit(0 if torch.__version__.split('+')[0] == sys.argv[1] and tokenizers.__version__ == "0.22.2"
         and transformers.__version__ == "4.57.3" and deepspeed.__version__ == "0.19.8" else 1)
PY
then
  echo "setup: installing ${python_pkgs[*]} into $venv/"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "${python_pkgs[@]}"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-build-isolation \
    "${reference_pkgs[@]}"
else
  echo "setup: $venv/ has torch $torch_version and the test references"
fi
