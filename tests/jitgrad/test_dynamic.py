"""jit_grad(dynamic=...): API.md "Shapes that change"."""
import numpy as np
import pytest
from numba.core import event

from codegen.llvm_cpu import compiled_count

import jitgrad as jg


def numba_compiles(fn):
    ours = compiled_count()
    with event.install_recorder("numba:compile") as rec:
        out = fn()
    return out, compiled_count() - ours + sum(1 for _, ev in rec.buffer if ev.is_start)


def loss(ws, x, y):
    h = jg.relu(x @ ws[0] + ws[1])
    return jg.nn.functional.cross_entropy(h @ ws[2] + ws[3], y)


def _params(seed=0):
    r = np.random.default_rng(seed)
    return [r.standard_normal(s).astype(np.float32) * 0.3 for s in [(12, 9), (9,), (9, 4), (4,)]]


def _batch(n, seed=0):
    r = np.random.default_rng(seed + n)
    return r.standard_normal((n, 12)).astype(np.float32), r.integers(0, 4, n)


def _close(got, want):
    v, g = got
    np.testing.assert_allclose(v, want[0], rtol=2e-5, atol=1e-6)
    for a, b in zip(g, want[1]):
        np.testing.assert_allclose(a, np.asarray(b), rtol=2e-4, atol=1e-6)


def test_default_compiles_static_then_dynamic_once_then_nothing():
    f, ws = jg.jit_grad(loss), _params()
    eager = jg.value_and_grad(loss)
    counts = []
    for n in (16, 8, 5, 16, 33, 2):
        x, y = _batch(n)
        got, compiles = numba_compiles(lambda: f(ws, x, y))
        _close(got, eager(ws, x, y))
        counts.append(compiles)
    assert counts[2:] == [0, 0, 0, 0], counts           # every size after the second: no compile
    assert not f.entry_for(ws, *_batch(16)).compiled.dynamic      # the first size: static kernels
    assert f.entry_for(ws, *_batch(8)).compiled.dynamic           # then sizes as arguments
    sigs = f.cache_info().signatures
    assert any(((16, 12), np.dtype(np.float32)) in s for s in sigs)           # the static one
    assert any((("B", 12), np.dtype(np.float32)) in s and (("B",), np.dtype(np.int64)) in s
               for s in sigs), sigs                                           # B shared by x, y
    assert len(sigs) == 2
    text = str(jg.explain(f, ws, *_batch(5)))
    assert "B = argument 1 dimension 0 (sizes seen: 16, 8" in text, text


def test_a_sum_over_the_batch_keeps_its_kernels_at_every_size():
    """After two sizes, a sum over the batch (a weight's gradient) keeps its accumulator type and
    loop structure whatever the batch (a short sum once accumulated in float32, a long one in
    float64: a new kernel at each crossing). Compared by kernel key: kernels that the session's
    disk cache already holds would not count as compiles."""
    def f(w, b, x):
        return jg.mean(jg.tanh(x * w + b) ** 2)
    g = jg.jit_grad(f, argnums=(0, 1))
    eager = jg.value_and_grad(f, argnums=(0, 1))
    w, b = _params(1)[1], _params(2)[1]
    keys = []
    for n in (32, 24, 8, 12, 40, 3, 100):
        x = _batch(n, 1)[0][:, :9]
        _close(g(w, b, x), eager(w, b, x))
        keys.append({lk.key for lk in g.entry_for(w, b, x).compiled.kernels.values()})
    assert all(k <= keys[1] for k in keys[2:]), [len(k - keys[1]) for k in keys[2:]]


def test_dynamic_true_compiles_once():
    f, ws = jg.jit_grad(loss, dynamic=True), _params(1)
    eager = jg.value_and_grad(loss)
    counts = []
    for n in (7, 20, 3):
        x, y = _batch(n, 1)
        got, compiles = numba_compiles(lambda: f(ws, x, y))
        _close(got, eager(ws, x, y))
        counts.append(compiles)
    assert counts[1:] == [0, 0], counts
    (sig,) = f.cache_info().signatures
    assert sig[1] == (("B", "T"), np.dtype(np.float32)) and sig[2] == (("B",), np.dtype(np.int64)), sig


def test_dynamic_false_compiles_every_shape():
    k = float(np.random.default_rng().uniform(1, 2))   # a program no earlier run compiled

    def g(x):
        return jg.sum(jg.tanh(x * k) * x)
    f = jg.jit_grad(g, dynamic=False)
    counts = []
    for n in (6, 9, 11):
        x = np.linspace(-1, 1, n)
        got, compiles = numba_compiles(lambda: f(x))
        np.testing.assert_allclose(got[1], jg.value_and_grad(g)(x)[1])
        counts.append(compiles)
    assert all(c > 0 for c in counts), counts
    assert len(f.cache_info().signatures) == 3


@pytest.mark.parametrize("n", [0, 1, 2, 9])
def test_sizes_zero_and_one_give_eager_results(n):
    f = jg.jit_grad(lambda x, w: jg.mean(jg.sum(jg.tanh(x @ w), 1)) + jg.sum(w * w), argnums=(0, 1), dynamic=True)
    f(np.ones((5, 3)), np.ones((3, 2)))
    x, w = np.random.default_rng(n).standard_normal((n, 3)), np.random.default_rng(9).standard_normal((3, 2))
    got = f(x, w)
    want = jg.value_and_grad(lambda x, w: jg.mean(jg.sum(jg.tanh(x @ w), 1)) + jg.sum(w * w), argnums=(0, 1))(x, w)
    np.testing.assert_allclose(got[0], want[0])
    for a, b in zip(got[1], want[1]):
        np.testing.assert_allclose(a, b, atol=1e-12)


def test_mean_over_a_dynamic_batch_divides_by_the_call_size():
    f = jg.jit_grad(lambda x: jg.mean(x * 2.0), dynamic=True)
    for n in (4, 10, 3):
        v, g = f(np.arange(float(n)))
        assert v == pytest.approx(np.arange(float(n)).mean() * 2) and np.allclose(g, 2.0 / n)


def test_bad_dynamic_value():
    with pytest.raises(ValueError, match="dynamic"):
        jg.jit_grad(lambda x: x, dynamic="yes")


def _compiles_and_matches(f, eager, *args):
    """How many kernels f(*args) compiled; its value and gradients checked against eager."""
    got, compiles = numba_compiles(lambda: f(*args))
    want = eager(*args)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-12)
    for a, e in zip(got[1], want[1]):
        np.testing.assert_allclose(a, e, rtol=1e-10, atol=1e-13)
    return compiles


def _sources(f, *args):
    return "\n".join(lk.source for lk in f.entry_for(*args).compiled.kernels.values())


def test_automatic_dynamic_keeps_the_sizes_that_did_not_change():
    F = jg.nn.functional
    r = np.random.default_rng(3)
    w, b = r.standard_normal((4, 2, 3, 3)), r.standard_normal(4)

    def net(w, b, x):
        return jg.sum(F.max_pool2d(jg.relu(F.conv2d(x, w, b, padding=1)), 2) ** 2)
    f, eager = jg.jit_grad(net, argnums=(0, 1)), jg.value_and_grad(net, argnums=(0, 1))
    xs = {n: r.standard_normal((n, 2, 6, 6)) for n in (3, 5, 2)}
    f(w, b, xs[3])
    f(w, b, xs[5])                                   # the batch became an argument...
    got, compiles = numba_compiles(lambda: f(w, b, xs[2]))
    assert compiles == 0
    want = eager(w, b, xs[2])
    np.testing.assert_allclose(got[0], want[0], rtol=1e-12)
    for a, e in zip(got[1], want[1]):
        np.testing.assert_allclose(a, e, rtol=1e-10, atol=1e-12)
    src = _sources(f, w, b, xs[2])
    assert "in range(3):" in src and "in range(2):" in src, src   # ...the 3x3 and 2x2 windows did not
    assert "in range(n" in src


def test_a_size_that_changes_later_is_one_more_compile_then_an_argument():
    k = float(np.random.default_rng().uniform(1, 2))   # kernels no earlier run compiled

    def g(x, w):
        return jg.sum(jg.tanh(x * w * k) * x)
    f, eager = jg.jit_grad(g, argnums=(0, 1)), jg.value_and_grad(g, argnums=(0, 1))
    r = np.random.default_rng(4)
    counts = []
    for shape in [(4, 3), (6, 3), (6, 5), (7, 8), (2, 9)]:   # (no squares: x and x.T fuse)
        counts.append(_compiles_and_matches(f, eager, r.standard_normal(shape), r.standard_normal(shape[1])))
    assert counts[2] > 0 and counts[3:] == [0, 0], counts   # the width: literal until it changed


def test_a_size_too_small_for_threads_compiles_nothing_either():
    """Dynamic kernels are all parallel-capable; the driver runs small ones on one thread, so a
    batch below the threading threshold is not a new kernel."""
    k = float(np.random.default_rng().uniform(1, 2))

    def g(x, w):
        return jg.sum(jg.tanh(x * w * k) ** 2)
    f, eager = jg.jit_grad(g, argnums=(0, 1)), jg.value_and_grad(g, argnums=(0, 1))
    r = np.random.default_rng(5)
    w = r.standard_normal(1024)
    counts = []
    for n in (256, 200, 16):
        x = r.standard_normal((n, 1024))
        counts.append(_compiles_and_matches(f, eager, x, w))
    assert counts[2] == 0, counts
    big = f.entry_for(r.standard_normal((200, 1024)), w).compiled.driver_source
    small = f.entry_for(x, w).compiled.driver_source
    assert "prun(" in big and "prun(" not in small
