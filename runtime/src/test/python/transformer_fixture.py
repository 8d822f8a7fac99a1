"""Generate the PyTorch reference for jrocm's small-transformer test (TransformerFixtureTest).

Writes runtime/src/test/resources/fixtures/transformer_train.json: a GPT-2-style
language model -- token and position embeddings, BLOCKS pre-LayerNorm blocks
(causal multi-head self-attention with separate q, k, v Linear layers and an
additive causal mask, then a GELU MLP, each with a residual), a final
LayerNorm and an lm_head without bias -- trained for STEPS steps with
torch.optim.AdamW(lr=LR, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1) on
every parameter, CosineAnnealingLR(T_max=STEPS, eta_min=0) stepped after each
optimizer step, and clip_grad_norm_(parameters, 1.0) before each step.

Recorded: "config", "state" (the initial parameters, PyTorch state_dict names,
{"name": {"shape": [...], "data": [floats]}}), "batches" ([{"x": B*T ints,
"y": B*T ints}], y is x shifted by one in a fixed random sequence so the
loss falls), "losses" (each step's loss before its update), "grad_norms"
(clip_grad_norm_'s return value, the norm before clipping), "lrs" (the lr
each step used), "logits0" (the first batch's logits before any step, B*T*V
floats) and "torch_version".

Every float is written as Python's repr of the float32 value, so parsing it as
a double and casting to float gives the float32 back exactly.

Run from the repository root with PyTorch 2.x (CPU wheel), deterministic:

    python runtime/src/test/python/transformer_fixture.py

The committed file was written by torch 2.13 (CPU wheel) on Debian 12.
"""

import math
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

from make_fixtures import flat, write_json  # this folder's: the same float and JSON layout

OUT = os.path.join("runtime", "src", "test", "resources", "fixtures", "transformer_train.json")
V, T, C, HEADS, BLOCKS, B, STEPS, LR = 16, 8, 16, 2, 2, 4, 20, 3e-3


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.q = nn.Linear(C, C)
        self.k = nn.Linear(C, C)
        self.v = nn.Linear(C, C)
        self.c_proj = nn.Linear(C, C)
        mask = torch.full((T, T), float("-inf")).triu(1)
        self.register_buffer("mask", mask, persistent=False)

    def forward(self, x):
        b, t, c = x.shape
        d = c // HEADS

        def heads(z):
            return z.view(b, t, HEADS, d).transpose(1, 2)

        q, k, v = heads(self.q(x)), heads(self.k(x)), heads(self.v(x))
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(d))
        att = F.softmax(att + self.mask[:t, :t], dim=-1)
        y = (att @ v).transpose(1, 2).reshape(b, t, c)
        return self.c_proj(y)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln_1 = nn.LayerNorm(C)
        self.attn = Attention()
        self.ln_2 = nn.LayerNorm(C)
        self.mlp = nn.Sequential(nn.Linear(C, 4 * C), nn.GELU(), nn.Linear(4 * C, C))

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class Gpt(nn.Module):
    def __init__(self):
        super().__init__()
        self.wte = nn.Embedding(V, C)
        self.wpe = nn.Embedding(T, C)
        self.h = nn.Sequential(*[Block() for _ in range(BLOCKS)])
        self.ln_f = nn.LayerNorm(C)
        self.lm_head = nn.Linear(C, V, bias=False)

    def forward(self, idx):
        pos = torch.arange(idx.shape[1])
        return self.lm_head(self.ln_f(self.h(self.wte(idx) + self.wpe(pos))))


def main():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = Gpt()
    with torch.no_grad():  # LayerNorm's affine parameters away from 1/0, so their gradients matter
        for name, p in model.named_parameters():
            if name.endswith("ln_1.weight") or name.endswith("ln_2.weight") or name == "ln_f.weight":
                p.add_(0.1 * torch.randn_like(p))
            if name.endswith("ln_1.bias") or name.endswith("ln_2.bias") or name == "ln_f.bias":
                p.add_(0.1 * torch.randn_like(p))
    state = {k: {"shape": list(v.shape), "data": flat(v)} for k, v in model.state_dict().items()}
    nxt = torch.randperm(V)  # the sequence rule: token a is followed by nxt[a]
    batches = []
    for _ in range(STEPS):
        x = torch.zeros(B, T + 1, dtype=torch.long)
        x[:, 0] = torch.randint(0, V, (B,))
        for j in range(1, T + 1):
            x[:, j] = nxt[x[:, j - 1]]
        noise = torch.rand(B, T + 1) < 0.1  # a little noise so the loss does not reach 0
        x = torch.where(noise, torch.randint(0, V, (B, T + 1)), x)
        batches.append((x[:, :T].clone(), x[:, 1:].clone()))
    with torch.no_grad():
        logits0 = model(batches[0][0])
    opt = torch.optim.AdamW(model.parameters(), lr=LR, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=STEPS, eta_min=0.0)
    losses, norms, lrs = [], [], []
    for x, y in batches:
        lrs.append(opt.param_groups[0]["lr"])
        opt.zero_grad()
        logits = model(x)
        loss = F.cross_entropy(logits.view(-1, V), y.view(-1))
        loss.backward()
        norms.append(float(torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)))
        opt.step()
        sched.step()
        losses.append(float(loss.item()))
    out = {
        "torch_version": torch.__version__,
        "config": {"vocab": V, "block_size": T, "channels": C, "heads": HEADS, "blocks": BLOCKS, "batch": B,
                   "steps": STEPS, "lr": LR, "weight_decay": 0.1, "max_norm": 1.0},
        "state": state,
        "batches": [{"x": x.reshape(-1).tolist(), "y": y.reshape(-1).tolist()} for x, y in batches],
        "logits0": flat(logits0),
        "losses": losses,
        "grad_norms": norms,
        "lrs": lrs,
    }
    write_json(OUT, out)
    print("wrote", OUT, "losses", ["%.4f" % l for l in losses])


if __name__ == "__main__":
    main()
