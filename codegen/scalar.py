"""Small scalar helpers for generated kernels with NumPy's NaN semantics (inlined by Numba)."""
from numba import njit


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
