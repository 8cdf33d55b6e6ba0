"""Odd inputs through every path (issue 13's fuzz matrix): each (input, path) either matches
the eager float64 result or raises a jitgrad error that names the op or argument, never a
crash, a Numba traceback or a silently wrong value. `python -m tests.jitgrad.test_fuzz` prints
the matrix."""
import numpy as np
import pytest

import jitgrad as jg


def f(x):
    return jg.sum(jg.tanh(x) * x + jg.exp(-x * x))


def _base(shape=(4, 3)):
    return np.random.default_rng(0).standard_normal(shape)


def _readonly():
    a = _base()
    a.setflags(write=False)
    return a


class _DeviceArray:
    """What a numba.cuda or CuPy device array shows jitgrad (no GPU needed)."""

    def __init__(self, a):
        self._a, self.shape, self.dtype = a, a.shape, a.dtype

    @property
    def __cuda_array_interface__(self):
        return {"shape": self.shape, "typestr": self.dtype.str, "data": (0, False), "version": 3}

    def copy_to_host(self):
        return self._a.copy()


INPUTS = {
    "plain": _base,
    "nan-inf": lambda: np.array([[np.nan, 1.0], [np.inf, -np.inf]]),
    "empty": lambda: np.zeros((0, 3)),
    "0-d": lambda: np.array(0.7),
    "huge": lambda: np.array([1e300, -1e300, 1e-300]),
    "float32": lambda: _base().astype(np.float32),
    "int64": lambda: np.arange(6).reshape(2, 3),
    "bool": lambda: _base() > 0,
    "float16": lambda: _base().astype(np.float16),
    "complex": lambda: _base() + 1j,
    "non-contiguous": lambda: _base((6, 5))[::2, 1::2],
    "fortran-order": lambda: np.asfortranarray(_base()),
    "read-only": _readonly,
    "big-endian": lambda: _base().astype(">f8"),
    "object": lambda: np.array([1.0, 2.0, 3.0], dtype=object),
    "python-list": lambda: [1.0, -2.0, 3.5],
    "python-float": lambda: 0.25,
    "device-array": lambda: _DeviceArray(_base()),   # jit_grad (CPU) copies it to the host
}


def _eager(x):
    return jg.value_and_grad(f)(x)


def _jit(x):
    return jg.jit_grad(f)(x)


def _check(x):
    jg.check_grads(f, [x], order=2)
    return _eager(x)


PATHS = {"eager": _eager, "jit_grad": _jit, "check_grads": _check}

# the expected outcome where it is not "ok" (the float64 reference result); every error is a
# TypeError/ValueError/ShapeError/AssertionError raised by jitgrad with its message checked
EXPECTED_ERRORS = {
    ("int64", "eager"): "only floating point", ("int64", "jit_grad"): "only floating point",
    ("int64", "check_grads"): "no floating point array",
    ("bool", "eager"): "only floating point", ("bool", "jit_grad"): "only floating point",
    ("bool", "check_grads"): "no floating point array",
    ("float16", "jit_grad"): "float16, which compiled kernels do not support",
    ("nan-inf", "check_grads"): "does not match finite differences",
    ("huge", "check_grads"): "does not match finite differences",
    ("object", "eager"): "dtype object", ("object", "jit_grad"): "dtype object",
    ("object", "check_grads"): "no floating point array",
    ("complex", "eager"): "only for real scalar outputs", ("complex", "check_grads"): "only for real scalar outputs",
    ("complex", "jit_grad"): "only for real scalar outputs",
    # a list is a pytree of Python floats: f gets a list, and `-x` fails in the user's own line
    ("python-list", "eager"): "unary -: 'list'", ("python-list", "check_grads"): "unary -: 'list'",
    ("python-list", "jit_grad"): "needs the concrete value of a traced tensor",
    ("device-array", "eager"): "argument 0 is a device array of shape (4, 3); eager jitgrad computes on the host",
    ("device-array", "check_grads"): "argument 0 is a device array",
}


def outcome(inp, path):
    """('ok' | 'error', detail)."""
    x = INPUTS[inp]()
    try:
        v, g = PATHS[path](x)
    except (TypeError, ValueError, AssertionError, jg.ShapeError, RuntimeError) as e:
        return "error", f"{type(e).__name__}: {str(e).splitlines()[0][:160]}"
    return "ok", (v, g)


def _reference(inp):
    """The float64 eager result (float16 and float32 inputs are compared against it too)."""
    x = INPUTS[inp]()
    if isinstance(x, _DeviceArray):
        x = x.copy_to_host()
    if isinstance(x, np.ndarray) and x.dtype.kind == "f":
        x = x.astype(np.float64)
    return _eager(x)


CASES = [(i, p) for i in INPUTS for p in PATHS]


@pytest.mark.parametrize("inp,path", CASES, ids=[f"{i}-{p}" for i, p in CASES])
def test_odd_inputs_match_or_raise_a_clear_error(inp, path):
    kind, detail = outcome(inp, path)
    want_error = EXPECTED_ERRORS.get((inp, path))
    if want_error is not None:
        assert kind == "error" and want_error in detail, (kind, detail)
        assert "numba" not in detail.lower() and "Traceback" not in detail
        return
    assert kind == "ok", detail
    v, g = detail
    rv, rg = _reference(inp)
    tol = dict(rtol=2e-3, atol=2e-3) if inp in ("float16", "float32") else dict(rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(np.asarray(v, np.float64), np.asarray(rv, np.float64), equal_nan=True, **tol)
    np.testing.assert_allclose(np.asarray(g, dtype=np.asarray(rg).dtype), rg, equal_nan=True, **tol)


if __name__ == "__main__":
    print("| input | " + " | ".join(PATHS) + " |\n|---|" + "---|" * len(PATHS))
    for i in INPUTS:
        cells = []
        for p in PATHS:
            k, d = outcome(i, p)
            cells.append("ok" if k == "ok" else "error: " + d.split(":", 1)[1].strip()[:60])
        print(f"| {i} | " + " | ".join(cells) + " |")
