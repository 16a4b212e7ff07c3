#!/usr/bin/env bash
# Checkpoint write throughput (SaveCheckpoint: safetensors hashed as written, manifest, fsyncs,
# rename) against `dd conv=fsync` of the same number of random bytes (from tmpfs, so dd reads
# at memory speed) to the same disk, alternating, side by side; the training stall of an
# asynchronous save (its host snapshot) against a synchronous one; and the data loader's resume
# cost at the last of 100k samples vs sample 0. Extra arguments go to the checkpoint benchmark
# (e.g. --d-model 1024).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/bench/moe_bench_checkpoint ] || scripts/build.sh > /dev/null
dir=${TMPDIR:-/tmp}/moe_ckpt_bench
random=/dev/shm/moe_ckpt_bench.random
trap 'rm -f "$random" "$dir.dd"' EXIT
for round in 1 2 3; do
  ours=$(build/bench/moe_bench_checkpoint --dir "$dir" "$@")
  bytes=$(/usr/bin/python3 -c 'import json,sys; print(json.loads(sys.argv[1])["checkpoint_bytes"])' "$ours")
  [ -f "$random" ] || head -c "$bytes" /dev/urandom > "$random"
  start=$(date +%s.%N)
  dd if="$random" of="$dir.dd" bs=16M conv=fsync status=none
  end=$(date +%s.%N)
  rm -f "$dir.dd"
  /usr/bin/python3 -c '
import json, sys
o = json.loads(sys.argv[1]); dd_s = float(sys.argv[3]) - float(sys.argv[2]); mb = o["checkpoint_bytes"] / 1e6
print("round %s: checkpoint %.0f MB in %.2f s = %.0f MB/s; dd (random, conv=fsync) %.0f MB in %.2f s = %.0f MB/s; ratio %.2f; async stall (host snapshot) %.3f s = %.3f of the synchronous save" % (
    sys.argv[4], mb, o["seconds_per_checkpoint"], o["mb_per_s"], mb, dd_s, mb / dd_s,
    o["mb_per_s"] / (mb / dd_s), o["snapshot_seconds"], o["snapshot_seconds"] / o["seconds_per_checkpoint"]))' "$ours" "$start" "$end" "$round"
done
echo "resume seek (100k synthetic samples):"
build/bench/moe_bench_resume_seek
