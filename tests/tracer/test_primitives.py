"""Every primitive in the table and every composite of API.md's Math list, against finite
differences (`jg.check_grads`, orders 1 and 2, float64), plus dtype behaviour.

The cases are one table keyed by primitive / op name: adding a primitive to
`tracer.primitives.PRIMS` without a case here fails `test_every_primitive_has_a_case`.
"""
from __future__ import annotations

import os
import zlib

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import jitgrad as jg
from tracer import ops as T
from tracer.primitives import PRIMS

# compiled-vs-eager agreement inside check_grads: the reference interpreter keeps this file
# fast; JITGRAD_TEST_BACKEND=cpu checks the Numba backend too (slow on a cold kernel cache)
BACKEND = os.environ.get("JITGRAD_TEST_BACKEND", "interpret")

rng0 = np.random.default_rng(1234)


# ----------------------------------------------------------------------------- argument makers
def N(*shape):            # anywhere
    return ("n", shape)


def P(*shape):            # positive, away from 0 (log, sqrt, pow base, division)
    return ("p", shape)


def A(*shape):            # away from 0 either sign (relu, abs, sign kinks)
    return ("a", shape)


def U(*shape):            # in (-0.9, 0.9) (log1p, clip interiors)
    return ("u", shape)


def make(spec, rng):
    if not (isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], str)):
        return spec  # literal argument (index arrays, booleans, Python values)
    kind, shape = spec
    if kind == "n":
        return rng.standard_normal(shape)
    if kind == "p":
        return rng.uniform(0.5, 2.0, shape)
    if kind == "a":
        return rng.choice([-1.0, 1.0], shape) * rng.uniform(0.3, 1.5, shape)
    if kind == "u":
        return rng.uniform(-0.9, 0.9, shape)
    raise ValueError(kind)


class Case:
    def __init__(self, f, *args, id, order=2, compiled=True, **tol):
        self.f, self.args, self.id, self.order, self.tol = f, args, id, order, tol
        self.compiled = compiled  # False: cannot be compiled by design (data-dependent shapes)


C = Case
# Tolerance for cases whose values pass through float32 (cast)
F32 = dict(eps=1e-2, rtol=1e-3, atol=1e-3)

# ----------------------------------------------------------------------------- the table
CASES: dict[str, list[Case]] = {
    # value of the first input, derivative zero with respect to the second (ops.keep_graph)
    "zero_dep": [C(lambda x, y: jg.sum(T.zero_dep(x * 2.0, y) * x), N(3), N(3), id="dep")],
    # ---- elementwise unary primitives
    "neg": [C(jg.neg, N(3, 4), id="2d"), C(jg.neg, N(), id="0d"), C(jg.neg, N(0, 3), id="empty"),
            C(lambda x: -x, N(5), id="operator")],
    "exp": [C(jg.exp, N(3, 4), id="2d"), C(jg.exp, N(), id="0d"), C(jg.exp, N(0), id="empty")],
    "log": [C(jg.log, P(3, 4), id="2d"), C(jg.log, P(), id="0d")],
    "log1p": [C(jg.log1p, U(3, 4), id="2d"), C(jg.log1p, U(), id="0d")],
    "expm1": [C(jg.expm1, N(3, 4), id="2d"), C(jg.expm1, N(), id="0d")],
    "sqrt": [C(jg.sqrt, P(3, 4), id="2d"), C(jg.sqrt, P(), id="0d")],
    "sin": [C(jg.sin, N(3, 4), id="2d"), C(jg.sin, N(), id="0d")],
    "cos": [C(jg.cos, N(3, 4), id="2d"), C(jg.cos, N(), id="0d")],
    "erf": [C(jg.erf, N(3, 4), id="2d"), C(jg.erf, N(), id="0d"),
            C(lambda x: jg.erf(x * 0.5) * x, N(5), id="scaled")],
    "tanh": [C(jg.tanh, N(3, 4), id="2d"), C(jg.tanh, N(), id="0d"),
             C(lambda x: jg.tanh(x * 8.0), N(6), id="saturating")],
    "sigmoid": [C(jg.sigmoid, N(3, 4), id="2d"), C(jg.sigmoid, N(), id="0d"),
                C(jg.sigmoid, np.array([-30.0, -5.0, 5.0, 30.0]), id="tails")],
    "softplus": [C(jg.softplus, N(3, 4), id="2d"), C(jg.softplus, N(), id="0d"),
                 C(jg.softplus, np.array([-40.0, -3.0, 3.0, 40.0]), id="tails")],
    "relu": [C(jg.relu, A(3, 4), id="2d"), C(jg.relu, A(), id="0d"),
             C(lambda x: jg.relu(x) * x, A(6), id="times-x")],
    "abs": [C(jg.abs, A(3, 4), id="2d"), C(lambda x: abs(x) * x, A(), id="0d-operator")],
    "cast": [C(lambda x: jg.sum(x.astype(np.float32) ** 2).astype(np.float64), N(4, 3),
               id="f64-f32-f64", **F32),
             C(lambda x: x.astype("float64") * x, N(3), id="same-dtype-noop")],
    "conj": [C(lambda z: jg.abs(T.conj(z) * (z + 1j)), np.array([1 + 2j, -0.5 + 0.3j, 0.2 - 1.1j]), id="complex")],
    # ---- elementwise binary primitives, with broadcasting and Python scalars
    "add": [C(jg.add, N(3, 4), N(4), id="bcast-row"), C(jg.add, N(2, 1, 3), N(4, 1), id="bcast-3d"),
            C(jg.add, N(), N(3), id="0d+1d"), C(jg.add, N(0, 3), N(3), id="empty"),
            C(lambda x: x + 2.5, N(3), id="py-scalar"), C(lambda x: 1 + x, N(), id="radd-int")],
    "sub": [C(jg.sub, N(3, 4), N(3, 1), id="bcast-col"), C(jg.sub, N(), N(2, 2), id="0d-2d"),
            C(lambda x: 3.0 - x, N(4), id="rsub"), C(jg.sub, N(0), N(1), id="empty")],
    "mul": [C(jg.mul, N(3, 4), N(4), id="bcast-row"), C(jg.mul, N(2, 1, 3), N(4, 1), id="bcast-3d"),
            C(jg.mul, N(), N(), id="0d"), C(lambda x: x * x * x, N(5), id="cube"),
            C(lambda x: 2 * x, N(2, 2), id="rmul-int")],
    "div": [C(jg.div, N(3, 4), A(4), id="bcast"), C(jg.div, N(2, 1), A(3), id="outer"),
            C(lambda x: 2.0 / x, A(3), id="rdiv"), C(lambda x: x / 4, N(3), id="by-int"),
            C(jg.div, N(), A(), id="0d")],
    "pow": [C(jg.pow, P(3, 4), N(4), id="both-bcast"), C(lambda x: x ** 2, N(3, 2), id="square"),
            C(lambda x: x ** 3, N(4), id="cube-negative-base"),
            C(lambda x: x ** -1.5, P(3), id="neg-frac-exp"),
            C(lambda y: 2.0 ** y, N(3), id="rpow"), C(jg.pow, P(), N(), id="0d")],
    "maximum": [C(jg.maximum, N(3, 4), N(4), id="bcast"), C(lambda x: jg.maximum(x, 0.1), A(5), id="scalar"),
                C(jg.maximum, N(), N(2), id="0d")],
    "minimum": [C(jg.minimum, N(3, 4), N(3, 1), id="bcast"), C(lambda x: jg.minimum(0.1, x), A(5), id="scalar"),
                C(jg.minimum, N(0, 2), N(2), id="empty")],
    "where": [C(lambda c, x, y: jg.where(c, x, y), rng0.random((3, 4)) > 0.5, N(3, 4), N(4), id="bcast"),
              C(lambda c, x: jg.where(c, x, 0.0), rng0.random(5) > 0.5, N(5), id="scalar-branch"),
              C(lambda x: jg.where(x > 0, x * x, -x), A(6), id="cond-from-x"),
              C(lambda c, x, y: jg.where(c, x, y), np.array(True), N(), N(2), id="0d-cond")],
    # ---- reductions
    "reduce_sum": [C(jg.sum, N(3, 4), id="all"), C(lambda x: jg.sum(x, axis=-1), N(3, 4), id="axis-1"),
                   C(lambda x: jg.sum(x, axis=(0, 2), keepdims=True), N(2, 3, 4), id="axes-keepdims"),
                   C(lambda x: x.sum(axis=-2, keepdims=True), N(2, 3, 4), id="method-neg-keep"),
                   C(jg.sum, N(), id="0d"), C(lambda x: jg.sum(x, axis=0), N(0, 3), id="empty"),
                   C(lambda x: jg.sum(x, axis=()), N(2, 3), id="no-axes")],
    "reduce_max": [C(jg.max, N(3, 4), id="all"), C(lambda x: jg.max(x, axis=-1), N(3, 4), id="axis-1"),
                   C(lambda x: jg.max(x, axis=(0, -1), keepdims=True), N(2, 3, 4), id="axes-keepdims"),
                   C(jg.max, N(), id="0d"), C(lambda x: jg.max(x, axis=1), N(0, 3), id="empty-kept")],
    # ---- shapes and views
    "reshape": [C(lambda x: jg.reshape(x, (6, 4)), N(2, 3, 4), id="merge"),
                C(lambda x: x.reshape(-1), N(2, 3), id="flat"), C(lambda x: jg.reshape(x, (1, 1)), N(), id="0d"),
                C(lambda x: jg.reshape(x, (3, 0)), N(0, 3), id="empty")],
    "transpose": [C(lambda x: jg.transpose(x, (2, 0, 1)), N(2, 3, 4), id="perm"),
                  C(lambda x: jg.transpose(x), N(2, 3), id="default"), C(lambda x: x.T, N(3, 2), id="T"),
                  C(lambda x: jg.transpose(x, (-1, 0, -2)), N(2, 3, 4), id="neg-axes"),
                  C(lambda x: jg.transpose(x) * x, N(), id="0d"), C(lambda x: x.T, N(0, 3), id="empty")],
    "broadcast_to": [C(lambda x: jg.broadcast_to(x, (2, 3, 4)), N(3, 1), id="3d"),
                     C(lambda x: jg.broadcast_to(x, (3,)), N(), id="0d"),
                     C(lambda x: jg.broadcast_to(x, (0, 3)), N(3), id="empty")],
    "getitem": [C(lambda x: x[1:, ::-2], N(4, 5), id="slices"), C(lambda x: x[..., 1, None], N(2, 3, 4), id="int-new"),
                C(lambda x: x[-1], N(3, 2), id="neg-int"), C(lambda x: x[()], N(), id="0d"),
                C(lambda x: x[np.array([0, 2, 0, -1])], N(4, 3), id="int-array-repeats"),
                C(lambda x: x[np.array([[0, 1], [1, 1]]), 1:], N(3, 3), id="2d-int-array"),
                C(lambda x: x[np.array([0, 1]), np.array([2, 2])], N(2, 3), id="two-arrays"),
                C(lambda x: x[x > 0], A(3, 4), id="bool-mask", compiled=False), C(lambda x: x[2:2], N(4), id="empty")],
    "index_add": [C(lambda g: T.index_add(g, np.array([0, 2, 0]), index=(("array", 0), ("slice", 0, 3, 1)),
                                          shape=(4, 3)), N(3, 3), id="repeats"),
                  C(lambda g: T.index_add(g, index=(("int", 1),), shape=(3, 2)), N(2), id="int")],
    # im2col and its adjoint: stride, dilation, leading and trailing padding, a fill value
    "unfold": [C(lambda x: T.unfold(x, (2, 3), (1, 1), (0, 0), (1, 1), (3, 2)), N(2, 2, 4, 4), id="valid"),
               C(lambda x: T.unfold(x, (3, 2), (2, 1), (1, 0), (1, 2), (3, 3), fill=-2.0), N(1, 2, 5, 5),
                 id="pad-stride-dilation-fill")],
    "fold": [C(lambda c: T.fold(c, (4, 4), (2, 3), (1, 1), (0, 0), (1, 1)), N(2, 2, 3, 2, 3, 2), id="valid"),
             C(lambda c: T.fold(c, (5, 4), (3, 2), (2, 1), (1, 1), (1, 2)), N(2, 3, 2, 1, 3, 3),
               id="pad-stride-dilation")],
    "concatenate": [C(lambda a, b: jg.concatenate([a, b]), N(2, 3), N(1, 3), id="axis0"),
                    C(lambda a, b, c: jg.concatenate([a, b, c], axis=-1), N(2, 1), N(2, 3), N(2, 0), id="axis-1-empty"),
                    C(lambda a: jg.concatenate([a, a * 2]), N(3), id="same-twice")],
    "matmul": [C(jg.matmul, N(3, 4), N(4, 5), id="2d"), C(jg.matmul, N(2, 3, 4), N(4, 2), id="batched"),
               C(jg.matmul, N(2, 1, 3, 4), N(5, 4, 2), id="batch-bcast"), C(jg.matmul, N(4), N(4, 3), id="vec-mat"),
               C(jg.matmul, N(3, 4), N(4), id="mat-vec"), C(jg.matmul, N(4), N(4), id="vec-vec"),
               C(lambda a, b: a @ b, N(2, 0), N(0, 3), id="empty-inner")],
    # ---- composites (API.md's Math list)
    "square": [C(jg.square, N(3, 4), id="2d"), C(jg.square, N(), id="0d"), C(jg.square, N(0, 2), id="empty")],
    "clip": [C(lambda x: jg.clip(x, -0.5, 0.5), A(4, 3), id="both"),
             C(lambda x: jg.clip(x, a_min=0.2), A(6), id="min-only"),
             C(lambda x: x.clip(None, 0.0), A(6), id="max-only"), C(lambda x: jg.clip(x, -0.5, 0.5), A(), id="0d")],
    "mean": [C(jg.mean, N(3, 4), id="all"), C(lambda x: jg.mean(x, axis=-1, keepdims=True), N(3, 4), id="keep"),
             C(lambda x: x.mean(axis=(0, 2)), N(2, 3, 4), id="axes"), C(jg.mean, N(), id="0d"),
             C(lambda x: jg.mean(x, axis=-1), N(), id="0d-axis-1"), C(lambda x: jg.mean(x, axis=-1), N(0, 3), id="empty")],
    "max": [C(lambda x: x.max(axis=0), N(3, 4), id="method")],
    "min": [C(jg.min, N(3, 4), id="all"), C(lambda x: jg.min(x, axis=-1, keepdims=True), N(3, 4), id="keep"),
            C(jg.min, N(), id="0d"), C(lambda x: jg.min(x, axis=-1), N(), id="0d-axis-1")],
    "logsumexp": [C(jg.logsumexp, N(3, 4), id="all"), C(lambda x: jg.logsumexp(x, axis=-1), N(3, 4), id="axis-1"),
                  C(lambda x: jg.logsumexp(x, axis=0, keepdims=True), N(3, 4), id="keep"),
                  C(lambda x: jg.logsumexp(x * 300.0, axis=-1), N(2, 3), id="large"),
                  C(lambda x: jg.logsumexp(x, axis=-1), N(), id="0d-axis-1"),
                  C(lambda x: jg.logsumexp(x, axis=-1), N(0, 3), id="empty-rows")],
    "softmax": [C(jg.softmax, N(3, 4), id="last"), C(lambda x: jg.softmax(x, axis=0), N(3, 4), id="axis0"),
                C(lambda x: jg.softmax(x + 500.0), N(4), id="large"),
                C(lambda x: jg.softmax(x) * x, N(), id="0d"), C(jg.softmax, N(0, 3), id="empty")],
    "log_softmax": [C(jg.log_softmax, N(3, 4), id="last"), C(lambda x: jg.log_softmax(x, axis=-2), N(2, 3, 4), id="neg-axis"),
                    C(lambda x: jg.log_softmax(x) + x, N(), id="0d")],
    "dot": [C(jg.dot, N(4), N(4), id="vec"), C(jg.dot, N(3, 4), N(4), id="mat-vec"),
            C(jg.dot, N(3, 4), N(4, 2), id="mat-mat"), C(jg.dot, N(), N(3), id="0d")],
    "squeeze": [C(jg.squeeze, N(1, 3, 1), id="all"), C(lambda x: jg.squeeze(x, -1), N(2, 1), id="neg-axis"),
                C(lambda x: jg.squeeze(x), N(1), id="to-0d")],
    "expand_dims": [C(lambda x: jg.expand_dims(x, 0), N(3), id="front"),
                    C(lambda x: jg.expand_dims(x, -1), N(2, 3), id="neg"),
                    C(lambda x: jg.expand_dims(x, (0, -1)), N(), id="0d-two")],
    "stack": [C(lambda a, b: jg.stack([a, b]), N(2, 3), N(2, 3), id="axis0"),
              C(lambda a, b: jg.stack([a, b, a], axis=-1), N(3), N(3), id="axis-1"),
              C(lambda a, b: jg.stack([a, b]), N(), N(), id="0d"),
              C(lambda a, b: jg.stack([a, b], axis=1), N(0), N(0), id="empty")],
    "cumsum": [C(lambda x: jg.cumsum(x, 1), N(3, 6), id="axis1"), C(jg.cumsum, N(2, 3), id="flat"),
               C(lambda x: jg.cumsum(x, 0) * x, N(5), id="times-x"), C(lambda x: jg.cumsum(x, -1), N(2, 1), id="len1")],
    # a composite program mixing many ops, all orders
    "program": [C(lambda x, w, b: jg.sum(jg.log_softmax(jg.tanh(x @ w + b) * 2.0, axis=-1) ** 2)
                  + jg.mean(jg.sigmoid(w)), N(4, 3), N(3, 5), N(5), id="mlp")],
}

# primitives that are not differentiable (no VJP): value tests against NumPy instead
NONDIFF = {
    "lt": (lambda a, b: a < b, np.less), "le": (lambda a, b: a <= b, np.less_equal),
    "gt": (lambda a, b: a > b, np.greater), "ge": (lambda a, b: a >= b, np.greater_equal),
    "eq": (lambda a, b: a == b, np.equal), "ne": (lambda a, b: a != b, np.not_equal),
    "logical_and": (lambda a, b: a & b, np.logical_and), "logical_or": (lambda a, b: a | b, np.logical_or),
    "logical_not": (lambda a: ~a, np.logical_not), "sign": (jg.sign, np.sign),
}
# primitives whose gradient deliberately differs from finite differences: their own tests below
SPECIAL = {"stop_gradient", "uniform"}

API_MATH = ("add sub mul div neg pow exp log log1p expm1 sqrt square abs sin cos tanh sigmoid relu "
            "softplus maximum minimum where clip sum mean max min logsumexp softmax log_softmax matmul "
            "dot reshape transpose broadcast_to concatenate stack squeeze expand_dims cumsum").split()
# composites whose case lives under the primitive that implements them
_ALIAS = {"sum": "reduce_sum"}

ALL = [pytest.param(case, id=f"{name}-{case.id}") for name, cases in CASES.items() for case in cases]


# ----------------------------------------------------------------------------- coverage
def test_every_primitive_has_a_case():
    missing = sorted(set(PRIMS) - set(CASES) - set(NONDIFF) - SPECIAL)
    assert not missing, f"primitives without a test case in {__file__}: {missing}"


def test_every_math_op_has_a_case_and_is_exported():
    for name in API_MATH:
        assert callable(getattr(jg, name, None)), f"jg.{name} missing"
        assert _ALIAS.get(name, name) in CASES, f"no case for jg.{name}"


def test_nondiff_primitives_have_no_vjp():
    for name in NONDIFF:
        assert PRIMS[name].vjp is None, name


# ----------------------------------------------------------------------------- gradients
@pytest.mark.parametrize("case", ALL)
def test_check_grads(case):
    rng = np.random.default_rng(zlib.crc32(case.id.encode()))
    args = [make(a, rng) for a in case.args]
    jg.check_grads(case.f, args, order=case.order, backend=BACKEND, compiled=case.compiled, **case.tol)


@pytest.mark.parametrize("case", [pytest.param(c, id=f"{n}-{c.id}") for n, cs in CASES.items() for c in cs
                                  if n in ("add", "mul", "tanh", "reduce_max", "getitem", "matmul", "program")])
def test_check_grads_third_order(case):
    rng = np.random.default_rng(7)
    args = [make(a, rng) for a in case.args]
    jg.check_grads(case.f, args, order=3, compiled=False, **case.tol)


def test_reduce_max_ties_share_gradient():
    x = jg.tensor([[1.0, 3.0, 3.0], [2.0, 0.0, 2.0]], requires_grad=True)
    (g,) = jg.grad(jg.max(x, axis=-1).sum(), x)
    np.testing.assert_array_equal(g.numpy(), [[0, 0.5, 0.5], [0.5, 0, 0.5]])
    (g,) = jg.grad(jg.max(x), x)
    np.testing.assert_array_equal(g.numpy(), [[0, 0.5, 0.5], [0, 0, 0]])


def test_maximum_tie_and_relu_kink_conventions():
    x = jg.tensor([0.0, 1.0], requires_grad=True)
    (g,) = jg.grad(jg.maximum(x, jg.tensor([0.0, 0.0])).sum(), x)
    np.testing.assert_array_equal(g.numpy(), [0.5, 1.0])
    (g,) = jg.grad(jg.relu(x).sum(), x)
    np.testing.assert_array_equal(g.numpy(), [0.0, 1.0])
    (g,) = jg.grad(jg.clip(x, 0.0, 1.0).sum(), x)   # bounds included, as torch.clamp
    np.testing.assert_array_equal(g.numpy(), [1.0, 1.0])


PIECEWISE_LINEAR = {   # name: f(ops, x) for jitgrad (jg) and, where installed, torch
    "relu": lambda o, x: o.sum(o.relu(x) * 3.0),
    "abs": lambda o, x: o.sum(o.abs(x)),
    "max": lambda o, x: o.max(x * 2.0),
    "maximum": lambda o, x: o.sum(o.maximum(x, x * 0.0 + 0.1)),
    "minimum": lambda o, x: o.sum(o.minimum(x, x * 0.5 + 0.2)),
}


@pytest.mark.parametrize("name", sorted(PIECEWISE_LINEAR))
def test_second_derivatives_of_piecewise_linear_ops_are_zeros(name):
    """As PyTorch: a gradient taken with create_graph=True from inputs that require grad is
    differentiable again, and here its derivative is zeros (not 'does not require grad')."""
    f = PIECEWISE_LINEAR[name]
    x0 = np.array([0.7, -1.3, 2.1])
    x = jg.tensor(x0, requires_grad=True)
    (g,) = jg.grad(f(jg, x), [x], create_graph=True)
    assert g.requires_grad
    (h,) = jg.grad(g.sum(), [x], allow_unused=True)
    np.testing.assert_array_equal(h.numpy(), np.zeros(3))
    with jg.GradientTape() as outer:          # the same through nested tapes
        outer.watch(x)
        with jg.GradientTape() as inner:
            inner.watch(x)
            y = f(jg, x)
        gs = jg.sum(inner.gradient(y, x))
    np.testing.assert_array_equal(outer.gradient(gs, x).numpy(), np.zeros(3))
    torch = pytest.importorskip("torch")
    xt = torch.tensor(x0, requires_grad=True)
    (gt,) = torch.autograd.grad(f(torch, xt), [xt], create_graph=True)
    np.testing.assert_array_equal(g.detach().numpy(), gt.detach().numpy())
    try:
        (ht,) = torch.autograd.grad(gt.sum(), [xt], allow_unused=True)
    except RuntimeError:   # torch.max/maximum/minimum keep no graph there: torch raises, jitgrad gives zeros
        assert name in ("max", "maximum", "minimum"), name
        return
    np.testing.assert_array_equal(h.numpy(), np.zeros(3) if ht is None else ht.numpy(force=True))


def test_hessian_of_a_relu_network_is_its_linear_part():
    """Hessian-vector product of sum(relu(W x)^2): the relu kinks contribute zeros, the square
    does not (checked against finite differences)."""
    rng = np.random.default_rng(3)
    w = rng.standard_normal((4, 3))

    def f(x):
        return jg.sum(jg.relu(jg.matmul(w, x)) ** 2)
    jg.check_grads(f, [rng.standard_normal(3)], order=2, compiled=False)


def test_stop_gradient():
    x = jg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * jg.stop_gradient(x * x)
    (g,) = jg.grad(y.sum(), x, create_graph=True)
    np.testing.assert_allclose(g.numpy(), [1.0, 4.0, 9.0])          # only the unstopped factor
    assert not jg.stop_gradient(x).requires_grad
    assert not g.requires_grad  # d/dx of a stopped value is a constant
    s = jg.stop_gradient(x)
    np.testing.assert_array_equal(s.numpy(), x.numpy())


@pytest.mark.parametrize("name", ["argmax", "argmin"])
def test_argmax_argmin_match_numpy_eagerly_and_compiled(name):
    """First index of the extreme, NaN first, ties to the lowest index, any axis, keepdims;
    int64 and not differentiable."""
    x = np.random.default_rng(2).standard_normal((4, 5))
    x[2] = 1.0
    xn = x.copy()
    xn[1, 3] = np.nan
    op, ref = getattr(jg, name), getattr(np, name)
    for a in (xn, x.astype(np.float32), (x * 3).astype(np.int64)):
        for axis in (None, 0, 1, -1):
            for keep in (False, True):
                got = op(jg.tensor(a), axis, keepdims=keep).numpy()
                want = ref(a, axis, keepdims=keep)
                assert got.dtype == want.dtype and np.array_equal(got, want), (a.dtype, axis, keep)
    f = jg.jit_grad(lambda x: jg.sum(x * op(x, 1).astype(x.dtype)[:, None]))
    v, g = f(x)
    np.testing.assert_array_equal(g, np.broadcast_to(ref(x, 1)[:, None], x.shape).astype(float))
    assert not op(jg.tensor(x, requires_grad=True)).requires_grad
    with pytest.raises(jg.ShapeError, match=f"{name}: attempt to get {name} of an empty sequence"):
        op(jg.tensor(np.zeros((0, 3))), 0)


def test_cumsum_matches_numpy_for_every_dtype():
    x = np.random.default_rng(4).standard_normal((3, 37))
    for a in (x, x.astype(np.float32), (x * 4).astype(np.int32), x > 0):
        for axis in (None, 0, 1):
            got, want = jg.cumsum(jg.tensor(a), axis).numpy(), np.cumsum(a, axis)
            assert got.dtype == want.dtype and got.shape == want.shape
            np.testing.assert_allclose(got, want, rtol=1e-5 if a.dtype == np.float32 else 1e-12)


def test_fold_is_the_adjoint_of_unfold():
    rng = np.random.default_rng(5)
    geometry = dict(kernel=(3, 2), stride=(2, 3), padding=(1, 2), dilation=(2, 1))
    x = rng.standard_normal((2, 3, 7, 8))
    cols = T.unfold(jg.tensor(x), grid=(3, 3), **geometry).numpy()
    g = rng.standard_normal(cols.shape)
    back = T.fold(jg.tensor(g), (7, 8), **geometry).numpy()
    assert np.vdot(cols, g) == pytest.approx(np.vdot(x, back), rel=1e-12)


def test_uniform_is_a_pure_function_of_seed_and_index():
    """The same numbers eagerly, interpreted and compiled; a different seed, other numbers;
    not differentiable; roughly uniform."""
    seed = jg.tensor(np.int64(-123456789))
    u = T.uniform(seed, (64, 50)).numpy()
    assert u.dtype == np.float64 and 0.0 <= u.min() and u.max() < 1.0
    assert abs(u.mean() - 0.5) < 0.02 and abs(u.var() - 1 / 12) < 0.01
    assert not np.array_equal(u, T.uniform(jg.tensor(np.int64(7)), (64, 50)).numpy())
    np.testing.assert_array_equal(T.uniform(seed, (3200,)).numpy(), u.ravel())   # index = C order
    f = jg.jit_grad(lambda x, s: jg.sum(x * T.uniform(s, x.shape, x.dtype)), argnums=0)
    x = np.ones((64, 50), np.float32)
    v, g = f(x, np.int64(-123456789))
    np.testing.assert_array_equal(g, u.astype(np.float32))
    assert PRIMS["uniform"].vjp is None


def test_stable_values_at_extremes():
    big = np.array([-800.0, -50.0, 0.0, 50.0, 800.0])
    assert np.all(np.isfinite(jg.sigmoid(big).numpy()))
    np.testing.assert_allclose(jg.softplus(big).numpy(), np.logaddexp(0, big))
    np.testing.assert_allclose(jg.logsumexp(big).numpy(), np.logaddexp.reduce(big))
    np.testing.assert_allclose(jg.softmax(big).numpy(), [0, 0, 0, 0, 1], atol=1e-300)
    np.testing.assert_allclose(jg.log_softmax(big).numpy(), big - np.logaddexp.reduce(big))
    inf = jg.tensor([-np.inf, -np.inf])
    np.testing.assert_array_equal(jg.logsumexp(inf).numpy(), -np.inf)


# ----------------------------------------------------------------------------- non-differentiable
@pytest.mark.parametrize("name", sorted(NONDIFF))
def test_nondiff_values_and_no_grad(name):
    op, ref = NONDIFF[name]
    rng = np.random.default_rng(3)
    if name.startswith("logical"):
        a, b = rng.random((3, 4)) > 0.5, rng.random(4) > 0.5
        ta, tb = jg.tensor(a), jg.tensor(b)
    else:
        a = np.round(rng.standard_normal((3, 4)), 1)
        a[0, 0] = 0.0
        b = np.where(rng.random(4) > 0.5, a[1], np.round(rng.standard_normal(4), 1))  # some ties
        ta, tb = jg.tensor(a, requires_grad=True), jg.tensor(b, requires_grad=True)
    nargs = 1 if name in ("logical_not", "sign") else 2
    out = op(ta, tb) if nargs == 2 else op(ta)
    want = ref(a, b) if nargs == 2 else ref(a)
    assert isinstance(out, jg.Tensor)
    assert out.dtype == want.dtype
    np.testing.assert_array_equal(out.numpy(), want)
    assert not out.requires_grad and out.grad_fn is None
    if nargs == 2:  # with a Python scalar and an ndarray on either side
        s = True if name.startswith("logical") else 0.5
        np.testing.assert_array_equal(op(ta, s).numpy(), ref(a, s))
        np.testing.assert_array_equal(op(b, ta).numpy(), ref(b, a))


def test_comparison_under_grad_of_where():
    x = jg.tensor([-1.0, 2.0], requires_grad=True)
    y = jg.where(x > 0, x ** 2, x * 0)
    (g,) = jg.grad(y.sum(), x)
    np.testing.assert_allclose(g.numpy(), [0.0, 4.0])


def test_integer_cast_is_not_differentiable():
    x = jg.tensor([1.7, -2.2], requires_grad=True)
    i = x.astype(np.int64)
    assert i.dtype == np.int64 and not i.requires_grad
    np.testing.assert_array_equal(i.numpy(), [1, -2])
    assert jg.tensor([1, 2]).astype(np.float32).dtype == np.float32


# ----------------------------------------------------------------------------- dtypes
UNARY = ["neg", "exp", "log", "log1p", "expm1", "sqrt", "square", "abs", "sin", "cos", "tanh",
         "sigmoid", "relu", "softplus", "sum", "mean", "max", "min", "logsumexp", "softmax",
         "log_softmax", "squeeze", "sign"]
BINARY = ["add", "sub", "mul", "div", "pow", "maximum", "minimum"]


@pytest.mark.parametrize("name", UNARY)
def test_float32_stays_float32_unary(name):
    x = jg.tensor(np.random.default_rng(0).uniform(0.5, 2, (3, 1, 4)).astype(np.float32), requires_grad=True)
    y = getattr(jg, name)(x)
    assert y.dtype == np.float32, (name, y.dtype)
    if y.requires_grad:
        (g,) = jg.grad(y.sum(), x)
        assert g.dtype == np.float32


@pytest.mark.parametrize("name", BINARY)
@pytest.mark.parametrize("other", [2, 2.5, True, "f32-array", "f32-tensor", "f32-0d"])
def test_float32_weak_scalars_binary(name, other):
    x = jg.tensor(np.random.default_rng(0).uniform(0.5, 2, (3, 4)).astype(np.float32), requires_grad=True)
    o = {"f32-array": np.full(4, 1.5, np.float32), "f32-tensor": jg.tensor(np.full(4, 1.5, np.float32)),
         "f32-0d": np.float32(1.5)}.get(other, other)
    op = getattr(jg, name)
    for y in (op(x, o), op(o, x)):
        assert y.dtype == np.float32, (name, other, y.dtype)
    (g,) = jg.grad(op(x, o).sum(), x)
    assert g.dtype == np.float32


def test_float32_through_shape_ops_and_methods():
    x = jg.tensor(np.ones((2, 3), np.float32), requires_grad=True)
    outs = [x.reshape(3, 2), x.T, x[0], x[np.array([1, 0])], jg.broadcast_to(x, (4, 2, 3)),
            jg.concatenate([x, x]), jg.stack([x, x]), jg.expand_dims(x, 0), x @ x.T, jg.dot(x[0], x[1]),
            jg.clip(x, 0.0, 0.5), jg.where(x > 0, x, 0.0), jg.where(x > 0, 1.0, x), x * 2 + 1 - 0.5,
            x / 3, 1 / x, x ** 2, 2.0 ** x, -x, abs(x), x.astype(np.float32), np.exp(x), np.tanh(x)]
    for i, y in enumerate(outs):
        assert y.dtype == np.float32, (i, y.dtype)
    (g,) = jg.grad(sum(o.sum() for o in outs), x)
    assert g.dtype == np.float32


@pytest.mark.parametrize("a,b", [([1, 2], [2, 4]), ([1, 2], 2), (3, [1, 2]), ([True, False], [1, 2])])
def test_integer_division_gives_float64(a, b):
    ta = jg.tensor(a) if isinstance(a, list) else a
    tb = jg.tensor(b) if isinstance(b, list) else b
    y = ta / tb
    want = np.true_divide(np.asarray(a), np.asarray(b))
    assert y.dtype == np.float64 == want.dtype
    np.testing.assert_allclose(y.numpy(), want)
    assert jg.div(jg.tensor([1, 2], dtype=np.int32), 2).dtype == np.float64


def test_integer_ops_follow_numpy():
    i = jg.tensor([1, 2, 3])
    for got, want in [(i + 1, np.array([1, 2, 3]) + 1), (i * 2.5, np.array([1, 2, 3]) * 2.5),
                      (i ** 2, np.array([1, 2, 3]) ** 2), (jg.tensor([True, False]) + 1, np.array([True, False]) + 1),
                      (i.mean(), np.mean([1, 2, 3])), (i.sum(), np.sum([1, 2, 3]))]:
        assert got.dtype == want.dtype, (got, want)
        np.testing.assert_allclose(got.numpy(), want)


@pytest.mark.parametrize("other", [np.float64(2.5), np.ones(3), np.ones(3, np.float16)])
def test_float32_with_strong_numpy_operands_follows_numpy(other):
    x = jg.tensor(np.ones(3, np.float32))
    for got, want in [(x * other, np.ones(3, np.float32) * other), (other + x, other + np.ones(3, np.float32))]:
        assert isinstance(got, jg.Tensor)
        assert got.dtype == want.dtype, (type(other), got.dtype, want.dtype)


def test_mixing_tensor_ndarray_and_scalar():
    x = jg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    a = np.array([2.0, 0.5, 1.0])
    y = (a * x + x / a - 1.0 + a @ x) ** 2 / 2
    assert isinstance(y, jg.Tensor) and y.requires_grad
    (g,) = jg.grad(y.sum(), x)
    xv = np.array([1.0, 2.0, 3.0])
    inner = a * xv + xv / a - 1.0 + a @ xv
    want = inner * (a + 1 / a) + (inner.sum()) * a
    np.testing.assert_allclose(g.numpy(), want)
    assert isinstance(a + x, jg.Tensor) and isinstance(a - x, jg.Tensor) and isinstance(a > x, jg.Tensor)
    z = jg.maximum(a, x) + jg.where(a > 1, a, x)
    assert z.requires_grad


def test_asarray_and_ufuncs():
    x = jg.tensor([[0.5, 1.0], [2.0, 4.0]], requires_grad=True)
    arr = np.asarray(x)
    assert isinstance(arr, np.ndarray) and not isinstance(arr, jg.Tensor)
    np.testing.assert_array_equal(arr, [[0.5, 1.0], [2.0, 4.0]])
    assert np.asarray(x, dtype=np.float32).dtype == np.float32
    for uf, ref in [(np.exp, np.exp), (np.log, np.log), (np.sqrt, np.sqrt), (np.tanh, np.tanh),
                    (np.sin, np.sin), (np.negative, np.negative), (np.square, np.square),
                    (np.abs, np.abs), (np.log1p, np.log1p), (np.expm1, np.expm1)]:
        y = uf(x)
        assert isinstance(y, jg.Tensor) and y.requires_grad, uf.__name__
        np.testing.assert_allclose(y.numpy(), ref(arr))
    y = np.exp(x)
    (g,) = jg.grad(y.sum(), x)
    np.testing.assert_allclose(g.numpy(), np.exp(arr))
    for uf in (np.add, np.multiply, np.subtract, np.divide, np.power, np.maximum, np.minimum):
        y = uf(x, 2.0)
        assert isinstance(y, jg.Tensor) and y.requires_grad, uf.__name__
        np.testing.assert_allclose(y.numpy(), uf(arr, 2.0))
        y = uf(np.full((2, 2), 3.0), x)
        assert isinstance(y, jg.Tensor) and y.requires_grad, uf.__name__
    y = np.matmul(x, x)
    assert isinstance(y, jg.Tensor)
    np.testing.assert_allclose(y.numpy(), arr @ arr)


def test_numpy_reductions_on_tensors():
    x = jg.tensor([[1.0, 5.0], [3.0, 2.0]], requires_grad=True)
    for fn in (np.sum, np.mean, np.max, np.min):
        y = fn(x)
        assert isinstance(y, jg.Tensor) and y.requires_grad, fn.__name__
        np.testing.assert_allclose(y.numpy(), fn(x.numpy()))
        np.testing.assert_allclose(fn(x, axis=-1, keepdims=True).numpy(), fn(x.numpy(), axis=-1, keepdims=True))
    (g,) = jg.grad(np.sum(np.exp(x)), x)
    np.testing.assert_allclose(g.numpy(), np.exp(x.numpy()))


# ----------------------------------------------------------------------------- random broadcasting
@st.composite
def _broadcast_pair(draw):
    nd = draw(st.integers(0, 3))
    shape = draw(st.lists(st.integers(0, 3), min_size=nd, max_size=nd))
    a = [d if draw(st.booleans()) else 1 for d in shape]
    b = [d if draw(st.booleans()) else 1 for d in shape]
    a = a[draw(st.integers(0, nd)):]  # drop leading axes of one side
    return tuple(a), tuple(b)


@settings(max_examples=30, deadline=None)
@given(shapes=_broadcast_pair(), op=st.sampled_from(["add", "sub", "mul", "div", "maximum", "where", "pow"]),
       seed=st.integers(0, 2**16))
def test_check_grads_random_broadcasting(shapes, op, seed):
    rng = np.random.default_rng(seed)
    a, b = (make(P(*s) if op in ("pow", "div") else N(*s), rng) for s in shapes)
    if op == "where":
        c = rng.random(np.broadcast_shapes(*shapes)) > 0.5
        jg.check_grads(lambda x, y: jg.where(c, x, y), (a, b), order=2, compiled=False)
    else:
        jg.check_grads(getattr(jg, op), (a, b), order=2, compiled=False)


# ----------------------------------------------------------------------------- complex (PyTorch's convention)
_Z = np.random.default_rng(11)
Z = (_Z.standard_normal((2, 3)) + 1j * _Z.standard_normal((2, 3)))
W = (_Z.standard_normal((3, 2)) + 1j * _Z.standard_normal((3, 2)))
COMPLEX = {   # name: (jitgrad f, torch f) of complex128 arrays, real-valued results
    "exp-sin-cos": (lambda z: jg.abs(jg.exp(z) * jg.sin(z) - jg.cos(z)), lambda t, z: (t.exp(z) * t.sin(z) - t.cos(z)).abs()),
    "log-sqrt-div": (lambda z: jg.abs(jg.log(z) / jg.sqrt(z)), lambda t, z: (t.log(z) / t.sqrt(z)).abs()),
    "tanh-expm1-log1p": (lambda z: jg.abs(jg.tanh(z) + jg.expm1(z) * jg.log1p(z)),
                         lambda t, z: (t.tanh(z) + t.expm1(z) * t.log1p(z)).abs()),
    "pow-conj-real": (lambda z: (z ** 3 * T.conj(z)).astype(np.float64), lambda t, z: (z ** 3 * z.conj()).real),
    "matmul-views": (lambda z, w: jg.abs(jg.matmul(z, w).T[::-1] + jg.concatenate([z[:, :1], z[:, 2:]], 1)),
                     lambda t, z, w: (t.matmul(z, w).T.flip(0) + t.cat([z[:, :1], z[:, 2:]], 1)).abs()),
    "sum-broadcast": (lambda z: jg.abs(jg.sum(z, 0) * z), lambda t, z: (z.sum(0) * z).abs()),
    "pow-exponent": (lambda z, w: jg.abs(z[:, :2] ** w[:2]), lambda t, z, w: (z[:, :2] ** w[:2]).abs()),
    "real-imag": (lambda z: jg.real(z) * jg.imag(z) ** 2 + z.imag * jg.abs(z), lambda t, z: z.real * z.imag ** 2 + z.imag * z.abs()),
}


def _complex_args(name):
    return [Z, W] if name in ("matmul-views", "pow-exponent") else [Z]


@pytest.mark.parametrize("name", sorted(COMPLEX))
def test_complex_gradients_match_finite_differences_and_pytorch(name):
    """PyTorch's convention: the gradient of a real loss L(z) is dL/da + i dL/db (z = a + ib),
    so each rule multiplies by the conjugate derivative. Orders 1 and 2 against finite
    differences along complex directions, order 1 against PyTorch where installed."""
    f, tf = COMPLEX[name]
    args = _complex_args(name)
    jg.check_grads(lambda *a: jg.sum(f(*a) ** 2), args, order=2)
    torch = pytest.importorskip("torch")
    xs = [jg.tensor(a, requires_grad=True) for a in args]
    gs = jg.grad(jg.sum(f(*xs) ** 2), xs)
    ts = [torch.tensor(a, requires_grad=True) for a in args]
    gts = torch.autograd.grad((tf(torch, *ts) ** 2).sum(), ts)
    for g, gt in zip(gs, gts):
        np.testing.assert_allclose(g.numpy(), gt.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
@pytest.mark.parametrize("name", sorted(COMPLEX))
def test_complex_compiled_matches_eager(name, dtype):
    f = COMPLEX[name][0]
    args = [a.astype(dtype) for a in _complex_args(name)]
    nums = tuple(range(len(args)))
    loss = lambda *a: jg.sum(f(*a) ** 2)    # noqa: E731
    (v, g), (ve, ge) = jg.jit_grad(loss, argnums=nums)(*args), jg.jit_grad(loss, argnums=nums, eager=True)(*args)
    tol = dict(rtol=2e-4, atol=2e-4) if dtype == np.complex64 else dict(rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(v, ve, **tol)
    for a, b, x in zip(g, ge, args):
        assert a.dtype == x.dtype
        np.testing.assert_allclose(a, b, **tol)


@pytest.mark.parametrize("prim", sorted(p.name for p in PRIMS.values() if p.real_only))
@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "jit_grad"])
def test_ops_without_an_order_refuse_complex_numbers(prim, compiled):
    """Comparisons, max, relu, sign, sigmoid, softplus, erf: NumPy orders complex numbers
    lexicographically (or runs a real-only formula); PyTorch refuses them, and so does jitgrad."""
    from tracer.tensor import bind
    params = {"axes": (0,), "keepdims": False} if PRIMS[prim].kind == "reduce" else {}
    f = lambda z: jg.sum(jg.abs(bind(PRIMS[prim], *[z] * PRIMS[prim].arity or [z], **params)))   # noqa: E731
    run = jg.jit_grad(f) if compiled else (lambda z: jg.grad(f(jg.tensor(z, requires_grad=True)), []))
    with pytest.raises(TypeError, match=f"{prim}: invalid inputs .*complex128.* complex numbers have no order"):
        run(Z)


def test_real_imag_conj_of_real_tensors():
    x = jg.tensor([1.0, -2.0], requires_grad=True)
    assert jg.real(x) is x and jg.conj(x) is x and x.real is x
    with pytest.raises(TypeError, match="imag: a float64 tensor has no imaginary part"):
        jg.imag(x)
    z = jg.tensor(Z)
    np.testing.assert_array_equal(np.real(z).numpy(), Z.real)
    np.testing.assert_array_equal(np.imag(z).numpy(), Z.imag)
    np.testing.assert_array_equal(np.conj(z).numpy(), Z.conj())


@pytest.mark.parametrize("shape, axes", [((16, 8, 6, 2, 6, 2), (3, 5)), ((8, 3, 700), (0,)), ((5, 7, 9, 3), (1, 3)),
                                         ((2, 3000, 2), (0, 2)), ((700, 3), (-1,))])
@pytest.mark.parametrize("keepdims", [False, True])
def test_reduce_max_over_small_windows_is_np_max(shape, axes, keepdims):
    """The elementwise path for pooling windows gives np.max's values, NaNs included."""
    from tracer.primitives import _reduce_max
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    x.flat[11] = np.nan
    got, want = _reduce_max(x, axes, keepdims), np.max(x, axis=axes, keepdims=keepdims)
    assert got.shape == want.shape and got.dtype == want.dtype and np.array_equal(got, want, equal_nan=True)


# ----------------------------------------------------------------------------- tracing without values
def _recorded_program(f, args, abstract, monkeypatch):
    """The program jit_grad's tracer records for value and first derivatives of `f`: float arrays
    traced (differentiated), other arrays constants, Python values as they are."""
    from tracer import Tensor, make_program, tracing
    from tracer.engine import grad
    from tracer.tensor import STATE
    monkeypatch.setattr(STATE, "abstract", abstract)
    xs = [Tensor(np.asarray(a)) if isinstance(a, (np.ndarray, np.generic)) else a for a in args]
    wrt = [x for x in xs if isinstance(x, Tensor) and x.dtype.kind == "f"]
    for x in wrt:
        x._traced = True
        x.requires_grad = True
    with tracing():
        y = f(*xs)
        y = y if y.ndim == 0 else jg.sum(y)
        gs = grad(y, wrt, create_graph=True, allow_unused=True) if y.requires_grad else []
    return str(make_program(wrt, [y, *(g for g in gs if g is not None)]))


@pytest.mark.parametrize("case", [c for c in ALL if c.values[0].compiled])
def test_tracing_records_the_same_program_without_computing_traced_values(case, monkeypatch):
    """A traced value is a stand-in of its shape and dtype (primitives.abstract_eval): forward
    and backward, every primitive at every case records exactly the program that computing
    the values records."""
    rng = np.random.default_rng(zlib.crc32(case.id.encode()))
    args = [make(a, rng) for a in case.args]
    assert _recorded_program(case.f, args, True, monkeypatch) == _recorded_program(case.f, args, False, monkeypatch)


def test_traced_values_print_as_traced_and_integer_bitwise_ops_refuse():
    seen = []

    def f(x, k):
        seen.append(repr(x * 2))
        return jg.sum(x * np.bitwise_and(k, 3))
    with pytest.raises(jg.TraceError, match="bitwise_and of integer tensors is not supported under jit_grad"):
        jg.jit_grad(f)(np.ones(3), jg.tensor(np.arange(3)))
    assert seen == ["tensor(<traced>, shape=(3,), dtype=float64)"]
