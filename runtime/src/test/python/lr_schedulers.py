"""Generate the PyTorch reference for jrocm's learning-rate schedulers.

Writes (path relative to the repository root):

  runtime/src/test/resources/fixtures/lr_schedulers.json
      "torch_version", "base_lr" (0.1 rounded to float32, written as the exact
      double: jrocm's optimizers hold their lr as a float, so the Java test starts
      from the same base bit for bit), then one top-level key per case:
        "step_lr"        StepLR(step_size=30, gamma=0.5), 300 steps
        "cosine"         CosineAnnealingLR(T_max=100, eta_min=1e-5), 250 steps
                         (past T_max, where PyTorch continues the cosine)
        "cosine_long"    CosineAnnealingLR(T_max=100, eta_min=1e-5), 1000 steps
                         (ten periods: how far PyTorch's recursive form drifts
                         from the closed form)
        "linear"         LinearLR(start_factor=0.1, end_factor=1.0, total_iters=20), 300 steps
        "lambda"         LambdaLR(lr_lambda=noam, see NOAM below), 300 steps
        "warmup_cosine"  SequentialLR([LinearLR(0.1, 1.0, 10), CosineAnnealingLR(90, 0.0)],
                         milestones=[10]), 300 steps (jrocm's LinearWarmup(opt, 10, cosine))
        "sequential3"    SequentialLR([LinearLR(0.25, 1.0, 20), StepLR(25, 0.5),
                         CosineAnnealingLR(80, 1e-4)], milestones=[15, 110]), 300 steps
      Each case has its arguments, "steps" and "lr": steps + 1 values,
      scheduler.get_last_lr()[0] after construction and after each
      optimizer.step(); scheduler.step() pair (the lr the next optimizer step
      uses).  The cosine cases also have "closed_form": PyTorch's
      _get_closed_form_lr() at each of those epochs.

Every lr is a Python float (a double), written with repr, so it parses back exactly.

Run from the repository root with PyTorch 2.x (SequentialLR's restart of a later
scheduler at its milestone, scheduler._update_lr(0), is the 2.x code path; Debian's
python3-torch is 1.13, so use a pip-installed torch):

    python3 runtime/src/test/python/lr_schedulers.py

The script is deterministic (no randomness).  The committed fixture was produced
with torch 2.13.0+cpu.
"""

import math
import os
import warnings

import torch
from torch.optim import lr_scheduler as S

from make_fixtures import write_json  # this folder's: the same JSON layout

OUT = os.path.join("runtime", "src", "test", "resources", "fixtures", "lr_schedulers.json")

BASE_LR = float(torch.tensor(0.1, dtype=torch.float32))  # 0.10000000149011612


def noam(t):
    """Warm up linearly over 10 steps, then decay as 1/sqrt(t); SchedulerTest writes the same lambda in Java."""
    return min((t + 1) / 10, math.sqrt(10 / (t + 1)))


NOAM = "min((t + 1) / 10, sqrt(10 / (t + 1)))"


def run(make, steps, closed_form=False):
    """The lr after construction and after each of `steps` optimizer.step(); scheduler.step() pairs."""
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=BASE_LR)
    sched = make(opt)
    lrs = [sched.get_last_lr()[0]]
    closed = [sched._get_closed_form_lr()[0]] if closed_form else None
    for _ in range(steps):
        p.grad = torch.ones(1)
        opt.step()
        sched.step()
        lrs.append(sched.get_last_lr()[0])
        if closed_form:
            closed.append(sched._get_closed_form_lr()[0])
    out = {"steps": steps, "lr": lrs}
    if closed_form:
        out["closed_form"] = closed
    return out


def warmup_cosine(opt):
    # The order jrocm's `new LinearWarmup(opt, 10, new CosineAnnealingLR(opt, 90, 0.0))` constructs them in.
    cosine = S.CosineAnnealingLR(opt, T_max=90, eta_min=0.0)
    warm = S.LinearLR(opt, start_factor=1 / 10, end_factor=1.0, total_iters=10)
    return S.SequentialLR(opt, [warm, cosine], milestones=[10])


def sequential3(opt):
    return S.SequentialLR(opt, [S.LinearLR(opt, start_factor=0.25, end_factor=1.0, total_iters=20),
                                S.StepLR(opt, step_size=25, gamma=0.5),
                                S.CosineAnnealingLR(opt, T_max=80, eta_min=1e-4)], milestones=[15, 110])


def main():
    if int(torch.__version__.split(".")[0]) < 2:
        raise SystemExit("lr_schedulers.py needs PyTorch 2.x (SequentialLR's 2.x restart), found " + torch.__version__)
    warnings.simplefilter("ignore")  # the scheduler-before-optimizer-step heuristics do not apply here
    fixture = {"torch_version": torch.__version__, "base_lr": BASE_LR}
    fixture["step_lr"] = {"step_size": 30, "gamma": 0.5,
                          **run(lambda o: S.StepLR(o, step_size=30, gamma=0.5), 300)}
    fixture["cosine"] = {"T_max": 100, "eta_min": 1e-5,
                         **run(lambda o: S.CosineAnnealingLR(o, T_max=100, eta_min=1e-5), 250, closed_form=True)}
    fixture["cosine_long"] = {"T_max": 100, "eta_min": 1e-5,
                              **run(lambda o: S.CosineAnnealingLR(o, T_max=100, eta_min=1e-5), 1000, closed_form=True)}
    fixture["linear"] = {"start_factor": 0.1, "end_factor": 1.0, "total_iters": 20,
                         **run(lambda o: S.LinearLR(o, start_factor=0.1, end_factor=1.0, total_iters=20), 300)}
    fixture["lambda"] = {"lr_lambda": NOAM, **run(lambda o: S.LambdaLR(o, noam), 300)}
    fixture["warmup_cosine"] = {"warmup_steps": 10, "T_max": 90, "eta_min": 0.0, **run(warmup_cosine, 300)}
    fixture["sequential3"] = {"schedulers": ["LinearLR(0.25, 1.0, 20)", "StepLR(25, 0.5)", "CosineAnnealingLR(80, 1e-4)"],
                              "milestones": [15, 110], **run(sequential3, 300)}
    write_json(OUT, fixture)
    print("wrote", OUT, "with torch", torch.__version__)


if __name__ == "__main__":
    main()
