"""Recomputes a LoRA-adapted MLP's (or small CNN's) outputs from files alone, the way PEFT would load them.

    /usr/bin/python3 peft_forward_numpy.py BASE.safetensors ADAPTER_DIR INPUTS.safetensors EXPECTED.safetensors [mlp|cnn]

BASE holds the PyTorch state dict of Linear layers fc1, fc2, … (fc<i>.weight [out, in],
fc<i>.bias [out]) applied in order with ReLU between them; ADAPTER_DIR holds PEFT's
adapter_model.safetensors (base_model.model.<layer>.lora_A.weight [r, in], .lora_B.weight
[out, r]) and adapter_config.json (r, lora_alpha, use_rslora, target_modules). The output is
y = x·Wᵀ + b + s·(x·Aᵀ)·Bᵀ per targeted layer, s = lora_alpha / r (or / √r with rsLoRA), in
float64. Compares with EXPECTED's "y" (jrocm's float32 outputs) and exits 1 on a difference
beyond 1e-4 relative. Only the standard library and numpy; the safetensors reader is the one in
runtime/src/test/python.

With cnn the model is peft_nested_merge.py's Cnn on (n, 1, 8, 8) images: conv1 (3x3, padding 1),
ReLU, max-pool 2, conv2 ((3, 2) kernel, stride (2, 1), padding (1, 0)), ReLU, flatten, fc1, ReLU,
fc2. A targeted convolution has PEFT's factors lora_A [r, in, kh, kw], a convolution with the
base's geometry, and lora_B [out, r, 1, 1], a 1x1 one: y = conv(x, W) + b + s·B(A(x)).
"""
import json
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "runtime", "src", "test", "python"))
from safetensors_numpy import read_safetensors  # noqa: E402


def conv2d(x, w, bias, stride, padding):
    """The cross-correlation of x (n, c, h, w) with w (k, c, kh, kw), zero padding, in x's dtype."""
    k, _, kh, kw = w.shape
    x = np.pad(x, ((0, 0), (0, 0), (padding[0], padding[0]), (padding[1], padding[1])))
    oh = (x.shape[2] - kh) // stride[0] + 1
    ow = (x.shape[3] - kw) // stride[1] + 1
    y = np.zeros((x.shape[0], k, oh, ow), dtype=x.dtype)
    for u in range(kh):
        for v in range(kw):
            window = x[:, :, u:u + stride[0] * (oh - 1) + 1:stride[0], v:v + stride[1] * (ow - 1) + 1:stride[1]]
            y += np.einsum("nchw,kc->nkhw", window, w[:, :, u, v])
    return y if bias is None else y + bias.reshape(1, -1, 1, 1)


def adapted(name, x, base, adapter, targets, r, scale, stride=None, padding=None):
    """Layer `name` of the base (a Linear, or a Conv2d of the given geometry) on x, plus its LoRA update if targeted."""
    w = base[f"{name}.weight"].astype(np.float64)
    b = base[f"{name}.bias"].astype(np.float64)
    conv = w.ndim == 4
    y = conv2d(x, w, b, stride, padding) if conv else x @ w.T + b
    if name in targets:
        a = adapter[f"base_model.model.{name}.lora_A.weight"].astype(np.float64)
        lb = adapter[f"base_model.model.{name}.lora_B.weight"].astype(np.float64)
        if conv:
            assert a.shape == (r,) + w.shape[1:] and lb.shape == (w.shape[0], r, 1, 1), (name, a.shape, lb.shape)
            y = y + scale * conv2d(conv2d(x, a, None, stride, padding), lb, None, (1, 1), (0, 0))
        else:
            assert a.shape == (r, w.shape[1]) and lb.shape == (w.shape[0], r), (name, a.shape, lb.shape)
            y = y + scale * (x @ a.T) @ lb.T
    return y


def cnn(x, layer):
    """peft_nested_merge.py's Cnn; layer(name, x, stride, padding) computes one adapted layer."""
    x = np.maximum(layer("conv1", x, (1, 1), (1, 1)), 0)
    n, c, h, w = x.shape
    x = x.reshape(n, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))
    x = np.maximum(layer("conv2", x, (2, 1), (1, 0)), 0).reshape(n, -1)
    return layer("fc2", np.maximum(layer("fc1", x), 0))


def main(base_path, adapter_dir, inputs_path, expected_path, model="mlp"):
    base, _ = read_safetensors(base_path)
    adapter, _ = read_safetensors(os.path.join(adapter_dir, "adapter_model.safetensors"))
    with open(os.path.join(adapter_dir, "adapter_config.json")) as f:
        config = json.load(f)
    assert config["peft_type"] == "LORA", config["peft_type"]
    r = config["r"]
    scale = config["lora_alpha"] / (math.sqrt(r) if config.get("use_rslora") else r)
    targets = set(config["target_modules"])
    x = read_safetensors(inputs_path)[0]["x"].astype(np.float64)

    def layer(name, x, stride=None, padding=None):
        return adapted(name, x, base, adapter, targets, r, scale, stride, padding)

    if model == "cnn":
        x = cnn(x, layer)
    else:
        layers = sorted({k.split(".")[0] for k in base}, key=lambda name: int(name[2:]))
        for i, name in enumerate(layers):
            y = layer(name, x)
            x = np.maximum(y, 0) if i < len(layers) - 1 else y
    expected = read_safetensors(expected_path)[0]["y"].astype(np.float64)
    worst = float(np.max(np.abs(x - expected) / np.maximum(1, np.abs(x))))
    if worst > 1e-4:
        print(f"mismatch: worst relative difference {worst}")
        return 1
    print(f"ok: {x.shape[0]}x{x.shape[1]} outputs agree (worst relative difference {worst:.2e})")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:6]))
