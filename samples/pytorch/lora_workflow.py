#!/usr/bin/env python3
"""PyTorch reference of jrocm's default CPU LoRA workflow (scripts/demo.sh), for comparing accuracies.

Recipe (jrocm's "quick" preset on Fashion-MNIST):
  data   Fashion-MNIST IDX files from Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist),
         x -> (x/255 - 0.5)/0.5 in float32, flattened to 784 features (1x28x28, channel-major)
  model  Linear(784,4096) -> ReLU -> Linear(4096,2048) -> ReLU -> Linear(2048,10), PyTorch default init
  train  CrossEntropyLoss, Adam(lr=1e-3), batch 64, shuffled each epoch, --epochs (1) epochs
  LoRA   rank 1, alpha 1 (scale alpha/r) on fc1, fc2, fc3: y = base(x) + s * (x @ A.T) @ B.T,
         A (r,in) ~ N(0,1), B (out,r) = 0, base weights and biases frozen; Adam(lr=1e-3) over A and B
         for --lora-epochs (1) epochs.

Run with Debian's interpreter:  /usr/bin/python3 samples/pytorch/lora_workflow.py --seed 0 --json out.json
No torchvision: the IDX files are parsed with numpy and gzip.
"""

import argparse
import gzip
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn

DATA_DIRS = ["/usr/share/datasets/fashion-mnist", "data/fashion-mnist"]


def open_idx(directory, name):
    for candidate in (name, name + ".gz"):
        path = os.path.join(directory, candidate)
        if os.path.exists(path):
            return gzip.open(path, "rb") if candidate.endswith(".gz") else open(path, "rb")
    raise FileNotFoundError(f"{name}(.gz) not found in {directory}")


def read_idx(directory, name):
    with open_idx(directory, name) as f:
        raw = f.read()
    magic = int.from_bytes(raw[0:4], "big")
    if magic >> 8 != 0x08:  # unsigned byte data
        raise ValueError(f"{name}: unexpected IDX magic {magic:#x}")
    ndim = magic & 0xFF
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    return data.reshape(dims)


def load_split(directory, prefix):
    images = read_idx(directory, f"{prefix}-images-idx3-ubyte")
    labels = read_idx(directory, f"{prefix}-labels-idx1-ubyte")
    x = images.reshape(images.shape[0], -1).astype(np.float32)
    x = (x / np.float32(255.0) - np.float32(0.5)) / np.float32(0.5)
    return torch.from_numpy(x), torch.from_numpy(labels.astype(np.int64))


class LoRALinear(nn.Module):
    """y = base(x) + scale * (x @ A.T) @ B.T; A (r,in) ~ N(0,1), B (out,r) = 0."""

    def __init__(self, base, rank, alpha):
        super().__init__()
        self.base = base
        self.A = nn.Parameter(torch.randn(rank, base.in_features))
        self.B = nn.Parameter(torch.zeros(base.out_features, rank))
        self.scale = alpha / rank
        self.enabled = True

    def forward(self, x):
        y = self.base(x)
        if self.enabled:
            y = y + self.scale * (x @ self.A.t()) @ self.B.t()
        return y


class MLP(nn.Module):
    def __init__(self, features=784, classes=10):
        super().__init__()
        self.fc1 = nn.Linear(features, 4096)
        self.relu1 = nn.ReLU()
        self.fc2 = nn.Linear(4096, 2048)
        self.relu2 = nn.ReLU()
        self.fc3 = nn.Linear(2048, classes)

    def forward(self, x):
        return self.fc3(self.relu2(self.fc2(self.relu1(self.fc1(x)))))


def train_epoch(model, optimizer, x, y, batch_size, generator, label):
    model.train()
    criterion = nn.CrossEntropyLoss()
    order = torch.randperm(x.shape[0], generator=generator)
    n_batches = math.ceil(x.shape[0] / batch_size)
    log_every = max(1, 2000 * 8 // batch_size)  # the blog logs every 2000 batches of 8
    running = 0.0
    start = time.perf_counter()
    for i in range(n_batches):
        idx = order[i * batch_size:(i + 1) * batch_size]
        optimizer.zero_grad()
        loss = criterion(model(x[idx]), y[idx])
        loss.backward()
        optimizer.step()
        running += loss.item()
        if (i + 1) % log_every == 0:
            print(f"[{label}, {i + 1:5d}] loss: {running / log_every:.3f}", flush=True)
            running = 0.0
    return time.perf_counter() - start


@torch.no_grad()
def accuracy(model, x, y, batch_size=256):
    model.eval()
    correct = 0
    for i in range(0, x.shape[0], batch_size):
        correct += (model(x[i:i + batch_size]).argmax(dim=1) == y[i:i + batch_size]).sum().item()
    return correct / x.shape[0]


def percent(fraction):
    return f"{math.floor(100 * fraction + 1e-9)} % ({100 * fraction:.2f} %)"


def set_lora(layers, enabled):
    for layer in layers:
        layer.enabled = enabled


def write_results(path, args, full_acc, full_seconds, before, after, lora_seconds, extra=None, lora_extra=None):
    """The run as JSON: before and after are (LoRA enabled, LoRA disabled) accuracies; extra goes at the top, lora_extra under lora."""
    result = {
        "torch_version": torch.__version__,
        "seed": args.seed,
        "threads": args.threads,
        "batchSize": args.batch_size,
        **(extra or {}),
        "full": {"testAccuracy": full_acc, "epochSeconds": full_seconds},
        "lora": {
            **(lora_extra or {}),
            "accuracyBeforeTraining": {"enabled": before[0], "disabled": before[1]},
            "testAccuracyEnabled": after[0],
            "testAccuracyDisabled": after[1],
            "epochSeconds": lora_seconds,
        },
    }
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")


def train_full(model, args, x_train, y_train, x_test, y_test, generator):
    """Full training with Adam for args.epochs epochs, printing each epoch's time and then the test accuracy."""
    full_seconds = []
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    for e in range(args.epochs):
        full_seconds.append(train_epoch(model, optimizer, x_train, y_train, args.batch_size, generator, e + 1))
        print(f"epoch {e + 1}: {full_seconds[-1]:.3f} s", flush=True)
    full_acc = accuracy(model, x_test, y_test)
    print(f"Accuracy of the given model on the {x_test.shape[0]} test images is {percent(full_acc)}", flush=True)
    return full_seconds, full_acc


def recipe_arguments(p, rank, alpha):
    """The options both workflows share: seed, epochs, batch size, learning rate, LoRA rank and alpha, threads, --json."""
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--lora-epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--rank", type=int, default=rank)
    p.add_argument("--alpha", type=float, default=alpha)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--json", default=None, help="write the results as JSON to this path")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    recipe_arguments(p, rank=1, alpha=1.0)
    p.add_argument("--data", default=None, help="directory of the IDX files (default: Debian's)")
    args = p.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    data_dir = args.data or next((d for d in DATA_DIRS if os.path.isdir(d)), None)
    if data_dir is None:
        sys.exit("no Fashion-MNIST: apt-get install dataset-fashion-mnist, or pass --data DIR")
    x_train, y_train = load_split(data_dir, "train")
    x_test, y_test = load_split(data_dir, "t10k")
    print(f"torch {torch.__version__}, {args.threads} threads, seed {args.seed}; Fashion-MNIST from {data_dir}: "
          f"{x_train.shape[0]} train, {x_test.shape[0]} test; batch {args.batch_size}, "
          f"{args.epochs} + {args.lora_epochs} epochs, lr {args.lr}", flush=True)

    generator = torch.Generator().manual_seed(args.seed)
    model = MLP(x_train.shape[1], 10)
    full_seconds, full_acc = train_full(model, args, x_train, y_train, x_test, y_test, generator)

    # LoRA on fc1, fc2, fc3; freeze everything of the base model.
    for param in model.parameters():
        param.requires_grad_(False)
    layers = []
    for name in ("fc1", "fc2", "fc3"):
        wrapped = LoRALinear(getattr(model, name), args.rank, args.alpha)
        setattr(model, name, wrapped)
        layers.append(wrapped)
    set_lora(layers, False)
    disabled_before = accuracy(model, x_test, y_test)
    print(f"Accuracy of the network on the {x_test.shape[0]} test images: {percent(disabled_before)}   (LoRA disabled)")
    set_lora(layers, True)
    enabled_before = accuracy(model, x_test, y_test)
    print(f"Accuracy of the network on the {x_test.shape[0]} test images: {percent(enabled_before)}   (LoRA enabled)")
    if enabled_before != disabled_before:
        print("WARNING: LoRA changes the model before training (B should be 0)", file=sys.stderr)

    trainable = [p_ for p_ in model.parameters() if p_.requires_grad]
    total = sum(p_.numel() for p_ in model.parameters())
    print(f"trainable parameters: {sum(p_.numel() for p_ in trainable)} of {total}")
    lora_seconds = []
    optimizer = torch.optim.Adam(trainable, lr=args.lr)
    for e in range(args.lora_epochs):
        lora_seconds.append(train_epoch(model, optimizer, x_train, y_train, args.batch_size, generator,
                                        f"LoRA {e + 1}"))
        print(f"LoRA epoch {e + 1}: {lora_seconds[-1]:.3f} s", flush=True)
    print(f"LoRA epoch / full epoch time: {sum(lora_seconds) / max(1, len(lora_seconds)) / (sum(full_seconds) / max(1, len(full_seconds))):.2f}"
          if full_seconds and lora_seconds else "")

    set_lora(layers, True)
    enabled_after = accuracy(model, x_test, y_test)
    set_lora(layers, False)
    disabled_after = accuracy(model, x_test, y_test)
    print(f"Accuracy of the given model on the {x_test.shape[0]} test images is {percent(enabled_after)}   (LoRA enabled)")
    print(f"Accuracy of the given model on the {x_test.shape[0]} test images is {percent(disabled_after)}   (LoRA disabled)")

    if args.json:
        write_results(args.json, args, full_acc, full_seconds, (enabled_before, disabled_before), (enabled_after, disabled_after),
                      lora_seconds)


if __name__ == "__main__":
    main()
