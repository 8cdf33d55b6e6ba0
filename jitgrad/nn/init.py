"""In-place parameter initialisers (PyTorch's `torch.nn.init`).

Random draws come from NumPy's global generator, so `np.random.seed(0)` makes model
initialisation reproducible (the role `torch.manual_seed` plays in PyTorch).
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["calculate_gain", "uniform_", "normal_", "constant_", "zeros_", "ones_",
           "kaiming_uniform_", "xavier_uniform_", "fan_in_and_fan_out"]


def _fill(t, values):
    np.copyto(t.data, np.asarray(values, dtype=t.data.dtype))
    return t


def calculate_gain(nonlinearity, param=None):
    if nonlinearity in ("linear", "sigmoid", "identity") or nonlinearity.startswith("conv"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1 + slope ** 2))
    raise ValueError(f"unsupported nonlinearity {nonlinearity!r}")


def fan_in_and_fan_out(t):
    if t.ndim < 2:
        raise ValueError(f"fan in and fan out need a tensor with at least 2 dimensions, got shape {t.shape}")
    receptive = int(np.prod(t.shape[2:], dtype=np.int64)) if t.ndim > 2 else 1
    return t.shape[1] * receptive, t.shape[0] * receptive


def uniform_(t, a=0.0, b=1.0):
    return _fill(t, np.random.uniform(a, b, t.shape))


def normal_(t, mean=0.0, std=1.0):
    return _fill(t, np.random.normal(mean, std, t.shape))


def constant_(t, val):
    return _fill(t, np.full(t.shape, val))


def zeros_(t):
    return constant_(t, 0.0)


def ones_(t):
    return constant_(t, 1.0)


def kaiming_uniform_(t, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    fan_in, fan_out = fan_in_and_fan_out(t)
    fan = fan_in if mode == "fan_in" else fan_out
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / fan) if fan else 0.0
    return uniform_(t, -bound, bound)


def xavier_uniform_(t, gain=1.0):
    fan_in, fan_out = fan_in_and_fan_out(t)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(t, -bound, bound)
