"""Whole compiled programs on disk, beside their kernels: a new process with a warm cache skips
the IR passes, the patterns and the driver's rendering and compile() (a 32-step RNN's first
call in a warm process spent ~150 ms there, of ~300 ms). What a hit needs, and all it needs:
the driver's code object, its kernels' keys (loaded as any kernel is: `kernel_cache`) and the
argument and output layout. The Kernel IR itself is rebuilt only when asked for (`explain`).

The key hashes the traced Program exactly (every equation, shape, dtype, parameter and literal;
captured arrays by shape and dtype: their values are read at each call), the compile options,
every source file of `codegen` and the primitive table (a compiler change is a new key) and the
versions of Python, NumPy, Numba and jitgrad. Entries are sealed (`kernel_cache.seal`): a corrupt or foreign one is
reported, ignored and rewritten. Programs compiled with automatic dynamic sizes are not kept
here: their kernels depend on which sizes the function has seen (`patterns.Generalizer`).
"""
from __future__ import annotations

import hashlib
import marshal
import pathlib

import numpy as np

from tracer.program import Literal

from .kernel_cache import content_key, seal, source_fingerprint, unseal, write_atomic

_MAGIC = b"JGPROG1\n"
_SOURCES = []


def _codegen_fingerprint():
    if not _SOURCES:
        here = pathlib.Path(__file__).resolve().parent
        tracer_dir = here.parent / "tracer"     # the primitive table: costs, kinds, parameters
        _SOURCES.append(source_fingerprint(sorted(here.glob("*.py")) + [tracer_dir / "primitives.py",
                                                                         tracer_dir / "program.py"]))
    return _SOURCES[0]


def _param(v):
    if isinstance(v, np.ndarray):
        return ("ndarray", v.dtype.str, v.shape, v.tobytes())
    if isinstance(v, (int, float, str, bool, type(None))):
        return v
    if isinstance(v, (tuple, list)):
        return (type(v).__name__,) + tuple(_param(x) for x in v)
    return repr(v)       # dtypes, NumPy scalars: their repr names them exactly


def program_fingerprint(p) -> bytes:
    """The Program as one byte string: equal for equal programs, in any process."""
    ids = {}

    def ref(x):
        if isinstance(x, Literal):
            return ("lit", repr(x.value), x.dtype.str)
        return ids[id(x)]
    rows = []
    for group in (p.invars, p.constvars):
        rows.append(tuple((tuple(v.shape), v.dtype.str) for v in group))
        for v in group:
            ids[id(v)] = len(ids)
    for e in p.eqns:
        rows.append((e.prim.name, tuple(ref(i) for i in e.inputs), tuple(e.out.shape), e.out.dtype.str,
                     tuple((k, _param(v)) for k, v in sorted(e.params.items()))))
        ids[id(e.out)] = len(ids)
    rows.append(tuple(ref(v) for v in p.outvars))
    return marshal.dumps(tuple(rows))


def program_key(p, *options) -> str:
    from .numba_cpu import _numba_version
    return content_key(hashlib.sha256(program_fingerprint(p)).hexdigest(), options, _codegen_fingerprint(),
                       np.__version__, _numba_version(), "program")


def load(d: pathlib.Path, key):
    """The record saved for `key`, or None."""
    path = d / f"jgp_{key}.bin"
    if not path.exists():
        return None
    data = unseal(path, _MAGIC, key)
    if data is None:
        return None
    try:
        return marshal.loads(data)
    except (ValueError, EOFError, TypeError):   # pragma: no cover - sealed, so written by us
        return None


def save(d: pathlib.Path, key, record):
    try:
        write_atomic(d / f"jgp_{key}.bin", seal(_MAGIC, key, marshal.dumps(record)))
    except (OSError, ValueError):
        pass     # an entry that cannot be written is only a later recompile
