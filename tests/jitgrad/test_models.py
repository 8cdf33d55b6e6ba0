"""Model building blocks composed from the primitive table (API.md "Models", first part): GELU,
layer norm, embedding, scaled-dot-product attention, var/std, ModuleList/ModuleDict. Each is
gradchecked in float64 at order 2 (eagerly and compiled), and compared with PyTorch."""
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

# name: (jitgrad function of float64 arrays, args, torch function of tensors or None)
CASES = {
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
