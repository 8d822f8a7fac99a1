#!/usr/bin/env python3
"""PyTorch peer of jrocm's CnnStepBenchmark: one Adam step of issue #15's Fashion-MNIST CNN.

conv 1->32 3x3 pad 1, ReLU, max-pool 2, conv 32->64 3x3 pad 1, ReLU, max-pool 2,
Linear 3136->128, ReLU, Linear 128->10; cross-entropy, Adam(1e-3); a fixed random
batch (64, 1, 28, 28).  Each step is timed with time.perf_counter() after
--warmup steps; prints and optionally writes JSON (median and mean ms/step).

    python benchmarks/pytorch/cnn_step.py --steps 30 --json out.json
"""

import argparse
import json
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--json")
    a = p.parse_args()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))
    x = torch.randn(a.batch, 1, 28, 28)
    y = torch.randint(0, 10, (a.batch,))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    times = []
    for i in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        loss.item()
        if i >= a.warmup:
            times.append((time.perf_counter() - t0) * 1e3)
    out = {"torch_version": torch.__version__, "threads": torch.get_num_threads(), "batch": a.batch,
           "steps": a.steps, "median_ms": statistics.median(times), "mean_ms": statistics.fmean(times)}
    print(json.dumps(out))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
