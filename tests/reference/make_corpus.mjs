// make_corpus.mjs — writes the deterministic tokenizer test corpus.
//
// Usage: node make_corpus.mjs [OUT]   (default OUT: ../data/tokenizer_corpus.txt)
//
// Produces exactly LINES records separated by "\n" (the file ends with "\n").
// Every record is valid UTF-8 without "\n"; a few contain "\r". The content is
// chosen to stress byte-level BPE tokenizers: prose, contractions, digit runs,
// whitespace runs (leading/trailing/internal, tabs), code, URLs, punctuation
// runs, many scripts, precomposed vs decomposed accents (NFC), NFKC-sensitive
// compatibility characters, emoji (ZWJ, flags, skin tones), zero-width and
// exotic whitespace, special-token look-alikes, and a few long lines.
// Randomness comes only from the seeded PRNG below, so the output is stable.
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const LINES = 3000;
const OUT = process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), '..', 'data', 'tokenizer_corpus.txt');

// mulberry32: tiny deterministic 32-bit PRNG.
let seed = 0x5eed1234;
function rand() {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const int = (lo, hi) => lo + Math.floor(rand() * (hi - lo + 1)); // inclusive
const pick = (a) => a[Math.floor(rand() * a.length)];
const chance = (p) => rand() < p;
const rep = (s, n) => s.repeat(n);
const digits = (n) => Array.from({ length: n }, (_, i) => String(i === 0 && n > 1 ? int(1, 9) : int(0, 9))).join('');

// ---------------------------------------------------------------- vocabularies
const WORDS = (
  'the of and to in is was for on that with as by at from it this be are or an have not which but ' +
  'they had his her were one all we can their there been has more if will would who so no about out ' +
  'time people year way day man thing woman life child world school state family student group country ' +
  'problem hand part place case week company system program question work government number night point ' +
  'home water room mother area money story fact month lot right study book eye job word business issue ' +
  'tokenizer model training gradient expert router shard checkpoint tensor batch kernel latency throughput ' +
  'pipeline parallel mixture sparse dense attention embedding vocabulary merge byte pair encoding ' +
  'unbelievable internationalization antidisestablishmentarianism photosynthesis quick brown fox jumps lazy dog'
).split(' ');
const NAMES = ['Alice', 'Bob', 'Carol', 'Dave', 'Eve', 'Mallory', 'Zoë', 'José', 'François', 'Øyvind', 'Åsa', 'McDonald', 'O\'Brien', 'iPhone', 'GPT-NeoX', 'LLaMA', 'PyTorch', 'CUDA', 'NVIDIA', 'H100', 'eBay', 'JavaScript'];
const CONTRACTIONS = ["I'm", "you're", "we've", "they'll", "he'd", "she's", "it's", "don't", "can't", "won't", "isn't", "wouldn't", "y'all", "o'clock",
  "I'M", "YOU'RE", "WE'VE", "THEY'LL", "HE'D", "IT'S", "DON'T", "CAN'T", "JOHN'S", "Bob'S", "it'S", "You'Re", "I'Ll", "We'VE", "he'D",
  "rock 'n' roll", "'tis", "'twas", "the '90s", "students'", "it’s", "don’t", "we’re", "l'été", "aujourd'hui", "'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "''", "'''"];
const PUNCT_RUNS = ['...', '!!!', '???', '?!?!', '!?', '---', '--', '—', '–', '====', '***', '___', '~~~', '###', '@@', '$$$', '%%', '^^', '&&', '||', ';;', '::', '..', ',,', '»', '«', '“', '”', '‘', '’', '…', '•', '·', '()', '[]', '{}', '<>', '</>', '<!--', '-->', '#!/', '\\\\', '//', '/*', '*/', '!@#$%^&*()_+', '`~', '""', "''", '¿', '¡', '§', '¶', '†', '‡', '°', '±', '×', '÷', '≠', '≤', '≥', '∞', '∑', '√', '∂', '→', '←', '⇒', '✓', '✗', '©', '®', '™'];
const WS = [' ', '  ', '   ', '    ', '     ', '      ', '       ', '        ', '\t', '\t\t', ' \t', '\t ', ' \t \t'];

// Non-Latin scripts and Unicode edge cases. \u escapes keep this file ASCII-safe where it matters.
const SCRIPTS = {
  latinPrecomposed: ['café', 'naïve', 'résumé', 'crème brûlée', 'Ångström', 'São Paulo', 'Zürich', 'Ærøskøbing', 'Łódź', 'Dvořák', 'smörgåsbord', 'piñata', 'façade', 'Đặng Thị Ngọc', 'Tiếng Việt', 'İstanbul', 'ß', 'straße', 'ÉCOLE', 'œuvre'],
  latinDecomposed: ['cafe\u0301', 'nai\u0308ve', 're\u0301sume\u0301', 'cre\u0300me bru\u0302le\u0301e', 'A\u030Angstro\u0308m', 'Sa\u0303o Paulo', 'Zu\u0308rich', 'pin\u0303ata', 'fac\u0327ade', 'Dvor\u030Ca\u0301k', 'E\u0301COLE',
    'a\u0328\u0301', 'a\u0301\u0328', 'q\u0307\u0323', 'q\u0323\u0307', 'o\u0302\u0323', 'o\u0323\u0302', 'Tie\u0302\u0301ng Vie\u0323\u0302t', 'e\u0301\u0301\u0301', 'x\u0301'],
  nfcSingletons: ['\u212B', '\u2126', '\u212A', 'Ohm \u2126 vs \u03A9', 'Kelvin \u212A vs K', '\u1E9B\u0323', '\u0958\u0959\u095A', '\u0915\u093C', '\uFB2A\uFB2B', '\u2000\u2001', '\u0340\u0341', '\u0344', '\u0F73\u0F75'],
  nfkcOnly: ['ﬁne ﬂow ﬀ', 'ＡＢＣ１２３ｘｙｚ', 'ｶﾀｶﾅ', 'x² y³ z¹', '½ ¼ ¾', 'ℌ𝔢𝔩𝔩𝔬 𝐖𝐨𝐫𝐥𝐝', 'Ⅻ Ⅳ ⅸ', '㍿ ㌔ ㎏', '…', '™ ℠', 'µ vs μ', 'ſ', '①②③', '⁴²', 'ǆ Ǳ', 'Ｈｅｌｌｏ，　ｗｏｒｌｄ！', '\u00A0', '\u2007', '\u202F'],
  greek: ['Καλημέρα κόσμε', 'Ελληνικά γράμματα: α β γ δ ε ζ η θ', 'ΑΒΓΔΕ ωψχφυ', 'ἀρχή ἐν ᾧ ᾠδή', 'Σίσυφος', 'μήνιν ἄειδε θεὰ'],
  cyrillic: ['Привет, мир!', 'Съешь же ещё этих мягких французских булок', 'ЁЖИК в тумане', 'Україна, Київ, ґанок, їжак', 'Српски језик', 'Қазақстан'],
  cjk: ['你好，世界！', '中华人民共和国', '我爱自然语言处理。', '漢字と仮名', '繁體中文測試', '𠀀𠀁𠀂 𪚥', '一二三四五六七八九十', '机器学习模型训练'],
  japanese: ['こんにちは世界', 'カタカナとひらがな', 'ｶﾞｷﾞｸﾞ', 'がぎぐげご', 'か\u3099き\u3099く\u3099', '東京都渋谷区', 'ー・「」『』', 'ヴァイオリン'],
  korean: ['안녕하세요 세계', '한국어 토크나이저', '\u1100\u1161\u11A8', '\u1112\u1161\u11AB\u1100\u1173\u11AF', '대한민국 서울특별시', 'ㄱㄴㄷㄹ ㅏㅑㅓㅕ'],
  arabic: ['مرحبا بالعالم', 'اللغة العربية جميلة', 'بِسْمِ اللَّهِ', '١٢٣٤٥٦٧٨٩٠', 'فارسی: ۱۲۳۴', 'ﻻ ﷺ'],
  hebrew: ['שלום עולם', 'עִבְרִית', 'אבגדה', 'ירושלים 2024'],
  devanagari: ['नमस्ते दुनिया', 'हिन्दी भाषा', 'क्षत्रिय ज्ञान', 'संस्कृतम्', '०१२३४५६७८९', 'ड़ ढ़ फ़ ज़'],
  other: ['สวัสดีชาวโลก', 'ภาษาไทย', 'გამარჯობა', 'Բարեւ', 'ሰላም ዓለም', 'வணக்கம்', 'ಕನ್ನಡ', 'ꦲꦏ꧀ꦱꦫ', 'ᚠᚢᚦᚨᚱᚲ', '𓀀𓀁𓂀', '𐌰𐌱𐌲'],
  emoji: ['😀', '😂🤣', '👍', '👍🏽', '👩‍💻', '👨‍👩‍👧‍👦', '🏳️‍🌈', '🏴‍☠️', '🇺🇸', '🇯🇵🇩🇪🇫🇷', '❤️', '♥', '1️⃣', '#️⃣', '🧑🏿‍🚀', '🫠', '🦄✨', '☕', '⚡️', '🐈‍⬛', '💯', '🔥🔥🔥', '🏴󠁧󠁢󠁳󠁣󠁴󠁿'],
  combining: ['Z\u0351\u036B\u0343\u036A\u0302\u036B\u033D\u034F\u0334\u0319\u0324\u031E\u0349\u035A\u032F\u031E\u0320\u034DA\u0334\u0335\u031C\u0330\u0354L\u0368\u0367\u0369\u0358\u0320G\u0311\u0357\u030E\u0305\u035B\u0341\u0334\u033B\u0348\u034D\u0354\u0339O', 'e\u0301\u0302\u0303\u0304', '\u0301lone mark', 'a\u20DD', '1\u20E3', 'n\u0303', 'ǹ\u0300'],
  zeroWidth: ['zero\u200Bwidth', 'zw\u200Cnj', 'zw\u200Dj', 'bom\uFEFFinside', '\uFEFFleading bom', 'soft\u00ADhyphen', 'word\u2060joiner', 'lrm\u200Emark', 'rlm\u200Fmark', '\u202Eoverride\u202C', 'var\uFE0Fsel'],
  exoticSpace: ['nb\u00A0sp', 'ideo\u3000space', 'thin\u2009space', 'en\u2002em\u2003', 'nel\u0085char', 'line\u2028sep', 'para\u2029sep', 'vt\u000Bff\u000C', 'ogham\u1680space', 'mongol\u180Esep', 'narrow\u202Fnbsp', 'medium\u205Fmath', 'hair\u200Aspace', 'ctrl\u0001\u0002\u001F\u007Fchars'],
};
const ALL_UNICODE = Object.values(SCRIPTS).flat();

const SPECIAL_LIKE = ['<|endoftext|>', '<|begin_of_text|>', '<|end_of_text|>', '<|eot_id|>', '<|start_header_id|>', '<|fim_prefix|>', '<|padding|>', '<EOT>', '<META>', '<s>', '</s>', '<unk>', '<|endoftext', 'endoftext|>', '<|ENDOFTEXT|>', '< |endoftext| >'];

const CODE = [
  '#include <vector>', 'int main(int argc, char** argv) {', '    return 0;', '}', 'std::vector<std::string> tokens;', 'for (size_t i = 0; i < n; ++i) { sum += a[i] * b[i]; }',
  'template <typename T> T max(T a, T b) { return a > b ? a : b; }', 'auto it = map.find(key); if (it != map.end()) it->second++;', '#define MAX(a,b) ((a)>(b)?(a):(b))',
  'static_assert(sizeof(void*) == 8, "64-bit only");', '  // TODO(alice): fix this', '/* multi-line comment */', 'std::cout << "Hello, World!" << std::endl;',
  'def forward(self, x):', '        return self.proj(torch.relu(x)) + x', 'import numpy as np', 'print(f"{name!r}: {value:>10.3f}")', 'if __name__ == "__main__":', '    main()',
  'lambda x: x ** 2', '@dataclass(frozen=True)', 'x = [i for i in range(10) if i % 2 == 0]', 'try:\tpass', 'class MoE(nn.Module):',
  '{"name": "moetrain", "version": "0.1.0", "experts": 8, "top_k": 2}', '{"a":[1,2,3],"b":{"c":null,"d":true}}', '  "key": "value",', '[{"id": 1}, {"id": 2}]', '{}', '[]',
  'SELECT id, name FROM users WHERE age >= 21 ORDER BY name;', '$ ./build/moetrain --config=configs/small.yaml --gpus 8', 'git commit -m "fix: off-by-one in router"', 'ls -la | grep "\\.cpp$"',
  '<div class="container"><p>Hello</p></div>', 'const re = /^[a-z0-9_]+$/i;', 'fn main() { println!("{}", 42); }', 'x <<= 2; y >>= 3; z ^= ~w;', '0xDEADBEEF & 0x0F0F', 'a->b->c', 'i++ + ++i',
  '    if (x) {', '        y = 1;', '\tindented_with_tab();', '\t\tdouble_tab();', '', '\\n\\t\\r\\\\',
];
const URLS = ['https://example.com/path?query=1&b=2#frag', 'http://localhost:8080/api/v1/users', 'https://github.com/huggingface/tokenizers/blob/main/README.md', 'ftp://files.example.org/pub/file.tar.gz',
  'www.example.co.uk', 'mailto:alice@example.com', 'alice.smith+tag@mail.example.com', 'bob_99@sub.domain.io', 'https://例え.jp/パス', 'https://xn--r8jz45g.jp', 'file:///home/user/data.txt',
  'C:\\Users\\Admin\\Documents\\file.txt', '/usr/local/lib/libtorch.so.2', '192.168.0.1:443', '[2001:db8::1]:8080', 'https://en.wikipedia.org/wiki/Byte_pair_encoding'];

// ---------------------------------------------------------------- generators
function number() {
  switch (int(0, 17)) {
    case 0: return digits(int(1, 3));
    case 1: return digits(int(4, 12));
    case 2: return digits(int(13, 40));
    case 3: return `${digits(int(1, 3))}.${digits(int(1, 8))}`;
    case 4: return pick(['3.14159', '2.718281828', '1e-9', '6.022e23', '-0.5', '+42', '1,000,000', '1.000.000,50', '12,345.67', '0.0001', '-273.15', '100%', '99.9%', '½', 'NaN', '1/3']);
    case 5: { let s = String(int(1, 999)); for (let i = int(1, 4); i > 0; --i) s += ',' + String(int(0, 999)).padStart(3, '0'); return s; }
    case 6: return `${int(1990, 2030)}-${String(int(1, 12)).padStart(2, '0')}-${String(int(1, 28)).padStart(2, '0')}`;
    case 7: return `${int(0, 23)}:${String(int(0, 59)).padStart(2, '0')}:${String(int(0, 59)).padStart(2, '0')}`;
    case 8: return `+1 (${digits(3)}) ${digits(3)}-${digits(4)}`;
    case 9: return `$${int(1, 9999)}.${digits(2)}`;
    case 10: return pick(['€', '£', '¥', '₹', '₩', '₿']) + int(0, 100000);
    case 11: return `0x${int(0, 0xffffffff).toString(16).toUpperCase()}`;
    case 12: return `v${int(0, 9)}.${int(0, 20)}.${int(0, 99)}`;
    case 13: return `${digits(int(1, 4))}${pick(['th', 'st', 'nd', 'rd', 'px', 'ms', 'GB', 'k', 'x', 'M'])}`;
    case 14: return pick(['٣٤٥', '४२', '２０２４', '①', '⅔', '𝟙𝟚𝟛', '½']);
    case 15: return rep(String(int(0, 9)), int(2, 30));
    case 16: return `${digits(int(1, 5))}${pick(['.', '-', '/', ':', '_'])}${digits(int(1, 5))}`;
    default: return String(int(-1000000, 1000000));
  }
}
function word() {
  const r = rand();
  if (r < 0.75) return pick(WORDS);
  if (r < 0.85) return pick(NAMES);
  if (r < 0.93) return pick(CONTRACTIONS);
  return number();
}
function sentence(min = 4, max = 16) {
  const n = int(min, max);
  const ws = [];
  for (let i = 0; i < n; ++i) {
    let w = word();
    if (i === 0) w = w.charAt(0).toUpperCase() + w.slice(1);
    if (i > 0 && i < n - 1 && chance(0.08)) w += pick([',', ';', ':', ' —', ' -']);
    ws.push(w);
  }
  return ws.join(' ') + pick(['.', '.', '.', '!', '?', '...', '', '?!', ':']);
}
function question() {
  const starts = ['What is', 'Why does', 'How do I', 'Can you', "Isn't it", "What's", 'Who', 'Where are', 'When will', 'Which of', 'Is it true that', 'Does'];
  return `${pick(starts)} ${sentence(2, 10).replace(/[.!?:]*$/, '')}${pick(['?', '??', '?!', ' ?', '？'])}`;
}
const ws = () => pick(WS);
function wsLine() {
  switch (int(0, 11)) {
    case 0: return rep(' ', int(2, 8)) + sentence();
    case 1: return sentence() + rep(' ', int(2, 8));
    case 2: return rep(' ', int(2, 8)) + sentence(2, 6) + rep(' ', int(2, 8));
    case 3: return sentence(3, 8).split(' ').join(rep(' ', int(2, 8)));
    case 4: return '\t' + sentence() + '\t';
    case 5: return sentence(3, 8).split(' ').map((w) => w + ws()).join('');
    case 6: return rep(' ', int(1, 16));
    case 7: return rep('\t', int(1, 4));
    case 8: return ws() + pick(ALL_UNICODE) + ws() + pick(ALL_UNICODE) + ws();
    case 9: return `${word()}${rep(' ', int(2, 8))}${number()}${rep(' ', int(2, 8))}${pick(PUNCT_RUNS)}`;
    case 10: return rep(' ', int(2, 8)) + pick(CODE);
    default: return ' ' + sentence() + ' ';
  }
}
function codeLine() {
  if (chance(0.3)) return rep(' ', pick([2, 4, 8, 12])) + pick(CODE).trimStart();
  if (chance(0.2)) return pick(CODE) + '  // ' + sentence(2, 6);
  return pick(CODE);
}
function urlLine() {
  return pick([() => pick(URLS), () => `See ${pick(URLS)} for details.`, () => `Contact: ${pick(URLS)}, ${pick(URLS)}`, () => `(${pick(URLS)})`, () => `<${pick(URLS)}>`])();
}
function punctLine() {
  const n = int(1, 8);
  const parts = [];
  for (let i = 0; i < n; ++i) parts.push(chance(0.5) ? pick(PUNCT_RUNS) : word());
  return parts.join(chance(0.5) ? '' : ' ');
}
function contractionLine() {
  const n = int(2, 7);
  const parts = [];
  for (let i = 0; i < n; ++i) parts.push(chance(0.6) ? pick(CONTRACTIONS) : pick(WORDS));
  return parts.join(' ') + pick(['.', '!', '', '?']);
}
function unicodeLine(key) {
  const list = key ? SCRIPTS[key] : ALL_UNICODE;
  const n = int(1, 5);
  const parts = [];
  for (let i = 0; i < n; ++i) parts.push(chance(0.75) ? pick(list) : chance(0.5) ? pick(WORDS) : number());
  return parts.join(chance(0.8) ? ' ' : pick(['', ', ', '  ', '\u00A0', '\u3000', '\t', '-']));
}
function specialLine() {
  const sp = pick(SPECIAL_LIKE);
  return pick([sp, `${sentence(2, 5)}${sp}${sentence(2, 5)}`, `${sp} ${word()}`, `${word()} ${sp}`, `${sp}${sp}`, ` ${sp} `, `${pick(WORDS)}${sp}${pick(ALL_UNICODE)}`]);
}
function mixedLine() {
  const gens = [() => word(), () => number(), () => pick(ALL_UNICODE), () => pick(PUNCT_RUNS), () => pick(CODE).trim(), () => pick(URLS), () => ws()];
  const n = int(2, 12);
  let s = '';
  for (let i = 0; i < n; ++i) s += pick(gens)() + (chance(0.7) ? ' ' : '');
  return s;
}
function longLine() {
  switch (int(0, 7)) {
    case 0: { let s = ''; while (s.length < 2000) s += sentence() + ' '; return s; }
    case 1: return rep(pick(['a', 'x', 'z', '0', '9', '.', '-', '=', '!', 'é', '中', '😀', 'ab', 'the']), int(100, 600));
    case 2: return rep(' ', int(50, 300)) + 'end';
    case 3: return digits(int(200, 600));
    case 4: return pick(WORDS).repeat(int(20, 80));
    case 5: { let s = ''; while (s.length < 1500) s += pick(ALL_UNICODE); return s; }
    case 6: { let s = ''; while (s.length < 1200) s += mixedLine(); return s; }
    default: return rep('\t', int(20, 60)) + rep(' ', int(20, 60)) + 'x';
  }
}

// Fixed, hand-written edge cases that must always be present.
const FIXED = [
  '', ' ', '  ', '\t', ' \t ', 'a', 'A', '0', '.', "'", "'s", "'S", " 's", "it's", "IT'S", "Tom's", "TOM'S", "it'sn't", "x's'y'z",
  'Hello world', 'Hello  world', 'Hello   world   ', '   leading three', 'trailing three   ', 'tab\tseparated\tvalues', 'mixed \t \t whitespace',
  '12345678', '3.14159', '1,000,000', '0000000000', '1234567890123456789012345678901234567890', 'a1b2c3', 'abc123def456', '123abc', 'x=1+2*3/4-5%6',
  'café', 'cafe\u0301', 'CAFÉ', 'CAFE\u0301', 'e\u0301', '\u0301', '\u00E9\u0301', 'Å \u212B A\u030A', '\u1E9B\u0323', '\u0958', '\u0915\u093C',
  '\uAC00', '\u1100\u1161', '\u1100\u1161\u11A8', 'ｱｲｳ', 'ＡＢＣ', 'ﬁ', '²', '①', '㍿', '𝐀', 'µ', '\u00A0', '\u3000', '\u200B', '\u200D', '\uFEFF', '\u0085', '\u2028', '\u000B', '\u000C', '\u007F',
  // U+FEFF is \s in JavaScript but not White_Space (Rust/Oniguruma); U+0085 is the reverse.
  ' \uFEFFx', 'a \uFEFF b', '\uFEFF\uFEFF x', ' \u0085x', 'a \u0085 b', '\u0085\u0085 x', 'x\u0085 ', 'x \u0085', ' \u180Ex', ' \u200Bx', ' \u00A0x', ' \u3000x',
  'x\u00A0y', 'x\u3000y', 'x\u200By', 'x\uFEFFy', 'x\u0085y', 'x\u2028y', 'x\u000By', 'x\u000Cy', ' \u00A0 ', '\u00A0\u00A0\u00A0', '\u3000\u3000',
  '👩‍💻', '🇺🇸🇬🇧', '👍🏽', '🏳️‍🌈', '😀😀😀😀', 'a😀b', '😀 😀', '\uD83D\uDE00',
  '<|endoftext|>', 'a<|endoftext|>b', ' <|endoftext|> ', '<|endoftext|><|endoftext|>', '<|begin_of_text|>Hi', '<EOT>', '<|fim_prefix|>x<|fim_middle|>',
  'line with cr\r', '\r', 'a\rb', '\r\r', 'cr and tab\t\r', '   \r', 'x \r', 'Hello\r',
  'The quick brown fox jumps over the lazy dog.', 'THE QUICK BROWN FOX', 'ñandú', 'İıŞşĞğ', 'ǅ', 'ﬃ', '…', '‽', '¯\\_(ツ)_/¯', '( ͡° ͜ʖ ͡°)', 'ಠ_ಠ',
  '    def f(x):', '        return x', '{"k": [1, 2, {"n": null}]}', 'https://example.com/a?b=c', 'user@example.com',
];

// Category quotas (sum + FIXED.length === LINES).
const QUOTA = [
  [sentence, 420], [question, 150], [number, 120], [() => `${sentence(2, 6)} ${number()} ${number()} ${pick(['items', 'tokens', 'GPUs', 'steps', 'ms', '%'])}`, 130],
  [wsLine, 300], [contractionLine, 160], [codeLine, 250], [urlLine, 90], [punctLine, 120], [specialLine, 60], [longLine, 40],
  ...Object.keys(SCRIPTS).map((k) => [() => unicodeLine(k), 45]),
  [() => unicodeLine(), 100], [mixedLine, 0], // mixedLine quota filled below
];
const lines = [...FIXED];
for (const [gen, n] of QUOTA) for (let i = 0; i < n; ++i) lines.push(gen());
while (lines.length < LINES) lines.push(mixedLine());
lines.length = LINES;
// Sparse "\r": ~1% of generated lines end with "\r", a few more contain one inside.
for (let i = FIXED.length; i < LINES; ++i) {
  if (chance(0.01)) lines[i] += '\r';
  else if (chance(0.004)) { const cps = Array.from(lines[i]); cps.splice(int(0, cps.length), 0, '\r'); lines[i] = cps.join(''); }
}
for (const l of lines) {
  if (l.includes('\n')) throw new Error('newline inside a record: ' + JSON.stringify(l));
  if (!l.isWellFormed()) throw new Error('lone surrogate: ' + JSON.stringify(l));
}
writeFileSync(OUT, lines.join('\n') + '\n');
console.error(`wrote ${lines.length} lines to ${OUT}`);
