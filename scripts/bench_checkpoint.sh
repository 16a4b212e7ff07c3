#!/usr/bin/env bash
# Checkpoint write throughput (SaveCheckpoint: safetensors, SHA-256 manifest, fsyncs, rename)
# against `dd if=/dev/zero bs=1M conv=fsync` of the same number of bytes on the same disk,
# side by side; and the data loader's resume cost at the last of 100k samples vs sample 0.
# Extra arguments go to the checkpoint benchmark (e.g. --d-model 1024).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/bench/moe_bench_checkpoint ] || scripts/build.sh > /dev/null
dir=${TMPDIR:-/tmp}/moe_ckpt_bench
for round in 1 2; do
  ours=$(build/bench/moe_bench_checkpoint --dir "$dir" "$@")
  bytes=$(/usr/bin/python3 -c 'import json,sys; print(json.loads(sys.argv[1])["checkpoint_bytes"])' "$ours")
  mb=$(( (bytes + 1048575) / 1048576 ))
  start=$(date +%s.%N)
  dd if=/dev/zero of="$dir.dd" bs=1M count="$mb" conv=fsync status=none
  end=$(date +%s.%N)
  rm -f "$dir.dd"
  /usr/bin/python3 -c '
import json, sys
o = json.loads(sys.argv[1]); dd_s = float(sys.argv[3]) - float(sys.argv[2]); mb = int(sys.argv[4]) * 1048576 / 1e6
print("round %s: checkpoint %.0f MB in %.2f s = %.0f MB/s; dd conv=fsync %.0f MB in %.2f s = %.0f MB/s; ratio %.2f" % (
    sys.argv[5], o["checkpoint_bytes"] / 1e6, o["seconds_per_checkpoint"], o["mb_per_s"], mb, dd_s, mb / dd_s,
    o["mb_per_s"] / (mb / dd_s)))' "$ours" "$start" "$end" "$mb" "$round"
done
echo "resume seek (100k synthetic samples):"
build/bench/moe_bench_resume_seek
