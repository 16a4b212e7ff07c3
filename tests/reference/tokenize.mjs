// tokenize.mjs — reference encoder/decoder for Hugging Face tokenizer.json
// files, built on @huggingface/tokenizers (Tokenizers.js, pure JS).
//
// Usage:
//   node tokenize.mjs TOKENIZER_JSON            encode: one JSON id array per input line
//   node tokenize.mjs TOKENIZER_JSON --decode   decode: each input line is a JSON id array,
//                                               prints the decoded text on its own line
//   node tokenize.mjs TOKENIZER_JSON --bench [--repeat N]
//                                               encode every line (N times, default 1), print
//                                               {"bytes":N,"lines":N,"seconds":S,"mb_per_s":X}
//                                               timing only the encode loop (MB = 1e6 bytes)
//
// Input is UTF-8 on stdin, split on "\n" only; a final empty piece after the
// last "\n" is not a record; "\r" and all other whitespace stay in the record.
// Encoding never adds special tokens (add_special_tokens: false), but added
// tokens present in the text (e.g. "<|endoftext|>") are still matched, as in
// the Rust library. Decoding keeps special tokens and does no "clean up of
// tokenization spaces" (that is a transformers/Python-side option, not part of
// tokenizer.json semantics). Nothing is printed to stderr on success.
import { readFileSync, writeSync } from 'node:fs';
import { Tokenizer, ByteLevelPreTokenizer, SequencePreTokenizer } from '@huggingface/tokenizers';

let path = null;
let mode = 'encode';
let repeat = 1;
for (let i = 2; i < process.argv.length; ++i) {
  const a = process.argv[i];
  if (a === '--decode') mode = 'decode';
  else if (a === '--bench') mode = 'bench';
  else if (a === '--repeat') repeat = Number(process.argv[++i]);
  else if (path === null && !a.startsWith('--')) path = a;
  else path = undefined; // unknown flag or extra argument
}
if (!path || !(repeat >= 1)) {
  process.stderr.write('usage: node tokenize.mjs PATH/TO/tokenizer.json [--decode | --bench [--repeat N]]\n');
  process.exit(2);
}

// The second argument is what tokenizer_config.json would hold. We pass only
// clean_up_tokenization_spaces: false so that the result depends on
// tokenizer.json alone (Tokenizers.js otherwise defaults it to true).
const tokenizer = new Tokenizer(JSON.parse(readFileSync(path, 'utf8')), { clean_up_tokenization_spaces: false });

// Fix for Tokenizers.js 0.2.0: its ByteLevel pre-tokenizer compiles the GPT-2
// regex as a native JS RegExp, whose \s also matches U+FEFF and misses U+0085.
// The Rust library (Oniguruma) uses the Unicode White_Space property, so e.g.
// " \uFEFF" is one pre-token there and two here. Split patterns are already
// translated by Tokenizers.js (\s -> \p{White_Space}); do the same for ByteLevel.
const JS_GPT2_PATTERN = String.raw`'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`;
const GPT2_PATTERN = JS_GPT2_PATTERN.replaceAll('\\s', '\\p{White_Space}').replaceAll('\\S', '\\P{White_Space}');
(function fixByteLevel(pre) {
  if (pre instanceof SequencePreTokenizer) pre.tokenizers.forEach(fixByteLevel);
  else if (pre instanceof ByteLevelPreTokenizer) {
    if (pre.pattern.source !== JS_GPT2_PATTERN) throw new Error('unexpected ByteLevel regex; re-check the fix above');
    pre.pattern = new RegExp(GPT2_PATTERN, 'gu');
  }
})(tokenizer.pre_tokenizer);

// fatal: reject invalid UTF-8; ignoreBOM: keep a leading U+FEFF as text.
const text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(readFileSync(0));
const lines = text.split('\n');
if (lines[lines.length - 1] === '') lines.pop();

const encode = (line) => tokenizer.encode(line, { add_special_tokens: false }).ids;

// Write in chunks: one huge string can exceed V8 limits on big inputs.
let out = [];
let outLen = 0;
const emit = (s) => {
  out.push(s);
  outLen += s.length;
  if (outLen > 1 << 20) flush();
};
function flush() {
  const buf = Buffer.from(out.join(''), 'utf8');
  for (let off = 0; off < buf.length; ) off += writeSync(1, buf, off);
  out = [];
  outLen = 0;
}

if (mode === 'encode') {
  for (const line of lines) emit(JSON.stringify(encode(line)) + '\n');
} else if (mode === 'decode') {
  for (const line of lines) {
    const ids = JSON.parse(line);
    // Tokenizers.js throws on an empty id list; the Rust library returns "".
    emit((ids.length === 0 ? '' : tokenizer.decode(ids, { skip_special_tokens: false, clean_up_tokenization_spaces: false })) + '\n');
  }
} else {
  let bytes = 0;
  for (const line of lines) bytes += Buffer.byteLength(line, 'utf8');
  let sink = 0;
  const t0 = process.hrtime.bigint();
  for (let r = 0; r < repeat; ++r) for (const line of lines) sink += encode(line).length;
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (sink < 0) throw new Error('unreachable'); // keep the loop observable
  const total = bytes * repeat;
  emit(JSON.stringify({ bytes: total, lines: lines.length * repeat, seconds: +seconds.toFixed(6), mb_per_s: +(total / 1e6 / seconds).toFixed(3) }) + '\n');
}
flush();
