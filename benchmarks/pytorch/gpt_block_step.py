#!/usr/bin/env python3
"""PyTorch peer of jrocm's GptBlockBenchmark: one training step of a GPT-2 block.

Block: pre-LayerNorm causal self-attention (separate q, k, v Linear layers,
additive -inf mask, softmax, c_proj) and a GELU MLP (C -> 4C -> C), residuals,
as jrocm's nn.GptBlock.  Step: zero_grad, MSE against a fixed target,
backward, clip_grad_norm_(1.0), AdamW(lr=3e-4, weight_decay=0.1).
B=8, T=128, C=256, 4 heads by default.  Each step is timed with
time.perf_counter() after --warmup steps; prints and optionally writes JSON
(median and mean ms/step, torch version, threads).

    python benchmarks/pytorch/gpt_block_step.py --steps 30 --json out.json
"""

import argparse
import json
import math
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Attention(nn.Module):
    def __init__(self, c, heads, t):
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v, self.c_proj = (nn.Linear(c, c) for _ in range(4))
        self.register_buffer("mask", torch.full((t, t), float("-inf")).triu(1), persistent=False)

    def forward(self, x):
        b, t, c = x.shape
        d = c // self.heads

        def heads(z):
            return z.view(b, t, self.heads, d).transpose(1, 2)

        q, k, v = heads(self.q(x)), heads(self.k(x)), heads(self.v(x))
        att = F.softmax((q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(d)) + self.mask[:t, :t], dim=-1)
        return self.c_proj((att @ v).transpose(1, 2).reshape(b, t, c))


class Block(nn.Module):
    def __init__(self, c, heads, t):
        super().__init__()
        self.ln_1, self.attn, self.ln_2 = nn.LayerNorm(c), Attention(c, heads, t), nn.LayerNorm(c)
        self.mlp = nn.Sequential(nn.Linear(c, 4 * c), nn.GELU(), nn.Linear(4 * c, c))

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--time", type=int, default=128)
    p.add_argument("--channels", type=int, default=256)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--json")
    a = p.parse_args()
    torch.manual_seed(0)
    block = Block(a.channels, a.heads, a.time)
    x = torch.randn(a.batch, a.time, a.channels)
    target = torch.randn(a.batch, a.time, a.channels)
    opt = torch.optim.AdamW(block.parameters(), lr=3e-4, weight_decay=0.1)
    times = []
    for i in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = F.mse_loss(block(x), target)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(block.parameters(), 1.0)
        opt.step()
        loss.item()
        if i >= a.warmup:
            times.append((time.perf_counter() - t0) * 1e3)
    out = {"torch_version": torch.__version__, "threads": torch.get_num_threads(), "batch": a.batch, "time": a.time,
           "channels": a.channels, "heads": a.heads, "steps": a.steps,
           "median_ms": statistics.median(times), "mean_ms": statistics.fmean(times)}
    print(json.dumps(out))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
