"""Model building blocks composed from the primitive table (API.md "Models"): convolution,
pooling, batch and layer norm, dropout, GELU, embedding, scaled-dot-product attention, var/std,
ModuleList/ModuleDict. Each is gradchecked in float64 at order 2 (eagerly and compiled), and
compared with PyTorch; state (running statistics, training mode) and random masks under jit_grad."""
import subprocess
import sys

import numpy as np
import pytest

import jitgrad as jg
from jitgrad import nn

F = nn.functional
R = np.random.default_rng(0)
X = R.standard_normal((2, 3, 4))
Q, K, V = (R.standard_normal((2, 5, 4)) for _ in range(3))
W6 = R.standard_normal((6, 3))
IDX = np.array([[0, 2], [2, 5]])
MASK = R.standard_normal((5, 5)) > 0
np.fill_diagonal(MASK, True)

IMG = R.standard_normal((2, 3, 6, 5))
W3 = R.standard_normal((4, 3, 3, 3))
RM, RV = R.standard_normal(3), R.uniform(0.5, 2.0, 3)


def _tf(name):
    return lambda t, *a, **k: getattr(t.nn.functional, name)(*a, **k)


# name: (jitgrad function of float64 arrays, args, torch function of tensors or None)
CASES = {
    "conv2d": (lambda x, w, b: F.conv2d(x, w, b), [IMG, W3, R.standard_normal(4)],
               lambda t, x, w, b: t.nn.functional.conv2d(x, w, b)),
    "conv2d-pad-stride": (lambda x, w: F.conv2d(x, w, stride=2, padding=1), [IMG, W3],
                          lambda t, x, w: t.nn.functional.conv2d(x, w, stride=2, padding=1)),
    "conv2d-dilation-asym": (lambda x, w: F.conv2d(x, w, stride=(1, 2), padding=(2, 1), dilation=(2, 1)),
                             [IMG, W3], lambda t, x, w: t.nn.functional.conv2d(x, w, stride=(1, 2), padding=(2, 1),
                                                                               dilation=(2, 1))),
    "conv2d-same-even": (lambda x, w: F.conv2d(x, w, padding="same"), [IMG, R.standard_normal((2, 3, 2, 4))],
                         lambda t, x, w: t.nn.functional.conv2d(x, w, padding="same")),
    "conv2d-groups": (lambda x, w: F.conv2d(x, w, groups=2, padding=1), [R.standard_normal((2, 4, 5, 5)),
                                                                        R.standard_normal((6, 2, 3, 3))],
                      lambda t, x, w: t.nn.functional.conv2d(x, w, groups=2, padding=1)),
    "conv2d-1x1-unbatched": (lambda x, w: F.conv2d(x, w), [IMG[0], R.standard_normal((5, 3, 1, 1))],
                             lambda t, x, w: t.nn.functional.conv2d(x, w)),
    "conv1d": (lambda x, w, b: F.conv1d(x, w, b, stride=2, padding=2), [R.standard_normal((2, 3, 9)),
                                                                        R.standard_normal((4, 3, 3)), R.standard_normal(4)],
               lambda t, x, w, b: t.nn.functional.conv1d(x, w, b, stride=2, padding=2)),
    "max_pool2d": (lambda x: F.max_pool2d(x, 2), [IMG], lambda t, x: t.nn.functional.max_pool2d(x, 2)),
    "max_pool2d-pad": (lambda x: F.max_pool2d(x, 3, 2, 1), [IMG], lambda t, x: t.nn.functional.max_pool2d(x, 3, 2, 1)),
    "avg_pool2d-pad": (lambda x: F.avg_pool2d(x, (3, 2), (2, 1), 1), [IMG],
                       lambda t, x: t.nn.functional.avg_pool2d(x, (3, 2), (2, 1), 1)),
    "batch_norm-train": (lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True), [IMG, R.random(3), R.random(3)],
                         lambda t, x, w, b: t.nn.functional.batch_norm(x, None, None, w, b, training=True)),
    "batch_norm-eval": (lambda x, w: F.batch_norm(x, jg.tensor(RM), jg.tensor(RV), w), [IMG, R.random(3)],
                        lambda t, x, w: t.nn.functional.batch_norm(x, t.tensor(RM), t.tensor(RV), w)),
    "batch_norm-1d": (lambda x: F.batch_norm(x, None, None, training=True), [R.standard_normal((5, 3))],
                      lambda t, x: t.nn.functional.batch_norm(x, None, None, training=True)),
    "gelu": (lambda x: F.gelu(x), [X], lambda t, x: t.nn.functional.gelu(x)),
    "gelu-tanh": (lambda x: F.gelu(x, "tanh"), [X], lambda t, x: t.nn.functional.gelu(x, approximate="tanh")),
    "layer_norm": (lambda x, w, b: F.layer_norm(x, 4, w, b), [X, R.random(4), R.random(4)],
                   lambda t, x, w, b: t.nn.functional.layer_norm(x, (4,), w, b)),
    "layer_norm-2d": (lambda x: F.layer_norm(x, (3, 4)), [X], lambda t, x: t.nn.functional.layer_norm(x, (3, 4))),
    "var": (lambda x: jg.var(x, 1, ddof=1), [X], lambda t, x: t.var(x, 1, correction=1)),
    "std": (lambda x: jg.std(x, (0, 2)), [X], lambda t, x: t.std(x, (0, 2), correction=0)),
    "embedding": (lambda w: F.embedding(IDX, w), [W6], lambda t, w: t.nn.functional.embedding(t.tensor(IDX), w)),
    "sdpa": (lambda q, k, v: F.scaled_dot_product_attention(q, k, v), [Q, K, V],
             lambda t, q, k, v: t.nn.functional.scaled_dot_product_attention(q, k, v)),
    "sdpa-causal": (lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True), [Q, K, V],
                    lambda t, q, k, v: t.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)),
    "sdpa-mask": (lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=MASK), [Q, K, V],
                  lambda t, q, k, v: t.nn.functional.scaled_dot_product_attention(q, k, v,
                                                                                attn_mask=t.tensor(MASK))),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradcheck_second_order_eager_and_compiled(name):
    f, args, _ = CASES[name]
    jg.check_grads(lambda *a: jg.sum(f(*a) ** 2), args, order=2)


@pytest.mark.parametrize("name", sorted(CASES))
def test_float32_stays_float32(name):
    """No float64 constant (a NumPy scalar is strongly typed) promotes a float32 model: values
    and gradients keep the inputs' dtype (a float64 matmul is no BLAS call and 10x slower)."""
    if name == "batch_norm-eval":
        pytest.skip("its running statistics are float64 constants")
    f, args, _ = CASES[name]
    xs = [jg.tensor(np.asarray(a, np.float32), requires_grad=True) for a in args]
    y = f(*xs)
    gs = jg.grad(jg.sum(y * y), xs)
    assert y.dtype == np.float32 and all(g.dtype == np.float32 for g in gs), (y.dtype, [g.dtype for g in gs])


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_pytorch(name):
    torch = pytest.importorskip("torch")
    f, args, tf = CASES[name]
    xs = [jg.tensor(a, requires_grad=True) for a in args]
    y = f(*xs)
    gs = jg.grad(jg.sum(jg.tanh(y)), xs)
    ts = [torch.tensor(a, requires_grad=True) for a in args]
    yt = tf(torch, *ts)
    gts = torch.autograd.grad(torch.tanh(yt).sum(), ts)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    for g, gt in zip(gs, gts):
        np.testing.assert_allclose(g.numpy(), gt.numpy(), rtol=1e-9, atol=1e-12)


def test_errors_name_the_op_and_shapes():
    with pytest.raises(RuntimeError, match=r"layer_norm: Given normalized_shape=\[5\].*size\[2, 3, 4\]"):
        F.layer_norm(jg.tensor(X), 5)
    with pytest.raises(IndexError, match="embedding: index out of range in self"):
        F.embedding(np.array([6]), jg.tensor(W6))
    with pytest.raises(TypeError, match="embedding: indices must be integers"):
        F.embedding(np.array([0.5]), jg.tensor(W6))
    with pytest.raises(ValueError, match="approximate must be"):
        F.gelu(jg.tensor(X), "fast")


def test_modules_register_and_compile():
    class Block(nn.Module):
        """LayerNorm, self-attention and a GELU MLP with residuals: a transformer block."""
        def __init__(self, d):
            super().__init__()
            self.emb = nn.Embedding(10, d)
            self.norms = nn.ModuleList([nn.LayerNorm(d), nn.LayerNorm(d)])
            self.mlp = nn.ModuleDict({"up": nn.Linear(d, 2 * d), "act": nn.GELU(), "down": nn.Linear(2 * d, d)})

        def forward(self, tokens):
            h = self.emb(tokens)
            a = self.norms[0](h)
            h = h + F.scaled_dot_product_attention(a, a, a, is_causal=True)
            return h + self.mlp["down"](self.mlp["act"](self.mlp["up"](self.norms[1](h))))

    np.random.seed(0)          # layer initialisation draws from NumPy's global generator
    m = Block(8)
    names = [n for n, _ in m.named_parameters()]
    assert names[:3] == ["emb.weight", "norms.0.weight", "norms.0.bias"] and "mlp.down.bias" in names
    assert len(m.norms) == 2 and "up" in m.mlp and len(list(m.parameters())) == 9
    tokens = np.array([[1, 4, 2, 9], [3, 3, 0, 7]])
    v_eager = float(jg.sum(m(tokens) ** 2))
    f = jg.jit_grad(lambda t: jg.sum(m(t) ** 2), argnums=())     # forward-only argnums: .grad of params
    v, g = f(tokens)
    assert g == () and v == pytest.approx(v_eager, rel=1e-5)
    grads = [p.grad.numpy().copy() for p in m.parameters()]
    for p in m.parameters():
        p.grad = None
    jg.sum(m(tokens) ** 2).backward()
    for g, p in zip(grads, m.parameters()):
        np.testing.assert_allclose(g, p.grad.numpy(), rtol=2e-4, atol=1e-5)


def test_conv_and_pool_errors_are_pytorchs():
    x = jg.tensor(IMG)
    with pytest.raises(RuntimeError, match=r"expected input\[2, 3, 6, 5\] to have 2 channels, but got 3"):
        F.conv2d(x, jg.tensor(np.zeros((4, 2, 3, 3))))
    with pytest.raises(RuntimeError, match="Kernel size can't be greater than actual input size"):
        F.conv2d(x, jg.tensor(np.zeros((4, 3, 7, 3))))
    with pytest.raises(RuntimeError, match=r"Expected 3D \(unbatched\) or 4D \(batched\) input to conv2d"):
        F.conv2d(jg.tensor(np.zeros((3, 4))), jg.tensor(W3))
    with pytest.raises(ValueError, match="padding='same' is not supported for strided convolutions"):
        F.conv2d(x, jg.tensor(W3), stride=2, padding="same")
    with pytest.raises(RuntimeError, match="divisible by 2 at dimension 0"):
        F.conv2d(jg.tensor(np.zeros((1, 4, 5, 5))), jg.tensor(np.zeros((3, 2, 3, 3))), groups=2)
    with pytest.raises(RuntimeError, match="pad should be at most half of effective kernel size"):
        F.max_pool2d(x, 2, padding=2)
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        F.batch_norm(jg.tensor(np.zeros((1, 3))), None, None, training=True)
    with pytest.raises(ValueError, match=r"expected 4D input \(got 3D input\)"):
        nn.BatchNorm2d(3)(jg.tensor(IMG[0]))
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1"):
        nn.Dropout(1.5)


def _small_cnn():
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(4, 6, 3, stride=1, padding="same"), nn.ReLU(), nn.AvgPool2d(3),
                         nn.Flatten(), nn.Linear(6, 2))


def test_cnn_with_batchnorm_matches_pytorch_under_jit_grad_and_after_eval():
    """Running statistics written back by the compiled function step by step; model.eval()
    retraces and uses them; the parameter gradients match PyTorch's."""
    torch = pytest.importorskip("torch")
    jg.manual_seed(0)
    m = _small_cnn()
    tm = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                             torch.nn.MaxPool2d(2), torch.nn.Conv2d(4, 6, 3, padding="same"), torch.nn.ReLU(),
                             torch.nn.AvgPool2d(3), torch.nn.Flatten(), torch.nn.Linear(6, 2))
    tm.load_state_dict({k: torch.tensor(v) for k, v in m.state_dict().items()})
    f = jg.jit_grad(lambda x: jg.sum(m(x) ** 2), argnums=())
    for step in range(3):
        x = R.standard_normal((8, 3, 6, 6)).astype(np.float32)
        m.zero_grad()
        v, _ = f(x)
        tm.zero_grad()
        tv = (tm(torch.tensor(x)) ** 2).sum()
        tv.backward()
        assert v == pytest.approx(tv.item(), rel=1e-4)
        for (name, p), tp in zip(m.named_parameters(), tm.parameters()):
            np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=2e-3, atol=2e-5, err_msg=name)
        for b in ("running_mean", "running_var"):
            np.testing.assert_allclose(getattr(m[1], b).numpy(), getattr(tm[1], b).numpy(), rtol=1e-5, atol=1e-6)
        assert int(m[1].num_batches_tracked.numpy()) == step + 1
    m.eval()
    tm.eval()
    v, _ = f(x)
    assert f.cache_info().misses == 2 and v == pytest.approx(float((tm(torch.tensor(x)).detach() ** 2).sum()), rel=1e-4)
    assert int(m[1].num_batches_tracked.numpy()) == 3      # eval does not count batches


def test_batchnorm_eager_and_compiled_update_the_same_way():
    jg.manual_seed(1)
    a, b = nn.BatchNorm1d(3, momentum=None), nn.BatchNorm1d(3, momentum=None)
    f = jg.jit_grad(lambda x: jg.sum(b(x)), argnums=())
    for _ in range(3):
        x = R.standard_normal((6, 3, 4))
        a(x)
        f(x)
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        np.testing.assert_allclose(getattr(a, name).numpy(), getattr(b, name).numpy(), rtol=1e-6, err_msg=name)


DROPOUT_SCRIPT = """
import numpy as np, jitgrad as jg
F = jg.nn.functional
jg.manual_seed(42)
f = jg.jit_grad(lambda x: jg.sum(F.dropout(x, 0.25)))
x = np.ones((50, 40))
print([round(float(np.abs(f(x)[1]).sum()), 6) for _ in range(2)])
"""


def test_dropout_masks_fresh_per_call_and_reproducible_eager_and_compiled():
    x = np.ones((50, 40))
    f = jg.jit_grad(lambda x: jg.sum(F.dropout(x, 0.25)))
    jg.manual_seed(42)
    compiled = [f(x)[1] for _ in range(3)]
    jg.manual_seed(42)
    eager = []
    for _ in range(3):
        t = jg.tensor(x, requires_grad=True)
        eager.append(jg.grad(jg.sum(F.dropout(t, 0.25)), [t])[0].numpy())
    assert f.cache_info().misses == 1
    for c, e in zip(compiled, eager):
        np.testing.assert_array_equal(c, e)
        assert set(np.unique(c)) == {0.0, 1 / 0.75} and abs((c == 0).mean() - 0.25) < 0.03
    assert not np.array_equal(compiled[0], compiled[1])
    out = subprocess.run([sys.executable, "-c", DROPOUT_SCRIPT], capture_output=True, text=True, check=True).stdout
    assert out.strip() == str([round(float(np.abs(c).sum()), 6) for c in compiled[:2]])
    m = nn.Dropout(0.5).eval()
    np.testing.assert_array_equal(m(jg.tensor(x)).numpy(), x)


def test_assigning_one_buffer_twice_in_a_traced_function_is_refused():
    bn = nn.BatchNorm1d(2)
    with pytest.raises(jg.TraceError, match="updated twice"):
        jg.jit_grad(lambda x: jg.sum(bn(bn(x))), argnums=())(R.standard_normal((4, 2)))


def test_multihead_attention_matches_pytorch_with_masks_eager_and_compiled():
    torch = pytest.importorskip("torch")
    jg.manual_seed(0)
    m = nn.MultiheadAttention(8, 2).double()
    t = torch.nn.MultiheadAttention(8, 2, batch_first=True).double()
    assert list(m.state_dict()) == list(t.state_dict())
    t.load_state_dict({k: torch.tensor(v) for k, v in m.state_dict().items()})
    x, kv = R.standard_normal((2, 5, 8)), R.standard_normal((2, 6, 8))
    kpm = np.zeros((2, 6), bool)
    kpm[1, -2:] = True
    for kw in (dict(key_padding_mask=kpm), dict(attn_mask=np.triu(np.ones((5, 6), bool), 1)),
               dict(average_attn_weights=False)):
        tkw = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
        for p in m.parameters():
            p.grad = None
        o, w = m(x, kv, kv, **kw)
        jg.sum(jg.tanh(o)).backward()
        t.zero_grad()
        to, tw = t(torch.tensor(x), torch.tensor(kv), torch.tensor(kv), **tkw)
        torch.tanh(to).sum().backward()
        np.testing.assert_allclose(o.numpy(), to.detach().numpy(), atol=1e-12)
        np.testing.assert_allclose(w.numpy(), tw.detach().numpy(), atol=1e-12)
        for p, tp in zip(m.parameters(), t.parameters()):
            np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), atol=1e-10)
    grads = [p.grad.numpy().copy() for p in m.parameters()]
    for p in m.parameters():
        p.grad = None
    f = jg.jit_grad(lambda q, k: jg.sum(jg.tanh(m(q, k, k, average_attn_weights=False)[0])), argnums=())
    f(x, kv)
    for g, p in zip(grads, m.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), g, atol=1e-10)


def test_multihead_attention_gradcheck_second_order():
    m = nn.MultiheadAttention(4, 2).double()
    x = R.standard_normal((1, 3, 4))
    jg.check_grads(lambda x: jg.sum(m(x, x, x, is_causal=True)[0] ** 2), [x], order=2)
