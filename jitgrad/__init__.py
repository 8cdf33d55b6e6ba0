"""jitgrad: PyTorch/TensorFlow-style autodiff for NumPy users, compiled with Numba.

    import jitgrad as jg
    x = jg.tensor([1.0, 2.0], requires_grad=True)
    (x ** 2).sum().backward(); x.grad
"""
from tracer import (AnomalyError, ShapeError, Tensor, TraceError, enable_grad, is_grad_enabled,
                    no_grad, set_grad_enabled)
from tracer.ops import (add, broadcast_to, clip, concatenate, div, dot, expand_dims, log_softmax,
                        logsumexp, matmul, max, maximum, mean, min, minimum, mul, neg, pow, reshape,
                        softmax, square, squeeze, stack, std, stop_gradient, sub, sum, swapaxes,
                        transpose, var, where)
from tracer.ops import PUBLIC as _PUBLIC

globals().update(_PUBLIC)     # the primitive table's api=True rows: jg.exp, jg.tanh, jg.erf, ...

from . import config
from .autodiff import Function, GradientTape, backward, grad, value_and_grad
from .creation import (arange, as_tensor, eye, full, linspace, manual_seed, ones, ones_like, rand, randn,
                       tensor, zeros, zeros_like)

__version__ = "0.1.0"
float32, float64, int32, int64, bool_ = "float32", "float64", "int32", "int64", "bool"
from .jit import jit_grad
from .explain import explain
from .debug import check_grads, detect_anomaly
from . import viz
from . import nn, optim
from .serialization import load, save
