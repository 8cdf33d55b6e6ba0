"""jg.distributed: run by the main suite as a world of one, and by CI under `mpiexec -n 2`
(`.ci/test`), where every rank runs every test in the same order (collectives must match).
The two-rank checks skip in a world of one; the failing-rank check launches its own mpiexec."""
import subprocess
import sys
import time

import numpy as np
import pytest

import jitgrad as jg
from jitgrad import distributed as dist, nn

N = dist.world_size()
two_ranks = pytest.mark.skipif(N != 2, reason="needs `mpiexec -n 2` (see .ci/test)")


def _model(seed):
    jg.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 3)).double()


def _data(n=8):
    r = np.random.default_rng(42)
    return r.standard_normal((n, 5)), r.integers(0, 3, n)


def _loss(m, x, y):
    return nn.functional.cross_entropy(m(x), y)


def _full_batch_grads(m, x, y):
    for p in m.parameters():
        p.grad = None
    _loss(m, x, y).backward()
    return [p.grad.numpy().copy() for p in m.parameters()]


def _sharded(n, seed):
    """(model, data, this rank's items, full-batch gradients) with .grad from this rank's shard."""
    x, y = _data(n)
    own = dist.shard(n)
    m = _model(seed)
    want = _full_batch_grads(m, x, y)
    for p in m.parameters():
        p.grad = None
    _loss(m, x[own], y[own]).backward()
    return m, x, y, own, want


def test_world_of_one_without_mpiexec_or_the_extra():
    if N != 1:
        pytest.skip("a world of one only")
    assert dist.rank() == 0 and dist.world_size() == 1
    a = np.arange(4.0)
    assert dist.all_reduce(a, "mean") is a and np.array_equal(a, np.arange(4.0))
    assert np.array_equal(dist.shard(5), np.arange(5))
    m = _model(0)
    g = {"w": np.ones(3)}
    assert dist.average_gradients(g) is g and dist.broadcast_parameters(m) is m


def test_all_reduce_ops_in_place_and_broadcast():
    r = dist.rank()
    for op, want in (("sum", sum(range(1, N + 1))), ("mean", (N + 1) / 2), ("max", N), ("min", 1)):
        a = np.full(3, r + 1.0)
        out = dist.all_reduce(a, op)
        assert out is a and np.array_equal(a, np.full(3, float(want))), op
    t = jg.tensor(np.full(2, float(r)))
    assert dist.all_reduce(t, "sum") is t and np.array_equal(t.numpy(), np.full(2, N * (N - 1) / 2))
    b = np.arange(3.0) + 10 * r
    assert np.array_equal(dist.broadcast(b, root=0), np.arange(3.0))
    with pytest.raises(ValueError, match="op must be"):
        dist.all_reduce(np.zeros(1), "prod")


def test_shards_are_disjoint_covering_and_balanced():
    for seed in (None, 3):
        own = dist.shard(11, seed=seed, epoch=2)
        every = np.concatenate(jg_allgather(own))
        assert sorted(every) == list(range(11)) and abs(len(own) - 11 / N) < 1
    assert not np.array_equal(dist.shard(11, seed=3, epoch=0), dist.shard(11, seed=3, epoch=1))


def jg_allgather(x):
    if N == 1:
        return [x]
    from mpi4py import MPI
    return MPI.COMM_WORLD.allgather(x)


@two_ranks
def test_equal_shards_give_the_full_batch_gradient_eager_jit_and_overlapped():
    m, x, y, own, want = _sharded(8, 0)     # eager .grad of a module
    dist.average_gradients(m)
    for g, w in zip(m.parameters(), want):
        np.testing.assert_allclose(g.grad.numpy(), w, rtol=0, atol=1e-10)
    # a gradient pytree from jit_grad
    params = [p.data for p in m.parameters()]

    def loss(ps, x, y):
        h = jg.tanh(x @ ps[0].T + ps[1])
        return nn.functional.cross_entropy(h @ ps[2].T + ps[3], y)
    _, grads = jg.jit_grad(loss)(params, x[own], y[own])
    for g, w in zip(dist.average_gradients(grads), want):
        np.testing.assert_allclose(g, w, rtol=0, atol=1e-10)
    # overlapped with the eager backward (hooks), small buckets so there are several
    ddp = dist.DataParallel(m, bucket_mb=1e-4)
    assert len(ddp.buckets) > 1
    for p in m.parameters():
        p.grad = None
    _loss(ddp, x[own], y[own]).backward()
    assert ddp.launched, "no bucket started during the backward"
    ddp.synchronize()
    for g, w in zip(m.parameters(), want):
        np.testing.assert_allclose(g.grad.numpy(), w, rtol=0, atol=1e-10)


@two_ranks
def test_uneven_shards_are_weighted():
    m, x, y, own, want = _sharded(7, 1)
    dist.average_gradients(m, weight=len(own))
    for g, w in zip(m.parameters(), want):
        np.testing.assert_allclose(g.grad.numpy(), w, rtol=0, atol=1e-10)


@two_ranks
def test_parameters_stay_bit_identical_across_ranks():
    m = _model(seed=100 + dist.rank())          # different on each rank until broadcast
    dist.broadcast_parameters(m)
    opt = jg.optim.Adam(m.parameters(), lr=0.05)
    x, y = _data(16)
    for epoch in range(4):
        own = dist.shard(16, seed=0, epoch=epoch)
        opt.zero_grad()
        _loss(m, x[own], y[own]).backward()
        dist.average_gradients(m)
        opt.step()
    mine = np.concatenate([p.numpy().ravel() for p in m.parameters()])
    for other in jg_allgather(mine):
        assert np.array_equal(other.view(np.uint64), mine.view(np.uint64))


@two_ranks
def test_mismatched_parameters_are_named():
    m = nn.Sequential(nn.Linear(4, 3 + dist.rank()))
    with pytest.raises(RuntimeError, match=r"0\.weight is float32\[\d, 4\] on rank \d but float32\[\d, 4\] on rank \d"):
        dist.broadcast_parameters(m)
    with pytest.raises(RuntimeError, match="gradient leaf 0"):
        dist.average_gradients([np.zeros(2 + dist.rank())])


FAILING = """
import time, jitgrad as jg
d = jg.distributed
d.init()
if d.rank() == 1:
    raise ValueError("rank one fails")
d.barrier()          # rank 0 would wait here forever without the abort
time.sleep(60)
"""


def test_a_failing_rank_aborts_the_whole_job_quickly():
    if N != 1:
        pytest.skip("launches its own mpiexec")
    mpiexec = dist.mpiexec()
    if mpiexec is None:
        pytest.skip("the dist extra (mpi4py and an MPI runtime) is not installed")
    t0 = time.perf_counter()
    r = subprocess.run([mpiexec, "-n", "2", sys.executable, "-c", FAILING], capture_output=True, text=True,
                       timeout=120)
    took = time.perf_counter() - t0
    why = f"exit {r.returncode} after {took:.1f} s; stdout: {r.stdout[-1000:]!r}; stderr: {r.stderr[-2000:]!r}"
    assert r.returncode != 0 and took < 60, why
    assert "rank one fails" in r.stderr and "aborting all ranks" in r.stderr, why
