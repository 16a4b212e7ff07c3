#!/usr/bin/env python3
"""scripts/moe_to_pytorch.py rebuilds our MoE exports in PyTorch with `moe-worker forward`'s
logits (issue 19; the format is docs/moe_export.md).

Each case `moe-worker init`s a tiny random MoE job (4 experts) and compares the loader's logits
with `moe-worker forward`'s on 24 tokens, within 1e-4 (fp32):
  - top-1, dropless, all layers; plus greedy generate() with the KV cache against
    `moe-worker generate` (dropless routing is per token, so caching changes nothing);
  - top-2 renormalised with capacity_factor 0.5 (capacity ceil(24 / 4 * 0.5 * 2) = 6), and
    top-1 with capacity_factor 0.25 (ceil(1.5) = 2, so min_capacity's 4 applies): capacity
    drops many assignments, and each case first checks that a dropless loader would miss by far
    more than the tolerance, so it tests the capacity rule (its formula, min_capacity, the
    slot-major order) and not luck; generate() without the cache, because with capacity a
    token's output depends on the whole sequence;
  - 6 heads, top-2 not renormalised, every 2nd layer MoE, expansion_ratio 2, alibi_bias_max 4
    and layer_norm_eps 1e-3: the settings transformers' own MPT ignores, which the loader must
    not;
  - the loader's command line (--check prints JSON lines, --out writes safetensors);
  - a config the loader must refuse by name (attn_config.qk_ln), and a missing tensor named.

  moe_export_test.py --worker build/worker/moe-worker --root .

Exit 0: all pass (one line per case with its max |logit difference|); 1: a failure; 77:
torch, transformers or safetensors missing (SKIP).
"""
import argparse
import contextlib
import io
import json
import os
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ beside the sources it imports
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from transformers_parity_test import (PROMPT, TOLERANCE, CaseFailure, Worker,  # noqa: E402
                                      import_or_skip, max_diff, run_cases, same_generation)

IDS = list(range(5, 1800, 75))  # 24 ids of the tiny tokenizer


def moe_yaml(d_model, n_heads, moe, extra=""):
    return (f"  config: {{d_model: {d_model}, n_heads: {n_heads}, n_layers: 2, "
            f"max_seq_len: 256{extra}}}\n  moe: {{experts: [a, b, c, d], {moe}}}\n")


def parity(torch, loader, worker, root, name, model_yaml, generate=None, capacity=False):
    """Loader vs `moe-worker forward`; generate: None, or use_cache for generate()."""
    def case():
        out = worker.init(root, name, model_yaml)
        model = loader.load(out)
        ours = worker.forward(out, IDS)
        with torch.no_grad():
            theirs = model(torch.tensor([IDS])).logits[0]
        summary = ""
        if capacity:  # the case must depend on capacity, or it proves nothing about it
            saved = [(m, m.capacity_factor) for m in model.modules()
                     if isinstance(m, loader.MoeFfn)]
            for m, _ in saved:
                m.capacity_factor = 0.0
            with torch.no_grad():
                dropless = model(torch.tensor([IDS])).logits[0]
            for m, factor in saved:
                m.capacity_factor = factor
            miss = (ours - dropless).abs().max().item()
            if miss < 100 * TOLERANCE:
                raise CaseFailure(f"capacity drops change the logits by only {miss:.2g}: "
                                  "the case does not test capacity")
            summary = f"; a dropless loader would miss by {miss:.2g}"
        diff = max_diff(ours, theirs, "moe-worker forward vs moe_to_pytorch")
        summary = (f"max |logit difference| {diff:.2e} (logits up to "
                   f"{theirs.abs().max():.1f})" + summary)
        if generate is not None:
            from tokenizers import Tokenizer
            tokenizer = Tokenizer.from_file(os.path.join(out, "tokenizer.json"))
            prompt = tokenizer.encode(PROMPT, add_special_tokens=False).ids
            summary += "; " + same_generation(torch, worker, out, model, tokenizer, prompt,
                                              use_cache=generate)
        return summary
    return case


def command_line(torch, loader, worker, root):
    def case():
        out = worker.init(root, "moe_cli", moe_yaml(32, 4, "top_k: 2"))
        file = os.path.join(worker.workdir, "cli.safetensors")
        stdout = io.StringIO()
        with contextlib.redirect_stdout(stdout):
            code = loader.main([out, "--check", ",".join(map(str, IDS)), "--out", file])
        if code != 0:
            raise CaseFailure(f"moe_to_pytorch.py exited {code}")
        lines = [json.loads(line) for line in stdout.getvalue().splitlines()]
        printed = torch.tensor([line["logits"] for line in lines])
        if [line["id"] for line in lines] != IDS or any(
                line["argmax"] != int(printed[i].argmax()) for i, line in enumerate(lines)):
            raise CaseFailure("printed ids or argmax do not match the printed logits")
        from safetensors.torch import load_file
        ours = worker.forward(out, IDS)
        d_printed = max_diff(ours, printed, "printed logits vs moe-worker forward")
        d_file = max_diff(ours, load_file(file)["logits"], "--out logits vs moe-worker forward")
        return f"max |logit difference| printed {d_printed:.2e}, --out {d_file:.2e}"
    return case


def refusals(loader, worker, root):
    def case():
        out = worker.init(root, "moe_refused", moe_yaml(32, 4, "top_k: 1"))
        config_path = os.path.join(out, "config.json")
        with open(config_path) as f:
            config = json.load(f)
        config["attn_config"]["qk_ln"] = True
        with open(config_path, "w") as f:
            json.dump(config, f)
        try:
            loader.load(out)
            raise CaseFailure("loaded a qk_ln model without refusing it")
        except loader.UnsupportedConfig as e:
            if "attn_config.qk_ln" not in str(e):
                raise CaseFailure(f"refused qk_ln without naming it: {e}")
        config["attn_config"]["qk_ln"] = False
        with open(config_path, "w") as f:
            json.dump(config, f)
        from safetensors.torch import load_file, save_file
        weights = load_file(os.path.join(out, "model.safetensors"))
        gone = "transformer.blocks.1.ffn.experts.3.down_proj.weight"
        del weights[gone]
        save_file(weights, os.path.join(out, "model.safetensors"))
        try:
            loader.load(out)
            raise CaseFailure(f"loaded a model without {gone}")
        except ValueError as e:
            if gone not in str(e):
                raise CaseFailure(f"a missing tensor, not named: {e}")
        return "attn_config.qk_ln refused by name; a missing expert tensor named"
    return case


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worker", required=True, help="the moe-worker binary")
    parser.add_argument("--root", required=True, help="the repository (assets/, scripts/)")
    args = parser.parse_args()
    torch, transformers, _ = import_or_skip()
    transformers.utils.logging.set_verbosity_error()
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    root = os.path.abspath(args.root)
    sys.path.insert(0, os.path.join(root, "scripts"))
    import moe_to_pytorch as loader
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="moe_export.") as workdir:
        w = Worker(os.path.abspath(args.worker), workdir)
        t = (torch, loader, w, root)
        cases = [
            ("top-1 dropless", parity(*t, "moe_top1", moe_yaml(32, 4, "top_k: 1"),
                                      generate=True)),
            ("top-2 normalised, capacity 0.5",
             parity(*t, "moe_top2_capacity",
                    moe_yaml(32, 4, "top_k: 2, normalize_top_k: true, capacity_factor: 0.5"),
                    generate=False, capacity=True)),
            ("top-1, capacity 0.25 (min_capacity applies)",
             parity(*t, "moe_top1_min_capacity", moe_yaml(32, 4, "capacity_factor: 0.25"),
                    capacity=True)),
            ("6 heads, top-2, every 2nd layer, expansion 2, ALiBi max 4, eps 1e-3",
             parity(*t, "moe_variants",
                    moe_yaml(48, 6, "top_k: 2, every_n_layers: 2",
                             ", expansion_ratio: 2, alibi_bias_max: 4, layer_norm_eps: 1.0e-3"))),
            ("command line", command_line(*t)),
            ("refusals", refusals(loader, w, root)),
        ]
        return run_cases(cases, start)


if __name__ == "__main__":
    sys.exit(main())
