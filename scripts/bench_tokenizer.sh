#!/usr/bin/env bash
# Tokenizer throughput, ours (moe-worker tokenize --bench) against the original: Hugging Face
# `tokenizers`, the Rust library (tests/reference/tokenizer_reference.py bench), on the same
# tokenizer.json and the same input in one run, one thread each (RAYON_NUM_THREADS=1), only the
# encode loop timed. The library is timed twice: a Python call per line as we encode (its
# binding's per-call cost included), and one encode_batch call for all lines (nearly none).
# Input: the 3,000-line test corpus (many scripts, code, whitespace) and the sample data's
# questions and answers. Tokenizers: the demo's, and families the reference builds with the
# library (byte-level BPE as GPT-2 / GPT-NeoX / Llama-3 / GPT-4o configure it, and the
# SentencePiece-style BPE of Mistral and Llama-2).
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
printf '%-14s %-6s %10s %10s %10s %8s %8s\n' tokenizer passes "ours MB/s" "rust MB/s" \
  "batch MB/s" ratio "/batch"
export RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false
for name in tiny gpt2 neox llama3 gpt4o metaspace llama2-legacy; do
  path=$work/tokenizers/$name/tokenizer.json
  for repeat in 1 5; do
    ours=$("$worker" tokenize --bench --repeat $repeat --tokenizer "$path" < "$input")
    rust=$("$python" "$ref" bench "$path" --repeat $repeat < "$input")
    batch=$("$python" "$ref" bench "$path" --repeat $repeat --batch < "$input")
    "$python" -c '
import json, sys
o, r, b = (json.loads(a)["mb_per_s"] for a in sys.argv[3:6])
print("%-14s %-6s %10.2f %10.2f %10.2f %7.2fx %7.2fx" % (sys.argv[1], sys.argv[2], o, r, b, o / r,
                                                       o / b))' \
      "$name" "$repeat" "$ours" "$rust" "$batch"
  done
done
