"""NumPy functions applied to Tensors: jitgrad's op where one exists, eagerly and under jit_grad
alike; otherwise a TypeError naming the function when a gradient is involved (never a silently
dropped gradient), and plain NumPy when none is."""
import numpy as np
import pytest

import jitgrad as jg

MAPPED = {   # NumPy call on a Tensor -> the jitgrad expression it must equal (values and gradients)
    "sum": (lambda x: np.sum(x * 2, axis=0), lambda x: jg.sum(x * 2, axis=0)),
    "mean": (lambda x: np.mean(x, axis=1, keepdims=True), lambda x: jg.mean(x, axis=1, keepdims=True)),
    "max": (lambda x: np.max(x), lambda x: jg.max(x)),
    "concatenate": (lambda x: np.concatenate([x, x * 3], axis=1), lambda x: jg.concatenate([x, x * 3], 1)),
    "where": (lambda x: np.where(x > 0, x, x * x), lambda x: jg.where(x > 0, x, x * x)),
    "tanh (ufunc)": (lambda x: np.tanh(x) + np.exp(x), lambda x: jg.tanh(x) + jg.exp(x)),
    "transpose": (lambda x: np.transpose(x) @ x, lambda x: jg.transpose(x) @ x),
}


@pytest.mark.parametrize("name", sorted(MAPPED))
def test_numpy_functions_dispatch_to_jitgrad_ops(name):
    npf, jgf = MAPPED[name]
    x0 = np.random.default_rng(0).standard_normal((3, 4))
    outs = []
    for f in (npf, jgf):
        x = jg.tensor(x0, requires_grad=True)
        y = f(x)
        (g,) = jg.grad(jg.sum(y * y), [x])
        outs.append((y.numpy(), g.numpy()))
    for a, b in zip(*outs):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    v, g = jg.jit_grad(lambda x: jg.sum(npf(x) ** 2))(x0)               # traced alike
    np.testing.assert_allclose(g, outs[1][1], rtol=1e-10)


@pytest.mark.parametrize("call", [lambda x: np.arctan2(x, 1.0), lambda x: np.cumsum(x),
                                  lambda x: np.add.reduce(x), lambda x: np.sort(x)],
                         ids=["ufunc", "function", "ufunc-method", "sort"])
def test_undifferentiable_numpy_functions_raise_naming_the_function(call):
    x = jg.tensor([0.5, -1.0, 2.0], requires_grad=True)
    with pytest.raises(TypeError, match=r"np\.\w+.* is not differentiable in jitgrad"):
        call(x * 2)
    with pytest.raises(TypeError, match="not differentiable in jitgrad"):   # compiled: the same error
        jg.jit_grad(lambda x: jg.sum(call(x)))(np.ones(3))
    with jg.GradientTape() as tape:                                          # and on a watched tensor
        y = jg.tensor([1.0, 2.0])
        tape.watch(y)
        with pytest.raises(TypeError, match="not differentiable"):
            call(y)


def test_without_a_graph_numpy_computes_on_the_arrays():
    y = jg.tensor([1.0, 2.0])
    np.testing.assert_allclose(np.arctan2(y, 1.0), np.arctan2([1.0, 2.0], 1.0))
    assert np.allclose(y, [1.0, 2.0]) and np.cumsum(y).tolist() == [1.0, 3.0]
    x = jg.tensor([1.0, 2.0], requires_grad=True)
    assert np.asarray(x).tolist() == [1.0, 2.0]     # the explicit way out of the graph


def test_numpy_out_and_dtype_arguments_are_refused():
    x = jg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(TypeError, match="out= is not supported"):
        np.sum(x, out=np.empty(()))


def test_and_or_invert_are_logical_on_booleans_and_bitwise_on_integers():
    """PyTorch's and NumPy's meaning: `&` on integer tensors is bitwise (it was logical, a wrong
    value without a word); on booleans the recorded logical ops; floats are refused by name."""
    a, b = np.array([1, 2, 6]), np.array([3, 1, 4])
    ta, tb = jg.tensor(a), jg.tensor(b)
    for got, want in [(ta & tb, a & b), (ta | tb, a | b), (~ta, ~a), (ta & 3, a & 3), (3 & ta, 3 & a),
                      (5 | ta, 5 | a)]:
        assert got.dtype == want.dtype and np.array_equal(np.asarray(got), want)
    m, n = jg.tensor(np.array([True, False, True])), np.array([True, True, False])
    for got, want in [(m & n, [True, False, False]), (m | n, [True, True, True]), (~m, [False, True, False]),
                      (n & m, [True, False, False])]:
        assert got.dtype == np.bool_ and list(np.asarray(got)) == want
    with pytest.raises(TypeError, match="bitwise_and: bitwise ops take integer or boolean tensors, got float64"):
        jg.tensor([1.0]) & jg.tensor([2.0])
