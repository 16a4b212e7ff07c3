#!/usr/bin/env python3
"""Loads a moetrain model directory (dense or MoE) into PyTorch: the way back from our
checkpoints into the Python world. The format is docs/moe_export.md.

The model is transformers' MptForCausalLM (embedding, attention, norms, tied head, generate())
with every block's FFN replaced by one of ours, so that it computes what `moe-worker forward`
computes (within fp32 rounding):
  - dense FFNs sized by expansion_ratio (transformers hard-codes 4);
  - MoE FFNs routed as worker/model/moe_ffn.cc routes at inference: fp32 softmax router, top-k,
    optional renormalisation, and, when capacity_factor > 0, the same per-expert capacity over
    the call's real tokens, served slot-major (every first choice before any second choice,
    earlier tokens first); label-steered routing applies only while training, so never here;
  - ALiBi with the config's alibi_bias_max (transformers always uses 8).
Its state_dict keys are the export's tensor names (plus the tied lm_head.weight).

  moe_to_pytorch.py MODEL_DIR --check 5,17,42 [--out logits.safetensors]
      Runs the model on the ids and prints one JSON line per position: {"position", "id",
      "argmax", "logits": [V floats]}; --out also writes the fp32 logits [T, V] under "logits",
      as `moe-worker forward --out` does, to compare the two files.

As a library (needs torch, transformers and safetensors):
  sys.path.insert(0, "scripts"); import moe_to_pytorch
  model = moe_to_pytorch.load("runs/job/model")          # eval mode, the stored dtype
  logits = model(torch.tensor([[5, 17, 42]])).logits     # [1, 3, V]
"""
import argparse
import json
import math
import os
import sys

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import MptConfig, MptForCausalLM
from transformers.models.mpt.modeling_mpt import build_mpt_alibi_tensor

# Defaults of MoeSpec fields that protobuf's JSON leaves out when unset or zero
# (common/spec_defaults.cc and proto/moe/v1/job.proto).
MOE_DEFAULTS = {"top_k": 1, "capacity_factor": 0.0, "min_capacity": 4, "normalize_top_k": False}


class UnsupportedConfig(ValueError):
    """config.json asks for something moe-worker does not implement; the message names the key."""


def read_config(model_dir):
    """config.json of `model_dir`, refusing what common/model_config.cc refuses."""
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    attn = cfg.get("attn_config") or {}
    refusals = [
        ("model_type", cfg.get("model_type", "mpt") != "mpt"),
        ("no_bias", not cfg.get("no_bias", True)),
        ("logit_scale", cfg.get("logit_scale") is not None),
        ("attn_config.alibi", not attn.get("alibi", True)),
        ("attn_config.qk_ln", attn.get("qk_ln", False)),
        ("attn_config.clip_qkv", attn.get("clip_qkv") is not None),
        ("attn_config.softmax_scale", attn.get("softmax_scale") is not None),
    ]
    for key, refused in refusals:
        if refused:
            raise UnsupportedConfig(f"{model_dir}/config.json: {key} is not supported")
    return cfg


def layer_norm_eps(cfg):
    # transformers (and our exports) write "layer_norm_epsilon"; older exports "layer_norm_eps".
    return cfg.get("layer_norm_epsilon", cfg.get("layer_norm_eps", 1e-5))


def is_moe_layer(layer, moe):
    """common/model_config.cc IsMoeLayer: all layers, every n-th counting from 1, or a list."""
    if not moe.get("experts"):
        return False
    if "layer_list" in moe:
        return layer in moe["layer_list"].get("layers", [])
    n = moe.get("every_n_layers")
    return (layer + 1) % n == 0 if n else True


class Ffn(nn.Module):
    """An MPT FFN: down(gelu(up(x))), exact-erf GELU, no biases. Called as transformers' MptMLP
    is: forward(hidden, residual) returns residual + FFN(hidden)."""

    def __init__(self, d_model, hidden):
        super().__init__()
        self.up_proj = nn.Linear(d_model, hidden, bias=False)
        self.down_proj = nn.Linear(hidden, d_model, bias=False)

    def mlp(self, x):
        return self.down_proj(nn.functional.gelu(self.up_proj(x)))

    def forward(self, hidden, residual):
        return residual + self.mlp(hidden)


class MoeFfn(nn.Module):
    """moetrain's MoE FFN at inference. Parameters: router.weight [E, D] (applied in fp32),
    experts.{e}.up_proj.weight [F, D], experts.{e}.down_proj.weight [D, F].

    `valid` ([N] bool, or None for all) marks the real tokens of the next call: padding neither
    routes nor counts toward capacity. load() sets it from the attention mask."""

    def __init__(self, d_model, hidden, moe):
        super().__init__()
        settings = {**MOE_DEFAULTS, **moe}
        self.num_experts = len(moe["experts"])
        self.top_k = int(settings["top_k"])
        self.capacity_factor = float(settings["capacity_factor"])
        self.min_capacity = int(settings["min_capacity"])
        self.normalize_top_k = bool(settings["normalize_top_k"])
        self.router = nn.Linear(d_model, self.num_experts, bias=False)
        self.experts = nn.ModuleList(Ffn(d_model, hidden) for _ in range(self.num_experts))
        self.valid = None

    def route(self, x_ND, valid_N):
        """Returns the kept assignments in slot-major order (a = slot * N + token):
        token [A'], expert [A'], weight [A'] fp32."""
        n, k, e = x_ND.shape[0], self.top_k, self.num_experts
        probs_NE = torch.softmax(x_ND.float() @ self.router.weight.float().t(), dim=1)
        weight_NK, expert_NK = torch.topk(probs_NE, k, dim=1)
        if self.normalize_top_k:
            weight_NK = weight_NK / weight_NK.sum(1, keepdim=True)
        expert_A = expert_NK.t().reshape(-1)
        weight_A = weight_NK.t().reshape(-1)
        token_A = torch.arange(n, device=x_ND.device).repeat(k)
        keep_A = valid_N.repeat(k)
        if self.capacity_factor > 0:
            # max(ceil(valid / E * factor * k), min_capacity), in float64 as the C++ computes it.
            valid = int(valid_N.sum())
            capacity = max(math.ceil(valid / e * self.capacity_factor * k), self.min_capacity)
            onehot_AE = nn.functional.one_hot(expert_A, e) * keep_A.unsqueeze(1)
            position_A = (onehot_AE.cumsum(0) * onehot_AE).sum(1) - 1
            keep_A = keep_A & (position_A < capacity)
        return token_A[keep_A], expert_A[keep_A], weight_A[keep_A]

    def forward(self, hidden, residual):
        x_ND = hidden.reshape(-1, hidden.shape[-1])
        valid_N = self.valid
        if valid_N is None or valid_N.numel() != x_ND.shape[0]:
            valid_N = torch.ones(x_ND.shape[0], dtype=torch.bool, device=x_ND.device)
        token_A, expert_A, weight_A = self.route(x_ND, valid_N.to(x_ND.device))
        y_ND = torch.zeros_like(x_ND)
        for e, expert in enumerate(self.experts):
            chosen = expert_A == e
            tokens = token_A[chosen]
            out = expert.mlp(x_ND.index_select(0, tokens))
            y_ND.index_add_(0, tokens, out * weight_A[chosen].to(x_ND.dtype).unsqueeze(1))
        return residual + y_ND.view_as(hidden)


def _remember_valid_tokens(moe_layers):
    """A forward pre-hook for the MptModel: hands each MoE layer the mask of real tokens."""

    def hook(module, args, kwargs):
        ids = args[0] if args else kwargs.get("input_ids")
        if ids is None:
            ids = kwargs.get("inputs_embeds")
        mask = kwargs.get("attention_mask")
        valid = None
        if mask is not None and ids is not None:
            valid = mask[:, -ids.shape[1]:].reshape(-1).bool()  # this call's tokens (KV cache)
        for layer in moe_layers:
            layer.valid = valid

    return hook


def load(model_dir, dtype=None):
    """The model in `model_dir` (config.json + model.safetensors as moe-worker writes them) as
    an MptForCausalLM in eval mode, in the stored dtype or `dtype`. Raises UnsupportedConfig
    for MPT features moe-worker does not implement, ValueError for tensors that do not match."""
    cfg = read_config(model_dir)
    moe = cfg.get("moe") or {}
    d_model = int(cfg["d_model"])
    hidden = int(cfg.get("expansion_ratio", 4)) * d_model
    alibi_bias_max = (cfg.get("attn_config") or {}).get("alibi_bias_max", 8)
    config = MptConfig(d_model=d_model, n_heads=cfg["n_heads"], n_layers=cfg["n_layers"],
                       expansion_ratio=cfg.get("expansion_ratio", 4),
                       max_seq_len=cfg.get("max_seq_len", 2048), vocab_size=cfg["vocab_size"],
                       layer_norm_epsilon=layer_norm_eps(cfg), no_bias=True,
                       attn_config={"alibi_bias_max": alibi_bias_max}, tie_word_embeddings=True)
    config.moe = moe or None
    with torch.device("meta"):  # no memory until the stored tensors are assigned
        model = MptForCausalLM(config)
        for i, block in enumerate(model.transformer.blocks):
            moe_layer = is_moe_layer(i, moe)
            block.ffn = MoeFfn(d_model, hidden, moe) if moe_layer else Ffn(d_model, hidden)
    weights = load_file(os.path.join(model_dir, "model.safetensors"))
    needed = {k: v for k, v in model.state_dict().items() if k != "lm_head.weight"}
    problems = [f"missing {k}" for k in sorted(set(needed) - set(weights))]
    problems += [f"unexpected {k}" for k in sorted(set(weights) - set(needed))]
    problems += [f"{k} is {list(weights[k].shape)}, the model needs {list(v.shape)}"
                 for k, v in needed.items() if k in weights and weights[k].shape != v.shape]
    if problems:
        raise ValueError(f"{model_dir}: weights do not match config.json: {'; '.join(problems)}")
    model.load_state_dict(weights, strict=False, assign=True)
    model.lm_head.weight = model.transformer.wte.weight  # tied, as in our model
    # transformers builds ALiBi with alibi_bias_max 8 whatever the config says.
    model.transformer.build_mpt_alibi_tensor = (
        lambda num_heads, sequence_length, alibi_bias_max_ignored=8, device=None:
        build_mpt_alibi_tensor(num_heads, sequence_length, alibi_bias_max, device))
    moe_layers = [b.ffn for b in model.transformer.blocks if isinstance(b.ffn, MoeFfn)]
    if moe_layers:
        model.transformer.register_forward_pre_hook(_remember_valid_tokens(moe_layers),
                                                    with_kwargs=True)
    if dtype is not None:
        model.to(dtype)
    return model.eval()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model_dir", help="config.json + model.safetensors, as moe-worker writes")
    parser.add_argument("--check", required=True, help="comma-separated token ids, e.g. 5,17,42")
    parser.add_argument("--out", help="also write the fp32 logits [T, V] here (safetensors)")
    args = parser.parse_args(argv)
    ids = [int(part) for part in args.check.split(",") if part.strip()]
    try:
        model = load(args.model_dir)
    except (OSError, ValueError) as e:
        print(f"moe_to_pytorch: {e}", file=sys.stderr)
        return 2
    vocab = model.config.vocab_size
    if not ids or min(ids) < 0 or max(ids) >= vocab:
        print(f"moe_to_pytorch: --check needs ids in [0, {vocab})", file=sys.stderr)
        return 2
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0].float()
    for position, (token, row) in enumerate(zip(ids, logits)):
        print(json.dumps({"position": position, "id": token, "argmax": int(row.argmax()),
                          "logits": row.tolist()}))
    if args.out:
        save_file({"logits": logits.contiguous()}, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
