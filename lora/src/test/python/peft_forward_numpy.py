"""Recomputes a LoRA-adapted MLP's outputs from files alone, the way PEFT would load them.

    /usr/bin/python3 peft_forward_numpy.py BASE.safetensors ADAPTER_DIR INPUTS.safetensors EXPECTED.safetensors

BASE holds the PyTorch state dict of Linear layers fc1, fc2, … (fc<i>.weight [out, in],
fc<i>.bias [out]) applied in order with ReLU between them; ADAPTER_DIR holds PEFT's
adapter_model.safetensors (base_model.model.<layer>.lora_A.weight [r, in], .lora_B.weight
[out, r]) and adapter_config.json (r, lora_alpha, use_rslora, target_modules). The output is
y = x·Wᵀ + b + s·(x·Aᵀ)·Bᵀ per targeted layer, s = lora_alpha / r (or / √r with rsLoRA), in
float64. Compares with EXPECTED's "y" (jrocm's float32 outputs) and exits 1 on a difference
beyond 1e-4 relative. Only the standard library and numpy; the safetensors reader is the one in
runtime/src/test/python.
"""
import json
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "runtime", "src", "test", "python"))
from safetensors_numpy import read_safetensors  # noqa: E402


def main(base_path, adapter_dir, inputs_path, expected_path):
    base, _ = read_safetensors(base_path)
    adapter, _ = read_safetensors(os.path.join(adapter_dir, "adapter_model.safetensors"))
    with open(os.path.join(adapter_dir, "adapter_config.json")) as f:
        config = json.load(f)
    assert config["peft_type"] == "LORA", config["peft_type"]
    r = config["r"]
    scale = config["lora_alpha"] / (math.sqrt(r) if config.get("use_rslora") else r)
    targets = set(config["target_modules"])
    x = read_safetensors(inputs_path)[0]["x"].astype(np.float64)
    layers = sorted({k.split(".")[0] for k in base}, key=lambda name: int(name[2:]))
    for i, name in enumerate(layers):
        w = base[f"{name}.weight"].astype(np.float64)
        y = x @ w.T + base[f"{name}.bias"].astype(np.float64)
        if name in targets:
            a = adapter[f"base_model.model.{name}.lora_A.weight"].astype(np.float64)
            b = adapter[f"base_model.model.{name}.lora_B.weight"].astype(np.float64)
            assert a.shape == (r, w.shape[1]) and b.shape == (w.shape[0], r), (name, a.shape, b.shape)
            y = y + scale * (x @ a.T) @ b.T
        x = np.maximum(y, 0) if i < len(layers) - 1 else y
    expected = read_safetensors(expected_path)[0]["y"].astype(np.float64)
    worst = float(np.max(np.abs(x - expected) / np.maximum(1, np.abs(x))))
    if worst > 1e-4:
        print(f"mismatch: worst relative difference {worst}")
        return 1
    print(f"ok: {x.shape[0]}x{x.shape[1]} outputs agree (worst relative difference {worst:.2e})")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:5]))
