"""Generate PyTorch reference fixtures for the jrocm Java tests.

Writes two JSON files (paths relative to the repository root):

  runtime/src/test/resources/fixtures/adam.json
      Ten steps of torch.optim.Adam / AdamW on one float32 parameter of shape
      [3, 5] with given gradients, for three configurations:
        "adam"    -- torch.optim.Adam(lr=0.01, betas=(0.9, 0.999), eps=1e-8)
        "adam_l2" -- same with weight_decay=0.1 (L2 term added to the gradient)
        "adamw"   -- torch.optim.AdamW(..., weight_decay=0.1) (decoupled decay)
      Each case records the hyper-parameters, "initial" (15 floats, row-major),
      "grads" (10 x 15 floats) and "after_each_step" (10 x 15 floats: the
      parameter after steps 1..10).  All cases share the same initial value
      and gradients.

  runtime/src/test/resources/fixtures/mlp_train.json
      An MLP Linear(20,32) -> ReLU -> Linear(32,16) -> ReLU -> Linear(16,10)
      (PyTorch layout: weight is [out, in]) trained for 30 steps with
      CrossEntropyLoss (mean reduction) and torch.optim.Adam(lr=0.01, default
      betas/eps) on 30 batches of 8 samples (x ~ randn [8,20],
      y = argmax(x @ teacher) for a fixed random 20x10 teacher, so the loss falls).  Records "layers" (initial parameters as
      {"name": {"shape": [...], "data": [flat row-major floats]}}), "batches"
      ([{"x": 160 floats, "y": 8 ints}]), "losses" (loss.item() of each step,
      computed before that step's update), "final" (parameters after 30
      steps, same format as "layers"), "lr" and "torch_version".

Every float is a float32 value written as Python's repr of float(x), i.e. the
exact float32 value as a double, so parsing it as a double and casting to
float recovers the float32 bit-for-bit.

Run from the repository root with Debian's PyTorch (apt-get install
python3-torch), using the system Python:

    /usr/bin/python3 runtime/src/test/python/make_fixtures.py

The script is deterministic (fixed seeds, float32, one thread).  The committed
fixture files were produced with torch 1.13.0a0 (Debian bookworm python3-torch,
CPU).
"""

import json
import os

import torch

OUT_DIR = os.path.join("runtime", "src", "test", "resources", "fixtures")


def flat(t):
    """Row-major list of Python floats holding the exact float32 values."""
    return [float(x) for x in t.detach().to(torch.float32).reshape(-1).tolist()]


def write_json(path, obj):
    """Write obj as JSON with one line per top-level key."""
    lines = ["{"]
    items = list(obj.items())
    for i, (k, v) in enumerate(items):
        sep = "," if i < len(items) - 1 else ""
        lines.append("%s: %s%s" % (json.dumps(k), json.dumps(v, separators=(",", ":")), sep))
    lines.append("}")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def make_adam():
    shape = [3, 5]
    steps = 10
    gen = torch.Generator().manual_seed(1234)
    initial = torch.randn(shape, generator=gen, dtype=torch.float32)
    grads = [torch.randn(shape, generator=gen, dtype=torch.float32) for _ in range(steps)]

    configs = [
        {"name": "adam", "lr": 0.01, "betas": [0.9, 0.999], "eps": 1e-8,
         "weight_decay": 0.0, "decoupled": False},
        {"name": "adam_l2", "lr": 0.01, "betas": [0.9, 0.999], "eps": 1e-8,
         "weight_decay": 0.1, "decoupled": False},
        {"name": "adamw", "lr": 0.01, "betas": [0.9, 0.999], "eps": 1e-8,
         "weight_decay": 0.1, "decoupled": True},
    ]
    cases = []
    for cfg in configs:
        p = torch.nn.Parameter(initial.clone())
        cls = torch.optim.AdamW if cfg["decoupled"] else torch.optim.Adam
        opt = cls([p], lr=cfg["lr"], betas=tuple(cfg["betas"]), eps=cfg["eps"],
                  weight_decay=cfg["weight_decay"])
        after = []
        for g in grads:
            p.grad = g.clone()
            opt.step()
            after.append(flat(p))
        case = dict(cfg)
        case["initial"] = flat(initial)
        case["grads"] = [flat(g) for g in grads]
        case["after_each_step"] = after
        cases.append(case)
    return {"torch_version": torch.__version__, "shape": shape, "cases": cases}


def param_dict(model):
    return {name: {"shape": list(t.shape), "data": flat(t)}
            for name, t in model.named_parameters()}


class MLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(20, 32)
        self.fc2 = torch.nn.Linear(32, 16)
        self.fc3 = torch.nn.Linear(16, 10)

    def forward(self, x):
        x = torch.relu(self.fc1(x))
        x = torch.relu(self.fc2(x))
        return self.fc3(x)


def make_mlp():
    lr = 0.01
    steps = 30
    torch.manual_seed(42)  # drives the default nn.Linear initialisation
    model = MLP().to(torch.float32)
    layers = param_dict(model)

    gen = torch.Generator().manual_seed(4321)
    # Labels are a fixed function of the input (argmax of a random projection), so there is
    # something to learn and the loss trajectory falls instead of wandering around ln 10.
    teacher = torch.randn(20, 10, generator=gen, dtype=torch.float32)
    batches = []
    for _ in range(steps):
        x = torch.randn(8, 20, generator=gen, dtype=torch.float32)
        y = torch.argmax(x @ teacher, dim=1)
        batches.append((x, y))

    loss_fn = torch.nn.CrossEntropyLoss()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for x, y in batches:
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        losses.append(float(loss.item()))

    return {
        "torch_version": torch.__version__,
        "lr": lr,
        "layers": layers,
        "batches": [{"x": flat(x), "y": [int(v) for v in y.tolist()]} for x, y in batches],
        "losses": losses,
        "final": param_dict(model),
    }


def main():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    torch.set_default_dtype(torch.float32)
    os.makedirs(OUT_DIR, exist_ok=True)
    write_json(os.path.join(OUT_DIR, "adam.json"), make_adam())
    write_json(os.path.join(OUT_DIR, "mlp_train.json"), make_mlp())
    print("wrote", OUT_DIR, "with torch", torch.__version__)


if __name__ == "__main__":
    main()
