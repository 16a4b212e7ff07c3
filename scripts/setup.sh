#!/usr/bin/env bash
# Installs every Debian package moetrain needs to build, run and test. Idempotent: a
# package already present is left alone, and nothing is fetched when all are present.
# Usage: scripts/setup.sh        (as root, or with sudo on PATH)
set -euo pipefail

pkgs=(
  # toolchain
  build-essential cmake ninja-build ccache pkg-config git clang-format
  # fuzzing: clang with libFuzzer and the sanitizer runtimes (scripts/fuzz.sh)
  clang libclang-rt-dev
  # tests: openssl makes the TLS certificates of the security tests
  openssl
  # training: LibTorch (CPU, with c10d; libgloo-dev has the Gloo headers c10d's include) and
  # a fast BLAS for it; python3-torch is the reference implementation inside tests and benchmarks
  libtorch-dev libgloo-dev libopenblas0-openmp python3-torch python3-numpy
  # service: gRPC, protobuf, Abseil, logging, metrics, catalogue
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev
  libspdlog-dev prometheus-cpp-dev libsqlite3-dev libssl-dev
  # formats and text
  libyaml-cpp-dev nlohmann-json3-dev libcli11-dev libpcre2-dev libutf8proc-dev
  # TensorBoard event files: CRC-32C from Boost.CRC (headers); python3-crc32c for the
  # independent reference encoder in the tests
  libboost-dev python3-crc32c
  # tests: GoogleTest; a real Prometheus server (and promtool) scraping moed; curl for its API
  libgtest-dev libgmock-dev prometheus libcurl4-openssl-dev
  # the Slurm launcher: sbatch/srun/squeue, and a single-node cluster for its tests
  # (scripts/slurm_cluster.sh)
  slurm-client slurmctld slurmd munge
)

missing=()
# Node.js (for the reference tokenizer) may come from elsewhere; use Debian's only if absent.
command -v node >/dev/null || pkgs+=(nodejs npm)
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
