"""codegen.llvm_cpu: kernel sources compiled by LLVM directly give Numba's results bit for bit,
cover every op the CPU renderer emits, and leave what they cannot compile to Numba."""
import numpy as np
import pytest
import tracer
from tracer import ops as T

from codegen import compile_program, llvm_cpu, numba_cpu

HEAD = "\n".join(numba_cpu.HEAD)
F32, F64, I64, N = ("a", "float32"), ("a", "float64"), ("a", "int64"), ("s", "int64")


def both(body, sig, *arrays):
    """Run `kernel` compiled by llvm_cpu and by Numba on copies of the arrays; both results."""
    src = HEAD + "@kernel_jit(cache=False, " + ", ".join(numba_cpu.FLAGS) + ")\n" + body
    key = f"test{abs(hash((src, str(sig))))}"
    fn, origin = llvm_cpu.build(src, sig, key, None)
    assert origin == "compiled"
    ns = {}
    exec(compile(src, "<test kernel>", "exec"), ns)
    outs = []
    for call in (fn, ns["kernel"]):
        a = [x.copy() if isinstance(x, np.ndarray) else x for x in arrays]
        call(*a)
        outs.append(a)
    return outs


def same(a, b):
    for x, y in zip(a, b):
        if not isinstance(x, np.ndarray):
            continue
        assert x.dtype == y.dtype and np.array_equal(x, y, equal_nan=True), (x, y)


INTS = np.array([7, -7, 7, -7, 0, 5, -1, 9], np.int64)
DIVS = np.array([2, 2, -2, -2, 3, 0, 4, -3], np.int64)


def test_integer_floor_division_and_modulo_follow_python():
    body = ("def kernel(b0, b1, b2, b3):\n    for i in range(8):\n"
            "        b2[np.uintp(i)] = b0[np.uintp(i)] // b1[np.uintp(i)]\n"
            "        b3[np.uintp(i)] = b0[np.uintp(i)] % b1[np.uintp(i)]\n")
    got, want = both(body, (I64, I64, I64, I64), INTS, DIVS, np.zeros(8, np.int64), np.zeros(8, np.int64))
    same(got, want)
    assert list(got[2][:4]) == [3, -4, -4, 3] and list(got[3][:4]) == [1, 1, -1, -1]


@pytest.mark.parametrize("expr", [
    "maximum(b0[np.uintp(i)], b1[np.uintp(i)])", "minimum(b0[np.uintp(i)], b1[np.uintp(i)])",
    "relu(b0[np.uintp(i)])", "sign(b0[np.uintp(i)])", "abs(b0[np.uintp(i)])",
    "(b0[np.uintp(i)] if b0[np.uintp(i)] > b1[np.uintp(i)] else np.float32(0.5))",
    "np.float32(np.float64(b0[np.uintp(i)]) * 0.1)", "(b0[np.uintp(i)] * 3 + 1)",
    "exp(b0[np.uintp(i)]) + tanh(b1[np.uintp(i)])", "np.float32((b0[np.uintp(i)] < b1[np.uintp(i)]) & (b1[np.uintp(i)] == b1[np.uintp(i)]))",
    "(-b0[np.uintp(i)]) / b1[np.uintp(i)]",
])
def test_scalar_semantics_match_numba(expr):
    x = np.array([1.5, -2.0, np.nan, 0.0, -0.0, np.inf, -np.inf, 3.25], np.float32)
    y = np.array([1.0, np.nan, 2.0, -0.0, 0.0, 1.0, -np.inf, 3.25], np.float32)
    body = f"def kernel(b0, b1, b2):\n    for i in range(8):\n        b2[np.uintp(i)] = {expr}\n"
    got, want = both(body, (F32, F32, F32), x, y, np.zeros(8, np.float32))
    same(got, want)


def test_a_guarded_load_is_not_evaluated():
    """`x if mask else 0`: the load of an index out of range must not happen (padding masks)."""
    body = ("def kernel(b0, b1, n0):\n    acc0 = 0.0\n    for i in range(n0):\n"
            "        acc0 += b0[np.uintp(i * 1000000000)] if i == 0 else 1.0\n    b1[0] = acc0\n")
    got, want = both(body, (F64, F64, N), np.ones(1), np.zeros(1), 5)
    assert got[1][0] == want[1][0] == 5.0


def test_blocked_float64_accumulation_of_float32_terms():
    x = np.random.default_rng(0).standard_normal(5000).astype(np.float32)
    pat = "def kernel(b0, b1, n0):\n    t_acc0 = np.empty(1024, np.float32)\n    acc0 = 0.0\n" \
          "    for i0b in range(0, n0, 1024):\n        i0m = min(1024, n0 - i0b)\n" \
          "        for i0j in range(i0m):\n            t_acc0[i0j] = b0[np.uintp(i0b + i0j)] * np.float32(2.0)\n" \
          "        for i0j in range(i0m):\n            acc0 += np.float64(t_acc0[i0j])\n    b1[0] = np.float32(acc0)\n"
    got, want = both(pat, (F32, F32, N), x, np.zeros(1, np.float32), 5000)
    same(got, want)


def test_an_index_out_of_bounds_raises():
    body = ("def kernel(b0, b1, b2):\n    for i in range(2):\n"
            "        b2[np.uintp(i)] = b0[np.uintp(wrap_index(b1[np.uintp(i)], 3))]\n")
    fn, _ = llvm_cpu.build(HEAD + "@kernel_jit()\n" + body, (F64, I64, F64), "test_oob", None)
    out = np.zeros(2)
    fn(np.arange(3.0), np.array([-1, 2]), out)
    assert list(out) == [2.0, 2.0]
    with pytest.raises(IndexError, match="out of bounds"):
        fn(np.arange(3.0), np.array([0, 3]), out)


@pytest.mark.parametrize("body", [
    "def kernel(b0):\n    for i in prange(4):\n        b0[i] = 1.0\n",            # Numba's parallel loops
    "def kernel(b0):\n    b0[0] = np.conj(b0[0])\n",                             # complex
    "def kernel(b0):\n    for i in range(4, 0, -1):\n        b0[0] = 1.0\n",      # a negative step
    "def kernel(b0):\n    b0[0] = b0[1] // b0[2]\n",                             # float floor division
])
def test_what_it_cannot_compile_is_unsupported(body):
    with pytest.raises(llvm_cpu.Unsupported):
        llvm_cpu.build(HEAD + "@kernel_jit()\n" + body, (F64,), "test_unsupported", None)


def _ops_program(dtype):
    x = np.linspace(-1.5, 1.7, 12).reshape(3, 4).astype(dtype)
    y = (np.abs(x) + 0.5).astype(dtype)

    def f(x, y):
        a = T.exp(x * 0.3) + T.log(y) + T.log1p(y) + T.expm1(x * 0.2) + T.sqrt(y) + T.sin(x) + T.cos(x) + T.erf(x)
        b = T.tanh(x) * T.sigmoid(x) + T.softplus(x) + T.relu(x) * T.abs(x) + T.sign(x) * x + T.pow(y, x)
        c = T.where(T.logical_and(T.lt(x, y), T.ge(x, -0.5)), T.maximum(x, y), T.minimum(x, y))
        return T.sum(a * b + c) + T.sum(T.max(x, 1)) + T.sum(x[np.array([0, -1])])
    return tracer.trace_value_and_grad(f, x, y), (x, y)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_kernel_of_a_program_with_every_scalar_op_is_compiled_by_llvm(dtype):
    p, args = _ops_program(dtype)
    c = compile_program(p, cache_dir=False)
    assert all(lk.dispatcher is None for lk in c.kernels.values()), \
        [lk.source for lk in c.kernels.values() if lk.dispatcher is not None]
    full = list(args) + list(p.const_values())
    tol = dict(rtol=2e-4, atol=2e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    for g, w in zip(c(*full), tracer.evaluate(p, *full)):
        np.testing.assert_allclose(g, w, **tol)


def test_the_packaged_helpers_are_current():
    """codegen/helpers holds the math helpers' IR for the Numba/llvmlite/target environments in
    its VERSIONS file: for each, every helper is there for the current fastmath.py and scalar.py
    (else: run llvm_cpu.package_helpers() under that Numba); in one of them, the packaged IR is
    what Numba compiles now."""
    envs = llvm_cpu.packaged_environments()
    assert envs, "codegen/helpers/VERSIONS lists no environment"
    for env in envs:
        fp = llvm_cpu._helper_fingerprint(env)
        for name, ts in llvm_cpu.HELPER_SET:
            sym = llvm_cpu.helper_symbol(name, ts)
            assert (llvm_cpu.PACKAGED / f"{sym}_{fp}.ll").exists(), \
                f"stale for numba {env[0]}: {sym} (run llvm_cpu.package_helpers() there)"
    if llvm_cpu.helper_environment() not in envs:
        pytest.skip(f"packaged for {envs}, running {llvm_cpu.helper_environment()}")
    fp = llvm_cpu._helper_fingerprint()
    import re

    def code(text):     # (value and block names carry Numba's per-process counters)
        text = re.sub(r"(?m)^([\w.$]+):.*$", "L:", re.sub(r"%[\w.$]+", "%v", text))
        return re.sub(r"(?m)^;.*$", "", text)
    fresh = llvm_cpu._helper_text(llvm_cpu._harvest("exp", ["float"], "jgh_exp_f32")).decode()
    assert code((llvm_cpu.PACKAGED / f"jgh_exp_f32_{fp}.ll").read_text()) == code(fresh)


FRESH = """
import sys, numpy as np, jitgrad as jg
f = jg.jit_grad(lambda w, x: jg.sum(jg.tanh(x @ w) * jg.exp(-x @ w) + jg.nn.functional.gelu(x @ w)))
v, g = f(np.ones((3, 2), np.float32), np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3))
c = f.entry_for(np.ones((3, 2), np.float32), np.zeros((4, 3), np.float32)).compiled
print(all(lk.origin == "compiled" and lk.dispatcher is None for lk in c.kernels.values()), "numba" in sys.modules)
"""


def test_a_fresh_cache_compiles_without_numba(tmp_path):
    """With the packaged helpers, a new process and an empty cache compile every kernel by LLVM
    and never import Numba."""
    import os
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYTHONPATH=root, JITGRAD_CACHE_DIR=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", FRESH], env=env, capture_output=True, text=True, cwd=root)
    assert out.returncode == 0, out.stderr
    llvm_only, numba_imported = out.stdout.split()[-2:]
    assert llvm_only == "True"
    if (llvm_cpu.PACKAGED / f"jgh_tanh_f32_{llvm_cpu._helper_fingerprint()}.ll").exists():
        assert numba_imported == "False"


# ----------------------------------------------------------------------------- every op of the renderer
_VALS = {np.dtype(np.float32): np.array([1.5, -2.0, np.nan, 0.0, -0.0, np.inf, -np.inf, 0.3], np.float32),
         np.dtype(np.float64): np.array([0.7, -3.25, -0.0, np.nan, 2.0, -np.inf, 1e-300, 5.0]),
         np.dtype(np.int64): np.array([7, -7, 0, 3, -1, 2, -3, 1], np.int64),
         np.dtype(np.bool_): np.array([True, False, True, True, False, False, True, False])}
_FL = [np.dtype(np.float32), np.dtype(np.float64)]
_CMP_OPS = ("lt", "le", "gt", "ge", "eq", "ne")


def _op_cases():
    """(op, argument dtypes, result dtype) for every scalar op numba_cpu.RENDER can spell."""
    from codegen.ir import OPS
    b, i = np.dtype(np.bool_), np.dtype(np.int64)
    for op in sorted(numba_cpu.RENDER):
        if op in ("conj", "real"):       # complex only: such kernels are outside the subset (Numba compiles them)
            continue
        if op in _CMP_OPS:
            yield from ((op, [t, t], b) for t in _FL + [i])
        elif op.startswith("logical_"):
            yield op, [b] * OPS[op], b
        elif op == "where":
            yield from ((op, [b, t, t], t) for t in _FL)
        elif op in ("idiv", "mod", "wrap_index"):
            yield op, [i, i], i
        elif op == "hash_uniform":
            yield op, [i, i], np.dtype(np.float64)
        elif op == "cast":
            yield from ((op, [s], d) for s, d in [(_FL[0], _FL[1]), (_FL[1], i), (i, _FL[0]), (b, _FL[1]), (_FL[1], b)])
        else:
            yield from ((op, [t] * OPS[op], t) for t in _FL)
            if op in ("add", "sub", "mul", "neg", "abs", "maximum", "minimum", "relu", "sign"):
                yield op, [i] * OPS[op], i


@pytest.mark.parametrize("op, ins, out", list(_op_cases()), ids=lambda v: getattr(v, "name", str(v)))
def test_every_renderer_op_matches_numba(op, ins, out):
    """Driven by the renderer's table: each op, at each dtype it is used with, compiled by LLVM
    gives Numba's bits on values with NaN, infinities, signed zeros and negative integers."""
    from codegen.ir import ALU, Buffer, Idx, Load
    i = Idx("i")
    bufs = [Buffer(f"b{k}", (8,), t, "in") for k, t in enumerate(ins)]
    args = []
    for buf, t in zip(bufs, ins):
        v = _VALS[t].copy()
        if op == "wrap_index" and buf.name == "b1":
            v[:] = 9                      # indices in [-9, 9): in range
        args.append(v)
    e = ALU(op, tuple(Load(bf, i) for bf in bufs), out)
    names = {bf.name: bf.name for bf in bufs}
    res = f"b{len(bufs)}"
    body = (f"def kernel({', '.join(names)}, {res}):\n    for i in range(8):\n"
            f"        {res}[np.uintp(i)] = {numba_cpu.expr_src(e, names)}\n")
    sig = tuple(("a", t.name) for t in ins) + (("a", out.name),)
    got, want = both(body, sig, *args, np.zeros(8, out))
    same(got, want)
