"""Generate the PyTorch reference fixture for jrocm's convolutional layers.

Writes runtime/src/test/resources/fixtures/cnn_train.json (path relative to the
repository root): a small CNN on 8x8 single-channel images,

    Conv2d(1, 4, 3, padding=1, bias=False) -> BatchNorm2d(4) -> ReLU -> MaxPool2d(2)
    -> Conv2d(4, 6, (3, 2), stride=(1, 2), padding=(1, 1), dilation=(2, 1)) -> ReLU
    -> AvgPool2d(2, 1, 1) -> Flatten -> Linear(6*3*4, 10)

(PyTorch layout and names: "c1.weight" [4, 1, 3, 3], "bn.running_mean", ...),
trained for 20 steps with CrossEntropyLoss (mean reduction) and
torch.optim.Adam(lr=0.01, default betas/eps) on 4 batches of 8 samples taken
in turn five times (x ~ randn [8, 1, 8, 8], y = argmax(flatten(x) @ teacher)
for a fixed random 64x10 teacher, so the loss falls). Records "state" (the initial state dict,
parameters and buffers, as {"name": {"shape": [...], "data": [flat row-major
floats]}}; num_batches_tracked as a float), "batches" ([{"x": 512 floats, "y":
8 ints}]), "losses" (loss.item() of each step, before that step's update),
"final" (the state dict after the 20 steps), "eval_x" (8 more images),
"eval_logits" (the trained model's logits for them in eval mode, which
normalise with the running statistics), "lr" and "torch_version".

Every float is a float32 value written as Python's repr of float(x), so parsing
it as a double and casting to float recovers the float32 bit for bit.

Run from the repository root (a PyTorch 2.x, CPU, one thread):

    /tmp/torchvenv/bin/python runtime/src/test/python/cnn_fixtures.py

The committed fixture was produced with torch 2.13.0+cpu.
"""

import os

import torch
from torch import nn

from make_fixtures import flat, write_json  # this folder's: the same float and JSON layout

OUT = os.path.join("runtime", "src", "test", "resources", "fixtures", "cnn_train.json")


def state(model):
    return {k: {"shape": list(v.shape), "data": flat(v)} for k, v in model.state_dict().items()}


class Cnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 4, 3, padding=1, bias=False)  # batch norm follows: a bias would cancel out
        self.bn = nn.BatchNorm2d(4)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)
        self.c2 = nn.Conv2d(4, 6, (3, 2), stride=(1, 2), padding=(1, 1), dilation=(2, 1))
        self.relu2 = nn.ReLU()
        self.pool2 = nn.AvgPool2d(2, 1, 1)
        self.flat = nn.Flatten()
        self.fc = nn.Linear(6 * 3 * 4, 10)

    def forward(self, x):
        x = self.pool1(self.relu1(self.bn(self.c1(x))))
        x = self.pool2(self.relu2(self.c2(x)))
        return self.fc(self.flat(x))


def main():
    torch.set_num_threads(1)
    torch.manual_seed(42)  # drives the default initialisation
    model = Cnn().to(torch.float32)
    initial = state(model)
    gen = torch.Generator().manual_seed(2468)
    teacher = torch.randn(64, 10, generator=gen)
    distinct = []
    for _ in range(4):
        x = torch.randn(8, 1, 8, 8, generator=gen)
        distinct.append((x, torch.argmax(x.reshape(8, 64) @ teacher, dim=1)))
    batches = [distinct[i % 4] for i in range(20)]  # seen five times each: the loss falls
    loss_fn = nn.CrossEntropyLoss()
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    losses = []
    model.train()
    for x, y in batches:
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        losses.append(float(loss.item()))
    model.eval()
    eval_x = torch.randn(8, 1, 8, 8, generator=gen)
    with torch.no_grad():
        eval_logits = model(eval_x)
    fixture = {
        "torch_version": torch.__version__,
        "lr": 0.01,
        "state": initial,
        "batches": [{"x": flat(x), "y": [int(v) for v in y.tolist()]} for x, y in batches],
        "losses": losses,
        "final": state(model),
        "eval_x": flat(eval_x),
        "eval_logits": flat(eval_logits),
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    write_json(OUT, fixture)
    print("wrote", OUT, "with torch", torch.__version__, "losses", losses[0], "->", losses[-1])


if __name__ == "__main__":
    main()
