"""Differentiable math on Tensors: thin wrappers over primitives, and composites built from them.

Composites need no VJP rules of their own; the ones that would be unstable written naively
(logsumexp, softmax, log_softmax) subtract a stop-gradient maximum first.
"""
from __future__ import annotations

import builtins

import numpy as np

from .primitives import PRIMS
from .rng import draw_seed
from .tensor import (STATE, ShapeError, Tensor, TraceError, arrays_of, as_input, bind, no_grad,
                     refuse_if_differentiated, where_str)

P = PRIMS


def _t(x):
    return as_input(x)


# ----------------------------------------------------------------------------- elementwise
def add(x, y): return bind(P["add"], x, y)
def sub(x, y): return bind(P["sub"], x, y)
def mul(x, y): return bind(P["mul"], x, y)
def neg(x): return bind(P["neg"], x)
def _unary(prim):
    def op(x):
        return bind(prim, x)
    op.__name__ = op.__qualname__ = prim.name
    op.__doc__ = f"Elementwise {prim.name} (the {prim.name!r} row of tracer.primitives)."
    return op


# the rows marked api=True: jg.exp, jg.tanh, ..., defined from the table alone
PUBLIC = {p.name: _unary(p) for p in PRIMS.values() if p.api}
globals().update(PUBLIC)
exp, log, tanh, sin, cos, sqrt, abs, sign = (PUBLIC[n] for n in "exp log tanh sin cos sqrt abs sign".split())  # noqa: used below


def conj(x):
    """Complex conjugate; a real tensor is returned as it is (nothing recorded)."""
    x = _t(x)
    return bind(P["conj"], x) if x.dtype.kind == "c" else x


def real(x):
    """The real part (a real tensor as it is); its gradient is the real gradient."""
    x = _t(x)
    return cast(x, x.data.real.dtype) if x.dtype.kind == "c" else x


def imag(x):
    """The imaginary part: Re(-i z), so the gradient of a real loss comes back as i dL/db."""
    x = _t(x)
    if x.dtype.kind != "c":
        raise TypeError(f"imag: a {x.dtype} tensor has no imaginary part (as in PyTorch) at {where_str()}")
    return real(x * -1j)


def maximum(x, y): return bind(P["maximum"], x, y)
def minimum(x, y): return bind(P["minimum"], x, y)
def stop_gradient(x): return bind(P["stop_gradient"], x)
def zero_dep(g, x): return bind(P["zero_dep"], g, x)
def square(x): return mul(x, x)
def logical_and(x, y): return bind(P["logical_and"], x, y)
def logical_or(x, y): return bind(P["logical_or"], x, y)
def logical_not(x): return bind(P["logical_not"], x)


def _float_inputs(x, y):
    """Division and non-integer powers of integer tensors give float64, as in NumPy."""
    x, y = as_input(x, y if isinstance(y, Tensor) else None), as_input(y, x if isinstance(x, Tensor) else None)
    if x.dtype.kind in "biu" and y.dtype.kind in "biu":
        x, y = cast(x, np.float64), cast(y, np.float64)
    return x, y


def div(x, y):
    return bind(P["div"], *_float_inputs(x, y))


def pow(x, y):
    xt = as_input(x, y if isinstance(y, Tensor) else None)
    return bind(P["pow"], xt, as_input(y, xt))


def cast(x, dtype):
    x = _t(x)
    dtype = np.dtype(dtype)
    if x.dtype == dtype:
        return x
    return bind(P["cast"], x, dtype=dtype)


astype = cast


def where(cond, x, y):
    """Python scalars take the dtype of the other branch (NumPy's weak scalars)."""
    other = x if isinstance(x, Tensor) else y if isinstance(y, Tensor) else None
    return bind(P["where"], cond, as_input(x, other), as_input(y, other))


def clip(x, a_min=None, a_max=None):
    """Gradient 1 inside [a_min, a_max] (bounds included), 0 outside, as torch.clamp."""
    x = _t(x)
    if a_min is not None:
        x = where(lt(x, a_min), a_min, x)
    if a_max is not None:
        x = where(gt(x, a_max), a_max, x)
    return x


def lt(x, y): return bind(P["lt"], x, y)
def le(x, y): return bind(P["le"], x, y)
def gt(x, y): return bind(P["gt"], x, y)
def ge(x, y): return bind(P["ge"], x, y)
def eq(x, y): return bind(P["eq"], x, y)
def ne(x, y): return bind(P["ne"], x, y)


# ----------------------------------------------------------------------------- reductions
def normalize_axes(axis, ndim, op="reduction"):
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for a in axes:
        a = int(a)
        if not -builtins.max(ndim, 1) <= a < builtins.max(ndim, 1):   # 0-d: axis 0 or -1, as PyTorch
            raise ShapeError(f"{op}: axis {a} is out of bounds for a tensor of dimension {ndim} "
                             f"at {where_str()}")
        out.append(a % ndim if ndim else 0)
    if len(set(out)) != len(out):
        raise ShapeError(f"{op}: repeated axis in {axis} at {where_str()}")
    return tuple(sorted(out)) if ndim else ()


def sum(x, axis=None, keepdims=False):
    x = _t(x)
    return bind(P["reduce_sum"], x, axes=normalize_axes(axis, x.ndim, "sum"), keepdims=bool(keepdims))


def max(x, axis=None, keepdims=False):
    x = _t(x)
    axes = normalize_axes(axis, x.ndim, "max")
    if x.size == 0 and builtins.any(x.shape[a] == 0 for a in axes) or (x.size == 0 and not axes):
        raise ShapeError(f"max: zero-size reduction over axes {axes} of a tensor of shape {x.shape} "
                         f"has no identity at {where_str()}")
    return bind(P["reduce_max"], x, axes=axes, keepdims=bool(keepdims))


def min(x, axis=None, keepdims=False):
    return neg(max(neg(x), axis, keepdims))


def mean(x, axis=None, keepdims=False):
    x = _t(x)
    axes = normalize_axes(axis, x.ndim, "mean")
    n = int(np.prod([x.shape[a] for a in axes], dtype=np.int64))
    s = sum(x if x.dtype.kind in "fc" else cast(x, np.float64), axes, keepdims)
    return div(s, n) if n else mul(s, np.nan)


def keep_axes(g, axes, keepdims):
    """Reinsert the reduced axes of a reduction's gradient as length-1 axes."""
    if keepdims or not axes:
        return g
    shape = list(g.shape)
    for a in axes:
        shape.insert(a, 1)
    return reshape(g, tuple(shape))


def var(x, axis=None, ddof=0, keepdims=False):
    """Variance about the mean, divided by n - ddof (NumPy's convention; torch.var's
    `correction`)."""
    x = _t(x)
    axes = normalize_axes(axis, x.ndim, "var")
    n = int(np.prod([x.shape[a] for a in axes], dtype=np.int64))
    d = x - mean(x, axes, keepdims=True)
    s = sum(d * d, axes, keepdims)
    return div(s, n - ddof) if n - ddof > 0 else mul(s, np.nan)


def std(x, axis=None, ddof=0, keepdims=False):
    return sqrt(var(x, axis, ddof, keepdims))


def _arg_extreme(x, axis, keepdims, largest, name):
    """The first index of the maximum (minimum) along `axis`, NaN first as NumPy: the smallest
    index where x equals its max or is NaN. Composed from the table (max, where, comparisons),
    so it compiles; integer-valued, never differentiated."""
    x = _t(x)
    if axis is None:
        flat = reshape(x, (x.size,))
        r = _arg_extreme(flat, 0, False, largest, name)
        return reshape(r, (1,) * x.ndim) if keepdims else r
    ax = normalize_axes(axis, x.ndim, name)[0]
    if x.shape[ax] == 0:
        raise ShapeError(f"{name}: attempt to get {name} of an empty sequence (axis {ax} of shape {x.shape}) "
                         f"at {where_str()}")
    x = stop_gradient(x)
    v = x if largest else neg(x)
    hit = logical_or(eq(v, max(v, ax, keepdims=True)), ne(v, v)) if x.dtype.kind in "fc" else \
        eq(v, max(v, ax, keepdims=True))
    shape = [1] * x.ndim
    shape[ax] = x.shape[ax]
    iota = np.arange(x.shape[ax], dtype=np.int64).reshape(shape)
    return min(where(hit, iota, x.shape[ax]), ax, keepdims)


def argmax(x, axis=None, keepdims=False):
    return _arg_extreme(x, axis, keepdims, True, "argmax")


def argmin(x, axis=None, keepdims=False):
    return _arg_extreme(x, axis, keepdims, False, "argmin")


def cumsum(x, axis=None):
    """Inclusive running sum (axis None: over the flattened tensor, as NumPy). A log-step scan
    (Hillis-Steele: ceil(log2 n) shifted adds) built from concatenate and slicing, so it is
    differentiable to any order and compiles like any other composite."""
    x = _t(x)
    if axis is None:
        x, axis = reshape(x, (x.size,)), 0
    ax = normalize_axes(axis, x.ndim, "cumsum")[0] if x.ndim else 0
    if x.ndim == 0:
        return x
    if x.dtype.kind in "bu" or (x.dtype.kind == "i" and x.dtype.itemsize < 8):
        x = cast(x, np.int64 if x.dtype.kind in "bi" else np.uint64)
    n, y, k = x.shape[ax], x, 1
    while k < n:
        pad = list(x.shape)
        pad[ax] = k
        head = [slice(None)] * x.ndim
        head[ax] = slice(0, n - k)
        y = y + concatenate([broadcast_to(cast(0, x.dtype), tuple(pad)), getitem(y, tuple(head))], ax)
        k *= 2
    return y


def max_vjp(g, out, x, axes, keepdims):
    """Ties share the gradient equally (as torch.amax)."""
    g, out = keep_axes(g, axes, keepdims), keep_axes(out, axes, keepdims)
    mask = cast(eq(x, out), x.dtype)
    return keep_graph(mask * (g / sum(mask, axes, keepdims=True)), x)


def abs_vjp(g, out, x):
    """g * sign(x); for complex x sign is x/|x| (PyTorch's sgn, 0 at 0), smooth, so it stays
    differentiable instead of being a zero-derivative mask."""
    if x.dtype.kind == "c":
        return g * where(eq(out, 0), 0, x / where(eq(out, 0), 1, out))
    return keep_graph(g * sign(x), x)


def pow_exponent_vjp(g, out, x):
    """d(x**y)/dy = x**y log x: for a real result only where x > 0 (0 elsewhere, as PyTorch);
    for a complex one the principal log, everywhere but x = 0."""
    if out.dtype.kind == "c":
        zero = eq(x, 0)
        return where(zero, 0, g * conj(out * log(where(zero, 1, cast(x, out.dtype)))))
    return where(x > 0, g * out * log(where(x > 0, x, 1)), 0)


def keep_graph(r, *deps):
    """A derivative whose value depends on an input only through a mask or a sign (relu, abs,
    max): PyTorch keeps that input in the graph (ThresholdBackward, SgnBackward), so under
    create_graph=True the gradient is differentiable again and its derivative is zeros, not
    an error. Recorded only when grad mode is on and the result would not be."""
    if not STATE.grad_enabled or r.requires_grad or r._tape_ids:
        return r
    for d in deps:
        if isinstance(d, Tensor) and (d.requires_grad or d._tape_ids):
            return zero_dep(r, d)
    return r


def zeros_for(x):
    """Zeros of x's shape and dtype (a zero derivative, NaN-free whatever the incoming gradient)."""
    return broadcast_to(np.zeros((), x.dtype), x.shape)


def logsumexp(x, axis=None, keepdims=False):
    x = _t(x)
    axes = normalize_axes(axis, x.ndim, "logsumexp")
    m = stop_gradient(max(x, axes, keepdims=True))
    m = where(eq(abs(m), np.inf), 0, m)
    r = log(sum(exp(x - m), axes, keepdims=True)) + m
    return r if keepdims else reshape(r, tuple(d for i, d in enumerate(r.shape) if i not in axes))


def softmax(x, axis=-1):
    x = _t(x)
    e = exp(x - stop_gradient(max(x, axis, keepdims=True)))
    return e / sum(e, axis, keepdims=True)


def log_softmax(x, axis=-1):
    return x - logsumexp(x, axis, keepdims=True)


# ----------------------------------------------------------------------------- shapes
def _shape_arg(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return tuple(int(s) for s in shape)


def reshape(x, *shape):
    x = _t(x)
    shape = _shape_arg(shape)
    if shape.count(-1) == 1:
        known = int(np.prod([s for s in shape if s != -1], dtype=np.int64))
        if known == 0 or x.size % known:
            raise ShapeError(f"reshape: cannot reshape {x.shape} (size {x.size}) into {shape} "
                             f"at {where_str()}")
        shape = tuple(x.size // known if s == -1 else s for s in shape)
    if shape == x.shape:
        return x
    return bind(P["reshape"], x, shape=shape)


def transpose(x, *axes):
    x = _t(x)
    axes = _shape_arg(axes) if axes and axes != (None,) else tuple(reversed(range(x.ndim)))
    if sorted(a % builtins.max(x.ndim, 1) for a in axes) != list(range(x.ndim)):
        raise ShapeError(f"transpose: axes {axes} are not a permutation for shape {x.shape} "
                         f"at {where_str()}")
    axes = tuple(a % x.ndim for a in axes)
    if axes == tuple(range(x.ndim)):
        return x
    return bind(P["transpose"], x, axes=axes)


def swapaxes(x, a, b):
    x = _t(x)
    axes = list(range(x.ndim))
    axes[a], axes[b] = axes[b], axes[a]
    return transpose(x, tuple(axes))


def swap_last(x):
    return swapaxes(x, -1, -2)


def broadcast_to(x, shape):
    x = _t(x)
    shape = tuple(int(s) for s in shape)
    if x.shape == shape:
        return x
    return bind(P["broadcast_to"], x, shape=shape)


def squeeze(x, axis=None):
    x = _t(x)
    if axis is None:
        axes = tuple(i for i, d in enumerate(x.shape) if d == 1)
    else:
        axes = normalize_axes(axis, x.ndim, "squeeze")
        bad = [a for a in axes if x.shape[a] != 1]
        if bad:
            raise ShapeError(f"squeeze: axis {bad[0]} of shape {x.shape} has size {x.shape[bad[0]]}, "
                             f"not 1, at {where_str()}")
    return reshape(x, tuple(d for i, d in enumerate(x.shape) if i not in axes))


def expand_dims(x, axis):
    x = _t(x)
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    n = x.ndim + len(axes)
    axes = normalize_axes(axes, n, "expand_dims")
    shape, it = [], iter(x.shape)
    for i in range(n):
        shape.append(1 if i in axes else next(it))
    return reshape(x, tuple(shape))


def concatenate(tensors, axis=0):
    ts = [_t(t) for t in tensors]
    if not ts:
        raise ValueError("concatenate: need at least one tensor")
    nd = ts[0].ndim
    if nd == 0:
        raise ShapeError(f"concatenate: zero-dimensional tensors cannot be concatenated at {where_str()}")
    ax = normalize_axes(axis, nd, "concatenate")[0]
    for t in ts[1:]:
        if t.ndim != nd or builtins.any(a != b for i, (a, b) in enumerate(zip(t.shape, ts[0].shape)) if i != ax):
            raise ShapeError("concatenate: shapes " + ", ".join(str(t.shape) for t in ts)
                             + f" differ outside axis {ax} at {where_str()}")
    if len(ts) == 1:
        return ts[0]
    return bind(P["concatenate"], *ts, axis=ax)


def concat_vjp(g, xs, axis, i):
    start = builtins.sum(x.shape[axis] for x in xs[:i])
    idx = [slice(None)] * g.ndim
    idx[axis] = slice(start, start + xs[i].shape[axis])
    return getitem(g, tuple(idx))


def stack(tensors, axis=0):
    ts = [_t(t) for t in tensors]
    if not ts:
        raise ValueError("stack: need at least one tensor")
    shapes = {t.shape for t in ts}
    if len(shapes) > 1:
        raise ShapeError("stack: all tensors must have the same shape, got "
                         + ", ".join(str(t.shape) for t in ts) + f" at {where_str()}")
    ax = normalize_axes(axis, ts[0].ndim + 1, "stack")[0]
    return concatenate([expand_dims(t, ax) for t in ts], ax)


# ----------------------------------------------------------------------------- matmul
def matmul(a, b):
    a, b = _t(a), _t(b)
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError(f"matmul: both operands need at least 1 dimension, got shapes {a.shape} and "
                         f"{b.shape} at {where_str()}")
    a2 = reshape(a, (1,) + a.shape) if a.ndim == 1 else a
    b2 = reshape(b, b.shape + (1,)) if b.ndim == 1 else b
    if a2.shape[-1] != b2.shape[-2]:
        raise ShapeError(f"matmul: shapes {a.shape} and {b.shape} are not aligned "
                         f"({a2.shape[-1]} != {b2.shape[-2]}) at {where_str()}")
    out = bind(P["matmul"], a2, b2)
    if a.ndim == 1 or b.ndim == 1:
        shape = out.shape[:-2] + ((out.shape[-2],) if a.ndim > 1 else ()) + \
            ((out.shape[-1],) if b.ndim > 1 else ())
        out = reshape(out, shape)
    return out


def dot(a, b):
    a, b = _t(a), _t(b)
    if a.ndim == 0 or b.ndim == 0:
        return mul(a, b)
    if a.ndim > 2 or b.ndim > 2:
        raise ShapeError(f"dot: only 1-D and 2-D operands are supported (got {a.shape} and {b.shape}); "
                         f"use matmul at {where_str()}")
    return matmul(a, b)


# ----------------------------------------------------------------------------- sliding windows
def unfold(x, kernel, stride, padding, dilation, grid, fill=0.0):
    """im2col of x (N, C, H, W): cols (C, KH, KW, N, OH, OW), `fill` outside the input (the
    'unfold' row). `padding` is the leading pad; the trailing one follows from `grid` (OH, OW)."""
    return bind(P["unfold"], x, kernel=tuple(kernel), stride=tuple(stride), padding=tuple(padding),
                dilation=tuple(dilation), grid=tuple(grid), fill=float(fill))


def fold(cols, size, kernel, stride, padding, dilation):
    """col2im: the (N, C, *size) array whose unfold is adjoint to cols (window entries summed)."""
    return bind(P["fold"], cols, size=tuple(size), kernel=tuple(kernel), stride=tuple(stride),
                padding=tuple(padding), dilation=tuple(dilation))


# ----------------------------------------------------------------------------- state and randomness
def assign_(target, value):
    """`target`'s values become `value` (a state update, never differentiated). Eagerly that
    happens now, in place; under jit_grad the compiled function computes it on every call and
    writes it back afterwards (PyTorch's BatchNorm buffers under torch.compile)."""
    value = stop_gradient(cast(_t(value), target.dtype))
    if value.shape != target.shape:
        raise ShapeError(f"assign_: a value of shape {value.shape} for a tensor of shape {target.shape} "
                         f"at {where_str()}")
    fx = STATE.effects
    if fx is None:
        np.copyto(target.data, value.data)
        return target
    if builtins.any(t is target for t, _ in fx.updates):
        raise TraceError(f"assign_: a tensor of shape {target.shape} is updated twice in one jit_grad "
                         f"function (a module with running statistics called twice?); the second update "
                         f"would not see the first at {where_str()}")
    fx.updates.append((target, value))
    return target


def random_seed():
    """A 0-d int64 seed drawn from the global generator (`jg.manual_seed`). Under jit_grad it
    is an input of the compiled function, drawn afresh on every call, so masks differ per call
    and equal eager ones for the same seed."""
    fx = STATE.effects
    if fx is None:
        return Tensor(draw_seed())
    t = Tensor(np.zeros((), np.int64))
    t._traced = True
    fx.seeds.append(t)
    return t


def uniform(seed, shape, dtype=np.float64):
    """Uniform [0, 1) numbers of `shape`, a pure function of `seed` and each element's index."""
    return bind(P["uniform"], _t(seed), shape=tuple(int(n) for n in shape), dtype=np.dtype(dtype))


# ----------------------------------------------------------------------------- indexing
def _normalize_index(x, key):
    """Index spec: a tuple of ('slice', start, stop, step) | ('int', i) | ('new',) | ('array', k)."""
    if not isinstance(key, tuple):
        key = (key,)
    arrays, spec = [], []
    n_real = builtins.sum(_t_ndim(k) if _is_bool_index(k) else 1 for k in key if k is not None and k is not Ellipsis)
    if builtins.sum(1 for k in key if k is Ellipsis) > 1:
        raise IndexError("getitem: an index can only have a single ellipsis ('...')")
    if n_real > x.ndim:
        raise IndexError(f"getitem: too many indices for a tensor of shape {x.shape} at {where_str()}")
    dim = 0
    for k in key:
        if k is Ellipsis:
            spec += [("slice", 0, x.shape[d], 1) for d in range(dim, dim + x.ndim - n_real)]
            dim += x.ndim - n_real
        elif k is None:
            spec.append(("new",))
        elif isinstance(k, slice):
            spec.append(("slice",) + k.indices(x.shape[dim]))
            dim += 1
        elif isinstance(k, (int, np.integer)) and not isinstance(k, bool):
            spec.append(("int", _int_index(k, x.shape[dim], dim)))
            dim += 1
        else:
            found = _bool_index(k, x.shape, dim) if _is_bool_index(k) else [_array_index(k, x.shape[dim], dim)]
            for kt in found:
                spec.append(("array", len(arrays)))
                arrays.append(kt)
            dim += len(found)
    spec += [("slice", 0, x.shape[d], 1) for d in range(dim, x.ndim)]
    return tuple(spec), arrays


def _int_index(k, n, dim):
    if not -n <= k < n:
        raise IndexError(f"getitem: index {k} is out of bounds for axis {dim} with size {n} at {where_str()}")
    return int(k) % n


def _bool_index(k, shape, dim):
    """A mask over axes dim, dim + 1, ...: one integer index array per axis (its nonzeros)."""
    kt = k if isinstance(k, Tensor) else Tensor(np.asarray(k))
    if kt._traced and STATE.trace_depth:
        raise TraceError(f"getitem: a boolean mask computed from traced values gives a "
                         f"data-dependent shape, which cannot be compiled, at {where_str()}; "
                         f"use jg.where instead")
    mask = kt.data
    if mask.shape != shape[dim:dim + mask.ndim]:
        raise IndexError(f"getitem: boolean index of shape {mask.shape} does not match "
                         f"shape {shape[dim:dim + mask.ndim]} at axis {dim} at {where_str()}")
    return [Tensor(nz) for nz in np.nonzero(mask)]


def _array_index(k, n, dim):
    """An integer index array along an axis of size n: checked and made non-negative when its
    values are known (a traced one is wrapped by the compiled code)."""
    kt = k if isinstance(k, Tensor) else Tensor(np.asarray(k))
    if kt.dtype.kind not in "iu":
        raise IndexError(f"getitem: index arrays must be integers or booleans, got dtype "
                         f"{kt.dtype} at {where_str()}")
    if kt._traced:
        return kt
    if kt.size and (kt.data.max() >= n or kt.data.min() < -n):
        raise IndexError(f"getitem: index out of bounds for axis {dim} with size {n} at {where_str()}")
    return Tensor(np.where(kt.data < 0, kt.data + n, kt.data).astype(np.int64))


def _is_bool_index(k):
    if isinstance(k, Tensor):
        return k.dtype == np.bool_
    if isinstance(k, (list, np.ndarray)):
        return np.asarray(k).dtype == np.bool_
    return False


def _t_ndim(k):
    return k.ndim if isinstance(k, Tensor) else np.asarray(k).ndim


def getitem(x, key):
    x = _t(x)
    spec, arrays = _normalize_index(x, key)
    if not arrays and builtins.all(e == ("slice", 0, d, 1) for e, d in zip(spec, x.shape)) \
            and len(spec) == x.ndim:
        return x
    return bind(P["getitem"], x, *arrays, index=spec)


def getitem_spec(x, arrays, index):
    return bind(P["getitem"], x, *arrays, index=index)


def index_add(g, *arrays, index, shape):
    return bind(P["index_add"], g, *arrays, index=index, shape=tuple(shape))


# ----------------------------------------------------------------------------- Tensor methods
def _rev(fn):
    return lambda self, other: fn(other, self)


def _setitem(self, key, value):
    if (STATE.grad_enabled and (self._requires_grad or self.grad_fn is not None)) or self._traced:
        raise RuntimeError(f"in-place assignment t[...] = v on a tensor that is recorded (shape {self.shape}) "
                           f"is not supported, at {where_str()}; build a new tensor with jg.where or "
                           f"jg.concatenate (or assign under jg.no_grad())")
    data = _writable(self)
    data[key] = np.asarray(value.data if isinstance(value, Tensor) else value)
    self.data = data
    self._version += 1


def _writable(t):
    """The array an in-place update of `t` writes: its own (views see the change, as in PyTorch),
    unless that is a recorded node's output (the node keeps its value) or read-only memory."""
    d = t.data
    return d if t.grad_fn is None and t._value_node is None and d.flags.writeable else d.copy()


# ----------------------------------------------------------------------------- in-place updates
def update_inplace(self, fn, *args, name):
    """`t -= v`, `t.add_(v)`, `t.zero_()`...: PyTorch's in-place ops, mainly for update steps
    (`with jg.no_grad(): w -= lr * w.grad`). The tensor's version is bumped, so a recorded op that
    saved its old value refuses to backpropagate rather than give a wrong gradient. With grad mode
    on and a recorded operand the update is recorded as `t = fn(t, ...)` taking over t's identity;
    a leaf that requires grad cannot be updated then (PyTorch's rule)."""
    others = [a for a in args if isinstance(a, Tensor)]
    if STATE.trace_depth and (self._traced or builtins.any(a._traced for a in others)):
        raise TraceError(f"{name}: in-place updates of traced tensors are not supported under jit_grad "
                         f"(shape {self.shape}) at {where_str()}; write t = t + v instead")
    recorded = STATE.grad_enabled and (self._requires_grad or self._tape_ids or builtins.any(
        a._requires_grad or a._tape_ids for a in others))
    if recorded and self.grad_fn is None and self._requires_grad:
        raise RuntimeError(f"{name}: a leaf Variable that requires grad (shape {self.shape}) is being used "
                           f"in an in-place operation at {where_str()}; do updates under jg.no_grad()")
    if recorded:
        old = Tensor(self.data, _user=self._is_user_tensor)
        old.grad_fn, old._out_idx, old._requires_grad, old._tape_ids = \
            self.grad_fn, self._out_idx, self._requires_grad, self._tape_ids
        r = fn(old, *args)
    else:
        with no_grad():
            r = fn(Tensor(self.data), *args)
    if r.shape != self.shape:
        raise ShapeError(f"{name}: the result has shape {r.shape} but the tensor updated in place has "
                         f"shape {self.shape} at {where_str()}")
    if not np.can_cast(r.dtype, self.dtype, "same_kind"):
        raise TypeError(f"{name}: result type {r.dtype} can't be cast to the tensor's dtype {self.dtype} "
                        f"at {where_str()}")
    if recorded:
        r = cast(r, self.dtype) if r.dtype != self.dtype else r
        self.data, self.grad_fn, self._out_idx = r.data, r.grad_fn, r._out_idx
        self._requires_grad, self._tape_ids = r._requires_grad, r._tape_ids
    else:
        data = _writable(self)
        np.copyto(data, r.data, casting="same_kind")
        self.data = data
    self._version += 1
    return self


def _inplace(fn, name):
    def method(self, *args, **kwargs):
        return update_inplace(self, (lambda *a: fn(*a, **kwargs)) if kwargs else fn, *args, name=name)
    method.__name__ = name
    return method


def _scaled(fn):
    return lambda x, y, alpha=1: fn(x, y if alpha == 1 else mul(y, alpha))


INPLACE = {
    "__iadd__": add, "__isub__": sub, "__imul__": mul, "__itruediv__": div, "__ipow__": pow,
    "add_": _scaled(add), "sub_": _scaled(sub), "mul_": mul, "div_": div, "pow_": pow,
    "clamp_": lambda x, min=None, max=None: clip(x, min, max),
    "copy_": lambda x, src: broadcast_to(cast(src, x.dtype), x.shape),
    "fill_": lambda x, value: broadcast_to(cast(value, x.dtype), x.shape),
    "zero_": lambda x: broadcast_to(np.zeros((), x.dtype), x.shape),
}


def _np_method(fn):
    """Tensor.sum/mean/max/min, also as NumPy calls them (`np.sum(t)` passes dtype=, out=)."""
    def method(self, axis=None, keepdims=False, dtype=None, out=None, **kwargs):
        if out is not None:
            raise TypeError(f"{fn.__name__}: out= is not supported on Tensors")
        if kwargs.get("where", True) is True:
            kwargs.pop("where", None)
        if kwargs:
            raise TypeError(f"{fn.__name__}: unsupported arguments {sorted(kwargs)}")
        r = fn(self, axis, keepdims)
        return r if dtype is None else cast(r, dtype)
    method.__name__ = fn.__name__
    return method


def _bool_only(logical, ufunc):
    """`&`, `|`, `~` on booleans are the logical ops; on integers NumPy's bitwise ops (no grad)."""
    def fn(*xs):
        datas = [np.asarray(x.data if isinstance(x, Tensor) else x) for x in xs]
        if builtins.all(d.dtype == np.bool_ for d in datas):
            return logical(*xs)
        if not builtins.all(d.dtype.kind in "biu" for d in datas):
            raise TypeError(f"{ufunc.__name__}: bitwise ops take integer or boolean tensors, got "
                            f"{', '.join(str(d.dtype) for d in datas)} at {where_str()}")
        if STATE.trace_depth and builtins.any(isinstance(x, Tensor) and x._traced for x in xs):
            raise TraceError(f"{ufunc.__name__} of integer tensors is not supported under jit_grad "
                             f"(it would be computed once, at trace time) at {where_str()}")
        return Tensor(ufunc(*datas))
    return fn


_AND, _OR, _NOT = (_bool_only(logical_and, np.bitwise_and), _bool_only(logical_or, np.bitwise_or),
                   _bool_only(logical_not, np.invert))

_METHODS = {
    "__add__": add, "__radd__": _rev(add), "__sub__": sub, "__rsub__": _rev(sub),
    "__mul__": mul, "__rmul__": _rev(mul), "__truediv__": div, "__rtruediv__": _rev(div),
    "__pow__": pow, "__rpow__": _rev(pow), "__matmul__": matmul, "__rmatmul__": _rev(matmul),
    "__neg__": neg, "__pos__": lambda self: self, "__abs__": abs,
    "__lt__": lt, "__le__": le, "__gt__": gt, "__ge__": ge, "__eq__": eq, "__ne__": ne,
    # on booleans the logical ops (recorded); on integers bitwise, as PyTorch's and NumPy's
    "__and__": _AND, "__rand__": _rev(_AND), "__or__": _OR, "__ror__": _rev(_OR), "__invert__": _NOT,
    "__getitem__": getitem, "__setitem__": _setitem,
    "sum": _np_method(sum), "mean": _np_method(mean), "max": _np_method(max),
    "min": _np_method(min), "logsumexp": logsumexp,
    "softmax": softmax, "log_softmax": log_softmax,
    "reshape": reshape, "transpose": transpose, "swapaxes": swapaxes, "squeeze": squeeze,
    "expand_dims": expand_dims, "broadcast_to": broadcast_to, "astype": astype,
    "flatten": lambda self: reshape(self, (-1,)), "clip": clip, "matmul": matmul, "dot": dot,
    "square": square, "pow": pow, "maximum": maximum, "minimum": minimum, "conj": conj, **PUBLIC,
}
for _n, _f in _METHODS.items():
    setattr(Tensor, _n, _f)
for _n, _f in INPLACE.items():
    setattr(Tensor, _n, _inplace(_f, _n))
Tensor.real, Tensor.imag = property(real), property(imag)

def _no_out(fn, name):
    """A NumPy function signature on a jitgrad op: `dtype`/`out` and friends are refused."""
    def wrapped(*args, **kwargs):
        extra = {k: v for k, v in kwargs.items() if v is not None and k in ("out", "dtype", "where", "initial")}
        if extra:
            raise TypeError(f"np.{name} on a Tensor: {', '.join(extra)}= is not supported by jitgrad")
        return fn(*args, **{k: v for k, v in kwargs.items() if k not in ("out", "dtype", "where", "initial")})
    return wrapped


ARRAY_FUNCTIONS = {    # the reductions as NumPy calls them: Tensor's methods (dtype=, keepdims=)
    "sum": _METHODS["sum"], "mean": _METHODS["mean"], "max": _METHODS["max"], "amax": _METHODS["max"],
    "min": _METHODS["min"], "amin": _METHODS["min"]}
ARRAY_FUNCTIONS.update({n: _no_out(f, n) for n, f in {
    "concatenate": concatenate, "stack": stack, "where": where, "clip": clip, "dot": dot,
    "matmul": matmul, "reshape": lambda a, newshape=None, shape=None, **kw: reshape(a, shape if shape is not None else newshape),
    "transpose": lambda a, axes=None: transpose(a, *(axes or ())), "swapaxes": swapaxes,
    "squeeze": squeeze, "expand_dims": expand_dims, "broadcast_to": broadcast_to,
    "square": square, "abs": abs, "exp": exp, "log": log, "tanh": tanh, "sqrt": sqrt,
    "real": real, "imag": imag, "conj": conj, "conjugate": conj,
}.items()})

UFUNCS = {
    "add": add, "subtract": sub, "multiply": mul, "true_divide": div, "divide": div,
    "negative": neg, "power": pow, "square": square,
    "maximum": maximum, "minimum": minimum, "less": lt, "less_equal": le, "greater": gt,
    "greater_equal": ge, "equal": eq, "not_equal": ne, "matmul": matmul,
    **{P[n].ufunc: f for n, f in PUBLIC.items() if P[n].ufunc},
    "logical_and": logical_and, "logical_or": logical_or, "logical_not": logical_not,
    "bitwise_and": _AND, "bitwise_or": _OR, "invert": _NOT,   # ndarray & Tensor: as Tensor & Tensor
    "conjugate": conj,
}


# ------------------------------------------------------------------- Tensor methods built on ops
def _array_ufunc(self, ufunc, method, *inputs, **kwargs):
    fn = UFUNCS.get(ufunc.__name__) if method == "__call__" and not kwargs else None
    if fn is None:
        name = f"np.{ufunc.__name__}" + (f".{method}" if method != "__call__" else "")
        refuse_if_differentiated(name, inputs, kwargs)
        arrays = [np.asarray(x) if isinstance(x, Tensor) else x for x in inputs]
        return getattr(ufunc, method)(*arrays, **kwargs)
    return fn(*inputs)


def _array_function(self, func, types, args, kwargs):
    """NumPy functions on Tensors: jitgrad's op where one exists (eagerly and traced alike);
    otherwise NumPy on the arrays when no gradient is involved, else a TypeError, never a
    silently dropped gradient. np.asarray(t) stays the explicit way out of the graph."""
    fn = ARRAY_FUNCTIONS.get(func.__name__)
    if fn is not None:
        return fn(*args, **kwargs)
    refuse_if_differentiated(f"np.{func.__name__}", args, kwargs)
    return func(*arrays_of(args), **arrays_of(kwargs))


def detach(self):
    if self._traced and STATE.trace_depth:
        with no_grad():
            return stop_gradient(self)
    return Tensor(self.data)


Tensor.__array_ufunc__, Tensor.__array_function__ = _array_ufunc, _array_function
Tensor.detach, Tensor.T = detach, property(lambda self: transpose(self))
