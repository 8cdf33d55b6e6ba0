"""The Numba CPU backend against the eager NumPy reference (tracer.evaluate), fused and unfused.

Programs are value-and-grad traces, so every check covers forward values and gradients. Several
primitives share one program to keep compile counts (and CI time) down; the session-wide kernel
cache (tests/conftest.py) makes reruns cheap.
"""
import os

import numpy as np
import pytest

import tracer
from tracer import ops as T
from tracer.primitives import PRIMS

from codegen import compile_program, run_pipeline, Options, IRError, verify_kernel
from codegen import numba_cpu

CACHE = os.environ.get("JITGRAD_CACHE_DIR")
TOL = {np.float32: dict(rtol=2e-4, atol=2e-5), np.float64: dict(rtol=1e-7, atol=1e-9)}
TOL.update({np.complex64: TOL[np.float32], np.complex128: TOL[np.float64]})


def test_cache_dir_from_conftest(kernel_cache_dir):
    assert CACHE and os.path.isdir(CACHE) and str(kernel_cache_dir) == CACHE


def _r(*shape, dtype=np.float64, seed=0, pos=False):
    a = np.random.default_rng(seed * 7 + len(shape)).standard_normal(shape)
    return (np.abs(a) + 0.5 if pos else a).astype(dtype)


def _z(*shape, dtype=np.float64, seed=0):
    """Complex numbers of the precision of `dtype` (complex64 for float32)."""
    return (_r(*shape, seed=seed) + 1j * _r(*shape, seed=seed + 5)).astype(np.result_type(dtype, np.complex64))


def check(f, *args, fuse=True, tol=None, program=None):
    """Compile f's value-and-grad Program (verifying the IR after every pass) and compare."""
    p = program or tracer.trace_value_and_grad(f, *args)
    c = compile_program(p, cache_dir=CACHE, fuse=fuse, check=True)
    full = list(args) + list(p.const_values())
    got, want = c(*full), tracer.evaluate(p, *full)
    assert len(got) == len(want)
    dt = next((a.dtype.type for a in args if a.dtype.kind in "fc"), np.float64)
    for g, w in zip(got, want):
        assert isinstance(g, np.ndarray) and g.shape == w.shape and g.dtype == w.dtype, (g, w)
        np.testing.assert_allclose(g, w, **(tol or TOL[dt]))
    return c


# ----------------------------------------------------------------------------- every primitive
def unary(x, y):
    a = T.exp(x * 0.3) + T.log(y) + T.log1p(y) + T.expm1(x * 0.2) + T.sqrt(y) + T.sin(x) + T.cos(x) + T.erf(x)
    b = T.tanh(x) * T.sigmoid(x) + T.softplus(x) + T.relu(x) * T.abs(x) + T.sign(x) * x - x
    return T.sum(a * b + T.stop_gradient(x) * x)


def binary(x, y):
    a = (x + y) * (x - y) / y + T.pow(y, x * 0.5) + y ** 2 + y ** 0.5 + y ** -1 + y ** 3
    return T.sum(a + T.maximum(x, y) + T.minimum(x, y * 0.5))


def logic(x, y):
    m = T.logical_and(T.lt(x, y), T.ge(x, -0.5))
    m = T.logical_or(m, T.logical_not(T.ne(x, x * 2)))
    z = T.where(m, x * y, -x) + T.where(T.gt(x, 0.1), y, 0.0) + T.where(T.le(x, 0), x, 1.0)
    z = z + T.cast(T.eq(x, x), x.dtype) + T.clip(x, -0.3, 0.4)
    return T.sum(z * z)


def reductions(x, y):
    return (T.sum(T.max(x, 1) * 2) + T.sum(T.mean(x * y, 0, keepdims=True) * x) + T.sum(T.min(y, (0, 1)))
            + T.sum(T.logsumexp(x, 1)) + T.sum(T.softmax(y, 0) * x) + T.sum(T.log_softmax(x) * y))


def views(x, y):
    a = T.reshape(x, (4, 3)) + T.transpose(y, (1, 0))[::1]
    b = T.swapaxes(T.expand_dims(x, 0), 1, 2)[0] * T.squeeze(T.expand_dims(y.T, 2), 2)
    c = T.broadcast_to(x[:, 1:2], (3, 4)) + x[::2, 1::2].sum() + x[1, None, :] * y[None, 2]
    return T.sum(a * a) + T.sum(b) + T.sum(c * c)


def indexing(x, y, idx):
    a = x[idx, 1:] * 2 + x[np.array([0, 2, -1])][:, :3]
    b = x[np.array([[0], [2]]), np.array([1, 3])]          # broadcast index arrays
    c = y[:, np.array([0, 0, 2])]                          # duplicate indices: scatter-add grads
    d = T.concatenate([x, y.T * 2, x[:1]], 0)
    e = T.stack([x[0], x[1]], 1)
    return T.sum(a * a) + T.sum(b) + T.sum(c * c) + T.sum(d * d) + T.sum(e * e)


def matmuls(x, y, z):
    a = x @ y                                   # 2-D
    b = T.matmul(T.broadcast_to(x, (2, 3, 4)), z)  # batched, broadcast batch
    c = T.dot(y.T, x.T)                         # transposed operands
    return T.sum(a * a) + T.sum(T.tanh(b)) + T.sum(c) + T.sum(x @ y[:, :1])


def blas(x, y, z):
    """Matmuls above SMALL_MATMUL go to BLAS: plain, transposed and sliced operands, batched with
    a broadcast batch, and one whose operand is an expression (copied to a temporary first)."""
    a = x @ y
    b = T.matmul(T.broadcast_to(x, (2,) + x.shape), z)
    c = T.dot(y.T, x.T)
    d = x[:, 2:] @ y[2:, ::2]
    e = T.tanh(x) @ (y * 2.0)
    return T.sum(a * a) + T.sum(T.tanh(b)) + T.sum(c) + T.sum(d * d) + T.sum(e)


def windows(x, w, seed):
    """im2col + GEMM (a strided, padded, dilated convolution), a max over -inf-padded windows, a
    direct col2im, and a dropout-like mask from the counter-based generator."""
    cols = T.unfold(x, (3, 3), (2, 1), (1, 1), (1, 2), (3, 5))                  # (3, 3, 3, 2, 3, 5)
    y = T.reshape(w, (4, 27)) @ T.reshape(cols, (27, 30))
    pool = T.max(T.unfold(x, (2, 2), (2, 2), (1, 0), (1, 1), (4, 3), fill=-np.inf), (1, 2))
    back = T.fold(T.tanh(cols), (6, 7), (3, 3), (2, 1), (1, 1), (1, 2))
    keep = T.uniform(seed, x.shape) > 0.3
    return T.sum(T.tanh(y)) + T.sum(pool * pool) + T.sum(back * x) + T.sum(T.where(keep, x * x, 0.0))


def complex_ops(z, w):
    """Every primitive that takes complex numbers, PyTorch's convention in every gradient."""
    a = (T.exp(z * 0.3) * T.sin(z) - T.cos(z) + T.log(z) / T.sqrt(z) + T.tanh(z) + T.expm1(z * 0.2) * T.log1p(z)
         + T.conj(z) * w + z ** 3 + T.pow(w, z * 0.5) - z / w + T.where(T.abs(z) > 1, z, -w))
    b = T.matmul(T.matmul(z, T.transpose(w, (1, 0))), w) + T.mean(w, 0) + T.cast(T.eq(z, w), z.dtype)
    return T.sum(T.abs(a * b) ** 2) + T.sum(T.real(T.sum(a, 0) * b)) + T.sum(T.imag(b[:, 1:] * 2))


CASES = {
    "windows": (windows, lambda dt: (_r(2, 3, 6, 7, dtype=dt), _r(4, 3, 3, 3, dtype=dt, seed=1),
                                     np.array(-987654321, np.int64))),
    "unary": (unary, lambda dt: (_r(3, 5, dtype=dt), _r(3, 5, dtype=dt, seed=1, pos=True))),
    "binary": (binary, lambda dt: (_r(3, 5, dtype=dt), _r(5, dtype=dt, seed=1, pos=True))),
    "logic": (logic, lambda dt: (_r(4, 3, dtype=dt), _r(3, dtype=dt, seed=1))),
    "reductions": (reductions, lambda dt: (_r(3, 4, dtype=dt), _r(3, 4, dtype=dt, seed=1))),
    "views": (views, lambda dt: (_r(3, 4, dtype=dt), _r(3, 4, dtype=dt, seed=1))),
    "indexing": (indexing, lambda dt: (_r(3, 4, dtype=dt), _r(4, 3, dtype=dt, seed=1), np.array([2, -3, 0]))),
    "blas": (blas, lambda dt: (_r(16, 20, dtype=dt), _r(20, 24, dtype=dt, seed=1), _r(2, 20, 12, dtype=dt, seed=2))),
    "matmuls": (matmuls, lambda dt: (_r(3, 4, dtype=dt), _r(4, 5, dtype=dt, seed=1), _r(2, 4, 6, dtype=dt, seed=2))),
    "complex": (complex_ops, lambda dt: (_z(3, 5, dtype=dt), _z(3, 5, dtype=dt, seed=1))),   # complex64/128
}


@pytest.mark.parametrize("fuse", [True, False], ids=["fused", "unfused"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_primitives(case, dtype, fuse):
    f, make = CASES[case]
    check(f, *make(dtype), fuse=fuse)


@pytest.mark.parametrize("backend", ["cpu", "cuda"])
def test_every_scalar_op_of_the_table_renders_on_every_backend(backend):
    """ir.OPS is derived from the primitive table; a backend missing one fails here, by name,
    rather than with a NameError inside a generated module."""
    from codegen import ir
    table = numba_cpu.RENDER if backend == "cpu" else __import__("codegen.numba_cuda").numba_cuda.RENDER
    for op, arity in ir.OPS.items():
        assert op in table, f"{backend} backend has no rendering for the scalar op {op!r}"
        for dt in ((np.dtype(np.float32), np.dtype(np.float64)) if op not in ("idiv", "mod", "wrap_index")
                   else (np.dtype(np.int64),)):
            src = table[op]([f"a{i}" for i in range(arity)], dt)
            assert isinstance(src, str) and all(f"a{i}" in src for i in range(arity)), (backend, op, src)


def test_every_primitive_is_covered():
    seen = set()
    for f, make in CASES.values():
        seen |= {e.prim.name for e in tracer.trace_value_and_grad(f, *make(np.float64)).eqns}
    missing = set(PRIMS) - seen
    assert not missing, missing


def test_integer_and_bool_math():
    def f(x, i, b):
        j = T.cast(i * 2 - 1, np.float64) + T.cast(T.sum(i), np.float64) + T.cast(T.max(i, 0), np.float64)
        return T.sum(x * j + T.where(b, x, 0.0)) + T.sum(T.cast(i @ i.T, np.float64))
    check(f, _r(2, 3), np.arange(6).reshape(2, 3), np.array([True, False, True]))


# ----------------------------------------------------------------------------- layouts
def test_noncontiguous_zero_d_and_empty_inputs():
    f = lambda x, s, e: T.sum(T.tanh(x) * s) + T.sum(e * 2.0) + s * s
    x = _r(4, 6)
    c = check(f, x[:, ::2], np.array(1.5), np.zeros((0, 3)))
    p = tracer.trace_value_and_grad(f, x[:, ::2], np.array(1.5), np.zeros((0, 3)))
    base = np.asfortranarray(_r(4, 3, seed=3))
    for arg in (x[:, 1::2], base, np.ascontiguousarray(x[:, ::2])):
        got, want = c(arg, np.array(0.5), np.zeros((0, 3))), tracer.evaluate(p, arg, np.array(0.5), np.zeros((0, 3)))
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-9)
    with pytest.raises(ValueError):
        c(_r(5, 3), np.array(0.5), np.zeros((0, 3)))


def test_outputs_are_fresh_and_literals():
    x = _r(3)
    p = tracer.trace_value_and_grad(lambda x: T.sum(x), x)     # grad is ones: folded to constants
    c = compile_program(p, cache_dir=CACHE, check=True)
    a, b = c(x), c(x)
    assert a[1] is not b[1] and not np.shares_memory(a[1], b[1])
    np.testing.assert_allclose(a[1], np.ones(3))
    p2 = tracer.trace_value_and_grad(lambda x: T.sum(x * 0.0) + 2.0, np.array(1.0))
    r = compile_program(p2, cache_dir=CACHE, check=True)(np.array(3.0))
    assert r[0].shape == () and float(r[0]) == 2.0 and float(r[1]) == 0.0


# ----------------------------------------------------------------------------- IR and passes
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_stacks_of_small_products_split_between_threads(dtype, monkeypatch):
    """Attention-sized stacks (8 products of 64x32 @ 32x64 and back) go to threads.bmatmul,
    forward and backward, including a left operand broadcast over the stack: eager's numbers,
    and the very bits of one np.matmul over the whole stack."""
    args = [_r(*s, dtype=dtype, seed=i) * 0.25 for i, s in enumerate(((2, 4, 64, 32), (2, 4, 64, 32), (64, 32)))]

    def f(q, k, w):
        s = T.tanh(T.matmul(q, T.transpose(k, (0, 1, 3, 2))))      # (2, 4, 64, 64)
        return T.sum(T.matmul(s, k) ** 2) + T.sum(T.matmul(w, T.transpose(q, (0, 1, 3, 2))))
    c = check(f, *args)
    assert c.driver_source.count("bmatmul(") >= 3, c.driver_source
    monkeypatch.setattr(numba_cpu, "SMALL_GEMM", 0)
    whole = compile_program(tracer.trace_value_and_grad(f, *args), cache_dir=False)
    assert "bmatmul(" not in whole.driver_source
    for a, b in zip(c(*args), whole(*args)):
        np.testing.assert_array_equal(a, b)


def w1(x, w):
    return T.sum(T.tanh(x * w + 0.5) ** 2 * T.exp(-x * x) + T.sigmoid(w))


def test_w1_fuses_into_one_loop_and_simplifies_pow():
    x = _r(64, dtype=np.float32)
    c = check(w1, x, _r(64, dtype=np.float32, seed=1))
    top = [s for s in c.kernel.body]
    assert len(top) == 3 and sum(type(s).__name__ == "Loop" for s in top) == 1, c.ir
    assert "pow" not in c.ir and not c.kernel.temps
    assert "prange(" not in c.source and "prun(" not in c.source    # small: serial


def test_big_loops_go_parallel():
    n = 1 << 18
    p = tracer.trace_value_and_grad(w1, np.ones(n, np.float32), np.ones(n, np.float32))
    k = run_pipeline(p, Options(), check=True)
    assert k.flags["parallel"] and "parallel" in str(k)


def _reductions_f32(x, y):
    """Whole-array sum and max of float32 terms (accumulated in float64), a row sum, and an
    elementwise output in the same loops: the blocked and chunked shapes of the backend."""
    t = T.tanh(x * y + 0.5)
    return T.sum(t * t) + T.max(x * y) * 0.5 + T.sum(T.sum(T.exp(-x * x), -1) * 0.25)


@pytest.mark.parametrize("parallel", [False, True], ids=["serial", "parallel"])
@pytest.mark.parametrize("shape", [(3 * 1024 + 5,), (7, 2 * 1024 + 3), (5, 3)], ids=["1d", "2d", "small"])
def test_blocked_and_chunked_reductions_match_eager(shape, parallel, monkeypatch):
    """Float32 terms summed in float64 are computed in blocks (terms buffered, then summed);
    parallel loops with shared sum/max accumulators run in fixed chunks and combine partials
    (on threads, or inline in the driver when the work is small). Extents not a multiple of
    the block, 2-D nests and tiny loops must all agree with eager."""
    x, y = _r(*shape, dtype=np.float32), _r(*shape, dtype=np.float32, seed=1)
    x.flat[len(x.flat) // 2] = 3.0            # a unique maximum in the middle of a block
    p = tracer.trace_value_and_grad(_reductions_f32, x, y)
    c = compile_program(p, cache_dir=CACHE, parallel=parallel, check=True)
    got, want = c(x, y), tracer.evaluate(p, x, y)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, **TOL[np.float32])
    if shape[-1] > numba_cpu.BLOCK:
        assert "t_acc" in c.source, c.source         # blocked: float32 pass, then float64 sums
    if parallel:
        assert ("plo, phi" in c.source or "prange(" in c.source) and "part_acc" in c.source, c.source
        monkeypatch.setenv("JITGRAD_NUM_THREADS", "1")   # fixed chunks: the same bits on any thread count
        assert c(x, y)[0] == got[0]


def test_parallel_max_propagates_nan():
    x = _r(4 * 1024, dtype=np.float64)
    x[1500] = np.nan
    p = tracer.trace_value_and_grad(lambda x: T.max(x * 2.0), x)
    c = compile_program(p, cache_dir=CACHE, parallel=True, check=True)
    assert "part_acc" in c.source and np.isnan(c(x)[0])


def test_verifier_after_every_pass_and_catches_errors():
    f, make = CASES["indexing"]
    p = tracer.trace_value_and_grad(f, *make(np.float64))
    trace = []
    k = run_pipeline(p, Options(), check=True, trace=trace)
    assert [n for n, _ in trace][-1] == "plan_buffers"
    from codegen.ir import Store, Const
    bad = run_pipeline(p, Options())
    bad.body.append(Store(bad.params[0], Const(0, np.dtype(np.int64)), Const(1.0, np.dtype(np.float64))))
    with pytest.raises(IRError):
        verify_kernel(bad)
    assert k is not None
    from codegen.ir import ALU
    f32, f64 = np.dtype(np.float32), np.dtype(np.float64)
    mixed = run_pipeline(p, Options())
    mixed.body.append(Store(mixed.outs[0], Const(0, np.dtype(np.int64)), ALU("add", (Const(1.0, f32), Const(1.0, f64)), f64)))
    with pytest.raises(IRError, match="add of float32, float64 -> float64, expected float64, float64"):
        verify_kernel(mixed)


@pytest.mark.parametrize("prim, change, message", [
    ("reduce_sum", lambda e: e.params.__setitem__("keepdims", True), r"gives float64\[3, 1\], the program says float64\[3\]"),
    ("reduce_sum", lambda e: e.out.__setattr__("dtype", np.dtype(np.float32)), "the program says float32"),
    ("matmul", lambda e: e.inputs[1].__setattr__("shape", (4, 5)), "does not apply to its inputs.*not aligned"),
])
def test_program_verifier_type_checks_every_equation(prim, change, message):
    """verify_program runs each primitive's shape rule: an equation whose result is not what its
    inputs give (a buggy graph pass) is named, before any loop is built."""
    from codegen.graph import verify_program
    p = tracer.trace_value_and_grad(lambda x, w: T.sum(T.sum(T.exp(x @ w), axis=1) ** 2), _r(3, 2), _r(2, 5))
    verify_program(p)
    change(next(e for e in p.eqns if e.prim.name == prim))
    with pytest.raises(IRError, match=f"{prim}.*{message}"):
        verify_program(p)


def test_buffer_planning_reuses_dead_temporaries():
    p = tracer.trace_value_and_grad(unary, _r(3, 5), _r(3, 5, seed=1, pos=True))
    k = run_pipeline(p, Options(fuse=False), check=True)
    assert len(set(k.storage.values()) | {t.name for t in k.temps} - set(k.storage)) < len(k.temps) / 3


def _storage_root(k, name):
    return k.storage.get(name, name)


def _tmp_of(k, op_text):
    """The temporary stored by the loop whose stored expression mentions op_text."""
    from codegen.ir import Store, walk_stmts
    for s in walk_stmts(k.body):
        if isinstance(s, Store) and s.buf.role == "tmp" and op_text in repr(s.expr):
            return s.buf.name
    raise AssertionError(f"no store of {op_text}: {k}")


def test_in_place_only_when_every_read_is_at_the_written_index():
    """exp(sin(x)) unfused: exp overwrites sin's dying buffer in place. A transposed read of the
    dying buffer must not be overwritten (element (i, j) is needed after (j, i) is written)."""
    x = _r(4, 4)
    k = run_pipeline(tracer.trace_value_and_grad(lambda x: T.sum(T.exp(T.sin(x)) * x), x),
                     Options(fuse=False), check=True)
    assert _storage_root(k, _tmp_of(k, "exp(")) == _storage_root(k, _tmp_of(k, "sin("))
    c = check(lambda x: T.sum(T.exp(T.transpose(T.sin(x))) * x), x, fuse=False)
    k = c.kernel
    sin_buf = _tmp_of(k, "sin(")
    copy = _tmp_of(k, f"{sin_buf}[add(i0, mul(i1, 4))]")      # the transposed copy of sin(x)
    assert _storage_root(k, copy) != _storage_root(k, sin_buf)


# ----------------------------------------------------------------------------- random programs
from hypothesis import given, settings, strategies as st, HealthCheck  # noqa: E402


def test_max_gradient_mask_survives_fastmath_reassociation():
    """max's gradient compares x with max(x) (the argmax mask). With x = a * b * 1.5 recomputed
    in two loop nests, LLVM (numba 0.68) hoisted b * 1.5 out of one of them, the two roundings
    differed, the mask came out empty and the gradient NaN (found by the random programs below).
    Inputs where (a * b) * 1.5 != a * (b * 1.5); x is now stored once."""
    a = np.array([[-0.8028369359828766, 0.2428499070790021]])
    b = np.array([[0.6205634565598616, -0.7334145859330576]])
    assert ((a * b[0]) * 1.5 != a * (b[0] * 1.5)).any()
    c = check(lambda x, y: T.sum((T.max(x * y[0] * 1.5, 0) + 0.1) ** 2), a, b)
    assert all(np.isfinite(g).all() for g in c(a, b))


@st.composite
def programs(draw):
    """A random chain of broadcasts, reductions, views and matmuls on two float64 inputs."""
    m, n = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    ops = draw(st.lists(st.sampled_from(["tanh", "bcast", "sumax", "maxax", "T", "slice", "reshape",
                                         "matmul", "mulrow", "exp", "gather"]), min_size=1, max_size=6))

    def f(x, y):
        z = x
        for op in ops:
            if op == "tanh":
                z = T.tanh(z) + y[: z.shape[0] if z.ndim else 1].sum() * 0.1
            elif op == "exp":
                z = T.exp(z * 0.1) * z
            elif op == "bcast" and z.ndim < 3:
                z = T.broadcast_to(z, (2,) + z.shape) * 0.5 + z
            elif op == "sumax" and z.ndim:
                z = T.sum(z, z.ndim - 1, keepdims=z.ndim == 1)
            elif op == "maxax" and z.ndim:
                z = T.max(z * 1.5, 0) + 0.1
            elif op == "T" and z.ndim >= 2:
                z = T.swapaxes(z, -1, -2)
            elif op == "slice" and z.ndim and z.shape[-1] > 1:
                z = z[..., 1::2] * 2
            elif op == "reshape" and z.ndim:
                z = T.reshape(z, (-1,))
            elif op == "matmul" and z.ndim >= 2:
                z = z @ T.broadcast_to(y[:1, :1], (z.shape[-1], 3))
            elif op == "mulrow" and z.ndim >= 1 and z.shape[-1] == y.shape[-1]:
                z = z * y[0]
            elif op == "gather" and z.ndim:
                z = z[np.array([0, -1, 0])]
        return T.sum(z * z)
    return f, (_r(m, n, seed=draw(st.integers(0, 9))), _r(m, n, seed=11)), ops


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(programs())
def test_random_programs_match_eager_and_finite_differences(prog):
    f, args, ops = prog
    p = tracer.trace_value_and_grad(f, *args)
    c = check(f, *args, program=p)
    # finite differences of the compiled value along a random direction
    d = np.random.default_rng(1).standard_normal(args[0].shape)
    eps = 1e-6
    cs = p.const_values()
    fp = c(args[0] + eps * d, args[1], *cs)[0]
    fm = c(args[0] - eps * d, args[1], *cs)[0]
    fd = (fp - fm) / (2 * eps)
    an = float(np.sum(c(*args, *cs)[1] * d))
    assert abs(fd - an) <= 1e-4 * (1 + abs(an)), (ops, fd, an)


# ----------------------------------------------------------------------------- what the passes buy
def _body(c):
    return c.source.split("def kernel(", 1)[1]


def test_cse_computes_shared_values_once_and_dce_drops_dead_ones():
    x = _r(5)
    c = check(lambda x: (T.exp(x * 3.0), T.sum(T.sin(x) * T.sin(x)))[1], x)
    body = _body(c)
    assert body.count("sin(") == 1 and body.count("cos(") == 1, body   # forward sin reused by the VJP
    assert "exp(" not in body and "3.0" not in body, body                 # the unused exp(3x) is gone


def test_views_are_index_maps_and_reductions_fuse_with_producers_and_epilogues():
    x, y = _r(3, 4), _r(4, 3, seed=1)
    c = check(lambda x, y: T.sum(T.reshape(T.transpose(x), (12,)) * T.reshape(y, (12,)) * 2.0), x, y)
    assert not c.kernel.temps, c.ir                                       # no copies for views
    c = check(lambda x: T.sum(T.tanh(T.sum(T.exp(x * 2.0), -1) * 0.5 + 1.0)), x)
    assert "exp(" in c.ir and not any(t.size == x.size for t in c.kernel.temps), c.ir   # exp fused into the sum
    # the epilogue (x 0.5 + 1, tanh) is computed once per row into a row-sized buffer that
    # overwrites the row sums in place, and the gradient reuses that storage again
    assert len({c.kernel.storage.get(t.name, t.name) for t in c.kernel.temps}) == 1, c.ir


def test_cache_key_includes_versions(monkeypatch):
    k = run_pipeline(tracer.trace_value_and_grad(w1, _r(4), _r(4, seed=1)))
    ir, src = str(k), numba_cpu.render(k, cache=True)
    base = numba_cpu.kernel_key(ir, src)
    monkeypatch.setattr("codegen.kernel_cache.JITGRAD_VERSION", "9.9.9")
    assert numba_cpu.kernel_key(ir, src) != base
    monkeypatch.undo()
    monkeypatch.setattr(numba_cpu, "_NUMBA_VERSION", ["0.0.1"])
    assert numba_cpu.kernel_key(ir, src) != base


def test_reduction_reshaped_into_an_output_is_written_there_directly():
    """A bias gradient is a sum over the batch reshaped to the bias shape: no copy loop."""
    x, b = _r(6, 4), _r(4, seed=1)
    c = check(lambda x, b: T.sum(T.tanh(x + b)), x, b)
    assert not c.kernel.temps and "o2[" in c.ir and "acc" in c.ir, c.ir


def test_threaded_parallel_loops_give_the_same_bits_for_any_thread_count(monkeypatch):
    """Parallel nests are serial kernels over an iteration range, split by codegen.threads:
    sums combine fixed chunks in order, so 1, 2 or 5 threads give identical results; an error
    in a worker (an index out of bounds) reaches the caller."""
    from codegen import threads
    x = _r(300_000, dtype=np.float32)
    p = tracer.trace_value_and_grad(lambda x: T.sum(T.tanh(x) * x) + T.max(x), x)
    c = compile_program(p, cache_dir=CACHE)
    if "prun(" not in c.source:
        pytest.skip("JITGRAD_PARALLEL=numba: Numba's prange runs parallel loops")
    runs = []
    for n in (1, 2, 5):
        monkeypatch.setattr(threads, "num_threads", lambda n=n: n)
        runs.append(c(x))
    for r in runs[1:]:
        for a, b in zip(r, runs[0]):
            assert np.array_equal(a, b)

    def boom(*args):
        if args[-3] > 0:       # the piece a worker runs (lo > 0)
            raise IndexError("from a worker")
    monkeypatch.setattr(threads, "num_threads", lambda: 2)
    with pytest.raises(IndexError, match="from a worker"):
        threads.prun(boom, (), 10)


def test_every_primitive_kind_has_a_lowering():
    """The table's kind column decides how an equation is lowered (codegen.lower.LOWER)."""
    from codegen.lower import LOWER
    from tracer.primitives import KINDS
    assert {p.kind for p in PRIMS.values()} <= set(KINDS) == set(LOWER)


def test_a_sum_over_leading_axes_adds_rows_and_matches_eager():
    """A bias gradient's sum over the batch is rows added into a row of float64 accumulators
    (the inner loop along memory), not a reduction whose inner loop strides a row per step; the
    same order of additions, so the same value as the reduction."""
    from codegen.ir import Reduce, Store, walk_stmts
    x = _r(64, 3, 32)
    c = check(lambda x: T.sum(T.sum(T.tanh(x), axis=(0, 1)) ** 2), x)
    stmts = list(walk_stmts(c.kernel.body))
    assert any(isinstance(s, Store) and s.accumulate and s.buf.dtype == np.float64 for s in stmts), c.ir
    reduced = [s for s in stmts if isinstance(s, Reduce)]
    assert len(reduced) == 1, c.ir                          # only the final sum to a scalar


def test_driver_code_reuses_one_compile_per_skeleton(monkeypatch):
    """Drivers that differ only in their numbers compile once; each gets its own numbers back,
    negative, float and in tuples alike; a source whose numbers the compiler folds is compiled."""
    import builtins
    src = "def driver(a):\n    return a.reshape({n}, -{m}), ({n}, {f}), a[{m}:{n}] * {f}\n"
    calls, real = [], builtins.compile
    monkeypatch.setattr(builtins, "compile", lambda *a, **k: calls.append(1) or real(*a, **k))
    for n, m, f in ((6, 2, 0.5), (12, 3, 1.25), (4, 1, 2.0)):
        ns = {}
        exec(numba_cpu.driver_code(src.format(n=n, m=m, f=f)), ns)
        a = np.arange(float(n * m))
        got = ns["driver"](a)
        assert got[0].shape == (n, m) and got[1] == (n, f)
        np.testing.assert_array_equal(got[2], a[m:n] * f)
    verify = os.environ.get("JITGRAD_VERIFY_IR") == "1"      # (each instance checked against a compile)
    assert len(calls) == 1 + 3 * verify
    ns = {}
    exec(numba_cpu.driver_code("def driver():\n    return 2 * 3, -7\n"), ns)
    assert ns["driver"]() == (6, -7)
