"""Claim 9: layers pretrained on one data set can be reused, frozen, on another -- measured against training from scratch.

An autoencoder (784-256-64) is trained without labels on MNIST digits and saved. Its encoder is then
reused under a linear classifier for Fashion-MNIST clothes with only 3 to 100 labelled images per
class: frozen (only the 650 weights of the linear layer learn) or fine-tuned (all layers learn, from
the pretrained start). The same network trained from scratch on the same labels is the baseline.
``deepae.train.transfer_weights`` copies (and freezes) the saved encoder's layers into a fresh model;
deepae has no classifier estimator, so the few lines of supervised training are written here
(``Classifier`` and ``train_classifier``).

What this measures on these two data sets: the frozen digit encoder does *not* beat training from
scratch on clothes; it trails it by a few points while training 0.3% of the weights. The check
is therefore the loose one: reuse works (the frozen layers stay exactly as pretrained) and costs
little accuracy (within 8 points of scratch at every budget).

    python examples/09_transfer.py            # 24 s of CPU, one thread (90 s on a busy 2-core machine)
    python examples/09_transfer.py --quick    # a few seconds, for CI
"""

from __future__ import annotations

import tempfile

import numpy as np
import torch
from _common import Timer, autoencoder, check, load, parse_args, per_class, pyplot, save_figure

from deepae.api import build_model
from deepae.train import load_model, read_config, transfer_weights

args = parse_args(__doc__)
SOURCE, TARGET = "mnist", "fashion-mnist"
n_source, epochs, budgets = (2000, 5, (10,)) if args.quick else (10000, 10, (3, 10, 30, 100))
STEPS = 300  # full-batch Adam steps of supervised training, for every budget and model


class Classifier(torch.nn.Module):
    """A deepae model's encoder with a linear layer on its code: (B, 784) -> (B, 10) logits."""

    def __init__(self, autoencoder: torch.nn.Module, n_classes: int = 10):
        super().__init__()
        self.autoencoder, self.head = autoencoder, torch.nn.Linear(autoencoder.code_dim, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.autoencoder.encode(x))


def train_classifier(model: Classifier, x: np.ndarray, y: np.ndarray, seed: int) -> Classifier:
    torch.manual_seed(seed)
    trainable = [p for p in model.parameters() if p.requires_grad]  # frozen layers are left out
    optimizer = torch.optim.Adam(trainable, lr=1e-3)
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    for _ in range(STEPS):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
    return model.eval()


def accuracy(model: Classifier, x: np.ndarray, y: np.ndarray) -> float:
    with torch.no_grad():
        return float((model(torch.from_numpy(x)).argmax(1).numpy() == y).mean())


with Timer() as t:
    source = autoencoder(args.seed, code_size=64, epochs=epochs).fit(load(args, SOURCE, "train", n_source).flat())
saved = source.save(tempfile.mkdtemp(prefix="deepae-source-"))
print(f"pretrained the encoder on {n_source} {SOURCE} images in {t.seconds:.0f} s")

pool, test = load(args, TARGET, "train", 5000), load(args, TARGET, "test", 2000)
VARIANTS = {"from scratch": None, f"frozen {SOURCE} encoder": True, f"fine-tuned {SOURCE} encoder": False}  # name -> freeze
results = {name: [] for name in VARIANTS}
for n_labels in budgets:
    chosen = per_class(pool.y, n_labels)
    x, y = pool.flat()[chosen], pool.y[chosen]
    for name, freeze in VARIANTS.items():
        torch.manual_seed(args.seed)
        model = build_model(read_config(saved))  # a fresh, randomly initialised copy of the architecture
        if freeze is not None:
            transfer_weights(model, saved, parts=("encoder",), freeze=freeze)
        classifier = train_classifier(Classifier(model), x, y, args.seed)
        results[name].append(accuracy(classifier, test.flat(), test.y))
        if freeze:
            frozen_model = model
    print(f"{n_labels:4d} labels per class: " + "   ".join(f"{name} {acc[-1]:.3f}" for name, acc in results.items()))

encoder = [p for name, p in frozen_model.named_parameters() if name.startswith("encoder")]
head = 10 * (frozen_model.code_dim + 1)  # the linear layer on the code
print(f"the frozen variant trains {head + sum(p.numel() for p in encoder if p.requires_grad)} "
      f"of its {head + sum(p.numel() for p in encoder)} weights")
pretrained = load_model(saved).state_dict()
unchanged = all(torch.equal(v, pretrained[k]) for k, v in frozen_model.state_dict().items() if k.startswith("encoder"))

plt = pyplot()
fig, ax = plt.subplots(figsize=(6.5, 4.2))
for name, acc in results.items():
    ax.plot(budgets, acc, "o-", label=name)
ax.set(xscale="log", xlabel=f"labelled {TARGET} images per class", ylabel=f"{TARGET} test accuracy",
       title=f"classifying {TARGET} with few labels")
ax.set_xticks(budgets, [str(b) for b in budgets])
ax.minorticks_off()
ax.legend()
save_figure(args, fig, "09_transfer")

scratch, frozen, _ = results.values()
check(unchanged and all(f > s - 0.08 for f, s in zip(frozen, scratch)),
      f"the reused {SOURCE} encoder stays frozen, and classifies {TARGET} within 8 points of a network trained from scratch")
