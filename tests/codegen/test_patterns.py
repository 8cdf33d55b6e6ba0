"""Loop-nest patterns: one compiled kernel per nest shape, shared across sizes, programs and
unrolled steps; the driver passes sizes, strides and size-derived constants at run time."""
import os
import subprocess
import time
import sys
import textwrap
import warnings

import numpy as np
import pytest
from numba.core import event

from codegen.llvm_cpu import compiled_count

import tracer
from tracer import ops as T

from codegen import compile_program, kernel_cache, numba_cpu
from codegen.ir import Load, stmt_exprs, walk_expr, walk_stmts
from codegen.patterns import abstract, split_nests
from codegen import run_pipeline

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CACHE = os.environ.get("JITGRAD_CACHE_DIR")


def numba_compiles(fn):
    """(result of fn(), number of functions Numba compiled meanwhile: kernels and helpers)."""
    ours = compiled_count()
    with event.install_recorder("numba:compile") as rec:
        out = fn()
    return out, compiled_count() - ours + sum(1 for _, ev in rec.buffer if ev.is_start)


def net(x, w, b):
    """Matmul, bias, activation, row and column reductions, a mean over the batch and a
    logsumexp: sizes appear as extents, strides and the mean's 1/B."""
    h = T.tanh(x @ w + b)
    return T.mean(T.sum(h * h, 1)) + T.sum(T.max(x, 1)) * 0.25 + T.mean(T.logsumexp(h, 1))


def _args(batch, seed=0, dtype=np.float64):
    r = np.random.default_rng(seed)
    return (r.standard_normal((batch, 5)).astype(dtype), r.standard_normal((5, 4)).astype(dtype),
            r.standard_normal(4).astype(dtype))


def _check(c, p, args):
    full = list(args) + list(p.const_values())
    for g, w in zip(c(*full), tracer.evaluate(p, *full)):
        assert g.shape == w.shape and g.dtype == w.dtype
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_a_kernel_compiled_at_one_size_serves_every_other(dtype):
    p3 = tracer.trace_value_and_grad(net, *_args(3, dtype=dtype))
    c3 = compile_program(p3, cache_dir=CACHE, dynamic=True, check=True)
    keys = {lk.key for lk in c3.kernels.values()}
    for batch in (7, 12, 2, 300, 1, 0):
        args = _args(batch, seed=batch, dtype=dtype)
        p = tracer.trace_value_and_grad(net, *args)
        c, n = numba_compiles(lambda: compile_program(p, cache_dir=CACHE, dynamic=True, check=True))
        tol = dict(rtol=2e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
        full = list(args) + list(p.const_values())
        for g, w in zip(c(*full), tracer.evaluate(p, *full)):
            np.testing.assert_allclose(g, w, **tol)
        if batch in (7, 12, 2):   # same structure: every kernel reused, nothing compiled
            assert n == 0 and {lk.key for lk in c.kernels.values()} <= keys, (batch, c.source)


def test_mean_over_a_dynamic_dimension_divides_by_its_run_time_size():
    f = lambda x: T.mean(x * 3.0)   # noqa: E731
    c4 = compile_program(tracer.trace_value_and_grad(f, np.ones(4)), cache_dir=CACHE, dynamic=True)
    x = np.arange(10.0)
    p = tracer.trace_value_and_grad(f, x)
    c10, n = numba_compiles(lambda: compile_program(p, cache_dir=CACHE, dynamic=True))
    assert n == 0 and c10.kernels.keys() == c4.kernels.keys()
    value, grad = c10(x)
    assert value == pytest.approx(x.mean() * 3) and np.allclose(grad, 0.3)


def test_static_kernels_bake_sizes_in_and_dynamic_ones_take_them_as_arguments():
    p = tracer.trace_value_and_grad(net, *_args(6))
    static = compile_program(p, cache_dir=CACHE)
    dynamic = compile_program(p, cache_dir=CACHE, dynamic=True)
    assert "range(6)" in static.source and "range(6)" not in dynamic.source
    assert "range(n" in dynamic.source and "K0(" in dynamic.driver_source
    _check(static, p, _args(6))
    _check(dynamic, p, _args(6))


def test_a_second_program_that_shares_nests_compiles_only_its_own(tmp_path):
    x, w, b = _args(9, seed=3)
    first = compile_program(tracer.trace_value_and_grad(net, x, w, b), cache_dir=tmp_path)
    k = float(np.random.default_rng().uniform(1, 2))      # a nest no earlier run compiled
    other = tracer.trace_value_and_grad(lambda x, w, b: net(x, w, b) + T.sum(T.sin(x * k)), x, w, b)
    c = compile_program(other, cache_dir=tmp_path)
    _check(c, other, (x, w, b))
    shared = [lk for lk in c.kernels.values() if lk.key in {k.key for k in first.kernels.values()}]
    assert len(shared) >= 2 and all(lk.origin == "memory" for lk in shared), c.source
    assert 0 < c.compiled_kernels < len(c.kernels)


def test_unrolled_steps_share_kernels():
    """The steps of an unrolled RNN are one set of kernels: 16 steps need few more than 4."""
    r = np.random.default_rng(1)
    wx, wh = r.standard_normal((3, 6)) * 0.5, r.standard_normal((6, 6)) * 0.5

    def rnn(steps):
        xs = r.standard_normal((steps, 2, 3))

        def f(wx, wh):
            h = T.tanh(xs[0] @ wx)
            for t in range(1, steps):
                h = T.tanh(xs[t] @ wx + h @ wh)
            return T.sum(h * h)
        p = tracer.trace_value_and_grad(f, wx, wh)
        c = compile_program(p, cache_dir=CACHE)
        _check(c, p, (wx, wh))
        return c
    c4, c16 = rnn(4), rnn(16)
    assert c16.driver_source.count("K") > 2 * c4.driver_source.count("K")     # many more nests ...
    assert len(c16.kernels) <= len(c4.kernels) + 6, (len(c4.kernels), len(c16.kernels))  # ... same kernels


def test_blas_rnn_steps_add_no_kernels_but_the_sum_links():
    """At BLAS sizes (bench R4/R32): `xs[t] @ wx` reads xs in place (no copy nests), the per-step
    zero-fills and casts are one kernel each (not grouped by how many steps there are), and an
    in-place step picks its operand by structure, not by buffer name. What 32 steps add to 4
    is the gradient sums' repeated link, one per gradient shape."""
    r = np.random.default_rng(2)
    ws = [r.standard_normal(s) / 8 for s in ((32, 64), (64, 64), (64,), (64, 1))]

    def rnn(steps):
        xs = r.standard_normal((steps, 32, 32))

        def f(wx, wh, b, wo):
            h = T.tanh(xs[0] @ wx + b)
            for t in range(1, steps):
                h = T.tanh(xs[t] @ wx + h @ wh + b)
            return T.mean((h @ wo) ** 2)
        p = tracer.trace_value_and_grad(f, *ws)
        c = compile_program(p, cache_dir=CACHE)
        _check(c, p, ws)
        return c
    c4, c32 = rnn(4), rnn(32)
    assert all("a4[" not in lk.source for lk in c4.kernels.values()), c4.source   # xs: BLAS reads it
    assert len(c32.kernels) <= len(c4.kernels) + 3, (len(c4.kernels), len(c32.kernels), c32.source)


def test_patterns_rename_buffers_and_abstract_offsets():
    x = np.arange(24.0).reshape(4, 6)
    p = tracer.trace_value_and_grad(lambda x: T.sum(x[1] * x[2]) + T.sum(x[3] * x[0]), x)
    k = run_pipeline(p)
    pats = [abstract(n, dynamic=False) for n in split_nests(k.body)]
    seen = set()
    for pat in pats:
        loads = {e.buf.name for s in walk_stmts(pat.body) for x in stmt_exprs(s) for e in walk_expr(x)
                 if isinstance(e, Load)}
        assert loads <= {f"b{i}" for i in range(len(pat.buffers))}, loads
        seen |= loads
    assert seen
    srcs = "".join(numba_cpu.render_pattern(pat, True) for pat in pats)
    assert "range(6)" in srcs and "12" not in srcs and "18" not in srcs, srcs   # rows 2, 3: offsets are arguments
    c = compile_program(p, cache_dir=CACHE)
    _check(c, p, (x,))


SCRIPT = textwrap.dedent("""
    import json, sys, numpy as np, tracer
    from tracer import ops as T
    from codegen import compile_program
    k = float(sys.argv[1])
    x = np.linspace(-1, 1, 11)
    p = tracer.trace_value_and_grad(lambda x: T.sum(T.tanh(x * k) * x), x)
    c = compile_program(p, dynamic=True)
    v, g = c(x)
    print(json.dumps(dict(value=float(v), grad=g.tolist(), compiled=c.compiled_kernels)))
""")


def test_two_processes_compiling_the_same_pattern_at_once(tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT, JITGRAD_CACHE_DIR=str(tmp_path))
    procs = [subprocess.Popen([sys.executable, "-c", SCRIPT, k], env=env, cwd=ROOT, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for k in ("1.7", "2.3")]
    import json
    outs = []
    for pr in procs:
        out, err = pr.communicate(timeout=240)
        assert pr.returncode == 0, err
        outs.append(json.loads(out.strip().splitlines()[-1]))
    assert sum(o["compiled"] for o in outs) == 1, outs      # one compiled, the other loaded it
    for o, k in zip(outs, (1.7, 2.3)):
        x = np.linspace(-1, 1, 11)
        assert o["value"] == pytest.approx(float(np.sum(np.tanh(x * k) * x)), rel=1e-12)
    files = list(tmp_path.glob("jg_*.py")) + list(tmp_path.glob("jgl_*.o"))
    assert len(files) == 1, files


def test_a_foreign_cache_entry_is_rebuilt(tmp_path, kernel_compiler):
    """A kernel file holding another kernel (valid checksum, wrong key) is not trusted."""
    x = np.linspace(0, 1, 5)
    k = 1.0 if kernel_compiler == "llvm" else 2.0      # (keys the other variant did not load)
    pa = tracer.trace_value_and_grad(lambda x: T.sum(T.exp(x) * x * k), x)
    pb = tracer.trace_value_and_grad(lambda x: T.sum(T.sin(x) * x * k), x)
    ca, cb = compile_program(pa, cache_dir=tmp_path), compile_program(pb, cache_dir=tmp_path)
    (la,), (lb,) = ca.kernels.values(), cb.kernels.values()
    name = "jgl_{}.o" if kernel_compiler == "llvm" else "jg_{}.py"
    (tmp_path / name.format(lb.key)).write_bytes((tmp_path / name.format(la.key)).read_bytes())
    numba_cpu._MEM.pop(lb.key, None)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        cb2 = compile_program(pb, cache_dir=tmp_path)
    assert any("corrupt" in str(m.message) for m in w)
    _check(cb2, pb, (x,))


def _many_kernels_program():
    """A program of several distinct nests no earlier run compiled (random constants, static)."""
    k = float(np.random.default_rng().uniform(1, 2))
    x = np.linspace(-1, 1, 12).reshape(3, 4)
    f = lambda x: (T.sum(T.tanh(x * k), 0) @ T.exp(x.T * k)).sum() + T.sum(T.max(x * k, 1)) + T.sum(T.sin(x) * k)  # noqa: E731
    return tracer.trace_value_and_grad(f, x), x


def test_helper_processes_compile_part_of_a_programs_kernels(tmp_path, monkeypatch):
    monkeypatch.setattr(numba_cpu.llvm_cpu, "COMPILER", "numba")    # helpers compile Numba's kernels
    from codegen import compile_pool
    monkeypatch.setenv("JITGRAD_COMPILE_WORKERS", "1")
    sent, real = [], compile_pool.submit

    def recording(jobs):
        batch = real(jobs)
        sent.extend(k for _, keys in batch.sent for k in keys)
        return batch
    monkeypatch.setattr(compile_pool, "submit", recording)
    p, x = _many_kernels_program()
    c = compile_program(p, cache_dir=tmp_path)
    _check(c, p, (x,))
    new = [lk for lk in c.kernels.values() if lk.origin != "memory"]
    assert len(new) >= compile_pool.MIN_JOBS and all(lk.origin == "compiled" for lk in new), c.source
    assert all((tmp_path / f"jg_{lk.key}.py").exists() for lk in new)
    assert sent and set(sent) < {lk.key for lk in new}      # a helper took a share, the caller the rest


def test_a_helper_compiles_llvm_kernels_from_the_back_while_the_caller_takes_the_front(tmp_path, monkeypatch):
    """compile_pool.share: the helper compiles the new kernels it is given into the disk cache
    (no answer awaited); the caller then finds them there, and either side's file lock makes
    a kernel compiled once. Same results as eager."""
    from codegen import compile_pool
    monkeypatch.setenv("JITGRAD_COMPILE_WORKERS", "1")
    monkeypatch.setattr(numba_cpu, "SHARE_MIN_COLD", 2)
    monkeypatch.setattr(numba_cpu, "SHARE_MIN", 2)
    shared, real = [], compile_pool.share
    monkeypatch.setattr(compile_pool, "share", lambda jobs: shared.extend(jobs) or real(jobs))
    p, x = _many_kernels_program()
    c = compile_program(p, cache_dir=tmp_path)
    _check(c, p, (x,))
    keys = [j[1] for j in shared]
    assert keys and keys == [lk.key for lk in c.kernels.values() if lk.key in keys][::-1]
    deadline = time.time() + 60       # the helper goes through all of them (loading what it finds)
    while time.time() < deadline and not all((tmp_path / f"jgl_{k}.o").exists() for k in keys):
        time.sleep(0.05)
    assert all(kernel_cache.unseal(tmp_path / f"jgl_{k}.o", numba_cpu.llvm_cpu._MAGIC, k) for k in keys)


def test_a_dead_helper_leaves_its_kernels_to_the_caller(tmp_path, monkeypatch):
    monkeypatch.setattr(numba_cpu.llvm_cpu, "COMPILER", "numba")    # helpers compile Numba's kernels
    from codegen import compile_pool
    monkeypatch.setenv("JITGRAD_COMPILE_WORKERS", "1")
    fakes = []
    monkeypatch.setattr(compile_pool, "_WORKERS", fakes)
    monkeypatch.setattr(compile_pool, "_start", lambda: subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.readline()"], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, text=True))
    p, x = _many_kernels_program()
    try:
        c = compile_program(p, cache_dir=tmp_path)
    finally:
        for w in fakes:
            w.kill()
            w.wait()
            w.stdin.close()
            w.stdout.close()
    _check(c, p, (x,))
    new = [lk for lk in c.kernels.values() if lk.origin != "memory"]
    assert len(new) >= compile_pool.MIN_JOBS and all(lk.origin == "compiled" for lk in new), c.source
