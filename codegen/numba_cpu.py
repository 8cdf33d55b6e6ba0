"""Numba CPU backend: render a Kernel to one @njit function, cache it on disk, call it fast.

The generated module is written to `<cache_dir>/jg_<key>.py` (temp file + os.replace) and
imported from there, so `@njit(cache=True)` works and a new process loads machine code instead
of compiling. The first line holds a checksum of the rest: a truncated or corrupt file is
detected, rewritten and recompiled with a warning.
"""
from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import os
import pathlib
import sys
import tempfile
import threading
import time
import warnings

import numba
import numpy as np
from numba import types

from .ir import (ALU, BOOL, INT, Acc, Const, Def, Idx, Kernel, Let, LetRef, Load, Loop, MatMul, Reduce,
                 Store, format_kernel, walk_stmts)

JITGRAD_VERSION = "0.1.0"
FASTMATH = {"reassoc", "contract"}   # lets float reductions vectorise; keeps inf/nan semantics
_MATH = "exp log log1p expm1 tanh sigmoid softplus sin cos sqrt pow".split()
_HELPERS = "maximum minimum relu sign wrap_index".split()


# ----------------------------------------------------------------------------- rendering
def const_src(v, dt):
    dt = np.dtype(dt)
    if dt == BOOL:
        return "True" if v else "False"
    if dt.kind in "iu":
        v = int(v)
        return (f"({v})" if v < 0 else str(v)) if dt == INT else f"np.{dt.name}({v})"
    if dt.kind == "f":
        v = float(v)
        s = "np.nan" if v != v else "np.inf" if v == np.inf else "(-np.inf)" if v == -np.inf else repr(v)
        return s if dt == np.float64 else f"np.{dt.name}({s})"
    return f"np.{dt.name}({v!r})"


_INFIX = {"add": "+", "sub": "-", "mul": "*", "div": "/", "idiv": "//", "mod": "%", "lt": "<", "le": "<=",
          "gt": ">", "ge": ">=", "eq": "==", "ne": "!=", "logical_and": "&", "logical_or": "|"}


def index_src(e, names):
    """Flat indices are never negative (lowering wraps negative index arrays itself); as uintp,
    Numba skips its wraparound select, which otherwise turns contiguous loads into gathers
    in loops whose start LLVM cannot prove non-negative (the blocked loops below)."""
    return expr_src(e, names) if isinstance(e, Const) else f"np.uintp({expr_src(e, names)})"


def expr_src(e, names, index=index_src, call=None):
    """Python source of an expression. A backend can change how flat indices are rendered
    (`index(e, names)`) and how ops are spelled (`call(op, arg sources, dtype)`: None keeps
    this rendering); CUDA does both."""
    if isinstance(e, Const):
        return const_src(e.value, e.dtype)
    if isinstance(e, (Idx, Acc, LetRef)):
        return e.name
    if isinstance(e, Load):
        return f"{names[e.buf.name]}[{index(e.index, names)}]"
    s = [expr_src(x, names, index, call) for x in e.srcs]
    op, dt = e.op, e.dtype
    if call is not None:
        r = call(op, s, dt)
        if r is not None:
            return r
    if op in ("add", "mul") and dt == BOOL:
        return f"({s[0]} {'|' if op == 'add' else '&'} {s[1]})"
    if op in _INFIX:
        return f"({s[0]} {_INFIX[op]} {s[1]})"
    if op == "neg":
        return f"(-{s[0]})"
    if op == "logical_not":
        return f"(not {s[0]})"
    if op == "where":
        return f"({s[1]} if {s[0]} else {s[2]})"
    if op == "cast":
        return f"({s[0]} != 0)" if dt == BOOL else f"np.{dt.name}({s[0]})"
    if op == "abs":
        return f"abs({s[0]})"
    if op in _MATH and dt.kind != "f":   # integer pow and friends (float math comes from fastmath)
        return f"({s[0]} ** {s[1]})" if op == "pow" else f"np.{op}({s[0]})"
    return f"{op}({', '.join(s)})"


def _acc_init(acc):
    if acc.op == "sum":
        return const_src(0, acc.dtype)
    dt = acc.dtype
    if dt == BOOL:
        return "False"
    if dt.kind in "iu":
        return const_src(np.iinfo(dt).min, dt)
    return const_src(-np.inf, dt)


def _view_src(v, batch_idx, names):
    """A 2-D ndarray expression for one batch entry of a MatMul operand (C or F order)."""
    r, cl = v.shape[-2], v.shape[-1]
    sr, sc = v.strides[-2], v.strides[-1]
    off = " + ".join([str(v.offset)] + [f"{i} * {s}" for i, s in zip(batch_idx, v.strides[:-2]) if s])
    base = f"{names[v.buf.name]}[{off}:{off} + {r * cl}]"
    if (sc == 1 or cl == 1) and (sr == cl or r == 1):
        return f"{base}.reshape(({r}, {cl}))"
    return f"{base}.reshape(({cl}, {r})).T"


BLOCK = 1024       # elements per block of a blocked reduction loop (its terms stay in L1)
CHUNKS = 64        # parallel loops with shared accumulators: fixed chunks, so sums do not
                   # depend on the thread count


def _reduced_accs(loop):
    """Accumulators reduced inside `loop` but declared outside it."""
    inner = {s.acc for s in walk_stmts(loop.body) if isinstance(s, Def)}
    return list(dict.fromkeys(s.acc for s in walk_stmts(loop.body)
                              if isinstance(s, Reduce) and s.acc not in inner))


def _widening(r):
    """A float32 term summed into a float64 accumulator: `cast<f64>(e)` with e float32."""
    e = r.expr
    return (isinstance(e, ALU) and e.op == "cast" and e.srcs[0].dtype.kind == "f"
            and e.srcs[0].dtype.itemsize < e.dtype.itemsize)


def _blockable(loop):
    """An innermost loop that widens float32 terms into float64 accumulators: mixing the two in
    one loop drops the whole body to float64 vector width (measured 1.7x slower). Blocked, a
    float32 pass stores the terms in an L1 buffer and a second pass accumulates them."""
    return (loop.extent > BLOCK and not any(isinstance(s, Loop) for s in loop.body)
            and any(isinstance(s, Reduce) and _widening(s) for s in loop.body))


def _acc_update(name, op, x):
    return f"{name} += {x}" if op == "sum" else f"{name} = maximum({name}, {x})"


def _loop_src(s, names, depth, accs, start="0", stop=None):
    """`for var in range(start, stop)` over a loop's body, blocked when that pays."""
    pad = "    " * depth
    stop = str(s.extent) if stop is None else stop
    v = s.var.name
    if not _blockable(s):
        rng = f"range({stop})" if start == "0" else f"range({start}, {stop})"
        return [f"{pad}for {v} in {rng}:"] + (body_src(s.body, names, depth + 1, accs) or [pad + "    pass"])
    terms = {r.acc.name: (f"t_{r.acc.name}", r.expr.srcs[0].dtype) for r in s.body
             if isinstance(r, Reduce) and _widening(r)}
    out = [f"{pad}{t} = np.empty({BLOCK}, np.{dt.name})" for t, dt in terms.values()]
    out += [f"{pad}for {v}b in range({start}, {stop}, {BLOCK}):",
            f"{pad}    {v}m = min({BLOCK}, {stop} - {v}b)",
            f"{pad}    for {v}j in range({v}m):",
            f"{pad}        {v} = {v}b + {v}j"]
    body = [Reduce(r.acc, r.expr.srcs[0]) if isinstance(r, Reduce) and r.acc.name in terms else r
            for r in s.body]
    out += body_src(body, names, depth + 2, {**accs, **{a: ("terms", t, f"{v}j") for a, (t, _) in terms.items()}})
    out.append(f"{pad}    for {v}j in range({v}m):")
    for r in s.body:
        if isinstance(r, Reduce) and r.acc.name in terms:
            t = terms[r.acc.name][0]
            out.append(f"{pad}        " + _acc_update(accs.get(r.acc.name, r.acc.name), r.acc.op,
                                                      f"np.{r.acc.dtype.name}({t}[{v}j])"))
    return out


def _parallel_src(s, names, depth, accs):
    """A prange loop. Accumulators shared across its iterations are privatised per chunk and
    combined in chunk order afterwards (deterministic, and the chunk's inner loop vectorises)."""
    pad = "    " * depth
    shared = _reduced_accs(s)
    if not shared:
        return [f"{pad}for {s.var.name} in prange({s.extent}):"] + \
            (body_src(s.body, names, depth + 1, accs) or [pad + "    pass"])
    v, ext = s.var.name, s.extent
    unit = BLOCK if _blockable(s) else 1            # chunk boundaries on block boundaries
    units = -(-ext // unit)
    nc = min(units, CHUNKS)
    out = [f"{pad}part_{a.name} = np.empty({nc}, np.{a.dtype.name})" for a in shared]
    out.append(f"{pad}for {v}c in prange({nc}):")
    private = {a.name: f"{a.name}_{v}c" for a in shared}
    out += [f"{pad}    {private[a.name]} = {_acc_init(a)}" for a in shared]
    lo = f"{v}c * {units} // {nc} * {unit}" if unit > 1 else f"{v}c * {ext} // {nc}"
    hi = f"min(({v}c + 1) * {units} // {nc} * {unit}, {ext})" if unit > 1 else f"({v}c + 1) * {ext} // {nc}"
    out += [f"{pad}    {v}lo = {lo}", f"{pad}    {v}hi = {hi}"]
    out += _loop_src(s, names, depth + 1, {**accs, **private}, start=f"{v}lo", stop=f"{v}hi")
    out += [f"{pad}    part_{a.name}[{v}c] = {private[a.name]}" for a in shared]
    out.append(f"{pad}for {v}c in range({nc}):")
    out += [f"{pad}    " + _acc_update(accs.get(a.name, a.name), a.op, f"part_{a.name}[{v}c]") for a in shared]
    return out


def body_src(body, names, depth, accs=None):
    """Statements as Python source. `accs` renames accumulators: a private per-chunk copy, or
    ("terms", buffer, j) where a blocked loop stores the term instead of accumulating it."""
    accs = accs or {}
    pad = "    " * depth
    out = []
    for s in body:
        if isinstance(s, Loop):
            out += _parallel_src(s, names, depth, accs) if s.parallel else _loop_src(s, names, depth, accs)
        elif isinstance(s, Store):
            out.append(f"{pad}{names[s.buf.name]}[{index_src(s.index, names)}] {'+=' if s.accumulate else '='} "
                       f"{expr_src(s.expr, names)}")
        elif isinstance(s, Def):
            out.append(f"{pad}{s.acc.name} = {_acc_init(s.acc)}")
        elif isinstance(s, Reduce):
            x = expr_src(s.expr, names)
            a = accs.get(s.acc.name, s.acc.name)
            if isinstance(a, tuple):
                out.append(f"{pad}{a[1]}[{a[2]}] = {x}")
            else:
                out.append(pad + _acc_update(a, s.acc.op, x))
        elif isinstance(s, Let):
            out.append(f"{pad}{s.ref.name} = {expr_src(s.expr, names)}")
        elif isinstance(s, MatMul):
            batch = s.out.shape[:-2]
            bidx = [f"mb{k}" for k in range(len(batch))]
            for k, n in enumerate(batch):
                out.append(f"{pad}{'    ' * k}for {bidx[k]} in range({n}):")
            p2 = pad + "    " * len(batch)
            out.append(f"{p2}np.dot({_view_src(s.a, bidx, names)}, {_view_src(s.b, bidx, names)}, "
                       f"{_view_src(s.out, bidx, names)})")
    return out


def render(k: Kernel, cache: bool) -> str:
    """Python source of one @njit function `kernel(p0, p1, ...)` returning a tuple of outputs."""
    names = {}
    lines = []
    for i, (b, shape) in enumerate(zip(k.params, k.param_shapes)):
        names[b.name] = b.name
        lines.append(f"    {b.name} = p{i}" if len(shape) == 1 else f"    {b.name} = p{i}.reshape({b.size})")
    for b in k.outs:
        names[b.name] = b.name
        lines.append(f"    {b.name} = np.empty({b.size}, np.{b.dtype.name})")
    for t in k.temps:
        names[t.name] = t.name
        at = k.storage.get(t.name)
        if at is None:
            cap = max([t.size] + [u.size for u in k.temps if k.storage.get(u.name) == t.name])
            lines.append(f"    {t.name} = np.empty({cap}, np.{t.dtype.name})")
    for t in k.temps:
        if t.name in k.storage:
            lines.append(f"    {t.name} = {k.storage[t.name]}")
    lines += body_src(k.body, names, 1)
    rets = [b.name if len(b.shape) == 1 else f"{b.name}.reshape({tuple(b.shape)})" for b in k.outs]
    lines.append(f"    return ({', '.join(rets)}{',' if len(rets) == 1 else ''})")
    flags = [f"cache={cache}", "nogil=True", "error_model='numpy'", "fastmath={" + ", ".join(map(repr, sorted(FASTMATH))) + "}"]
    if k.flags.get("parallel"):
        flags.append("parallel=True")
    head = ["import numpy as np", "from numba import njit, prange",
            f"from codegen.fastmath import {', '.join(_MATH)}",
            f"from codegen.scalar import {', '.join(_HELPERS)}", "", "",
            f"@njit({', '.join(flags)})",
            f"def kernel({', '.join(f'p{i}' for i in range(len(k.params)))}):"]
    return "\n".join(head + lines) + "\n"


# ----------------------------------------------------------------------------- key and cache
def _dep_fingerprint():
    here = pathlib.Path(__file__).resolve().parent
    h = hashlib.sha256()
    for f in ("fastmath.py", "scalar.py"):
        try:
            h.update((here / f).read_bytes())
        except OSError:
            pass
    return h.hexdigest()[:16]


_DEPS = None


def kernel_key(ir_text: str, source: str) -> str:
    global _DEPS
    if _DEPS is None:
        _DEPS = _dep_fingerprint()
    h = hashlib.sha256()
    for part in (ir_text, source, JITGRAD_VERSION, numba.__version__, np.__version__, _DEPS, sys.version):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()[:32]


def default_cache_dir():
    env = os.environ.get("JITGRAD_CACHE_DIR")
    if env:
        return pathlib.Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(base) / "jitgrad"


_MEM: dict = {}            # key -> (dispatcher, entry point, from_disk)
_KEY_LOCKS: dict = {}
_GLOBAL_LOCK = threading.Lock()


def _key_lock(key):
    with _GLOBAL_LOCK:
        lk = _KEY_LOCKS.get(key)
        if lk is None:
            lk = _KEY_LOCKS[key] = threading.Lock()
        return lk


def _signature(k: Kernel):
    return tuple(types.Array(numba.from_dtype(b.dtype), len(s), "C") for b, s in zip(k.params, k.param_shapes))


def _header(key, body):
    return f"# jitgrad kernel {key} sha256={hashlib.sha256(body.encode()).hexdigest()}\n"


def _valid(text, key):
    first, _, body = text.partition("\n")
    return first == _header(key, body).rstrip("\n")


def _write_atomic(path: pathlib.Path, text: str):
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _import(path: pathlib.Path, modname: str):
    sys.modules.pop(modname, None)
    spec = importlib.util.spec_from_file_location(modname, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[modname] = mod      # before exec: Numba's cache locator looks the module up
    try:
        spec.loader.exec_module(mod)
    except BaseException:
        sys.modules.pop(modname, None)
        raise
    return mod


def _purge_numba_cache(d: pathlib.Path, stem: str):
    for f in (d / "__pycache__").glob(stem + ".*"):
        try:
            f.unlink()
        except OSError:
            pass


def _compile_memory(source, sig):
    ns = {}
    exec(compile(source, "<jitgrad kernel>", "exec"), ns)
    disp = ns["kernel"]
    disp.compile(sig)
    return disp


def _compile_disk(d: pathlib.Path, key, body, sig):
    """(dispatcher, loaded_from_numba_cache) for the kernel in `d`, compiling at most once
    across processes (flock) and recovering from corrupt files."""
    stem = f"jg_{key}"
    path = d / f"{stem}.py"
    text = _header(key, body) + body
    with open(d / f"{stem}.lock", "a+") as lockf:
        fcntl.flock(lockf, fcntl.LOCK_EX)
        try:
            try:
                old = path.read_text()
            except (OSError, UnicodeDecodeError):
                old = None
            if old is not None and not _valid(old, key):
                warnings.warn(f"jitgrad: kernel cache file {path} is corrupt; recompiling it", RuntimeWarning)
                _purge_numba_cache(d, stem)
                old = None
            if old is None:
                _write_atomic(path, text)
            for attempt in range(2):
                try:
                    disp = _import(path, stem).kernel
                    disp.compile(sig)
                    hits = sum(disp.stats.cache_hits.values())
                    return disp, hits > 0
                except Exception as exc:   # corrupt Numba index/data: drop it and rebuild once
                    if attempt:
                        raise
                    warnings.warn(f"jitgrad: loading cached kernel {path} failed ({exc!r}); recompiling it",
                                  RuntimeWarning)
                    _purge_numba_cache(d, stem)
                    _write_atomic(path, text)
        finally:
            fcntl.flock(lockf, fcntl.LOCK_UN)


def build(k: Kernel, ir_text: str, cache_dir):
    """(dispatcher, entry point, source, key, from_disk) for a Kernel, from memory when possible."""
    sig = _signature(k)
    body = render(k, cache=True)
    key = kernel_key(ir_text, body)
    hit = _MEM.get(key)
    if hit is not None:
        return hit + (body, key)
    with _key_lock(key):
        hit = _MEM.get(key)
        if hit is not None:
            return hit + (body, key)
        disp, from_disk = None, False
        if cache_dir is not False:
            d = pathlib.Path(cache_dir) if cache_dir is not None else default_cache_dir()
            try:
                d.mkdir(parents=True, exist_ok=True)
                if not os.access(d, os.W_OK):
                    raise PermissionError(f"{d} is not writable")
                disp, from_disk = _compile_disk(d, key, body, sig)
            except OSError as exc:
                warnings.warn(f"jitgrad: kernel cache directory {d} unusable ({exc}); "
                              f"compiling in memory only", RuntimeWarning)
        if disp is None:
            body = render(k, cache=False)
            disp = _compile_memory(body, sig)
        entry = disp.overloads[sig].entry_point
        _MEM[key] = (disp, entry, from_disk)
        return disp, entry, from_disk, body, key


# ----------------------------------------------------------------------------- the callable
def output_plan(kernel: Kernel):
    """How each Program output comes out of the kernel's outputs: ("k", j) the j-th kernel
    output, ("copy", j) a copy of it (an output returned twice), ("lit", array) a literal."""
    from tracer.program import Var
    plan, pos = [], {}
    for v in kernel.outvars:
        if not isinstance(v, Var):
            plan.append(("lit", np.asarray(v.value, dtype=v.dtype)))
        elif id(v) in pos:
            plan.append(("copy", pos[id(v)]))
        else:
            pos[id(v)] = len(pos)
            plan.append(("k", pos[id(v)]))
    assert len(pos) == len(kernel.outs)
    return plan


class Compiled:
    """A compiled Program: `Compiled(*invar_values, *const_values) -> sequence of fresh ndarrays`."""

    def __init__(self, program, kernel: Kernel, ir_text, source, key, dispatcher, entry, from_disk, seconds):
        self.program, self.kernel, self.ir, self.source, self.key = program, kernel, ir_text, source, key
        self.dispatcher, self.from_disk_cache, self.compile_seconds = dispatcher, from_disk, seconds
        self.timings = {}   # seconds by phase: "passes" (IR pipeline), "numba" (compile or disk load)
        self._entry = entry
        self._spec = tuple((tuple(s), b.dtype, _cstrides_bytes(s, b.dtype))
                           for b, s in zip(kernel.params, kernel.param_shapes))
        self._n = len(self._spec)
        self._plan = plan = output_plan(kernel)
        self._simple = all(p[0] == "k" for p in plan)

    def __call__(self, *arrays):
        if len(arrays) != self._n:
            raise TypeError(f"compiled program takes {self._n} arrays, got {len(arrays)}")
        args = []
        for a, (shape, dt, st) in zip(arrays, self._spec):
            if a.__class__ is not np.ndarray or a.dtype is not dt or a.strides != st:
                a = self._coerce(a, shape, dt)
            elif a.shape != shape:
                raise ValueError(f"compiled for an argument of shape {shape}, got {a.shape}")
            args.append(a)
        res = self._entry(*args)
        if self._simple:
            return res
        return [res[p[1]] if p[0] == "k" else res[p[1]].copy() if p[0] == "copy" else p[1].copy()
                for p in self._plan]

    @staticmethod
    def _coerce(a, shape, dt):
        a = np.asarray(a)
        if a.shape != shape:
            raise ValueError(f"compiled for an argument of shape {shape}, got {a.shape}")
        if a.dtype != dt or not a.flags.c_contiguous or a.dtype.byteorder not in "=|":
            a = np.ascontiguousarray(a, dtype=dt)   # non-contiguous views: one copy
            if a.dtype.byteorder not in "=|":
                a = a.astype(dt.newbyteorder("="))
        return a

    def __repr__(self):
        return f"<Compiled {self.key} in={self._n} out={len(self._plan)}>"


def _cstrides_bytes(shape, dt):
    st, acc = [], np.dtype(dt).itemsize
    for n in reversed(shape):
        st.append(acc)
        acc *= n
    return tuple(reversed(st))


def compile_kernel(program, k: Kernel, cache_dir, t0, passes_seconds=0.0):
    ir_text = format_kernel(k)
    t1 = time.perf_counter()
    disp, entry, from_disk, source, key = build(k, ir_text, cache_dir)
    c = Compiled(program, k, ir_text, source, key, disp, entry, from_disk, time.perf_counter() - t0)
    c.timings = {"passes": passes_seconds, "numba": time.perf_counter() - t1}
    return c
