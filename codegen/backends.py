"""The backends a traced Program compiles for: one interface, one registry.

A backend is a name and a compile function, `compile(program, *, cache_dir, fuse, parallel,
check, dynamic, scratch_group)`, which raises a clear error where it cannot run here (no GPU)
and otherwise returns a callable that takes the Program's arrays (invars, then constvars) and
returns its outputs as a list of arrays, with the attributes `explain` and `cache_info` read:
`ir` and `source` (text), `key`, `timings` (seconds by phase), `from_disk_cache`, and, where it
compiles loop-nest kernels, `kernels`. `backend="auto"` takes the first registered backend whose
`preferred()` holds, else "cpu". A new backend is a module with its compile function and one
`register_backend(Backend(...))` line below; `jit_grad(backend=...)` accepts it from then on.
"""
from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass
from typing import Callable

from tracer.program import evaluate


@dataclass(frozen=True)
class Backend:
    name: str
    compile: Callable
    preferred: Callable = lambda: False     # what backend="auto" picks, when it holds
    load: Callable = lambda: None           # imports its compiler (timed apart: explain's "import")


BACKENDS: dict[str, Backend] = {}


def register_backend(backend: Backend):
    BACKENDS[backend.name] = backend
    return backend


def resolve_backend(name) -> Backend:
    if name == "auto":
        return next((b for b in BACKENDS.values() if b.preferred()), BACKENDS["cpu"])
    b = BACKENDS.get(name)
    if b is None:
        raise ValueError(f"unknown backend {name!r} (expected {', '.join(map(repr, [*BACKENDS, 'auto']))})")
    return b


def compile_program(program, *, backend="cpu", cache_dir=None, fuse=True, parallel=None, check=None,
                    dynamic=False, scratch_group=None):
    """Compile a tracer Program with a registered backend (see the module docstring).

    cache_dir: None -> $JITGRAD_CACHE_DIR or ~/.cache/jitgrad; False -> no disk cache.
    fuse=False lowers every primitive to its own loop (the reference for fusion tests);
    parallel: None chooses by work size; check=True verifies the IR after every pass (None:
    when $JITGRAD_VERIFY_IR=1, as the test suite sets it);
    dynamic=True compiles kernels whose sizes and size-derived constants are arguments (one
    kernel for every size), False bakes them in, a patterns.Generalizer makes arguments of
    those that have differed between the programs it has seen.
    scratch_group: a list shared by the programs of one function (its batch sizes): their
    temporaries reuse one another's memory (numba_cpu._scratch_pool)."""
    if check is None:
        check = os.environ.get("JITGRAD_VERIFY_IR") == "1"
    return resolve_backend(backend).compile(program, cache_dir=cache_dir, fuse=fuse, parallel=parallel,
                                            check=check, dynamic=dynamic, scratch_group=scratch_group)


# ----------------------------------------------------------------------------- the backends
def _compile_cpu(program, *, cache_dir, fuse, parallel, check, dynamic, scratch_group=None):
    """Numba-rendered kernels per loop-nest pattern (compiled by llvm_cpu or Numba), a Python driver."""
    from . import program_cache
    from .kernel_cache import cache_path
    from .llvm_cpu import COMPILER
    from .numba_cpu import PARALLEL_MODE, StaleRecord, check_record, compile_kernel, from_record, program_record
    from .passes import Options, run_pipeline
    t0 = time.perf_counter()
    if parallel is None and dynamic is not False and PARALLEL_MODE == "threads":
        parallel = True     # every size the same kernels: the driver runs small ones on one thread
    opts = Options(fuse=fuse, parallel=parallel)
    d = cache_path(cache_dir)
    key = None
    if d is not None and dynamic in (False, True):   # (not a Generalizer's: see program_cache)
        key = program_cache.program_key(program, fuse, parallel, dynamic, COMPILER, PARALLEL_MODE)
        record = program_cache.load(d, key) if d.is_dir() else None
        c = None
        if record is not None:
            try:
                c = from_record(program, record, lambda: run_pipeline(program, opts), cache_dir, t0,
                                dynamic=dynamic, scratch_group=scratch_group)
            except StaleRecord:        # rewritten below
                pass
            except Exception as exc:    # a damaged record: compile as if it were not there
                warnings.warn(f"jitgrad: cached program {key} did not load ({exc!r}); recompiling it",
                              RuntimeWarning)
        if c is not None:
            if check:
                check_record(c, run_pipeline(program, opts, check=True), dynamic)
            return c
    k = run_pipeline(program, opts, check=check)
    c = compile_kernel(program, k, cache_dir, t0, passes_seconds=time.perf_counter() - t0, dynamic=dynamic,
                       scratch_group=scratch_group)
    if key is not None and d.is_dir():
        program_cache.save(d, key, program_record(c))
    return c


def _compile_cuda(program, *, cache_dir, fuse, parallel, check, dynamic, scratch_group=None):
    """CUDA kernels by numba-cuda, on a GPU or its simulator (every size static: see CUDA.md)."""
    from . import start_numba
    start_numba()
    from .numba_cuda import compile_cuda
    return compile_cuda(program, cache_dir=cache_dir, fuse=fuse, check=check)


def _gpu_present():
    from . import start_numba
    start_numba()
    from .numba_cuda import gpu_available
    return gpu_available()


class Interpreted:
    """The Program run by NumPy, primitive by primitive (backend='interpret'): the reference
    the compiled backends are tested against, and a fallback for debugging."""

    def __init__(self, program):
        self.program = program
        self.ir = self.source = "(interpreted: no loop IR)"
        self.key = f"interpret-{id(program):x}"
        self.compile_seconds = 0.0
        self.from_disk_cache = False
        self.timings = {}

    def __call__(self, *arrays):
        return evaluate(self.program, *arrays)


def _load_cpu():
    from . import numba_cpu, passes  # noqa: F401


register_backend(Backend("cpu", _compile_cpu, load=_load_cpu))
register_backend(Backend("cuda", _compile_cuda, preferred=_gpu_present))
register_backend(Backend("interpret", lambda program, **options: Interpreted(program)))
