#!/usr/bin/env bash
# Tokenizer throughput, ours (moe-worker tokenize --bench) against the original: Hugging Face
# `tokenizers`, the Rust library (tests/reference/tokenizer_reference.py bench), on the same
# tokenizer.json and the same input in one run, one thread each (RAYON_NUM_THREADS=1; lines are
# encoded one call at a time on both sides, and only the encode loop is timed).
# Input: the 3,000-line test corpus (many scripts, code, whitespace) and the sample data's
# questions and answers. Tokenizers: the demo's, and families the reference builds with the
# library (byte-level BPE as GPT-2 / GPT-NeoX / Llama-3 / GPT-4o configure it).
# Needs a build (scripts/build.sh) and the venv (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
worker=build/worker/moe-worker
python=.venv/bin/python
ref=tests/reference/tokenizer_reference.py
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
input=$work/input.txt
cat tests/data/tokenizer_corpus.txt > "$input"
"$python" -c '
import json, sys
for line in open("datasets/nq_sample.jsonl", encoding="utf-8"):
    r = json.loads(line); a = r["answer"]
    a = a["text"] if isinstance(a, dict) else ", ".join(a) if isinstance(a, list) else a
    print("Question: " + r["question"]); print("Answer: " + a)' >> "$input"
"$python" "$ref" make "$work/tokenizers" > /dev/null
echo "input: $(wc -l < "$input") lines, $(wc -c < "$input") bytes"
printf '%-14s %-6s %10s %10s %8s\n' tokenizer passes "ours MB/s" "rust MB/s" ratio
export RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false
for name in tiny gpt2 neox llama3 gpt4o; do
  path=$work/tokenizers/$name/tokenizer.json
  for repeat in 1 5; do
    ours=$("$worker" tokenize --bench --repeat $repeat --tokenizer "$path" < "$input")
    rust=$("$python" "$ref" bench "$path" --repeat $repeat < "$input")
    "$python" -c '
import json, sys
o, r = json.loads(sys.argv[3]), json.loads(sys.argv[4])
print("%-14s %-6s %10.2f %10.2f %7.2fx" % (sys.argv[1], sys.argv[2], o["mb_per_s"], r["mb_per_s"],
                                           o["mb_per_s"] / r["mb_per_s"]))' \
      "$name" "$repeat" "$ours" "$rust"
  done
done
