"""Systems: how each library builds a value-and-gradient callable for a workload.

A System knows which modules it needs (checked lazily: a system whose import fails is skipped
with the reason), an ops adapter `o` that the workloads' losses are written against, and
`build(workload_loss, args, argnums) -> callable()` returning `(value, [grads])` in the library's
own types (converted with `to_numpy` only for the correctness check). Building happens once,
outside the timed region; the callable's first run compiles where the system compiles.
"""
from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Callable, Optional

import numpy as np


@dataclass
class System:
    name: str
    label: str
    modules: tuple = ()
    build: Optional[Callable] = None             # (workload, args, argnums, threads) -> callable
    workloads: Optional[tuple] = None            # None: every timed workload
    family: str = "peer"                         # "jitgrad" | "peer" | "reference" | "gpu" (a GPU peer:
                                                 # not the CPU ratios' reference)
    cache_env: Optional[Callable] = None         # dir -> env for a disk cache (compile workload)
    requires: Optional[Callable] = None          # () -> None, or why the system cannot run here
    note: str = ""
    _reason: Optional[str] = field(default=None, repr=False)
    _checked: bool = field(default=False, repr=False)

    def unavailable(self):
        """None when importable, else the reason (cached)."""
        if not self._checked:
            self._checked = True
            for m in self.modules:
                try:
                    importlib.import_module(m)
                except Exception as e:  # ImportError, but also broken installs
                    self._reason = f"import {m} failed: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
                    break
            if self._reason is None and self.requires is not None:
                self._reason = self.requires()
        return self._reason

    def supports(self, wid):
        return self.workloads is None or wid in self.workloads


def to_numpy(x):
    if hasattr(x, "detach"):                      # torch
        return x.detach().cpu().numpy()
    if hasattr(x, "copy_to_host"):                # numba CUDA device array
        return x.copy_to_host()
    return np.asarray(x)


# ----------------------------------------------------------------------------- jitgrad
def _jg_ops():
    import jitgrad as jg

    def value_and_dt(net, t):
        tt = jg.tensor(t, requires_grad=True)
        u = net(tt)
        (du,) = jg.grad(jg.sum(u), tt, create_graph=True)
        return u, du

    F = jg.nn.functional
    return SimpleNamespace(sum=jg.sum, mean=jg.mean, tanh=jg.tanh, exp=jg.exp, sigmoid=jg.sigmoid, sin=jg.sin,
                           relu=jg.relu, cross_entropy=F.cross_entropy, value_and_dt=value_and_dt,
                           conv3x3=lambda x, w, b: F.conv2d(x, w, b, padding=1),
                           max_pool2=lambda x: F.max_pool2d(x, 2), swapaxes=jg.swapaxes, gelu=F.gelu,
                           layer_norm=lambda x, w, b: F.layer_norm(x, x.shape[-1], w, b),
                           causal_attention=lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True))


def _build_jitgrad(eager):
    def build(w, args, argnums, threads):
        import jitgrad as jg
        o = _jg_ops()
        f = lambda *a: w.loss(o, *a)  # noqa: E731
        fn = jg.value_and_grad(f, argnums=argnums) if eager else jg.jit_grad(f, argnums=argnums)

        def run():
            return _tuple_grads(fn(*args))
        if not eager:   # the compile workload reads the phases of the first call (explain's timings)
            run.phases = lambda: fn.entry_for(*args).timings
        run.with_args = lambda new: (lambda: _tuple_grads(fn(*new)))   # same function, other sizes
        return run
    return build


def _build_jitgrad_cuda(w, args, argnums, threads):
    """backend='cuda' with every argument on the device before timing (parameters stay there,
    as in training); a run ends when the GPU is done."""
    import jitgrad as jg
    from numba import cuda
    o = _jg_ops()
    fn = jg.jit_grad(lambda *a: w.loss(o, *a), argnums=argnums, backend="cuda")
    dargs = [cuda.to_device(np.ascontiguousarray(a)) for a in args]

    def run():
        out = _tuple_grads(fn(*dargs))
        cuda.synchronize()
        return out
    return run


def _gpu_for_numba():
    from codegen.numba_cuda import gpu_available
    return None if gpu_available() else "no CUDA GPU (numba.cuda.is_available() is False)"


def _gpu_for_torch():
    import torch
    return None if torch.cuda.is_available() else "no CUDA GPU (torch.cuda.is_available() is False)"


def _tuple_grads(out):
    v, g = out
    return v, list(g) if isinstance(g, (tuple, list)) else [g]


# ----------------------------------------------------------------------------- NumPy by hand
def _build_numpy(w, args, argnums, threads):
    if w.numpy_vg is None:
        raise NotImplementedError(f"{w.id} has no hand-derived NumPy gradients")
    return lambda: w.numpy_vg(args, argnums)


def _build_handwritten(w, args, argnums, threads):
    from bench.handwritten import w1_value_and_grad
    x, y = args

    def run():
        v, gx, gw = w1_value_and_grad(x, y, threads=threads)
        return v, [gx, gw]
    return run


# ----------------------------------------------------------------------------- PyTorch
def _torch_ops():
    import torch
    import torch.nn.functional as F

    def value_and_dt(net, t):
        tt = t.detach().requires_grad_(True)
        u = net(tt)
        (du,) = torch.autograd.grad(u.sum(), tt, create_graph=True)
        return u, du

    return SimpleNamespace(sum=torch.sum, mean=torch.mean, tanh=torch.tanh, exp=torch.exp, sigmoid=torch.sigmoid,
                           sin=torch.sin, relu=torch.relu, cross_entropy=F.cross_entropy, value_and_dt=value_and_dt,
                           conv3x3=lambda x, w, b: F.conv2d(x, w, b, padding=1),
                           max_pool2=lambda x: F.max_pool2d(x, 2), swapaxes=torch.transpose, gelu=F.gelu,
                           layer_norm=lambda x, w, b: F.layer_norm(x, (x.shape[-1],), w, b),
                           causal_attention=lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True))


def _build_torch(compiled, device="cpu"):
    def build(w, args, argnums, threads):
        import torch
        torch.set_num_threads(threads)
        o = _torch_ops()
        targs = [torch.from_numpy(np.ascontiguousarray(a)).to(device) for a in args]
        for i in argnums:
            targs[i].requires_grad_(True)

        def vg(*a):
            v = w.loss(o, *a)
            return v.detach(), list(torch.autograd.grad(v, [a[i] for i in argnums]))
        if compiled:
            import torch._dynamo
            cfg = torch._dynamo.config   # every workload compiles this same code object: allow it
            for k in ("recompile_limit", "cache_size_limit"):
                if hasattr(cfg, k):
                    setattr(cfg, k, max(getattr(cfg, k), 256))
            vg = torch.compile(vg)
        if device == "cuda":
            def run():
                out = vg(*targs)
                torch.cuda.synchronize()
                return out
            return run

        def tensors(a):
            t = [torch.from_numpy(np.ascontiguousarray(x)).to(device) for x in a]
            for i in argnums:
                t[i].requires_grad_(True)
            return t

        def run():
            return vg(*targs)
        run.with_args = lambda new: (lambda t=tensors(new): vg(*t))
        return run
    return build


# ----------------------------------------------------------------------------- JAX
def _jax_ops():
    import jax
    import jax.numpy as jnp

    def ce(logits, y):
        lp = jax.nn.log_softmax(logits, axis=-1)
        return -jnp.mean(jnp.take_along_axis(lp, y[:, None], axis=1))

    def value_and_dt(net, t):
        return jax.jvp(net, (t,), (jnp.ones_like(t),))

    def conv3x3(x, w, b):
        y = jax.lax.conv_general_dilated(x, w, (1, 1), ((1, 1), (1, 1)), dimension_numbers=("NCHW", "OIHW", "NCHW"))
        return y + b[None, :, None, None]

    def max_pool2(x):
        return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")

    def layer_norm(x, w, b):
        mu = jnp.mean(x, -1, keepdims=True)
        return (x - mu) / jnp.sqrt(jnp.var(x, -1, keepdims=True) + 1e-5) * w + b

    def causal_attention(q, k, v):
        s = q @ jnp.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
        s = jnp.where(jnp.tril(jnp.ones((q.shape[-2], k.shape[-2]), bool)), s, -jnp.inf)
        return jax.nn.softmax(s, -1) @ v

    return SimpleNamespace(sum=jnp.sum, mean=jnp.mean, tanh=jnp.tanh, exp=jnp.exp, sigmoid=jax.nn.sigmoid,
                           sin=jnp.sin, relu=jax.nn.relu, cross_entropy=ce, value_and_dt=value_and_dt,
                           conv3x3=conv3x3, max_pool2=max_pool2, swapaxes=jnp.swapaxes,
                           gelu=lambda x: jax.nn.gelu(x, approximate=False), layer_norm=layer_norm,
                           causal_attention=causal_attention)


def _build_jax(w, args, argnums, threads):
    import jax
    jax.config.update("jax_enable_x64", True)
    o = _jax_ops()
    jargs = [jax.device_put(a) for a in args]
    fn = jax.jit(jax.value_and_grad(lambda *a: w.loss(o, *a), argnums=argnums))

    def runner(a):
        def run():
            v, g = jax.block_until_ready(fn(*a))
            return v, list(g)
        return run
    run = runner(jargs)
    run.with_args = lambda new: runner([jax.device_put(a) for a in new])
    return run


# ----------------------------------------------------------------------------- HIPS autograd
def _ag_ops():
    import autograd.numpy as anp
    from autograd import elementwise_grad
    from autograd.scipy.special import logsumexp

    def ce(logits, y):
        return anp.mean(logsumexp(logits, axis=1) - logits[np.arange(logits.shape[0]), y])

    def value_and_dt(net, t):
        return net(t), elementwise_grad(lambda tt: net(tt))(t)

    return SimpleNamespace(sum=anp.sum, mean=anp.mean, tanh=anp.tanh, exp=anp.exp,
                           sigmoid=lambda z: 0.5 * (anp.tanh(0.5 * z) + 1), sin=anp.sin,
                           relu=lambda z: anp.maximum(z, 0), cross_entropy=ce, value_and_dt=value_and_dt)


def _build_autograd(w, args, argnums, threads):
    from autograd import value_and_grad
    o = _ag_ops()

    def packed(diff, rest):
        a = list(rest)
        for i, d in zip(argnums, diff):
            a[i] = d
        return w.loss(o, *a)
    vg = value_and_grad(packed, 0)
    diff = tuple(args[i] for i in argnums)

    def run():
        v, g = vg(diff, args)
        return v, list(g)
    return run


# ----------------------------------------------------------------------------- PyTensor
def _pt_ops():
    import pytensor
    import pytensor.tensor as pt
    from pytensor.tensor.special import log_softmax

    def ce(logits, y):
        lp = log_softmax(logits, axis=-1)
        return -pt.mean(lp[pt.arange(y.shape[0]), y])

    def value_and_dt(net, t):
        u = net(t)
        return u, pytensor.grad(u.sum(), t)

    return SimpleNamespace(sum=pt.sum, mean=pt.mean, tanh=pt.tanh, exp=pt.exp, sigmoid=pt.sigmoid, sin=pt.sin,
                           relu=lambda z: pt.maximum(z, 0), cross_entropy=ce, value_and_dt=value_and_dt)


def _build_pytensor(w, args, argnums, threads):
    import pytensor
    import pytensor.tensor as pt
    o = _pt_ops()
    vs = [pt.tensor(f"a{i}", dtype=str(a.dtype), shape=(None,) * a.ndim) for i, a in enumerate(args)]
    v = w.loss(o, *vs)
    gs = pytensor.grad(v, [vs[i] for i in argnums])
    fn = pytensor.function(vs, [v, *gs])

    def run():
        v, *g = fn(*args)
        return v, g
    return run


# ----------------------------------------------------------------------------- registry
def _env(**kw):
    return lambda d: {k: v.format(d=d) for k, v in kw.items()}


_NO_CONV = ("W1", "W2", "W3", "W3-each", "W4", "W5", "R4", "R32")   # adapters without convolution

SYSTEMS = {s.name: s for s in [
    System("jitgrad", "jitgrad jit_grad (compiled)", ("jitgrad",), _build_jitgrad(False), family="jitgrad",
           cache_env=_env(JITGRAD_CACHE_DIR="{d}")),
    System("jitgrad-eager", "jitgrad value_and_grad (eager)", ("jitgrad",), _build_jitgrad(True), family="jitgrad"),
    System("numpy", "NumPy, hand-derived gradients", ("numpy",), _build_numpy, family="reference"),
    System("numba-hand", "hand-written fused Numba kernel", ("numba", "bench.handwritten"), _build_handwritten,
           workloads=("W1",), family="reference", cache_env=_env(NUMBA_CACHE_DIR="{d}")),
    System("torch", "PyTorch eager", ("torch",), _build_torch(False)),
    System("torch.compile", "torch.compile(value_and_grad)", ("torch",), _build_torch(True),
           cache_env=_env(TORCHINDUCTOR_CACHE_DIR="{d}")),
    System("jax", "jax.jit(value_and_grad)", ("jax",), _build_jax,
           cache_env=_env(JAX_COMPILATION_CACHE_DIR="{d}", JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
                          JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")),
    System("jitgrad-cuda", "jitgrad jit_grad(backend='cuda'), data on the GPU", ("jitgrad", "numba.cuda"),
           _build_jitgrad_cuda, workloads=("W1", "W2"), family="jitgrad", requires=_gpu_for_numba),
    System("torch-cuda", "PyTorch eager on the GPU", ("torch",), _build_torch(False, "cuda"),
           workloads=("W1", "W2"), family="gpu", requires=_gpu_for_torch),
    System("autograd", "HIPS autograd", ("autograd",), _build_autograd, workloads=_NO_CONV),
    System("pytensor", "PyTensor (C backend)", ("pytensor",), _build_pytensor, workloads=_NO_CONV,
           cache_env=_env(PYTENSOR_FLAGS="compiledir={d}")),
]}


def version_of(mod):
    try:
        from importlib.metadata import version
        return version(mod)
    except Exception:
        m = importlib.import_module(mod)
        return getattr(m, "__version__", "?")


def thread_env(n):
    """Environment that pins every library to n threads; set before numpy/torch/jax/numba load."""
    n = str(n)
    return {"OMP_NUM_THREADS": n, "MKL_NUM_THREADS": n, "OPENBLAS_NUM_THREADS": n, "NUMBA_NUM_THREADS": n,
            # the idle-spin limits jitgrad sets on import (see jitgrad/__init__, codegen/__init__),
            # here for every system, since the harness loads NumPy first
            "OPENBLAS_THREAD_TIMEOUT": os.environ.get("OPENBLAS_THREAD_TIMEOUT", "16"),
            "GOMP_SPINCOUNT": os.environ.get("GOMP_SPINCOUNT", "20000"),
            "XLA_FLAGS": (os.environ.get("XLA_FLAGS", "") +
                          f" --xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads={n}").strip()}
