"""Type and lower generated CUDA kernels for the real CUDA target without a GPU, as a check.

`python -m codegen.cuda_ptxcheck` (NUMBA_ENABLE_CUDASIM unset) builds a few Programs, generates
their CUDA modules with the GPU launch geometry, runs each module's launcher with host arrays and
stub kernels that call `cuda.compile_ptx` with the argument types the real launch would pass
(typing and NVVM-IR lowering; the final PTX step needs NVRTC and is skipped when it is absent).
The simulator runs kernels as Python, so this is what catches code that would not type on a GPU.
"""
from __future__ import annotations

import importlib.util
import os
import sys
import tempfile

import numpy as np


def _no_device_needed():
    """Device functions ask the current device for its compute capability; there is none here."""
    import types
    import numba.cuda.dispatcher as dispatcher
    dispatcher.get_current_device = lambda: types.SimpleNamespace(compute_capability=(8, 0))


def ptx_check_program(program, workdir):
    from numba import cuda, typeof
    _no_device_needed()
    from . import numba_cuda as nc
    from .passes import Options, run_pipeline
    kernel = run_pipeline(program, Options(parallel=False), check=True)
    source, _ = nc.generate(kernel, nc.Config(sim=False), "ptx-check")
    path = os.path.join(workdir, f"ptxcheck_{abs(hash(source)):x}.py")
    with open(path, "w") as fh:
        fh.write(source)
    spec = importlib.util.spec_from_file_location(os.path.basename(path)[:-3], path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    compiled = []

    class Stub:
        def __init__(self, kern):
            self.kern = kern

        def __getitem__(self, config):
            def launch(*args):
                sig = tuple(typeof(a) for a in args)
                try:
                    cuda.compile_ptx(self.kern.py_func, sig, cc=(8, 0))
                except Exception as exc:  # typed and lowered to NVVM IR; no NVRTC here for PTX
                    if type(exc).__name__ != "DynamicLibNotFoundError":
                        raise
                compiled.append(self.kern.py_func.__name__)
            return launch
    for name in dir(mod):
        if name.startswith("k") and hasattr(getattr(mod, name), "py_func"):
            setattr(mod, name, Stub(getattr(mod, name)))
    args = [np.zeros(b.size, b.dtype) for b in kernel.params]
    mod.launch(args, lambda n, dtype: np.zeros(n, dtype), lambda name, n, dtype: np.zeros(n, dtype),
               np.zeros(1, np.int32))
    return compiled


def main():
    import jitgrad as jg
    import tracer
    rng = np.random.default_rng(0)
    f32 = lambda *s: rng.standard_normal(s).astype(np.float32)  # noqa: E731
    c128 = lambda *s: rng.standard_normal(s) + 1j * rng.standard_normal(s)  # noqa: E731
    y = np.array([0, 2, 1, 1])
    cases = [
        (lambda x, w: jg.sum(jg.tanh(x * w + 0.5) ** 2 * jg.exp(-x * x) + jg.sigmoid(w)), f32(5000), f32(5000)),
        (lambda W1, b1, W2, x: -jg.mean(jg.log_softmax(jg.relu(x @ W1 + b1) @ W2, axis=1)[np.arange(4), y]),
         f32(5, 6), f32(6), f32(6, 3), f32(4, 5)),
        (lambda a: jg.sum(jg.concatenate([a, a * 2], axis=1) ** 2) + jg.sum(jg.max(a, axis=0))
         + jg.sum(jg.softplus(a) * jg.sign(a) + jg.log1p(jg.abs(a)) * jg.expm1(a) + jg.sqrt(jg.abs(a))
                  + jg.sin(a) * jg.cos(a) + jg.minimum(a, 0.3) + jg.maximum(a, -0.2)
                  + (a > 0).astype(np.float32) + jg.where((a < 0.1) & ~(a > 1) | (a == 0), a, 1.0)),
         f32(30, 40)),
        (lambda a, b: jg.sum(jg.matmul(a, b) ** 2) + jg.sum(a.astype(np.float64) ** 0.5), f32(2, 5, 7) ** 2, f32(7, 3)),
        (lambda a: jg.sum(a[1:, ::2][:, :4] * a[:-1, 1::2]) + jg.sum(a[np.array([0, -1])] ** 2) + jg.sum(a * 1.0)
         , f32(6, 9).astype(np.float64)),
        (lambda a: a * a, np.array(0.5, np.float32)),
        (lambda a: jg.sum(jg.erf(a) * jg.nn.functional.gelu(a)), f32(300)),      # math.erf on the device
        (lambda a, b: jg.sum(jg.softmax(a @ b, axis=1) * (a @ b)), f32(64, 48), f32(48, 40)),   # tiled matmul
        # convolution (im2col, col2im), padded max pooling, a counter-based dropout mask
        (lambda x, w, s: jg.sum(jg.nn.functional.conv2d(x, w, stride=2, padding=1) ** 2)
         + jg.sum(jg.nn.functional.max_pool2d(x, 3, 2, 1))
         + jg.sum(jg.where(tracer.ops.uniform(s, x.shape) > 0.5, x, 0.0)),
         f32(2, 3, 8, 8), f32(4, 3, 3, 3), np.array(7, np.int64)),
        # complex: cmath on the device, |z|, the real part, conjugates in every gradient
        (lambda z, w: jg.sum(jg.abs(jg.exp(z) * jg.sin(z) - jg.cos(z) + jg.log1p(z) * jg.expm1(z)
                                    + jg.sqrt(z) / jg.tanh(z) + jg.log(z) + z @ w) ** 2)
         + jg.sum(jg.real(z ** 3 * jg.conj(z))) + jg.sum(jg.imag(jg.mean(z, 0))),
         c128(6, 5), c128(5, 5)),
        (lambda z: jg.sum(jg.abs(z * z)), c128(300).astype(np.complex64)),
        (lambda z: jg.sum(jg.abs(jg.sum(z * z, 0)) ** 2), c128(600, 3)),       # complex partial sums
    ]
    total = 0
    with tempfile.TemporaryDirectory() as d:
        for f, *args in cases:
            program = tracer.trace_value_and_grad(f, *args)
            names = ptx_check_program(program, d)
            total += len(names)
    print(f"ptx check: {total} kernels typed and lowered for the CUDA target (cc 8.0) for {len(cases)} programs")
    return total


if __name__ == "__main__":
    main()
