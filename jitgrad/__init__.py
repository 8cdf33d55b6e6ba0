"""jitgrad: PyTorch/TensorFlow-style autodiff for NumPy users, compiled with Numba.

    import jitgrad as jg
    x = jg.tensor([1.0, 2.0], requires_grad=True)
    (x ** 2).sum().backward(); x.grad
"""
import os as _os
import sys as _sys

if _os.environ.get("JITGRAD_TUNE_THREADS", "1") != "0":
    # Idle worker threads spin after their work: OpenBLAS's for 2**28 cycles after each GEMM, GNU
    # OpenMP's (Numba's threading layer) for 300000 iterations after each parallel loop nest;
    # each takes the cores from the other's next step. A CNN step (W8) took 63-84 ms so, 31-39 ms
    # with 2**16 and 20000. Both libraries read these when they load (codegen restarts NumPy's
    # OpenBLAS pool if NumPy came first); the user's own settings win.
    if "numpy" not in _sys.modules:
        _os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "16")
    if "OMP_WAIT_POLICY" not in _os.environ:
        _os.environ.setdefault("GOMP_SPINCOUNT", "20000")

from tracer import (AnomalyError, ShapeError, Tensor, TraceError, enable_grad, is_grad_enabled,
                    no_grad, set_grad_enabled)
from tracer.ops import (add, argmax, argmin, broadcast_to, conj, cumsum, clip, concatenate, div, dot, expand_dims, imag,
                        log_softmax, real,
                        logsumexp, matmul, max, maximum, mean, min, minimum, mul, neg, pow, reshape,
                        softmax, square, squeeze, stack, std, stop_gradient, sub, sum, swapaxes,
                        transpose, var, where)
from tracer.ops import PUBLIC as _PUBLIC

globals().update(_PUBLIC)     # the primitive table's api=True rows: jg.exp, jg.tanh, jg.erf, ...

from . import config
from .autodiff import Function, GradientTape, backward, grad, value_and_grad
from .creation import (arange, as_tensor, eye, full, linspace, manual_seed, ones, ones_like, rand, randn,
                       tensor, zeros, zeros_like)

from tracer import __version__  # noqa: F401  (the one version constant)
float32, float64, int32, int64, bool_ = "float32", "float64", "int32", "int64", "bool"
from .jit import jit_grad
from .explain import explain
from .debug import check_grads, detect_anomaly
from . import viz
from . import distributed, nn, optim
from .serialization import load, save
