"""W10's peer: the same MLP step in PyTorch, on 2 ranks under DistributedDataParallel with the
gloo backend (its CPU allreduce, bucketed and overlapped with the backward pass), or in one plain
process. Launched like bench.ddp (rank and world from mpiexec's PMI_RANK/PMI_SIZE; the ranks meet
over TCP on 127.0.0.1:--port); rank 0 prints one JSON line.

    mpiexec -n 2 python -m bench.ddp_torch --sizes 784,256,256,10 --batch 128 --port 29511
"""
from __future__ import annotations

import json
import os
import time

import numpy as np

from .ddp import runner_args


def _step(a, rank, world):
    """(one training step, the parameters): the W2 MLP on this rank's shard, under DDP if world > 1."""
    import torch
    from .systems import _torch_ops
    from .workloads import _mlp_params, _rng, w2_loss

    sizes = tuple(int(s) for s in a.sizes.split(","))
    r = _rng()
    ps = [torch.nn.Parameter(torch.from_numpy(p)) for p in _mlp_params(r, sizes, np.float32)]
    X = r.standard_normal((a.batch, sizes[0])).astype(np.float32)
    y = r.integers(0, sizes[-1], a.batch).astype(np.int64)
    lo, hi = rank * a.batch // world, (rank + 1) * a.batch // world   # bench.ddp's shards
    Xo, yo = torch.from_numpy(X[lo:hi]), torch.from_numpy(y[lo:hi])
    o = _torch_ops()

    class MLP(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.ps = torch.nn.ParameterList(ps)

        def forward(self, x, t):
            return w2_loss(o, *self.ps, x, t)
    model = MLP()
    if world > 1:
        model = torch.nn.parallel.DistributedDataParallel(model)

    def step():
        for p in ps:
            p.grad = None
        loss = model(Xo, yo)
        loss.backward()             # under DDP: gradients averaged over the ranks in here
        return loss
    return step, ps


def main(argv=None):
    a = runner_args(argv)
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    rank, world = int(os.environ.get("PMI_RANK", 0)), int(os.environ.get("PMI_SIZE", 1))
    if world > 1:
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{a.port}", rank=rank, world_size=world)
    step, ps = _step(a, rank, world)

    def slowest(t):
        if world == 1:
            return t
        v = torch.tensor([t], dtype=torch.float64)
        dist.all_reduce(v, op=dist.ReduceOp.MAX)
        return float(v[0])
    for _ in range(3):
        step()
    steps, comm = [], []
    flat = torch.zeros(sum(p.numel() for p in ps))
    for _ in range(a.reps):
        if world > 1:
            dist.barrier()
        t0 = time.perf_counter()
        step()
        steps.append(slowest(time.perf_counter() - t0))
        if world > 1:               # the allreduce alone, of the gradients' size (DDP overlaps it)
            dist.barrier()
            t0 = time.perf_counter()
            dist.all_reduce(flat)
            comm.append(slowest(time.perf_counter() - t0))
    if rank == 0:
        print(json.dumps({"ranks": world, "params": int(sum(p.numel() for p in ps)), "batch": a.batch,
                          "step_s": float(np.median(steps)),
                          "allreduce_s": float(np.median(comm)) if comm else 0.0,
                          "samples_per_s": a.batch / float(np.median(steps))}), flush=True)
    if world > 1:
        dist.destroy_process_group()

if __name__ == "__main__":
    main()
