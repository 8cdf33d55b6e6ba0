"""`jg.nn.utils`: gradient clipping (torch.nn.utils)."""
from __future__ import annotations

import numpy as np

from tracer import Tensor


def clip_grad_norm_(parameters, max_norm, norm_type=2.0):
    """Scale the gradients in place so that their joint norm is at most `max_norm`; returns the
    norm before clipping (a 0-d Tensor), as PyTorch (scale = max_norm / (norm + 1e-6), capped at 1)."""
    ps = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    grads = [p.grad.data for p in ps if p.grad is not None]
    if not grads:
        return Tensor(np.zeros(()))
    if norm_type == np.inf:
        total = max(float(np.max(np.abs(g))) for g in grads)
    else:
        total = float(sum(float(np.sum(np.abs(g.astype(np.float64)) ** norm_type)) for g in grads)) ** (1.0 / norm_type)
    coef = min(max_norm / (total + 1e-6), 1.0)
    for g in grads:
        g *= g.dtype.type(coef)
    return Tensor(np.asarray(total, dtype=grads[0].dtype))
