"""Small scalar helpers for generated kernels with NumPy's NaN semantics (inlined by Numba)."""
import math

import numpy as np

from numba import njit

from tracer import rng as _rng

from .fastmath import exp as _exp


@njit(inline="always", cache=True)
def maximum(a, b):
    return a if (a > b or a != a) else b


@njit(inline="always", cache=True)
def minimum(a, b):
    return a if (a < b or a != a) else b


@njit(inline="always", cache=True)
def relu(x):
    return x - x if x < 0 else x


@njit(inline="always", cache=True)
def sign(x):
    return (x - x + 1) if x > 0 else (x - x - 1) if x < 0 else x


@njit(inline="always", cache=True)
def wrap_index(i, n):
    """An integer-array index as NumPy takes it: negative counts from the end; out of range
    raises (compiled gathers and scatters would otherwise read or write outside the array)."""
    j = i + n if i < 0 else i
    if j < 0 or j >= n:
        raise IndexError("jit_grad: an integer index array holds an index out of bounds")
    return j


hash_uniform = njit(inline="always", cache=True)(_rng.hash_uniform)   # the same source as eager

@njit(inline="always", cache=True)
def erf32(x):
    """erf of a float32, branch-free (selects) so loops calling it vectorise: math.erf is a
    libm call per element. One rational function in float64, x P(x^2) / Q(x^2) of degrees 6
    and 5, fitted here for relative error < 2.3e-9 on [0, 3.95] (beyond, erf rounds to 1 in
    float32), then rounded: within 0.54 ulp of float32 (tests/codegen/test_fastmath.py), at a
    third of the series-and-erfc form's work (a GELU's erf was its kernels' cost). NaN passes."""
    a = abs(np.float64(x))
    a = 3.95 if a > 3.95 else a
    z = a * a
    p = 1.1283791680028443 + z * (0.185267581219952 + z * (0.05430987460019164 + z * (0.0038504298001710508 + z * (
        0.00037898977113837027 + z * (4.66542405446817e-06 + z * -1.3101010330609499e-08)))))
    q = 1.0 + z * (0.49752251198206077 + z * (0.11397126616951284 + z * (0.015461260446786402 + z * (
        0.0013069452292605338 + z * 6.29329827009399e-05))))
    r = a * p / q
    r = 1.0 if r > 1.0 else r
    return np.float32(math.copysign(r, x))


# ----------------------------------------------------------------------------- the kernel decorator
from numba.core import cpu as _cpu, registry as _registry  # noqa: E402


class _NoAliasOptions(_cpu.CPUTargetOptions):
    """njit's options plus LLVM `noalias` on every array argument. A loop-nest kernel gets its
    buffers as arguments; unless LLVM knows they do not overlap it versions or gives up
    vectorising loops that store to one and load from another (measured: tanh(x + b) over
    256x32 float64 took 112 us instead of 8 us). The driver passes disjoint buffers; a kernel
    whose buffers share storage (in-place planning) is compiled without it."""

    def finalize(self, flags, options):
        super().finalize(flags, options)
        flags.noalias = True


class _NoAliasTarget(_registry.CPUTarget):
    """The CPU target with the option above; the typing and target contexts are the global
    ones (one initialisation, helpers compiled once)."""
    options = _NoAliasOptions

    @property
    def target_context(self):
        return _registry.cpu_target.target_context

    @property
    def typing_context(self):
        return _registry.cpu_target.typing_context


class _NoAliasDispatcher(_registry.CPUDispatcher):
    targetdescr = _NoAliasTarget("cpu")


def kernel_jit(cache=False, **options):
    """`njit(cache=..., **options)` whose array arguments are `noalias`."""
    def wrap(f):
        disp = _NoAliasDispatcher(py_func=f, locals={}, targetoptions=dict(options, nopython=True))
        if cache:
            disp.enable_caching()
        return disp
    return wrap
