// verify.mjs — self-check of the reference side (needs `npm ci` first).
//
// For every tokenizer in tokenizers.txt, runs tokenize.mjs on the corpus and
// checks: one well-formed JSON id array per input line; `--decode` of those
// arrays gives back the line after the tokenizer's normalizer (identity, NFC
// or NFKC); prints `--bench` throughput. Exits non-zero on any failure.
//
// Usage: node verify.mjs [CORPUS]   (default ../data/tokenizer_corpus.txt)
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const corpusPath = process.argv[2] ?? join(here, '..', 'data', 'tokenizer_corpus.txt');
const corpus = readFileSync(corpusPath);
const lines = corpus.toString('utf8').split('\n');
if (lines[lines.length - 1] === '') lines.pop();

const run = (args, input) => {
  const r = spawnSync(process.execPath, [join(here, 'tokenize.mjs'), ...args], { input, maxBuffer: 1 << 30 });
  if (r.status !== 0 || r.stderr.length) throw new Error(`tokenize.mjs ${args.join(' ')}: status ${r.status}: ${r.stderr}`);
  return r.stdout.toString('utf8');
};

let failures = 0;
const entries = readFileSync(join(here, 'tokenizers.txt'), 'utf8').split('\n').filter(Boolean).map((l) => l.split('\t'));
for (const [name, rel] of entries) {
  const path = join(here, rel);
  const json = JSON.parse(readFileSync(path, 'utf8'));
  const form = json.normalizer?.type; // null, "NFC" or "NFKC" for the files we ship
  if (form && !['NFC', 'NFKC'].includes(form)) throw new Error(`${name}: unexpected normalizer ${form}`);
  const expect = (s) => (form ? s.normalize(form) : s);

  const encoded = run([path], corpus).split('\n');
  encoded.pop();
  const badShape = encoded.filter((l) => !/^\[(\d+(,\d+)*)?\]$/.test(l)).length;
  const decoded = run([path, '--decode'], encoded.join('\n') + '\n').split('\n');
  decoded.pop();
  let mismatches = 0;
  lines.forEach((l, i) => {
    if (decoded[i] !== expect(l)) {
      if (++mismatches <= 3) console.log(`  ${name} line ${i + 1}: ${JSON.stringify(l)} -> ${JSON.stringify(decoded[i])}`);
    }
  });
  const tokens = encoded.reduce((n, l) => n + (l === '[]' ? 0 : l.split(',').length), 0);
  const bench = JSON.parse(run([path, '--bench', '--repeat', '3'], corpus));
  const ok = encoded.length === lines.length && decoded.length === lines.length && !badShape && !mismatches;
  if (!ok) ++failures;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}: ${encoded.length}/${lines.length} arrays, ${tokens} tokens, ` +
    `bad-shape ${badShape}, roundtrip(${form ?? 'identity'}) mismatches ${mismatches}, ` +
    `${bench.mb_per_s} MB/s (${bench.bytes} bytes x ${bench.lines} lines in ${bench.seconds}s)`);
}
console.log(`${entries.length - failures} passed, ${failures} failed`);
process.exit(failures ? 1 : 0);
