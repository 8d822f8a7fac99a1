#!/usr/bin/env python3
"""PyTorch CPU reference benchmark of one LoRA fine-tuning training step.

Model:  Linear(3072,4096) -> ReLU -> Linear(4096,2048) -> ReLU -> Linear(2048,10)
        with LoRA (rank r = --rank, default 1; alpha = 1; scale = alpha / r) on
        fc1, fc2 and fc3.  Base weights and biases are frozen
        (requires_grad = False).
Loss:   CrossEntropyLoss
Optim:  torch.optim.Adam(lr=1e-3) over the LoRA parameters only
Step:   zero_grad(); loss = crit(model(x), y); loss.backward(); opt.step()

Two forms of the same LoRA (--form, default: both, reported separately):

  parametrize  the "LoRA from scratch" blog's way:
               torch.nn.utils.parametrize.register_parametrization(layer, "weight",
               ParametrizationWithLoRA(...)), whose forward returns
               W + (B @ A).view(W.shape) * scale, i.e. the full effective weight
               W + scale*B@A is formed (and differentiated) on every forward.
  activation   y = base(x) + scale * (x @ A.T) @ B.T, a small nn.Module wrapping
               the frozen nn.Linear (as PEFT / loralib do); B@A is never formed.

In both, A (r, in_features) ~ N(0,1) and B (out_features, r) = 0.

x ~ randn[batch, 3072] and y ~ randint(0, 10, [batch]) are created once,
before timing.  Each step is timed individually with time.perf_counter().

Run with Debian's interpreter (/usr/bin/python3, package python3-torch);
see README.md in this directory for the two recommended configurations.
"""

import argparse
import json
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.utils.parametrize as parametrize

# Same model sizes and environment reporting as the full training step.
from train_step import IN, H1, H2, OUT, cpu_count, environment, set_flush_denormal, time_steps

FORMS = ("parametrize", "activation")
ALPHA = 1


# --- form 1: the blog's parametrization, reproduced faithfully -------------

class ParametrizationWithLoRA(nn.Module):
    """The blog's LoRA parametrization.

    Note the blog's naming: it is called with
    ``features_in, features_out = layer.weight.shape``, i.e. features_in is the
    layer's *out* size and features_out its *in* size, so A is (rank, in) and
    B is (out, rank) and B @ A already has W's shape.
    """

    def __init__(self, features_in, features_out, rank=1, alpha=1, device="cpu"):
        super().__init__()
        # Section 4.1 of the paper: random Gaussian initialization for A and
        # zero for B, so dW = BA is zero at the beginning of training.
        self.lora_A = nn.Parameter(torch.zeros((rank, features_out)).to(device))
        self.lora_B = nn.Parameter(torch.zeros((features_in, rank)).to(device))
        nn.init.normal_(self.lora_A, mean=0, std=1)
        # We then scale dW x by alpha / r.
        self.scale = alpha / rank
        self.enabled = True

    def forward(self, original_weights):
        if self.enabled:
            # Return W + (B*A)*scale
            return original_weights + torch.matmul(
                self.lora_B, self.lora_A).view(original_weights.shape) * self.scale
        return original_weights


def linear_layer_parameterization(layer, device, rank=1, lora_alpha=1):
    # Only add the parametrization to the weight matrix, ignore the bias.
    features_in, features_out = layer.weight.shape
    return ParametrizationWithLoRA(
        features_in, features_out, rank=rank, alpha=lora_alpha, device=device)


# --- form 2: LoRA on the activations (PEFT / loralib style) ----------------

class LoRALinear(nn.Module):
    """Frozen nn.Linear plus a rank-r update applied to the activations:
    y = base(x) + scale * (x @ A.T) @ B.T;  B @ A is never formed."""

    def __init__(self, base, rank=1, alpha=1):
        super().__init__()
        self.base = base
        out_f, in_f = base.weight.shape
        self.lora_A = nn.Parameter(torch.zeros(rank, in_f))
        self.lora_B = nn.Parameter(torch.zeros(out_f, rank))
        nn.init.normal_(self.lora_A, mean=0, std=1)
        self.scale = alpha / rank

    def forward(self, x):
        return self.base(x) + (x @ self.lora_A.t()) @ self.lora_B.t() * self.scale


# --- model ----------------------------------------------------------------

def base_model():
    return nn.Sequential(
        nn.Linear(IN, H1), nn.ReLU(),
        nn.Linear(H1, H2), nn.ReLU(),
        nn.Linear(H2, OUT),
    )


def build(form, rank, seed=0):
    torch.manual_seed(seed)
    model = base_model()
    linear_idx = (0, 2, 4)  # fc1, fc2, fc3
    if form == "parametrize":
        for i in linear_idx:
            parametrize.register_parametrization(
                model[i], "weight",
                linear_layer_parameterization(model[i], "cpu", rank=rank,
                                              lora_alpha=ALPHA))
    elif form == "activation":
        for i in linear_idx:
            model[i] = LoRALinear(model[i], rank=rank, alpha=ALPHA)
    else:
        raise ValueError(form)
    # Freeze everything that is not a LoRA parameter (as the blog does).
    lora_params = []
    for name, param in model.named_parameters():
        if "lora" in name:
            lora_params.append(param)
        else:
            param.requires_grad = False
    crit = nn.CrossEntropyLoss()
    opt = torch.optim.Adam(lora_params, lr=1e-3)
    n_trainable = sum(p.numel() for p in lora_params)
    n_frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    return model, crit, opt, n_trainable, n_frozen


def bench_batch(form, rank, batch, warmup, steps, target_s, min_steps, max_steps):
    model, crit, opt, n_trainable, n_frozen = build(form, rank)
    timing = time_steps(model, crit, opt, batch, warmup, steps, target_s, min_steps, max_steps)
    return {"form": form, "rank": rank, "alpha": ALPHA, "trainable_params": n_trainable,
            "frozen_params": n_frozen, **timing}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, nargs="+", default=[8, 64, 256],
                   help="batch sizes (default: 8 64 256)")
    p.add_argument("--form", choices=FORMS, default=None,
                   help="LoRA form to run (default: both, parametrize first)")
    p.add_argument("--rank", type=int, default=1, help="LoRA rank r (default 1)")
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

    forms = [a.form] if a.form else list(FORMS)

    threads = a.threads if a.threads is not None else cpu_count()
    torch.set_num_threads(threads)

    env = environment(torch.get_num_threads())
    print(f"torch {env['torch_version']}  threads={env['threads']}  "
          f"cpu='{env['cpu_model']}' ({env['cpus_available']} cpus)")
    for k, v in env["env"].items():
        print(f"  {k}={'<unset>' if v is None else v}")
    print(f"MLP {IN}-{H1}-{H2}-{OUT}, LoRA r={a.rank} alpha={ALPHA} on fc1/fc2/fc3, "
          f"CrossEntropyLoss, Adam(lr=1e-3) on LoRA params, warmup={a.warmup}")
    print(f"{'form':>12} {'batch':>6} {'steps':>6} {'median ms':>10} {'mean ms':>10} "
          f"{'min ms':>9} {'samples/s':>10}")
    sys.stdout.flush()

    results = []
    for form in forms:
        for b in a.batch:
            r = bench_batch(form, a.rank, b, a.warmup, a.steps, a.target_seconds,
                            10, a.max_steps)
            results.append(r)
            print(f"{form:>12} {b:>6} {r['steps']:>6} {r['ms_per_step_median']:>10.2f} "
                  f"{r['ms_per_step_mean']:>10.2f} {r['ms_per_step_min']:>9.2f} "
                  f"{r['samples_per_s_median']:>10.1f}")
            sys.stdout.flush()

    if a.json:
        out = {
            "benchmark": "pytorch_mlp_lora_step",
            "model": (f"{IN}-{H1}-{H2}-{OUT} ReLU MLP, LoRA r={a.rank} alpha={ALPHA} "
                      f"on fc1/fc2/fc3 (base frozen), CrossEntropyLoss, "
                      f"Adam(lr=1e-3) on LoRA params"),
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
