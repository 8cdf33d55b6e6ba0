"""The autograd scenarios users ask about, reproduced with jitgrad and asserted with numbers
(issue 2, "Must show"). Each test names the PyTorch/TensorFlow behaviour it mirrors."""
import warnings

import numpy as np
import pytest

import jitgrad as jg
from jitgrad import nn


def close(t, expected, **kw):
    arr = t.numpy() if isinstance(t, jg.Tensor) else np.asarray(t)
    np.testing.assert_allclose(arr, expected, **{"rtol": 1e-6, "atol": 1e-9, **kw})


# ----------------------------------------------------------------------------- backward twice
def test_backward_twice_without_retain_graph_raises():
    x = jg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    loss = (jg.exp(x) * x).sum()
    loss.backward()
    close(x.grad, np.exp([1, 2, 3]) * (1 + np.array([1, 2, 3])))
    with pytest.raises(RuntimeError, match=r"retain_graph=True") as e:
        loss.backward()
    assert "second time" in str(e.value) and "freed" in str(e.value)


def test_backward_twice_with_retain_graph_accumulates():
    x = jg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    loss = (jg.exp(x) * x).sum()
    loss.backward(retain_graph=True)
    g1 = x.grad.numpy().copy()
    loss.backward()  # retained graph: works once more (then it is freed)
    close(x.grad, 2 * g1)
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        loss.backward()


def test_jg_grad_twice_on_freed_graph_raises():
    x = jg.tensor(2.0, requires_grad=True)
    y = jg.sin(x) * x
    (g,) = jg.grad(y, x)
    close(g, np.cos(2.0) * 2 + np.sin(2.0))
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        jg.grad(y, x)


# ----------------------------------------------------------------------------- accumulation
def test_two_losses_accumulate_then_one_optimizer_step():
    np.random.seed(0)
    lin = nn.Linear(3, 2)
    w0, b0 = lin.weight.numpy().copy(), lin.bias.numpy().copy()
    x = np.array([[1.0, -2.0, 0.5], [0.0, 1.0, 2.0]], dtype=np.float32)
    opt = jg.optim.SGD(lin.parameters(), lr=0.1)
    opt.zero_grad()
    y = lin(x)
    loss1 = y.sum()
    loss2 = (y ** 2).mean()
    loss1.backward(retain_graph=True)  # the graph of y is shared by loss2
    loss2.backward()
    yv = x @ w0.T + b0
    gy = np.ones_like(yv) + 2 * yv / yv.size
    close(lin.weight.grad, gy.T @ x, rtol=1e-5)
    close(lin.bias.grad, gy.sum(0), rtol=1e-5)
    opt.step()
    close(lin.weight, w0 - 0.1 * (gy.T @ x), rtol=1e-5, atol=1e-6)
    close(lin.bias, b0 - 0.1 * gy.sum(0), rtol=1e-5, atol=1e-6)


def test_shared_graph_second_loss_needs_retain_graph():
    w = jg.tensor([1.0, 2.0], requires_grad=True)
    h = jg.tanh(w * 3)
    l1, l2 = h.sum(), (h * h).sum()
    l1.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        l2.backward()


def test_two_independent_losses_accumulate():
    w = jg.tensor([1.0, 2.0], requires_grad=True)
    (w * 3).sum().backward()
    (w ** 2).sum().backward()
    close(w.grad, [3 + 2, 3 + 4])


# ----------------------------------------------------------------------------- non-scalar
def test_backward_on_non_scalar_raises_and_sum_fixes_it():
    x = jg.arange(-8, 8, 0.1, requires_grad=True)
    y = jg.sigmoid(x)
    assert y.shape == (160,)
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar outputs"):
        y.backward()
    with pytest.raises(RuntimeError, match="only for scalar outputs"):
        jg.grad(y, x)
    y.sum().backward()
    s = 1 / (1 + np.exp(-np.arange(-8, 8, 0.1)))
    close(x.grad, s * (1 - s), rtol=1e-12)
    x.grad = None
    jg.sigmoid(x).backward(gradient=jg.ones_like(x))  # the other fix: pass gradient=
    close(x.grad, s * (1 - s), rtol=1e-12)


# ----------------------------------------------------------------------------- grad vs backward
def test_grad_does_not_touch_dot_grad_while_backward_accumulates():
    x = jg.tensor([1.0, 2.0], requires_grad=True)
    y = (x ** 3).sum()
    (g,) = jg.grad(y, x, retain_graph=True)
    close(g, [3, 12])
    assert x.grad is None
    y.backward(retain_graph=True)
    close(x.grad, [3, 12])
    (g,) = jg.grad(y, [x], retain_graph=True)
    close(g, [3, 12])
    close(x.grad, [3, 12])  # unchanged by grad
    y.backward()
    close(x.grad, [6, 24])  # accumulated


def test_backward_inputs_restricts_accumulation():
    w = jg.tensor([1.0, 2.0], requires_grad=True)
    b = jg.tensor(0.5, requires_grad=True)
    x = np.array([3.0, 4.0])
    h = w * x + b
    h.retain_grad()
    loss = (h ** 2).sum()
    loss.backward(inputs=[w], retain_graph=True)
    close(w.grad, 2 * (np.array([1, 2]) * x + 0.5) * x)
    assert b.grad is None
    close(h.grad, [7, 17])  # retain_grad fires: h lies on the path to w (as in PyTorch)
    w.grad = None
    loss.backward(inputs=[b, h])
    assert w.grad is None
    close(b.grad, 2 * (3.5 + 8.5))
    close(h.grad, [14, 34])  # a non-leaf in inputs= accumulates into .grad once, as in PyTorch


# ----------------------------------------------------------------------------- a = relu(x*w + b)
def _relu_graph():
    x = jg.tensor(3.0, requires_grad=True)
    w = jg.tensor(2.0, requires_grad=True)
    b = jg.tensor(1.0, requires_grad=True)
    z = x * w + b
    a = jg.relu(z)
    return x, w, b, z, a


def test_relu_partials_through_tuple_grad():
    x, w, b, z, a = _relu_graph()
    assert a.item() == 7.0
    grads = jg.grad(a, (x, w, b, z, a))
    assert isinstance(grads, tuple) and len(grads) == 5
    assert [g.item() for g in grads] == [2.0, 3.0, 1.0, 1.0, 1.0]
    assert x.grad is None and w.grad is None


def test_relu_partials_repeated_grad_retain_graph():
    x, w, b, z, a = _relu_graph()
    for _ in range(3):
        dx, dw, db = jg.grad(a, [x, w, b], retain_graph=True)
        assert (dx.item(), dw.item(), db.item()) == (2.0, 3.0, 1.0)
    dz, = jg.grad(a, [z])  # last call frees the graph
    assert dz.item() == 1.0
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        jg.grad(a, [x])


def test_relu_partials_retain_grad_and_backward():
    x, w, b, z, a = _relu_graph()
    z.retain_grad()
    a.retain_grad()
    assert z.retains_grad and not x.retains_grad
    a.backward()
    assert (x.grad.item(), w.grad.item(), b.grad.item()) == (2.0, 3.0, 1.0)
    assert z.grad.item() == 1.0 and a.grad.item() == 1.0


def test_relu_partials_hooks_modify_and_remove():
    x, w, b, z, a = _relu_graph()
    seen = []
    h1 = z.register_hook(lambda g: seen.append(g.item()))
    h2 = z.register_hook(lambda g: g * 10)  # replaces z's gradient for everything upstream
    a.backward(retain_graph=True)
    assert seen == [1.0]
    assert (x.grad.item(), w.grad.item(), b.grad.item()) == (20.0, 30.0, 10.0)
    h2.remove()
    h1.remove()
    for t in (x, w, b):
        t.grad = None
    hx = x.register_hook(lambda g: -g)  # a hook on a leaf changes what is accumulated
    a.backward(retain_graph=True)
    assert (x.grad.item(), w.grad.item(), b.grad.item()) == (-2.0, 3.0, 1.0)
    assert seen == [1.0]  # removed hooks do not run
    hx.remove()
    x.grad = None
    a.backward()
    assert x.grad.item() == 2.0


def test_relu_partials_at_negative_input_are_zero():
    x = jg.tensor(-3.0, requires_grad=True)
    w = jg.tensor(2.0, requires_grad=True)
    b = jg.tensor(1.0, requires_grad=True)
    a = jg.relu(x * w + b)
    assert [g.item() for g in jg.grad(a, (x, w, b))] == [0.0, 0.0, 0.0]


# ----------------------------------------------------------------------------- grad_fn chain
def test_grad_fn_chain_pow_add_mul():
    x = jg.tensor(3.0, requires_grad=True)
    w = jg.tensor(2.0, requires_grad=True)
    b = jg.tensor(1.0, requires_grad=True)
    y = (x * w + b) ** 2
    assert y.grad_fn.name() == "PowBackward"
    assert not y.is_leaf and x.is_leaf and x.grad_fn is None
    add_node, idx = y.grad_fn.next_functions[0]
    assert add_node.name() == "AddBackward" and idx == 0
    mul_node = add_node.next_functions[0][0]
    assert mul_node.name() == "MulBackward"
    acc_b = add_node.next_functions[1][0]
    assert acc_b.name() == "AccumulateGrad" and acc_b.variable is b
    leaves = [e[0] for e in mul_node.next_functions]
    assert [n.name() for n in leaves] == ["AccumulateGrad", "AccumulateGrad"]
    assert leaves[0].variable is x and leaves[1].variable is w
    # the constant exponent has no node
    assert all(e is None for e in y.grad_fn.next_functions[1:])
    assert "PowBackward" in repr(y)
    y.backward()
    assert (x.grad.item(), w.grad.item(), b.grad.item()) == (28.0, 42.0, 14.0)


# ----------------------------------------------------------------------------- (2a+5)^2
def test_sum_of_squares_gradient_and_doubling():
    a = jg.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    out = jg.sum((2 * a + 5) ** 2)
    assert out.item() == 49 + 81 + 121 + 169
    out.backward(retain_graph=True)
    close(a.grad, [28, 36, 44, 52])
    out.backward()
    close(a.grad, [56, 72, 88, 104])


# ----------------------------------------------------------------------------- integer tensors
@pytest.mark.parametrize("make", [
    lambda: jg.tensor([1, 2, 3], requires_grad=True),
    lambda: jg.tensor([True, False], requires_grad=True),
    lambda: jg.arange(5).requires_grad_(),
    lambda: jg.zeros(3, dtype=np.int32, requires_grad=True),
])
def test_integer_tensor_cannot_require_grad(make):
    with pytest.raises(RuntimeError, match="only Tensors of floating point and complex dtype can require gradients"):
        make()


def test_integer_tensor_ok_without_grad_and_float_ok():
    t = jg.tensor([1, 2, 3])
    assert not t.requires_grad and t.dtype == np.int64
    f = jg.tensor([1, 2, 3], dtype=np.float32, requires_grad=True)
    (f * t).sum().backward()  # an int tensor as a constant operand is fine
    close(f.grad, [1, 2, 3])


# ----------------------------------------------------------------------------- training
def _toy_regression():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (64, 2)).astype(np.float32)
    y = (np.sin(2 * x[:, :1]) + 0.5 * x[:, 1:] ** 2).astype(np.float32)
    return x, y


def _train(zero_grad, steps=300, lr=0.2):
    np.random.seed(1)
    model = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 1))
    opt = jg.optim.SGD(model.parameters(), lr=lr)
    loss_fn = nn.MSELoss()
    x, y = _toy_regression()
    losses = []
    for _ in range(steps):
        if zero_grad:
            opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return np.array(losses)


def test_training_with_zero_grad_converges():
    losses = _train(zero_grad=True)
    assert losses[-1] < 0.05 * losses[0]
    assert losses[-1] < 0.03
    assert np.all(np.diff(losses[-50:]) < 1e-6)  # steadily decreasing at the end


def test_training_without_zero_grad_blows_up_or_stalls():
    good = _train(zero_grad=True)
    with np.errstate(all="ignore"):
        bad = _train(zero_grad=False)
    # gradients pile up step after step: the effective step grows without bound, as in PyTorch
    assert not np.isfinite(bad[-1]) or bad[-1] > 5 * good[-1]
    assert not np.isfinite(bad).all() or bad[50:].max() > bad[:50].min()


def test_zero_grad_sets_none_and_model_zero_grad():
    model = nn.Linear(2, 1)
    opt = jg.optim.SGD(model.parameters(), lr=0.1)
    model(np.ones((1, 2), np.float32)).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    opt.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    model(np.ones((1, 2), np.float32)).sum().backward()
    model.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.numpy().any() for p in model.parameters())


# ----------------------------------------------------------------------------- min-max
class _Player(nn.Module):
    def __init__(self, value):
        super().__init__()
        self.v = nn.Parameter(np.array(value, dtype=np.float64))

    def forward(self):
        return self.v


def _saddle(x, y):
    # convex in x, concave in y; saddle point at (0, 0)
    return 0.5 * (x * x).sum() - 0.5 * (y * y).sum() + (x * y).sum()


def test_min_max_by_flipping_one_modules_gradients():
    gen, disc = _Player([1.0, -2.0]), _Player([0.5, 1.5])
    handles = [p.register_hook(lambda g: -g) for p in gen.parameters()]  # gen ascends
    opt_g = jg.optim.SGD(gen.parameters(), lr=0.1)
    opt_d = jg.optim.SGD(disc.parameters(), lr=0.1)
    # one step, checked by hand: objective V(d, g) minimised over d (disc), maximised over g (gen)
    v = _saddle(disc(), gen())
    v.backward()
    d0, g0 = np.array([0.5, 1.5]), np.array([1.0, -2.0])
    close(disc.v.grad, d0 + g0)      # dV/dd
    close(gen.v.grad, -(-g0 + d0))   # -dV/dg
    opt_g.step()
    opt_d.step()
    close(disc.v, d0 - 0.1 * (d0 + g0))
    close(gen.v, g0 + 0.1 * (-g0 + d0))
    v_after_gen_only = _saddle(jg.tensor(d0), gen.v.detach()).item()
    assert v_after_gen_only > _saddle(jg.tensor(d0), jg.tensor(g0)).item()  # gen's step raised V
    for _ in range(300):
        opt_g.zero_grad()
        opt_d.zero_grad()
        _saddle(disc(), gen()).backward()
        opt_g.step()
        opt_d.step()
    close(disc.v, [0, 0], atol=1e-6)
    close(gen.v, [0, 0], atol=1e-6)
    for h in handles:
        h.remove()
    _saddle(disc(), gen()).backward()  # hooks gone: plain gradient again
    close(gen.v.grad, -gen.v.numpy() + disc.v.numpy(), atol=1e-12)


# ----------------------------------------------------------------------------- tape and .numpy()
def test_tape_path_through_numpy_gives_none_and_warns_once():
    x = jg.tensor([0.5, 1.0, 2.0])
    with jg.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = x * 2
        z = jg.tensor(np.sin(y.numpy()))  # leaves the tape
        loss = (z * z).sum()
        ok = (y * y).sum()
    with pytest.warns(RuntimeWarning) as rec:
        g = tape.gradient(loss, x)
    assert g is None
    assert len(rec) == 1
    msg = str(rec[0].message)
    assert "source 0" in msg and "(3,)" in msg and "conversion to NumPy" in msg and ".numpy()" in msg
    assert "test_scenarios.py" in msg  # names the user's line
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert tape.gradient(loss, x) is None  # warns only once
        close(tape.gradient(ok, x), 8 * np.array([0.5, 1.0, 2.0]))


@pytest.mark.parametrize("convert", ["float", "item"])
def test_tape_path_through_float_or_item_warns(convert):
    x = jg.tensor(1.5)
    with jg.GradientTape() as tape:
        tape.watch(x)
        y = jg.exp(x)
        v = float(y) if convert == "float" else y.item()
        loss = jg.tensor(v) ** 2
    with pytest.warns(RuntimeWarning, match="conversion to NumPy"):
        assert tape.gradient(loss, x) is None


# ----------------------------------------------------------------------------- known_grads
def test_known_grads_injection_equals_chain_rule():
    x = jg.tensor([0.3, -1.2, 2.0], requires_grad=True, dtype=np.float64)
    h = x ** 2 + jg.sin(x)
    out = jg.exp(h).sum()
    g_h = np.array([1.0, -2.0, 0.5])
    (gx,) = jg.grad(out, [x], known_grads={h: g_h})
    xv = x.numpy()
    close(gx, g_h * (2 * xv + np.cos(xv)), rtol=1e-12)
    # without the injection: the ordinary chain rule through exp
    (gx2,) = jg.grad(jg.exp(x ** 2 + jg.sin(x)).sum(), [x])
    close(gx2, np.exp(xv ** 2 + np.sin(xv)) * (2 * xv + np.cos(xv)), rtol=1e-12)


def test_known_grads_without_outputs():
    x = jg.tensor([1.0, 2.0], requires_grad=True)
    h = x * x
    (gx,) = jg.grad([], [x], known_grads={h: np.array([1.0, 10.0])})
    close(gx, [2.0, 40.0])


# ----------------------------------------------------------------------------- PINN
def _pinn_loss(model, t):
    t = jg.tensor(t, requires_grad=True)
    u = model(t)
    (dudt,) = jg.grad(u.sum(), [t], create_graph=True)
    u0 = model(np.zeros((1, 1)))
    return ((dudt + u) ** 2).mean() + ((u0 - 1.0) ** 2).sum()


def test_pinn_loss_with_create_graph_matches_finite_differences():
    np.random.seed(3)
    model = nn.Sequential(nn.Linear(1, 8, dtype=np.float64), nn.Tanh(), nn.Linear(8, 1, dtype=np.float64))
    t = np.linspace(0, 2, 16).reshape(-1, 1)
    loss = _pinn_loss(model, t)
    loss.backward()
    for p in model.parameters():
        assert p.grad is not None and p.grad.dtype == np.float64
        fd = np.zeros_like(p.data)
        for i in np.ndindex(p.shape):
            old = p.data[i]
            with jg.no_grad():
                pass
            p.data[i] = old + 1e-6
            lp = _pinn_loss(model, t).item()
            p.data[i] = old - 1e-6
            lm = _pinn_loss(model, t).item()
            p.data[i] = old
            fd[i] = (lp - lm) / 2e-6
        close(p.grad, fd, rtol=1e-6, atol=1e-8)


def test_pinn_training_reduces_loss():
    np.random.seed(4)
    model = nn.Sequential(nn.Linear(1, 16, dtype=np.float64), nn.Tanh(), nn.Linear(16, 1, dtype=np.float64))
    opt = jg.optim.Adam(model.parameters(), lr=1e-2)
    t = np.linspace(0, 2, 32).reshape(-1, 1)
    first = None
    for _ in range(150):
        opt.zero_grad()
        loss = _pinn_loss(model, t)
        loss.backward()
        opt.step()
        first = loss.item() if first is None else first
    assert loss.item() < 0.1 * first


# ----------------------------------------------------------------------------- GradientTape
def test_tape_non_persistent_allows_one_gradient():
    x = jg.tensor(3.0)
    with jg.GradientTape() as tape:
        tape.watch(x)
        y = x * x
    assert tape.gradient(y, x).item() == 6.0
    with pytest.raises(RuntimeError, match="persistent"):
        tape.gradient(y, x)


def test_tape_persistent_allows_many():
    x = jg.tensor(3.0)
    with jg.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = x * x
        z = y * y
    assert tape.gradient(y, x).item() == 6.0
    assert tape.gradient(z, x).item() == 108.0
    assert tape.gradient(z, y).item() == 18.0
    assert tape.gradient(z, x).item() == 108.0


def test_tape_watch_and_watched_variables():
    a = jg.tensor([1.0, 2.0])                       # a constant: needs watch
    v = jg.tensor([3.0, 4.0], requires_grad=True)   # a variable: watched when accessed
    with jg.GradientTape() as tape:
        y = (a * v).sum()
    assert [t is v for t in tape.watched_variables()] == [True]
    ga, gv = tape.gradient(y, [a, v])
    assert ga is None
    close(gv, [1, 2])
    with jg.GradientTape() as tape:
        tape.watch(a)
        y = (a * a).sum()
    close(tape.gradient(y, a), [2, 4])


def test_tape_watch_accessed_variables_false():
    v = jg.tensor([3.0, 4.0], requires_grad=True)
    w = jg.tensor([1.0, 1.0], requires_grad=True)
    with jg.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(w)
        y = (v * w).sum()
    assert tape.watched_variables() == (w,)
    gv, gw = tape.gradient(y, [v, w])
    assert gv is None
    close(gw, [3, 4])


def test_tape_stop_recording():
    x = jg.tensor(2.0)
    with jg.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = x * x
        with tape.stop_recording():
            z = x * 3.0
        total = y + z
    assert tape.gradient(z, x) is None
    assert tape.gradient(total, x).item() == 4.0  # the unrecorded branch contributes nothing


def test_tape_reset():
    x = jg.tensor(2.0)
    with jg.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = x * x
        tape.reset()
        assert tape.watched_variables() == ()
        tape.watch(x)
        z = x * 5.0
    assert tape.gradient(y, x) is None
    assert tape.gradient(z, x).item() == 5.0


def test_tape_unconnected_gradients_zero():
    x, unused = jg.tensor([1.0, 2.0]), jg.tensor([[1.0, 2.0, 3.0]])
    with jg.GradientTape(persistent=True) as tape:
        tape.watch([x, unused])
        y = (x ** 3).sum()
    gx, gu = tape.gradient(y, [x, unused])
    assert gu is None
    gx, gu = tape.gradient(y, [x, unused], unconnected_gradients="zero")
    close(gx, [3, 12])
    assert gu.shape == (1, 3) and not gu.numpy().any()
    with pytest.raises(ValueError):
        tape.gradient(y, x, unconnected_gradients="bogus")


def test_tape_output_gradients():
    x = jg.tensor([1.0, 2.0, 3.0])
    with jg.GradientTape() as tape:
        tape.watch(x)
        y = x ** 2
    close(tape.gradient(y, x, output_gradients=jg.tensor([1.0, 0.0, 10.0])), [2, 0, 60])


def test_tape_gradient_of_non_scalar_sums():
    x = jg.tensor([1.0, 2.0, 3.0])
    with jg.GradientTape() as tape:
        tape.watch(x)
        y = x ** 2
    close(tape.gradient(y, x), [2, 4, 6])  # TensorFlow: sums the target


def test_tape_jacobian():
    x = jg.tensor([1.0, 2.0, 3.0])
    A = np.arange(6.0).reshape(2, 3)
    with jg.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = x ** 2
        z = jg.matmul(A, jg.sin(x))
    close(tape.jacobian(y, x), np.diag([2.0, 4.0, 6.0]))
    jz = tape.jacobian(z, x)
    assert jz.shape == (2, 3)
    close(jz, A * np.cos([1.0, 2.0, 3.0]))
    m = jg.tensor([[1.0, 2.0], [3.0, 4.0]])
    with jg.GradientTape() as tape:
        tape.watch(m)
        r = m * m
    jm = tape.jacobian(r, m)
    assert jm.shape == (2, 2, 2, 2)
    close(jm.numpy().reshape(4, 4), np.diag(2 * np.array([1.0, 2, 3, 4])))


def test_nested_tapes_give_second_and_third_derivatives():
    x = jg.tensor(3.0)
    with jg.GradientTape() as t3:
        t3.watch(x)
        with jg.GradientTape() as t2:
            t2.watch(x)
            with jg.GradientTape() as t1:
                t1.watch(x)
                y = x ** 3
            dy = t1.gradient(y, x)
        d2y = t2.gradient(dy, x)
    d3y = t3.gradient(d2y, x)
    assert (dy.item(), d2y.item(), d3y.item()) == (27.0, 18.0, 6.0)


def test_nested_tapes_of_sin():
    x = jg.tensor([0.1, 0.7])
    with jg.GradientTape() as outer:
        outer.watch(x)
        with jg.GradientTape() as inner:
            inner.watch(x)
            y = jg.sin(x) * x
        g = inner.gradient(y, x)
    h = outer.gradient(g, x)
    xv = np.array([0.1, 0.7])
    close(g, np.cos(xv) * xv + np.sin(xv))
    close(h, 2 * np.cos(xv) - xv * np.sin(xv))


# ----------------------------------------------------------------------------- Function
class _Exp(jg.Function):
    @staticmethod
    def forward(ctx, x):
        out = jg.exp(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g * out


class _MulConst(jg.Function):
    """Two inputs, one of them a plain number (gets no gradient)."""
    @staticmethod
    def forward(ctx, x, k):
        ctx.k = k
        ctx.save_for_backward(x)
        return x * k

    @staticmethod
    def backward(ctx, g):
        return g * ctx.k, None


def test_function_with_save_for_backward():
    x = jg.tensor([0.0, 1.0, 2.0], requires_grad=True)
    y = _Exp.apply(x)
    assert y.grad_fn.name() == "_ExpBackward"
    assert y.requires_grad
    (y * 2).sum().backward()
    close(x.grad, 2 * np.exp([0.0, 1.0, 2.0]))
    z = _MulConst.apply(x, 3.0)
    (gx,) = jg.grad(z.sum(), [x])
    close(gx, [3, 3, 3])


def test_function_freed_ctx_and_no_grad():
    x = jg.tensor([1.0], requires_grad=True)
    y = _Exp.apply(x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()
    with jg.no_grad():
        assert _Exp.apply(x).grad_fn is None


def test_function_composes_with_ops_and_second_order():
    x = jg.tensor(0.5, requires_grad=True)
    y = _Exp.apply(x * x)            # exp(x^2)
    (g,) = jg.grad(y, x, create_graph=True)
    close(g, 2 * 0.5 * np.exp(0.25))
    (h,) = jg.grad(g, x)
    close(h, (2 + 4 * 0.25) * np.exp(0.25))


# ----------------------------------------------------------------------------- grad modes
def test_grad_modes_as_context_managers():
    x = jg.tensor([1.0], requires_grad=True)
    assert jg.is_grad_enabled()
    with jg.no_grad():
        assert not jg.is_grad_enabled()
        y = x * 2
        with jg.enable_grad():
            assert jg.is_grad_enabled()
            z = x * 2
        assert not jg.is_grad_enabled()
    assert jg.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad and z.grad_fn.name() == "MulBackward"
    with jg.set_grad_enabled(False):
        assert not (x * 2).requires_grad
        with jg.set_grad_enabled(True):
            assert (x * 2).requires_grad
        assert not jg.is_grad_enabled()
    assert jg.is_grad_enabled()


def test_set_grad_enabled_as_a_function_call():
    x = jg.tensor([1.0], requires_grad=True)
    try:
        jg.set_grad_enabled(False)
        assert not jg.is_grad_enabled() and not (x * 2).requires_grad
        jg.set_grad_enabled(True)
        assert (x * 2).requires_grad
    finally:
        jg.set_grad_enabled(True)


def test_grad_modes_as_decorators():
    x = jg.tensor([1.0], requires_grad=True)

    @jg.no_grad()
    def f():
        return x * 2, jg.is_grad_enabled()

    @jg.enable_grad()
    def g():
        return x * 2

    @jg.set_grad_enabled(False)
    def h():
        return x * 2

    assert jg.is_grad_enabled()  # decorating changes nothing
    y, enabled = f()
    assert not enabled and not y.requires_grad
    assert jg.is_grad_enabled()
    with jg.no_grad():
        assert g().requires_grad
        assert not jg.is_grad_enabled()
    assert not h().requires_grad
    assert jg.is_grad_enabled()
    assert f.__name__ == "f"


def test_no_grad_decorator_restores_on_exception():
    @jg.no_grad()
    def boom():
        raise ValueError("x")

    with pytest.raises(ValueError):
        boom()
    assert jg.is_grad_enabled()


# ----------------------------------------------------------------------------- errors
def test_unused_input_error_and_allow_unused():
    x = jg.tensor([1.0, 2.0], requires_grad=True)
    unused = jg.tensor(5.0, requires_grad=True)
    y = (x * x).sum()
    with pytest.raises(RuntimeError, match="allow_unused=True"):
        jg.grad(y, [x, unused], retain_graph=True)
    gx, gu = jg.grad(y, [x, unused], allow_unused=True)
    close(gx, [2, 4])
    assert gu is None


def test_shape_mismatch_error_names_op_and_shapes():
    with pytest.raises(ValueError) as e:
        jg.tensor(np.ones(3)) + np.ones(4)
    msg = str(e.value)
    assert "add" in msg and "(3,)" in msg and "(4,)" in msg
    assert isinstance(e.value, jg.ShapeError)
    with pytest.raises(ValueError) as e:
        jg.mul(jg.ones(2, 3), jg.ones(3, 2))
    assert "mul" in str(e.value) and "(2, 3)" in str(e.value) and "(3, 2)" in str(e.value)
    with pytest.raises(ValueError) as e:
        jg.ones(2, 3) @ jg.ones(2, 3)
    assert "matmul" in str(e.value) and "(2, 3)" in str(e.value)


# ----------------------------------------------------------------------------- tapes on intermediates
@pytest.mark.parametrize("make", ["op", "module"])
def test_tape_watching_an_intermediate_made_before_it_opened(make):
    """tf: `tape.watch(h)` on an existing tensor makes it a source, however it was computed."""
    x = jg.tensor([1.0, 2.0], requires_grad=True)
    h = x * 2 if make == "op" else nn.Linear(2, 3)(x)
    with jg.GradientTape(persistent=True) as tape:
        tape.watch(h)
        y = jg.sum(jg.tanh(h) * 3.0)
    want = 3 * (1 - np.tanh(h.data) ** 2)
    np.testing.assert_allclose(tape.gradient(y, h).numpy(), want)
    np.testing.assert_allclose(tape.jacobian(y, h).numpy(), want)
    assert x.grad is None                                    # the tape never touches .grad


# ----------------------------------------------------------------------------- hooks, PyTorch's order
def test_grad_of_hooked_intermediate_is_captured_before_its_hook_and_retain_grad_runs_last():
    x = jg.tensor(3.0, requires_grad=True)
    z = x * 2
    z.retain_grad()                          # registered first, still sees the hooked gradient
    z.register_hook(lambda g: g * 10)
    a = z * z
    gz, gx = jg.grad(a, [z, x], retain_graph=True)
    assert gz.item() == 12.0 and gx.item() == 240.0          # torch.autograd.grad: (12, 240)
    assert z.grad.item() == 120.0 and x.grad is None         # retain_grad fires in grad too (PyTorch)
    a.backward()
    assert z.grad.item() == 240.0 and x.grad.item() == 240.0
    leaf = jg.tensor(3.0, requires_grad=True)
    leaf.register_hook(lambda g: g * 10)
    assert jg.grad(leaf * leaf, leaf)[0].item() == 60.0       # a leaf's hooks run before capture


# ----------------------------------------------------------------------------- in-place updates
def test_manual_sgd_with_inplace_updates_matches_out_of_place():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((32, 3)), rng.standard_normal(32)
    w_in = jg.tensor(np.zeros(3), requires_grad=True)
    w_out = np.zeros(3)
    for _ in range(20):
        loss = jg.mean((X @ w_in - y) ** 2)
        loss.backward()
        with jg.no_grad():
            w_in -= 0.1 * w_in.grad
        w_in.grad.zero_()
        w_out = w_out - 0.1 * (2 / 32) * X.T @ (X @ w_out - y)
    assert w_in.is_leaf and w_in.requires_grad and not w_in.grad.numpy().any()
    np.testing.assert_allclose(w_in.numpy(), w_out, rtol=1e-12)


def test_inplace_rules_follow_pytorch():
    w = jg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad.*in-place"):
        w += 1
    x = jg.tensor([1.0, 2.0], requires_grad=True)
    h = x * 2
    h += 1                                   # recorded: h = h + 1, taking over h's identity
    assert h.grad_fn.name() == "AddBackward"
    jg.sum(h * h).backward()
    np.testing.assert_allclose(x.grad.numpy(), 4 * (2 * x.data + 1))
    # a value saved for backward and then changed in place: an error, never a wrong gradient
    x = jg.tensor([1.0, 2.0], requires_grad=True)
    e = jg.exp(x)
    y = e * 3.0
    with jg.no_grad():
        e += 1
    with pytest.raises(RuntimeError, match="modified by an inplace operation.*version"):
        jg.sum(y).backward()
    with pytest.raises(TypeError, match="can't be cast.*int64"):
        jg.tensor([1, 2]) .add_(0.5)
    with pytest.raises(jg.ShapeError if hasattr(jg, "ShapeError") else ValueError, match="in place"):
        jg.zeros(3).add_(jg.ones((2, 3)))
    t = jg.zeros(3)
    view = t.numpy()
    t.fill_(2.0).add_(jg.ones(3), alpha=3).clamp_(0, 4)
    np.testing.assert_array_equal(view, [4.0, 4.0, 4.0])      # the same memory, as in PyTorch


def test_inplace_on_traced_tensor_is_a_trace_error():
    @jg.jit_grad
    def f(x):
        y = x * 2
        y += 1
        return jg.sum(y)
    with pytest.raises(jg.TraceError, match=r"in-place.*test_scenarios.py:\d+"):
        f(np.ones(3))


def test_no_grad_decorator_without_parentheses():
    @jg.no_grad
    def f(a):
        return a * 2

    @jg.enable_grad
    def g(a):
        return a * 2
    x = jg.tensor([1.0], requires_grad=True)
    assert not f(x).requires_grad and jg.is_grad_enabled()
    with jg.no_grad():
        assert g(x).requires_grad


@pytest.mark.parametrize("name", sorted(__import__("tracer.ops", fromlist=["INPLACE"]).INPLACE))
def test_every_inplace_op_matches_its_out_of_place_form(name):
    """Driven by the in-place table: same values as the out-of-place op, written into the tensor's
    own memory (an earlier view sees them), one version bump."""
    from tracer.ops import INPLACE
    rng = np.random.default_rng(3)
    x, y = rng.uniform(0.5, 1.5, (2, 3)), rng.uniform(0.5, 1.5, (2, 3))
    extra = {"clamp_": (0.7, 1.2), "fill_": (2.5,), "zero_": ()}.get(name, (y,))
    t = jg.tensor(x.copy())
    view = t.numpy()
    assert getattr(t, name)(*extra) is t and t._version == 1
    want = INPLACE[name](jg.tensor(x), *extra).numpy()
    np.testing.assert_allclose(view, want, rtol=1e-15)
    assert not np.allclose(want, x)
