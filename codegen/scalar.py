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


@njit(inline="always", cache=True)
def wrap_index(i, n):
    """An integer-array index as NumPy takes it: negative counts from the end; out of range
    raises (compiled gathers and scatters would otherwise read or write outside the array)."""
    j = i + n if i < 0 else i
    if j < 0 or j >= n:
        raise IndexError("jit_grad: an integer index array holds an index out of bounds")
    return j
