"""Counter-based random numbers: uniform(seed, i) is a pure function of a 64-bit seed and an
element's index, so a compiled kernel draws any element independently (no generator state,
no races, any loop order) and eager NumPy, Numba and CUDA give the same bits. The function
is splitmix64 applied to the seed, then to the counter (as Philox, a keyed bijection of the
counter; JAX's threefry and PyTorch's Philox play the same role).

`hash_uniform` is written with NumPy scalar types only, so the same source runs elementwise on
NumPy arrays and compiles under `numba.njit` and `numba.cuda.jit(device=True)`.
"""
import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)


def hash_uniform(seed, i):
    """A float64 in [0, 1) from seed (int64) and counter i (int64 >= 0); wraps mod 2**64."""
    z = np.uint64(seed) * _GOLDEN
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    z = (z ^ (z >> _S31)) + (np.uint64(i) + np.uint64(1)) * _GOLDEN
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    z = z ^ (z >> _S31)
    return np.float64(z >> _S11) * (1.0 / 9007199254740992.0)


def draw_seed():
    """The next seed from the global generator (jg.manual_seed seeds it)."""
    return np.asarray(np.random.randint(np.iinfo(np.int64).min, np.iinfo(np.int64).max, dtype=np.int64))


def uniform_array(seed, shape, dtype):
    """hash_uniform over the C-order indices of `shape` (the 'uniform' primitive, eagerly)."""
    with np.errstate(over="ignore"):
        u = hash_uniform(np.asarray(seed, np.int64), np.arange(int(np.prod(shape, dtype=np.int64)), dtype=np.int64))
    return np.asarray(u).reshape(shape).astype(dtype, copy=False)
