"""Debugging aids: `detect_anomaly` (find the op that made a NaN/Inf) and `check_grads`
(analytic gradients against central finite differences, eager and compiled).

`check_grads` follows JAX's `check_grads`: instead of a full finite-difference Jacobian it
compares directional derivatives along random directions, so one check costs two extra
evaluations of `f` per order whatever the input size. Only when a check fails does it compute
the coordinate-wise finite differences, to name the worst element in the error.
"""
from __future__ import annotations

import functools

import numpy as np

from tracer import STATE, Tensor
from tracer import ops as _ops
from tracer.engine import grad as _grad

from . import pytree


# ----------------------------------------------------------------------------- detect_anomaly
class detect_anomaly:
    """Context manager (and decorator): the first op whose forward or backward produces NaN or
    Inf raises `jg.AnomalyError` naming the op and the user's file and line that made it.

    Per thread, like grad mode; the previous setting is restored on exit. `check_nan=False`
    turns checking off inside the block (PyTorch's `set_detect_anomaly(False)`).
    """

    def __init__(self, check_nan=True):
        self.check_nan = bool(check_nan)
        self._prev = []

    def __enter__(self):
        self._prev.append(STATE.anomaly)
        STATE.anomaly = self.check_nan
        return self

    def __exit__(self, *exc):
        STATE.anomaly = self._prev.pop()
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with detect_anomaly(self.check_nan):
                return fn(*args, **kwargs)
        return wrapper


# ----------------------------------------------------------------------------- check_grads
_DEFAULTS = {  # dtype -> (eps, rtol, atol)
    np.dtype(np.float64): (1e-6, 1e-5, 1e-6),
    np.dtype(np.float32): (1e-3, 2e-2, 2e-2),
    np.dtype(np.float16): (1e-1, 1e-1, 1e-1),
}
_FULL_FD_LIMIT = 4096  # elements: coordinate-wise FD for the error message only below this


def _is_float_array(a):
    return isinstance(a, (np.ndarray, Tensor)) and np.dtype(a.dtype).kind in "fc"


def _prep_args(args):
    if isinstance(args, (list, tuple)):
        args = list(args)
    else:
        args = [args]
    out = []
    for i, a in enumerate(args):
        pytree.refuse_device_array(a, "check_grads", i)
        if isinstance(a, Tensor):
            a = a.data
        elif isinstance(a, (float, np.floating)):
            a = np.asarray(a, dtype=np.float64 if isinstance(a, float) else a.dtype)
        elif isinstance(a, (list,)) and a and not isinstance(a[0], (list, tuple, np.ndarray)):
            a = np.asarray(a)
        out.append(a)
    return out


def _scalar(y):
    """`y` as a 0-d/size-1 Tensor, or raise."""
    if not isinstance(y, Tensor):
        y = Tensor(np.asarray(y))
    if y.size != 1:
        raise ValueError(f"check_grads: internal: expected a scalar, got shape {y.shape}")
    return _ops.reshape(y, ()) if y.ndim else y


class _Checker:
    def __init__(self, f, args, nums, eps, rtol, atol, rng):
        self.f, self.args, self.nums = f, args, nums
        self.eps, self.rtol, self.atol, self.rng = eps, rtol, atol, rng
        self.cotangent = None  # fixed random projection of a non-scalar output

    # -- the scalar function of the differentiated arguments, order 0
    def project(self, y):
        if not isinstance(y, Tensor):
            y = Tensor(np.asarray(y))
        if y.dtype.kind not in "fc":
            raise TypeError(f"check_grads: f must return a floating point result, got dtype {y.dtype}")
        if y.size == 1:
            return _scalar(y)
        if self.cotangent is None or self.cotangent.shape != y.shape:
            self.cotangent = self.rng.standard_normal(y.shape).astype(y.dtype)
        return _ops.sum(_ops.mul(y, self.cotangent))

    def call(self, xs):
        """f with the differentiated arguments replaced by `xs` (Tensors)."""
        full = list(self.args)
        for i, x in zip(self.nums, xs):
            full[i] = x
        return self.project(self.f(*full))


def _grads(fn, arrays, create_graph=False):
    """(value, [gradient Tensors]) of scalar fn at `arrays`; unconnected inputs get zeros."""
    leaves = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    val = fn(leaves)
    if val.grad_fn is None and not val.requires_grad:
        gs = [None] * len(leaves)
    else:
        gs = _grad([val], leaves, allow_unused=True, create_graph=create_graph,
                   retain_graph=create_graph)
    gs = [Tensor(np.zeros(t.shape, t.dtype)) if g is None else g for g, t in zip(gs, leaves)]
    return val, gs, leaves


def _value(fn, arrays):
    leaves = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    return float(np.asarray(fn(leaves).data, dtype=np.float64))


def _fmt_index(shape, flat):
    return tuple(int(i) for i in np.unravel_index(flat, shape)) if shape else ()


def _worst_element(fn, arrays, analytic, eps, rtol, atol, positions):
    """Coordinate-wise central differences; the element that exceeds its tolerance most."""
    worst = None
    for k, (a, g) in enumerate(zip(arrays, analytic)):
        g = np.asarray(g).real.astype(np.float64)    # along real axes: a complex gradient's real part
        for j in range(a.size):
            e = np.zeros(a.size, a.dtype)
            e[j] = eps
            e = e.reshape(a.shape)
            xp = [x if i != k else x + e for i, x in enumerate(arrays)]
            xm = [x if i != k else x - e for i, x in enumerate(arrays)]
            num = (_value(fn, xp) - _value(fn, xm)) / (2 * eps)
            ana = float(g.reshape(-1)[j])
            excess = abs(num - ana) - (atol + rtol * abs(num))
            if worst is None or excess > worst[0]:
                worst = (excess, positions[k], _fmt_index(a.shape, j), ana, num)
    return worst


def _check_order1(fn, arrays, eps, rtol, atol, rng, order, what, positions, projected=False):
    """Directional derivative along a random v: FD vs <grad, v>."""
    _, gs, _ = _grads(fn, arrays)
    vs = [_direction(rng, a) for a in arrays]
    xp = [a + eps * v for a, v in zip(arrays, vs)]
    xm = [a - eps * v for a, v in zip(arrays, vs)]
    num = (_value(fn, xp) - _value(fn, xm)) / (2 * eps)
    ana = float(sum(np.vdot(np.asarray(g.data), v).real for g, v in zip(gs, vs)))   # Re <g, v>
    tol = atol + rtol * max(abs(num), abs(ana))
    if not np.isfinite(ana) or not abs(num - ana) <= tol:
        msg = (f"check_grads: order-{order} {what} gradient does not match finite differences: "
               f"directional derivative along a random direction is {ana!r} (analytic) vs "
               f"{num!r} (numeric), |difference| {abs(num - ana):.3g} > tolerance {tol:.3g} "
               f"(eps={eps}, rtol={rtol}, atol={atol})")
        if projected:
            msg += "; f is not scalar, so gradients are of <f(x), c> for a fixed random cotangent c"
        total = sum(a.size for a in arrays)
        if total <= _FULL_FD_LIMIT:
            w = _worst_element(fn, arrays, [g.data for g in gs], eps, rtol, atol, positions)
            if w is not None:
                msg += (f"; worst element: argument {w[1]} at index {w[2]}: analytic {w[3]!r}, "
                        f"numeric {w[4]!r}")
        raise AssertionError(msg)
    return gs


def _check_compiled(checker, args, nums, eager_value, eager_grads, rtol, atol, backend):
    import jitgrad
    if not hasattr(jitgrad, "jit_grad"):
        return
    if backend is None:
        try:
            from codegen import compile_program  # noqa: F401
            backend = "cpu"
        except ImportError:
            backend = "interpret"

    def scalar_f(*a):
        return checker.project(checker.f(*a))

    jf = jitgrad.jit_grad(scalar_f, argnums=tuple(nums), backend=backend)
    value, grads = jf(*args)
    pairs = [("value", None, np.asarray(value), eager_value)] + \
        [("gradient", n, np.asarray(g), e) for n, g, e in zip(nums, grads, eager_grads)]
    for what, n, got, want in pairs:
        wide = np.complex128 if "c" in (got.dtype.kind, want.dtype.kind) else np.float64
        got64 = got.astype(wide).reshape(want.shape)
        want64 = want.astype(wide)
        err = np.abs(got64 - want64) - (atol + rtol * np.abs(want64))
        if got.dtype != want.dtype:
            raise AssertionError(f"check_grads: compiled ({backend}) {what}"
                                 f"{'' if n is None else f' of argument {n}'} has dtype {got.dtype}, "
                                 f"eager has {want.dtype}")
        bad = ~np.isfinite(got64) & np.isfinite(want64)
        if want64.size and (bad.any() or (err > 0).any()):
            j = int(np.argmax(np.where(bad, np.inf, err)))
            idx = _fmt_index(want64.shape, j)
            raise AssertionError(
                f"check_grads: compiled ({backend}) {what}"
                f"{'' if n is None else f' of argument {n}'} disagrees with eager; worst element at "
                f"index {idx}: compiled {got64.reshape(-1)[j]!r}, eager {want64.reshape(-1)[j]!r} "
                f"(rtol={rtol}, atol={atol})")


def check_grads(f, args, order=1, eps=None, rtol=None, atol=None, *, seed=0, compiled=True,
                backend=None):
    """Check f's gradients against central finite differences (random projections, as JAX).

    f takes the arguments in `args` (Tensors, ndarrays, Python floats; other values are passed
    through unchanged) and returns a scalar or an array; a non-scalar result is projected on a
    fixed random cotangent. Every floating point argument is differentiated. For order k, the
    check is repeated on the directional derivative <grad f, u> for a random u, up to order k.
    With `compiled=True` (the default) and `jg.jit_grad` available, the compiled gradient must
    also agree with the eager one (`backend`: default 'cpu' when codegen is built, else
    'interpret'). Raises AssertionError naming the worst element when something disagrees.
    """
    if order < 1:
        raise ValueError(f"check_grads: order must be >= 1, got {order}")
    args = _prep_args(args)
    nums = [i for i, a in enumerate(args) if _is_float_array(a)]
    if not nums:
        raise TypeError("check_grads: no floating point array argument to differentiate")
    dtypes = [np.dtype(args[i].dtype) for i in nums]
    low = min(dtypes, key=lambda d: np.finfo(d).eps)  # least precise dtype sets the defaults
    low = np.dtype(np.finfo(low).dtype)
    d_eps, d_rtol, d_atol = _DEFAULTS.get(low, _DEFAULTS[np.dtype(np.float64)])
    eps = d_eps if eps is None else eps
    rtol = d_rtol if rtol is None else rtol
    atol = d_atol if atol is None else atol
    rng = np.random.default_rng(seed)
    checker = _Checker(f, args, nums, eps, rtol, atol, rng)
    arrays = [np.array(args[i], copy=True) for i in nums]

    fn = checker.call
    eager_value, eager_grads, _ = _grads(fn, arrays)
    for k in range(1, order + 1):
        _check_order1(fn, arrays, eps, rtol, atol, rng, k,
                      "eager" if k == 1 else "(nested reverse-mode)", nums,
                      projected=checker.cotangent is not None)
        if k < order:
            us = [_direction(rng, a) for a in arrays]
            fn = _directional(fn, us)
    from .jit import UNSUPPORTED
    if compiled and not any(d in UNSUPPORTED for d in dtypes):   # dtypes jit_grad refuses: eager only
        _check_compiled(checker, args, nums, eager_value.data, [g.data for g in eager_grads],
                        rtol, atol, backend)


def _direction(rng, a):
    """A random direction of a's dtype: complex ones move the real and imaginary parts."""
    v = rng.standard_normal(a.shape)
    if a.dtype.kind == "c":
        v = v + 1j * rng.standard_normal(a.shape)
    return v.astype(a.dtype)


def _directional(fn, us):
    """xs -> <grad fn(xs), u>, recorded (create_graph) so it can be differentiated again."""
    def g(leaves):
        val = fn(leaves)
        if val.grad_fn is None and not val.requires_grad:
            return Tensor(np.zeros((), val.dtype))
        gs = _grad([val], leaves, allow_unused=True, create_graph=True)
        total = None
        for gi, u in zip(gs, us):
            if gi is None:
                continue
            term = _ops.sum(_ops.mul(_ops.conj(gi), u))      # Re <g, u>: complex inputs too
            if term.dtype.kind == "c":
                term = _ops.cast(term, np.float64)
            total = term if total is None else _ops.add(total, term)
        return total if total is not None else Tensor(np.zeros((), val.dtype))
    return g
