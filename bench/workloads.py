"""Workloads: inputs, the loss written once against a small ops adapter `o` (so every system
runs the same formula in its own library), and NumPy value+gradients derived by hand (the
"numpy" system at the workload's dtype, and in float64 the reference every system is checked
against).

A workload's loss is `loss(o, *args)`; `make(quick)` returns `(args, argnums)` with NumPy
arrays (integer labels are never differentiated); `numpy_vg(args, argnums)` returns
`(value, [grad for each argnum])`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

SEED = 0


@dataclass
class Workload:
    id: str
    title: str
    dtype: str
    make: Optional[Callable] = None          # quick -> (args, argnums)
    loss: Optional[Callable] = None          # loss(o, *args) -> scalar
    numpy_vg: Optional[Callable] = None      # (args, argnums) -> (value, grads)
    kind: str = "time"                       # "time" | "compile" | "memory" | "program" | "scaling"
    per_weight: bool = False                 # one value_and_grad call per differentiated argument
    min_bytes: Optional[Callable] = None     # args -> bytes a kernel must move (memory-bound)
    of: tuple = ()                           # compile/memory workloads: the workloads they measure
    resize: Optional[Callable] = None        # (quick, batch) -> args at another batch size
    batches: tuple = ()                      # the batch sizes the compile table tries after make's
    note: str = ""
    tags: dict = field(default_factory=dict)


def _rng():
    return np.random.default_rng(SEED)


# ----------------------------------------------------------------------------- W1
def w1_make(quick, n=2 ** 22):
    r = _rng()
    x = r.standard_normal(n).astype(np.float32)
    w = r.standard_normal(n).astype(np.float32)
    return [x, w], (0, 1)


def w1_loss(o, x, w):
    return o.sum(o.tanh(x * w + 0.5) ** 2 * o.exp(-x * x) + o.sigmoid(w))


def w1_numpy(args, argnums):
    x, w = args
    one = x.dtype.type(1)
    t = np.tanh(x * w + x.dtype.type(0.5))
    g = np.exp(-(x * x))
    s = one / (one + np.exp(-w))
    t2 = t * t
    d = 2 * t * (one - t2) * g
    gx = d * w - 2 * x * t2 * g
    gw = d * x + s * (one - s)
    value = np.sum(t2 * g + s, dtype=np.float64)
    return value, [(gx, gw)[i] for i in argnums]


# ----------------------------------------------------------------------------- W2
W2_SIZES = (784, 256, 256, 10)


def _mlp_params(r, sizes, dtype, scale=None):
    ps = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        s = (1.0 / np.sqrt(a)) if scale is None else scale
        ps.append((r.uniform(-s, s, (a, b))).astype(dtype))
        ps.append((r.uniform(-s, s, b)).astype(dtype))
    return ps


def w2_make(quick, batch=128):
    r = _rng()
    ps = _mlp_params(r, W2_SIZES, np.float32)
    X = r.standard_normal((batch, W2_SIZES[0])).astype(np.float32)
    y = r.integers(0, W2_SIZES[-1], batch).astype(np.int64)
    return ps + [X, y], tuple(range(6))


def w2_loss(o, W1, b1, W2, b2, W3, b3, X, y):
    h = o.relu(X @ W1 + b1)
    h = o.relu(h @ W2 + b2)
    return o.cross_entropy(h @ W3 + b3, y)


def w2_numpy(args, argnums):
    W1, b1, W2, b2, W3, b3, X, y = args
    B = X.shape[0]
    z1 = X @ W1 + b1
    h1 = np.maximum(z1, 0)
    z2 = h1 @ W2 + b2
    h2 = np.maximum(z2, 0)
    z3 = h2 @ W3 + b3
    m = z3.max(axis=1, keepdims=True)
    e = np.exp(z3 - m)
    se = e.sum(axis=1, keepdims=True)
    lse = m[:, 0] + np.log(se[:, 0])
    value = np.mean(lse - z3[np.arange(B), y], dtype=np.float64)
    d3 = e / se
    d3[np.arange(B), y] -= 1
    d3 /= B
    gW3, gb3 = h2.T @ d3, d3.sum(0)
    d2 = (d3 @ W3.T) * (z2 > 0)
    gW2, gb2 = h1.T @ d2, d2.sum(0)
    d1 = (d2 @ W2.T) * (z1 > 0)
    gW1, gb1 = X.T @ d1, d1.sum(0)
    gs = (gW1, gb1, gW2, gb2, gW3, gb3)
    return value, [gs[i] for i in argnums]


# ----------------------------------------------------------------------------- W3
W3_FULL = (16384, 5000, 3000, 512, 40)


def w3_sizes(quick):
    s = 8 if quick else 4
    return tuple(max(4, n // s) for n in W3_FULL)


def w3_make(quick, batch=32):
    r = _rng()
    sz = w3_sizes(quick)
    Ws = [(r.standard_normal((a, b)) / np.sqrt(a)).astype(np.float32) for a, b in zip(sz[:-1], sz[1:])]
    X = r.standard_normal((batch, sz[0])).astype(np.float32)
    Y = r.uniform(0, 1, (batch, sz[-1])).astype(np.float32)
    return Ws + [X, Y], (0, 1, 2, 3)


def w3_loss(o, W1, W2, W3, W4, X, Y):
    h = o.sigmoid(X @ W1)
    h = o.sigmoid(h @ W2)
    h = o.sigmoid(h @ W3)
    h = o.sigmoid(h @ W4)
    return o.mean((h - Y) ** 2)


def w3_numpy(args, argnums):
    *Ws, X, Y = args
    one = X.dtype.type(1)
    hs = [X]
    for W in Ws:
        hs.append(one / (one + np.exp(-(hs[-1] @ W))))
    out = hs[-1]
    value = np.mean((out - Y).astype(np.float64) ** 2)
    grads = [None] * 4
    lowest = min(argnums)           # backward only as deep as the lowest weight asked for
    dh = 2 * (out - Y) / out.size
    for k in range(3, lowest - 1, -1):
        dz = dh * hs[k + 1] * (one - hs[k + 1])
        grads[k] = hs[k].T @ dz
        if k > lowest:
            dh = dz @ Ws[k].T
    return value, [grads[i] for i in argnums]


# ----------------------------------------------------------------------------- W4
def w4_make(quick, n=16):
    return [_rng().standard_normal(n)], (0,)


def w4_loss(o, x):
    return o.sum(x ** 2 * o.sin(x))


def w4_numpy(args, argnums):
    (x,) = args
    s = np.sin(x)
    return np.sum(x * x * s), [2 * x * s + x * x * np.cos(x)]


# ----------------------------------------------------------------------------- W5
W5_SIZES = (1, 32, 32, 1)


def w5_make(quick, n=256):
    r = _rng()
    ps = _mlp_params(r, W5_SIZES, np.float64)
    t = np.linspace(0.0, 2.0, n).reshape(n, 1)
    return ps + [t], tuple(range(6))


def w5_loss(o, W1, b1, W2, b2, W3, b3, t):
    def net(tt):
        h = o.tanh(tt @ W1 + b1)
        h = o.tanh(h @ W2 + b2)
        return h @ W3 + b3
    u, du = o.value_and_dt(net, t)          # u and du/dt at every point (u_i depends on t_i only)
    return o.mean((u + du) ** 2)            # residual of the ODE u' + u = 0


def w5_numpy(args, argnums):
    W1, b1, W2, b2, W3, b3, t = args
    N = t.shape[0]
    h1 = np.tanh(t @ W1 + b1)
    s1 = 1 - h1 * h1
    dh1 = s1 * W1                       # d h1 / dt   (N, 32)
    h2 = np.tanh(h1 @ W2 + b2)
    s2 = 1 - h2 * h2
    da2 = dh1 @ W2
    dh2 = s2 * da2
    u = h2 @ W3 + b3
    du = dh2 @ W3
    r = u + du
    value = np.mean(r * r)
    gr = 2 * r / N
    gW3 = h2.T @ gr + dh2.T @ gr
    gb3 = gr.sum(0)
    gh2 = gr @ W3.T
    gdh2 = gr @ W3.T
    gs2 = gdh2 * da2
    gda2 = gdh2 * s2
    gh2 = gh2 - 2 * h2 * gs2
    ga2 = gh2 * s2
    gdh1 = gda2 @ W2.T
    gW2 = dh1.T @ gda2 + h1.T @ ga2
    gb2 = ga2.sum(0)
    gh1 = ga2 @ W2.T
    gs1 = gdh1 * W1
    gW1 = (gdh1 * s1).sum(0, keepdims=True)
    gh1 = gh1 - 2 * h1 * gs1
    ga1 = gh1 * s1
    gW1 = gW1 + t.T @ ga1
    gb1 = ga1.sum(0)
    gs = (gW1, gb1, gW2, gb2, gW3, gb3)
    return value, [gs[i] for i in argnums]


# ----------------------------------------------------------------------------- W8: a small CNN
W8_SHAPES = ((32, 3, 3, 3), (32,), (64, 32, 3, 3), (64,), (4096, 10), (10,))


def w8_make(quick, batch=64):
    r = _rng()
    ps = []
    for shape, fan in zip(W8_SHAPES, (27, 27, 288, 288, 4096, 4096)):   # PyTorch's default bounds
        ps.append(r.uniform(-1 / np.sqrt(fan), 1 / np.sqrt(fan), shape).astype(np.float32))
    X = r.standard_normal((batch, 3, 32, 32)).astype(np.float32)
    y = r.integers(0, 10, batch).astype(np.int64)
    return ps + [X, y], tuple(range(6))


def w8_loss(o, W1, b1, W2, b2, W3, b3, X, y):
    h = o.max_pool2(o.relu(o.conv3x3(X, W1, b1)))
    h = o.max_pool2(o.relu(o.conv3x3(h, W2, b2)))
    return o.cross_entropy(h.reshape(h.shape[0], -1) @ W3 + b3, y)


def _im2col3(x):
    """(N, C, H, W) -> (N*H*W, C*9): 3x3 windows, zero padding 1."""
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (3, 3), axis=(2, 3))
    return win.transpose(0, 2, 3, 1, 4, 5).reshape(n * h * w, c * 9)


def _col2im3(d, shape):
    n, c, h, w = shape
    d = d.reshape(n, h, w, c, 3, 3)
    xp = np.zeros((n, c, h + 2, w + 2), d.dtype)
    for i in range(3):
        for j in range(3):
            xp[:, :, i:i + h, j:j + w] += d[..., i, j].transpose(0, 3, 1, 2)
    return xp[:, :, 1:-1, 1:-1]


def _pool2(a):
    """2x2 max pooling and the gradient's routing mask (ties share, as jitgrad's max)."""
    n, c, h, w = a.shape
    r = a.reshape(n, c, h // 2, 2, w // 2, 2)
    m = r.max(axis=(3, 5))
    mask = r == m[:, :, :, None, :, None]
    return m, mask / mask.sum(axis=(3, 5), keepdims=True)


def w8_numpy(args, argnums):
    W1, b1, W2, b2, W3, b3, X, y = args
    B = X.shape[0]
    acts = []      # per conv layer: (input shape, columns, pre-activation, pooling mask)
    h = X
    for W, b in ((W1, b1), (W2, b2)):
        n, _, hh, ww = h.shape
        cols = _im2col3(h)
        z = (cols @ W.reshape(W.shape[0], -1).T + b).reshape(n, hh, ww, -1).transpose(0, 3, 1, 2)
        p, mask = _pool2(np.maximum(z, 0))
        acts.append((h.shape, cols, z, mask))
        h = p
    f = h.reshape(B, -1)
    z3 = f @ W3 + b3
    m = z3.max(axis=1, keepdims=True)
    e = np.exp(z3 - m)
    se = e.sum(axis=1, keepdims=True)
    value = np.mean(m[:, 0] + np.log(se[:, 0]) - z3[np.arange(B), y], dtype=np.float64)
    d = e / se
    d[np.arange(B), y] -= 1
    d /= B
    grads = [f.T @ d, d.sum(0)]
    dp = (d @ W3.T).reshape(h.shape)
    for (shape, cols, z, mask), W in zip(reversed(acts), (W2, W1)):
        dz = (mask * dp[:, :, :, None, :, None]).reshape(z.shape) * (z > 0)
        dzm = dz.transpose(0, 2, 3, 1).reshape(-1, W.shape[0])              # (N*H*W, O)
        grads = [(dzm.T @ cols).reshape(W.shape), dzm.sum(0)] + grads
        if W is W2:
            dp = _col2im3(dzm @ W.reshape(W.shape[0], -1), shape)
    return value, [grads[i] for i in argnums]


# ----------------------------------------------------------------------------- W9: a transformer block
W9_SIZES = dict(batch=8, seq=128, width=128, heads=4, hidden=512)


def w9_make(quick, batch=W9_SIZES["batch"]):
    r = _rng()
    t, e, f = W9_SIZES["seq"], W9_SIZES["width"], W9_SIZES["hidden"]

    def u(*shape):
        return r.uniform(-1 / np.sqrt(shape[0]), 1 / np.sqrt(shape[0]), shape).astype(np.float32)
    ones, zeros = np.ones(e, np.float32), np.zeros(e, np.float32)
    ps = [ones, zeros, u(e, 3 * e), np.zeros(3 * e, np.float32), u(e, e), zeros.copy(),
          ones.copy(), zeros.copy(), u(e, f), np.zeros(f, np.float32), u(f, e), zeros.copy()]
    X = r.standard_normal((batch, t, e)).astype(np.float32)
    return ps + [X], tuple(range(12))


def w9_loss(o, ln1w, ln1b, Wqkv, bqkv, Wo, bo, ln2w, ln2b, W1, b1, W2, b2, X):
    """Pre-norm block: x + attn(LN(x)), then + MLP(LN(.)) with exact GELU; causal, 4 heads."""
    B, T, E = X.shape
    H = W9_SIZES["heads"]
    qkv = o.layer_norm(X, ln1w, ln1b) @ Wqkv + bqkv
    q, k, v = (o.swapaxes(qkv[..., i * E:(i + 1) * E].reshape(B, T, H, E // H), 1, 2) for i in range(3))
    att = o.swapaxes(o.causal_attention(q, k, v), 1, 2).reshape(B, T, E)
    h = X + att @ Wo + bo
    h = h + o.gelu(o.layer_norm(h, ln2w, ln2b) @ W1 + b1) @ W2 + b2
    return o.mean(h * h)


# ----------------------------------------------------------------------------- RNN programs (compile table)
RNN_SIZES = (32, 64, 32)     # input width, hidden width, batch


def rnn_make(steps):
    def make(quick, batch=RNN_SIZES[2]):
        r = _rng()
        d, h = RNN_SIZES[:2]
        ps = [(r.standard_normal(s) / np.sqrt(s[0])).astype(np.float32) for s in ((d, h), (h, h))]
        ps += [np.zeros(h, np.float32), (r.standard_normal((h, 1)) / np.sqrt(h)).astype(np.float32)]
        xs = r.standard_normal((steps, batch, d)).astype(np.float32)
        return ps + [xs], (0, 1, 2, 3)
    return make


def rnn_loss(steps):
    def loss(o, Wx, Wh, b, Wo, xs):
        h = o.tanh(xs[0] @ Wx + b)
        for t in range(1, steps):      # unrolled: each step is the same loop nests
            h = o.tanh(xs[t] @ Wx + h @ Wh + b)
        return o.mean((h @ Wo) ** 2)
    return loss


# ----------------------------------------------------------------------------- registry
WORKLOADS = {w.id: w for w in [
    Workload("W1", "elementwise chain, 2**22 float32, grads x and w", "float32", w1_make, w1_loss, w1_numpy,
             min_bytes=lambda args: 2 * sum(a.nbytes for a in args)),  # read x, w; write gx, gw
    Workload("W2", "MLP 784-256-256-10 step, batch 128, float32", "float32", w2_make, w2_loss, w2_numpy,
             resize=lambda quick, b: w2_make(quick, b)[0], batches=(100, 64)),
    Workload("W3", "sigmoid net 16384-5000-3000-512-40 /4 (/8 quick), all weights, one call", "float32",
             w3_make, w3_loss, w3_numpy),
    Workload("W3-each", "same net, one call per weight (4 calls)", "float32", w3_make, w3_loss, w3_numpy,
             per_weight=True),
    Workload("W4", "sum(x**2*sin(x)), 16 float64 (call overhead)", "float64", w4_make, w4_loss, w4_numpy),
    Workload("W5", "PINN 1-32-32-1 on 256 points, grad of (u+du/dt)^2 loss w.r.t. weights", "float64",
             w5_make, w5_loss, w5_numpy),
    Workload("R4", "tanh RNN 32-64, 4 unrolled steps, batch 32", "float32", rnn_make(4), rnn_loss(4),
             kind="program", resize=lambda quick, b: rnn_make(4)(quick, b)[0], batches=(24, 16)),
    Workload("R32", "tanh RNN 32-64, 32 unrolled steps, batch 32", "float32", rnn_make(32), rnn_loss(32),
             kind="program", resize=lambda quick, b: rnn_make(32)(quick, b)[0], batches=(24, 16)),
    Workload("W8", "CNN conv3-32 pool conv32-64 pool linear 4096-10 on 3x32x32, batch 64, float32", "float32",
             w8_make, w8_loss, w8_numpy, resize=lambda quick, b: w8_make(quick, b)[0], batches=(48, 32)),
    Workload("W9", "transformer block: batch 8, seq 128, width 128, 4 heads causal, LayerNorm, GELU MLP 512",
             "float32", w9_make, w9_loss, None, resize=lambda quick, b: w9_make(quick, b)[0], batches=(6, 4),
             note="float64 reference: jitgrad eager (no hand-derived NumPy gradients)"),
    Workload("W6", "compile latency: first call (fresh cache), two new batch sizes, warm new process",
             "float32", kind="compile", of=("W2", "R4", "R32", "W8", "W9")),
    Workload("W7", "peak memory of one step (W1, W2)", "float32", kind="memory", of=("W1", "W2")),
    Workload("W10", "data-parallel scaling over MPI: MLP step on 2 ranks x 1 thread vs 1 x 1", "float32",
             kind="scaling"),
]}


def reference(w: Workload, args, argnums):
    """float64 NumPy value and gradients for the same inputs."""
    a64 = [a.astype(np.float64) if a.dtype.kind == "f" else a for a in args]
    if w.numpy_vg is None:      # no hand-derived gradients: jitgrad's eager mode in float64
        import jitgrad as jg
        from .systems import _jg_ops
        o = _jg_ops()
        v, gs = jg.value_and_grad(lambda *a: w.loss(o, *a), argnums=argnums)(*a64)
        gs = [g.numpy() if hasattr(g, "numpy") else g for g in gs]
        v = float(v)
    else:
        v, gs = w.numpy_vg(a64, argnums)
    return float(v), [np.asarray(g, np.float64) for g in gs]
