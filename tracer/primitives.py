"""The primitive table: one row per primitive, everything the system needs to know about it.

Each row gives the eager NumPy implementation, a shape check (clear errors before NumPy's),
its kind (which picks its lowering and its result-shape rule), its cost, and, for elementwise
primitives, the scalar op the code generator emits. Its VJP rules, one line per primitive,
are in `tracer.vjps` (written with tensor ops, so this module comes before them). Composite ops
(softmax, mean, logsumexp, ...) live in `tracer.ops` and need no rules.

The scalar op of an elementwise row is named by the row (its arity read from `expr`); each
backend renders it from its own `RENDER` table (codegen), and `codegen.ir.OPS` is derived from
this table. Rows with `api=True` become `jg.<name>`, a Tensor method and (with `ufunc=`) the
target of that NumPy ufunc.
"""
from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .rng import uniform_array
from .tensor import ShapeError


@dataclass(eq=False)
class Prim:
    name: str
    impl: Callable
    vjp: object = None          # set by tracer.vjps: a tuple of per-input rules (None: not
                                # differentiable there), or a function argnum -> rule (variadic)
    kind: str = "elementwise"   # one of KINDS: picks the lowering and the result-shape rule
    expr: str | None = None     # elementwise only: the scalar op over {0}, {1}, ... ("{0}": none)
    check: Callable = lambda datas, params: None
    backward_name: str = ""
    cost: int = 1               # relative cost of the scalar op (fusion recomputes cheap ones)
    api: bool = False           # a unary op exported as jg.<name>, Tensor.<name>() ...
    ufunc: str | None = None    # ... and the NumPy ufunc (by __name__) that dispatches to it
    dtype: Callable | None = None   # (datas, params) -> result dtype, where running impl on tiny
                                    # arrays to learn it costs (erf: SciPy's 0.3 s import)
    real_only: bool = False         # complex inputs refused (see _real_only)

    def rule(self, i):
        return self.vjp(i) if callable(self.vjp) else self.vjp[i]

    def abstract_eval(self, datas, params):
        return abstract_eval(self, datas, params)

    @property
    def arity(self):
        """Inputs of the scalar op, from its expression."""
        return len(set(re.findall(r"\{(\d+)\}", self.expr or "")))

    def __repr__(self):
        return f"Prim({self.name})"

    def __eq__(self, other):
        if isinstance(other, str):   # `eqn.prim == "add"` would be False forever: say so instead
            raise TypeError(f"{self!r} compared with the string {other!r}; compare its .name")
        return self is other

    __hash__ = object.__hash__


PRIMS: dict[str, Prim] = {}
KINDS = ("elementwise", "reduce", "view", "index", "scatter", "matmul", "concat", "unfold", "fold", "random")


def _camel(name):
    return "".join(p.capitalize() for p in name.split("_"))


def defprim(name, impl, kind="elementwise", expr=None, check=None, backward=None, cost=1,
            api=False, ufunc=None, dtype=None, real_only=False):
    if kind not in KINDS:
        raise ValueError(f"primitive {name!r}: kind {kind!r} is not one of {KINDS}")
    if check is None and kind == "elementwise":
        check = _check_broadcast
    if real_only:
        check = _real_only(check)
    p = Prim(name, impl, None, kind, expr, check or (lambda d, p: None),
             backward or _camel(name) + "Backward", cost, api, ufunc, dtype, real_only)
    PRIMS[name] = p
    return p


def _real_only(check):
    """Orderings (comparisons, max, relu, sign) and the formulas written for real numbers
    (sigmoid, softplus, erf): NumPy gives complex inputs a lexicographic order or a real-only
    formula, silently wrong; PyTorch refuses them, so do we, eagerly and compiled alike."""
    def checked(datas, params):
        if any(d.dtype.kind == "c" for d in datas):
            raise TypeError("complex numbers have no order and this op is defined for real numbers only; "
                            "apply it to jg.abs(z), jg.real(z) or jg.imag(z)")
        if check is not None:
            check(datas, params)
    return checked


def _check_broadcast(datas, params):
    if len(datas) > 1:
        try:
            broadcast_shapes(*(d.shape for d in datas))
        except ValueError:
            raise ShapeError("operands could not be broadcast together with shapes "
                             + " and ".join(str(d.shape) for d in datas)) from None


def _check_matmul(datas, params):
    a, b = datas
    if a.ndim < 2 or b.ndim < 2 or a.shape[-1] != b.shape[-2]:
        raise ShapeError(f"shapes {a.shape} and {b.shape} are not aligned for matmul "
                         f"({a.shape[-1] if a.ndim else '-'} != {b.shape[-2] if b.ndim > 1 else '-'})")
    try:
        np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ValueError:
        raise ShapeError(f"batch dimensions of {a.shape} and {b.shape} do not broadcast") from None


def _check_reshape(datas, params):
    if int(np.prod(params["shape"], dtype=np.int64)) != datas[0].size:
        raise ShapeError(f"cannot reshape {datas[0].shape} (size {datas[0].size}) into {params['shape']}")


def _check_broadcast_to(datas, params):
    try:
        if np.broadcast_shapes(datas[0].shape, params["shape"]) != tuple(params["shape"]):
            raise ValueError
    except ValueError:
        raise ShapeError(f"cannot broadcast {datas[0].shape} to {params['shape']}") from None


def index_key(index, arrays):
    """NumPy indexing key from a normalised index spec (see ops.getitem) and index arrays."""
    key = []
    for entry in index:
        tag = entry[0]
        if tag == "slice":  # slice.indices() gives stop -1 for a reversed slice down to 0
            stop = None if entry[3] < 0 and entry[2] < 0 else entry[2]
            key.append(slice(entry[1], stop, entry[3]))
        elif tag == "int":
            key.append(entry[1])
        elif tag == "new":
            key.append(None)
        else:
            key.append(arrays[entry[1]])
    return tuple(key)


def _index_add(g, *arrays, index, shape):
    z = np.zeros(shape, dtype=g.dtype)
    np.add.at(z, index_key(index, arrays), g)
    return z


def _cast(x, dtype):
    if x.dtype.kind == "c" and np.dtype(dtype).kind != "c":
        x = x.real          # complex to real keeps the real part (its gradient: the real gradient)
    return x.astype(dtype, copy=False)


def _sigmoid(x):
    # exp of a non-positive number only: no overflow either side
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


def _softplus(x):
    return (np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))).astype(x.dtype, copy=False)


def _erf(x):
    from scipy.special import erf   # SciPy (a dependency) only once erf is computed eagerly
    return erf(x).astype(_erf_dtype([x], {}), copy=False)


def _erf_dtype(datas, params):
    return datas[0].dtype if datas[0].dtype.kind == "f" else np.dtype(np.float64)


def _padded(x, padding, need, fill):
    """x (N, C, H, W) inside a frame of `fill`: `padding` rows/columns before, enough after
    that every window position below `need` (H, W extents) is in range."""
    n, ch, h, w = x.shape
    (ph, pw), (nh, nw) = padding, need
    xp = np.full((n, ch, max(nh, ph + h), max(nw, pw + w)), fill, dtype=x.dtype)
    xp[:, :, ph:ph + h, pw:pw + w] = x
    return xp


def _extent(kernel, stride, dilation, out):
    return tuple((o - 1) * s + (k - 1) * d + 1 for k, s, d, o in zip(kernel, stride, dilation, out))


def _unfold(x, kernel, stride, padding, dilation, grid, fill):
    """im2col: cols[c, i, j, n, a, b] = xpad[n, c, a*sh + i*dh, b*sw + j*dw], laid out so that a
    convolution is one GEMM (C*KH*KW, N*OH*OW) with the batch folded into its columns."""
    xp = _padded(x, padding, _extent(kernel, stride, dilation, grid), fill)
    sn, sc, sh, sw = xp.strides
    win = np.lib.stride_tricks.as_strided(
        xp, (xp.shape[0], xp.shape[1], *kernel, *grid),
        (sn, sc, sh * dilation[0], sw * dilation[1], sh * stride[0], sw * stride[1]), writeable=False)
    return np.ascontiguousarray(win.transpose(1, 2, 3, 0, 4, 5))


def _fold(cols, size, kernel, stride, padding, dilation):
    """col2im, unfold's adjoint: each input position sums the window entries that read it."""
    ch, kh, kw, n, oh, ow = cols.shape
    (ph, pw), (h, w) = padding, size
    xp = np.zeros((n, ch, *(max(e, p + s) for e, p, s in zip(
        _extent(kernel, stride, dilation, (oh, ow)), padding, size))), dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            a, b = i * dilation[0], j * dilation[1]
            xp[:, :, a:a + stride[0] * (oh - 1) + 1:stride[0], b:b + stride[1] * (ow - 1) + 1:stride[1]] += \
                cols[:, i, j].transpose(1, 0, 2, 3)
    return np.ascontiguousarray(xp[:, :, ph:ph + h, pw:pw + w])


def _reduce_max(x, axes, keepdims):
    """np.max; over a few small axes (a pooling window) as elementwise np.maximum of the window's
    slices: NumPy's strided multi-axis reduction was 10-14x slower there (W8's 2x2 max pool)."""
    if axes is None or x.ndim == 0:
        return np.max(x, axis=axes, keepdims=keepdims)
    axes = tuple(sorted(a % x.ndim for a in (axes if isinstance(axes, (tuple, list)) else (axes,))))
    window = math.prod(x.shape[a] for a in axes)
    if not 1 < window <= 16 or x.size < 4096 or axes[-1:] == (x.ndim - 1,) and len(axes) == 1:
        return np.max(x, axis=axes, keepdims=keepdims)
    out = None
    for idx in itertools.product(*(range(x.shape[a]) for a in axes)):
        sl = [slice(None)] * x.ndim
        for a, i in zip(axes, idx):
            sl[a] = i
        v = x[tuple(sl)]
        out = np.array(v) if out is None else np.maximum(out, v, out=out)
    return np.expand_dims(out, axes) if keepdims else out



# ------------------------------------------------------------------- results without computing
# While jit_grad traces, a value that depends on the traced inputs is never read (TraceError),
# so its op is not run: the result is a zero-strided stand-in of the right shape and dtype. A
# trace then costs the Python of the ops, not their arithmetic (a CNN's retrace at a new batch
# size: 0.24 s of NumPy convolutions). Views and indexing run on the stand-ins themselves
# (no arithmetic, and an index stand-in of zeros is in range); the rest use the rules below.

_ZERO_BYTES = bytes(32)    # (read-only) behind every stand-in: all strides 0


def stand_in(shape, dtype):
    shape = tuple(shape)
    return np.ndarray(shape, dtype, buffer=_ZERO_BYTES, strides=(0,) * len(shape))


def broadcast_shapes(*shapes):
    """np.broadcast_shapes, without its cost (~5 us) where the shapes are all the same."""
    first = shapes[0]
    if all(s == first for s in shapes[1:]):
        return tuple(first)
    return np.broadcast_shapes(*shapes)


_RESULT_DTYPES: dict = {}


def _result_dtype(prim, datas, params):
    """The impl's result dtype, from one run on 1-element arrays of the same dtypes and ranks."""
    if prim.dtype is not None:
        return np.dtype(prim.dtype(datas, params))
    try:
        key = (prim.name, tuple((d.dtype, d.ndim) for d in datas), tuple(sorted(params.items())))
        hit = _RESULT_DTYPES.get(key)
    except TypeError:   # unhashable params
        key, hit = None, None
    if hit is None:
        with np.errstate(all="ignore"):
            hit = np.asarray(prim.impl(*(np.zeros((1,) * d.ndim, d.dtype) for d in datas), **params)).dtype
        if key is not None:
            _RESULT_DTYPES[key] = hit
    return hit


def _reduced_shape(shape, axes, keepdims):
    axes = range(len(shape)) if axes is None else (axes,) if isinstance(axes, int) else axes
    axes = {a % len(shape) for a in axes}
    return tuple(1 if i in axes else n for i, n in enumerate(shape) if keepdims or i not in axes)


def _concat_shape(datas, axis):
    shape = list(datas[0].shape)
    shape[axis % len(shape)] = sum(d.shape[axis % len(shape)] for d in datas)
    return shape


SHAPE_RULES = {   # kind -> (datas, params) -> result shape; dtype from _result_dtype
    "elementwise": lambda datas, p: broadcast_shapes(*(d.shape for d in datas)),
    "reduce": lambda datas, p: _reduced_shape(datas[0].shape, p["axes"], p["keepdims"]),
    "matmul": lambda datas, p: broadcast_shapes(datas[0].shape[:-2], datas[1].shape[:-2])
    + (datas[0].shape[-2], datas[1].shape[-1]),
    "concat": lambda datas, p: _concat_shape(datas, p["axis"]),
}
AVAL_RULES = {    # kind -> (datas, params) -> (shape, dtype), where the dtype is not the impl's on tiny arrays
    "scatter": lambda datas, p: (p["shape"], datas[0].dtype),
    "unfold": lambda datas, p: ((datas[0].shape[1], *p["kernel"], datas[0].shape[0], *p["grid"]), datas[0].dtype),
    "fold": lambda datas, p: ((datas[0].shape[3], datas[0].shape[0], *p["size"]), datas[0].dtype),
    "random": lambda datas, p: (p["shape"], np.dtype(p["dtype"])),
}


def abstract_eval(prim, datas, params):
    """A stand-in for `prim.impl(*datas, **params)`: same shape and dtype, nothing computed."""
    if prim.kind in SHAPE_RULES:
        return stand_in(SHAPE_RULES[prim.kind](datas, params), _result_dtype(prim, datas, params))
    if prim.kind in AVAL_RULES:
        return stand_in(*AVAL_RULES[prim.kind](datas, params))
    return np.asarray(prim.impl(*datas, **params))   # view, index: no arithmetic

# ------------------------------------------------------------------- elementwise, unary
defprim("neg", np.negative, expr="(-{0})")
defprim("exp", np.exp, expr="exp({0})", cost=10, api=True, ufunc="exp")
defprim("log", np.log, expr="log({0})", cost=10, api=True, ufunc="log")
defprim("log1p", np.log1p, expr="log1p({0})", cost=10, api=True,
        ufunc="log1p")
defprim("expm1", np.expm1, expr="expm1({0})", cost=10, api=True,
        ufunc="expm1")
defprim("sqrt", np.sqrt, expr="sqrt({0})", cost=10, api=True, ufunc="sqrt")
defprim("sin", np.sin, expr="sin({0})", cost=10, api=True, ufunc="sin")
defprim("cos", np.cos, expr="cos({0})", cost=10, api=True, ufunc="cos")
defprim("tanh", np.tanh, expr="tanh({0})", cost=10, api=True,
        ufunc="tanh")
defprim("sigmoid", _sigmoid, expr="sigmoid({0})", cost=10, api=True, real_only=True)
defprim("softplus", _softplus, expr="softplus({0})", cost=10, api=True, real_only=True)
defprim("erf", _erf, expr="erf({0})", cost=10,
        api=True, ufunc="erf", dtype=_erf_dtype, real_only=True)
defprim("relu", lambda x: np.maximum(x, 0).astype(x.dtype, copy=False), expr="relu({0})", api=True, real_only=True)
defprim("abs", np.abs, expr="abs({0})", api=True,
        ufunc="absolute")
defprim("sign", np.sign, expr="sign({0})", api=True, ufunc="sign", real_only=True)  # zero derivative: not recorded
defprim("stop_gradient", lambda x: x, expr="{0}", backward="StopGradient")
# complex conjugate (ops.conj binds it for complex tensors only)
defprim("conj", np.conj, expr="conj({0})", backward="ConjBackward")
# g, recorded as depending on x with derivative zero (see ops.keep_graph)
defprim("zero_dep", lambda g, x: g,
        expr="{0}", backward="ZeroDepBackward")
defprim("cast", _cast,
        expr="cast({0})", backward="ToCopyBackward")
# ------------------------------------------------------------------- elementwise, binary
defprim("add", np.add, expr="({0} + {1})")
defprim("sub", np.subtract, expr="({0} - {1})")
defprim("mul", np.multiply,
        expr="({0} * {1})")
defprim("div", np.true_divide,
        expr="({0} / {1})", cost=10)
defprim("pow", np.power,
        expr="pow({0}, {1})", cost=10)
defprim("maximum", np.maximum,
        expr="maximum({0}, {1})", real_only=True)
defprim("minimum", np.minimum,
        expr="minimum({0}, {1})", real_only=True)
for _name, _ufunc, _op in [("lt", np.less, "<"), ("le", np.less_equal, "<="), ("gt", np.greater, ">"),
                           ("ge", np.greater_equal, ">="), ("eq", np.equal, "=="),
                           ("ne", np.not_equal, "!=")]:
    defprim(_name, _ufunc, expr=f"({{0}} {_op} {{1}})", real_only=_name not in ("eq", "ne"))
defprim("logical_and", np.logical_and, expr="({0} and {1})")
defprim("logical_or", np.logical_or, expr="({0} or {1})")
defprim("logical_not", np.logical_not, expr="(not {0})")
defprim("where", np.where,
        expr="where({0}, {1}, {2})")
# uniform [0, 1) numbers from a seed (a 0-d int64 input) and each element's C-order index
defprim("uniform", lambda seed, shape, dtype: uniform_array(seed, shape, dtype), kind="random",
        backward="UniformBackward")
# ------------------------------------------------------------------- reductions
defprim("reduce_sum", lambda x, axes, keepdims: np.sum(x, axis=axes, keepdims=keepdims),
        kind="reduce", backward="SumBackward")
defprim("reduce_max", _reduce_max,
        kind="reduce", backward="MaxBackward", real_only=True)
# ------------------------------------------------------------------- shape and views
defprim("reshape", lambda x, shape: np.reshape(x, shape), kind="view", check=_check_reshape,
        backward="ViewBackward")
defprim("transpose", lambda x, axes: np.transpose(x, axes), kind="view",
        backward="PermuteBackward")
defprim("broadcast_to", lambda x, shape: np.broadcast_to(x, shape), kind="view", check=_check_broadcast_to,
        backward="ExpandBackward")
defprim("getitem", lambda x, *arrays, index: x[index_key(index, arrays)], kind="index", backward="IndexBackward")
defprim("index_add", _index_add, kind="scatter", backward="IndexAddBackward")
# ------------------------------------------------------------------- sliding windows (NCHW)
defprim("unfold", _unfold, kind="unfold",
        backward="Im2ColBackward")
defprim("fold", _fold, kind="fold",
        backward="Col2ImBackward")
defprim("concatenate", lambda *xs, axis: np.concatenate(xs, axis=axis), kind="concat",
        backward="CatBackward")
defprim("matmul", np.matmul,
        kind="matmul", check=_check_matmul, backward="MmBackward")

