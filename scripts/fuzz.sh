#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, -fsanitize=fuzzer,address,undefined) into build-fuzz/
# and runs each for a bounded time from its seed corpus (fuzz/corpus/<target>/, copied, so the
# repository's corpus only grows when you copy findings back). Exits non-zero, naming the
# target and the crashing input under build-fuzz/artifacts/, if any target finds a crash.
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET (default 60)] [TARGET ...]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/ccache.sh
seconds="${1:-60}"
shift || true
targets=("$@")
((${#targets[@]})) || targets=(job_spec qa_record tokenizer_json checkpoint_manifest safetensors_header)

cmake -S . -B build-fuzz -G Ninja -DMOE_FUZZ=ON -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo > build-fuzz.configure.log 2>&1 ||
  { cat build-fuzz.configure.log; exit 1; }
rm -f build-fuzz.configure.log
cmake --build build-fuzz -j"$(nproc)" --target "${targets[@]/%/_fuzz}"

mkdir -p build-fuzz/artifacts
status=0
for t in "${targets[@]}"; do
  corpus="build-fuzz/corpus/$t"
  mkdir -p "$corpus"
  cp -n fuzz/corpus/"$t"/* "$corpus"/ 2> /dev/null || true
  log="build-fuzz/$t.log"
  if ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1 \
    "build-fuzz/fuzz/${t}_fuzz" -max_total_time="$seconds" -rss_limit_mb=4096 -timeout=10 \
    -artifact_prefix="build-fuzz/artifacts/${t}-" -print_final_stats=1 "$corpus" > "$log" 2>&1; then
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    echo "fuzz: $t: $runs executions in ${seconds} s, no crash (corpus $(ls "$corpus" | wc -l) inputs)"
  else
    echo "fuzz: $t FOUND A CRASH; input and report:"
    ls build-fuzz/artifacts/"$t"-* 2> /dev/null || true
    grep -A30 "ERROR\|runtime error\|deadly signal" "$log" | head -60
    status=1
  fi
done
exit $status
