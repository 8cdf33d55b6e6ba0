"""Scalar device functions for generated CUDA kernels (numba-cuda).

Plain `cuda.jit(device=True)` functions built from NumPy scalar ufuncs, which numba-cuda lowers
to libdevice (and which the simulator runs as NumPy scalars, with NumPy's NaN/Inf semantics).
One function per dtype where a typed constant is needed, so float32 code stays float32.
`codegen/fastmath.py` is CPU-only (`@njit` + LLVM intrinsics) and is not used here: the GPU's
libdevice math is already vectorised across a warp.
"""
import numpy as np
from numba import cuda


@cuda.jit(device=True)
def sigmoid_f32(x):
    e = np.exp(-abs(x))
    if x >= np.float32(0):
        return np.float32(1) / (np.float32(1) + e)
    return e / (np.float32(1) + e)


@cuda.jit(device=True)
def sigmoid_f64(x):
    e = np.exp(-abs(x))
    if x >= 0.0:
        return 1.0 / (1.0 + e)
    return e / (1.0 + e)


@cuda.jit(device=True)
def softplus_f32(x):
    m = x if x > np.float32(0) else np.float32(0)
    return m + np.log1p(np.exp(-abs(x)))


@cuda.jit(device=True)
def softplus_f64(x):
    m = x if x > 0.0 else 0.0
    return m + np.log1p(np.exp(-abs(x)))
