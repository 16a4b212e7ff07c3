#!/usr/bin/env python3
"""The safetensors package (Hugging Face's own reader and writer) against the files we write
and read.

Ours -> safetensors.safe_open (framework="pt"):
  - a training checkpoint (checkpoint-step-N/): manifest.json's sizes and SHA-256 (hashlib);
    model.safetensors with the names and shapes transformers' MptForCausalLM has for the
    config.json beside it (MoE layers per hf_checkpoint.h: experts.{e}.up_proj/down_proj and
    router), F32 on CPU, __metadata__ {"format": "pt"}, numel summing to `inspect`'s total;
    the optimizer shard: __metadata__ step = training_state.json's global_step and ranges
    (JSON name -> [lo, hi]), master/exp_avg/exp_avg_sq F32 [hi - lo] covering each parameter,
    master equal to model.safetensors' weights; rng_state.safetensors: U8 with the size of
    torch's CPU generator state, which torch.set_rng_state accepts.
  - `moe-worker init` of a bf16 MoE job (layer 1 of 2 MoE): the same layout, all BF16.
  - `moe-worker forward`: "logits" F32 [T, vocab], no __metadata__.
safetensors -> ours:
  - transformers' save_pretrained(safe_serialization=True) of a random dense MPT (fp32), and a
    safetensors.torch.save_file copy with bf16 matrices, fp32 norms and extra __metadata__:
    `inspect` loads each, `forward`'s logits equal transformers' forward (bf16 weights rounded,
    computed in fp32) within 1e-4.
__metadata__ round trip:
  - ours -> Python -> ours: a step-2 checkpoint's safetensors files rewritten by save_file with
    the metadata safe_open read; resuming from it gives a step-3 checkpoint equal tensor for
    tensor and metadata for metadata to the uninterrupted run's.
  - Python -> ours -> Python: `init` from the bf16 directory writes __metadata__ as a JSON
    object of strings with format "pt", and the source's values exactly (bf16 upcast to fp32).

  safetensors_test.py --worker PATH/moe-worker --root SOURCE_DIR [--keep]

Exit 0 with a one-line summary; 1 naming the file/key on a mismatch; 77 (SKIP) when torch,
safetensors or transformers is missing.
"""
import argparse
import hashlib
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tiny_job import write_tiny_job  # noqa: E402

SKIP = 77

try:
    import torch
    from safetensors import safe_open
    from safetensors.torch import save_file
    from transformers import MptConfig, MptForCausalLM
    from transformers.utils import logging as hf_logging
except ImportError as error:  # e.g. a GPU machine's venv without them
    print("SKIP: torch, safetensors or transformers is not importable: %s" % error)
    sys.exit(SKIP)

hf_logging.set_verbosity_error()

DTYPES = {torch.float32: "F32", torch.bfloat16: "BF16", torch.uint8: "U8"}
IDS = [5, 17, 42, 100, 3, 1800, 7, 64]


def fail(message):
    print("FAIL: " + message, file=sys.stderr)
    sys.exit(1)


def worker(args, *argv):
    run = subprocess.run([args.worker] + list(argv), stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, timeout=300)
    if run.returncode != 0:
        fail("moe-worker %s exited %d:\n%s" % (" ".join(argv), run.returncode, run.stdout[-4000:]))
    return run.stdout


def raw_metadata(path):
    """__metadata__ as the header's JSON holds it, read by hand (8-byte length, JSON)."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
    metadata = header.get("__metadata__")
    if metadata is not None and (not isinstance(metadata, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())):
        fail("%s: __metadata__ %r is not a JSON object of strings" % (path, metadata))
    return metadata


def read_all(path):
    """({name: tensor}, metadata) through safe_open, checking the header's dtype/shape."""
    with safe_open(path, framework="pt") as f:
        metadata = f.metadata()
        tensors = {}
        for name in f.keys():
            s = f.get_slice(name)
            t = f.get_tensor(name)
            if DTYPES.get(t.dtype) != s.get_dtype() or list(t.shape) != s.get_shape():
                fail("%s: %s loads as %s %s, its header says %s %s" %
                     (path, name, t.dtype, list(t.shape), s.get_dtype(), s.get_shape()))
            tensors[name] = t
    if metadata != raw_metadata(path):
        fail("%s: safe_open's metadata %r differs from the header's %r" %
             (path, metadata, raw_metadata(path)))
    return tensors, metadata


def expected_layout(model_dir):
    """{name: shape} for the config.json in `model_dir`: transformers' MptForCausalLM tensors
    (lm_head tied to wte, so not stored) with each MoE layer's FFN as E experts and a router."""
    c = json.load(open(os.path.join(model_dir, "config.json")))
    hf = MptForCausalLM(MptConfig(d_model=c["d_model"], n_heads=c["n_heads"], n_layers=c["n_layers"],
                                  expansion_ratio=c.get("expansion_ratio", 4),
                                  max_seq_len=c["max_seq_len"], vocab_size=c["vocab_size"]))
    shapes = {k: list(v.shape) for k, v in hf.state_dict().items() if k != "lm_head.weight"}
    moe = c.get("moe") or {}
    experts = len(moe.get("experts", []))
    if experts:
        every = moe.get("every_n_layers")  # job.proto: layers n-1, 2n-1, ...; default all
        for i in range(c["n_layers"]):
            if every and (i + 1) % every:
                continue
            prefix = "transformer.blocks.%d.ffn." % i
            for proj in ("up_proj", "down_proj"):
                shape = shapes.pop(prefix + proj + ".weight")
                for e in range(experts):
                    shapes["%sexperts.%d.%s.weight" % (prefix, e, proj)] = shape
            shapes[prefix + "router.weight"] = [experts, c["d_model"]]
    return shapes


def check_model_file(args, model_dir, dtype):
    """model.safetensors of a directory we wrote: layout, dtype, metadata, inspect's count."""
    path = os.path.join(model_dir, "model.safetensors")
    tensors, metadata = read_all(path)
    want = expected_layout(model_dir)
    missing, extra = sorted(set(want) - set(tensors)), sorted(set(tensors) - set(want))
    if missing or extra:
        fail("%s: tensors missing %s, unexpected %s" % (path, missing, extra))
    for name, t in tensors.items():
        if list(t.shape) != want[name] or t.dtype != dtype:
            fail("%s: %s is %s %s, expected %s %s" % (path, name, t.dtype, list(t.shape), dtype, want[name]))
        if not torch.isfinite(t).all():
            fail("%s: %s has non-finite values" % (path, name))
    # transformers reads model.safetensors only with format pt (modeling_utils checks it).
    if not metadata or metadata.get("format") != "pt":
        fail("%s: __metadata__ %r has no format \"pt\"" % (path, metadata))
    total = int(re.search(r"parameters: (\d+) total", worker(args, "inspect", "--checkpoint", model_dir)).group(1))
    stored = sum(t.numel() for t in tensors.values())
    if stored != total:
        fail("%s: %d elements stored, inspect counts %d parameters" % (path, stored, total))
    return tensors


def check_manifest(ckpt):
    manifest = json.load(open(os.path.join(ckpt, "manifest.json")))
    listed = manifest["files"]
    for name, entry in listed.items():
        data = open(os.path.join(ckpt, name), "rb").read()
        if len(data) != entry["bytes"] or hashlib.sha256(data).hexdigest() != entry["sha256"]:
            fail("%s/manifest.json: %s does not match its bytes/sha256" % (ckpt, name))
    shards = sorted(n for n in os.listdir(ckpt) if n.startswith("optimizer-"))
    if len(shards) != manifest["optimizer_shards"]:
        fail("%s: optimizer shards %s, manifest says %d" % (ckpt, shards, manifest["optimizer_shards"]))
    for name in os.listdir(ckpt):
        if name.endswith(".safetensors") and name not in listed:
            fail("%s: %s is not in manifest.json" % (ckpt, name))
    return shards


def check_checkpoint(args, ckpt):
    shards = check_manifest(ckpt)
    model = check_model_file(args, ckpt, torch.float32)  # CPU: fp32 (job.proto Precision)
    step = str(json.load(open(os.path.join(ckpt, "training_state.json")))["global_step"])
    # The optimizer state: each parameter flattened, a MoE layer's experts as one parameter
    # (`...ffn.experts.up_proj`: the experts' tensors in expert order).
    def flat(name):
        if name in model:
            return model[name].reshape(-1)
        base, proj = name.rsplit(".", 1)
        parts = sorted((int(k[len(base) + 1:].split(".")[0]), k) for k in model
                       if k.startswith(base + ".") and k.endswith("." + proj + ".weight"))
        if not parts:
            fail("%s: optimizer range %s names no parameter of model.safetensors" % (ckpt, name))
        return torch.cat([model[k].reshape(-1) for _, k in parts])
    covered = {}
    for shard in shards:
        path = os.path.join(ckpt, shard)
        tensors, metadata = read_all(path)
        if set(metadata or {}) != {"step", "ranges"} or metadata["step"] != step:
            fail("%s: __metadata__ %r, expected step %r (training_state.json) and ranges" %
                 (path, metadata, step))
        ranges = json.loads(metadata["ranges"])
        names = set()
        for name, (lo, hi) in ranges.items():
            whole = flat(name)
            if not 0 <= lo < hi <= whole.numel():
                fail("%s: range of %s is [%d, %d], it has %d elements" % (path, name, lo, hi, whole.numel()))
            for prefix in ("master/", "exp_avg/", "exp_avg_sq/"):
                t = tensors.get(prefix + name)
                if t is None or t.dtype != torch.float32 or list(t.shape) != [hi - lo]:
                    fail("%s: %s%s is %s, expected F32 [%d]" % (path, prefix, name,
                         None if t is None else (t.dtype, list(t.shape)), hi - lo))
                if not torch.isfinite(t).all():
                    fail("%s: %s%s has non-finite values" % (path, prefix, name))
                names.add(prefix + name)
            if (tensors["exp_avg_sq/" + name] < 0).any():
                fail("%s: exp_avg_sq/%s has negative values" % (path, name))
            if not torch.equal(tensors["master/" + name], whole[lo:hi]):
                fail("%s: master/%s differs from model.safetensors' weights" % (path, name))
            covered[name] = covered.get(name, 0) + hi - lo
        if set(tensors) != names:
            fail("%s: tensors outside its ranges: %s" % (path, sorted(set(tensors) - names)))
    if sum(covered.values()) != sum(t.numel() for t in model.values()):
        fail("%s: optimizer shards cover %d elements, the model has %d" %
             (ckpt, sum(covered.values()), sum(t.numel() for t in model.values())))
    rng, metadata = read_all(os.path.join(ckpt, "rng_state.safetensors"))
    reference = torch.get_rng_state()
    if set(rng) != {"cpu"} or rng["cpu"].dtype != torch.uint8 or rng["cpu"].shape != reference.shape:
        fail("%s/rng_state.safetensors: %r, expected cpu U8 %s (torch.get_rng_state())" %
             (ckpt, {k: (v.dtype, list(v.shape)) for k, v in rng.items()}, list(reference.shape)))
    torch.set_rng_state(rng["cpu"])  # raises if it is not a CPU generator state
    torch.set_rng_state(reference)
    return 2 + len(shards), len(model) + 3 * len(covered) + 1  # files, tensors


def rewrite_with_python(ckpt):
    """Every safetensors file of `ckpt` rewritten by save_file with the metadata safe_open read;
    the manifest updated to the new bytes."""
    manifest_path = os.path.join(ckpt, "manifest.json")
    manifest = json.load(open(manifest_path))
    for name in sorted(os.listdir(ckpt)):
        if not name.endswith(".safetensors"):
            continue
        path = os.path.join(ckpt, name)
        tensors, metadata = read_all(path)
        before = open(path, "rb").read()
        save_file({k: v.clone() for k, v in tensors.items()}, path, metadata=metadata)
        data = open(path, "rb").read()
        if data == before:
            fail("%s: save_file wrote the same bytes; the round trip would prove nothing" % path)
        manifest["files"][name] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    json.dump(manifest, open(manifest_path, "w"), indent=2)


def train_spec(args, work, name, output_dir):
    return write_tiny_job(os.path.join(work, name), args.root, output_dir, save_steps=2)


def compare_files(a, b):
    ta, ma = read_all(a)
    tb, mb = read_all(b)
    if ma != mb:
        fail("%s: __metadata__ %r, the uninterrupted run's %r" % (b, mb, ma))
    if set(ta) != set(tb):
        fail("%s: tensors %s, the uninterrupted run's %s" % (b, sorted(tb), sorted(ta)))
    for name in ta:
        if ta[name].dtype != tb[name].dtype or not torch.equal(ta[name], tb[name]):
            fail("%s: %s differs from the uninterrupted run's" % (b, name))


def forward(args, model_dir, out):
    worker(args, "forward", "--checkpoint", model_dir, "--ids", ",".join(map(str, IDS)), "--out", out)
    tensors, metadata = read_all(out)
    vocab = json.load(open(os.path.join(model_dir, "config.json")))["vocab_size"]
    if set(tensors) != {"logits"} or tensors["logits"].dtype != torch.float32 or \
            list(tensors["logits"].shape) != [len(IDS), vocab]:
        fail("%s: %r, expected logits F32 [%d, %d]" %
             (out, {k: (v.dtype, list(v.shape)) for k, v in tensors.items()}, len(IDS), vocab))
    if metadata is not None:
        fail("%s: __metadata__ %r; forward writes none" % (out, metadata))
    if not torch.isfinite(tensors["logits"]).all():
        fail("%s: non-finite logits" % out)
    return tensors["logits"]


def hf_model():
    """A random dense MPT from transformers, weights larger than its init and norms not 1."""
    torch.manual_seed(0)
    model = MptForCausalLM(MptConfig(d_model=32, n_heads=4, n_layers=2, expansion_ratio=4,
                                     max_seq_len=128, vocab_size=1856)).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(torch.randn_like(p) * (0.1 if p.dim() == 1 else 0.2) + (1 if p.dim() == 1 else 0))
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--worker", required=True)
    parser.add_argument("--root", required=True, help="the source tree")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    args.root = os.path.abspath(args.root)
    args.tokenizer = os.path.join(args.root, "assets/tiny-tokenizer/tokenizer.json")
    args.dataset = os.path.join(args.root, "datasets/nq_sample.jsonl")
    began = time.time()
    work = tempfile.mkdtemp(prefix="safetensors_test.")
    try:
        # A training run: checkpoints at steps 2 and 3.
        run1 = os.path.join(work, "run1")
        worker(args, "train", "--spec", train_spec(args, work, "run1.yaml", run1))
        files, tensors = 0, 0
        for step in (2, 3):
            f, t = check_checkpoint(args, os.path.join(run1, "checkpoint-step-%d" % step))
            files, tensors = files + f, tensors + t

        # ours -> Python -> ours: resume from a step-2 checkpoint whose files save_file wrote.
        copy = os.path.join(work, "python-step-2")
        shutil.copytree(os.path.join(run1, "checkpoint-step-2"), copy)
        rewrite_with_python(copy)
        run2 = os.path.join(work, "run2")
        out = worker(args, "train", "--spec", train_spec(args, work, "run2.yaml", run2), "--resume-from", copy)
        if "resumed from %s at step 2" % copy not in out:
            fail("resume from %s: no 'resumed ... at step 2' in:\n%s" % (copy, out[-2000:]))
        for name in sorted(os.listdir(os.path.join(run1, "checkpoint-step-3"))):
            if name.endswith(".safetensors"):
                compare_files(os.path.join(run1, "checkpoint-step-3", name),
                              os.path.join(run2, "checkpoint-step-3", name))

        # init of a bf16 MoE job; forward reads it back.
        init_spec = os.path.join(work, "init.yaml")
        with open(init_spec, "w") as f:
            f.write("name: t\nmodel:\n  config: {d_model: 32, n_heads: 4, n_layers: 2, max_seq_len: 128}\n"
                    "  tokenizer: %s\n  precision: bf16\n  moe: {experts: [a, b, c], every_n_layers: 2}\n"
                    "data: {train_file: %s, max_seq_len: 128, max_target_len: 32}\n" %
                    (args.tokenizer, args.dataset))
        init_dir = os.path.join(work, "init-bf16")
        worker(args, "init", "--spec", init_spec, "--out", init_dir)
        init_tensors = check_model_file(args, init_dir, torch.bfloat16)
        if not any(".ffn.experts." in k for k in init_tensors) or not any(".ffn.up_proj" in k for k in init_tensors):
            fail("%s: expected a dense layer 0 and a MoE layer 1" % init_dir)
        forward(args, init_dir, os.path.join(work, "init-logits.safetensors"))

        # Python -> ours: transformers' fp32 directory, and a bf16/fp32 one by save_file.
        model = hf_model()
        hf32 = os.path.join(work, "hf-fp32")
        model.save_pretrained(hf32, safe_serialization=True)
        if raw_metadata(os.path.join(hf32, "model.safetensors")) != {"format": "pt"}:
            fail("%s: transformers wrote __metadata__ %r" % (hf32, raw_metadata(os.path.join(hf32, "model.safetensors"))))
        hf16 = os.path.join(work, "hf-bf16")
        os.makedirs(hf16)
        shutil.copy(os.path.join(hf32, "config.json"), hf16)
        source = {k: (v.to(torch.bfloat16) if v.dim() == 2 else v.clone())
                  for k, v in model.state_dict().items() if k != "lm_head.weight"}
        foreign = {"format": "pt", "producer": "safetensors_test", "note": "{\"json\": \"inside\"}"}
        save_file(source, os.path.join(hf16, "model.safetensors"), metadata=foreign)
        rounded = hf_model()
        with torch.no_grad():
            for name, p in rounded.named_parameters():
                if p.dim() == 2:
                    p.copy_(p.to(torch.bfloat16).to(torch.float32))
        worst = {}
        for label, model_dir, reference in (("fp32", hf32, model), ("bf16", hf16, rounded)):
            listing = worker(args, "inspect", "--checkpoint", model_dir)
            total = int(re.search(r"parameters: (\d+) total", listing).group(1))
            want = sum(v.numel() for k, v in reference.state_dict().items() if k != "lm_head.weight")
            if total != want or "experts: none (dense)" not in listing:
                fail("inspect %s: %d parameters (%s), transformers' model has %d, dense" % (model_dir, total, listing, want))
            ours = forward(args, model_dir, os.path.join(work, "logits-%s.safetensors" % label))
            with torch.no_grad():
                theirs = reference(torch.tensor([IDS])).logits[0]
            worst[label] = (ours - theirs).abs().max().item()
            if worst[label] > 1e-4:
                fail("forward %s (%s): logits differ from transformers' by %.3g (> 1e-4)" % (model_dir, label, worst[label]))

        # Python -> ours -> Python: init from the bf16 directory (no experts: the weights as
        # they are, in fp32 on CPU).
        hf_spec = os.path.join(work, "init-hf.yaml")
        with open(hf_spec, "w") as f:
            f.write("name: t\nmodel:\n  hf_path: %s\n  tokenizer: %s\n  precision: fp32\n"
                    "data: {train_file: %s, max_seq_len: 128, max_target_len: 32}\n" %
                    (hf16, args.tokenizer, args.dataset))
        reinit = os.path.join(work, "init-from-hf")
        worker(args, "init", "--spec", hf_spec, "--out", reinit)
        rewritten = check_model_file(args, reinit, torch.float32)
        if set(rewritten) != set(source):
            fail("%s: tensors %s, its source has %s" % (reinit, sorted(rewritten), sorted(source)))
        for name, t in source.items():
            if not torch.equal(rewritten[name], t.to(torch.float32)):
                fail("%s/model.safetensors: %s differs from its source's value" % (reinit, name))
        kept = raw_metadata(os.path.join(reinit, "model.safetensors"))

        print("PASS: safetensors_test: 2 checkpoints (%d files, %d tensors), resume from a "
              "save_file'd checkpoint bit-equal, init bf16 MoE, forward vs transformers max "
              "|diff| fp32 %.2g bf16 %.2g; init writes __metadata__ %s (source keys %s); %.1f s" %
              (files, tensors, worst["fp32"], worst["bf16"], json.dumps(kept, sort_keys=True),
               sorted(foreign), time.time() - began))
    finally:
        if args.keep:
            print("kept " + work)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
