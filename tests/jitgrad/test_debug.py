"""Debugging aids (API.md): detect_anomaly, check_grads, viz.to_dot."""
import inspect
import os
import re
import threading

import numpy as np
import pytest

import jitgrad as jg
from tracer import STATE

HERE = os.path.basename(__file__)


def _line():
    """The caller's line number."""
    return inspect.currentframe().f_back.f_lineno


# ----------------------------------------------------------------------------- detect_anomaly
def test_forward_nan_names_op_file_and_line():
    x = jg.tensor([1.0, -2.0], requires_grad=True)
    with pytest.raises(jg.AnomalyError) as ei:
        with jg.detect_anomaly():
            line = _line(); y = jg.log(x)  # noqa: E702  (the op and its line on one line)
    msg = str(ei.value)
    assert msg.startswith("log produced NaN in its forward")
    assert f"{HERE}:{line}" in msg
    assert "test_forward_nan_names_op_file_and_line" in msg


def test_forward_inf_without_requires_grad_too():
    with pytest.raises(jg.AnomalyError, match=r"div produced Inf .*" + re.escape(HERE)):
        with jg.detect_anomaly():
            jg.tensor([1.0, 2.0]) / jg.tensor([1.0, 0.0])


def test_backward_inf_names_backward_node_and_forward_line():
    x = jg.tensor([0.0, 4.0], requires_grad=True)
    with pytest.raises(jg.AnomalyError) as ei:
        with jg.detect_anomaly():
            fwd_line = _line(); y = jg.sqrt(x).sum()  # noqa: E702
            bwd_line = _line(); y.backward()  # noqa: E702
    msg = str(ei.value)
    # the node whose backward produced it, not an intermediate op of its VJP rule
    assert msg.startswith("SqrtBackward produced Inf in its backward"), msg
    assert f"forward op sqrt was called at {__file__}:{fwd_line}" in msg
    assert f"{HERE}:{bwd_line}" in msg
    assert x.grad is None


def test_backward_nan_through_broadcast_and_grad():
    x = jg.tensor([[-1.0, 0.0]], requires_grad=True)
    with jg.detect_anomaly():
        y = (jg.sqrt(jg.relu(x)) * jg.ones((3, 1))).sum()
        with pytest.raises(jg.AnomalyError, match=r"^SqrtBackward produced (NaN|Inf)"):
            jg.grad(y, x)


def test_backward_graph_built_outside_says_so():
    x = jg.tensor([0.0], requires_grad=True)
    y = jg.sqrt(x).sum()
    with jg.detect_anomaly(), pytest.raises(jg.AnomalyError, match="recorded outside detect_anomaly"):
        y.backward()


def test_backward_of_user_function_named():
    class Bad(jg.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * np.nan

    x = jg.tensor([1.0], requires_grad=True)
    with jg.detect_anomaly():
        y = Bad.apply(x).sum()
        with pytest.raises(jg.AnomalyError, match=r"^BadBackward produced NaN in its backward"):
            y.backward()


def test_no_anomaly_no_error_and_off_by_default():
    x = jg.tensor([1.0, 2.0], requires_grad=True)
    with jg.detect_anomaly():
        (jg.log(x) * jg.sqrt(x)).sum().backward()
    assert np.all(np.isfinite(x.grad.numpy()))
    y = jg.log(jg.tensor([-1.0]))  # outside: NaN passes silently, as NumPy
    assert np.isnan(y.numpy()).all()


def test_detect_anomaly_restores_nests_and_is_thread_local():
    assert STATE.anomaly is False
    with pytest.raises(jg.AnomalyError):
        with jg.detect_anomaly():
            assert STATE.anomaly is True
            with jg.detect_anomaly(check_nan=False):
                assert STATE.anomaly is False
                jg.log(jg.tensor([-1.0]))  # not checked here
            assert STATE.anomaly is True
            seen = []
            t = threading.Thread(target=lambda: seen.append(STATE.anomaly))
            t.start()
            t.join()
            assert seen == [False]
            jg.log(jg.tensor([-1.0]))
    assert STATE.anomaly is False

    @jg.detect_anomaly()
    def f(x):
        return jg.log(x)

    with pytest.raises(jg.AnomalyError):
        f(jg.tensor([-1.0]))
    assert STATE.anomaly is False


def test_detect_anomaly_in_jit_grad_eager_mode():
    def loss(x, w):
        h = jg.log(x * w)  # NaN where x * w < 0
        return jg.sum(h * h)

    line = inspect.getsourcelines(loss)[1] + 1
    with jg.detect_anomaly(), pytest.raises(jg.AnomalyError) as ei:
        jg.jit_grad(loss, argnums=(0, 1), eager=True)(np.array([1.0, -3.0]), np.array([0.5, 0.5]))
    assert str(ei.value).startswith("log produced NaN")
    assert f"{HERE}:{line}" in str(ei.value) and "in loss" in str(ei.value)


# ----------------------------------------------------------------------------- check_grads
class RightSin(jg.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return jg.sin(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * jg.cos(x)


class WrongSin(RightSin):
    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * jg.cos(x) * jg.where(x > 1.0, 1.5, 1.0)  # wrong where x > 1


class FlatSecondOrder(RightSin):
    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * jg.cos(jg.stop_gradient(x))  # right value, but the backward is not differentiable


X = np.array([[0.1, 0.5, -0.7], [1.3, 0.2, -1.1]])


def test_check_grads_passes_a_right_vjp():
    jg.check_grads(lambda x: RightSin.apply(x), (X,), order=1)
    jg.check_grads(lambda x: RightSin.apply(x), (X,), order=2)


def test_check_grads_catches_a_wrong_vjp_and_names_the_worst_element():
    with pytest.raises(AssertionError) as ei:
        jg.check_grads(lambda x: WrongSin.apply(x), (X,))
    msg = str(ei.value)
    assert "order-1" in msg and "finite differences" in msg
    m = re.search(r"worst element: argument 0 at index \((\d+), (\d+)\): analytic (\S+), numeric (\S+)", msg)
    assert m, msg
    i, j = int(m[1]), int(m[2])
    assert (i, j) == (1, 0)  # the only element > 1
    # f is non-scalar, so these are gradients of <f(x), c> for a random cotangent c
    assert "random cotangent" in msg
    assert float(m[3]) / float(m[4]) == pytest.approx(1.5, rel=1e-5)
    jg.check_grads(lambda x: WrongSin.apply(x).sum(), (X[:, 1:],))  # right where x <= 1
    with pytest.raises(AssertionError, match=rf"analytic {float(1.5 * np.cos(1.3))!r}, numeric 0.2674"):
        jg.check_grads(lambda x: WrongSin.apply(x).sum(), (X,), compiled=False)


def test_check_grads_order2_catches_a_backward_that_is_not_differentiable():
    f = lambda x: FlatSecondOrder.apply(x)  # noqa: E731
    jg.check_grads(f, (X,), order=1)
    with pytest.raises(AssertionError, match="order-2"):
        jg.check_grads(f, (X,), order=2)


def test_check_grads_non_scalar_outputs_several_args_and_arg_kinds():
    a = np.random.default_rng(0).standard_normal((3, 4))
    b = jg.tensor(np.random.default_rng(1).standard_normal(4))
    idx = np.array([2, 0])
    jg.check_grads(lambda a, b, idx, s: jg.tanh(a * b + s)[idx] @ b, (a, b, idx, 0.5), order=2)
    # a single array instead of a tuple
    jg.check_grads(jg.exp, a)


def test_check_grads_wrong_in_one_argument_only():
    class WrongY(jg.Function):
        @staticmethod
        def forward(ctx, x, y):
            ctx.save_for_backward(x, y)
            return x * y

        @staticmethod
        def backward(ctx, g):
            x, y = ctx.saved_tensors
            return g * y, g * x * 0.9

    with pytest.raises(AssertionError, match=r"worst element: argument 1 at index \(\d+,\)"):
        jg.check_grads(lambda x, y: WrongY.apply(x, y), (np.ones(3), np.arange(1.0, 4.0)), compiled=False)


def test_check_grads_float32_defaults():
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    jg.check_grads(lambda x: jg.sum(jg.tanh(x) ** 2), (x,))


def test_check_grads_compiled_disagreement(monkeypatch):
    def bad_jit_grad(f, argnums=0, backend=None, **kw):
        eager = jg.value_and_grad(f, argnums=argnums)

        def run(*args):
            v, g = eager(*args)
            return v, tuple(x * 1.1 for x in g)
        return run

    monkeypatch.setattr(jg, "jit_grad", bad_jit_grad)
    with pytest.raises(AssertionError, match=r"compiled \(\w+\) gradient of argument 0 disagrees with eager; "
                                             r"worst element at index \(\d+, \d+\)"):
        jg.check_grads(jg.sin, (X,))
    jg.check_grads(jg.sin, (X,), compiled=False)


def test_check_grads_compiled_runs_the_jit(monkeypatch):
    calls = []
    real = jg.jit_grad

    def spy(f, **kw):
        calls.append(kw)
        return real(f, **kw)

    monkeypatch.setattr(jg, "jit_grad", spy)
    jg.check_grads(jg.sin, (X,), backend="interpret")
    assert calls and calls[0]["backend"] == "interpret"


def test_check_grads_argument_errors():
    with pytest.raises(ValueError, match="order"):
        jg.check_grads(jg.sin, (X,), order=0)
    with pytest.raises(TypeError, match="floating point"):
        jg.check_grads(lambda i: i * 2.0, (np.arange(3),))


# ----------------------------------------------------------------------------- to_dot
def _parse_dot(src):
    nodes = dict(re.findall(r'^\s*(\w+) \[label="((?:[^"\\]|\\.)*)"', src, re.M))
    edges = re.findall(r"^\s*(\w+) -> (\w+)", src, re.M)
    return nodes, edges


def test_to_dot_structure():
    x = jg.tensor([1.0, 2.0], requires_grad=True)
    w = jg.tensor(np.ones((3, 2), np.float32), requires_grad=True)
    y = ((x * x + x) ** 2).sum() + (w.astype(np.float64) @ x).sum()
    src = jg.viz.to_dot(y)
    assert src.startswith("digraph") and src.rstrip().endswith("}")
    assert src.count("{") == src.count("}")
    nodes, edges = _parse_dot(src)
    labels = sorted(nodes.values())
    for name in ("MulBackward", "AddBackward", "PowBackward", "SumBackward", "MmBackward", "ToCopyBackward"):
        assert name in labels, (name, labels)
    leaves = [lbl for lbl in labels if lbl.startswith("AccumulateGrad")]
    assert sorted(leaves) == ["AccumulateGrad\\n(2,) float64", "AccumulateGrad\\n(3, 2) float32"]
    assert any(lbl.startswith("tensor () float64") for lbl in labels)
    # every node is declared once; edges only between declared nodes
    assert len(re.findall(r"^\s*\w+ \[label=", src, re.M)) == len(nodes)
    assert all(a in nodes and b in nodes for a, b in edges)
    # edges match next_functions, counted over the graph (x*x gives two edges from x's leaf)
    expected, seen, stack = 0, set(), [y.grad_fn]
    while stack:
        n = stack.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        for e in n.next_functions:
            if e is not None:
                expected += 1
                stack.append(e[0])
    assert len(edges) == expected + 1  # plus grad_fn -> the output tensor
    mul = next(k for k, v in nodes.items() if v == "MulBackward")
    xleaf = next(k for k, v in nodes.items() if v == "AccumulateGrad\\n(2,) float64")
    assert edges.count((xleaf, mul)) == 2


def test_to_dot_leaf_user_function_and_list():
    x = jg.tensor([1.0], requires_grad=True)
    src = jg.viz.to_dot(x)
    nodes, edges = _parse_dot(src)
    assert list(nodes.values()) == ["leaf (1,) float64"] and not edges
    y = RightSin.apply(x)
    nodes, edges = _parse_dot(jg.viz.to_dot([y, jg.exp(x)]))
    assert {"RightSinBackward", "ExpBackward"} <= set(nodes.values())
    assert sum(v.startswith("AccumulateGrad") for v in nodes.values()) == 1  # shared leaf once
    with pytest.raises(TypeError):
        jg.viz.to_dot(np.ones(2))
