#!/usr/bin/env python3
"""The same MPT-MoE as worker/model, written efficiently in Python PyTorch (vectorised
attention, experts as one matmul pair each over their tokens): the baseline for
model_step_bench.cc. Same flags, same JSON output. Run with the project venv's PyTorch, which is
the same LibTorch version the C++ side links."""
import argparse
import json
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def alibi_bias(n_heads, t, bias_max=8.0):
    n = 2 ** math.ceil(math.log2(n_heads))
    slopes = torch.pow(2.0, -torch.arange(1, n + 1) * bias_max / n)
    if n != n_heads:
        slopes = torch.cat([slopes[1::2], slopes[0::2]])[:n_heads]
    pos = torch.arange(t, dtype=torch.float32)
    dist = pos[:, None] - pos[None, :]
    mask = torch.full((t, t), float("-inf")).triu(1)
    return (-slopes[:, None, None] * dist)[None] + mask


class LayerNorm(nn.Module):
    """LayerNorm with a weight and no bias (torch 1.13's nn.LayerNorm always has a bias)."""

    def __init__(self, d):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        return F.layer_norm(x, (x.shape[-1],), self.weight, None, 1e-5)


class Block(nn.Module):
    def __init__(self, d, h, experts, top_k):
        super().__init__()
        self.h, self.top_k, self.e = h, top_k, experts
        self.norm_1, self.norm_2 = LayerNorm(d), LayerNorm(d)
        self.Wqkv = nn.Linear(d, 3 * d, bias=False)
        self.out_proj = nn.Linear(d, d, bias=False)
        if experts:
            self.router = nn.Linear(d, experts, bias=False)
            self.up = nn.Parameter(torch.randn(experts, 4 * d, d) * math.sqrt(2 / d))
            self.down = nn.Parameter(torch.randn(experts, d, 4 * d) * math.sqrt(2 / (4 * d)))
        else:
            self.up_proj = nn.Linear(d, 4 * d, bias=False)
            self.down_proj = nn.Linear(4 * d, d, bias=False)

    def attn(self, x, bias):
        b, t, d = x.shape
        q, k, v = self.Wqkv(x).chunk(3, -1)
        q, k, v = (y.view(b, t, self.h, d // self.h).transpose(1, 2) for y in (q, k, v))
        s = q @ k.transpose(-2, -1) / math.sqrt(d // self.h) + bias
        return self.out_proj((s.softmax(-1) @ v).transpose(1, 2).reshape(b, t, d))

    def moe(self, x):
        logits = x.float() @ self.router.weight.float().t()
        probs = logits.softmax(-1)
        w, idx = probs.topk(self.top_k, -1)
        n = x.shape[0]
        expert = idx.t().reshape(-1)
        weight = w.t().reshape(-1)
        token = torch.arange(n).repeat(self.top_k)
        order = torch.sort(expert, stable=True).indices
        counts = torch.bincount(expert, minlength=self.e).tolist()
        xs = x[token[order]]
        outs, start = [], 0
        for e, c in enumerate(counts):
            outs.append(F.gelu(xs[start:start + c] @ self.up[e].t()) @ self.down[e].t())
            start += c
        out = torch.cat(outs) * weight[order].unsqueeze(1)
        y = torch.zeros_like(x).index_add(0, token[order], out)
        f = F.one_hot(idx[:, 0], self.e).float().mean(0)
        aux = 0.01 * self.e * (f * probs.mean(0)).sum() + 0.001 * logits.logsumexp(-1).pow(2).mean()
        return y, aux

    def forward(self, x, bias):
        x = x + self.attn(self.norm_1(x), bias)
        h = self.norm_2(x).reshape(-1, x.shape[-1])
        if self.e:
            y, aux = self.moe(h)
        else:
            y, aux = self.down_proj(F.gelu(self.up_proj(h))), torch.zeros(())
        return x + y.view_as(x), aux


class Model(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.wte = nn.Embedding(a.vocab, a.d_model)
        self.blocks = nn.ModuleList([Block(a.d_model, a.heads, a.experts, a.top_k) for _ in range(a.layers)])
        self.norm_f = LayerNorm(a.d_model)
        self.h = a.heads

    def forward(self, ids):
        bias = alibi_bias(self.h, ids.shape[1])
        x, aux = self.wte(ids), torch.zeros(())
        for block in self.blocks:
            x, a = block(x, bias)
            aux = aux + a
        return F.linear(self.norm_f(x), self.wte.weight), aux


def main():
    p = argparse.ArgumentParser()
    for name, default in [("d-model", 256), ("heads", 8), ("layers", 4), ("experts", 4), ("top-k", 1),
                          ("vocab", 2048), ("batch", 4), ("seq", 256), ("steps", 10), ("warmup", 2),
                          ("threads", 1)]:
        p.add_argument("--" + name, type=int, default=default)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = Model(a)
    ids = torch.randint(a.vocab, (a.batch, a.seq))
    labels = torch.randint(a.vocab, (a.batch * a.seq,))
    loss_value = 0.0

    def step():
        nonlocal loss_value
        logits, aux = model(ids)
        loss = F.cross_entropy(logits.reshape(-1, a.vocab), labels) + aux
        loss.backward()
        model.zero_grad()
        loss_value = loss.item()

    for _ in range(a.warmup):
        step()
    start = time.perf_counter()
    for _ in range(a.steps):
        step()
    seconds = time.perf_counter() - start
    print(json.dumps({"ms_per_step": 1e3 * seconds / a.steps, "tokens_per_s": a.batch * a.seq * a.steps / seconds,
                      "loss": loss_value}))


if __name__ == "__main__":
    main()
