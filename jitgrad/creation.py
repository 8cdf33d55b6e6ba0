"""Making tensors: copies, wrappers and factories (NumPy's dtype rules)."""
import numpy as np

from tracer import Tensor


def _dtype(dtype):
    return None if dtype is None else np.dtype(dtype)


def tensor(data, dtype=None, requires_grad=False):
    """Copies `data`; a Tensor argument is copied and detached (as torch.tensor)."""
    arr = np.array(_plain(data), dtype=_dtype(dtype), copy=True)
    return Tensor(arr, requires_grad=requires_grad)


def _plain(data):
    if isinstance(data, Tensor):
        return data.data
    if isinstance(data, (list, tuple)):
        return [_plain(d) for d in data]
    return data


def as_tensor(data, dtype=None):
    """Wraps without copying where possible (same dtype, already an ndarray)."""
    if isinstance(data, Tensor):
        return data if dtype is None or data.dtype == np.dtype(dtype) else data.astype(dtype)
    return Tensor(np.asarray(data, dtype=_dtype(dtype)))


def _shape(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def zeros(*shape, dtype=np.float32, requires_grad=False):
    return Tensor(np.zeros(_shape(shape), dtype=dtype), requires_grad=requires_grad)


def ones(*shape, dtype=np.float32, requires_grad=False):
    return Tensor(np.ones(_shape(shape), dtype=dtype), requires_grad=requires_grad)


def full(shape, fill_value, dtype=None, requires_grad=False):
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    return Tensor(np.full(shape, fill_value, dtype=dtype), requires_grad=requires_grad)


def zeros_like(t, dtype=None, requires_grad=False):
    return Tensor(np.zeros(np.shape(getattr(t, "data", t)), dtype=dtype or _dt(t)), requires_grad=requires_grad)


def ones_like(t, dtype=None, requires_grad=False):
    return Tensor(np.ones(np.shape(getattr(t, "data", t)), dtype=dtype or _dt(t)), requires_grad=requires_grad)


def _dt(t):
    return getattr(t, "dtype", None) or np.asarray(t).dtype


def arange(start, stop=None, step=1, dtype=None, requires_grad=False):
    arr = np.arange(start, stop, step, dtype=dtype) if stop is not None else np.arange(start, dtype=dtype)
    return Tensor(arr, requires_grad=requires_grad)


def linspace(start, stop, num=50, dtype=np.float32, requires_grad=False):
    return Tensor(np.linspace(start, stop, num, dtype=dtype), requires_grad=requires_grad)


def eye(n, m=None, dtype=np.float32, requires_grad=False):
    return Tensor(np.eye(n, m, dtype=dtype), requires_grad=requires_grad)


def _no_frozen_draws(name, seed):
    """Under jit_grad a draw made while tracing would be a constant of the compiled function:
    the same numbers on every call. With a seed that is also what eager gives, so it is allowed."""
    from tracer.tensor import STATE, TraceError, where_str
    if seed is None and STATE.trace_depth:
        raise TraceError(f"jg.{name} without a seed inside a jit_grad function at {where_str()}: the draw "
                         f"would be frozen into the compiled code (the same numbers on every call); pass "
                         f"the random array as an argument, or run eagerly with eager=True")


def manual_seed(seed):
    """Seed the global generator that unseeded `randn`/`rand` and layer initialisation draw
    from. It is NumPy's global generator, so `np.random.seed` does the same (PyTorch's
    `torch.manual_seed`)."""
    np.random.seed(int(seed) % (1 << 32))


def _generator(seed):
    return np.random if seed is None else np.random.default_rng(seed)


def randn(*shape, dtype=np.float32, seed=None, requires_grad=False):
    _no_frozen_draws("randn", seed)
    return Tensor(_generator(seed).standard_normal(_shape(shape)).astype(dtype), requires_grad=requires_grad)


def rand(*shape, dtype=np.float32, seed=None, requires_grad=False):
    _no_frozen_draws("rand", seed)
    return Tensor(_generator(seed).random(_shape(shape)).astype(dtype), requires_grad=requires_grad)
