#!/usr/bin/env python3
"""PyTorch reference of jrocm's CNN job (scripts/demo.sh --model cnn, issue #15), for accuracies and epoch times.

Recipe (the same as jrocm's Model.cnn and LoraWorkflow):
  data   Fashion-MNIST IDX files (Debian's dataset-fashion-mnist) or the CIFAR-10 binary version,
         x -> (x/255 - 0.5)/0.5 in float32, rows of c*h*w features (channel-major) viewed as images
  model  Unflatten -> conv1 Conv2d(c,32,3,padding=1) -> ReLU -> MaxPool2d(2) -> conv2 Conv2d(32,64,3,padding=1)
         -> ReLU -> MaxPool2d(2) -> Flatten -> fc1 Linear(64*(h/4)*(w/4),128) -> ReLU -> fc2 Linear(128,10);
         PyTorch's default init; the module names are jrocm's state-dict names
  train  CrossEntropyLoss, Adam(lr=1e-3), batch 64, shuffled each epoch, --epochs (1) epochs
  LoRA   rank 4, alpha 4 (scale alpha/r) on --lora-targets (default conv1,conv2,fc1,fc2, as the issue and
         jrocm), as PEFT defines it: for a Linear
         A = Linear(in, r), B = Linear(r, out); for a Conv2d A = Conv2d(in, r, kernel, stride, padding,
         dilation), B = Conv2d(r, out, 1); no bias, A kaiming-uniform (a = sqrt 5), B = 0;
         y = base(x) + scale * B(A(x)); the base frozen; Adam(lr=1e-3) over A and B, --lora-epochs (1).
         --peft uses PEFT's get_peft_model instead of the hand-written layers (needs peft).

  /tmp/torchvenv/bin/python samples/pytorch/cnn_workflow.py --seed 0 --json out.json
Reuses lora_workflow.py's IDX reader and loops (no torchvision).
"""

import argparse
import collections
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lora_workflow import DATA_DIRS, accuracy, load_split, percent, recipe_arguments, train_epoch, train_full, write_results  # noqa: E402

CIFAR_DIRS = ["data/cifar-10-batches-bin", os.path.expanduser("~/.jrocm/data/cifar-10-batches-bin")]


def load_cifar(directory, train):
    """The CIFAR-10 binary version: records of 1 label byte and 3072 pixel bytes (1024 red, green, blue)."""
    names = [f"data_batch_{i}.bin" for i in range(1, 6)] if train else ["test_batch.bin"]
    raw = np.concatenate([np.fromfile(os.path.join(directory, n), dtype=np.uint8).reshape(-1, 3073) for n in names])
    x = raw[:, 1:].astype(np.float32)
    x = (x / np.float32(255.0) - np.float32(0.5)) / np.float32(0.5)
    return torch.from_numpy(x), torch.from_numpy(raw[:, 0].astype(np.int64))


def cnn(channels, height, width, classes=10):
    flat = 64 * (height // 4) * (width // 4)
    return nn.Sequential(collections.OrderedDict([
        ("unflatten", nn.Unflatten(1, (channels, height, width))),
        ("conv1", nn.Conv2d(channels, 32, 3, padding=1)), ("relu1", nn.ReLU()), ("pool1", nn.MaxPool2d(2)),
        ("conv2", nn.Conv2d(32, 64, 3, padding=1)), ("relu2", nn.ReLU()), ("pool2", nn.MaxPool2d(2)),
        ("flatten", nn.Flatten()),
        ("fc1", nn.Linear(flat, 128)), ("relu3", nn.ReLU()),
        ("fc2", nn.Linear(128, classes)),
    ]))


class LoRA(nn.Module):
    """PEFT's lora.Linear / lora.Conv2d without dropout: y = base(x) + scale * B(A(x))."""

    def __init__(self, base, rank, alpha):
        super().__init__()
        self.base = base
        if isinstance(base, nn.Conv2d):
            self.lora_A = nn.Conv2d(base.in_channels, rank, base.kernel_size, base.stride, base.padding, base.dilation, bias=False)
            self.lora_B = nn.Conv2d(rank, base.out_channels, 1, 1, bias=False)
        else:
            self.lora_A = nn.Linear(base.in_features, rank, bias=False)
            self.lora_B = nn.Linear(rank, base.out_features, bias=False)
        nn.init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5))
        nn.init.zeros_(self.lora_B.weight)
        self.scale = alpha / rank
        self.enabled = True

    def forward(self, x):
        y = self.base(x)
        if self.enabled:
            y = y + self.lora_B(self.lora_A(x)) * self.scale
        return y


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", choices=["fashion-mnist", "cifar10"], default="fashion-mnist")
    p.add_argument("--data", default=None, help="directory of the dataset's files (default: Debian's / data/)")
    recipe_arguments(p, rank=4, alpha=4.0)
    p.add_argument("--lora-targets", default="conv1,conv2,fc1,fc2")
    p.add_argument("--peft", action="store_true", help="apply LoRA with PEFT's get_peft_model")
    p.add_argument("--limit-train", type=int, default=None, help="use only the first N training images")
    p.add_argument("--limit-test", type=int, default=None, help="use only the first N test images")
    args = p.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    if args.dataset == "fashion-mnist":
        data_dir = args.data or next((d for d in DATA_DIRS if os.path.isdir(d)), None)
        if data_dir is None:
            sys.exit("no Fashion-MNIST: apt-get install dataset-fashion-mnist, or pass --data DIR")
        (x_train, y_train), (x_test, y_test) = load_split(data_dir, "train"), load_split(data_dir, "t10k")
        shape = (1, 28, 28)
    else:
        data_dir = args.data or next((d for d in CIFAR_DIRS if os.path.isdir(d)), None)
        if data_dir is None:
            sys.exit("no CIFAR-10 (binary version) in " + ", ".join(CIFAR_DIRS) + ": pass --data DIR")
        (x_train, y_train), (x_test, y_test) = load_cifar(data_dir, True), load_cifar(data_dir, False)
        shape = (3, 32, 32)
    x_train, y_train = x_train[:args.limit_train], y_train[:args.limit_train]
    x_test, y_test = x_test[:args.limit_test], y_test[:args.limit_test]
    targets = [t for t in args.lora_targets.split(",") if t]
    print(f"torch {torch.__version__}, {args.threads} threads, seed {args.seed}; {args.dataset} from {data_dir}: "
          f"{x_train.shape[0]} train, {x_test.shape[0]} test; CNN, batch {args.batch_size}, "
          f"{args.epochs} + {args.lora_epochs} epochs, lr {args.lr}; LoRA rank {args.rank}, alpha {args.alpha:g} on "
          f"{','.join(targets)}{' (PEFT)' if args.peft else ''}", flush=True)

    generator = torch.Generator().manual_seed(args.seed)
    model = cnn(*shape)
    full_seconds, full_acc = train_full(model, args, x_train, y_train, x_test, y_test, generator)

    if args.peft:
        import peft
        model = peft.get_peft_model(model, peft.LoraConfig(r=args.rank, lora_alpha=args.alpha, target_modules=targets))

        def set_lora(on):
            (model.enable_adapter_layers if on else model.disable_adapter_layers)()
    else:
        for param in model.parameters():
            param.requires_grad_(False)
        layers = []
        for name in targets:
            wrapped = LoRA(getattr(model, name), args.rank, args.alpha)
            setattr(model, name, wrapped)
            layers.append(wrapped)

        def set_lora(on):
            for layer in layers:
                layer.enabled = on
    set_lora(False)
    disabled_before = accuracy(model, x_test, y_test)
    set_lora(True)
    enabled_before = accuracy(model, x_test, y_test)
    print(f"Accuracy before LoRA training: {percent(enabled_before)} (LoRA enabled), {percent(disabled_before)} (disabled)")
    if enabled_before != disabled_before:
        print("WARNING: LoRA changes the model before training (B should be 0)", file=sys.stderr)

    trainable = [p_ for p_ in model.parameters() if p_.requires_grad]
    lora_count = sum(p_.numel() for p_ in trainable)
    print(f"trainable parameters: {lora_count} of {sum(p_.numel() for p_ in model.parameters())}")
    lora_seconds = []
    optimizer = torch.optim.Adam(trainable, lr=args.lr)
    for e in range(args.lora_epochs):
        lora_seconds.append(train_epoch(model, optimizer, x_train, y_train, args.batch_size, generator, f"LoRA {e + 1}"))
        print(f"LoRA epoch {e + 1}: {lora_seconds[-1]:.3f} s", flush=True)
    if full_seconds and lora_seconds:
        print(f"LoRA epoch / full epoch time: {(sum(lora_seconds) / len(lora_seconds)) / (sum(full_seconds) / len(full_seconds)):.2f}")

    set_lora(True)
    enabled_after = accuracy(model, x_test, y_test)
    set_lora(False)
    disabled_after = accuracy(model, x_test, y_test)
    print(f"Accuracy of the given model on the {x_test.shape[0]} test images is {percent(enabled_after)}   (LoRA enabled)")
    print(f"Accuracy of the given model on the {x_test.shape[0]} test images is {percent(disabled_after)}   (LoRA disabled)")

    if args.json:
        write_results(args.json, args, full_acc, full_seconds, (enabled_before, disabled_before), (enabled_after, disabled_after),
                      lora_seconds, extra={"model": "cnn", "dataset": args.dataset, "trainSamples": x_train.shape[0]},
                      lora_extra={"rank": args.rank, "alpha": args.alpha, "targets": targets, "peft": args.peft,
                                  "loraParameters": lora_count})


if __name__ == "__main__":
    main()
