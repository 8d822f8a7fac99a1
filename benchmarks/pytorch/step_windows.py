#!/usr/bin/env python3
"""PyTorch's side of jrocm's StepWindows: the blog MLP trained on the CPU for many steps, timed in
windows of steps, so a step that slows down as training goes on shows.

Model:  Linear(3072,4096) -> ReLU -> Linear(4096,2048) -> ReLU -> Linear(2048,10), float32, Adam lr=1e-3
Data:   16 random CIFAR-shaped batches (standard normal x, labels 0..9), cycled, as StepWindows
Step:   zero_grad(); loss = crit(model(x), y); loss.backward(); opt.step(); loss.item()
Prints: per window, ms/step, samples/s and the share of Adam's exp_avg / exp_avg_sq that is subnormal.

  python3 benchmarks/pytorch/step_windows.py [--batch 8] [--steps 1500] [--window 250] [--flush-denormal]
"""

import argparse
import time

import torch
import torch.nn as nn

TINY = torch.finfo(torch.float32).tiny  # smallest normal float, 2^-126


def subnormal_shares(opt):
    sub_m = sub_v = total = 0
    for state in opt.state.values():
        m, v = state["exp_avg"], state["exp_avg_sq"]
        total += m.numel()
        sub_m += int(((m != 0) & (m.abs() < TINY)).sum())
        sub_v += int(((v != 0) & (v.abs() < TINY)).sum())
    return sub_m / max(1, total), sub_v / max(1, total)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--window", type=int, default=250)
    ap.add_argument("--flush-denormal", action="store_true", help="torch.set_flush_denormal(True)")
    args = ap.parse_args()
    if args.flush_denormal and not torch.set_flush_denormal(True):
        raise SystemExit("this CPU cannot flush denormals")
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3072, 4096), nn.ReLU(), nn.Linear(4096, 2048), nn.ReLU(), nn.Linear(2048, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    crit = nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(100)
    batches = [(torch.randn(args.batch, 3072, generator=gen), torch.randint(0, 10, (args.batch,), generator=gen))
               for _ in range(16)]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch}, "
          f"flush-denormal {'on' if args.flush_denormal else 'off'}")
    print("steps       ms/step  samples/s  subnormal m  subnormal v")
    start = time.perf_counter()
    for step in range(args.steps):
        x, y = batches[step % len(batches)]
        opt.zero_grad(set_to_none=True)
        loss = crit(model(x), y)
        loss.backward()
        opt.step()
        loss.item()
        if (step + 1) % args.window == 0:
            ms = (time.perf_counter() - start) * 1000 / args.window
            sm, sv = subnormal_shares(opt)
            print(f"{step + 1 - args.window:5d}–{step + 1:<5d} {ms:7.2f}  {args.batch * 1000 / ms:9.1f}  "
                  f"{100 * sm:10.2f}%  {100 * sv:10.2f}%", flush=True)
            start = time.perf_counter()


if __name__ == "__main__":
    main()
