"""Hugging Face PEFT checks jrocm's adapter of a nested module tree, or of a small CNN, and jrocm's mergeAndUnload().

    python3 peft_nested_merge.py DIR [nested|cnn]

DIR comes from jrocm's PeftNestedMergeTest (nested, the default) or LoraConv2dTest (cnn):
    base.safetensors     the base model's state dict (before LoRA). nested: h0/h1 blocks, each with
                         Linear layers q, qk and mlp = Sequential(Linear, ReLU, Linear), so keys
                         h0.q.weight, h0.mlp.2.bias, ...; cnn: Cnn below (conv1, conv2, fc1, fc2)
    adapter/             jrocm's adapter in PEFT's layout (adapter_model.safetensors, adapter_config.json);
                         for a Conv2d lora_A is a (r, in, kh, kw) kernel and lora_B (out, r, 1, 1)
    inputs.safetensors   "x" (rows, 4), or (rows, 1, 8, 8) images for cnn
    outputs.safetensors  jrocm's outputs on x: "lora" (with the adapter), "merged" (after mergeAndUnload)
    merged.safetensors   the state dict of jrocm's merged and unloaded model

Checks, each against jrocm's numbers:
 1. PeftModel.from_pretrained(Net(base) or Cnn(base), DIR/adapter) puts LoRA on exactly the layers the file
    names, with the file's values, and (in float64) reproduces jrocm's LoRA outputs;
 2. PEFT's merge_and_unload() gives a state dict with jrocm's merged keys and shapes and the same
    weights (PEFT merges in float32, as jrocm does);
 3. jrocm's merged state dict loads strictly into the plain torch model, which reproduces jrocm's
    merged outputs.
Differences are max |got − want| / max(1, |want|); the tolerance is 1e-5. Prints `ok: …` or
`mismatch: …` last; exit status 0, 1 on a mismatch (or an adapter that changes nothing), 2 on an
error. Needs torch, peft and safetensors. No network: the Hub is set offline before peft is imported.
"""
import copy
import json
import os
import sys
import traceback

import torch

TOLERANCE = 1e-5
MIN_EFFECT = 1e-2  # the adapter must move the outputs by more than this, or the check proves nothing


class Block(torch.nn.Module):
    """y = mlp(q(x) + qk(x)), mlp = Linear → ReLU → Linear."""

    def __init__(self, state, prefix):
        super().__init__()

        def linear(name):
            out_features, in_features = state[f"{prefix}{name}.weight"].shape
            return torch.nn.Linear(in_features, out_features)

        self.q = linear("q")
        self.qk = linear("qk")
        self.mlp = torch.nn.Sequential(linear("mlp.0"), torch.nn.ReLU(), linear("mlp.2"))

    def forward(self, x):
        return self.mlp(self.q(x) + self.qk(x))


class Net(torch.nn.Module):
    """h1(h0(x)), built from a state dict and loaded from it strictly."""

    def __init__(self, state):
        super().__init__()
        self.h0 = Block(state, "h0.")
        self.h1 = Block(state, "h1.")
        self.load_state_dict(state, strict=True)

    def forward(self, x):
        return self.h1(self.h0(x))


class Cnn(torch.nn.Module):
    """conv1 (3x3, padding 1), ReLU, max-pool 2, conv2 ((3, 2) kernel, stride (2, 1), padding (1, 0)), ReLU,
    flatten, fc1, ReLU, fc2 on (n, 1, 8, 8) images; channel counts from the state dict, loaded strictly."""

    def __init__(self, state):
        super().__init__()
        c1, c2 = state["conv1.weight"].shape[0], state["conv2.weight"].shape[0]
        self.conv1 = torch.nn.Conv2d(state["conv1.weight"].shape[1], c1, 3, padding=1)
        self.relu1 = torch.nn.ReLU()
        self.pool1 = torch.nn.MaxPool2d(2)
        self.conv2 = torch.nn.Conv2d(c1, c2, (3, 2), stride=(2, 1), padding=(1, 0))
        self.relu2 = torch.nn.ReLU()
        self.flatten = torch.nn.Flatten()
        self.fc1 = torch.nn.Linear(state["fc1.weight"].shape[1], state["fc1.weight"].shape[0])
        self.relu3 = torch.nn.ReLU()
        self.fc2 = torch.nn.Linear(state["fc2.weight"].shape[1], state["fc2.weight"].shape[0])
        self.load_state_dict(state, strict=True)

    def forward(self, x):
        x = self.pool1(self.relu1(self.conv1(x)))
        return self.fc2(self.relu3(self.fc1(self.flatten(self.relu2(self.conv2(x))))))


MODELS = {"nested": Net, "cnn": Cnn}


def worst(got, want):
    """max |got − want| / max(1, |want|), in float64; NaN anywhere gives NaN."""
    got, want = got.double(), want.double()
    return (got - want).abs().div(want.abs().clamp(min=1)).max().item()


def main(folder, kind="nested"):
    import peft
    from peft import PeftModel
    from safetensors.torch import load_file

    def tensors(name):
        return load_file(os.path.join(folder, name))

    model_class = MODELS[kind]
    base_state = {k: v.float() for k, v in tensors("base.safetensors").items()}
    x = tensors("inputs.safetensors")["x"]
    jrocm = tensors("outputs.safetensors")
    jrocm_merged = tensors("merged.safetensors")
    adapter_dir = os.path.join(folder, "adapter")
    in_file = tensors(os.path.join("adapter", "adapter_model.safetensors"))
    with open(os.path.join(adapter_dir, "adapter_config.json")) as f:
        config = json.load(f)

    # 1. PEFT loads jrocm's adapter and reproduces its outputs
    model = PeftModel.from_pretrained(model_class(base_state).eval(), adapter_dir)
    adapted = sorted(n for n, m in model.base_model.model.named_modules() if hasattr(m, "lora_A"))
    named = sorted({k[len("base_model.model."):].rsplit(".lora_", 1)[0] for k in in_file})
    if adapted != named:
        print(f"mismatch: PEFT put LoRA on {adapted}, jrocm's file has factors for {named}")
        return 1
    loaded = {n.replace(".default.", "."): p for n, p in model.named_parameters() if ".lora_" in n}
    if set(loaded) != set(in_file):
        print(f"mismatch: PEFT made LoRA parameters {sorted(loaded)} but jrocm's file holds {sorted(in_file)}")
        return 1
    for key, t in in_file.items():
        if not torch.equal(loaded[key].detach().float(), t.float()):
            print(f"mismatch: PEFT's {key} is not the one in jrocm's file")
            return 1
    scaling = {n: m.scaling["default"] for n, m in model.base_model.model.named_modules() if hasattr(m, "lora_A")}
    as_double = copy.deepcopy(model).double().eval()
    with torch.no_grad():
        y = as_double(x.double())
        with as_double.disable_adapter():
            y_base = as_double(x.double())
    effect = worst(y_base, y)
    if not effect > MIN_EFFECT:
        print(f"mismatch: with jrocm's adapter PEFT's outputs differ from the base model's by only {effect:.3g}")
        return 1
    diff_lora = worst(jrocm["lora"], y)
    if not diff_lora <= TOLERANCE:
        print(f"mismatch: PEFT {peft.__version__} with jrocm's adapter differs from jrocm's outputs by {diff_lora:.3g}")
        return 1

    # 2. PEFT's merge_and_unload() against jrocm's mergeAndUnload(), both in float32
    merged = model.merge_and_unload()
    if type(merged) is not model_class:
        print(f"mismatch: merge_and_unload() gave a {type(merged).__name__}, not the plain {model_class.__name__}")
        return 1
    peft_state = merged.state_dict()
    if sorted(peft_state) != sorted(jrocm_merged):
        print(f"mismatch: PEFT's merged keys {sorted(peft_state)} are not jrocm's {sorted(jrocm_merged)}")
        return 1
    diff_weights, changed = 0.0, []
    for key, t in peft_state.items():
        if tuple(t.shape) != tuple(jrocm_merged[key].shape):
            print(f"mismatch: {key} is {tuple(t.shape)} in PEFT's merged model, {tuple(jrocm_merged[key].shape)} in jrocm's")
            return 1
        diff_weights = max(diff_weights, worst(jrocm_merged[key], t))
        if not torch.equal(t, base_state[key]):
            changed.append(key)
    if not diff_weights <= TOLERANCE:
        print(f"mismatch: PEFT's merged weights differ from jrocm's by {diff_weights:.3g}")
        return 1
    expected_changed = sorted(f"{n}.weight" for n in named)
    if sorted(changed) != expected_changed:
        print(f"mismatch: the merge changed {sorted(changed)}, not exactly the adapted weights {expected_changed}")
        return 1

    # 3. jrocm's merged state dict is a plain torch model's and computes jrocm's merged outputs
    plain = model_class({k: v.double() for k, v in jrocm_merged.items()}).double().eval()
    with torch.no_grad():
        y_plain = plain(x.double())
    diff_merged = worst(jrocm["merged"], y_plain)
    diff_cross = worst(y_plain, y)
    if not (diff_merged <= TOLERANCE and diff_cross <= TOLERANCE):
        print(f"mismatch: torch with jrocm's merged weights differs from jrocm's merged outputs by {diff_merged:.3g}"
              f" and from PEFT's adapted outputs by {diff_cross:.3g}")
        return 1
    print(f"ok: PEFT {peft.__version__} loads jrocm's {kind} adapter (LoRA on {', '.join(adapted)},"
          f" target_modules {config['target_modules']}, scaling {sorted(set(scaling.values()))}) and reproduces"
          f" jrocm's {y.shape[0]}x{y.shape[1]} outputs (worst {diff_lora:.2e}; the adapter moves them by {effect:.3g});"
          f" merge_and_unload() gives jrocm's merged keys and weights (worst {diff_weights:.2e}; changed:"
          f" {', '.join(changed)}); jrocm's merged state dict loads strictly into torch and gives jrocm's merged"
          f" outputs (worst {diff_merged:.2e})")
    return 0


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3) or (len(sys.argv) == 3 and sys.argv[2] not in MODELS):
        print(__doc__)
        sys.exit(2)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        sys.exit(main(*sys.argv[1:]))
    except Exception as e:  # noqa: BLE001 (any failure is an error of the check, reported as one)
        traceback.print_exc()
        print(f"error: {type(e).__name__}: {e}")
        sys.exit(2)
