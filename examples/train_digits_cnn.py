"""A small CNN on scikit-learn's 8x8 handwritten digits with @jit_grad: convolutions, batch
norm (running statistics updated by the compiled step), max pooling and dropout (a fresh mask
every step), trained with AdamW and a cosine learning-rate schedule; the loss curve is saved.

    python examples/train_digits_cnn.py [--epochs 15] [--eager] [--plot digits_cnn_loss.png]
"""
import argparse
import time

import numpy as np

import jitgrad as jg
from jitgrad import nn

from train_digits import load_digits


class DigitsCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),   # 16 x 4 x 4
            nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2))  # 32 x 2 x 2
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.2), nn.Linear(128, 10))

    def forward(self, x):
        return self.head(self.features(x))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--eager", action="store_true", help="run op by op (debugging mode)")
    ap.add_argument("--plot", default="digits_cnn_loss.png", help="loss-curve PNG ('' for none)")
    args = ap.parse_args()

    jg.manual_seed(0)
    xtr, ytr, xte, yte = load_digits()
    xtr, xte = xtr.reshape(-1, 1, 8, 8), xte.reshape(-1, 1, 8, 8)
    model = DigitsCNN()
    opt = jg.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    steps = -(-len(xtr) // args.batch)
    sched = jg.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs * steps)

    @jg.jit_grad(argnums=(), eager=args.eager or None)
    def loss_fn(x, y):
        return nn.functional.cross_entropy(model(x), y)

    def accuracy(x, y):
        model.eval()         # running statistics, no dropout; jit_grad is not involved here
        with jg.no_grad():
            acc = float(np.mean(np.argmax(model(x).numpy(), axis=1) == y))
        model.train()
        return acc

    rng = np.random.default_rng(1)
    losses = []
    t0 = time.perf_counter()
    for epoch in range(args.epochs):
        order = rng.permutation(len(xtr))
        total = 0.0
        for s in range(steps):
            idx = order[s * args.batch:(s + 1) * args.batch]
            opt.zero_grad()
            loss, _ = loss_fn(xtr[idx], ytr[idx])
            opt.step()
            sched.step()
            losses.append(float(loss))
            total += float(loss)
        if (epoch + 1) % 5 == 0 or epoch == 0:
            print(f"epoch {epoch + 1:3d}  loss {total / steps:.4f}  test accuracy {accuracy(xte, yte):.3f}")
    dt = time.perf_counter() - t0
    info = loss_fn.cache_info() if hasattr(loss_fn, "cache_info") else None
    print(f"final: train accuracy {accuracy(xtr, ytr):.3f}, test accuracy {accuracy(xte, yte):.3f}, "
          f"{args.epochs * steps} steps in {dt:.2f} s" + (f" (traced signatures: {info.misses})" if info else ""))
    if args.plot:
        save_curve(losses, steps, args.plot)


def save_curve(losses, steps, path, xlabel="epoch", title="digits CNN, @jit_grad"):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no loss curve")
        return
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(np.arange(len(losses)) / steps, losses, lw=0.8)
    ax.set(xlabel=xlabel, ylabel="training loss (cross-entropy)", yscale="log", title=title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"loss curve: {path}")


if __name__ == "__main__":
    main()
