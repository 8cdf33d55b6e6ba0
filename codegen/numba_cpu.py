"""Numba CPU backend: one @njit kernel per loop-nest pattern, a Python driver per program.

A Kernel's nests become patterns (`codegen.patterns`); each distinct pattern is one small @njit
function keyed by its source alone, so every program, layer, unrolled step and (with `dynamic`)
batch size that has the same nest shares one compiled kernel. The driver, generated per
program and shape, allocates buffers and calls the kernels' entry points and BLAS (np.matmul).

Each kernel module is written to `<cache_dir>/jg_<key>.py` and imported from there, so
`@njit(cache=True)` works and a new process loads machine code instead of compiling
(`kernel_cache` holds the file rules: atomic writes, locks, checksums, corrupt-file recovery).
"""
from __future__ import annotations

import functools
import hashlib
import math
import os
import pathlib
import re
import time
import types
import warnings
from dataclasses import dataclass

import numpy as np

from tracer.tensor import is_device_array

from .ir import (ALU, BOOL, INT, Acc, Const, Def, Idx, Kernel, Let, LetRef, Load, Loop, MatMul, Reduce,
                 NEST_STATEMENTS, Store, Sym, View, format_kernel, loop_work, reduced_accs, statement_rules, stmt_exprs, walk_expr,
                 walk_stmts)
from .lower import cstrides
from .passes import PARALLEL_MIN_WORK
from . import llvm_cpu
from .kernel_cache import cache_path, content_key, key_lock, load_module, source_fingerprint, usable_dir
from .patterns import abstract_all, split_nests
from .threads import SMALL_GEMM, bmatmul, prun

FASTMATH = {"reassoc", "contract"}   # lets float reductions vectorise; keeps inf/nan semantics
_MATH = "exp log log1p expm1 tanh sigmoid softplus sin cos sqrt pow".split()     # codegen.fastmath
_HELPER_OPS = "maximum minimum relu sign wrap_index hash_uniform".split()   # scalar ops that are codegen.scalar calls
_HELPERS = _HELPER_OPS + ["erf32"]                                        # everything kernels import from there


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


def _infix(sym):
    return lambda a, dt: f"({a[0]} {sym} {a[1]})"


def _math(name):
    """Vectorisable float math from codegen.fastmath; NumPy's for integer arguments."""
    return lambda a, dt: f"{name}({a[0]})" if dt.kind == "f" else f"np.{name}({a[0]})"


def _helper(name):
    return lambda a, dt: f"{name}({', '.join(a)})"


# scalar op -> (argument sources, result dtype) -> Python source: one line per op
RENDER = {
    "add": lambda a, dt: f"({a[0]} | {a[1]})" if dt == BOOL else f"({a[0]} + {a[1]})",
    "mul": lambda a, dt: f"({a[0]} & {a[1]})" if dt == BOOL else f"({a[0]} * {a[1]})",
    "sub": _infix("-"), "div": _infix("/"), "idiv": _infix("//"), "mod": _infix("%"),
    "lt": _infix("<"), "le": _infix("<="), "gt": _infix(">"), "ge": _infix(">="), "eq": _infix("=="),
    "ne": _infix("!="), "logical_and": _infix("&"), "logical_or": _infix("|"),
    "neg": lambda a, dt: f"(-{a[0]})",
    "logical_not": lambda a, dt: f"(not {a[0]})",
    "where": lambda a, dt: f"({a[1]} if {a[0]} else {a[2]})",
    "cast": lambda a, dt: f"({a[0]} != 0)" if dt == BOOL else f"np.{dt.name}({a[0]})",
    "abs": lambda a, dt: f"abs({a[0]})",
    "conj": lambda a, dt: f"np.conj({a[0]})",     # complex only (ops.conj records it for complex tensors)
    "real": lambda a, dt: f"({a[0]}).real",
    "pow": lambda a, dt: f"pow({a[0]}, {a[1]})" if dt.kind == "f" else f"({a[0]} ** {a[1]})",
    "erf": lambda a, dt: f"erf32({a[0]})" if dt == np.float32 else f"erf({a[0]})",   # float64: libm's math.erf
    **{op: _math(op) for op in "exp log log1p expm1 tanh sigmoid softplus sin cos sqrt".split()},
    **{op: _helper(op) for op in _HELPER_OPS},
}


def index_src(e, names):
    """Flat indices are never negative (lowering wraps negative index arrays itself); as uintp,
    Numba skips its wraparound select, which otherwise turns contiguous loads into gathers
    in loops whose start LLVM cannot prove non-negative (the blocked loops below)."""
    return expr_src(e, names) if isinstance(e, Const) else f"np.uintp({expr_src(e, names)})"


def expr_src(e, names, index=index_src, render=None):
    """Python source of an expression. A backend changes how flat indices are rendered
    (`index(e, names)`) and how ops are spelled (`render`, a table like RENDER); CUDA does both."""
    if isinstance(e, Const):
        return const_src(e.value, e.dtype)
    if isinstance(e, (Idx, Acc, LetRef, Sym)):
        return e.name
    if isinstance(e, Load):
        return f"{names[e.buf.name]}[{index(e.index, names)}]"
    table = RENDER if render is None else render
    fn = table.get(e.op)
    if fn is None:
        raise NotImplementedError(f"{'cpu' if render is None else 'this'} backend cannot render the scalar op {e.op!r}")
    return fn([expr_src(x, names, index, render) for x in e.srcs], e.dtype)


def acc_init(acc):
    if acc.op == "sum":
        return const_src(0, acc.dtype)
    dt = acc.dtype
    if dt == BOOL:
        return "False"
    if dt.kind in "iu":
        return const_src(np.iinfo(dt).min, dt)
    return const_src(-np.inf, dt)


BLOCK = 1024       # elements per block of a blocked reduction loop (its terms stay in L1)
CHUNKS = 64        # parallel loops with shared accumulators: fixed chunks, so sums do not
                   # depend on the thread count


def _widening(r):
    """A float32 term summed into a float64 accumulator: `cast<f64>(e)` with e float32."""
    e = r.expr
    return (isinstance(e, ALU) and e.op == "cast" and e.srcs[0].dtype.kind == "f"
            and e.srcs[0].dtype.itemsize < e.dtype.itemsize)


def _blockable(loop):
    """An innermost loop that widens float32 terms into float64 accumulators: mixing the two in
    one loop drops the whole body to float64 vector width (measured 1.7x slower). Blocked, a
    float32 pass stores the terms in an L1 buffer and a second pass accumulates them. Not when
    a load strides (it does not vectorise either way: the second pass is pure overhead)."""
    return ((isinstance(loop.extent, Sym) or loop.extent > BLOCK) and not any(isinstance(s, Loop) for s in loop.body)
            and any(isinstance(s, Reduce) and _widening(s) for s in loop.body) and not _strided(loop))


def _strided(loop):
    """Whether a load in the loop's body moves by other than one element per iteration (the loop
    variable scaled, clamped or inside another load's index)."""
    var = loop.var.name
    lets = {s.ref.name: s.expr for s in loop.body if isinstance(s, Let)}

    def scaled(e, affine):
        if isinstance(e, Idx):
            return e.name == var and not affine
        if isinstance(e, LetRef):
            return e.name in lets and scaled(lets[e.name], affine)
        if isinstance(e, ALU):
            return any(scaled(x, affine and e.op == "add") for x in e.srcs)
        if isinstance(e, Load):
            return scaled(e.index, False)
        return False
    return any(scaled(x.index, True) for s in loop.body for e in stmt_exprs(s) for x in walk_expr(e)
               if isinstance(x, Load))


def _block_terms(loop):
    """{accumulator: (its block buffer, dtype)} of a blocked loop."""
    return {r.acc.name: (f"t_{r.acc.name}", r.expr.srcs[0].dtype) for r in loop.body
            if isinstance(r, Reduce) and _widening(r)}


HOISTED = "@hoisted"    # the `accs` entry naming block buffers allocated once, at the kernel's top


def _hoisted_terms(body):
    """Block buffers of a serial kernel: allocated once per call (inside a loop nest, one
    np.empty per outer iteration cost more than the loop when the blocked extent is small)."""
    return {t: dt for s in walk_stmts(body) if isinstance(s, Loop) and _blockable(s)
            for t, dt in _block_terms(s).values()}


def _extent_src(n):
    return n.name if isinstance(n, Sym) else str(n)


def _acc_update(name, op, x):
    return f"{name} += {x}" if op == "sum" else f"{name} = maximum({name}, {x})"


def _loop_src(s, names, depth, accs, start="0", stop=None):
    """`for var in range(start, stop)` over a loop's body, blocked when that pays."""
    pad = "    " * depth
    stop = _extent_src(s.extent) if stop is None else stop
    v = s.var.name
    if not _blockable(s):
        rng = f"range({stop})" if start == "0" else f"range({start}, {stop})"
        return [f"{pad}for {v} in {rng}:"] + (body_src(s.body, names, depth + 1, accs) or [pad + "    pass"])
    terms = _block_terms(s)
    out = [f"{pad}{t} = np.empty({BLOCK}, np.{dt.name})" for t, dt in terms.values()
           if t not in accs.get(HOISTED, ())]
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


def _chunking(s, pad):
    """(lines computing the chunk count, units, nc, unit) for a loop whose shared accumulators
    are privatised per chunk: at most CHUNKS chunks, on block boundaries when it is blocked, so
    sums do not depend on the thread count."""
    v, ext = s.var.name, s.extent
    unit = BLOCK if _blockable(s) else 1
    out = []
    if isinstance(ext, Sym):                        # chunking computed at run time
        ext = ext.name
        units, nc = (f"{v}u", f"{v}n") if unit > 1 else (ext, f"{v}n")
        if unit > 1:
            out.append(f"{pad}{units} = -(-{ext} // {unit})")
        out.append(f"{pad}{nc} = min({units}, {CHUNKS})")
    else:
        units, nc = -(-ext // unit), _n_chunks(ext, unit)
    return out, units, nc, unit


def _n_chunks(ext, unit):
    return min(-(-ext // unit), CHUNKS)


def _chunks_src(s, names, depth, accs, shared, units, nc, unit, crange):
    """`for {v}c in crange`: each chunk's share of the loop into its private accumulators,
    stored in part_<acc>[chunk]."""
    pad, v, ext = "    " * depth, s.var.name, _extent_src(s.extent)
    out = [f"{pad}for {v}c in {crange}:"]
    private = {a.name: f"{a.name}_{v}c" for a in shared}
    out += [f"{pad}    {private[a.name]} = {acc_init(a)}" for a in shared]
    lo = f"{v}c * {units} // {nc} * {unit}" if unit > 1 else f"{v}c * {ext} // {nc}"
    hi = f"min(({v}c + 1) * {units} // {nc} * {unit}, {ext})" if unit > 1 else f"({v}c + 1) * {ext} // {nc}"
    out += [f"{pad}    {v}lo = {lo}", f"{pad}    {v}hi = {hi}"]
    out += _loop_src(s, names, depth + 1, {**accs, **private}, start=f"{v}lo", stop=f"{v}hi")
    out += [f"{pad}    part_{a.name}[{v}c] = {private[a.name]}" for a in shared]
    return out


def _combine_src(s, depth, accs, shared, nc):
    pad, v = "    " * depth, s.var.name
    return [f"{pad}for {v}c in range({nc}):"] + \
        [f"{pad}    " + _acc_update(accs.get(a.name, a.name), a.op, f"part_{a.name}[{v}c]") for a in shared]


def _parallel_src(s, names, depth, accs):
    """A prange loop (JITGRAD_PARALLEL=numba). Accumulators shared across its iterations are
    privatised per chunk and combined in chunk order afterwards (deterministic, and the
    chunk's inner loop vectorises)."""
    pad = "    " * depth
    shared = reduced_accs(s)
    if not shared:
        return [f"{pad}for {s.var.name} in prange({_extent_src(s.extent)}):"] + \
            (body_src(s.body, names, depth + 1, accs) or [pad + "    pass"])
    out, units, nc, unit = _chunking(s, pad)
    out += [f"{pad}part_{a.name} = np.empty({nc}, np.{a.dtype.name})" for a in shared]
    out += _chunks_src(s, names, depth, accs, shared, units, nc, unit, f"prange({nc})")
    return out + _combine_src(s, depth, accs, shared, nc)


# ----------------------------------------------------------------------------- threaded parallel loops
PARALLEL_MODE = os.environ.get("JITGRAD_PARALLEL", "threads")   # "threads" | "numba" (prange)


@dataclass
class Threaded:
    """How a parallel pattern runs on codegen.threads: its parallel loop (top-level statement
    `at`) split over threads in phase 0, then, if `phase1`, the rest once (accumulator set-up,
    the chunks' combination, the stores after the loop)."""
    at: int
    shared: list
    phase1: bool


def threaded(pat):
    """The Threaded plan of a parallel pattern, or None (serial, prange mode, or a shape of
    nest it does not handle: then Numba's prange runs it)."""
    if not pat.parallel or PARALLEL_MODE != "threads":
        return None
    if "_threaded" not in pat.__dict__:
        loops = [i for i, x in enumerate(pat.body) if isinstance(x, Loop) and x.parallel]
        plan = None
        if len(loops) == 1 and all(isinstance(x, Def) for x in pat.body[:loops[0]]):
            i = loops[0]
            shared = reduced_accs(pat.body[i])
            plan = Threaded(i, shared, bool(shared or i or pat.body[i + 1:]))
        pat.__dict__["_threaded"] = plan
    return pat.__dict__["_threaded"]


def _threaded_body(pat, plan, names, accs):
    s = pat.body[plan.at]
    out = ["    if phase == 0:"]
    rest = body_src(pat.body[:plan.at], names, 2, accs)
    if not plan.shared:
        out += _loop_src(s, names, 2, accs, start="plo", stop="phi")
    else:
        head, units, nc, unit = _chunking(s, "        ")
        out += head + _chunks_src(s, names, 2, accs, plan.shared, units, nc, unit, "range(plo, phi)")
        rest += head + _combine_src(s, 2, accs, plan.shared, nc)
    rest += body_src(pat.body[plan.at + 1:], names, 2, accs)
    return out + ["    else:"] + (rest or ["        pass"])


def thread_units(pat, plan):
    """The driver's side: how many pieces phase 0 splits (loop iterations, or chunks)."""
    s = pat.body[plan.at]
    ext = s.extent if not isinstance(s.extent, Sym) else pat.values[[x.name for x in pat.syms].index(s.extent.name)]
    return _n_chunks(int(ext), BLOCK if _blockable(s) else 1) if plan.shared else int(ext)


def body_src(body, names, depth, accs=None):
    """Statements as Python source. `accs` renames accumulators: a private per-chunk copy, or
    ("terms", buffer, j) where a blocked loop stores the term instead of accumulating it."""
    accs = accs or {}
    return [line for s in body for line in _stmt_src(s, names, depth, accs)]


def _reduce_src(s, names, depth, accs):
    x, a = expr_src(s.expr, names), accs.get(s.acc.name, s.acc.name)
    return ["    " * depth + (f"{a[1]}[{a[2]}] = {x}" if isinstance(a, tuple) else _acc_update(a, s.acc.op, x))]


_stmt_src = statement_rules("numba_cpu renderer", {
    Loop: lambda s, names, depth, accs: (_parallel_src if s.parallel else _loop_src)(s, names, depth, accs),
    Store: lambda s, names, depth, accs: [
        f"{'    ' * depth}{names[s.buf.name]}[{index_src(s.index, names)}] {'+=' if s.accumulate else '='} "
        f"{expr_src(s.expr, names)}"],
    Def: lambda s, names, depth, accs: [f"{'    ' * depth}{s.acc.name} = {acc_init(s.acc)}"],
    Reduce: _reduce_src,
    Let: lambda s, names, depth, accs: [f"{'    ' * depth}{s.ref.name} = {expr_src(s.expr, names)}"],
}, covers=NEST_STATEMENTS)


FLAGS = ["nogil=True", "error_model='numpy'", "fastmath={" + ", ".join(map(repr, sorted(FASTMATH))) + "}"]
HEAD = ["import numpy as np", "from math import erf", "from numba import njit, prange",
        f"from codegen.fastmath import {', '.join(_MATH)}",
        f"from codegen.scalar import {', '.join(_HELPERS)}, kernel_jit", "", ""]


def render_pattern(pat, cache: bool) -> str:
    """Python source of one loop-nest kernel `kernel(b0, b1, ..., n0, f1, ...)` (`kernel_jit`:
    its arrays are `noalias`; buffers sharing storage are one argument). A threaded parallel
    pattern also takes `plo, phi, phase` and its per-chunk partial arrays (see `Threaded`)."""
    names = {f"b{i}": f"b{i}" for i in range(len(pat.buffers))}
    plan = threaded(pat)
    flags = [f"cache={cache}"] + FLAGS + (["parallel=True"] if pat.parallel and plan is None else [])
    args = [f"b{i}" for i in range(len(pat.buffers))] + [x.name for x in pat.syms]
    if plan is not None:
        args += ["plo", "phi", "phase"] + [f"part_{a.name}" for a in plan.shared]
    hoisted = _hoisted_terms(pat.body) if plan is not None or not pat.parallel else {}
    accs = {HOISTED: frozenset(hoisted)}
    body = [f"    {t} = np.empty({BLOCK}, np.{dt.name})" for t, dt in hoisted.items()]
    body += _threaded_body(pat, plan, names, accs) if plan is not None else body_src(pat.body, names, 1, accs)
    return "\n".join(HEAD + [f"@kernel_jit({', '.join(flags)})", f"def kernel({', '.join(args)}):"] + body) + "\n"


def pattern_signature(pat):
    """The kernel's argument types: ("a", dtype) for a 1-d C array, ("s", dtype) for a scalar."""
    plan = threaded(pat)
    extra = [] if plan is None else [("s", "int64")] * 3 + [("a", a.dtype.name) for a in plan.shared]
    return tuple([("a", b.dtype.name) for b in pat.buffers] + [("s", x.dtype.name) for x in pat.syms] + extra)


def numba_signature(sig):
    """Numba's types for a pattern signature (imports Numba)."""
    from . import start_numba
    start_numba()
    import numba
    from numba import types
    return tuple(types.Array(numba.from_dtype(np.dtype(d)), 1, "C") if k == "a" else numba.from_dtype(np.dtype(d))
                 for k, d in sig)


# ----------------------------------------------------------------------------- the driver
def _py_value(v):
    return repr(int(v)) if isinstance(v, (int, np.integer)) else repr(float(v))


def _array_view_src(v: View, name, cap):
    """A NumPy view expression for a MatMul operand or output (no copy); `cap`: the size of the
    array behind the buffer (a planned temporary may live in a larger one)."""
    item = v.buf.dtype.itemsize
    shape = tuple(v.shape)
    n = math.prod(shape)
    if tuple(v.strides) == cstrides(shape):
        return f"{name}.reshape({shape})" if v.offset == 0 and n == cap else \
            f"{name}[{v.offset}:{v.offset + n}].reshape({shape})"
    return (f"ndarray({shape}, {name}.dtype, buffer={name}, offset={v.offset * item}, "
            f"strides={tuple(s * item for s in v.strides)})")


def _matmul_src(mm: MatMul, a, b, o):
    """bmatmul (threads.py) for a stack of small products worth two threads, else np.matmul."""
    *stack, m, n = mm.out.shape
    k = mm.a.shape[-1]
    if stack and stack[0] > 1 and m * n * k <= SMALL_GEMM and math.prod(stack) * m * n * k >= 2 * SMALL_GEMM:
        split = [len(v.shape) == len(mm.out.shape) and v.shape[0] == stack[0] for v in (mm.a, mm.b)]
        return f"bmatmul({a}, {b}, {o}, {split[0]}, {split[1]})"
    return f"matmul({a}, {b}, out={o})"


def render_driver(k: Kernel, steps, any_rank=False) -> str:
    """A plain Python function `driver(p0, p1, ...)`: allocate outputs and temporaries, call each
    loop-nest kernel (`K0`, `K1`, ... in its namespace) and BLAS, return the flat outputs shaped.
    `any_rank`: the kernels take arrays of any rank (llvm_cpu's read only the data pointer), so
    a 0-d output is allocated 0-d (no reshape per call) unless BLAS views it."""
    lines = []
    caps = {b.name: b.size for b in k.params + k.outs}
    viewed = {v.buf.name for st in steps if isinstance(st, MatMul) for v in (st.a, st.b, st.out)}
    zero_d = {b.name for b in k.outs if not b.shape and b.name not in viewed} if any_rank else set()
    for i, (b, shape) in enumerate(zip(k.params, k.param_shapes)):
        lines.append(f"    {b.name} = p{i}" if len(shape) == 1 else f"    {b.name} = p{i}.reshape({b.size})")
    for b in k.outs:
        lines.append(f"    {b.name} = empty({'()' if b.name in zero_d else b.size}, {b.dtype.name})")
    # threaded reductions' per-chunk partials: (name, count, dtype), one list per step
    parts = [[(f"q{i}_{j}", thread_units(st[1], threaded(st[1])), a.dtype.name)
              for j, a in enumerate(threaded(st[1]).shared)]
             if not isinstance(st, MatMul) and threaded(st[1]) else [] for i, st in enumerate(steps)]
    own = [(t.name, max([t.size] + [u.size for u in k.temps if k.storage.get(u.name) == t.name]), t.dtype.name)
           for t in k.temps if t.name not in k.storage] + [q for p in parts for q in p]
    if own:   # temporaries are reused from call to call (a fresh large buffer costs page faults)
        names = ", ".join(name for name, _, _ in own) + ","
        lines += ["    scratch = take()", "    if scratch is None:", "        fresh()"]
        for name, n, dt in own:
            caps[name] = n
            lines.append(f"        {name} = empty({n}, {dt})")
        lines += ["    else:", f"        {names} = scratch"]
    for t in k.temps:
        if t.name in k.storage:
            caps[t.name] = caps[k.storage[t.name]]
            lines.append(f"    {t.name} = {k.storage[t.name]}")
    for step, step_parts in zip(steps, parts):
        if isinstance(step, MatMul):
            if step.out.buf.size and min(step.out.shape, default=1) > 0:
                a, b, o = (_array_view_src(v, v.buf.name, caps[v.buf.name]) for v in (step.a, step.b, step.out))
                lines.append(f"    {_matmul_src(step, a, b, o)}")
        else:
            kname, pat = step
            args = [b.name for b in pat.buffers] + [_py_value(v) for v in pat.values]
            plan = threaded(pat)
            if plan is None:
                lines.append(f"    {kname}({', '.join(args)})")
                continue
            qs = [q for q, _, _ in step_parts]
            units = thread_units(pat, plan)
            if pat.work < PARALLEL_MIN_WORK:    # (dynamic kernels are parallel-capable at every size)
                lines.append(f"    {kname}({', '.join(args + ['0', str(units), '0'] + qs)})")
            else:
                lines.append(f"    prun({kname}, ({', '.join(args)},), {units}, ({''.join(q + ', ' for q in qs)}))")
            if plan.phase1:
                lines.append(f"    {kname}({', '.join(args + ['0', '0', '1'] + qs)})")
    if own:
        lines.append(f"    give(({names}))")
    rets = [b.name if len(b.shape) == 1 or b.name in zero_d else f"{b.name}.reshape({tuple(b.shape)})"
            for b in k.outs]
    lines.append(f"    return ({', '.join(rets)}{',' if len(rets) == 1 else ''})")
    dts = sorted({b.dtype.name for b in k.outs + k.temps})
    head = [f"def driver({', '.join(f'p{i}' for i in range(len(k.params)))}):"]
    return "\n".join([f"# dtypes: {', '.join(dts)}"] + head + lines) + "\n"


def render(k: Kernel, cache: bool = True, dynamic=False) -> str:
    """All the source a Kernel becomes: the driver, then each distinct loop-nest kernel."""
    steps, kernels = plan_steps(k, dynamic)
    return "\n\n".join([render_driver(k, steps)] + [render_pattern(pat, cache) for pat in kernels.values()])


def plan_steps(k: Kernel, dynamic):
    """The driver's steps (MatMul, or (kernel name, Pattern)) and the distinct patterns by name;
    `dynamic`: False, True or a patterns.Generalizer."""
    nests = split_nests(k.body)
    pats = iter(abstract_all([n for n in nests if not isinstance(n[0], MatMul)], dynamic, k.storage))
    steps, kernels, by_src = [], {}, {}
    for nest in nests:
        if isinstance(nest[0], MatMul):
            steps.append(nest[0])
            continue
        pat = next(pats)
        pat.work = sum(loop_work(x) for x in nest)    # at this size: threads pay from PARALLEL_MIN_WORK
        t = pat.__dict__.get("template", pat)     # (a Generalizer's nests of one pattern share it)
        if not t.source:
            t.sig, t.source = pattern_signature(t), render_pattern(t, True)
        pat.sig, pat.source = t.sig, t.source
        src = (pat.source, str(pat.sig))   # one source can serve two dtypes
        name = by_src.get(src)
        if name is None:
            name = by_src[src] = f"K{len(kernels)}"
            kernels[name] = pat
        steps.append((name, pat))
    return steps, kernels


# ----------------------------------------------------------------------------- key and cache
def _dep_fingerprint():
    """What a compiled kernel depends on besides its source: the helpers and the compiler."""
    here = pathlib.Path(__file__).resolve().parent
    return source_fingerprint(here / f for f in ("fastmath.py", "scalar.py", "llvm_cpu.py"))[:16]


_DEPS = None


_NUMBA_VERSION = []


def _numba_version():
    """Without importing Numba (0.25 s): the cache key of every kernel includes it. Read from
    the name of its dist-info folder beside it (importlib.metadata's own import took 25 ms)."""
    if not _NUMBA_VERSION:
        import importlib.util
        spec = importlib.util.find_spec("numba")
        if spec is not None and spec.origin:
            site = os.path.dirname(os.path.dirname(spec.origin))
            found = [m.group(1) for m in map(re.compile(r"numba-([^-]+)\.dist-info$").match, os.listdir(site)) if m]
            if len(found) == 1:
                _NUMBA_VERSION.append(found[0])
                return found[0]
        from importlib import metadata
        try:
            _NUMBA_VERSION.append(metadata.version("numba"))
        except metadata.PackageNotFoundError:   # pragma: no cover - a source checkout of Numba
            import numba
            _NUMBA_VERSION.append(numba.__version__)
    return _NUMBA_VERSION[0]


def kernel_key(ir_text: str, source: str) -> str:
    global _DEPS
    if _DEPS is None:
        _DEPS = _dep_fingerprint()
    return content_key(ir_text, source, _numba_version(), np.__version__, _DEPS)


_MEM: dict = {}            # kernel key -> (dispatcher, entry point)
def _compile_memory(source, sig):
    sig = numba_signature(sig)
    ns = {}
    exec(compile(source, "<jitgrad kernel>", "exec"), ns)
    disp = ns["kernel"]
    disp.compile(sig)
    return disp


def _compile_disk(d: pathlib.Path, key, body, sig):
    """(dispatcher, loaded_from_numba_cache) for the kernel in `d`, compiling at most once
    across processes and recovering from corrupt files (kernel_cache.load_module)."""
    sig = numba_signature(sig)

    def load(mod):
        disp = mod.kernel
        disp.compile(sig)
        return disp, sum(disp.stats.cache_hits.values()) > 0
    return load_module(d, f"jg_{key}", key, body, load)[0]


@dataclass(eq=False)
class LoadedKernel:
    """One compiled loop-nest kernel; `origin`: "compiled" by this call, "disk" (Numba's cache)
    or "memory" (already loaded in this process)."""
    key: str
    source: str
    dispatcher: object
    entry: object
    origin: str


def _compiled_stems(d):
    """Kernel modules of `d` that Numba has an index for (one directory listing per program)."""
    try:
        return {n.split(".", 1)[0] for n in os.listdir(d / "__pycache__") if n.endswith(".nbi")}
    except OSError:
        return set()


def build_kernels(patterns, cache_dir):
    """{name: LoadedKernel} for a program's patterns: by LLVM directly where `llvm_cpu` can
    (about 20 ms a kernel), else by Numba. Numba's kernels neither in memory nor on disk are
    compiled here and, when there are several, partly in helper processes (`compile_pool`)."""
    specs = {n: (p, p.sig, p.source, kernel_key(str(p.sig), p.source)) for n, p in patterns.items()}
    _share_new_llvm_kernels(specs, cache_dir)
    direct = {n: _build_llvm(s[2], s[1], s[3], cache_dir) for n, s in specs.items()}
    if all(direct.values()):
        return direct
    out = build_numba_kernels({n: s for n, s in specs.items() if direct[n] is None}, cache_dir)
    return {n: direct[n] or out[n] for n in specs}


# new LLVM kernels from which a helper process joins in: one already running, or one to start
# (~0.3 s to start: below ~16 kernels of 25 ms the caller is done first; measured W8 1.7 -> 1.05 s,
# W9 1.7 -> 0.97 s, W2 and R4 no faster)
SHARE_MIN, SHARE_MIN_COLD = 4, 16


def _share_new_llvm_kernels(specs, cache_dir):
    if llvm_cpu.COMPILER != "llvm" or len(specs) < SHARE_MIN:
        return
    d = usable_dir(cache_path(cache_dir))
    if d is None:
        return
    new = [(d, key, source, sig) for _, sig, source, key in specs.values()
           if key not in _MEM and not (d / f"jgl_{key}.o").exists()]
    from . import compile_pool
    if len(new) >= (SHARE_MIN if compile_pool.running() else SHARE_MIN_COLD):
        compile_pool.share(new[::-1])


def _cached(key, source, make):
    """The LoadedKernel for `key`: from this process's memory, else `make()` -> (dispatcher,
    entry, origin) under the key's lock, once per process; None where `make` declines."""
    hit = _MEM.get(key)
    if hit is None:
        with key_lock(key):
            hit = _MEM.get(key)
            if hit is None:
                made = make()
                if made is None:
                    return None
                _MEM[key] = made[:2]
                return LoadedKernel(key, source, *made)
    return LoadedKernel(key, source, hit[0], hit[1], "memory")


def _build_llvm(source, sig, key, cache_dir):
    """A LoadedKernel compiled by llvm_cpu, or None where it cannot (Numba compiles it)."""
    def make():
        if llvm_cpu.COMPILER != "llvm":
            return None
        try:
            fn, origin = llvm_cpu.build(source, sig, key, usable_dir(cache_path(cache_dir)))
        except llvm_cpu.Unsupported:
            return None
        except Exception as exc:     # a bug here must not stop the program: Numba compiles it
            if os.environ.get("JITGRAD_LLVM_STRICT"):
                raise
            warnings.warn(f"jitgrad: compiling kernel {key} with LLVM failed ({exc!r}); using Numba",
                          RuntimeWarning)
            return None
        return None, fn, origin
    return _cached(key, source, make)


def build_numba_kernels(specs, cache_dir):
    d = cache_path(cache_dir)
    batch, sent = None, set()
    if d is not None and any(s[3] not in _MEM for s in specs.values()):
        from .compile_pool import submit
        stems = _compiled_stems(d)
        batch = submit([(d, key, body, sig) for _, sig, body, key in specs.values()
                        if key not in _MEM and f"jg_{key}" not in stems])
        sent = {k for _, keys in batch.sent for k in keys}
    out = {n: build_kernel(*s, cache_dir) for n, s in specs.items() if s[3] not in sent}
    helped = batch.wait() if batch is not None else set()
    for n, s in specs.items():           # the helpers' share: loaded from disk now
        if s[3] in sent:
            out[n] = build_kernel(*s, cache_dir)
            if s[3] in helped and out[n].origin == "disk":
                out[n].origin = "compiled"      # by a helper, for this call
    return {n: out[n] for n in specs}


def build_kernel(pat, sig, body, key, cache_dir) -> LoadedKernel:
    """The kernel for a pattern, from this process's memory, the disk cache, or Numba."""
    def make():
        disp, from_disk = None, False
        d = usable_dir(cache_path(cache_dir))
        if d is not None:
            try:
                disp, from_disk = _compile_disk(d, key, body, sig)
            except OSError as exc:
                warnings.warn(f"jitgrad: kernel cache directory {d} unusable ({exc}); "
                              f"compiling in memory only", RuntimeWarning)
        if disp is None:
            disp = _compile_memory(render_pattern(pat, cache=False), sig)
        return disp, disp.overloads[numba_signature(sig)].entry_point, "disk" if from_disk else "compiled"
    return _cached(key, body, make)


def _scratch_pool(group):
    """take() -> a set of temporaries a finished call gave back, or None; give(set). One set
    per concurrent call (list.pop and append are atomic); a call that raises gives nothing back.
    `group` lists the free sets of the other programs of one function (its other batch sizes):
    fresh(), called before a call allocates a set, makes them drop theirs, so the new set reuses
    that memory instead of faulting in new pages (W8 at a new batch size: 60-82 -> 31-33 ms,
    5800 page faults fewer); a size that comes back allocates again, from memory already touched."""
    free = []
    group = [] if group is None else group
    group.append(free)

    def take():
        try:
            return free.pop()
        except IndexError:
            return None

    def fresh():
        for other in group:
            if other is not free:
                other.clear()
    return take, free.append, fresh


def _driver_namespace(dtype_names, scratch_group=None):
    take, give, fresh = _scratch_pool(scratch_group)
    dtypes = ("float32", "float64", "int64", "bool", "complex64", "complex128", *dtype_names)
    return {"empty": np.empty, "matmul": np.matmul, "bmatmul": bmatmul, "ndarray": np.ndarray, "prun": prun,
            "take": take, "give": give, "fresh": fresh, **{t: np.dtype(t) for t in dtypes}}


# ----------------------------------------------------------------------------- driver code
_NUMBER = re.compile(r"(?<![\w.])(?:\d+\.\d*(?:[eE][-+]?\d+)?|\d+[eE][-+]?\d+|\d+)(?![\w.])")
_MARK = 1 << 50          # number k of a driver's source compiles as the marker _MARK + k (+ 0.5: a float)
_SKELETONS: dict = {}    # a driver's source with its numbers marked -> its code object


class _NotMarked(Exception):
    """A number in the code is not one of the source's (the compiler folded some): compile it."""


def driver_code(src, filename="<jitgrad driver>"):
    """compile(src) of a driver, mostly without compiling: the drivers of one program at other
    batch sizes differ only in their numbers, so a source compiles once with a marker in place
    of each number and each size gets that code with its own numbers put back (compile() of a
    32-step RNN's driver took 10 ms, the largest single step of a new size). Tests check every
    such code against a fresh compile ($JITGRAD_VERIFY_IR)."""
    nums = []

    def mark(m):
        s = m.group(0)
        nums.append(float(s) if any(c in s for c in ".eE") else int(s))
        return repr(_MARK + len(nums) - 1 + (0.5 if isinstance(nums[-1], float) else 0))
    marked = _NUMBER.sub(mark, src)
    code = _SKELETONS.get(marked)
    if code is None:
        if len(_SKELETONS) >= 256:                       # the oldest goes: a bounded cache
            del _SKELETONS[next(iter(_SKELETONS))]
        code = _SKELETONS[marked] = compile(marked, "<jitgrad driver>", "exec")
    try:
        out = _put_numbers(code, nums, filename)
    except _NotMarked:
        return compile(src, filename, "exec")
    if os.environ.get("JITGRAD_VERIFY_IR") == "1" and not _same_code(out, compile(src, filename, "exec")):
        raise AssertionError(f"driver code with its numbers put back differs from its source:\n{src}")
    return out


def _put_numbers(c, nums, filename):
    t = type(c)
    if t is int or t is float:
        k = abs(c) - _MARK - (0.5 if t is float else 0)
        if not (0 <= k < len(nums) and k == int(k) and type(nums[int(k)]) is t):
            raise _NotMarked(c)
        return nums[int(k)] if c > 0 else -nums[int(k)]
    if t in (tuple, frozenset):
        return t(_put_numbers(x, nums, filename) for x in c)
    if t is slice:
        return slice(*(_put_numbers(x, nums, filename) for x in (c.start, c.stop, c.step)))
    if t is types.CodeType:
        return c.replace(co_consts=tuple(_put_numbers(x, nums, filename) for x in c.co_consts), co_filename=filename)
    if t is complex or (t is str and str(_MARK)[:8] in c):
        raise _NotMarked(c)
    return c


def _same_code(a, b):
    """The same instructions on the same values (constant slots may be numbered differently:
    the compiler merges equal numbers of a source, not distinct markers)."""
    import dis

    def steps(c):
        return [(i.opname, None if i.opcode in dis.hasjrel + dis.hasjabs else
                 ("code", steps(i.argval)) if isinstance(i.argval, types.CodeType) else (type(i.argval), i.argval))
                for i in dis.get_instructions(c) if i.opname not in ("EXTENDED_ARG", "CACHE")]
    return steps(a) == steps(b)


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


def layout_of(kernel: Kernel):
    """What calling a compiled program needs of its Kernel: the arguments' shapes and dtypes,
    the dtypes its driver names, how the outputs come out (a program-cache record keeps this)."""
    return {"params": [(tuple(int(n) for n in s), b.dtype.str) for b, s in zip(kernel.params, kernel.param_shapes)],
            "dtypes": sorted({b.dtype.name for b in kernel.params + kernel.outs + kernel.temps}),
            "plan": [("lit", p[1].item(), p[1].dtype.str) if p[0] == "lit" else p for p in output_plan(kernel)]}


class Compiled:
    """A compiled Program: `Compiled(*invar_values, *const_values) -> sequence of fresh ndarrays`.

    A generated Python driver allocates the buffers and calls one cached kernel per distinct
    loop-nest pattern (and BLAS for matmuls); `kernels` says where each kernel came from."""

    from_program_cache = False      # True: driver and layout read from the disk (program_cache)

    def __init__(self, program, kernel, driver_src, kernels, dynamic, seconds, scratch_group=None, layout=None,
                 code=None):
        """`kernel`: the Kernel IR, or a function that rebuilds it (a program-cache hit, which
        brings `layout` and the driver's `code` instead)."""
        self.program, self.dynamic = program, dynamic
        self._kernel = kernel
        self.kernels = kernels                      # {driver name: LoadedKernel}
        self.driver_source = driver_src
        self.source = "\n\n".join([driver_src] + [f"# {name}: {lk.key} ({lk.origin})\n{lk.source}"
                                                  for name, lk in kernels.items()])
        h = hashlib.sha256(driver_src.encode())
        for lk in kernels.values():
            h.update(lk.key.encode())
        self.key = h.hexdigest()[:32]
        self.compiled_kernels = sum(lk.origin == "compiled" for lk in kernels.values())
        self.from_disk_cache = bool(kernels) and all(lk.origin != "compiled" for lk in kernels.values())
        self.compile_seconds = seconds
        self.timings = {}   # seconds by phase: "passes" (IR pipeline), "numba" (compile or disk load)
        self.layout = layout = layout or layout_of(kernel)
        ns = _driver_namespace(layout["dtypes"], scratch_group)
        ns.update({name: lk.entry for name, lk in kernels.items()})
        self.code = code or driver_code(driver_src, f"<jitgrad driver {self.key[:12]}>")
        exec(self.code, ns)
        self._entry = ns["driver"]
        self._spec = tuple((tuple(s), np.dtype(d), _cstrides_bytes(s, np.dtype(d))) for s, d in layout["params"])
        self._n = len(self._spec)
        self._plan = plan = [("lit", np.asarray(p[1], dtype=p[2])) if p[0] == "lit" else p for p in layout["plan"]]
        self._simple = all(p[0] == "k" for p in plan)

    @property
    def kernel(self):
        """The loop IR (for explain and tests; rebuilt on first use after a program-cache hit)."""
        if callable(self._kernel):
            self._kernel = self._kernel()
        return self._kernel

    @functools.cached_property
    def ir(self):
        """The loop IR as text (for explain and tests; a 32-step RNN's takes 6 ms to print)."""
        return format_kernel(self.kernel)

    def __call__(self, *arrays):
        if len(arrays) != self._n:
            raise TypeError(f"compiled program takes {self._n} arrays, got {len(arrays)}")
        for a, (shape, dt, st) in zip(arrays, self._spec):
            if a.__class__ is not np.ndarray or a.dtype is not dt or a.strides != st or a.shape != shape:
                arrays = [self._coerce(a, shape, dt) for a, (shape, dt, _) in zip(arrays, self._spec)]
                break
        res = self._entry(*arrays)
        if self._simple:
            return res
        return [res[p[1]] if p[0] == "k" else res[p[1]].copy() if p[0] == "copy" else p[1].copy()
                for p in self._plan]

    @staticmethod
    def _coerce(a, shape, dt):
        if is_device_array(a):
            # a device array given to CPU kernels: copied to the host each call, as at the trace
            a = a.copy_to_host() if hasattr(a, "copy_to_host") else _cuda_to_host(a)
        a = np.asarray(a)
        if a.shape != shape:
            raise ValueError(f"compiled for an argument of shape {shape}, got {a.shape}")
        if a.dtype != dt or not a.flags.c_contiguous or a.dtype.byteorder not in "=|":
            a = np.ascontiguousarray(a, dtype=dt)   # non-contiguous views: one copy
            if a.dtype.byteorder not in "=|":
                a = a.astype(dt.newbyteorder("="))
        return a

    def __repr__(self):
        return f"<Compiled {self.key} in={self._n} out={len(self._plan)} kernels={len(self.kernels)}>"


def _cuda_to_host(a):
    from numba import cuda
    return cuda.as_cuda_array(a).copy_to_host()


def _cstrides_bytes(shape, dt):
    st, acc = [], np.dtype(dt).itemsize
    for n in reversed(shape):
        st.append(acc)
        acc *= n
    return tuple(reversed(st))


def compile_kernel(program, k: Kernel, cache_dir, t0, passes_seconds=0.0, dynamic=False, scratch_group=None):
    t1 = time.perf_counter()
    steps, patterns = plan_steps(k, dynamic)
    kernels = build_kernels(patterns, cache_dir)
    c = Compiled(program, k, render_driver(k, steps, _any_rank(kernels)), kernels, dynamic, time.perf_counter() - t0,
                 scratch_group)
    c.timings = {"passes": passes_seconds, "numba": time.perf_counter() - t1}
    c.signatures = {name: pat.sig for name, pat in patterns.items()}
    return c


@dataclass
class _Stored:
    """A kernel named by a program-cache record: what build_kernels reads of a Pattern."""
    sig: tuple
    source: str


def program_record(c: Compiled):
    """What `from_record` needs to rebuild `c` in another process (see program_cache)."""
    return {"driver": c.driver_source, "code": c.code, "layout": c.layout, "any_rank": _any_rank(c.kernels),
            "kernels": [(name, c.signatures[name], lk.source) for name, lk in c.kernels.items()]}


def _any_rank(kernels):
    return all(lk.dispatcher is None for lk in kernels.values())


class StaleRecord(Exception):
    """A program-cache record whose driver does not fit the kernels loaded now."""


def from_record(program, record, rebuild, cache_dir, t0, dynamic=False, scratch_group=None):
    """The Compiled a record describes; its kernels load as any kernel does (or compile, where
    their files are gone). `rebuild()` gives the Kernel IR if someone asks for it."""
    patterns = {name: _Stored(sig, source) for name, sig, source in record["kernels"]}
    kernels = build_kernels(patterns, cache_dir)
    if _any_rank(kernels) != record["any_rank"]:   # (one kernel came from Numba this time, or no longer)
        raise StaleRecord("its driver was rendered for kernels built another way")
    c = Compiled(program, rebuild, record["driver"], kernels, dynamic, time.perf_counter() - t0, scratch_group,
                 layout=record["layout"], code=record["code"])
    c.timings = {"passes": 0.0, "numba": time.perf_counter() - t0}
    c.signatures = {name: p.sig for name, p in patterns.items()}
    c.from_program_cache = True
    return c


def check_record(c: Compiled, k: Kernel, dynamic):
    """$JITGRAD_VERIFY_IR: a program-cache hit is what compiling its program now would give."""
    steps, patterns = plan_steps(k, dynamic)
    src = render_driver(k, steps, _any_rank(c.kernels))
    fresh = [(name, pat.sig, pat.source) for name, pat in patterns.items()]
    stored = [(name, c.signatures[name], lk.source) for name, lk in c.kernels.items()]
    if src != c.driver_source or fresh != stored or layout_of(k) != c.layout:
        raise AssertionError(f"a cached program differs from its fresh compile:\n{c.driver_source}\n---\n{src}")
