#!/usr/bin/env bash
# Tokenizer throughput, ours (moe-worker tokenize --bench) against the JavaScript reference
# (Tokenizers.js, tests/reference/tokenize.mjs --bench), on the same input in one run.
# Input: the 3,000-line test corpus (many scripts, code, whitespace) and the sample data's
# questions and answers. Both sides time only the encode loop, single-threaded.
# Needs a build (scripts/build.sh) and `npm ci` in tests/reference.
set -euo pipefail
cd "$(dirname "$0")/.."
worker=build/worker/moe-worker
ref=tests/reference
input=$(mktemp)
trap 'rm -f "$input"' EXIT
cat tests/data/tokenizer_corpus.txt > "$input"
/usr/bin/python3 -c '
import json, sys
for line in open("datasets/nq_sample.jsonl", encoding="utf-8"):
    r = json.loads(line); a = r["answer"]
    a = a["text"] if isinstance(a, dict) else ", ".join(a) if isinstance(a, list) else a
    print("Question: " + r["question"]); print("Answer: " + a)' >> "$input"
echo "input: $(wc -l < "$input") lines, $(wc -c < "$input") bytes"
printf '%-14s %-6s %10s %10s %8s\n' tokenizer passes "ours MB/s" "js MB/s" ratio
tokenizers=("tiny	$PWD/assets/tiny-tokenizer/tokenizer.json")
while IFS= read -r line; do tokenizers+=("${line%%	*}	$PWD/$ref/${line#*	}"); done < "$ref/tokenizers.txt"
for entry in "${tokenizers[@]}"; do
  name=${entry%%	*}; path=${entry#*	}
  for repeat in 1 5; do
    ours=$("$worker" tokenize --bench --repeat $repeat --tokenizer "$path" < "$input")
    js=$(node "$ref/tokenize.mjs" "$path" --bench --repeat $repeat < "$input")
    /usr/bin/python3 -c '
import json, sys
o, j = json.loads(sys.argv[3]), json.loads(sys.argv[4])
ours, js = o["mb_per_s"], j["mb_per_s"]
print("%-14s %-6s %10.2f %10.2f %7.1fx" % (sys.argv[1], sys.argv[2], ours, js, ours / js))' \
      "$name" "$repeat" "$ours" "$js"
  done
done
