"""Train a classifier on scikit-learn's handwritten digits with @jit_grad.

The loss function captures the model's parameters; jit_grad compiles forward and backward
into one kernel once, then every step runs compiled code and fills each parameter's `.grad`
(as loss.backward() would), so a standard optimizer takes the step.

    python examples/train_digits.py [--epochs 30] [--eager]
"""
import argparse
import time

import numpy as np

import jitgrad as jg
from jitgrad import nn

try:
    from tqdm import trange
except ImportError:  # progress bar is optional
    trange = None


def load_digits():
    try:
        from sklearn.datasets import load_digits as sk_load
    except ImportError:
        raise SystemExit("this example needs scikit-learn (pip install 'jitgrad[examples]')")
    d = sk_load()
    x = (d.data / 16.0).astype(np.float32)
    y = d.target.astype(np.int64)
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(x))
    split = int(0.8 * len(x))
    return x[idx[:split]], y[idx[:split]], x[idx[split:]], y[idx[split:]]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--eager", action="store_true", help="run op by op (debugging mode)")
    args = ap.parse_args()

    xtr, ytr, xte, yte = load_digits()
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    opt = jg.optim.Adam(model.parameters(), lr=3e-3)

    @jg.jit_grad(has_aux=True, eager=args.eager or None)
    def loss_fn(x, y):
        logits = model(x)
        return nn.functional.cross_entropy(logits, y), logits

    def accuracy(x, y):
        with jg.no_grad():
            return float(np.mean(np.argmax(model(x).numpy(), axis=1) == y))

    rng = np.random.default_rng(1)
    # the ragged last batch is kept: it is a second batch size, so jit_grad compiles kernels that
    # take the batch size as an argument once (API.md "Shapes that change") and nothing after
    steps = -(-len(xtr) // args.batch)
    epochs = trange(args.epochs, desc="training", unit="epoch") if trange else range(args.epochs)
    t0 = time.perf_counter()
    for epoch in epochs:
        order = rng.permutation(len(xtr))
        total = 0.0
        for s in range(steps):
            idx = order[s * args.batch:(s + 1) * args.batch]
            opt.zero_grad()
            (loss, _), _ = loss_fn(xtr[idx], ytr[idx])
            opt.step()
            total += float(loss)
        msg = f"epoch {epoch + 1:3d}  loss {total / steps:.4f}  test accuracy {accuracy(xte, yte):.3f}"
        if trange:
            epochs.set_postfix_str(msg[10:])
        elif (epoch + 1) % 5 == 0 or epoch == 0:
            print(msg)
    dt = time.perf_counter() - t0
    info = loss_fn.cache_info() if hasattr(loss_fn, "cache_info") else None
    print(f"final: train accuracy {accuracy(xtr, ytr):.3f}, test accuracy {accuracy(xte, yte):.3f}, "
          f"{args.epochs * steps} steps in {dt:.2f} s"
          + (f" (traced signatures: {info.misses}, cached calls: {info.hits}, compiled: "
             f"{[_shapes(sig) for sig in info.signatures]})" if info else ""))


def _shapes(sig):
    return " ".join(str(tuple(part[0])) for part in sig if isinstance(part, tuple) and len(part) == 2)


if __name__ == "__main__":
    main()
