#!/usr/bin/env python3
"""Parity with Hugging Face transformers' MptForCausalLM, both directions (issue 19).

transformers -> moe-worker: a random MptForCausalLM saved by save_pretrained, as
model.safetensors and as pytorch_model.bin, for 4 and 6 heads (6 is not a power of two: ALiBi's
interleaved slopes) and a non-default layer_norm_epsilon; `moe-worker forward` logits must
equal transformers' within 1e-4 (fp32). The weights are re-drawn at unit scale (embeddings
N(0, 1), projections N(0, 1/fan_in), norms 1 + N(0, 0.1)) so that logits are O(10) and a wrong
slope, head split, epsilon or norm weight misses by far more than the tolerance; transformers'
own init (std 0.02) gives logits too small to tell. Config variants moe-worker does not
implement (no_bias false, attn_config.qk_ln / clip_qkv / softmax_scale, untied lm_head) must be
refused, the message naming the field: that is the contract, not a failure.

moe-worker -> transformers: `moe-worker init` of a dense job (4 and 6 heads, and a non-default
layer_norm_eps); MptForCausalLM.from_pretrained(output_loading_info=True) must report no
missing, unexpected or mis-shaped keys and log no warning, its logits must equal `moe-worker
forward`'s within 1e-4, and its greedy generate() must produce `moe-worker generate`'s text
(generate prints text only; both decode the same ids with the same tokenizer, special tokens
kept, and ids past the tokenizer are suppressed as GreedyDecode excludes them).

  transformers_parity_test.py --worker build/worker/moe-worker --root .

Prints one line per case with its max |logit difference|. Exit 0: all pass; 1: a failure (the
failing cases say why); 77: torch, transformers or safetensors is missing (SKIP). The helpers
above main() use only the standard library; moe_export_test.py shares them.
"""
import argparse
import io
import logging
import os
import subprocess
import sys
import tempfile
import time
import warnings

TOLERANCE = 1e-4
SKIP = 77


class CaseFailure(Exception):
    pass


def import_or_skip():
    """(torch, transformers, safetensors.torch), or exits 77 saying what is missing."""
    try:
        import safetensors.torch
        import tokenizers  # noqa: F401  (the cases decode with it)
        import torch
        import transformers
    except ImportError as e:
        print(f"SKIP: {e.name or e} is not installed in {sys.executable}")
        sys.exit(SKIP)
    return torch, transformers, safetensors.torch


class Worker:
    """Runs moe-worker subcommands; fails the case with moe-worker's own message."""

    def __init__(self, path, workdir):
        if not os.access(path, os.X_OK):
            raise SystemExit(f"FAIL: moe-worker is not an executable at {path}")
        self.path, self.workdir, self.calls = path, workdir, 0

    def run(self, *args, check=True):
        self.calls += 1
        done = subprocess.run([self.path, *args], capture_output=True, text=True, timeout=120)
        if check and done.returncode != 0:
            message = " | ".join(done.stderr.strip().splitlines())[-800:]
            raise CaseFailure(f"moe-worker {args[0]} exited {done.returncode}: {message}")
        return done

    def forward(self, model_dir, ids):
        """Our fp32 logits [T, V]."""
        from safetensors.torch import load_file
        out = os.path.join(self.workdir, f"logits{self.calls}.safetensors")
        self.run("forward", "--checkpoint", model_dir, "--ids", ",".join(map(str, ids)),
                 "--out", out)
        return load_file(out)["logits"]

    def init(self, root, name, model_yaml):
        """`moe-worker init` of a job whose `model:` section is `model_yaml` (indented by 2)."""
        spec = os.path.join(self.workdir, f"{name}.yaml")
        with open(spec, "w") as f:
            f.write(f"name: {name}\nmodel:\n{model_yaml}"
                    f"  tokenizer: {root}/assets/tiny-tokenizer/tokenizer.json\n"
                    f"  precision: fp32\n"
                    f"data:\n  train_file: {root}/datasets/nq_sample.jsonl\n")
        out = os.path.join(self.workdir, name)
        self.run("init", "--spec", spec, "--out", out)
        return out


def max_diff(ours, theirs, what):
    if tuple(ours.shape) != tuple(theirs.shape):
        raise CaseFailure(f"{what}: shapes differ: ours {list(ours.shape)}, "
                          f"transformers {list(theirs.shape)}")
    diff = (ours.float() - theirs.float()).abs().max().item()
    if not diff <= TOLERANCE:  # also catches NaN
        raise CaseFailure(f"{what}: max |logit difference| {diff:.3g} > {TOLERANCE:g} "
                          f"(logits up to {theirs.abs().max().item():.3g})")
    return diff


def run_cases(cases, start):
    """Runs (name, fn) pairs (fn returns its summary), then prints the tally since `start`
    (time.monotonic()). Returns the exit code: 0 when all passed, else 1."""
    failures = 0
    for name, fn in cases:
        start = time.monotonic()
        try:
            summary = fn()
            print(f"PASS {name}: {summary} ({time.monotonic() - start:.1f}s)", flush=True)
        except CaseFailure as e:
            failures += 1
            print(f"FAIL {name}: {e}", flush=True)
        except Exception as e:  # a crash in the case (or in the loader it tests) fails it too
            failures += 1
            print(f"FAIL {name}: {type(e).__name__}: {e}", flush=True)
    elapsed = time.monotonic() - start
    if failures:
        print(f"FAIL: {failures} of {len(cases)} cases ({elapsed:.1f}s)")
        return 1
    print(f"OK: {len(cases)} cases ({elapsed:.1f}s)")
    return 0


# --- transformers -> moe-worker ----------------------------------------------------------------

IDS = [3, 17, 5, 90, 42, 7, 7, 1, 0, 64, 33, 95]  # a repeat, 0 and the last id of vocab 96


def save_random_hf(torch, transformers, out, d_model, n_heads, safe=True, attn=None, **config):
    torch.manual_seed(1000 + n_heads)
    hf_config = transformers.MptConfig(d_model=d_model, n_heads=n_heads, n_layers=2,
                                       vocab_size=96, max_seq_len=64, attn_config=attn, **config)
    model = transformers.MptForCausalLM(hf_config).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1:
                p.copy_(1 + 0.1 * torch.randn_like(p))
            elif name == "transformer.wte.weight":
                p.copy_(torch.randn_like(p))
            else:
                p.copy_(torch.randn_like(p) / p.shape[1] ** 0.5)
    model.save_pretrained(out, safe_serialization=safe)
    return model


def hf_to_ours(torch, transformers, worker, d_model, n_heads, safe, **config):
    def case():
        out = tempfile.mkdtemp(dir=worker.workdir)
        model = save_random_hf(torch, transformers, out, d_model, n_heads, safe, **config)
        with torch.no_grad():
            theirs = model(torch.tensor([IDS])).logits[0]
        diff = max_diff(worker.forward(out, IDS), theirs, "moe-worker forward vs transformers")
        return f"max |logit difference| {diff:.2e} (logits up to {theirs.abs().max():.1f})"
    return case


def refused(torch, transformers, worker, fields, **config):
    """A variant moe-worker does not implement: forward must fail naming one of `fields` (the
    config key, or for an untied head the tensor or the key)."""
    fields = (fields,) if isinstance(fields, str) else fields

    def case():
        out = tempfile.mkdtemp(dir=worker.workdir)
        save_random_hf(torch, transformers, out, 32, 4, **config)
        done = worker.run("forward", "--checkpoint", out, "--ids", "1,2,3", "--out",
                          os.path.join(out, "logits.safetensors"), check=False)
        if done.returncode == 0:
            raise CaseFailure(f"moe-worker accepted it; a model that ignores {fields[0]} "
                              "computes something else than the checkpoint's authors trained")
        named = [line.strip() for line in done.stderr.splitlines()
                 if any(field in line for field in fields)]
        if not named:
            raise CaseFailure(f"refused (exit {done.returncode}) without naming "
                              f"{' or '.join(fields)}: {done.stderr.strip()[-400:]}")
        line = named[0]
        return "refused: " + (line[line.find("config.json: "):] if "config.json: " in line
                              else line)
    return case


# --- moe-worker -> transformers ----------------------------------------------------------------

PROMPT = "Question: what is the capital of France?\nAnswer:"


def load_quietly(transformers, model_dir):
    """from_pretrained with loading info, and every transformers log record and Python warning
    it emitted."""
    records = io.StringIO()
    handler = logging.StreamHandler(records)
    handler.setLevel(logging.WARNING)
    logger = transformers.utils.logging.get_logger()  # the library's root logger
    logger.addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model, info = transformers.MptForCausalLM.from_pretrained(
                model_dir, output_loading_info=True)
    finally:
        logger.removeHandler(handler)
    noise = [line for line in records.getvalue().splitlines() if line.strip()]
    noise += [f"{w.category.__name__}: {w.message}" for w in caught]
    return model.eval(), info, noise


def ours_to_hf(torch, transformers, worker, root, name, d_model, n_heads, extra="", generate=True):
    def case():
        out = worker.init(root, name, f"  config: {{d_model: {d_model}, n_heads: {n_heads}, "
                                      f"n_layers: 2, max_seq_len: 256{extra}}}\n")
        model, info, noise = load_quietly(transformers, out)
        problems = {k: v for k, v in info.items() if v}
        if problems:
            raise CaseFailure(f"from_pretrained loading info: {problems}")
        if noise:
            raise CaseFailure(f"from_pretrained logged: {noise}")
        from tokenizers import Tokenizer
        tokenizer = Tokenizer.from_file(os.path.join(out, "tokenizer.json"))
        prompt = tokenizer.encode(PROMPT, add_special_tokens=False).ids
        ids = prompt + [model.config.vocab_size - 1]  # a padded id the tokenizer never makes
        with torch.no_grad():
            theirs = model(torch.tensor([ids])).logits[0]
        diff = max_diff(worker.forward(out, ids), theirs, "moe-worker forward vs from_pretrained")
        summary = f"max |logit difference| {diff:.2e} (logits up to {theirs.abs().max():.1f})"
        if generate:
            summary += "; " + same_generation(torch, worker, out, model, tokenizer, prompt)
        return summary
    return case


def same_generation(torch, worker, model_dir, model, tokenizer, prompt, max_new=12, use_cache=True):
    """transformers' greedy generate() vs `moe-worker generate`, compared as decoded text."""
    eos = tokenizer.token_to_id("<|endoftext|>")
    size, vocab = tokenizer.get_vocab_size(), model.config.vocab_size
    ids = torch.tensor([prompt])
    with torch.no_grad():
        out = model.generate(ids, attention_mask=torch.ones_like(ids),
                             max_new_tokens=max_new, do_sample=False,
                             eos_token_id=eos, pad_token_id=eos, use_cache=use_cache,
                             suppress_tokens=list(range(size, vocab)), output_scores=True,
                             return_dict_in_generate=True)
    new = out.sequences[0, len(prompt):].tolist()
    if new and new[-1] == eos:
        new = new[:-1]  # GreedyDecode stops at EOS without emitting it
    top2 = [s[0].topk(2).values for s in out.scores]
    margin = min((t[0] - t[1]).item() for t in top2)
    done = worker.run("generate", "--checkpoint", model_dir, "--prompt", PROMPT,
                      "--max-new-tokens", str(max_new))
    ours = done.stdout[:-1] if done.stdout.endswith("\n") else done.stdout
    theirs = PROMPT + tokenizer.decode(new, skip_special_tokens=False)
    if ours != theirs:
        raise CaseFailure(f"greedy generation differs:\n  moe-worker:   {ours!r}\n"
                          f"  transformers: {theirs!r} (ids {new})")
    return f"same {len(new)} greedy tokens (smallest top-2 logit margin {margin:.2g})"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worker", required=True, help="the moe-worker binary")
    parser.add_argument("--root", required=True, help="the repository (assets/, datasets/)")
    args = parser.parse_args()
    torch, transformers, _ = import_or_skip()
    transformers.utils.logging.set_verbosity_warning()
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    root = os.path.abspath(args.root)
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="transformers_parity.") as workdir:
        w = Worker(os.path.abspath(args.worker), workdir)
        t = (torch, transformers, w)
        cases = [
            ("hf->ours 4 heads safetensors", hf_to_ours(*t, 32, 4, safe=True)),
            ("hf->ours 4 heads pytorch_model.bin", hf_to_ours(*t, 32, 4, safe=False)),
            ("hf->ours 6 heads safetensors", hf_to_ours(*t, 48, 6, safe=True)),
            ("hf->ours 6 heads pytorch_model.bin", hf_to_ours(*t, 48, 6, safe=False)),
            ("hf->ours layer_norm_epsilon 1e-3",
             hf_to_ours(*t, 32, 4, safe=True, layer_norm_epsilon=1e-3)),
            ("hf->ours no_bias false", refused(*t, "no_bias", no_bias=False)),
            ("hf->ours qk_ln true", refused(*t, "attn_config.qk_ln", attn={"qk_ln": True})),
            ("hf->ours clip_qkv", refused(*t, "attn_config.clip_qkv", attn={"clip_qkv": 6.0})),
            ("hf->ours softmax_scale",
             refused(*t, "attn_config.softmax_scale", attn={"softmax_scale": 0.3})),
            ("hf->ours untied lm_head", refused(*t, ("tie_word_embeddings", "lm_head.weight"),
                                                tie_word_embeddings=False)),
            ("ours->hf 4 heads", ours_to_hf(*t, root, "dense4", 32, 4)),
            ("ours->hf 6 heads", ours_to_hf(*t, root, "dense6", 48, 6)),
            ("ours->hf layer_norm_eps 1e-3",
             ours_to_hf(*t, root, "dense_eps", 32, 4, ", layer_norm_eps: 1.0e-3", generate=False)),
        ]
        return run_cases(cases, start)


if __name__ == "__main__":
    sys.exit(main())
