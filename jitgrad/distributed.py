"""Data-parallel training over MPI (mpi4py), as Horovod and PyTorch's DDP do it.

    mpiexec -n 2 python train.py

Every rank runs the same script on its own shard of the data (`shard`), starts from rank 0's
parameters (`broadcast_parameters`) and averages gradients before each optimiser step
(`average_gradients`, or `DataParallel` to overlap the averaging with an eager backward), so the
parameters stay identical on every rank. Gradients travel in a few large messages: flat buffers
of at most `bucket_mb` MB, parameters in reverse registration order (the order a backward pass
produces them), one in-place Allreduce each (ring allreduce moves about 2(N-1)/N times the
bytes per rank). A process started without `mpiexec`, or without mpi4py installed, is a world
of one: every function works and communicates nothing.
"""
from __future__ import annotations

import os
import shutil
import sys
import traceback
import zlib

import numpy as np

from tracer import Tensor

from . import pytree

__all__ = ["init", "rank", "world_size", "barrier", "all_reduce", "broadcast", "broadcast_parameters",
           "average_gradients", "shard", "DataParallel", "mpiexec"]

_STATE = {"comm": None, "init": False}


def init():
    """Join the MPI world (idempotent). With several ranks, an uncaught exception on any rank
    prints its traceback and aborts every rank (MPI_Abort) instead of leaving them waiting."""
    if _STATE["init"]:
        return
    _STATE["init"] = True
    try:
        from mpi4py import MPI
    except ImportError:          # no MPI: a world of one
        return
    _STATE["comm"] = MPI.COMM_WORLD
    if MPI.COMM_WORLD.Get_size() > 1:
        previous = sys.excepthook

        def abort_all(kind, value, tb):
            sys.stderr.write(f"jitgrad.distributed: rank {MPI.COMM_WORLD.Get_rank()} failed; aborting all ranks\n")
            traceback.print_exception(kind, value, tb)
            sys.stderr.flush()
            if previous is not sys.__excepthook__:
                previous(kind, value, tb)
            MPI.COMM_WORLD.Abort(1)
        sys.excepthook = abort_all


def _comm():
    init()
    return _STATE["comm"]


def rank():
    c = _comm()
    return 0 if c is None else c.Get_rank()


def world_size():
    c = _comm()
    return 1 if c is None else c.Get_size()


def barrier():
    c = _comm()
    if c is not None:
        c.Barrier()


def _mpi_op(op):
    from mpi4py import MPI
    ops = {"sum": MPI.SUM, "mean": MPI.SUM, "max": MPI.MAX, "min": MPI.MIN}
    if op not in ops:
        raise ValueError(f"all_reduce: op must be one of {sorted(ops)}, got {op!r}")
    return ops[op]


def _buffer(x):
    """(the ndarray to reduce in place, whether that is x's own memory)."""
    a = x.data if isinstance(x, Tensor) else x
    if isinstance(a, np.ndarray) and a.flags.c_contiguous and a.flags.writeable:
        return a, True
    return np.ascontiguousarray(np.array(a)), False


def all_reduce(x, op="sum"):
    """The elementwise sum ('mean', 'max', 'min') of x over all ranks; a writable C-contiguous
    ndarray (or a Tensor's data) is reduced in place and returned, anything else copied."""
    c = _comm()
    if op not in ("sum", "mean", "max", "min"):
        raise ValueError(f"all_reduce: op must be 'sum', 'mean', 'max' or 'min', got {op!r}")
    buf, own = _buffer(x)
    if c is not None and c.Get_size() > 1:
        from mpi4py import MPI
        c.Allreduce(MPI.IN_PLACE, buf, op=_mpi_op(op))
        if op == "mean":
            buf /= c.Get_size()   # integer arrays: use 'sum'
    if isinstance(x, Tensor):
        return x if own else Tensor(buf)
    return buf


def broadcast(x, root=0):
    """Rank `root`'s value of x on every rank (in place where x is writable and contiguous)."""
    c = _comm()
    buf, own = _buffer(x)
    if c is not None and c.Get_size() > 1:
        c.Bcast(buf, root=root)
    if isinstance(x, Tensor):
        return x if own else Tensor(buf)
    return buf


def _named(params_or_module):
    if hasattr(params_or_module, "named_parameters"):
        return list(params_or_module.named_parameters())
    return [(f"parameter {i}", p) for i, p in enumerate(params_or_module)]


def _check_same_everywhere(c, names, arrays, who):
    """Shapes and dtypes agree on every rank, else an error naming the first one that differs."""
    sig = [(n, tuple(a.shape), np.dtype(a.dtype).str) for n, a in zip(names, arrays)]
    every = c.allgather(sig)
    for r, other in enumerate(every):
        if len(other) != len(sig):
            raise RuntimeError(f"{who}: rank {c.Get_rank()} has {len(sig)} tensors, rank {r} has {len(other)}")
        for (n, s, d), (_, s2, d2) in zip(sig, other):
            if (s, d) != (s2, d2):
                raise RuntimeError(f"{who}: {n} is {np.dtype(d)}{list(s)} on rank {c.Get_rank()} but "
                                   f"{np.dtype(d2)}{list(s2)} on rank {r}")


def _agree(c, names, arrays, who, flags=()):
    """One small Allreduce per call: a checksum of the shapes and dtypes (max and -max, equal
    on every rank only if the checksums are), plus `flags` reduced by max. Only a mismatch pays
    for the allgather that names the offending tensor."""
    h = zlib.crc32(repr([(tuple(a.shape), np.dtype(a.dtype).str) for a in arrays]).encode())
    v = np.array([h, -h, *flags], np.int64)
    from mpi4py import MPI
    c.Allreduce(MPI.IN_PLACE, v, op=MPI.MAX)
    if v[0] != -v[1]:
        _check_same_everywhere(c, names, arrays, who)
        raise RuntimeError(f"{who}: the ranks disagree on the tensors' shapes or dtypes")
    return v[2:]


def broadcast_parameters(params_or_module, root=0):
    """Copy rank `root`'s parameters (and a module's buffers) to every rank, in place."""
    named = _named(params_or_module)
    if hasattr(params_or_module, "named_buffers"):
        named += [(n, b) for n, b in params_or_module.named_buffers() if b is not None]
    c = _comm()
    if c is None or c.Get_size() == 1:
        return params_or_module
    _check_same_everywhere(c, [n for n, _ in named], [t.data for _, t in named], "broadcast_parameters")
    for _, t in named:
        if not (t.data.flags.c_contiguous and t.data.flags.writeable):
            t.data = np.ascontiguousarray(t.data)
        c.Bcast(t.data, root=root)
    return params_or_module


def _buckets(arrays, bucket_mb):
    """Index lists: consecutive arrays of one dtype, at most bucket_mb MB each (one array may
    exceed it alone)."""
    limit, out, cur, size, dt = bucket_mb * (1 << 20), [], [], 0, None
    for i, a in enumerate(arrays):
        if cur and (a.dtype != dt or size + a.nbytes > limit):
            out.append(cur)
            cur, size = [], 0
        cur.append(i)
        size += a.nbytes
        dt = a.dtype
    if cur:
        out.append(cur)
    return out


def _average_flat(c, arrays, bucket_mb, scale):
    """sum over ranks of each array, times `scale`: one Allreduce per bucket."""
    from mpi4py import MPI
    out = [None] * len(arrays)
    for idx in _buckets(arrays, bucket_mb):
        flat = np.concatenate([arrays[i].ravel() for i in idx])
        c.Allreduce(MPI.IN_PLACE, flat)
        flat *= flat.dtype.type(scale)
        off = 0
        for i in idx:
            n = arrays[i].size
            out[i] = flat[off:off + n].reshape(arrays[i].shape)
            off += n
    return out


def _scale(c, weight):
    """1/world_size, or this rank's share of the total weight (uneven shards)."""
    if weight is None:
        return None, 1.0 / c.Get_size()
    from mpi4py import MPI
    total = np.array([float(weight)])
    c.Allreduce(MPI.IN_PLACE, total)
    return float(weight), 1.0 / total[0]


def average_gradients(params_or_module_or_grads, bucket_mb=25, weight=None):
    """Average gradients over ranks. Given parameters or a module, their `.grad` is replaced by
    the average (a parameter without a gradient on every rank stays without); given a pytree
    of gradient arrays (what jit_grad returns), the averaged pytree is returned. With uneven
    shards pass `weight=` this rank's sample count: the result is then the gradient of the
    whole batch's mean loss, sum_r weight_r * grad_r / sum_r weight_r."""
    c = _comm()
    tree = params_or_module_or_grads
    is_params = hasattr(tree, "named_parameters") or (
        isinstance(tree, (list, tuple)) and tree and all(isinstance(p, Tensor) and p.requires_grad for p in tree))
    if c is None or c.Get_size() == 1:
        return tree
    w, scale = _scale(c, weight)
    if not is_params:
        leaves, td = pytree.flatten(tree)
        arrays = [np.asarray(x.data if isinstance(x, Tensor) else x) for x in leaves]
        _agree(c, [f"gradient leaf {i}" for i in range(len(arrays))], arrays, "average_gradients")
        if w is not None:
            arrays = [a * a.dtype.type(w) for a in arrays]
        return pytree.unflatten(td, _average_flat(c, arrays[::-1], bucket_mb, scale)[::-1])
    named = _named(tree)[::-1]          # reverse registration order: the backward's order
    has = _agree(c, [n for n, _ in named], [p.data for _, p in named], "average_gradients",
                 [p.grad is not None for _, p in named])
    live = [(n, p) for (n, p), h in zip(named, has) if h]
    arrays = [p.grad.data if p.grad is not None else np.zeros_like(p.data) for _, p in live]
    for (n, p), g in zip(live, arrays):
        if g.shape != p.shape:
            raise RuntimeError(f"average_gradients: {n} has shape {list(p.shape)} but its .grad {list(g.shape)}")
    if w is not None:
        arrays = [a * a.dtype.type(w) for a in arrays]
    for (_, p), g in zip(live, _average_flat(c, arrays, bucket_mb, scale)):
        p.grad = Tensor(g)
    return tree


class DataParallel:
    """Overlap gradient averaging with an eager backward (PyTorch DDP's reducer): each bucket's
    non-blocking Allreduce starts as soon as the backward has produced all its gradients (a
    hook per parameter); `synchronize()` after `backward()` waits for them and writes the
    averaged `.grad`. Call it on every rank after every backward, before the optimiser step.

        ddp = DataParallel(model)
        loss = loss_fn(model(x), y); loss.backward(); ddp.synchronize(); opt.step()
    """

    def __init__(self, module, bucket_mb=25):
        self.module = module
        self.params = [p for _, p in _named(module) if p.requires_grad][::-1]
        self.buckets = _buckets([p.data for p in self.params], bucket_mb)
        self.bucket_of = {id(self.params[i]): b for b, idx in enumerate(self.buckets) for i in idx}
        self._reset()
        if world_size() > 1:
            _check_same_everywhere(_comm(), [f"parameter {i}" for i in range(len(self.params))],
                                   [p.data for p in self.params], "DataParallel")
            for p in self.params:
                p.register_hook(self._hook(p))

    def __call__(self, *args, **kwargs):
        return self.module(*args, **kwargs)

    def _reset(self):
        self.ready = {}                      # id(param) -> its accumulated gradient this step
        self.pending = {}                    # bucket -> (request, flat buffer)
        self.launched = []

    def _hook(self, p):
        def hook(g):
            old = p.grad
            self.ready[id(p)] = g.data if old is None else old.data + g.data
            b = self.bucket_of[id(p)]
            if all(id(self.params[i]) in self.ready for i in self.buckets[b]):
                self._launch(b)
            return g
        return hook

    def _launch(self, b):
        from mpi4py import MPI
        idx = self.buckets[b]
        flat = np.concatenate([np.asarray(self.ready.get(id(self.params[i]), np.zeros_like(self.params[i].data)),
                                          self.params[i].dtype).ravel() for i in idx])
        self.pending[b] = (_comm().Iallreduce(MPI.IN_PLACE, flat), flat)
        self.launched.append(b)

    def synchronize(self):
        """Wait for the averaged gradients and write them to `.grad` (buckets the backward left
        incomplete, e.g. unused parameters, are reduced now with zeros there)."""
        if world_size() == 1:
            return
        from mpi4py import MPI
        for b in range(len(self.buckets)):
            if b not in self.pending:
                self._launch(b)
        MPI.Request.Waitall([r for r, _ in self.pending.values()])
        n = world_size()
        for b, (_, flat) in self.pending.items():
            flat /= n
            off = 0
            for i in self.buckets[b]:
                p = self.params[i]
                p.grad = Tensor(flat[off:off + p.size].reshape(p.shape))
                off += p.size
        self._reset()


def shard(n_items, seed=None, epoch=0):
    """The indices of n_items this rank owns: disjoint across ranks, together all of them, equal
    counts up to one (PyTorch's DistributedSampler without its padding). With a seed they are
    shuffled, the same permutation on every rank, a new one per epoch."""
    order = np.arange(n_items) if seed is None else np.random.default_rng((seed, epoch)).permutation(n_items)
    return order[rank()::world_size()]


def mpiexec():
    """The mpiexec beside this Python (the mpich wheel's, in a venv), else the one on PATH, or
    None when the dist extra is missing."""
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return None
    here = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    return here if os.path.exists(here) else shutil.which("mpiexec")
