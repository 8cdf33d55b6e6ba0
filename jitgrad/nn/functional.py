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
           "cross_entropy", "nll_loss", "gelu", "layer_norm", "embedding", "scaled_dot_product_attention"]


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
        return 0.5 * x * (1.0 + ops.erf(x * (1.0 / np.sqrt(2.0))))
    if approximate == "tanh":
        return 0.5 * x * (1.0 + ops.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * (x * x * x))))
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
    s = ops.matmul(q, ops.swapaxes(k, -1, -2)) * (1.0 / np.sqrt(q.shape[-1]))
    if is_causal:
        if attn_mask is not None:
            raise ValueError("scaled_dot_product_attention: pass attn_mask or is_causal, not both")
        attn_mask = np.tril(np.ones((q.shape[-2], k.shape[-2]), dtype=bool))
    if attn_mask is not None:
        m = attn_mask.data if isinstance(attn_mask, Tensor) else np.asarray(attn_mask)
        s = ops.where(m, s, -np.inf) if m.dtype == np.bool_ else s + m
    return ops.matmul(ops.softmax(s, -1), v)
