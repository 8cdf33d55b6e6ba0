"""The VJP rules of the primitive table, one line per primitive, kept apart from the rows and
the wrappers as HIPS autograd keeps `numpy_vjps.py`.

A rule receives `(g, out, *inputs, **params)`, where `out` is the primitive's result with its
graph attached, and returns the gradient of one input. Rules are written with tensor ops, so a
backward pass is itself recorded: higher orders for free, and the compiler sees the backward
as ordinary ops. The engine un-broadcasts gradients, so rules ignore broadcasting.

Complex inputs follow PyTorch's convention: the gradient of a real loss is dL/da + i dL/db, so
each rule multiplies by the conjugate of the local derivative (conj of a real value is itself).
A primitive without a line here is not differentiable (comparisons, sign, random numbers): the
engine records nothing for it.
"""
from __future__ import annotations

import math

import numpy as np

from . import ops as T
from .primitives import PRIMS

# ruff: noqa: E731  (one lambda per rule, as in HIPS autograd)


def defvjp(name, *rules):
    """One rule per input of `name`, in order (None: no gradient flows to that input)."""
    PRIMS[name].vjp = rules


def defvjp_argnum(name, rule_for):
    """A variadic primitive: `rule_for(argnum)` gives that input's rule (or None)."""
    PRIMS[name].vjp = rule_for


def _matmul_vjp_b(g, a, b):
    """A matrix shared by a batch (a layer's weight on (batch, seq, features)): one GEMM over the
    folded batch, not a batch of small ones summed afterwards (W9's weight gradients)."""
    if b.ndim == 2 and a.ndim > 2:
        m, (k, n) = math.prod(a.shape[:-1]), b.shape
        return T.matmul(T.conj(T.swap_last(T.reshape(a, (m, k)))), T.reshape(g, (m, n)))
    return T.matmul(T.conj(T.swap_last(a)), g)


def _window(p):
    return {k: p[k] for k in ("kernel", "stride", "padding", "dilation")}


# ------------------------------------------------------------------- elementwise, unary
defvjp("neg", lambda g, out, x: -g)
defvjp("exp", lambda g, out, x: g * T.conj(out))
defvjp("log", lambda g, out, x: g / T.conj(x))
defvjp("log1p", lambda g, out, x: g / T.conj(1 + x))
defvjp("expm1", lambda g, out, x: g * T.conj(out + 1))
defvjp("sqrt", lambda g, out, x: g * 0.5 / T.conj(out))
defvjp("sin", lambda g, out, x: g * T.conj(T.cos(x)))
defvjp("cos", lambda g, out, x: -g * T.conj(T.sin(x)))
defvjp("tanh", lambda g, out, x: g * T.conj(1 - out * out))
defvjp("sigmoid", lambda g, out, x: g * T.conj(out * (1 - out)))
defvjp("softplus", lambda g, out, x: g * T.sigmoid(x))
defvjp("erf", lambda g, out, x: g * float(2 / np.sqrt(np.pi)) * T.conj(T.exp(-x * x)))
defvjp("relu", lambda g, out, x: T.keep_graph(T.where(x > 0, g, 0), x))
defvjp("abs", lambda g, out, x: T.abs_vjp(g, out, x))
defvjp("conj", lambda g, out, x: T.conj(g))
defvjp("zero_dep", lambda g, out, a, x: g, lambda g, out, a, x: T.zeros_for(x))
defvjp("cast", lambda g, out, x, dtype: T.cast(g, x.dtype) if x.dtype.kind in "fc" else None)
# ------------------------------------------------------------------- elementwise, binary
defvjp("add", lambda g, out, x, y: g, lambda g, out, x, y: g)
defvjp("sub", lambda g, out, x, y: g, lambda g, out, x, y: -g)
defvjp("mul", lambda g, out, x, y: g * T.conj(y), lambda g, out, x, y: g * T.conj(x))
defvjp("div", lambda g, out, x, y: g / T.conj(y), lambda g, out, x, y: -g * T.conj(out / y))
defvjp("pow", lambda g, out, x, y: g * T.conj(y * x ** (y - 1)), lambda g, out, x, y: T.pow_exponent_vjp(g, out, x))
# the winner of a max (min) takes the gradient, ties share it evenly (PyTorch's convention)
defvjp("maximum", lambda g, out, x, y: T.keep_graph(T.where(x > y, g, T.where(x == y, g * 0.5, 0)), x, y),
       lambda g, out, x, y: T.keep_graph(T.where(y > x, g, T.where(x == y, g * 0.5, 0)), x, y))
defvjp("minimum", lambda g, out, x, y: T.keep_graph(T.where(x < y, g, T.where(x == y, g * 0.5, 0)), x, y),
       lambda g, out, x, y: T.keep_graph(T.where(y < x, g, T.where(x == y, g * 0.5, 0)), x, y))
defvjp("where", None, lambda g, out, c, x, y: T.where(c, g, 0), lambda g, out, c, x, y: T.where(c, 0, g))
# ------------------------------------------------------------------- reductions
defvjp("reduce_sum", lambda g, out, x, axes, keepdims: T.broadcast_to(T.keep_axes(g, axes, keepdims), x.shape))
defvjp("reduce_max", lambda g, out, x, axes, keepdims: T.max_vjp(g, out, x, axes, keepdims))
# ------------------------------------------------------------------- shape, views, indexing
defvjp("reshape", lambda g, out, x, shape: T.reshape(g, x.shape))
defvjp("transpose", lambda g, out, x, axes: T.transpose(g, tuple(np.argsort(axes))))
defvjp("broadcast_to", lambda g, out, x, shape: g)
defvjp_argnum("getitem", lambda i: (lambda g, out, x, *arrays, index: T.index_add(g, *arrays, index=index,
                                                                                   shape=x.shape)) if i == 0 else None)
defvjp_argnum("index_add", lambda i: (lambda g, out, x, *arrays, index, shape: T.getitem_spec(g, arrays, index))
              if i == 0 else None)
defvjp_argnum("concatenate", lambda i: (lambda g, out, *xs, axis: T.concat_vjp(g, xs, axis, i)))
# ------------------------------------------------------------------- sliding windows, matmul
defvjp("unfold", lambda g, out, x, **p: T.fold(g, x.shape[2:], **_window(p)))
defvjp("fold", lambda g, out, cols, size, **p: T.unfold(g, grid=cols.shape[4:], fill=0.0, **p))
defvjp("matmul", lambda g, out, a, b: T.matmul(g, T.conj(T.swap_last(b))), lambda g, out, a, b: _matmul_vjp_b(g, a, b))
