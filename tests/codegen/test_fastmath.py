"""codegen.fastmath: accuracy vs NumPy (dense sweeps + special values, float32 and float64),
precision preservation, vectorisation, and disk caching of a kernel that uses it."""
import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from numba import njit

from codegen import fastmath as fm

UNARY = ["exp", "log", "log1p", "expm1", "tanh", "sigmoid", "softplus", "sin", "cos", "sqrt"]
DTYPES = [np.float32, np.float64]
LD = np.longdouble
HAVE_LD = np.finfo(LD).nmant > 52

# Documented bounds (module docstring): max error in ULPs of the result's precision vs a
# higher-precision reference, and max difference to NumPy's same-precision function. sin/cos:
# absolute error in ULPs of 1.0.
BOUND = {  # name: (f32, f64)
    "exp": (1.5, 1.5), "expm1": (2.5, 2.5), "log": (1.5, 1.5), "log1p": (2.0, 2.0),
    "tanh": (3.0, 3.0), "sigmoid": (3.0, 3.0), "softplus": (2.5, 2.5), "sin": (1.0, 1.0),
    "cos": (1.0, 1.0), "sqrt": (0.5, 0.5),
}
BOUND_NP = {
    "exp": (3.0, 1.5), "expm1": (3.0, 3.0), "log": (3.0, 1.5), "log1p": (3.0, 2.5),
    "tanh": (3.5, 3.5), "sigmoid": (3.5, 3.5), "softplus": (3.5, 3.0), "sin": (1.0, 1.5),
    "cos": (1.0, 1.5), "sqrt": (0.0, 0.0),
}
RANGE = {  # name: ((lo, hi) float32, (lo, hi) float64)
    "exp": ((-103, 88.7), (-745, 709)), "expm1": ((-20, 88), (-40, 709)),
    "tanh": ((-20, 20), (-20, 20)), "sigmoid": ((-100, 100), (-100, 100)),
    "softplus": ((-100, 100), (-100, 100)), "sin": ((-8192, 8192), (-2.0**20, 2.0**20)),
    "cos": ((-8192, 8192), (-2.0**20, 2.0**20)), "sqrt": ((0, 1e6), (0, 1e6)),
}
N = 1 << 18

f0, f1, f2, f3, f4, f5, f6, f7, f8, f9 = (getattr(fm, n) for n in UNARY)


@njit
def _apply_all(xs, out):
    # One kernel (one compilation per dtype) applying every function to its own sweep row.
    n = xs.shape[1]
    for i in range(n):
        out[0, i] = f0(xs[0, i])
    for i in range(n):
        out[1, i] = f1(xs[1, i])
    for i in range(n):
        out[2, i] = f2(xs[2, i])
    for i in range(n):
        out[3, i] = f3(xs[3, i])
    for i in range(n):
        out[4, i] = f4(xs[4, i])
    for i in range(n):
        out[5, i] = f5(xs[5, i])
    for i in range(n):
        out[6, i] = f6(xs[6, i])
    for i in range(n):
        out[7, i] = f7(xs[7, i])
    for i in range(n):
        out[8, i] = f8(xs[8, i])
    for i in range(n):
        out[9, i] = f9(xs[9, i])


def _sweep(name, dt):
    b = 0 if dt == np.float32 else 1
    fi = np.finfo(dt)
    if name == "log":
        x = np.concatenate([np.geomspace(fi.tiny, fi.max / 2, N // 2), np.linspace(0.5, 2, N // 4),
                            np.linspace(1e-3, 1, N // 8),
                            np.geomspace(fi.smallest_subnormal, fi.tiny, N // 8)])
    elif name == "log1p":
        x = np.concatenate([np.geomspace(1e-30, fi.max / 2, N // 2), np.linspace(-0.999, 1, N // 4),
                            -np.geomspace(1e-30, 0.999, N // 4)])
    else:
        lo, hi = RANGE[name][b]
        small = np.geomspace(1e-30, 1, N // 8)
        x = np.concatenate([np.linspace(lo, hi, N - N // 4), small, -small])
    return x.astype(dt)[:N]


def _reference(name, x):
    hp = np.float64 if x.dtype == np.float32 else LD
    xh = x.astype(hp)
    with np.errstate(all="ignore"):
        if name == "sigmoid":
            return 1 / (1 + np.exp(-xh))
        if name == "softplus":
            return np.logaddexp(hp(0), xh)
        return getattr(np, name)(xh)


def _numpy_same(name, x):
    with np.errstate(all="ignore"):
        if name == "sigmoid":
            e = np.exp(-np.abs(x))
            return np.where(x >= 0, 1 / (1 + e), e / (1 + e))
        if name == "softplus":
            return np.logaddexp(x.dtype.type(0), x)
        return getattr(np, name)(x)


@pytest.fixture(scope="module", params=DTYPES, ids=["f32", "f64"])
def sweep(request):
    dt = request.param
    xs = np.stack([_sweep(n, dt) for n in UNARY])
    out = np.empty_like(xs)
    _apply_all(xs, out)
    return dt, xs, out


def _ulp_err(name, dt, x, y, ref):
    ref = ref.astype(np.promote_types(ref.dtype, np.float64))
    if name in ("sin", "cos"):
        unit = np.spacing(dt(1))
    else:
        unit = np.maximum(np.spacing(np.abs(ref.astype(dt))).astype(ref.dtype),
                          np.finfo(dt).smallest_subnormal)
    with np.errstate(all="ignore"):
        e = np.abs(y.astype(ref.dtype) - ref) / unit
    ok = np.isfinite(ref)
    assert np.array_equal(np.isfinite(y[ok]), np.ones(ok.sum(), bool)), name
    return e[ok]


@pytest.mark.parametrize("name", UNARY)
def test_accuracy_vs_high_precision(sweep, name):
    dt, xs, out = sweep
    if dt == np.float64 and not HAVE_LD:
        pytest.skip("no extended-precision long double for a float64 reference")
    j = UNARY.index(name)
    x, y = xs[j], out[j]
    assert y.dtype == dt
    e = _ulp_err(name, dt, x, y, _reference(name, x))
    bound = BOUND[name][0 if dt == np.float32 else 1]
    assert e.max() <= bound, (name, dt, e.max(), x[np.argmax(e)])


@pytest.mark.parametrize("name", UNARY)
def test_accuracy_vs_numpy(sweep, name):
    dt, xs, out = sweep
    j = UNARY.index(name)
    x, y = xs[j], out[j]
    e = _ulp_err(name, dt, x, y, _numpy_same(name, x))
    bound = BOUND_NP[name][0 if dt == np.float32 else 1]
    assert e.max() <= bound, (name, dt, e.max(), x[np.argmax(e)])


SPECIAL = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 1e-3, -1e-3, 3.0, -3.0, 50.0,
                    -50.0, 1e4, -1e4, 1e30, -1e30])


@pytest.mark.parametrize("dt", DTYPES, ids=["f32", "f64"])
def test_special_values(dt):
    # Every name except sin/cos beyond their accurate range (+-1e30 there -> nan, documented).
    x = np.concatenate([SPECIAL, [np.finfo(dt).max, -np.finfo(dt).max, np.finfo(dt).tiny,
                                  np.finfo(dt).smallest_subnormal, 700.0, -700.0, 89.0, -89.0,
                                  -1.0 + np.finfo(dt).eps]]).astype(dt)
    xs = np.stack([x] * len(UNARY))
    out = np.empty_like(xs)
    _apply_all(xs, out)
    for j, name in enumerate(UNARY):
        y = out[j]
        ref = _numpy_same(name, x)
        if name in ("sin", "cos"):
            # Beyond the Cody-Waite range: nan past 2**22 / 2**51, else an absolute error of at
            # most one ULP of x (a backward error below the rounding of x itself).
            cap = 2.0**22 if dt == np.float32 else 2.0**51
            lim = 8192 if dt == np.float32 else 2.0**20
            assert np.isnan(y[np.abs(x) >= cap]).all()
            mid = (np.abs(x) > lim) & (np.abs(x) < cap)
            assert (np.abs(y[mid] - ref[mid]) <= np.spacing(np.abs(x[mid]))).all()
            keep = np.abs(x) <= lim
            y, ref, xx = y[keep], ref[keep], x[keep]
        else:
            xx = x
        # nan exactly where NumPy gives nan, infinities and zeros (with sign) exact.
        assert np.array_equal(np.isnan(y), np.isnan(ref)), (name, dt, xx, y, ref)
        exact = np.isinf(ref) | (ref == 0) | np.isinf(y) | (y == 0)
        assert np.array_equal(y[exact], ref[exact]), (name, dt, xx[exact], y[exact], ref[exact])
        assert np.array_equal(np.signbit(y[exact]), np.signbit(ref[exact])) or name in (
            "sigmoid", "softplus"), (name, dt, xx[exact], y[exact])
        fin = np.isfinite(ref) & ~exact
        tol = 8 * np.finfo(dt).eps
        np.testing.assert_allclose(y[fin], ref[fin], rtol=tol, atol=0, err_msg=f"{name} {dt}")


def test_saturation_no_nan():
    for dt in DTYPES:
        x = np.array([-1e30, -1e4, -500.0, 500.0, 1e4, 1e30, -np.inf, np.inf], dt)
        xs = np.stack([x] * len(UNARY))
        out = np.empty_like(xs)
        _apply_all(xs, out)
        tanh_, sig = out[UNARY.index("tanh")], out[UNARY.index("sigmoid")]
        np.testing.assert_array_equal(tanh_, np.sign(x))
        np.testing.assert_allclose(sig, _numpy_same("sigmoid", x), rtol=4 * np.finfo(dt).eps)
        assert not np.isnan(sig).any()
        sp = out[UNARY.index("softplus")]
        np.testing.assert_allclose(sp, _numpy_same("softplus", x), rtol=4 * np.finfo(dt).eps)


@njit
def _pow_kernel(x, y, out):
    for i in range(x.size):
        out[i] = fm.pow(x[i], y[i])


@pytest.mark.parametrize("dt", DTYPES, ids=["f32", "f64"])
def test_pow_matches_numpy(dt):
    base = np.array([-2.0, -2.0, -2.0, -0.5, 0.0, 0.0, -0.0, 2.0, 2.0, np.inf, -np.inf, np.nan, 1.0,
                     -1.0, 3.7, 1e10], dt)
    expo = np.array([2.0, 3.0, 0.5, -3.0, -1.0, 0.0, -3.0, 0.5, -1.5, -2.0, 3.0, 0.0, np.nan,
                     np.inf, 2.2, 3.0], dt)
    out = np.empty_like(base)
    _pow_kernel(base, expo, out)
    with np.errstate(all="ignore"):
        ref = np.power(base, expo)
    np.testing.assert_allclose(out, ref, rtol=2 * np.finfo(dt).eps, equal_nan=True)
    assert out.dtype == dt


def test_python_level_stubs():
    x = np.linspace(-3, 3, 7)
    np.testing.assert_allclose(fm.exp(x), np.exp(x))
    np.testing.assert_allclose(fm.sigmoid(x), 1 / (1 + np.exp(-x)))
    np.testing.assert_allclose(fm.softplus(x), np.log1p(np.exp(x)))
    assert fm.pow(2.0, 3) == 8.0


_ARITH64 = re.compile(r"= f(?:add|sub|mul|div|neg)\b[^=]*\bdouble\b")


@pytest.mark.parametrize("name", UNARY + ["pow"])
def test_float32_stays_float32(name):
    f = getattr(fm, name)
    if name == "pow":
        g = njit(lambda x: f(x, np.float32(1.5)))
    else:
        g = njit(lambda x: f(x))
    r = g(np.float32(0.75))
    assert isinstance(r, np.float32) or type(r) is float  # boxed float32 comes back as float
    sig = g.signatures[0]
    assert str(g.overloads[sig].signature.return_type) == "float32"
    ir = g.inspect_llvm(sig)
    body = [ln for ln in ir.splitlines() if _ARITH64.search(ln)]
    assert not body, (name, body[:5])
    g64 = njit(lambda x: f(x) if name != "pow" else f(x, 1.5))
    g64(0.75)
    assert str(g64.overloads[g64.signatures[0]].signature.return_type) == "float64"


@pytest.mark.parametrize("name", UNARY)
def test_loop_vectorises(name):
    f = getattr(fm, name)

    @njit(fastmath=False)
    def k(x, out):
        for i in range(x.size):
            out[i] = f(x[i])

    x = np.linspace(0.1, 2, 64).astype(np.float32)
    k(x, np.empty_like(x))
    ir = k.inspect_llvm(k.signatures[0])
    assert re.search(r"<(?:4|8|16) x float>", ir), name
    # no scalar libm call left in the loop
    assert not re.search(r"call [^\n]*@(?:expf|logf|log1pf|expm1f|tanhf|sinf|cosf|sqrtf)\(", ir)


CACHE_SCRIPT = textwrap.dedent("""
    import sys, numpy as np
    sys.path.insert(0, {moddir!r})
    sys.path.insert(0, {root!r})
    import kmod
    x = np.linspace(-2, 2, 1000).astype(np.float32)
    w = np.ones_like(x)
    v = kmod.k(x, w)
    ref = np.sum(np.tanh(x * w + 0.5) ** 2 * np.exp(-x * x) + 1 / (1 + np.exp(-w)))
    assert abs(v - ref) < 1e-4 * abs(ref), (v, ref)
    st = kmod.k.stats
    print("HITS", sum(st.cache_hits.values()), "MISSES", sum(st.cache_misses.values()))
""")

KERNEL_SRC = textwrap.dedent("""
    import numpy as np
    from numba import njit
    from codegen.fastmath import exp, tanh, sigmoid

    @njit(fastmath=False, cache=True)
    def k(x, w):
        acc = 0.0
        for i in range(x.size):
            t = tanh(x[i] * w[i] + np.float32(0.5))
            acc += t * t * exp(-(x[i] * x[i])) + sigmoid(w[i])
        return acc
""")


def test_kernel_disk_cache(tmp_path):
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    moddir = tmp_path / "mod"
    moddir.mkdir()
    (moddir / "kmod.py").write_text(KERNEL_SRC)
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "numba_cache"))
    script = CACHE_SCRIPT.format(moddir=str(moddir), root=root)
    outs = []
    for _ in range(2):
        r = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                           text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        outs.append(r.stdout.split())
    assert outs[0][outs[0].index("MISSES") + 1] == "1", outs
    assert outs[1][outs[1].index("HITS") + 1] == "1", outs
    assert outs[1][outs[1].index("MISSES") + 1] == "0", outs


def test_erf32_within_one_ulp_and_special_values():
    """codegen.scalar.erf32 (float32 kernels' erf): within 1 ulp of float32 over [-6, 6] and
    tiny arguments, odd (signed zeros), saturating, NaN through."""
    from scipy.special import erf
    from codegen.scalar import erf32

    @njit(error_model="numpy", fastmath={"contract", "reassoc"})
    def run(x, out):
        for i in range(x.size):
            out[i] = erf32(x[i])
    tiny = np.geomspace(1e-30, 1, 1 << 14)
    x = np.concatenate([np.linspace(-6, 6, 1 << 18), tiny, -tiny, [7.0, 30.0, -50.0]]).astype(np.float32)
    out = np.empty_like(x)
    run(x, out)
    ref = erf(x.astype(np.float64))
    ulp = np.spacing(np.abs(ref).astype(np.float32)).astype(np.float64)
    assert (np.abs(out - ref) / ulp).max() <= 1.0
    special = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0], np.float32)
    run(special, out[:5])
    assert np.isnan(out[0]) and out[1] == 1 and out[2] == -1 and out[3] == 0 and np.signbit(out[4])
