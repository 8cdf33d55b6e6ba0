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
           "cross_entropy", "nll_loss"]


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
