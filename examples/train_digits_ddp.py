"""Data-parallel training of the digits classifier over MPI: each rank computes @jit_grad
gradients on its shard of every batch, the ranks average them (one fused Allreduce per
bucket) and take the same optimiser step, so the model stays identical everywhere.

    mpiexec -n 2 python examples/train_digits_ddp.py [--epochs 30]
    python examples/train_digits_ddp.py          # a world of one: the single-process result

Needs the dist extra (pip install "jitgrad[dist]": mpi4py and the mpich wheel with mpiexec).
"""
import argparse
import time

import numpy as np

import jitgrad as jg
from jitgrad import distributed as dist, nn

from train_digits import load_digits


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--batch", type=int, default=64, help="global batch, split over the ranks")
    args = ap.parse_args()

    dist.init()
    rank, size = dist.rank(), dist.world_size()
    xtr, ytr, xte, yte = load_digits()
    jg.manual_seed(rank)                 # different initialisations ...
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    dist.broadcast_parameters(model)     # ... until rank 0's are everyone's
    opt = jg.optim.Adam(model.parameters(), lr=3e-3)

    @jg.jit_grad(argnums=())
    def loss_fn(x, y):
        return nn.functional.cross_entropy(model(x), y)

    def accuracy(x, y):
        with jg.no_grad():
            return float(np.mean(np.argmax(model(x).numpy(), axis=1) == y))

    steps = -(-len(xtr) // args.batch)
    t0 = time.perf_counter()
    for epoch in range(args.epochs):
        order = np.random.default_rng((1, epoch)).permutation(len(xtr))   # the same on every rank
        for s in range(steps):
            batch = order[s * args.batch:(s + 1) * args.batch]
            mine = batch[dist.shard(len(batch))]
            opt.zero_grad()
            loss, _ = loss_fn(xtr[mine], ytr[mine])
            dist.average_gradients(model, weight=len(mine))    # uneven last batch: weighted
            opt.step()
        if rank == 0 and ((epoch + 1) % 10 == 0 or epoch == 0):
            print(f"epoch {epoch + 1:3d}  test accuracy {accuracy(xte, yte):.3f}")
    dt = time.perf_counter() - t0
    same = dist.all_reduce(np.array([accuracy(xte, yte)]), "max")[0] == accuracy(xte, yte)
    if rank == 0:
        print(f"final: {size} rank(s), test accuracy {accuracy(xte, yte):.3f}, {args.epochs * steps} steps in "
              f"{dt:.2f} s, ranks agree: {bool(same)}")


if __name__ == "__main__":
    main()
