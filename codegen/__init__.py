"""Compiling traced Programs: loop IR, passes (fusion, CSE, DCE, buffer planning), backends.

`compile_program(program, backend=...)` (codegen.backends) is the one entry point `jitgrad.jit`
uses. The names below load their modules on first use (PEP 562), so that `jit_grad` can check
a backend's name against the registry without the compiler's import cost (~70 ms).
"""
from __future__ import annotations

import ctypes
import importlib
import os
import sys

_LAZY = {**dict.fromkeys(["compile_program", "Backend", "BACKENDS", "register_backend", "resolve_backend"], "backends"),
         **dict.fromkeys(["Kernel", "IRError", "format_kernel", "verify_kernel"], "ir"),
         **dict.fromkeys(["PIPELINE", "Options", "run_pipeline", "verify"], "passes"),
         "Compiled": "numba_cpu", "default_cache_dir": "kernel_cache", "JITGRAD_VERSION": "kernel_cache"}


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'codegen' has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)


def _choose_threading_layer():
    """TBB when present (safe under concurrent threads and fork), else OpenMP; never workqueue,
    which aborts when two Python threads launch parallel kernels at once."""
    import numba
    if "NUMBA_THREADING_LAYER" not in os.environ and numba.config.THREADING_LAYER == "default":
        numba.config.THREADING_LAYER = "threadsafe"




def _short_blas_spin():
    """OpenBLAS's idle-spin limit (see jitgrad/__init__) when NumPy loaded before jitgrad and its
    OpenBLAS read the default 2**28 cycles already. OpenBLAS re-reads its environment on request and
    starts a new thread pool on the next GEMM after a shutdown, so set it and restart the pool.
    Only for NumPy's own bundled OpenBLAS, found by file name; anything missing: left alone."""
    if os.environ.get("JITGRAD_TUNE_THREADS", "1") == "0" or "OPENBLAS_THREAD_TIMEOUT" in os.environ \
            or not sys.platform.startswith("linux"):
        return
    import glob
    import numpy
    libs = glob.glob(os.path.join(os.path.dirname(os.path.dirname(numpy.__file__)), "numpy.libs", "lib*openblas*.so*"))
    if len(libs) != 1:
        return
    try:
        lib = ctypes.CDLL(libs[0], mode=os.RTLD_NOLOAD | os.RTLD_LAZY)
        read_env, shutdown = lib.openblas_read_env, lib.blas_thread_shutdown_
    except (OSError, AttributeError):
        return
    os.environ["OPENBLAS_THREAD_TIMEOUT"] = "16"
    read_env()
    shutdown()


_short_blas_spin()


def _tune_malloc():
    """glibc hands freed multi-MB arrays back to the OS and page-faults them in again on the next
    call: a kernel returning two fresh 16 MB gradients spent most of its time there (W1: 34 ms ->
    12 ms with this). Keep such blocks in the heap (mmap threshold 32 MB, trim threshold 1 GB).
    JITGRAD_TUNE_MALLOC=0 leaves malloc alone."""
    if os.environ.get("JITGRAD_TUNE_MALLOC", "1") == "0" or not sys.platform.startswith("linux"):
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt
        mallopt(-3, 32 << 20)   # M_MMAP_THRESHOLD
        mallopt(-1, 1 << 30)    # M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        pass


_tune_malloc()


class _NoSciPy:
    """A meta-path finder that refuses scipy.linalg (only while Numba imports numba.np.arraymath)."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        if name == "scipy.linalg" or name.startswith("scipy.linalg."):
            raise ImportError("jitgrad: scipy.linalg not imported while Numba starts (see _start_numba)")
        return None


def _start_numba():
    """Numba's CPU target imports numba.np.arraymath on first use, and that module imports SciPy
    (0.35 s of a 0.6 s warm start here) only to ask whether np.convolve's inner product may call
    BLAS. jitgrad's kernels never call BLAS from Numba (matmuls run in the driver, through
    NumPy), so SciPy is kept out of that probe: np.convolve/np.correlate in the user's own
    @njit code then use Numba's loop, and np.dot there still imports SciPy when it is typed.
    Nothing is done when scipy.linalg or that module is already imported, or JITGRAD_NUMBA_SCIPY=1."""
    if ("numba.np.arraymath" in sys.modules or "scipy.linalg" in sys.modules
            or os.environ.get("JITGRAD_NUMBA_SCIPY") == "1"):
        return
    sys.meta_path.insert(0, _NoSciPy)
    try:
        import numba.np.arraymath  # noqa: F401
    except ImportError:   # pragma: no cover - a Numba that needs SciPy after all: let it
        pass
    finally:
        sys.meta_path.remove(_NoSciPy)


_NUMBA_STARTED = []


def start_numba():
    """Import Numba with jitgrad's settings, once: only when a kernel is compiled by Numba (what
    llvm_cpu does not cover), a helper is harvested, or the CUDA backend runs, so a process that
    finds its kernels on disk never imports it."""
    if not _NUMBA_STARTED:
        _choose_threading_layer()
        _start_numba()
        _NUMBA_STARTED.append(True)


__all__ = list(_LAZY)
