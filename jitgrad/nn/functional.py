"""Stateless neural-network functions (PyTorch's `torch.nn.functional`), built from jitgrad ops.

Everything here is ordinary differentiable ops, so it works eagerly, under `GradientTape`, for
higher order (`create_graph=True`) and under `jit_grad` tracing.
"""
from __future__ import annotations

import warnings

import numpy as np

from tracer import Tensor, ops
from tracer.tensor import as_input, where_str

__all__ = ["relu", "tanh", "sigmoid", "softplus", "softmax", "log_softmax", "linear", "mse_loss",
           "cross_entropy", "nll_loss", "gelu", "layer_norm", "embedding", "scaled_dot_product_attention",
           "conv1d", "conv2d", "max_pool2d", "avg_pool2d", "batch_norm", "dropout"]


def relu(x):
    return ops.relu(x)


def tanh(x):
    return ops.tanh(x)


def sigmoid(x):
    return ops.sigmoid(x)


def softplus(x):
    return ops.softplus(x)


def softmax(x, dim=-1):
    return ops.softmax(x, dim)


def log_softmax(x, dim=-1):
    return ops.log_softmax(x, dim)


def linear(x, weight, bias=None):
    """`x @ weight.T + bias` with `weight` of shape (out_features, in_features), as PyTorch."""
    y = ops.matmul(x, ops.transpose(weight))
    return y if bias is None else y + bias


def _reduce(loss, reduction, who):
    if reduction == "mean":
        return ops.mean(loss)
    if reduction == "sum":
        return ops.sum(loss)
    if reduction == "none":
        return loss
    raise ValueError(f"{who}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def mse_loss(input, target, reduction="mean"):
    """Mean squared error. Like PyTorch, differing shapes broadcast with a warning (an (N, 1)
    prediction against an (N,) target silently becomes an (N, N) comparison otherwise)."""
    x = as_input(input)
    t = as_input(target, x)
    if x.shape != t.shape:
        warnings.warn(f"mse_loss: target shape {t.shape} differs from input shape {x.shape}; they "
                      f"will be broadcast, which is likely wrong (at {where_str()})", UserWarning,
                      stacklevel=2)
    return _reduce((x - t) ** 2, reduction, "mse_loss")


def nll_loss(log_probs, target, reduction="mean"):
    """Negative log-likelihood of integer class labels: `-log_probs[i, target[i]]`, reduced."""
    lp = as_input(log_probs)
    if lp.ndim != 2:
        raise ValueError(f"nll_loss: expected log-probabilities of shape (N, C), got {lp.shape}")
    n = lp.shape[0]
    labels = target if isinstance(target, Tensor) else np.asarray(target)
    if labels.dtype.kind not in "iu":
        raise TypeError(f"nll_loss: class labels must be integers, got dtype {labels.dtype}")
    if tuple(labels.shape) != (n,):
        raise ValueError(f"nll_loss: labels have shape {tuple(labels.shape)} but the input has "
                         f"shape {lp.shape} (expected labels of shape ({n},))")
    picked = lp[np.arange(n), labels]
    return _reduce(-picked, reduction, "nll_loss")


def cross_entropy(logits, target, reduction="mean"):
    """Softmax cross-entropy of `logits` (N, C) against integer labels (N,), as
    `torch.nn.functional.cross_entropy`. A floating-point `target` of the logits' shape is taken
    as class probabilities (PyTorch's soft labels)."""
    x = as_input(logits)
    if x.ndim == 1:  # a single sample (C,), as PyTorch accepts
        tgt = target if isinstance(target, Tensor) else np.asarray(target)
        if tgt.dtype.kind in "iu" and tgt.ndim == 0:
            return _reduce(-ops.log_softmax(x, -1)[tgt], reduction, "cross_entropy")
    if x.ndim != 2:
        raise ValueError(f"cross_entropy: expected logits of shape (N, C), got {x.shape}")
    logp = ops.log_softmax(x, -1)
    tgt = target if isinstance(target, Tensor) else np.asarray(target)
    if tgt.dtype.kind in "fc":
        if tuple(tgt.shape) != x.shape:
            raise TypeError(f"cross_entropy: class labels must be integers, got dtype {tgt.dtype} "
                            f"and shape {tuple(tgt.shape)} (floating-point targets are class "
                            f"probabilities and need the logits' shape {x.shape})")
        return _reduce(-ops.sum(logp * tgt, -1), reduction, "cross_entropy")
    return nll_loss(logp, tgt, reduction)


def gelu(x, approximate="none"):
    """x * Phi(x) with the exact normal CDF (erf), or PyTorch's tanh approximation."""
    if approximate == "none":
        return 0.5 * x * (1.0 + ops.erf(x * float(1.0 / np.sqrt(2.0))))     # Python floats: weak, keep float32
    if approximate == "tanh":
        return 0.5 * x * (1.0 + ops.tanh(float(np.sqrt(2.0 / np.pi)) * (x + 0.044715 * (x * x * x))))
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalise over the trailing `normalized_shape` dimensions (biased variance, as PyTorch)."""
    x = as_input(x)
    shape = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) else tuple(normalized_shape)
    if not shape or tuple(x.shape[x.ndim - len(shape):]) != shape or len(shape) > x.ndim:
        raise RuntimeError(f"layer_norm: Given normalized_shape={list(shape)}, expected input with shape "
                           f"[*, {', '.join(map(str, shape))}], but got input of size{list(x.shape)} "
                           f"at {where_str()}")
    axes = tuple(range(x.ndim - len(shape), x.ndim))
    mu = ops.mean(x, axes, keepdims=True)
    d = x - mu
    y = d / ops.sqrt(ops.mean(d * d, axes, keepdims=True) + eps)
    if weight is not None:
        y = y * weight
    return y if bias is None else y + bias


def embedding(indices, weight):
    """Rows of `weight` (num_embeddings, dim) picked by integer `indices` of any shape; the
    gradient scatter-adds into the rows (repeated indices accumulate)."""
    idx = np.asarray(indices.data if isinstance(indices, Tensor) else indices)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"embedding: indices must be integers, got {idx.dtype} at {where_str()}")
    n = as_input(weight).shape[0]
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise IndexError(f"embedding: index out of range in self (indices in [{idx.min()}, {idx.max()}], "
                         f"num_embeddings {n}) at {where_str()}")
    return weight[indices if isinstance(indices, Tensor) else idx]


def scaled_dot_product_attention(query, key, value, attn_mask=None, is_causal=False):
    """softmax(q k^T / sqrt(d) + mask) v over the last two dimensions (PyTorch's semantics: a
    boolean mask keeps True entries, a float mask is added; is_causal masks j > i)."""
    q, k, v = as_input(query), as_input(key), as_input(value)
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise RuntimeError(f"scaled_dot_product_attention: query {q.shape}, key {k.shape} and value "
                           f"{v.shape} do not match (E of query and key, S of key and value) at {where_str()}")
    s = ops.matmul(q, ops.swapaxes(k, -1, -2)) * float(1.0 / np.sqrt(q.shape[-1]))
    if is_causal:
        if attn_mask is not None:
            raise ValueError("scaled_dot_product_attention: pass attn_mask or is_causal, not both")
        attn_mask = np.tril(np.ones((q.shape[-2], k.shape[-2]), dtype=bool))
    if attn_mask is not None:
        m = attn_mask.data if isinstance(attn_mask, Tensor) else np.asarray(attn_mask)
        s = ops.where(m, s, -np.inf) if m.dtype == np.bool_ else s + m
    return ops.matmul(ops.softmax(s, -1), v)


# ----------------------------------------------------------------------------- sliding windows
def _tuple(v, n, name, who):
    t = tuple(int(a) for a in v) if isinstance(v, (tuple, list)) else (int(v),) * n
    if len(t) != n:
        raise ValueError(f"{who}: {name} must be an int or a tuple of {n} ints, got {v!r}")
    return t


def _out_size(size, k, s, d, before, after):
    return (size + before + after - d * (k - 1) - 1) // s + 1


def _batched(x, nd, who):
    """x with a batch dimension (PyTorch accepts unbatched inputs too), and whether it had one."""
    if x.ndim == nd + 2:
        return x, True
    if x.ndim == nd + 1:
        return ops.expand_dims(x, 0), False
    raise RuntimeError(f"{who}: Expected {nd + 1}D (unbatched) or {nd + 2}D (batched) input to {who}, but got "
                       f"input of size: {list(x.shape)} at {where_str()}")


def _conv_padding(padding, k, d, s, who):
    """(before, after) per spatial axis; 'same' puts the odd pixel after, as PyTorch."""
    if isinstance(padding, str):
        if padding == "valid":
            return [(0, 0)] * len(k)
        if padding != "same":
            raise ValueError(f"{who}: Invalid padding string {padding!r}, should be one of {{'valid', 'same'}}")
        if any(v != 1 for v in s):
            raise ValueError(f"{who}: padding='same' is not supported for strided convolutions")
        return [((di * (ki - 1)) // 2, di * (ki - 1) - (di * (ki - 1)) // 2) for ki, di in zip(k, d)]
    return [(p, p) for p in _tuple(padding, len(k), "padding", who)]


def _conv2d(x, w, bias, stride, padding, dilation, groups, who):
    """x (N, C, H, W), w (O, C/groups, KH, KW): im2col and one GEMM per group, with the batch
    folded into the GEMM's columns; 1x1 unpadded, unstrided convolutions skip im2col."""
    n, ch, h, wd = x.shape
    o, cg, kh, kw = w.shape
    if groups < 1 or o % groups:
        raise RuntimeError(f"{who}: Given groups={groups}, expected weight to be divisible by {groups} at "
                           f"dimension 0, but got weight of size {list(w.shape)} instead at {where_str()}")
    if cg * groups != ch:
        raise RuntimeError(f"{who}: Given groups={groups}, weight of size {list(w.shape)}, expected input"
                           f"{list(x.shape)} to have {cg * groups} channels, but got {ch} channels instead "
                           f"at {where_str()}")
    k = (kh, kw)
    pads = [p for p in padding]
    out = tuple(_out_size(sz, ki, si, di, *pi) for sz, ki, si, di, pi in zip((h, wd), k, stride, dilation, pads))
    if any(v < 1 for v in out):
        raise RuntimeError(f"{who}: Calculated padded input size per channel: ({h + sum(pads[0])} x "
                           f"{wd + sum(pads[1])}). Kernel size: ({(kh - 1) * dilation[0] + 1} x "
                           f"{(kw - 1) * dilation[1] + 1}). Kernel size can't be greater than actual input size "
                           f"at {where_str()}")
    g = groups
    if k == (1, 1) and stride == (1, 1) and all(p == (0, 0) for p in pads) and g == 1:
        y = ops.matmul(ops.reshape(w, (o, ch)), ops.reshape(x, (n, ch, h * wd)))
        y = ops.reshape(y, (n, o) + out)
    else:
        cols = ops.unfold(x, k, stride, [p[0] for p in pads], dilation, out)      # (C, KH, KW, N, OH, OW)
        ck, cols_n = cg * kh * kw, n * out[0] * out[1]
        if g == 1:
            y = ops.matmul(ops.reshape(w, (o, ck)), ops.reshape(cols, (ck, cols_n)))
        else:
            y = ops.matmul(ops.reshape(w, (g, o // g, ck)), ops.reshape(cols, (g, ck, cols_n)))
        y = ops.transpose(ops.reshape(y, (o, n) + out), (1, 0, 2, 3))
    if bias is not None:
        y = y + ops.reshape(bias, (1, o, 1, 1))
    return y


def _conv_setup(input, weight, stride, padding, dilation, nd, who):
    """Batched input, weight, stride, dilation and (before, after) padding per axis."""
    x, batched = _batched(as_input(input), nd, who)
    w = as_input(weight, x)
    if w.ndim != nd + 2:
        raise RuntimeError(f"{who}: weight must be {nd + 2}-D (out_channels, in_channels/groups, "
                           f"{'kH, kW' if nd == 2 else 'kW'}), got size {list(w.shape)} at {where_str()}")
    s, d = _tuple(stride, nd, "stride", who), _tuple(dilation, nd, "dilation", who)
    return x, w, s, d, _conv_padding(padding, w.shape[2:], d, s, who), batched


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D cross-correlation over NCHW input, as `torch.nn.functional.conv2d`."""
    x, w, s, d, pads, batched = _conv_setup(input, weight, stride, padding, dilation, 2, "conv2d")
    y = _conv2d(x, w, bias, s, pads, d, int(groups), "conv2d")
    return y if batched else y[0]


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D cross-correlation over NCL input: conv2d over a height of one."""
    x, w, s, d, pads, batched = _conv_setup(input, weight, stride, padding, dilation, 1, "conv1d")
    n, ch, length = x.shape
    y = _conv2d(ops.reshape(x, (n, ch, 1, length)), ops.expand_dims(w, 2), bias, (1,) + s, [(0, 0)] + pads,
                (1,) + d, int(groups), "conv1d")
    y = ops.reshape(y, (n, y.shape[1], y.shape[3]))
    return y if batched else y[0]


def _pool_windows(input, kernel_size, stride, padding, fill, who):
    """x's pooling windows as an array whose `axes` are a window's, and whether x had a batch
    dimension."""
    x, batched = _batched(as_input(input), 2, who)
    k = _tuple(kernel_size, 2, "kernel_size", who)
    s = k if stride is None or (isinstance(stride, (tuple, list)) and not stride) else _tuple(stride, 2, "stride", who)
    p = _tuple(padding, 2, "padding", who)
    if any(pi > ki // 2 for pi, ki in zip(p, k)):
        raise RuntimeError(f"{who}: pad should be at most half of effective kernel size, but got pad={max(p)}, "
                           f"kernel_size={max(k)} and dilation=1 at {where_str()}")
    n, ch, h, w = x.shape
    out = tuple(_out_size(sz, ki, si, 1, pi, pi) for sz, ki, si, pi in zip((h, w), k, s, p))
    if any(v < 1 for v in out):
        raise RuntimeError(f"{who}: input of size {list(x.shape)} is too small for kernel_size={k} with "
                           f"padding={p} (output size {out}) at {where_str()}")
    if s == k and p == (0, 0) and h % k[0] == 0 and w % k[1] == 0:
        # windows that tile the input: a reshape (a view), and the gradient a broadcast
        return ops.reshape(x, (n, ch, out[0], k[0], out[1], k[1])), (3, 5), batched
    cols = ops.unfold(x, k, s, p, (1, 1), out, fill)                  # (C, KH, KW, N, OH, OW)
    return ops.transpose(cols, (3, 0, 4, 5, 1, 2)), (4, 5), batched


def max_pool2d(input, kernel_size, stride=None, padding=0):
    """Maximum over each window (padding never wins: it is -inf). Ties in a window share its
    gradient, as jg.max does; PyTorch gives it all to the first maximum (the same gradient
    wherever the tie is ReLU's zeros, since ReLU's derivative there is zero)."""
    win, axes, batched = _pool_windows(input, kernel_size, stride, padding, -np.inf, "max_pool2d")
    y = ops.max(win, axes)
    return y if batched else y[0]


def avg_pool2d(input, kernel_size, stride=None, padding=0):
    """Mean over each window, padding counted (PyTorch's count_include_pad=True)."""
    win, axes, batched = _pool_windows(input, kernel_size, stride, padding, 0.0, "avg_pool2d")
    y = ops.mean(win, axes)
    return y if batched else y[0]


# ----------------------------------------------------------------------------- normalisation, dropout
def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1,
               eps=1e-5):
    """Normalise each channel (axis 1) over the batch and spatial axes. Training uses the
    batch's statistics and, given running buffers, moves them by `momentum` (the variance
    unbiased, as PyTorch); eval uses the buffers. The update is `ops.assign_`: under jit_grad
    the compiled function writes the buffers back on every call."""
    x = as_input(input)
    if x.ndim < 2:
        raise ValueError(f"batch_norm: expected an input of at least 2 dimensions (N, C, ...), got "
                         f"{list(x.shape)} at {where_str()}")
    c = x.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                    ("bias", bias)):
        if t is not None and tuple(t.shape) != (c,):
            raise RuntimeError(f"batch_norm: {name} should contain {c} elements not "
                               f"{int(np.prod(t.shape))} at {where_str()}")
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, c) + (1,) * (x.ndim - 2)
    if training:
        n = x.size // c
        if n <= 1:
            raise ValueError(f"batch_norm: Expected more than 1 value per channel when training, got input "
                             f"size {list(x.shape)} at {where_str()}")
        mean = ops.mean(x, axes, keepdims=True)
        d = x - mean
        var = ops.mean(d * d, axes, keepdims=True)
        if running_mean is not None:
            ops.assign_(running_mean, (1 - momentum) * running_mean + momentum * ops.reshape(mean, (c,)))
        if running_var is not None:
            ops.assign_(running_var, (1 - momentum) * running_var + (momentum * n / (n - 1)) * ops.reshape(var, (c,)))
    else:
        if running_mean is None or running_var is None:
            raise ValueError(f"batch_norm: running_mean and running_var are needed when training=False at "
                             f"{where_str()}")
        d = x - ops.reshape(running_mean, shape)
        var = ops.reshape(running_var, shape)
    y = d / ops.sqrt(var + eps)
    if weight is not None:
        y = y * ops.reshape(weight, shape)
    return y if bias is None else y + ops.reshape(bias, shape)


def dropout(input, p=0.5, training=True):
    """Zero each element with probability p and scale the rest by 1/(1-p). The mask comes from
    a seed drawn from the global generator (a fresh one per call under jit_grad too)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    x = as_input(input)
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0.0
    keep = ops.uniform(ops.random_seed(), x.shape) >= p
    return ops.where(keep, x * (1.0 / (1.0 - p)), 0.0)
