#!/usr/bin/env python3
"""PyTorch on a GPU, the same work as jrocm's GpuCheck timings (scripts/device/check.sh).

Model:  Linear(3072,4096) -> ReLU -> Linear(4096,2048) -> ReLU -> Linear(2048,10), float32
Runs:   full training (Adam lr=1e-3 over every parameter) and LoRA rank 1 on fc1..fc3 (base
        frozen, Adam over the A and B factors only, B initialised to zero), at batch 8 and 256.
Step:   zero_grad(); loss = crit(model(x), y); loss.backward(); opt.step(); loss.item()
        -- the loss is read back every step, as jrocm's loop does, so both sides synchronise
        once per step. Batches are gathered on the device from a dataset uploaded once.
TF32 is off (PyTorch's default for float32 matmul), as cuBLAS's default math in jrocm.

  python3 benchmarks/pytorch/gpu_step.py [--device cuda] [--json out.json] [--quick]
"""

import argparse
import json
import time

import torch
import torch.nn as nn

IN, H1, H2, OUT = 3072, 4096, 2048, 10


class LoraLinear(nn.Module):
    def __init__(self, base, rank=1, alpha=1.0):
        super().__init__()
        self.base = base
        for p in self.base.parameters():
            p.requires_grad_(False)
        self.A = nn.Parameter(torch.empty(rank, base.in_features, device=base.weight.device))
        nn.init.kaiming_uniform_(self.A, a=5 ** 0.5)
        self.B = nn.Parameter(torch.zeros(base.out_features, rank, device=base.weight.device))
        self.scale = alpha / rank

    def forward(self, x):
        return self.base(x) + (x @ self.A.t()) @ self.B.t() * self.scale


def build(device, lora):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(IN, H1), nn.ReLU(), nn.Linear(H1, H2), nn.ReLU(), nn.Linear(H2, OUT)).to(device)
    if lora:
        for i in (0, 2, 4):
            model[i] = LoraLinear(model[i])
    params = [p for p in model.parameters() if p.requires_grad]
    return model, torch.optim.Adam(params, lr=1e-3), len(params), sum(p.numel() for p in params)


def run(device, lora, batch, steps, warmup, xs, ys):
    model, opt, tensors, trainable = build(device, lora)
    crit = nn.CrossEntropyLoss()
    gen = torch.Generator(device=device).manual_seed(1)
    count = xs.shape[0]

    def step():
        idx = torch.randint(0, count, (batch,), device=device, generator=gen)
        opt.zero_grad(set_to_none=True)
        loss = crit(model(xs.index_select(0, idx)), ys.index_select(0, idx))
        loss.backward()
        opt.step()
        return loss.item()

    for _ in range(warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        last = step()
    seconds = time.perf_counter() - start
    return {"run": "LoRA r=1" if lora else "full", "batch": batch, "steps": steps, "seconds": seconds,
            "steps_per_s": steps / seconds, "samples_per_s": steps * batch / seconds,
            "ms_per_step": 1000 * seconds / steps, "trainable_parameters": trainable, "last_loss": last}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--json")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    device = torch.device(args.device)
    g = torch.Generator().manual_seed(42)
    xs = torch.randn(2048, IN, generator=g).to(device)
    ys = torch.randint(0, OUT, (2048,), generator=g).to(device)
    results = []
    print("| run | batch | steps/s | samples/s | ms/step |")
    print("|---|---|---|---|---|")
    for lora in (False, True):
        for batch in (8, 256):
            steps = 10 if args.quick else (300 if batch == 8 else 100)
            r = run(device, lora, batch, steps, 20 if not args.quick else 3, xs, ys)
            results.append(r)
            print(f"| {r['run']} | {batch} | {r['steps_per_s']:.1f} | {r['samples_per_s']:.0f} | {r['ms_per_step']:.3f} |",
                  flush=True)
    info = {"torch": torch.__version__, "device": str(device),
            "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
            "allow_tf32": torch.backends.cuda.matmul.allow_tf32, "results": results}
    print(f"torch {info['torch']} on {info['device_name']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(info, f, indent=2)


if __name__ == "__main__":
    main()
