"""The Hugging Face PEFT half of the jrocm ⇄ PEFT round trip (scripts/device/peft.sh runs both).

    python3 peft_interop.py check-jrocm DIR
        Builds the MLP fc1 → ReLU → fc2 → ReLU → fc3 in torch from DIR/base.safetensors, loads
        jrocm's adapter with PeftModel.from_pretrained(model, DIR/jrocm_adapter), runs
        DIR/inputs.safetensors ("x") in float64 and compares with jrocm's outputs
        DIR/jrocm_expected.safetensors ("y").
    python3 peft_interop.py write-peft DIR
        Builds the same MLP, get_peft_model(model, LoraConfig(r=2, lora_alpha=4,
        target_modules=["fc1", "fc2", "fc3"])), sets every lora_B to seeded random values, saves
        the adapter with save_pretrained(DIR/peft_adapter) and its outputs on x as
        DIR/peft_expected.safetensors ("y", float32) for `PeftInterop read DIR`.

The DIR files come from `java -cp benchmarks.jar dev.jrocm.benchmarks.PeftInterop write DIR`.
Prints `ok: …` or `mismatch: …` last; exit status 0, 1 on a mismatch (beyond 1e-4 of
max(1, |PEFT's value|), or an adapter that changes nothing), 2 on an error. Needs torch, peft
and safetensors (without the safetensors package, the numpy reader in runtime/src/test/python
stands in). No network: the Hub is set offline before peft is imported.
"""
import json
import os
import sys
import traceback

import torch

TOLERANCE = 1e-4
MIN_EFFECT = 1e-2  # the adapter must move the outputs by more than this, or the check proves nothing
RANK, ALPHA, TARGETS = 2, 4, ["fc1", "fc2", "fc3"]
ADAPTER_FILE, CONFIG_FILE = "adapter_model.safetensors", "adapter_config.json"


def load_tensors(path):
    try:
        from safetensors.torch import load_file
    except ImportError:
        return {k: torch.from_numpy(v.copy()) for k, v in _numpy_safetensors().read_safetensors(path)[0].items()}
    return load_file(path)


def save_tensors(path, tensors):
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    try:
        from safetensors.torch import save_file
    except ImportError:
        _numpy_safetensors().write_safetensors(path, {k: v.numpy() for k, v in tensors.items()}, {"format": "pt"})
        return
    save_file(tensors, path, metadata={"format": "pt"})


def _numpy_safetensors():
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                    "..", "..", "..", "..", "runtime", "src", "test", "python"))
    import safetensors_numpy
    return safetensors_numpy


class Mlp(torch.nn.Module):
    """fc1 → ReLU → fc2 → ReLU → fc3, the sizes taken from the state dict."""

    def __init__(self, state):
        super().__init__()
        for name in ("fc1", "fc2", "fc3"):
            out_features, in_features = state[f"{name}.weight"].shape
            setattr(self, name, torch.nn.Linear(in_features, out_features))
        self.load_state_dict(state, strict=True)

    def forward(self, x):
        return self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(x)))))


def base_model(folder):
    state = load_tensors(os.path.join(folder, "base.safetensors"))
    return Mlp({k: v.float() for k, v in state.items()}).eval()


def inputs(folder):
    return load_tensors(os.path.join(folder, "inputs.safetensors"))["x"]


def worst(got, want):
    """max |got − want| / max(1, |want|), in float64; NaN anywhere gives NaN."""
    got, want = got.double(), want.double()
    return (got - want).abs().div(want.abs().clamp(min=1)).max().item()


def adapted_and_base(peft_model, x):
    """The adapted outputs and the base model's, both in float64."""
    peft_model.double().eval()
    x = x.double()
    with torch.no_grad():
        adapted = peft_model(x)
        with peft_model.disable_adapter():
            base = peft_model(x)
    return adapted, base


def lora_parameters(peft_model):
    """{file key: tensor} of the LoRA factors in the model, adapter name dropped as save_pretrained does."""
    return {name.replace(".default.", "."): p for name, p in peft_model.named_parameters() if ".lora_" in name}


def check_jrocm(folder):
    import peft
    from peft import PeftModel

    adapter_dir = os.path.join(folder, "jrocm_adapter")
    model = PeftModel.from_pretrained(base_model(folder), adapter_dir)
    in_file = load_tensors(os.path.join(adapter_dir, ADAPTER_FILE))
    loaded = lora_parameters(model)
    if set(loaded) != set(in_file):
        print(f"mismatch: PEFT made LoRA parameters {sorted(loaded)} but jrocm's file holds {sorted(in_file)}")
        return 1
    for key, tensor in in_file.items():
        if not torch.equal(loaded[key].detach().cpu().float(), tensor.float()):
            print(f"mismatch: PEFT's {key} is not the one in jrocm's file")
            return 1
        if ".lora_B." in key and not tensor.any():
            print(f"mismatch: {key} is all zeros in jrocm's file: the check would prove nothing")
            return 1
    layers = [n for n in TARGETS if hasattr(getattr(model.base_model.model, n), "lora_A")]
    scaling = {n: getattr(model.base_model.model, n).scaling["default"] for n in layers}
    y, base = adapted_and_base(model, inputs(folder))
    expected = load_tensors(os.path.join(folder, "jrocm_expected.safetensors"))["y"]
    if tuple(expected.shape) != tuple(y.shape):
        print(f"mismatch: jrocm's outputs are {tuple(expected.shape)}, PEFT's {tuple(y.shape)}")
        return 1
    effect = worst(base, y)
    if not effect > MIN_EFFECT:
        print(f"mismatch: with jrocm's adapter PEFT's outputs differ from the base model's by only {effect:.3g}")
        return 1
    diff = worst(expected, y)
    if not diff <= TOLERANCE:
        print(f"mismatch: PEFT {peft.__version__} with jrocm's adapter differs from jrocm's outputs by {diff:.3g}"
              f" (relative, tolerance {TOLERANCE:g})")
        return 1
    print(f"ok: PEFT {peft.__version__} loads jrocm's adapter (LoRA on {', '.join(layers)}, scaling {scaling})"
          f" and reproduces jrocm's {y.shape[0]}x{y.shape[1]} outputs (worst relative difference {diff:.2e};"
          f" the adapter moves them by {effect:.3g})")
    return 0


def write_peft(folder):
    import peft
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(0)  # PEFT's kaiming-uniform lora_A draws from the global generator
    model = get_peft_model(base_model(folder), LoraConfig(r=RANK, lora_alpha=ALPHA, target_modules=list(TARGETS),
                                                          lora_dropout=0.0))
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if ".lora_B." in name:  # PEFT starts B at zero; a zero B would make the check vacuous
                p.copy_(torch.randn(p.shape, generator=generator) * 0.2)
    adapter_dir = os.path.join(folder, "peft_adapter")
    model.save_pretrained(adapter_dir)
    with open(os.path.join(adapter_dir, CONFIG_FILE)) as f:
        config = json.load(f)
    saved = load_tensors(os.path.join(adapter_dir, ADAPTER_FILE))
    print(f"PEFT {peft.__version__} wrote {sorted(os.listdir(adapter_dir))}; {ADAPTER_FILE}: "
          + ", ".join(f"{k} {tuple(v.shape)} {v.dtype}" for k, v in sorted(saved.items())))
    print(f"{CONFIG_FILE}: {json.dumps(config, sort_keys=True)}")
    y, base = adapted_and_base(model, inputs(folder))
    effect = worst(base, y)
    if not effect > MIN_EFFECT:
        print(f"mismatch: PEFT's adapter moves the outputs by only {effect:.3g}")
        return 1
    save_tensors(os.path.join(folder, "peft_expected.safetensors"), {"y": y.float()})
    print(f"ok: PEFT {peft.__version__} saved its adapter to {adapter_dir} and its {y.shape[0]}x{y.shape[1]}"
          f" outputs to peft_expected.safetensors (the adapter moves them by {effect:.3g})")
    return 0


MODES = {"check-jrocm": check_jrocm, "write-peft": write_peft}


def main(argv):
    if len(argv) != 3 or argv[1] not in MODES:
        print(__doc__)
        return 2
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        return MODES[argv[1]](argv[2])
    except Exception as e:  # noqa: BLE001 (any failure is an error of the check, reported as one)
        traceback.print_exc()
        print(f"error: {type(e).__name__}: {e}")
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
