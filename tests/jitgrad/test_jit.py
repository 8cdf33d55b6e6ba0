"""jit_grad's contract (API.md): compiled results equal eager ones, signatures and caching,
pytrees, aux, static arguments, captured tensors, eager mode, TraceError, explain, threads."""
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import jitgrad as jg


def _cpu_available():
    try:
        from codegen import compile_program  # noqa: F401
        return True
    except ImportError:
        return False


BACKENDS = ["interpret", pytest.param("cpu", marks=pytest.mark.skipif(not _cpu_available(),
                                                                      reason="codegen not built"))]


def w1(x, w):
    return jg.sum(jg.tanh(x * w + 0.5) ** 2 * jg.exp(-x * x) + jg.sigmoid(w))


def assert_tree_close(a, b, rtol=1e-5, atol=1e-6):
    if isinstance(a, dict):
        assert sorted(a) == sorted(b)
        for k in a:
            assert_tree_close(a[k], b[k], rtol, atol)
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b)
        for x, y in zip(a, b):
            assert_tree_close(x, y, rtol, atol)
    else:
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=atol)


@pytest.mark.parametrize("backend", BACKENDS)
def test_compiled_matches_eager_and_caches(backend, rng):
    f = jg.jit_grad(w1, argnums=(0, 1), backend=backend)
    x, w = rng.standard_normal(64).astype(np.float32), rng.standard_normal(64).astype(np.float32)
    v, (gx, gw) = f(x, w)
    ve, (gxe, gwe) = jg.value_and_grad(w1, argnums=(0, 1))(x, w)
    assert v.dtype == np.float32 and gx.dtype == np.float32 and gx.shape == x.shape
    assert_tree_close((v, gx, gw), (ve, gxe, gwe))
    f(x * 2, w)                         # same signature: no compile
    assert f.cache_info().misses == 1 and f.cache_info().hits == 1
    f(x[:10], w[:10])                   # new shape
    f(x.astype(np.float64), w.astype(np.float64))  # new dtype
    info = f.cache_info()
    assert info.misses == 3 and len(info.signatures) == 3
    assert "float64" in f.last_reason
    f.clear_cache()
    assert f.cache_info().misses == 0 and not f.cache_info().signatures


@pytest.mark.parametrize("backend", BACKENDS)
def test_pytree_argument_and_has_aux(backend, rng):
    def loss(params, x, y):
        h = jg.tanh(x @ params["w1"] + params["b"][0])
        pred = h @ params["w2"]
        err = pred - y
        return jg.mean(err ** 2), {"pred": pred, "n": 3}

    params = {"w1": rng.standard_normal((4, 5)), "b": [rng.standard_normal(5)],
              "w2": rng.standard_normal((5, 1))}
    x, y = rng.standard_normal((8, 4)), rng.standard_normal((8, 1))
    f = jg.jit_grad(loss, has_aux=True, backend=backend)
    (v, aux), g = f(params, x, y)
    (ve, auxe), ge = jg.value_and_grad(loss, has_aux=True)(params, x, y)
    assert set(g) == {"w1", "b", "w2"} and isinstance(g["b"], list)
    assert_tree_close(g, ge, 1e-10, 1e-12)
    assert aux["n"] == 3 and auxe["n"] == 3
    np.testing.assert_allclose(aux["pred"], auxe["pred"], 1e-12)
    np.testing.assert_allclose(v, ve, 1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_static_arguments_and_scalars(backend):
    def f(x, power, scale):
        return jg.sum(x ** power) * scale

    jf = jg.jit_grad(f, argnums=(0, 2), backend=backend)
    x = np.arange(1.0, 4.0)
    v, (gx, gs) = jf(x, 2, 3.0)          # power static, scale a Python float at argnums
    assert np.asarray(gs).shape == () and np.isclose(gs, 14.0) and np.isclose(v, 42.0)
    np.testing.assert_allclose(gx, 2 * x * 3.0)
    jf(x, 2, 5.0)                        # argnum scalars are dynamic: no recompile
    assert jf.cache_info().misses == 1
    v3, (gx3, _) = jf(x, 3, 1.0)         # static value changed: recompile
    assert jf.cache_info().misses == 2 and "static" in jf.last_reason
    np.testing.assert_allclose(gx3, 3 * x ** 2)
    with pytest.raises(TypeError, match="hashable"):
        jf(x, [{1}], 1.0)               # a static argument must be hashable


@pytest.mark.parametrize("backend", BACKENDS)
def test_captured_tensors_receive_grad_and_updates_are_seen(backend, rng):
    W = jg.tensor(rng.standard_normal((3, 2)), requires_grad=True)
    table = rng.standard_normal((4, 2))  # a captured ndarray: read by reference each call

    @jg.jit_grad(backend=backend)
    def f(x):
        return jg.sum((x @ W + table) ** 2)

    x = rng.standard_normal((4, 3))
    v1, gx = f(x)
    g1 = W.grad.numpy().copy()
    ref = 2 * x.T @ (x @ W.data + table)
    np.testing.assert_allclose(g1, ref, 1e-10)
    f(x)
    np.testing.assert_allclose(W.grad.numpy(), 2 * g1, 1e-10)   # accumulates like backward()
    W.data = W.data * 0.5                                       # an optimizer step replaces data
    table[:] = 0.0                                              # in-place change of a capture
    v2, _ = f(x)
    np.testing.assert_allclose(v2, np.sum((x @ W.data) ** 2), 1e-10)
    assert f.cache_info().misses == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_integer_labels_are_dynamic(backend, rng):
    def ce(logits, labels):
        return -jg.mean(jg.log_softmax(logits)[np.arange(logits.shape[0]), labels])

    f = jg.jit_grad(ce, backend=backend)
    logits = rng.standard_normal((6, 4))
    for labels in (np.array([0, 1, 2, 3, 0, 1]), np.array([3, 3, 3, 0, 0, -1])):
        v, g = f(logits, labels)
        ve, ge = jg.value_and_grad(ce)(logits, labels)
        np.testing.assert_allclose(v, ve, 1e-12)
        np.testing.assert_allclose(g, ge, 1e-12)
    assert f.cache_info().misses == 1


def pinn_tape(params, t):
    w1, b1, w2 = params
    t = jg.as_tensor(t)
    with jg.GradientTape() as tape:
        tape.watch(t)
        u = jg.tanh(t @ w1 + b1) @ w2
    dudt = tape.gradient(u, t)  # recorded: the loss is differentiated w.r.t. the weights next
    return jg.mean((dudt + u) ** 2) + jg.mean(u[0] ** 2)


def pinn_grad(params, t):
    w1, b1, w2 = params
    t = jg.as_tensor(t).detach().requires_grad_()
    u = jg.tanh(t @ w1 + b1) @ w2
    dudt, = jg.grad(jg.sum(u), [t], create_graph=True)
    return jg.mean((dudt + u) ** 2) + jg.mean(u[0] ** 2)


@pytest.mark.parametrize("pinn", [pinn_tape, pinn_grad])
@pytest.mark.parametrize("backend", BACKENDS)
def test_pinn_loss_with_inner_grad_compiles(backend, pinn, rng):
    params = [rng.standard_normal((1, 8)), rng.standard_normal(8), rng.standard_normal((8, 1))]
    t = np.linspace(0, 1, 16).reshape(16, 1)
    v, g = jg.jit_grad(pinn, backend=backend)(params, t)
    ve, ge = jg.value_and_grad(pinn)(params, t)
    np.testing.assert_allclose(v, ve, 1e-10)
    assert_tree_close(g, ge, 1e-8, 1e-10)
    eps = 1e-6  # and against central finite differences of the eager value
    for (k, idx) in [(0, (0, 3)), (1, (5,)), (2, (2, 0))]:
        hi = [p.copy() for p in params]
        lo = [p.copy() for p in params]
        hi[k][idx] += eps
        lo[k][idx] -= eps
        fd = (jg.value_and_grad(pinn)(hi, t)[0] - jg.value_and_grad(pinn)(lo, t)[0]) / (2 * eps)
        assert np.isclose(g[k][idx], fd, rtol=1e-5, atol=1e-8), (k, idx, g[k][idx], fd)


@pytest.mark.parametrize("backend", BACKENDS)
def test_custom_function_under_jit(backend):
    class Square(jg.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            x, = ctx.saved_tensors
            return 2 * x * g

    f = jg.jit_grad(lambda x: jg.sum(Square.apply(jg.sin(x))), backend=backend)
    x = np.linspace(-1, 1, 7)
    v, g = f(x)
    np.testing.assert_allclose(v, np.sum(np.sin(x) ** 2))
    np.testing.assert_allclose(g, 2 * np.sin(x) * np.cos(x), 1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_noncontiguous_inputs(backend, rng):
    f = jg.jit_grad(lambda a, b: jg.sum(jg.exp(a) * b), argnums=(0, 1), backend=backend)
    a = rng.standard_normal((6, 5))
    b = rng.standard_normal((12, 6))
    v, (ga, gb) = f(a.T, b[::2, :5].T)
    ve, (gae, gbe) = jg.value_and_grad(lambda a, b: jg.sum(jg.exp(a) * b), argnums=(0, 1))(a.T, b[::2, :5].T)
    assert_tree_close((v, ga, gb), (ve, gae, gbe), 1e-12, 1e-12)


def test_eager_mode_switches(monkeypatch, rng):
    calls = []

    def f(x):
        calls.append(type(x).__name__)
        print("inside f")  # prints work in eager mode
        return jg.sum(x * x)

    x = rng.standard_normal(5)
    jf = jg.jit_grad(f, eager=True)
    v, g = jf(x)
    np.testing.assert_allclose(g, 2 * x)
    jf(x)
    assert len(calls) == 2 and jf.cache_info().misses == 0   # ran op by op each time
    monkeypatch.setattr(jg.config, "eager", True)
    jf2 = jg.jit_grad(f, backend="interpret")
    jf2(x)
    jf2(x)
    assert len(calls) == 4 and jf2.cache_info().misses == 0
    out = subprocess.run([sys.executable, "-c", "import jitgrad as jg; print(jg.config.eager)"],
                         env={**os.environ, "JITGRAD_EAGER": "1"}, capture_output=True, text=True)
    assert out.stdout.strip() == "True"


def test_trace_error_names_user_line():
    def f(x):
        if jg.sum(x) > 0:  # value-dependent control flow
            return jg.sum(x)
        return -jg.sum(x)

    with pytest.raises(jg.TraceError) as info:
        jg.jit_grad(f, backend="interpret")(np.ones(3))
    msg = str(info.value)
    assert "test_jit.py" in msg and str(f.__code__.co_firstlineno + 1) in msg and "bool()" in msg
    for conv in (lambda t: float(jg.sum(t)), lambda t: jg.sum(t).item(), lambda t: t.numpy()):
        with pytest.raises(jg.TraceError, match="test_jit.py"):
            jg.jit_grad(lambda x: jg.sum(x) * conv(x), backend="interpret")(np.ones(3))
    # the same function runs eagerly
    assert jg.jit_grad(f, eager=True)(np.ones(3))[0] == 3.0


def test_errors_are_clear():
    with pytest.raises(TypeError, match="scalar"):
        jg.jit_grad(lambda x: x * 2, backend="interpret")(np.ones(3))
    with pytest.raises(TypeError, match="floating point"):
        jg.jit_grad(lambda x: jg.sum(x), backend="interpret")(np.arange(3))
    with pytest.raises(ValueError, match="backend"):
        jg.jit_grad(lambda x: x, backend="tpu")
    with pytest.raises(jg.ShapeError, match=r"\(3,\).*\(4,\)"):
        jg.jit_grad(lambda x, y: jg.sum(x * y), backend="interpret")(np.ones(3), np.ones(4))


def test_explain_shows_everything(rng):
    f = jg.jit_grad(w1, argnums=(0, 1), backend="interpret")
    x = rng.standard_normal(8).astype(np.float32)
    e = jg.explain(f, x, x)
    s = str(e)
    for part in ("recorded tape", "loop IR", "generated kernel source", "cache key", "first call",
                 "tanh", "float32[8]"):
        assert part in s, part
    f(x[:4], x[:4])
    s = str(jg.explain(f, x[:4], x[:4]))
    assert "cache hit" in s and "new signature" in s and "float32[8] -> array float32[4]" in s


@pytest.mark.parametrize("backend", BACKENDS)
def test_concurrent_first_call_compiles_once(backend, rng):
    f = jg.jit_grad(w1, argnums=(0, 1), backend=backend)
    xs = [rng.standard_normal(32) for _ in range(8)]
    results, errors = [None] * 8, []

    def work(i):
        try:
            results[i] = f(xs[i], xs[i] + 1)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert f.cache_info().misses == 1 and f.cache_info().hits == 7
    for i in range(8):
        ve, ge = jg.value_and_grad(w1, argnums=(0, 1))(xs[i], xs[i] + 1)
        assert_tree_close(results[i], (ve, ge), 1e-10, 1e-12)


def test_explain_on_the_cpu_backend_shows_real_ir_source_and_phases(rng):
    f = jg.jit_grad(w1, argnums=(0, 1))
    x = rng.standard_normal(8)
    s = str(jg.explain(f, x, x))
    for part in ("@kernel_jit(", "def kernel(", "def driver(", "for i0 in range(8)", "acc1", "compile time by phase",
                 "tracing", "IR passes", "Numba", "kernels: 1 (compiled now"):
        assert part in s, part
    e = f.entry_for(x, x)
    assert set(e.timings) >= {"trace", "import", "passes", "numba"} and all(v >= 0 for v in e.timings.values())


@pytest.mark.parametrize("backend", BACKENDS)
def test_index_out_of_bounds_raises_like_eager(backend):
    """Compiled gathers and scatters check their indices: never a read or write outside the array."""
    f = jg.jit_grad(lambda x, i: jg.sum(x[i] * x[i]), backend=backend)
    x = np.arange(1.0, 7.0)
    v, g = f(x, np.array([0, -1]))
    assert v == 37.0 and g[0] == 2.0 and g[-1] == 12.0
    for bad in ([0, 6], [0, 10 ** 9], [-7, 0]):
        with pytest.raises(IndexError, match=r"getitem.*out of bounds.*test_jit.py:\d+"):
            f(x, np.array(bad))
    assert f.cache_info().misses == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_negative_argnums(backend):
    f = lambda x, y: jg.sum(x * y * y)  # noqa: E731
    x, y = np.ones(2), np.full(2, 3.0)
    for nums in (-1, (0, -1)):
        got = jg.jit_grad(f, argnums=nums, backend=backend)(x, y)
        want = jg.value_and_grad(f, argnums=nums)(x, y)
        assert_tree_close(got, want)


@pytest.mark.parametrize("backend", BACKENDS)
def test_captured_tensor_changes_retrace(backend):
    """Freezing, unfreezing or re-typing a captured parameter retraces instead of going stale."""
    W = jg.tensor(np.ones(2), requires_grad=True)
    f = jg.jit_grad(lambda x: jg.sum(x * W), backend=backend)
    f(np.ones(2))
    W.requires_grad_(False)
    W.grad = None
    f(np.ones(2))
    assert W.grad is None and f.cache_info().misses == 2 and "no longer requires grad" in f.last_reason
    W.requires_grad_(True)
    f(np.ones(2))
    np.testing.assert_array_equal(W.grad.numpy(), [1.0, 1.0])
    W.data = W.data.astype(np.float32)
    W.grad = None
    f(np.ones(2))
    assert W.grad.dtype == np.float32 and "float64[2] to float32[2]" in f.last_reason
    f(np.ones(2))
    assert f.cache_info().misses == 4


@pytest.mark.parametrize("backend", BACKENDS)
def test_tensor_arguments_that_require_grad_get_grad_as_eagerly(backend):
    def f(x, p, *, s):
        return jg.sum(x * x * p["w"]) + jg.sum(x * p["c"]) + jg.sum(s * x)
    x = np.array([1.0, 2.0])
    made = {}
    for mode in ("eager", "jit"):
        p = {"w": jg.tensor([0.5, 0.5], requires_grad=True), "c": np.ones(2)}
        s = jg.tensor([3.0, 4.0], requires_grad=True)
        fn = jg.value_and_grad(f) if mode == "eager" else jg.jit_grad(f, backend=backend)
        out = [fn(x, p, s=s) for _ in range(2)]          # accumulates, as backward() would
        made[mode] = (out, p["w"].grad.numpy(), s.grad.numpy())
    assert_tree_close(made["jit"][0], made["eager"][0])
    np.testing.assert_allclose(made["jit"][1], [2.0, 8.0])
    np.testing.assert_allclose(made["eager"][1], made["jit"][1])
    np.testing.assert_allclose(made["eager"][2], made["jit"][2])


@pytest.mark.parametrize("backend", BACKENDS)
def test_zero_d_and_empty_arguments(backend):
    f = lambda x, y: jg.sum(x * jg.tanh(y)) + jg.sum(y * y) * x  # noqa: E731
    for x, y in ((np.array(0.7), np.array([0.1, -0.2])), (np.array(1.5), np.zeros((0, 3)))):
        got = jg.jit_grad(f, argnums=(0, 1), backend=backend)(x, y)
        assert_tree_close(got, jg.value_and_grad(f, argnums=(0, 1))(x, y))
        assert got[1][1].shape == y.shape


DISK_SCRIPT = """
import json, sys, numpy as np, jitgrad as jg
rng = np.random.default_rng(0)
ps = [rng.standard_normal(s).astype(np.float32) for s in [(32, 24), (24,), (24, 24), (24,), (24, 5), (5,)]]
x, y = rng.standard_normal((16, 32)).astype(np.float32), rng.integers(0, 5, 16)
def loss(p, x, y):
    h = jg.relu(x @ p[0] + p[1])
    h = jg.relu(h @ p[2] + p[3])
    return jg.nn.functional.cross_entropy(h @ p[4] + p[5], y)
f = jg.jit_grad(loss)
v, g = f(ps, x, y)
c = f.entry_for(ps, x, y).compiled
print(json.dumps(dict(disk=c.from_disk_cache, compiled=c.compiled_kernels,
                      new=sum(k.origin != "disk" for k in c.kernels.values()), value=float(v))))
"""


def test_new_process_loads_jit_grad_kernels_from_disk(tmp_path):
    """End to end through jit_grad: the second process derives the same kernel key (no hash-seed
    or id-order dependence) and compiles nothing."""
    env = dict(os.environ, JITGRAD_CACHE_DIR=str(tmp_path))
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    runs = []
    for seed in ("1", "2"):
        env["PYTHONHASHSEED"] = seed
        out = subprocess.run([sys.executable, "-c", DISK_SCRIPT], env=dict(env, PYTHONPATH=root),
                             capture_output=True, text=True, cwd=root)
        assert out.returncode == 0, out.stderr
        import json
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    assert not runs[0]["disk"] and runs[1]["disk"] and runs[1]["new"] == 0 and runs[1]["compiled"] == 0, runs
    assert runs[0]["value"] == runs[1]["value"]


def test_big_endian_arguments_are_computed_in_native_order():
    f = jg.jit_grad(lambda x, w: jg.sum(jg.tanh(x * w)), argnums=(0, 1))
    x, w = np.linspace(-1, 1, 5), np.linspace(0.5, 2, 5)
    want = f(x, w)
    got = f(x.astype(">f8"), w.astype(">f8"))
    assert_tree_close(got, want, 1e-12, 1e-12)
    assert got[1][0].dtype == np.float64 and got[1][0].dtype.byteorder in "=|<"


def test_float16_is_refused_with_the_supported_list():
    f = jg.jit_grad(lambda x: jg.sum(x * x))
    with pytest.raises(TypeError, match=r"float16.*supported: float32, float64"):
        f(np.ones(3, np.float16))


def test_argnums_empty_compiles_the_value_alone():
    f = jg.jit_grad(lambda x, y: jg.sum(x * y), argnums=())
    v, g = f(np.arange(3.0), np.ones(3))
    assert v == pytest.approx(3.0) and g == ()
    assert jg.value_and_grad(lambda x, y: jg.sum(x * y), argnums=())(np.arange(3.0), np.ones(3))[1] == ()


def test_module_mode_read_while_tracing_is_guarded():
    """model.eval() after the first compiled call changes what the function computes (it read
    `self.training`): the next call retraces instead of reusing the training-mode kernel."""
    class Head(jg.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = jg.nn.Linear(3, 2)

        def forward(self, x):
            y = self.lin(x)
            return y * 2.0 if self.training else y

    m = Head()
    f = jg.jit_grad(lambda x: jg.sum(m(x) ** 2))
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    results = []
    for mode in (True, False, True, False):
        m.train(mode)
        results.append(f(x))
        assert_tree_close(results[-1], jg.value_and_grad(lambda x: jg.sum(m(x) ** 2))(x))
    assert results[0][0] == pytest.approx(4 * results[1][0], rel=1e-5)
    assert "eval mode" in f.last_reason or "training mode" in f.last_reason


def test_global_numpy_random_draws_while_tracing_raise():
    f = jg.jit_grad(lambda x: jg.sum(x * np.random.rand(3)))
    with pytest.raises(jg.TraceError, match="np.random was used while jit_grad traced"):
        f(np.ones(3))


def test_unseeded_jitgrad_draws_while_tracing_raise_seeded_ones_are_constants():
    with pytest.raises(jg.TraceError, match=r"jg.randn without a seed .*test_jit.py"):
        jg.jit_grad(lambda x: jg.sum(x * jg.randn(3)))(np.ones(3))
    f = jg.jit_grad(lambda x: jg.sum(x * jg.randn(3, seed=4, dtype=np.float64)))
    want = jg.value_and_grad(lambda x: jg.sum(x * jg.randn(3, seed=4, dtype=np.float64)))(np.ones(3))
    assert_tree_close(f(np.ones(3)), want)
    assert_tree_close(f(np.ones(3)), want)       # the same seed: the same numbers every call, as eagerly


SCALE = 2.0


def test_captured_python_numbers_are_guarded():
    global SCALE
    f = jg.jit_grad(lambda x: jg.sum(x * SCALE))
    assert f(np.ones(3))[0] == pytest.approx(6.0)
    SCALE = 3.0
    try:
        assert f(np.ones(3))[0] == pytest.approx(9.0)       # retraced, not the stale 2.0
        assert "SCALE changed from 2.0 to 3.0" in f.last_reason
    finally:
        SCALE = 2.0
    k = 1.5

    def g(x):
        return jg.sum(x * k)
    h = jg.jit_grad(g)
    assert h(np.ones(2))[0] == pytest.approx(3.0)
    k = 4.0
    assert h(np.ones(2))[0] == pytest.approx(8.0)


def test_captured_0d_tensors_and_arrays_are_read_at_each_call():
    """A captured scalar tensor or 0-d array is an input of the compiled code, not a literal
    frozen at trace time: changed in place or replaced, the next call sees it."""
    scale, shift = jg.tensor(2.0), np.array(3.0)
    f = jg.jit_grad(lambda x: jg.sum(x * scale + shift))
    x = np.ones(3)
    assert f(x)[0] == pytest.approx(15.0)
    scale.data[...] = 5.0
    shift[...] = 1.0
    v, g = f(x)
    assert v == pytest.approx(18.0) and np.allclose(g, 5.0)
    scale.data = np.array(4.0)
    assert f(x)[0] == pytest.approx(15.0) and f.cache_info().misses == 1


def test_two_threads_training_one_module_through_one_jit_grad_accumulate_every_gradient():
    """Captured parameters accumulate .grad under a lock: 2 threads x 40 calls give exactly 80
    times one call's gradient (no lost update), and each call's value is right."""
    import threading
    from jitgrad import nn
    jg.manual_seed(0)
    m = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 1)).double()
    x = np.random.default_rng(0).standard_normal((32, 6))
    f = jg.jit_grad(lambda x: jg.sum(m(x) ** 2), argnums=())
    v1, _ = f(x)
    one = [p.grad.numpy().copy() for p in m.parameters()]
    m.zero_grad()
    values = []

    def work():
        for _ in range(40):
            values.append(f(x)[0])
    ts = [threading.Thread(target=work) for _ in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert len(values) == 80 and all(v == v1 for v in values)
    for p, g in zip(m.parameters(), one):
        np.testing.assert_allclose(p.grad.numpy(), 80 * g, rtol=1e-12)


def test_a_registered_backend_is_a_jit_grad_backend(monkeypatch):
    """codegen.backends is the one list of backends: what is registered there, jit_grad takes."""
    from codegen import backends
    seen = []

    def compile_mine(program, **options):
        seen.append(sorted(options))
        return backends.Interpreted(program)
    monkeypatch.setitem(backends.BACKENDS, "mine", backends.Backend("mine", compile_mine))
    value, grad = jg.jit_grad(lambda x: jg.sum(x * x), backend="mine")(np.arange(3.0))
    assert value == 5.0 and np.allclose(grad, [0, 2, 4])
    assert seen == [["cache_dir", "check", "dynamic", "fuse", "parallel", "scratch_group"]]
    with pytest.raises(ValueError, match="unknown backend 'nope'.*'cpu'.*'cuda'.*'interpret'.*'mine'.*'auto'"):
        jg.jit_grad(lambda x: x, backend="nope")


def test_batch_sizes_of_one_function_reuse_each_others_temporaries():
    """A new batch size's first call takes the memory the other sizes kept for their
    temporaries (no fresh pages to fault in); alternating sizes stays correct."""
    def loss(w, x):
        return jg.sum(jg.tanh(x @ w) ** 2 + jg.exp(-x @ w))
    f = jg.jit_grad(loss)
    w = np.linspace(-1, 1, 12).reshape(3, 4)
    xa, xb = np.linspace(0, 1, 24).reshape(8, 3), np.linspace(-1, 0, 15).reshape(5, 3)
    f(w, xa), f(w, xa)
    take_a = f.entry_for(w, xa).compiled._entry.__globals__["take"]
    held = take_a()
    assert held is not None                  # size A keeps one set of temporaries between calls
    f.entry_for(w, xa).compiled._entry.__globals__["give"](held)
    f(w, xb)
    assert take_a() is None                  # ... which size B's first call took over
    for x in (xa, xb, xa, xb):
        v, g = f(w, x)
        ev, eg = jg.value_and_grad(loss)(jg.tensor(w), jg.tensor(x))
        np.testing.assert_allclose(v, np.asarray(ev), rtol=1e-12)
        np.testing.assert_allclose(g, np.asarray(eg), rtol=1e-12, atol=1e-15)
