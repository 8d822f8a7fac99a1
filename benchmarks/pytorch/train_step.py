#!/usr/bin/env python3
"""PyTorch CPU reference benchmark of one full MLP training step.

Model:  Linear(3072,4096) -> ReLU -> Linear(4096,2048) -> ReLU -> Linear(2048,10)
Loss:   CrossEntropyLoss
Optim:  torch.optim.Adam(lr=1e-3)
Step:   zero_grad(); loss = crit(model(x), y); loss.backward(); opt.step()

x ~ randn[batch, 3072] and y ~ randint(0, 10, [batch]) are created once,
before timing.  Each step is timed individually with time.perf_counter().

Run with Debian's interpreter (/usr/bin/python3, package python3-torch);
see README.md in this directory for the two recommended configurations.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time

import torch
import torch.nn as nn

IN, H1, H2, OUT = 3072, 4096, 2048, 10

ENV_VARS = (
    "LD_PRELOAD",
    "OMP_WAIT_POLICY",
    "OPENBLAS_CORETYPE",
    "OPENBLAS_L2_SIZE",
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
)


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cpu_count():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


FLUSH_DENORMAL = [False]  # what set_flush_denormal set, for environment()


def set_flush_denormal(on):
    """Turns flush-denormal on (or leaves PyTorch's default, off); a CPU without it stops the run."""
    if on and not torch.set_flush_denormal(True):
        raise SystemExit("this CPU cannot flush denormals (torch.set_flush_denormal returned False)")
    FLUSH_DENORMAL[0] = on


def environment(threads):
    return {
        "torch_version": torch.__version__,
        "flush_denormal": FLUSH_DENORMAL[0],
        "python": sys.version.split()[0],
        "python_executable": sys.executable,
        "threads": threads,
        "interop_threads": torch.get_num_interop_threads(),
        "cpu_model": cpu_model(),
        "cpus_available": cpu_count(),
        "env": {k: os.environ.get(k) for k in ENV_VARS},
    }


def build(seed=0):
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Linear(IN, H1), nn.ReLU(),
        nn.Linear(H1, H2), nn.ReLU(),
        nn.Linear(H2, OUT),
    )
    crit = nn.CrossEntropyLoss()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    return model, crit, opt


def bench_batch(batch, warmup, steps, target_s, min_steps, max_steps):
    model, crit, opt = build()
    return time_steps(model, crit, opt, batch, warmup, steps, target_s, min_steps, max_steps)


def time_steps(model, crit, opt, batch, warmup, steps, target_s, min_steps, max_steps):
    """Times individual training steps (zero_grad, forward, loss, backward, step) of model on a
    fixed random batch; steps=None calibrates a count for about target_s. Shared by lora_step.py."""
    model.train()
    x = torch.randn(batch, IN)
    y = torch.randint(0, OUT, (batch,))

    def step():
        opt.zero_grad()
        loss = crit(model(x), y)
        loss.backward()
        opt.step()
        return loss

    for _ in range(warmup):
        step()

    if steps is None:
        # Calibrate: time a couple of steps, then choose enough for ~target_s.
        t0 = time.perf_counter()
        n_cal = 2
        for _ in range(n_cal):
            step()
        per = (time.perf_counter() - t0) / n_cal
        steps = max(min_steps, int(target_s / max(per, 1e-9)))
        if max_steps is not None:
            steps = min(steps, max_steps)

    times = []
    loss = None
    for _ in range(steps):
        t0 = time.perf_counter()
        loss = step()
        times.append(time.perf_counter() - t0)

    ms = [t * 1e3 for t in times]
    median = statistics.median(ms)
    mean = statistics.fmean(ms)
    return {
        "batch": batch,
        "warmup": warmup,
        "steps": steps,
        "ms_per_step_median": median,
        "ms_per_step_mean": mean,
        "ms_per_step_min": min(ms),
        "ms_per_step_max": max(ms),
        "ms_per_step_stdev": statistics.stdev(ms) if len(ms) > 1 else 0.0,
        "samples_per_s_median": batch * 1e3 / median,
        "samples_per_s_mean": batch * 1e3 / mean,
        "total_s": sum(times),
        "final_loss": float(loss.item()),
    }


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, nargs="+", default=[8, 64, 256],
                   help="batch sizes (default: 8 64 256)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch.set_num_threads (default: number of cores)")
    p.add_argument("--warmup", type=int, default=5, help="warm-up steps (default 5)")
    p.add_argument("--steps", type=int, default=None,
                   help="timed steps per batch size (default: enough for "
                        "~--target-seconds, at least 10)")
    p.add_argument("--target-seconds", type=float, default=10.0,
                   help="time budget per batch size when --steps is not given (default 10)")
    p.add_argument("--max-steps", type=int, default=None,
                   help="upper bound on the auto-chosen number of steps")
    p.add_argument("--json", metavar="PATH", default=None, help="write results as JSON")
    p.add_argument("--flush-denormal", action="store_true",
                   help="torch.set_flush_denormal(True): subnormal floats become 0 (default off, as PyTorch)")
    a = p.parse_args(argv)
    set_flush_denormal(a.flush_denormal)

    threads = a.threads if a.threads is not None else cpu_count()
    torch.set_num_threads(threads)

    env = environment(torch.get_num_threads())
    print(f"torch {env['torch_version']}  threads={env['threads']}  "
          f"cpu='{env['cpu_model']}' ({env['cpus_available']} cpus)")
    for k, v in env["env"].items():
        print(f"  {k}={'<unset>' if v is None else v}")
    print(f"MLP {IN}-{H1}-{H2}-{OUT}, CrossEntropyLoss, Adam(lr=1e-3), warmup={a.warmup}")
    print(f"{'batch':>6} {'steps':>6} {'median ms':>10} {'mean ms':>10} "
          f"{'min ms':>9} {'samples/s':>10}")
    sys.stdout.flush()

    results = []
    for b in a.batch:
        r = bench_batch(b, a.warmup, a.steps, a.target_seconds, 10, a.max_steps)
        results.append(r)
        print(f"{b:>6} {r['steps']:>6} {r['ms_per_step_median']:>10.2f} "
              f"{r['ms_per_step_mean']:>10.2f} {r['ms_per_step_min']:>9.2f} "
              f"{r['samples_per_s_median']:>10.1f}")
        sys.stdout.flush()

    if a.json:
        out = {
            "benchmark": "pytorch_mlp_train_step",
            "model": f"{IN}-{H1}-{H2}-{OUT} ReLU MLP, CrossEntropyLoss, Adam(lr=1e-3)",
            "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "environment": env,
            "results": results,
        }
        d = os.path.dirname(os.path.abspath(a.json))
        os.makedirs(d, exist_ok=True)
        with open(a.json, "w") as f:
            json.dump(out, f, indent=2)
        print(f"wrote {a.json}")


if __name__ == "__main__":
    main()
