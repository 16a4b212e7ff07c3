#!/usr/bin/env bash
# Checkpoint write throughput (SaveCheckpoint: safetensors hashed as written, manifest, fsyncs,
# rename) against `dd conv=fsync` of the same number of random bytes (from tmpfs, so dd reads
# at memory speed) to the same disk, one of each per round, alternating, and the median of the
# rounds' ratios (a virtual disk's speed drifts); the training stall of an asynchronous save (its
# host snapshot) against a synchronous one; and the data loader's resume cost at the last of
# 100k samples vs sample 0. Extra arguments go to the checkpoint benchmark (e.g. --d-model 1024).
# MOE_BENCH_ROUNDS (default 7) sets the rounds.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/bench/moe_bench_checkpoint ] || scripts/build.sh > /dev/null
dir=${TMPDIR:-/tmp}/moe_ckpt_bench
random=/dev/shm/moe_ckpt_bench.random
results=$(mktemp)
trap 'rm -f "$random" "$dir.dd" "$results"' EXIT
for round in $(seq "${MOE_BENCH_ROUNDS:-7}"); do
  ours=$(build/bench/moe_bench_checkpoint --dir "$dir" --repeats 1 "$@")
  bytes=$(/usr/bin/python3 -c 'import json,sys; print(json.loads(sys.argv[1])["checkpoint_bytes"])' "$ours")
  [ -f "$random" ] || head -c "$bytes" /dev/urandom > "$random"
  start=$(date +%s.%N)
  dd if="$random" of="$dir.dd" bs=16M conv=fsync status=none
  end=$(date +%s.%N)
  rm -f "$dir.dd"
  echo "$ours $start $end" >> "$results"
done
/usr/bin/python3 - "$results" <<'PY'
import json, statistics, sys
ratios, stalls = [], []
for n, line in enumerate(open(sys.argv[1]), 1):
    text, start, end = line.rsplit(" ", 2)
    o = json.loads(text)
    mb = o["checkpoint_bytes"] / 1e6
    dd_mb_s = mb / (float(end) - float(start))
    ratios.append(o["mb_per_s"] / dd_mb_s)
    stalls.append(o["snapshot_seconds"] / o["seconds_per_checkpoint"])
    print("round %d: checkpoint %.0f MB in %.2f s = %.0f MB/s; dd (random, conv=fsync) %.0f MB/s; "
          "ratio %.2f; async stall (host snapshot) %.3f s = %.3f of the synchronous save" % (
              n, mb, o["seconds_per_checkpoint"], o["mb_per_s"], dd_mb_s, ratios[-1],
              o["snapshot_seconds"], stalls[-1]))
print("median over %d rounds: save / dd %.2f; async stall / synchronous save %.3f" % (
    len(ratios), statistics.median(ratios), statistics.median(stalls)))
PY
echo "resume seek (100k synthetic samples):"
build/bench/moe_bench_resume_seek
