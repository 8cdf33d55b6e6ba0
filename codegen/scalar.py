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
    libm call per element (a GELU's erf was a third of a transformer block's step). Computed in
    float64 and rounded, within 1 ulp of float32 (tests/codegen/test_fastmath.py): below 0.5
    erf's Taylor series, 8 terms 2/sqrt(pi) (-1)^k x^(2k+1) / (k! (2k+1)) (the first omitted
    is < 4e-10 of the sum); above, Numerical Recipes' erfc fit (fractional error < 1.2e-7)."""
    a = abs(np.float64(x))
    z = a * a
    t = 1.0 / (1.0 + 0.5 * a)
    big = 1.0 - t * _exp(-z + (-1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * (0.17087277)))))))))))
    small = a * (1.1283791670955126 + z * (-0.37612638903183754 + z * (0.11283791670955126 + z * (-0.026866170645131252 + z * (0.005223977625442188 + z * (-0.0008548327023450852 + z * (0.00012055332981789664 + z * (-1.492565035840625e-05))))))))
    return np.float32(math.copysign(small if a < 0.5 else big, x))


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
