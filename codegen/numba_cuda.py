"""CUDA backend: the loop IR compiled to numba-cuda kernels.

`compile_cuda(program)` runs the pass pipeline the CPU backend runs (fusion, CSE, buffer
planning all happen there, once, on the same `Kernel`) and renders that Kernel for a GPU.
Each top-level group of statements becomes one CUDA kernel (two for a split reduction):

- a MatMul: a tiled shared-memory matmul over its strided views (batched; transposed operands
  are strides, never copies);
- a loop nest whose body is straight-line code (elementwise stores, lets): one thread per point
  of its outer loops, grid-stride;
- a loop nest with inner loops (reductions, softmax rows, column sums): one block per point of
  its outer loops. The block's threads share each inner loop's iterations and combine their
  accumulators with a shared-memory tree (deterministic: no float atomics). When the outer loops
  have too few points to fill the GPU, the first inner loop is split over several blocks that
  write partials, and a second kernel combines them and runs the rest of the body;
- statements outside any loop (a full reduction's accumulator and its output) are a group whose
  outer loops are empty.
Scatter-adds are `cuda.atomic.add`. A GPU kernel cannot raise, so an out-of-range index array
sets an error flag that the launcher turns into an IndexError. Only `cuda.grid`, fixed-size
shared arrays, `syncthreads`, atomics and scalar math are used: the same kernels run on a GPU
and under `NUMBA_ENABLE_CUDASIM=1`.

The kernels and their host-side launcher are one generated module, written to
`<cache_dir>/cuda/<key>.py` and imported from there with `cuda.jit(cache=True)`, so a new process
reuses numba-cuda's on-disk cache of the compiled kernels (under the simulator kernels run as
Python: nothing to cache).
"""
from __future__ import annotations

import pathlib
import math
import sys
import tempfile
import threading
import time

import numpy as np

from tracer.tensor import is_device_array

from .ir import ALU, BOOL, NEST_STATEMENTS, Acc, Def, Let, LetRef, Load, Loop, MatMul, Reduce, Store, format_kernel, \
    loop_work, reduced_accs, statement_rules, stmt_exprs, walk_expr, walk_stmts
from .kernel_cache import cache_path, content_key, import_file, load_module, usable_dir
from .numba_cpu import RENDER as CPU_RENDER, acc_init, const_src, expr_src, output_plan
from .lower import affine

FORMAT_VERSION = "cuda-6"


# ----------------------------------------------------------------------------- availability
class CudaUnavailableError(RuntimeError):
    pass


def simulator_enabled():
    from numba import config
    return bool(getattr(config, "ENABLE_CUDASIM", 0))


def gpu_available():
    """A real GPU usable by numba-cuda (False under the simulator or without numba-cuda)."""
    if simulator_enabled():
        return False
    try:
        from numba import cuda
        return bool(cuda.is_available())
    except Exception:
        return False


def _lock_simulator_shared_arrays():
    """numba-cuda's simulator allocates a block's shared array on first use with an unlocked
    check-then-set (keyed by the calling line), so two threads can each get their own array and
    a tree reduction reads stale values (seen as wrong sums once threads switch often). The
    same allocation, under a lock."""
    from numba.cuda.simulator import kernelapi
    shared = kernelapi.FakeCUDAShared
    if getattr(shared.array, "locked", False):
        return
    unlocked, lock = shared.array, threading.Lock()

    def array(self, shape, dtype, alignment=None):
        if alignment is not None or shape == 0:
            return unlocked(self, shape, dtype, alignment)
        if isinstance(dtype, kernelapi.types.Type):
            dtype = kernelapi.numpy_support.as_dtype(dtype)
        frame = sys._getframe(1)
        caller = (frame.f_code.co_filename, frame.f_lineno)
        with lock:
            res = self._allocations.get(caller)
            if res is None:
                res = self._allocations[caller] = np.empty(shape, dtype)
        return res
    array.locked = True
    shared.array = array


def cuda_usable():
    """The CUDA backend can run: a GPU, or the simulator."""
    return simulator_enabled() or gpu_available()


def require_cuda():
    if not cuda_usable():
        raise CudaUnavailableError(
            "jitgrad backend='cuda': no GPU was found (numba.cuda.is_available() is False) and the "
            "CUDA simulator is off. Use backend='cpu' (or backend='auto', which falls back to the "
            "CPU), or set NUMBA_ENABLE_CUDASIM=1 before numba is imported to run the CUDA kernels "
            "on the CPU simulator.")


# ----------------------------------------------------------------------------- launch geometry
class Config:
    """Launch geometry. The simulator runs every CUDA thread as a Python thread: small blocks,
    few of them, so that tests still cross block boundaries and split reductions."""

    def __init__(self, sim):
        self.sim = sim
        self.block = 16 if sim else 256          # threads per block, one thread per point
        self.max_blocks = 4 if sim else 4096     # grid-stride beyond this
        self.rblock = 8 if sim else 256          # threads per block sharing inner loops (power of 2)
        self.min_rblock = 2 if sim else 32       # a warp at least
        self.serial = 4 if sim else 32           # inner loops this short: one thread per point
        self.items = 2 if sim else 16            # iterations per thread before splitting over blocks
        self.max_partials = 4 if sim else 1024
        self.split_below = 2 if sim else 128     # outer points below which long loops are split
        self.max_rblocks = 4 if sim else 32768
        self.tile = 4 if sim else 16             # matmul tile (tile x tile threads)


# ----------------------------------------------------------------------------- grouping
def _symbols(stmts):
    """Accumulators and lets a statement list reads or updates."""
    out = set()
    for s in walk_stmts(stmts):
        if isinstance(s, Reduce):
            out.add(s.acc)
        for e in stmt_exprs(s):
            out |= {x for x in walk_expr(e) if isinstance(x, (Acc, LetRef))}
    return out


def groups(body):
    """Top-level statements in launch units: a MatMul, or (outer loops, body per point). A
    top-level Def or Let starts a unit that runs until the last statement using what it
    declares (a full reduction: `acc = 0; for ...: acc += ...; out[0] = acc`)."""
    declared = {}
    for k, s in enumerate(body):
        if isinstance(s, (Def, Let)):
            declared[s.acc if isinstance(s, Def) else s.ref] = k
    last = {}
    for k, s in enumerate(body):
        for x in _symbols([s]):
            if x in declared:
                last[x] = k
    out, k = [], 0
    while k < len(body):
        s = body[k]
        if isinstance(s, MatMul):
            out.append(s)
            k += 1
            continue
        end, j = k, k
        while j <= end:
            t = body[j]
            if isinstance(t, (Def, Let)):
                end = max(end, last.get(t.acc if isinstance(t, Def) else t.ref, j))
            j += 1
        unit = body[k:end + 1]
        if any(isinstance(t, MatMul) for t in unit):
            raise NotImplementedError("cuda backend: a matmul inside a reduction's statements")
        if len(unit) == 1 and isinstance(s, Loop):
            outer = _perfect(s)
            out.append((outer, outer[-1].body))
        else:
            out.append(([], unit))
        k = end + 1
    return out


def _perfect(loop):
    """A loop and the loops perfectly nested in it: shared by a block's threads as one."""
    loops = [loop]
    while len(loops[-1].body) == 1 and isinstance(loops[-1].body[0], Loop):
        loops.append(loops[-1].body[0])
    return loops


def _coalesced(body, var):
    """How many loads in `body` move by one element as `var` does: the loads that neighbouring
    threads coalesce when `var` runs across them (a column sum: the outer loop's variable, so
    a thread per column beats a block per column walking rows)."""
    lets = {s.ref: s.expr for s in walk_stmts(body) if isinstance(s, Let)}

    def resolve(e):
        if isinstance(e, LetRef) and e in lets:
            return resolve(lets[e])
        if isinstance(e, ALU):
            return ALU(e.op, tuple(resolve(x) for x in e.srcs), e.dtype)
        return e
    n = 0
    for s in walk_stmts(body):
        for e in stmt_exprs(s):
            for x in walk_expr(e):
                if isinstance(x, Load):
                    a = affine(resolve(x.index))
                    n += a is not None and a[0].get(var) == 1
    return n


def _pow2(n):
    p = 1
    while p < n:
        p *= 2
    return p


# ----------------------------------------------------------------------------- rendering
_MATH = "exp log log1p expm1 sqrt sin cos tanh".split()


# complex arguments: Numba's CUDA target has cmath's exp, log, sqrt, sin, cos and tanh
_CMATH = {"expm1": "(cmath.exp({0}) - 1)", "log1p": "cmath.log(1 + {0})"}


def _cuda_math(name):
    def render(a, dt):
        kind = np.dtype(dt).kind
        if kind == "c":
            return _CMATH.get(name, f"cmath.{name}({{0}})").format(a[0])
        if kind != "f":
            raise NotImplementedError(f"cuda backend: {name} of {dt}")
        return f"{name}({a[0]})"
    return render


def _typed(fn):
    """Typed literals keep float32 arithmetic in float32."""
    return lambda a, dt: fn(a, const_src(0, dt), const_src(1, dt))


# the CPU table, with the ops whose CPU spelling (codegen.fastmath / codegen.scalar helpers) has
# no CUDA counterpart replaced
RENDER = {**CPU_RENDER,
          "relu": _typed(lambda a, z, o: f"({z} if {a[0]} <= {z} else {a[0]})"),
          "sign": _typed(lambda a, z, o: f"({o} if {a[0]} > {z} else ((-{o}) if {a[0]} < {z} else {a[0]}))"),
          "sigmoid": lambda a, dt: f"sigmoid_{np.dtype(dt).name}({a[0]})",
          "softplus": lambda a, dt: f"softplus_{np.dtype(dt).name}({a[0]})",
          "pow": lambda a, dt: f"({a[0]} ** {a[1]})",
          "wrap_index": lambda a, dt: f"wrap_index({a[0]}, {a[1]}, err)",
          "erf": lambda a, dt: f"math.erf({a[0]})",
          "conj": lambda a, dt: f"({a[0]}).conjugate()",
          **{op: _cuda_math(op) for op in _MATH}}


def _index(e, names):
    return expr_src(e, names, _index, RENDER)


def expr(e):
    return expr_src(e, _NAMES, _index, RENDER)


class _Names(dict):
    """Buffers keep their IR names inside CUDA kernels (they are the kernels' parameters)."""
    def __missing__(self, k):
        return k


_NAMES = _Names()


def _combine(op, a, b):
    return f"{a} + {b}" if op == "sum" else f"maximum({a}, {b})"


def _delinearize(flat, loops, pad):
    """Lines setting each loop variable from a flat index over the extents; `loops`: Loops,
    or (name, extent) pairs."""
    pairs = [(lp.var.name, lp.extent) if isinstance(lp, Loop) else lp for lp in loops]
    live = [(v, n) for v, n in pairs if n != 1]
    lines = [f"{pad}{v} = 0" for v, n in pairs if n == 1]
    q = flat
    for j, (v, n) in enumerate(reversed(live)):
        if j == len(live) - 1:
            lines.append(f"{pad}{v} = {q}")
        else:
            lines += [f"{pad}{v} = {q} % {n}", f"{pad}_q{j} = {q} // {n}"]
            q = f"_q{j}"
    return lines


def serial(body, pad):
    """Statements run by one thread, in order (what the CPU backend does per iteration)."""
    return [line for s in body for line in _serial(s, pad)]


def _store_src(s, pad):
    if not s.accumulate:
        return [f"{pad}{s.buf.name}[{_index(s.index, _NAMES)}] = {expr(s.expr)}"]
    if s.buf.dtype == BOOL:
        raise NotImplementedError("cuda backend: scatter-add of booleans")
    return [f"{pad}cuda.atomic.add({s.buf.name}, {_index(s.index, _NAMES)}, {expr(s.expr)})"]


_serial = statement_rules("cuda renderer", {
    Loop: lambda s, pad: [f"{pad}for {s.var.name} in range({s.extent}):",
                          *(serial(s.body, pad + "    ") or [pad + "    pass"])],
    Store: _store_src,
    Def: lambda s, pad: [f"{pad}{s.acc.name} = {acc_init(s.acc)}"],
    Reduce: lambda s, pad: [f"{pad}{s.acc.name} = {_combine(s.acc.op, s.acc.name, expr(s.expr))}"],
    Let: lambda s, pad: [f"{pad}{s.ref.name} = {expr(s.expr)}"],
}, covers=NEST_STATEMENTS)


def _tree(acc, rb, pad):
    """Combine each thread's `acc` over the block into `_b_<acc>` (the value before the loop);
    every thread ends with the total."""
    sm, total = f"sm_{acc.dtype.name}", f"_t_{acc.name}"
    return [f"{pad}{sm}[tid] = {acc.name}",
            f"{pad}cuda.syncthreads()",
            f"{pad}_s = {rb // 2}",
            f"{pad}while _s > 0:",
            f"{pad}    if tid < _s:",
            f"{pad}        {sm}[tid] = {_combine(acc.op, f'{sm}[tid]', f'{sm}[tid + _s]')}",
            f"{pad}    cuda.syncthreads()",
            f"{pad}    _s //= 2",
            f"{pad}{total} = {sm}[0]",
            f"{pad}cuda.syncthreads()",
            f"{pad}{acc.name} = {_combine(acc.op, f'_b_{acc.name}', total)}"]


def _restart(acc, pad):
    """Keep the value so far; each thread then accumulates its share from the identity."""
    return [f"{pad}_b_{acc.name} = {acc.name}", f"{pad}{acc.name} = {acc_init(acc)}"]


def _block_head(accs, rb):
    """Thread id and one shared array per accumulator dtype (trees run one after another)."""
    dts = sorted({a.dtype.name for a in accs})
    return ["    tid = cuda.threadIdx.x"] + [f"    sm_{d} = cuda.shared.array({rb}, {'boolean' if d == 'bool' else d})"
                                            for d in dts]


def _tree_accs(body):
    return [a for s in body if isinstance(s, Loop) for a in reduced_accs(s)]


def _buffers(stmts):
    names = set()
    for s in walk_stmts(stmts):
        if isinstance(s, Store):
            names.add(s.buf.name)
        elif isinstance(s, MatMul):
            names |= {s.out.buf.name, s.a.buf.name, s.b.buf.name}
        for e in stmt_exprs(s):
            names |= {x.buf.name for x in walk_expr(e) if isinstance(x, Load)}
    return names


def _checks_index(stmts):
    return any(x.op == "wrap_index" for s in walk_stmts(stmts) for e in stmt_exprs(s)
               for x in walk_expr(e) if hasattr(x, "op"))


_HEADER = '''\
# generated by jitgrad codegen.numba_cuda ({version}); {mode}
import cmath
import math
import numpy as np
from numba import cuda, boolean, complex64, complex128, float32, float64, int8, int16, int32, int64, uint8, uint16, uint32, uint64
from tracer import rng as _rng
{math}


@cuda.jit(device=True)
def maximum(a, b):
    return a if (a > b or a != a) else b


@cuda.jit(device=True)
def minimum(a, b):
    return a if (a < b or a != a) else b


@cuda.jit(device=True)
def wrap_index(i, n, err):
    j = i + n if i < 0 else i
    if j < 0 or j >= n:
        err[0] = 1
        return 0
    return j


hash_uniform = cuda.jit(device=True)(_rng.hash_uniform)   # tracer.rng: the same bits as eager

'''

_FLOAT_HELPERS = '''
@cuda.jit(device=True)
def sigmoid_{t}(x):
    e = exp(-abs(x))
    return {o} / ({o} + e) if x >= {z} else e / ({o} + e)


@cuda.jit(device=True)
def softplus_{t}(x):
    return (x if x > {z} else {z}) + log1p(exp(-abs(x)))

'''


class Generator:
    """One Kernel's CUDA module: kernels, then `launch(bufs)` calling them in order."""

    def __init__(self, k, cfg):
        self.k, self.cfg = k, cfg
        self.src, self.launch, self.schedule, self.partials = [], [], [], []
        self.n = 0

    def kernel(self, params, body, geometry, what):
        name = f"k{self.n}"
        self.n += 1
        self.src += ["@cuda.jit(cache=True)", f"def {name}({', '.join(params)}):"] + body + [""]
        self.launch.append(f"    {name}[{geometry}]({', '.join(params)})")
        self.schedule.append(f"{name}: {what}")
        return name

    def params(self, stmts, extra=()):
        p = sorted(_buffers(stmts)) + list(extra)
        return p + (["err"] if _checks_index(stmts) else [])

    # ------------------------------------------------------------------ loop nests
    def group(self, outer, body):
        points = math.prod(lp.extent for lp in outer)
        if points == 0:
            return
        coop = [s for s in body if isinstance(s, Loop)]
        work = max((loop_work(s) for s in coop), default=0)
        shape = "x".join(str(lp.extent) for lp in outer) or "1"
        if work < self.cfg.serial or (points >= 4 * self.cfg.block and _coalesced(body, outer[-1].var) > sum(
                _coalesced(body, _perfect(s)[-1].var) for s in coop)):
            return self.points(outer, body, points, shape)
        first = next(i for i, s in enumerate(body) if isinstance(s, Loop))
        loop = body[first]
        n = math.prod(lp.extent for lp in _perfect(loop))
        if (points < self.cfg.split_below and n > self.cfg.rblock * self.cfg.items and reduced_accs(loop)
                and all(isinstance(s, (Def, Let)) for s in body[:first]) and not self._reread(body[:first], body)):
            return self.split(outer, body, first, n, points, shape)
        rb = max(self.cfg.min_rblock, min(self.cfg.rblock, _pow2(work)))
        lines = [f"    for gp in range(cuda.blockIdx.x, {points}, cuda.gridDim.x):"]
        lines += _delinearize("gp", outer, "        ") + self.cooperative(body, rb, "        ")
        lines.append("        cuda.syncthreads()")
        self.kernel(self.params(body), _block_head(_tree_accs(body), rb) + lines,
                    f"{min(points, self.cfg.max_rblocks)}, {rb}",
                    f"a block of {rb} per point of [{shape}], sharing inner loops of {work}")

    def points(self, outer, body, points, shape):
        blk = self.cfg.block
        grid = max(1, min(-(-points // blk), self.cfg.max_blocks))
        lines = ["    for gp in range(cuda.grid(1), %d, cuda.gridsize(1)):" % points]
        lines += _delinearize("gp", outer, "        ") + serial(body, "        ")
        self.kernel(self.params(body), lines, f"{grid}, {blk}", f"a thread per point of [{shape}]")

    def _reread(self, prefix, body):
        """Prefix lets reload buffers the body overwrites (storage shared in place): the split's
        second kernel recomputing them would read the new values."""
        st = self.k.storage
        loaded = {st.get(n, n) for n in _buffers(prefix)}
        written = {st.get(s.buf.name, s.buf.name) for s in walk_stmts(body) if isinstance(s, Store)}
        return bool(loaded & written)

    def cooperative(self, body, rb, pad, start="tid", step=None):
        lines = self._cooperative(body, rb, pad, start, step)
        return [ln for j, ln in enumerate(lines)      # no barrier right after another
                if not (j and ln.strip() == lines[j - 1].strip() == "cuda.syncthreads()")]

    def _cooperative(self, body, rb, pad, start, step):
        """A point's statements run by a whole block: inner loops are shared among its threads
        (each iteration by one thread, in order), straight-line statements run on every thread
        (stores on thread 0 only), with barriers so every write is seen by the next statement."""
        out = []
        step = step or str(rb)
        for s in body:
            if isinstance(s, Loop):
                loops = _perfect(s)
                n = math.prod(lp.extent for lp in loops)
                accs = reduced_accs(s)
                for a in accs:
                    out += _restart(a, pad)
                out.append(f"{pad}cuda.syncthreads()")
                out.append(f"{pad}for _it in range({start}, {n}, {step}):")
                out += _delinearize("_it", loops, pad + "    ")
                out += serial(loops[-1].body, pad + "    ") or [pad + "    pass"]
                out.append(f"{pad}cuda.syncthreads()")
                for a in accs:
                    out += _tree(a, rb, pad)
            elif isinstance(s, Store):
                out += [f"{pad}cuda.syncthreads()", f"{pad}if tid == 0:"] + serial([s], pad + "    ")
                out.append(f"{pad}cuda.syncthreads()")
            else:
                out += serial([s], pad)
        return out

    def split(self, outer, body, first, n, points, shape):
        """The first inner loop (n iterations) over P blocks per point, partial accumulators to
        a buffer; a second kernel combines them (in block order: deterministic) and runs the rest."""
        cfg = self.cfg
        loop = body[first]
        rb = cfg.rblock
        P = min(cfg.max_partials, -(-n // (rb * cfg.items)))
        accs = reduced_accs(loop)
        parts = []
        for a in accs:
            name = f"part{len(self.partials)}"
            self.partials.append((name, points * P, a.dtype))
            parts.append(name)
        prefix = body[:first]
        pad = "        "
        lines = [f"    for gb in range(cuda.blockIdx.x, {points * P}, cuda.gridDim.x):",
                 f"        gp = gb // {P}", f"        _p = gb % {P}"]
        lines += _delinearize("gp", outer, pad) + serial(prefix, pad)
        lines += self.cooperative([loop], rb, pad, start=f"_p * {rb} + tid", step=str(P * rb))
        lines.append(f"{pad}if tid == 0:")
        lines += [f"{pad}    {p}[gb] = {a.name}" for p, a in zip(parts, accs)]
        lines.append(f"{pad}cuda.syncthreads()")
        self.kernel(self.params(body[:first + 1], parts), _block_head(accs, rb) + lines,
                    f"{min(points * P, cfg.max_rblocks)}, {rb}",
                    f"{P} blocks of {rb} per point of [{shape}] share a loop of {n}: partials")
        lines = [f"    for gp in range(cuda.blockIdx.x, {points}, cuda.gridDim.x):"]
        lines += _delinearize("gp", outer, pad) + serial(prefix, pad)
        for p, a in zip(parts, accs):
            lines += _restart(a, pad) + [f"{pad}for _q in range(tid, {P}, {rb}):",
                                         f"{pad}    {a.name} = {_combine(a.op, a.name, f'{p}[gp * {P} + _q]')}"]
            lines += _tree(a, rb, pad)
        rest = body[first + 1:]
        lines += self.cooperative(rest, rb, pad)
        lines.append(f"{pad}cuda.syncthreads()")
        self.kernel(self.params(prefix + rest, parts), _block_head(accs + _tree_accs(rest), rb) + lines, f"{min(points, cfg.max_rblocks)}, {rb}",
                    f"combine {P} partials per point of [{shape}], then the rest")

    # ------------------------------------------------------------------ matmul
    def matmul(self, m):
        o, a, b = m.out, m.a, m.b
        M, N = o.shape[-2], o.shape[-1]
        K = a.shape[-1]
        batch = o.shape[:-2]
        nb = math.prod(batch)
        if M == 0 or N == 0 or nb == 0:
            return
        T = self.cfg.tile
        dt = o.buf.dtype.name
        z = const_src(0, o.buf.dtype)

        def at(v, r, c):
            terms = [f"{v.offset}"] + [f"_z{j} * {s}" for j, s in enumerate(v.strides[:-2]) if s and batch[j] != 1]
            terms += [f"({r}) * {v.strides[-2]}", f"({c}) * {v.strides[-1]}"]
            return f"{v.buf.name}[{' + '.join(terms)}]"
        lines = ["    _tx = cuda.threadIdx.x", "    _ty = cuda.threadIdx.y",
                 f"    _col = cuda.blockIdx.x * {T} + _tx", f"    _row = cuda.blockIdx.y * {T} + _ty",
                 f"    _sa = cuda.shared.array(({T}, {T}), {dt})", f"    _sb = cuda.shared.array(({T}, {T}), {dt})",
                 f"    for _zz in range(cuda.blockIdx.z, {nb}, cuda.gridDim.z):"]
        lines += _delinearize("_zz", [(f"_z{j}", n) for j, n in enumerate(batch)], "        ")
        lines += [f"        _acc = {z}",
                  f"        for _k0 in range(0, {K}, {T}):",
                  f"            _sa[_ty, _tx] = {at(a, '_row', '_k0 + _tx')} if _row < {M} and _k0 + _tx < {K} else {z}",
                  f"            _sb[_ty, _tx] = {at(b, '_k0 + _ty', '_col')} if _k0 + _ty < {K} and _col < {N} else {z}",
                  "            cuda.syncthreads()",
                  f"            for _kk in range({T}):",
                  "                _acc += _sa[_ty, _kk] * _sb[_kk, _tx]",
                  "            cuda.syncthreads()",
                  f"        if _row < {M} and _col < {N}:",
                  f"            {at(o, '_row', '_col')} = _acc"]
        grid = (-(-N // T), -(-M // T), min(nb, 65535))
        self.kernel(sorted({o.buf.name, a.buf.name, b.buf.name}), lines, f"{grid}, ({T}, {T})",
                    f"matmul [{'x'.join(map(str, o.shape))}] over {K}, tiles of {T}x{T}")

    # ------------------------------------------------------------------ module
    def module(self, mode):
        k = self.k
        for g in groups(k.body):
            if isinstance(g, MatMul):
                self.matmul(g)
            else:
                self.group(*g)
        math = "from numpy import" if mode == "simulator" else "from math import"
        lines = [_HEADER.format(version=FORMAT_VERSION, mode=mode, math=f"{math} {', '.join(_MATH)}")]
        for t in ("float32", "float64"):
            lines.append(_FLOAT_HELPERS.format(t=t, z=const_src(0, np.dtype(t)), o=const_src(1, np.dtype(t))))
        lines += self.src
        lines.append("def launch(args, out, tmp, err):")
        if k.params:
            lines.append(f"    {', '.join(b.name for b in k.params)}, = args")
        lines += [f"    {b.name} = out({b.size}, np.{b.dtype.name})" for b in k.outs]
        for t in k.temps:
            if t.name not in k.storage:
                cap = max([t.size] + [u.size for u in k.temps if k.storage.get(u.name) == t.name])
                lines.append(f"    {t.name} = tmp({t.name!r}, {cap}, np.{t.dtype.name})")
        lines += [f"    {t.name} = {k.storage[t.name]}" for t in k.temps if t.name in k.storage]
        lines += [f"    {p} = tmp({p!r}, {n}, np.{dt.name})" for p, n, dt in self.partials]
        lines += self.launch
        lines.append(f"    return [{', '.join(b.name for b in k.outs)}]")
        return "\n".join(lines) + "\n"


def generate(k, cfg, mode):
    """(module source, schedule text) for a Kernel."""
    g = Generator(k, cfg)
    return g.module(mode), "\n".join(g.schedule)


# ----------------------------------------------------------------------------- module cache
def _load_module(source, key, cache_dir):
    """(module, found on disk): the generated module from the shared kernel cache (its files
    checked and locked as the CPU kernels' are, see kernel_cache) or, without a usable cache
    directory, from a temporary file for this process only."""
    modname = f"jitgrad_cuda_{key}"
    if modname in sys.modules:
        return sys.modules[modname], True
    d = usable_dir(cache_path(cache_dir, "cuda"))
    if d is not None:
        return load_module(d, modname, key, source, lambda mod: mod)
    path = pathlib.Path(tempfile.mkdtemp(prefix="jitgrad-cuda-")) / f"{modname}.py"
    path.write_text(source)
    return import_file(path, modname), False


# ----------------------------------------------------------------------------- the callable


def _as_device(a, cuda):
    if hasattr(a, "copy_to_host") and hasattr(a, "reshape"):  # numba (or simulator) device array
        return a
    return cuda.as_cuda_array(a)  # CuPy, torch, ...: a zero-copy view


class CudaCompiled:
    """A Program compiled to CUDA kernels; call with invar values then const values.

    Host arrays in -> NumPy arrays out (copied to the device and back); if any argument is a
    device array (`__cuda_array_interface__`), all results are numba device arrays, and device
    arguments are used in place (no copy). Temporaries stay allocated on the device between
    calls (kernels run in order on one stream, so calls can share them)."""

    backend = "cuda"

    def __init__(self, program, kernel, cache_dir=None, passes_seconds=0.0):
        require_cuda()
        from numba import cuda
        import numba
        self._cuda = cuda
        t0 = time.perf_counter()
        sim = simulator_enabled()
        if sim:
            _lock_simulator_shared_arrays()
        mode = "simulator" if sim else "gpu"
        self.program, self.kernel, self.cfg = program, kernel, Config(sim)
        self.source, self.schedule = generate(kernel, self.cfg, mode)
        self.ir = format_kernel(kernel) + "\n\nCUDA kernels:\n" + self.schedule
        self.key = "cuda-" + content_key(FORMAT_VERSION, numba.__version__, _numba_cuda_version(), mode, self.source)
        mod, self.from_disk_cache = _load_module(self.source, self.key[5:], cache_dir)
        self._launch = mod.launch
        self._checks_index = _checks_index(kernel.body)
        self._in = [(tuple(s), b.dtype, b.size) for b, s in zip(kernel.params, kernel.param_shapes)]
        self._outs = [(tuple(b.shape), b.dtype) for b in kernel.outs]
        self._plan = output_plan(kernel)
        self._temps, self._lock = {}, threading.Lock()
        self.compile_seconds = time.perf_counter() - t0 + passes_seconds
        self.timings = {"passes": passes_seconds, "numba": time.perf_counter() - t0}

    def _tmp(self, name, size, dtype):
        a = self._temps.get(name)
        if a is None:
            a = self._temps[name] = self._cuda.device_array(size, dtype)
        return a

    def _arg(self, i, a):
        cuda = self._cuda
        shape, dtype, size = self._in[i]
        if not is_device_array(a):
            return cuda.to_device(np.ascontiguousarray(np.asarray(a, dtype=dtype)).reshape(size))
        d = _as_device(a, cuda)
        if tuple(d.shape) != shape or np.dtype(d.dtype) != dtype:
            raise TypeError(f"jitgrad cuda: argument {i} is a device array of {np.dtype(d.dtype)}"
                            f"{list(d.shape)}; this kernel was compiled for {dtype}{list(shape)}")
        if size > 1 and not d.is_c_contiguous():
            raise ValueError(f"jitgrad cuda: argument {i} ({dtype}{list(shape)}) is a non-contiguous device "
                             f"array; pass a contiguous one (torch: .contiguous(), CuPy: cupy.ascontiguousarray)")
        return d.reshape(size)

    def __call__(self, *arrays):
        cuda = self._cuda
        if len(arrays) != len(self._in):
            raise TypeError(f"compiled CUDA program takes {len(self._in)} arrays, got {len(arrays)}")
        device = any(is_device_array(a) for a in arrays)
        args = [self._arg(i, a) for i, a in enumerate(arrays)]
        with self._lock:
            err = cuda.to_device(np.zeros(1, np.int32)) if self._checks_index else None
            outs = self._launch(args, cuda.device_array, self._tmp, err)
        if err is not None and err.copy_to_host()[0]:
            raise IndexError("jit_grad (cuda): an integer index array holds an index out of bounds")
        if device:
            outs = [o.reshape(shape) for o, (shape, _) in zip(outs, self._outs)]
        else:
            outs = [o.copy_to_host().reshape(shape) for o, (shape, _) in zip(outs, self._outs)]
        res = []
        for p in self._plan:
            if p[0] == "k":
                res.append(outs[p[1]])
            elif p[0] == "copy":
                o = outs[p[1]]
                res.append(cuda.to_device(o.copy_to_host()) if device else o.copy())
            else:
                res.append(cuda.to_device(p[1]) if device else p[1].copy())
        return res

    def __repr__(self):
        return f"<CudaCompiled {self.key} in={len(self._in)} out={len(self._plan)}>"


def _numba_cuda_version():
    try:
        import numba_cuda
        return numba_cuda.__version__
    except Exception:
        return "?"


def compile_cuda(program, cache_dir=None, fuse=True, check=False):
    """Compile a Program for the CUDA backend (a GPU, or the simulator): the CPU backend's pass
    pipeline (no CPU threading), then the Kernel rendered for CUDA."""
    require_cuda()
    from .passes import Options, run_pipeline
    t0 = time.perf_counter()
    k = run_pipeline(program, Options(fuse=fuse, parallel=False, row_sums=False), check=check)
    return CudaCompiled(program, k, cache_dir, passes_seconds=time.perf_counter() - t0)
