#!/usr/bin/env python3
"""The tokenizer reference: Hugging Face `tokenizers` (the Rust library that writes every
tokenizer.json), pinned in the project's venv by scripts/setup.sh.

  tokenizer_reference.py make OUT_DIR
      Builds one tokenizer.json per family below under OUT_DIR/<name>/, each configured
      component by component with the library and a small BPE trained on the shipped data
      (tests/data/tokenizer_corpus.txt and datasets/nq_sample.jsonl), and writes
      OUT_DIR/cases.tsv (the shipped demo tokenizer, "tiny", first): name, whether moe-worker implements the family ("supported") or must
      refuse it at load ("refused"), and for refused ones the JSON path its error names.
      Also OUT_DIR/extra_lines.txt: lines that exercise the added tokens and splits.
  tokenizer_reference.py encode TOKENIZER_JSON < lines      one JSON id array per line
  tokenizer_reference.py decode TOKENIZER_JSON < id_arrays  the decoded text per line
  tokenizer_reference.py bench TOKENIZER_JSON [--repeat N] [--batch] < lines
      {"bytes":N,"lines":N,"seconds":S,"mb_per_s":X}, timing only the encode loop: a call per
      line, or with --batch one encode_batch call (one thread under RAYON_NUM_THREADS=1)

Lines are UTF-8 split on "\\n" only. Encoding adds no special tokens (add_special_tokens
False), but added tokens written in the text are matched. Decoding keeps special tokens.
Exit code 77 when `tokenizers` is not installed (a GPU machine's venv may lack it).
"""
import json
import os
import shutil
import sys
import time

try:
    from tokenizers import (AddedToken, Regex, Tokenizer, decoders, models, normalizers,
                            pre_tokenizers, processors, trainers)
except ImportError as e:  # pragma: no cover - depends on the venv
    print(f"SKIP: the tokenizers package is not installed ({e})", file=sys.stderr)
    sys.exit(77)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

GPT2_PATTERN = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
                  r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
# o200k (GPT-4o), as tiktoken-converted tokenizer.json files write it: Split, Removed, invert.
GPT4O_PATTERN = (
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+"
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+"
    r"[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}|"
    r" ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+")
BEHAVIORS = ["removed", "isolated", "merged_with_previous", "merged_with_next", "contiguous"]

EXTRA_LINES = [
    "Question: who wrote <|endoftext|> the answer?<|endoftext|>",
    "  <mask>  lstrip and rstrip eat the spaces around  <mask>  ",
    "[SEP]tight[SEP] and [SEP] loose [SEP]",
    "single word: hello, hellothere, say hello! xhello hello_there 'hello'",
    "ＦＵＬＬ width ＦＵＬＬ and FULL: normalized false matches the raw text only",
    "digits 1234567 and 3.14159, spaces    and\ttabs\nnever",
    "  leading and trailing spaces  ",
    "",
    "ünïcödé — 日本語のテキスト 한국어 русский ελληνικά العربية",
    "emoji 🦀🎉 and rare 龘 go through the byte tokens <s> after a special token",
    "▁already▁marked ▁ and  two  spaces",
]


def training_text():
    lines = open(os.path.join(ROOT, "tests/data/tokenizer_corpus.txt"), encoding="utf-8")
    yield from (line.rstrip("\n") for line in lines)
    for line in open(os.path.join(ROOT, "datasets/nq_sample.jsonl"), encoding="utf-8"):
        record = json.loads(line)
        answer = record["answer"]
        if isinstance(answer, dict):
            answer = answer["text"]
        elif isinstance(answer, list):
            answer = ", ".join(answer)
        yield "Question: " + record["question"]
        yield "Answer: " + answer


def byte_level_bpe(pre_tokenizer, normalizer=None, special=("<|endoftext|>",), vocab=1200,
                   ignore_merges=False):
    """A byte-level BPE trained on the shipped data behind the given components."""
    tok = Tokenizer(models.BPE(ignore_merges=ignore_merges))
    if normalizer is not None:
        tok.normalizer = normalizer
    tok.pre_tokenizer = pre_tokenizer
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab, special_tokens=list(special),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(training_text(), trainer)
    return tok


def split_then_bytes(pattern, behavior, invert):
    return pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(pattern), behavior=behavior, invert=invert),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])


def families():
    """(name, tokenizer or the path of a shipped tokenizer.json, "supported" | "refused",
    JSON path a refusal names)."""
    yield "tiny", os.path.join(ROOT, "assets/tiny-tokenizer/tokenizer.json"), "supported", ""
    yield "gpt2", byte_level_bpe(pre_tokenizers.ByteLevel(add_prefix_space=False)), "supported", ""
    neox = byte_level_bpe(pre_tokenizers.ByteLevel(add_prefix_space=False),
                          normalizers.NFC(), special=("<|endoftext|>", "<|padding|>"))
    neox.add_tokens([AddedToken(" " * n, normalized=True) for n in (2, 4, 8)])
    yield "neox", neox, "supported", ""
    yield "prefix-space", byte_level_bpe(pre_tokenizers.ByteLevel(add_prefix_space=True)), \
        "supported", ""
    llama3 = byte_level_bpe(split_then_bytes(LLAMA3_PATTERN, "isolated", False),
                            special=("<|begin_of_text|>", "<|end_of_text|>"), ignore_merges=True)
    llama3.post_processor = processors.TemplateProcessing(
        single="<|begin_of_text|> $A", pair="<|begin_of_text|> $A <|begin_of_text|> $B",
        special_tokens=[("<|begin_of_text|>", llama3.token_to_id("<|begin_of_text|>"))])
    yield "llama3", llama3, "supported", ""
    yield "nfkc", byte_level_bpe(pre_tokenizers.ByteLevel(add_prefix_space=False),
                                 normalizers.NFKC()), "supported", ""
    yield "gpt4o", byte_level_bpe(split_then_bytes(GPT4O_PATTERN, "removed", True)), \
        "supported", ""
    for behavior in BEHAVIORS:
        for invert in (False, True):
            name = f"split-{behavior.replace('_', '-')}{'-invert' if invert else ''}"
            yield name, byte_level_bpe(split_then_bytes(r"\s+|\p{N}", behavior, invert)), \
                "supported", ""
    yield "split-string", byte_level_bpe(pre_tokenizers.Sequence([
        pre_tokenizers.Split(", ", behavior="merged_with_previous"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])), "supported", ""
    added = byte_level_bpe(pre_tokenizers.ByteLevel(add_prefix_space=False), normalizers.NFKC())
    added.add_special_tokens([AddedToken("<mask>", lstrip=True, rstrip=True),
                              AddedToken("[SEP]", rstrip=True)])
    added.add_tokens([AddedToken("hello", single_word=True),
                      AddedToken("ＦＵＬＬ", normalized=False)])
    yield "added-tokens", added, "supported", ""
    # SentencePiece-style BPE (Mistral, newer Llama-2 conversions): Metaspace and byte
    # fallback, prepending "▁" to the first stretch only; and as older Llama-2 files write it,
    # with a Prepend + Replace normalizer and no pre-tokenizer.
    sp_decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(),
                                    decoders.Fuse(), decoders.Strip(" ", 1, 0)])
    for name, scheme, split in (("metaspace", "first", True), ("metaspace-always", "always", True),
                                ("metaspace-nosplit", "first", False)):
        sp = sentencepiece_bpe()
        sp.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme=scheme,
                                                    split=split)
        sp.decoder = sp_decoder
        train_sentencepiece_bpe(sp)
        yield name, sp, "supported", ""
    legacy = sentencepiece_bpe()
    legacy.normalizer = normalizers.Sequence([normalizers.Prepend("▁"),
                                              normalizers.Replace(" ", "▁")])
    legacy.decoder = sp_decoder
    train_sentencepiece_bpe(legacy)
    yield "llama2-legacy", legacy, "supported", ""
    # A model we do not implement: SentencePiece's Unigram (T5, ALBERT).
    unigram = Tokenizer(models.Unigram())
    unigram.pre_tokenizer = pre_tokenizers.Metaspace()
    unigram.decoder = decoders.Metaspace()
    unigram.train_from_iterator(training_text(), trainers.UnigramTrainer(
        vocab_size=3000, special_tokens=["<unk>"], unk_token="<unk>", show_progress=False))
    yield "unigram", unigram, "refused", "model.type"


def sentencepiece_bpe():
    return Tokenizer(models.BPE(byte_fallback=True, unk_token="<unk>", fuse_unk=True))


def train_sentencepiece_bpe(tok):
    """A small BPE without the byte alphabet: what it lacks goes through the byte tokens."""
    tok.train_from_iterator(training_text(), trainers.BpeTrainer(
        vocab_size=700, special_tokens=["<unk>", "<s>", "</s>"] +
        [f"<0x{b:02X}>" for b in range(256)], limit_alphabet=120, show_progress=False))


def make(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "cases.tsv"), "w", encoding="utf-8") as cases:
        for name, tok, support, path in families():
            os.makedirs(os.path.join(out_dir, name), exist_ok=True)
            if isinstance(tok, str):
                shutil.copyfile(tok, os.path.join(out_dir, name, "tokenizer.json"))
            else:
                tok.save(os.path.join(out_dir, name, "tokenizer.json"))
            cases.write(f"{name}\t{support}\t{path}\n")
    with open(os.path.join(out_dir, "extra_lines.txt"), "w", encoding="utf-8") as extra:
        extra.write("".join(line + "\n" for line in EXTRA_LINES))


def read_lines():
    text = sys.stdin.buffer.read().decode("utf-8")
    lines = text.split("\n")
    return lines[:-1] if lines and lines[-1] == "" else lines


def main(argv):
    if len(argv) < 3 or argv[1] not in ("make", "encode", "decode", "bench"):
        print(__doc__, file=sys.stderr)
        return 2
    if argv[1] == "make":
        make(argv[2])
        return 0
    tok = Tokenizer.from_file(argv[2])
    out = sys.stdout
    if argv[1] == "encode":
        for line in read_lines():
            out.write(json.dumps(tok.encode(line, add_special_tokens=False).ids,
                                 separators=(",", ":")) + "\n")
    elif argv[1] == "decode":
        for line in read_lines():
            out.write(tok.decode(json.loads(line), skip_special_tokens=False) + "\n")
    else:
        repeat = int(argv[argv.index("--repeat") + 1]) if "--repeat" in argv else 1
        lines = read_lines()
        started = time.perf_counter()
        for _ in range(repeat):
            if "--batch" in argv:  # one call for all lines: no Python overhead per line
                tok.encode_batch(lines, add_special_tokens=False)
            else:
                for line in lines:
                    tok.encode(line, add_special_tokens=False)
        seconds = time.perf_counter() - started
        size = repeat * sum(len(line.encode("utf-8")) for line in lines)
        out.write(json.dumps({"bytes": size, "lines": repeat * len(lines), "seconds": seconds,
                              "mb_per_s": size / 1e6 / seconds}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
