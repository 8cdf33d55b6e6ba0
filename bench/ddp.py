"""W10's rank-side runner: the W2-style MLP step (jit_grad value and gradients on this rank's
share of the batch, then `jg.distributed.average_gradients`) timed on every rank, and the
allreduce alone after a barrier (inside the step it also waits for the slower rank); rank 0
prints one JSON line. The harness runs it as one process and under `mpiexec -n 2`, one thread each.

    mpiexec -n 2 python -m bench.ddp --sizes 784,256,256,10 --batch 128 --reps 30
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np


def runner_args(argv):
    """The options of both W10 runners (this one and bench.ddp_torch)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="784,256,256,10")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--port", type=int, default=29511)   # where torch's ranks meet (unused by MPI)
    return ap.parse_args(argv)


def main(argv=None):
    a = runner_args(argv)
    import jitgrad as jg
    from jitgrad import distributed as dist
    from .systems import _jg_ops
    from .workloads import _mlp_params, _rng, w2_loss

    dist.init()
    sizes = tuple(int(s) for s in a.sizes.split(","))
    r = _rng()
    ps = _mlp_params(r, sizes, np.float32)
    X = r.standard_normal((a.batch, sizes[0])).astype(np.float32)
    y = r.integers(0, sizes[-1], a.batch).astype(np.int64)
    own = dist.shard(a.batch)
    Xo, yo = X[own], y[own]
    o = _jg_ops()
    f = jg.jit_grad(lambda *args: w2_loss(o, *args), argnums=tuple(range(len(ps))))
    for _ in range(3):
        dist.average_gradients(f(*ps, Xo, yo)[1])
    steps, sync, comm = [], [], []

    def slowest(t):     # the slowest rank sets the pace
        return dist.all_reduce(np.array([t]), "max")[0]
    for _ in range(a.reps):
        dist.barrier()
        t0 = time.perf_counter()
        _, g = f(*ps, Xo, yo)
        t1 = time.perf_counter()
        dist.average_gradients(g)
        t2 = time.perf_counter()
        steps.append(slowest(t2 - t0))
        sync.append(slowest(t2 - t1))       # the allreduce and the wait for the slower rank
        dist.barrier()                      # the allreduce alone
        t0 = time.perf_counter()
        dist.average_gradients(g)
        comm.append(slowest(time.perf_counter() - t0))
    if dist.rank() == 0:
        many = dist.world_size() > 1
        print(json.dumps({"ranks": dist.world_size(), "params": int(sum(p.size for p in ps)),
                          "batch": a.batch, "step_s": float(np.median(steps)),
                          "allreduce_s": float(np.median(comm)) if many else 0.0,
                          "sync_s": float(np.median(sync)) if many else 0.0,
                          "samples_per_s": a.batch / float(np.median(steps))}))


if __name__ == "__main__":
    main()
