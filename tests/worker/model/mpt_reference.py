#!/usr/bin/env python3
"""An independent MPT(-MoE) reference in Python PyTorch, for the C++ model's tests.

Written from the MPT description (llm-foundry / Hugging Face MPT), not from the C++ code:
per-head ALiBi in MPT's own form ((j - (T-1)) * slope, which differs from -(i-j)*slope by a
per-row constant) and a token-by-token loop for MoE routing. Files are read and written with
Hugging Face safetensors, the original (the venv's).

  mpt_reference.py forward MODEL_DIR INPUTS.json OUT.safetensors
      INPUTS.json: {"input_ids": [[...]], "segment_ids": [[...]]} (segment_ids optional).
      Writes the fp32 logits [B, T, V] under "logits".
  mpt_reference.py make-bin MODEL_DIR SEED
      Writes a random dense MPT (config.json already in MODEL_DIR) as pytorch_model.bin.
"""
import json
import math
import sys

import torch
from safetensors.torch import load_file, save_file

def alibi_slopes(n_heads, bias_max):
    n = 2 ** math.ceil(math.log2(n_heads))
    m = torch.arange(1, n + 1, dtype=torch.float32) * (bias_max / n)
    slopes = 1.0 / torch.pow(2, m)
    if n != n_heads:
        slopes = torch.cat([slopes[1::2], slopes[0::2]])[:n_heads]
    return slopes


def layer_norm(x, w, eps):
    return torch.nn.functional.layer_norm(x, (x.shape[-1],), w, None, eps)


def attention(x, seg, w, cfg, slopes):
    b, t, d = x.shape
    h = cfg["n_heads"]
    k = d // h
    qkv = x @ w["Wqkv"].T
    q, kk, v = qkv.split(d, dim=-1)
    out = torch.zeros_like(x)
    j = torch.arange(t)
    for bi in range(b):
        for hi in range(h):
            qs = q[bi, :, hi * k:(hi + 1) * k]
            ks = kk[bi, :, hi * k:(hi + 1) * k]
            vs = v[bi, :, hi * k:(hi + 1) * k]
            scores = qs @ ks.T / math.sqrt(k) + (j - (t - 1)).float()[None, :] * slopes[hi]
            for i in range(t):
                allowed = (j <= i) & (seg[bi] == seg[bi, i]) & (seg[bi, i] != 0)
                allowed[i] = True
                scores[i, ~allowed] = float("-inf")
            out[bi, :, hi * k:(hi + 1) * k] = torch.softmax(scores, -1) @ vs
    return out @ w["out_proj"].T


def ffn(x, up, down):
    return torch.nn.functional.gelu(x @ up.T) @ down.T


def moe(x, w, moe_cfg, n_experts):
    top_k = moe_cfg.get("top_k", 1)
    normalize = moe_cfg.get("normalize_top_k", False)
    flat = x.reshape(-1, x.shape[-1])
    out = torch.zeros_like(flat)
    for n in range(flat.shape[0]):
        probs = torch.softmax(flat[n].float() @ w["router"].float().T, -1)
        weights, experts = torch.topk(probs, top_k)
        if normalize:
            weights = weights / weights.sum()
        for wgt, e in zip(weights, experts):
            out[n] += wgt * ffn(flat[n], w["up"][e], w["down"][e])
    return out.reshape(x.shape)


def forward(model_dir, inputs_path, out_path):
    cfg = json.load(open(f"{model_dir}/config.json"))
    try:
        weights = load_file(f"{model_dir}/model.safetensors")
    except FileNotFoundError:
        weights = torch.load(f"{model_dir}/pytorch_model.bin")
    weights = {k: v.float() for k, v in weights.items()}
    inputs = json.load(open(inputs_path))
    ids = torch.tensor(inputs["input_ids"])
    seg = torch.tensor(inputs["segment_ids"]) if "segment_ids" in inputs else torch.ones_like(ids)
    slopes = alibi_slopes(cfg["n_heads"], cfg["attn_config"]["alibi_bias_max"])
    eps = cfg.get("layer_norm_epsilon", cfg.get("layer_norm_eps", 1e-5))
    moe_cfg = cfg.get("moe", {})
    n_experts = len(moe_cfg.get("experts", []))
    x = weights["transformer.wte.weight"][ids]
    for i in range(cfg["n_layers"]):
        p = f"transformer.blocks.{i}."
        attn_w = {"Wqkv": weights[p + "attn.Wqkv.weight"], "out_proj": weights[p + "attn.out_proj.weight"]}
        x = x + attention(layer_norm(x, weights[p + "norm_1.weight"], eps), seg, attn_w, cfg, slopes)
        hdn = layer_norm(x, weights[p + "norm_2.weight"], eps)
        if p + "ffn.router.weight" in weights:
            w = {"router": weights[p + "ffn.router.weight"],
                 "up": [weights[f"{p}ffn.experts.{e}.up_proj.weight"] for e in range(n_experts)],
                 "down": [weights[f"{p}ffn.experts.{e}.down_proj.weight"] for e in range(n_experts)]}
            x = x + moe(hdn, w, moe_cfg, n_experts)
        else:
            x = x + ffn(hdn, weights[p + "ffn.up_proj.weight"], weights[p + "ffn.down_proj.weight"])
    logits = layer_norm(x, weights["transformer.norm_f.weight"], eps) @ weights["transformer.wte.weight"].T
    save_file({"logits": logits.contiguous()}, out_path)


def make_bin(model_dir, seed):
    cfg = json.load(open(f"{model_dir}/config.json"))
    torch.manual_seed(int(seed))
    d, f, v = cfg["d_model"], cfg["d_model"] * cfg["expansion_ratio"], cfg["vocab_size"]
    state = {"transformer.wte.weight": torch.randn(v, d) * 0.1,
             "transformer.norm_f.weight": 1 + 0.1 * torch.randn(d)}
    for i in range(cfg["n_layers"]):
        p = f"transformer.blocks.{i}."
        state[p + "norm_1.weight"] = 1 + 0.1 * torch.randn(d)
        state[p + "attn.Wqkv.weight"] = torch.randn(3 * d, d) / math.sqrt(d)
        state[p + "attn.out_proj.weight"] = torch.randn(d, d) / math.sqrt(d)
        state[p + "norm_2.weight"] = 1 + 0.1 * torch.randn(d)
        state[p + "ffn.up_proj.weight"] = torch.randn(f, d) / math.sqrt(d)
        state[p + "ffn.down_proj.weight"] = torch.randn(d, f) / math.sqrt(f)
    torch.save(state, f"{model_dir}/pytorch_model.bin")


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    if sys.argv[1] == "forward":
        forward(*sys.argv[2:5])
    elif sys.argv[1] == "make-bin":
        make_bin(*sys.argv[2:4])
    else:
        sys.exit(__doc__)
