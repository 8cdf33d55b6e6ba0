"""Vectorisable scalar math for generated kernels (PLACEHOLDER: libm-backed until replaced).

Each function is callable from @njit code for float32 and float64 arguments and returns the
argument's precision. Generated kernels call these by name.
"""
import numpy as np
from numba import njit


@njit(inline="always", cache=True)
def exp(x): return np.exp(x)
@njit(inline="always", cache=True)
def log(x): return np.log(x)
@njit(inline="always", cache=True)
def log1p(x): return np.log1p(x)
@njit(inline="always", cache=True)
def expm1(x): return np.expm1(x)
@njit(inline="always", cache=True)
def tanh(x): return np.tanh(x)
@njit(inline="always", cache=True)
def sin(x): return np.sin(x)
@njit(inline="always", cache=True)
def cos(x): return np.cos(x)
@njit(inline="always", cache=True)
def sqrt(x): return np.sqrt(x)
@njit(inline="always", cache=True)
def pow(x, y): return x ** y
@njit(inline="always", cache=True)
def sigmoid(x):
    e = np.exp(-abs(x))
    return 1 / (1 + e) if x >= 0 else e / (1 + e)
@njit(inline="always", cache=True)
def softplus(x): return max(x, 0) + np.log1p(np.exp(-abs(x)))
