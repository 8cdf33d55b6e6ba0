"""CUDA backend: a recorded Program compiled to numba-cuda kernels.

Entry point: `compile_cuda(program, cache_dir=None) -> CudaCompiled`, called by
`codegen.compile_program(..., backend="cuda")`. `resolve_backend("auto")` picks CUDA when a real
GPU is present and the simulator is off, else CPU.

How a Program becomes kernels (the schedule is printable: `CudaCompiled.ir`):
- views (reshape, transpose, broadcast_to) and NumPy broadcasting are index maps, never copies;
- elementwise equations are inlined into whatever kernel reads them and computed once per index
  there (rematerialised rather than stored), unless they are outputs, matmul operands, read under
  broadcasting (would be recomputed per broadcast element) or too large to inline: those are
  *materialised* into a buffer;
- materialised elementwise values of one shape share one grid-stride kernel (several outputs,
  common subexpressions computed once) when their dependencies allow it;
- reductions read their (fused) producer chain directly: one thread per output for short
  reductions, else a block-level shared-memory tree, with a second pass over per-block partials
  when one block per output would leave the GPU idle (deterministic: no float atomics);
  float32 sums accumulate in float64;
- matmul is a tiled shared-memory kernel (batched, broadcasting batch dimensions); its operands'
  transposes are folded into the tile loads;
- getitem is a gather kernel, index_add a scatter with `cuda.atomic.add`, concatenate a
  select kernel.
Only `cuda.grid`, fixed-size shared arrays, `syncthreads`, atomics and scalar math are used, so
the same kernels run on a GPU and under `NUMBA_ENABLE_CUDASIM=1`.

Each Program's kernels and its host-side launcher are generated as one Python module written to
`<cache_dir>/cuda/<hash>.py` and imported from there, kernels decorated `cuda.jit(cache=True)`,
so a new process reuses numba-cuda's on-disk cache of the compiled kernels. Under the simulator
there is nothing to cache (kernels run as Python).
"""
from __future__ import annotations

import hashlib
import importlib.util
import math
import os
import re
import sys
import tempfile
import threading
import time
import warnings
from collections import defaultdict

import numpy as np

from tracer.primitives import PRIMS
from tracer.program import Literal

VIEW_PRIMS = ("reshape", "transpose", "broadcast_to")
FORMAT_VERSION = "cuda-2"


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


def cuda_usable():
    """The CUDA backend can run: a GPU, or the simulator."""
    if simulator_enabled():
        return True
    return gpu_available()


def require_cuda():
    if not cuda_usable():
        raise CudaUnavailableError(
            "jitgrad backend='cuda': no GPU was found (numba.cuda.is_available() is False) and the "
            "CUDA simulator is off. Use backend='cpu' (or backend='auto', which falls back to the "
            "CPU), or set NUMBA_ENABLE_CUDASIM=1 before numba is imported to run the CUDA kernels "
            "on the CPU simulator.")


def resolve_backend(backend):
    """'cpu' | 'cuda' for a requested backend ('cpu', 'cuda' or 'auto')."""
    if backend == "auto":
        return "cuda" if gpu_available() else "cpu"
    if backend == "cuda":
        require_cuda()
    return backend


# ----------------------------------------------------------------------------- launch config
class Config:
    """Launch geometry. The simulator runs every CUDA thread as a Python thread: small blocks."""

    def __init__(self, sim):
        self.sim = sim
        self.block = 16 if sim else 256          # elementwise threads per block
        self.max_blocks = 4 if sim else 4096     # grid-stride beyond this
        self.rblock = 8 if sim else 256         # reduction threads per block (power of 2)
        self.serial_r = 4 if sim else 32         # reductions this short: one thread per output
        self.items = 2 if sim else 16            # elements per thread before adding partial blocks
        self.max_partials = 4 if sim else 1024
        self.max_rblocks = 4 if sim else 32768
        self.tile = 4 if sim else 16             # matmul tile (tile x tile threads)

    def key(self):
        return (self.block, self.max_blocks, self.rblock, self.serial_r, self.items,
                self.max_partials, self.max_rblocks, self.tile)


# ----------------------------------------------------------------------------- helpers
def _prod(shape):
    n = 1
    for d in shape:
        n *= int(d)
    return n


def _np_name(dtype):
    dtype = np.dtype(dtype)
    return "np.bool_" if dtype == np.bool_ else f"np.{dtype.name}"


def _nb_name(dtype):
    dtype = np.dtype(dtype)
    return {"bool": "boolean"}.get(dtype.name, dtype.name)


def _lit(value, dtype):
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return "True" if bool(value) else "False"
    if dtype.kind == "f":
        v = float(value)
        if math.isnan(v):
            s = "np.nan"
        elif math.isinf(v):
            s = "np.inf" if v > 0 else "(-np.inf)"
        else:
            s = repr(v)
        return f"{_np_name(dtype)}({s})"
    return f"{_np_name(dtype)}({int(value)})"


def _zero(dtype):
    return _lit(0, dtype)


def _ix(idx):
    """Subscript text for an index tuple (0-d buffers are stored with shape (1,))."""
    return ", ".join(idx) if idx else "0"


def _bcast(idx, out_shape, in_shape):
    """Index into an operand broadcast (NumPy rules, right-aligned) to out_shape."""
    off = len(out_shape) - len(in_shape)
    return tuple("0" if d == 1 else idx[off + j] for j, d in enumerate(in_shape))


def _reshape_map(idx, out_shape, in_shape):
    """Index into x (in_shape) for index idx of reshape(x, out_shape)."""
    on = [(i, d) for i, d in zip(idx, out_shape) if d != 1]
    inn = [d for d in in_shape if d != 1]
    if [d for _, d in on] == inn:  # only size-1 axes inserted or removed
        it = iter(i for i, _ in on)
        return tuple("0" if d == 1 else next(it) for d in in_shape)
    terms, stride = [], 1
    for i, d in reversed(list(zip(idx, out_shape))):
        if d != 1:
            terms.append(i if stride == 1 else f"{i} * {stride}")
        stride *= d
    flat = "(" + " + ".join(reversed(terms)) + ")" if terms else "0"
    res, stride = [], 1
    for k in reversed(range(len(in_shape))):
        d = in_shape[k]
        if d == 1:
            res.append("0")
        else:
            q = flat if stride == 1 else f"({flat} // {stride})"
            res.append(q if k == 0 or _prod(in_shape[:k]) == 1 else f"({q} % {d})")
        stride *= d
    return tuple(reversed(res))


def _index_names(shape, prefix):
    return tuple("0" if d == 1 else f"{prefix}{k}" for k, d in enumerate(shape))


def _delinearize(flat, shape, names, ind):
    """Lines computing `names` (skipping '0' entries) from the flat index `flat` over shape."""
    lines = []
    live = [(n, d) for n, d in zip(names, shape) if n != "0"]
    if not live:
        return lines
    if len(live) == 1:
        return [f"{ind}{live[0][0]} = {flat}"]
    q = flat
    for j, (n, d) in enumerate(reversed(live)):
        if j == len(live) - 1:
            lines.append(f"{ind}{n} = {q}")
        else:
            lines.append(f"{ind}{n} = {q} % {d}")
            nq = f"_q{n}"
            lines.append(f"{ind}{nq} = {q} // {d}")
            q = nq
    return lines


_NP_FUNCS = re.compile(r"\b(exp|log|log1p|expm1|sqrt|sin|cos|tanh)\(")


def ew_expr(prim, args, out_dtype, in_dtypes):
    """Scalar CUDA expression for an elementwise primitive over operand texts `args` (names)."""
    a = args
    dt = np.dtype(out_dtype)
    if prim == "sigmoid":  # a[1]: exp(-|x|), emitted by the caller
        o = _lit(1, dt)
        return f"({o} / ({o} + {a[1]}) if {a[0]} >= {_zero(dt)} else {a[1]} / ({o} + {a[1]}))"
    if prim == "softplus":
        z = _zero(dt)
        return f"(({a[0]} if {a[0]} > {z} else {z}) + log1p(exp(-abs({a[0]}))))"
    if prim == "relu":
        z = _zero(dt)
        return f"({z} if {a[0]} <= {z} else {a[0]})"
    if prim == "sign":
        z, o = _zero(dt), _lit(1, dt)
        return f"({o} if {a[0]} > {z} else ((-{o}) if {a[0]} < {z} else {a[0]}))"
    if prim == "abs":
        return f"abs({a[0]})"
    if prim == "maximum":
        return f"({a[0]} if ({a[0]} >= {a[1]} or {a[0]} != {a[0]}) else {a[1]})"
    if prim == "minimum":
        return f"({a[0]} if ({a[0]} <= {a[1]} or {a[0]} != {a[0]}) else {a[1]})"
    if prim == "where":
        return f"({a[1]} if {a[0]} else {a[2]})"
    if prim == "pow":
        return f"({a[0]} ** {a[1]})"
    if prim == "cast":
        return f"({a[0]} != 0)" if dt == np.bool_ else f"{_np_name(dt)}({a[0]})"
    if prim in ("sqrt", "exp", "log", "log1p", "expm1", "sin", "cos", "tanh") and dt.kind != "f":
        raise NotImplementedError(f"cuda backend: {prim} of {dt}")
    template = PRIMS[prim].expr
    if template is None:
        raise NotImplementedError(f"cuda backend: no scalar expression for {prim}")
    return template.format(*a)


# ----------------------------------------------------------------------------- lowering
class _Kernel:
    def __init__(self, kind, index, **kw):
        self.kind = kind      # ew | reduce | matmul | getitem | index_add | concat
        self.index = index
        self.roots = []       # ew: [(var, buffer name)]
        self.__dict__.update(kw)


class Lowering:
    """The schedule of one Program: which values get buffers, which kernel computes each."""

    def __init__(self, program, cfg):
        self.p = program
        self.cfg = cfg
        self.producer = {id(e.out): e for e in program.eqns}
        self.bufname = {}
        for i, v in enumerate(program.invars):
            self.bufname[id(v)] = f"in{i}"
        for i, v in enumerate(program.constvars):
            self.bufname[id(v)] = f"c{i}"
        self.n_args = len(program.invars) + len(program.constvars)
        self.materialized = set()  # ids of eqn outputs that get a buffer
        self.home = {}             # id(var) -> kernel index
        self.kernels = []
        self.vars = {}             # id -> Var (keep for allocation)
        self._decide()
        self._schedule()

    # ------------------------------------------------------------------ analysis
    def base(self, x):
        while not isinstance(x, Literal):
            e = self.producer.get(id(x))
            if e is None or e.prim not in VIEW_PRIMS:
                return x
            x = e.inputs[0]
        return x

    def is_ew(self, x):
        e = self.producer.get(id(x))
        return e is not None and PRIMS[e.prim].kind == "elementwise"

    def _decide(self):
        p = self.p
        uses = defaultdict(list)   # id(base) -> [(consumer kind, size read per element of consumer)]
        for e in p.eqns:
            kind = PRIMS[e.prim].kind
            if e.prim in VIEW_PRIMS:
                continue
            for j, x in enumerate(e.inputs):
                b = self.base(x)
                if isinstance(b, Literal):
                    continue
                if kind == "elementwise":
                    size = _prod(e.out.shape)
                elif kind == "matmul":
                    size = None
                elif kind == "index" and e.prim == "getitem" and j == 0:
                    size = _prod(e.out.shape)
                else:
                    size = _prod(x.shape)
                uses[id(b)].append((kind, size))
        for v in p.outvars:
            b = self.base(v)
            if not isinstance(b, Literal):
                uses[id(b)].append(("out", _prod(v.shape)))
        cost = {}
        constant = set()
        for e in p.eqns:
            v = e.out
            self.vars[id(v)] = v
            kind = PRIMS[e.prim].kind
            if e.prim in VIEW_PRIMS:
                continue
            if kind != "elementwise":
                self.materialized.add(id(v))
                continue
            c = 1
            const = True
            for x in e.inputs:
                b = self.base(x)
                if isinstance(b, Literal):
                    continue
                const = const and id(b) in constant
                if id(b) in cost and id(b) not in self.materialized:
                    c += cost[id(b)]
            cost[id(v)] = c
            if const and c <= 8:
                constant.add(id(v))  # literal arithmetic: recomputed wherever it is read
                if not any(k in ("matmul", "out") for k, _ in uses[id(v)]):
                    continue
            us = uses[id(v)]
            n = _prod(v.shape)
            if (c > 48 or any(k in ("matmul", "out") for k, _ in us)
                    or any(s is not None and s > n for _, s in us)):
                self.materialized.add(id(v))
        for i, v in enumerate(p.outvars):
            if isinstance(v, Literal) or id(v) not in self.materialized:
                pass  # gets a copy root (view, input, literal)

    # ------------------------------------------------------------------ schedule
    def _deps(self, var, shape):
        """Materialised values a kernel computing `var` at its own index reads: [(var, identity)]."""
        em = Emitter(self, shape, local=lambda m, idx: False, ind="")
        names = _index_names(shape, "i")
        em.val(var, names, root=True)
        return [(m, idx == names and tuple(m.shape) == tuple(shape)) for m, idx in em.loads]

    def _place_ew(self, var, buf):
        shape = tuple(var.shape)
        deps = self._deps(var, shape)
        chosen = None
        for K in reversed(self.kernels):
            if K.kind != "ew" or K.shape != shape:
                continue
            ok = True
            for m, ident in deps:
                h = self.home.get(id(m), -1)
                if not (h < K.index or (h == K.index and ident)):
                    ok = False
                    break
            if ok:
                chosen = K
                break
            # a later kernel must come after everything this one needs; older ones cannot help
            if any(self.home.get(id(m), -1) >= K.index for m, _ in deps):
                break
        if chosen is None:
            chosen = _Kernel("ew", len(self.kernels), shape=shape)
            self.kernels.append(chosen)
        chosen.roots.append((var, buf))
        return chosen.index

    def _schedule(self):
        p = self.p
        out_of = {}
        for e in p.eqns:
            v = e.out
            if id(v) not in self.materialized:
                continue
            kind = PRIMS[e.prim].kind
            self.bufname[id(v)] = f"b_{v.name}"
            if kind == "elementwise":
                self.home[id(v)] = self._place_ew(v, self.bufname[id(v)])
            else:
                K = _Kernel({"reduce": "reduce", "matmul": "matmul", "concat": "concat"}.get(kind, e.prim),
                            len(self.kernels), eqn=e, shape=tuple(v.shape))
                self.kernels.append(K)
                self.home[id(v)] = K.index
        # outputs: materialised values are returned as they are; anything else gets a copy root
        self.outputs = []
        for i, v in enumerate(p.outvars):
            if not isinstance(v, Literal) and id(v) in self.materialized:
                self.outputs.append(self.bufname[id(v)])
                continue
            name = f"o{i}"
            self._place_ew(v, name)
            self.outputs.append(name)
        self.out_meta = [(tuple(v.shape), np.dtype(v.dtype)) for v in p.outvars]

    def buffers(self):
        """(name, shape, dtype) of every buffer the launcher allocates, in creation order."""
        res = []
        for K in self.kernels:
            if K.kind == "ew":
                for v, buf in K.roots:
                    if buf.startswith("b_") or buf.startswith("o"):
                        res.append((buf, tuple(v.shape), np.dtype(v.dtype)))
            else:
                v = K.eqn.out
                res.append((self.bufname[id(v)], tuple(v.shape), np.dtype(v.dtype)))
        return res

    def describe(self):
        lines = []
        for K in self.kernels:
            if K.kind == "ew":
                outs = ", ".join(f"{buf}:{v.dtype}{list(v.shape)}" for v, buf in K.roots)
                lines.append(f"k{K.index}: elementwise over {list(K.shape)} -> {outs}")
            else:
                e = K.eqn
                ins = ", ".join(repr(x) for x in e.inputs)
                lines.append(f"k{K.index}: {e.prim}({ins}) -> {self.bufname[id(e.out)]}:{e.out.dtype}{list(e.out.shape)}")
        return "\n".join(lines)


class Emitter:
    """Renders values at symbolic indices into straight-line statements (memoised per site)."""

    def __init__(self, low, shape, local, ind):
        self.low = low
        self.shape = shape
        self.local = local        # (var, idx) -> compute here rather than load
        self.ind = ind
        self.lines = []
        self.memo = {}
        self.loads = []
        self.params = set()
        self.n = 0

    def tmp(self, prefix="t"):
        self.n += 1
        return f"{prefix}{self.n}"

    def emit(self, text):
        self.lines.append(self.ind + text)

    def val(self, x, idx, root=False):
        if isinstance(x, Literal):
            return _lit(x.value, x.dtype)
        idx = tuple(idx)
        key = (id(x), idx)
        if key in self.memo:
            return self.memo[key]
        low = self.low
        e = low.producer.get(id(x))
        if e is not None and e.prim in VIEW_PRIMS:
            src = e.inputs[0]
            if e.prim == "transpose":
                axes = e.params["axes"]
                sidx = [None] * len(axes)
                for j, a in enumerate(axes):
                    sidx[a] = idx[j]
                sidx = tuple(sidx)
            elif e.prim == "broadcast_to":
                sidx = _bcast(idx, tuple(x.shape), tuple(src.shape))
            else:
                sidx = _reshape_map(idx, tuple(x.shape), tuple(src.shape))
            r = self.val(src, sidx)
            self.memo[key] = r
            return r
        if e is None or (id(x) in low.materialized and not root and not self.local(x, idx)):
            name = low.bufname[id(x)]
            self.params.add(name)
            self.loads.append((x, idx))
            t = self.tmp()
            self.emit(f"{t} = {name}[{_ix(idx)}]")
            self.memo[key] = t
            return t
        # elementwise, computed here
        args = [self.val(inp, _bcast(idx, tuple(x.shape), tuple(inp.shape))) for inp in e.inputs]
        if e.prim == "sigmoid":
            ex = self.tmp()
            self.emit(f"{ex} = exp(-abs({args[0]}))")
            args.append(ex)
        expr = ew_expr(e.prim, args, e.out.dtype, [i.dtype for i in e.inputs])
        t = self.tmp()
        self.emit(f"{t} = {expr}")
        self.memo[key] = t
        return t


# ----------------------------------------------------------------------------- code generation
_HEADER = '''\
# generated by jitgrad codegen.numba_cuda ({version}); {mode}
import numpy as np
from numba import cuda, boolean, float32, float64, int8, int16, int32, int64, uint8
{math}

'''


class Generator:
    def __init__(self, low, cfg):
        self.low = low
        self.cfg = cfg
        self.src = []
        self.launch = []     # host launcher lines

    def kernel_def(self, name, params, body):
        self.src.append("@cuda.jit(cache=True)")
        self.src.append(f"def {name}({', '.join(params)}):")
        self.src.extend(body)
        self.src.append("")

    def grid1(self, n, block):
        return max(1, min(-(-n // block), self.cfg.max_blocks))

    # ------------------------------------------------------------------ elementwise
    def gen_ew(self, K):
        shape = K.shape
        n = _prod(shape)
        if n == 0:
            return
        names = _index_names(shape, "i")
        home = K.index
        low = self.low
        em = Emitter(low, shape, lambda m, idx: low.home.get(id(m)) == home and idx == names
                     and tuple(m.shape) == shape, "        ")
        outs = []
        for v, buf in K.roots:
            t = em.val(v, names, root=True)
            em.emit(f"{buf}[{_ix(names)}] = {t}")
            outs.append(buf)
        params = outs + sorted(em.params - set(outs))
        body = ["    start = cuda.grid(1)", "    step = cuda.gridsize(1)",
                f"    for f in range(start, {n}, step):"]
        body += _delinearize("f", shape, names, "        ")
        body += em.lines
        name = f"k{K.index}"
        self.kernel_def(name, params, body)
        self.launch.append(f"    {name}[{self.grid1(n, self.cfg.block)}, {self.cfg.block}]({', '.join(params)})")

    # ------------------------------------------------------------------ reductions
    def gen_reduce(self, K):
        e = K.eqn
        x = e.inputs[0]
        out = e.out
        axes = tuple(e.params["axes"])
        keep = bool(e.params["keepdims"])
        xs = tuple(x.shape)
        kept = [d for d in range(len(xs)) if d not in axes]
        O = _prod(xs[d] for d in kept)
        R = _prod(xs[d] for d in axes)
        if O == 0:
            return
        obuf = self.low.bufname[id(out)]
        odt = np.dtype(out.dtype)
        is_sum = e.prim == "reduce_sum"
        if is_sum:
            adt = np.dtype(np.float64) if odt.kind in "fc" else (np.dtype(np.int64) if odt.kind in "bi" else odt)
            if odt.kind == "u":
                adt = np.dtype(np.uint64)
            init = _zero(adt)

            def comb(a, v):
                return f"{a} + {v}"
        else:
            adt = odt
            if odt.kind == "f":
                init = _lit(-np.inf, odt)
            elif odt == np.bool_:
                init = "False"
            else:
                init = _lit(np.iinfo(odt).min, odt)

            def comb(a, v):
                return f"({v} if ({v} > {a} or {v} != {v}) else {a})"
        onames = tuple("0" if xs[d] == 1 else f"o{d}" for d in kept)
        rnames = tuple("0" if xs[d] == 1 else f"r{d}" for d in axes)
        full = [None] * len(xs)
        for d, nm in zip(kept, onames):
            full[d] = nm
        for d, nm in zip(axes, rnames):
            full[d] = nm
        full = tuple(full)
        if keep:
            oidx = tuple("0" if d in axes else full[d] for d in range(len(xs)))
        else:
            oidx = onames
        kshape = tuple(xs[d] for d in kept)
        rshape = tuple(xs[d] for d in axes)
        name = f"k{K.index}"
        cfg = self.cfg
        if R <= cfg.serial_r or R == 0:
            ind = "            "
            em = Emitter(self.low, xs, lambda m, idx: False, ind)
            v = em.val(x, full) if R else None
            params = [obuf] + sorted(em.params)
            body = ["    start = cuda.grid(1)", "    step = cuda.gridsize(1)",
                    f"    for o in range(start, {O}, step):"]
            body += _delinearize("o", kshape, onames, "        ")
            body.append(f"        acc = {init}")
            if R:
                body.append(f"        for r in range({R}):")
                body += _delinearize("r", rshape, rnames, ind)
                body += em.lines
                body.append(f"{ind}acc = {comb('acc', v)}")
            body.append(f"        {obuf}[{_ix(oidx)}] = acc")
            self.kernel_def(name, params, body)
            self.launch.append(f"    {name}[{self.grid1(O, cfg.block)}, {cfg.block}]({', '.join(params)})")
            return
        RB = cfg.rblock
        P = max(1, min(-(-R // (RB * cfg.items)), cfg.max_partials))
        ind = "            "
        em = Emitter(self.low, xs, lambda m, idx: False, ind)
        v = em.val(x, full)
        pbuf = f"p_{out.name}"
        target = obuf if P == 1 else pbuf
        params = [target] + sorted(em.params)
        body = [f"    sm = cuda.shared.array({RB}, {_nb_name(adt)})",
                "    tid = cuda.threadIdx.x",
                f"    for ob in range(cuda.blockIdx.x, {P * O}, cuda.gridDim.x):",
                f"        p = ob % {P}",
                f"        o = ob // {P}"]
        body += _delinearize("o", kshape, onames, "        ")
        body += [f"        acc = {init}",
                 f"        for r in range(p * {RB} + tid, {R}, {P * RB}):"]
        body += _delinearize("r", rshape, rnames, ind)
        body += em.lines
        body.append(f"{ind}acc = {comb('acc', v)}")
        body += self._tree(RB, comb)
        if P == 1:
            body.append(f"        if tid == 0:\n            {obuf}[{_ix(oidx)}] = sm[0]")
        else:
            body.append(f"        if tid == 0:\n            {pbuf}[p, o] = sm[0]")
        body.append("        cuda.syncthreads()")
        self.kernel_def(name, params, body)
        grid = max(1, min(P * O, cfg.max_rblocks))
        if P > 1:
            self.launch.append(f"    {pbuf} = alloc(({P}, {O}), {_np_name(adt)})")
        self.launch.append(f"    {name}[{grid}, {RB}]({', '.join(params)})")
        if P == 1:
            return
        body = [f"    sm = cuda.shared.array({RB}, {_nb_name(adt)})",
                "    tid = cuda.threadIdx.x",
                f"    for o in range(cuda.blockIdx.x, {O}, cuda.gridDim.x):"]
        body += _delinearize("o", kshape, onames, "        ")
        body += [f"        acc = {init}",
                 f"        for q in range(tid, {P}, {RB}):",
                 f"            acc = {comb('acc', f'{pbuf}[q, o]')}"]
        body += self._tree(RB, comb)
        body.append(f"        if tid == 0:\n            {obuf}[{_ix(oidx)}] = sm[0]")
        body.append("        cuda.syncthreads()")
        self.kernel_def(name + "b", [obuf, pbuf], body)
        self.launch.append(f"    {name}b[{max(1, min(O, cfg.max_rblocks))}, {RB}]({obuf}, {pbuf})")

    @staticmethod
    def _tree(RB, comb):
        return ["        sm[tid] = acc",
                "        cuda.syncthreads()",
                f"        s = {RB // 2}",
                "        while s > 0:",
                "            if tid < s:",
                f"                sm[tid] = {comb('sm[tid]', 'sm[tid + s]')}",
                "            cuda.syncthreads()",
                "            s //= 2"]

    # ------------------------------------------------------------------ matmul
    def gen_matmul(self, K):
        e = K.eqn
        a, b = e.inputs
        out = e.out
        osh = tuple(out.shape)
        M, N = osh[-2], osh[-1]
        Kd = a.shape[-1]
        bshape = osh[:-2]
        nb = _prod(bshape)
        if M == 0 or N == 0 or nb == 0:
            return
        T = self.cfg.tile
        odt = np.dtype(out.dtype)
        obuf = self.low.bufname[id(out)]
        bnames = _index_names(bshape, "z")
        row = "0" if M == 1 else "row"
        col = "0" if N == 1 else "col"
        low = self.low
        ema = Emitter(low, None, lambda m, idx: False, "            ")
        va = ema.val(a, _bcast(bnames, bshape, tuple(a.shape[:-2])) + (row, "ka"))
        emb = Emitter(low, None, lambda m, idx: False, "            ")
        emb.n = 1000
        vb = emb.val(b, _bcast(bnames, bshape, tuple(b.shape[:-2])) + ("kb", col))
        params = [obuf] + sorted(ema.params | emb.params)
        z = _zero(odt)
        body = ["    tx = cuda.threadIdx.x", "    ty = cuda.threadIdx.y",
                f"    col = cuda.blockIdx.x * {T} + tx", f"    row = cuda.blockIdx.y * {T} + ty",
                f"    sa = cuda.shared.array(({T}, {T}), {_nb_name(odt)})",
                f"    sb = cuda.shared.array(({T}, {T}), {_nb_name(odt)})",
                f"    for zz in range(cuda.blockIdx.z, {nb}, cuda.gridDim.z):"]
        body += _delinearize("zz", bshape, bnames, "        ")
        body += [f"        acc = {z}",
                 f"        for t0 in range(0, {Kd}, {T}):",
                 "            ka = t0 + tx",
                 "            kb = t0 + ty",
                 f"            if row < {M} and ka < {Kd}:"]
        body += ["    " + ln for ln in ema.lines]
        body += [f"                sa[ty, tx] = {va}", "            else:", f"                sa[ty, tx] = {z}",
                 f"            if kb < {Kd} and col < {N}:"]
        body += ["    " + ln for ln in emb.lines]
        body += [f"                sb[ty, tx] = {vb}", "            else:", f"                sb[ty, tx] = {z}",
                 "            cuda.syncthreads()",
                 f"            for kk in range({T}):",
                 "                acc += sa[ty, kk] * sb[kk, tx]",
                 "            cuda.syncthreads()",
                 f"        if row < {M} and col < {N}:",
                 f"            {obuf}[{_ix(bnames + (row, col))}] = acc"]
        name = f"k{K.index}"
        self.kernel_def(name, params, body)
        grid = (-(-N // T), -(-M // T), min(nb, 65535))
        self.launch.append(f"    {name}[{grid}, ({T}, {T})]({', '.join(params)})")

    # ------------------------------------------------------------------ indexing
    def _index_map(self, em, spec, arrays, xshape, oidx, ind):
        """x index (texts) for out index oidx under a normalised getitem spec."""
        has_arr = any(s[0] == "array" for s in spec)
        adv = [k for k, s in enumerate(spec) if s[0] == "array" or (has_arr and s[0] == "int")]
        B = np.broadcast_shapes(*(tuple(arrays[s[1]].shape) for s in spec if s[0] == "array")) if has_arr else ()
        adjacent = bool(adv) and adv == list(range(adv[0], adv[-1] + 1))
        j = 0
        bstart = None
        if has_arr and not adjacent:
            bstart, j = 0, len(B)
        xidx = []
        dim = 0
        for k, s in enumerate(spec):
            if has_arr and k in adv:
                if adjacent and k == adv[0]:
                    bstart, j = j, j + len(B)
                if s[0] == "int":
                    xidx.append(str(s[1]))
                else:
                    arr = arrays[s[1]]
                    bidx = tuple(oidx[bstart:bstart + len(B)])
                    t = em.val(arr, _bcast(bidx, B, tuple(arr.shape)))
                    n = em.tmp("j")
                    em.emit(f"{n} = int64({t})")
                    em.emit(f"{n} = {n} + {xshape[dim]} if {n} < 0 else {n}")
                    xidx.append(n)
                dim += 1
            elif s[0] == "slice":
                start, _, step = s[1:]
                o = oidx[j]
                xidx.append(f"({start} + {step} * {o})" if o != "0" else str(start))
                j += 1
                dim += 1
            elif s[0] == "new":
                j += 1
            else:
                xidx.append(str(s[1]))
                dim += 1
        return tuple(xidx)

    def gen_getitem(self, K):
        e = K.eqn
        x, arrays = e.inputs[0], e.inputs[1:]
        out = e.out
        shape = tuple(out.shape)
        n = _prod(shape)
        if n == 0:
            return
        names = _index_names(shape, "i")
        em = Emitter(self.low, shape, lambda m, idx: False, "        ")
        xidx = self._index_map(em, e.params["index"], arrays, tuple(x.shape), names, "        ")
        v = em.val(x, xidx)
        obuf = self.low.bufname[id(out)]
        em.emit(f"{obuf}[{_ix(names)}] = {v}")
        params = [obuf] + sorted(em.params)
        body = ["    start = cuda.grid(1)", "    step = cuda.gridsize(1)", f"    for f in range(start, {n}, step):"]
        body += _delinearize("f", shape, names, "        ") + em.lines
        name = f"k{K.index}"
        self.kernel_def(name, params, body)
        self.launch.append(f"    {name}[{self.grid1(n, self.cfg.block)}, {self.cfg.block}]({', '.join(params)})")

    def gen_index_add(self, K):
        e = K.eqn
        g, arrays = e.inputs[0], e.inputs[1:]
        out = e.out
        oshape = tuple(out.shape)
        obuf = self.low.bufname[id(out)]
        self.launch.append(f"    fill_zero({obuf})")
        gshape = tuple(g.shape)
        n = _prod(gshape)
        if n == 0 or _prod(oshape) == 0:
            return
        names = _index_names(gshape, "i")
        em = Emitter(self.low, gshape, lambda m, idx: False, "        ")
        tidx = self._index_map(em, e.params["index"], arrays, oshape, names, "        ")
        v = em.val(g, names)
        if np.dtype(out.dtype) == np.bool_:
            raise NotImplementedError("cuda backend: index_add of booleans")
        em.emit(f"cuda.atomic.add({obuf}, ({', '.join(tidx) if tidx else '0'},), {v})")
        params = [obuf] + sorted(em.params)
        body = ["    start = cuda.grid(1)", "    step = cuda.gridsize(1)", f"    for f in range(start, {n}, step):"]
        body += _delinearize("f", gshape, names, "        ") + em.lines
        name = f"k{K.index}"
        self.kernel_def(name, params, body)
        self.launch.append(f"    {name}[{self.grid1(n, self.cfg.block)}, {self.cfg.block}]({', '.join(params)})")

    def gen_concat(self, K):
        e = K.eqn
        out = e.out
        shape = tuple(out.shape)
        n = _prod(shape)
        if n == 0:
            return
        ax = e.params["axis"]
        ax = ax % len(shape)
        names = tuple(f"i{k}" if k == ax else nm for k, nm in enumerate(_index_names(shape, "i")))
        obuf = self.low.bufname[id(out)]
        body = ["    start = cuda.grid(1)", "    step = cuda.gridsize(1)", f"    for f in range(start, {n}, step):"]
        body += _delinearize("f", shape, tuple(f"i{k}" if k == ax else nm for k, nm in enumerate(names)), "        ")
        params = set()
        off = 0
        first = True
        for x in e.inputs:
            w = x.shape[ax]
            if w == 0:
                continue
            em = Emitter(self.low, shape, lambda m, idx: False, "            ")
            sidx = tuple((f"(i{ax} - {off})" if off else f"i{ax}") if k == ax else ("0" if x.shape[k] == 1 else nm)
                         for k, nm in enumerate(names))
            v = em.val(x, sidx)
            em.emit(f"{obuf}[{_ix(names)}] = {v}")
            body.append(f"        {'if' if first else 'elif'} i{ax} < {off + w}:")
            body += em.lines
            params |= em.params
            first = False
            off += w
        params = [obuf] + sorted(params)
        name = f"k{K.index}"
        self.kernel_def(name, params, body)
        self.launch.append(f"    {name}[{self.grid1(n, self.cfg.block)}, {self.cfg.block}]({', '.join(params)})")

    # ------------------------------------------------------------------ module
    def module(self, mode):
        low = self.low
        allocs = [f"    {name} = alloc({shape if shape else (1,)}, {_np_name(dt)})"
                  for name, shape, dt in low.buffers()]
        self.launch = []
        for K in low.kernels:
            getattr(self, "gen_" + ("getitem" if K.kind == "getitem" else K.kind))(K)
        kernels_launch = self.launch
        args = [low.bufname[id(v)] for v in low.p.invars + low.p.constvars]
        # math.* lowers to libdevice on a GPU (numba-cuda has no np.exp for scalars); the
        # simulator runs Python, where math.log(-1) raises: NumPy's scalar ufuncs there instead
        fn = "exp, log, log1p, expm1, sqrt, sin, cos, tanh"
        imp = f"from numpy import {fn}" if mode == "simulator" else f"from math import {fn}"
        lines = [_HEADER.format(version=FORMAT_VERSION, mode=mode, math=imp)]
        lines += self.src
        lines.append(f"def launch(args, alloc, fill_zero):")
        if args:
            lines.append(f"    {', '.join(args)}, = args")
        lines += allocs + kernels_launch
        lines.append(f"    return [{', '.join(low.outputs)}]")
        return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- compile + run
_LOCK = threading.Lock()


def _cache_root(cache_dir):
    root = (cache_dir if cache_dir not in (None, False) else None) or os.environ.get("JITGRAD_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "jitgrad")
    return os.path.join(os.fspath(root), "cuda")


def _load_module(source, key, cache_dir):
    """Write the generated module to the cache (content-addressed) and import it from there."""
    root = _cache_root(cache_dir)
    modname = f"jitgrad_cuda_{key}"
    if modname in sys.modules:
        return sys.modules[modname], True
    path = os.path.join(root, f"{key}.py")
    from_disk = False
    if cache_dir is False:  # codegen convention: no disk cache
        path = os.path.join(tempfile.mkdtemp(prefix="jitgrad-cuda-"), f"{key}.py")
        with open(path, "w") as fh:
            fh.write(source)
        return _import(modname, path), False
    try:
        os.makedirs(root, exist_ok=True)
        import fcntl
        with open(os.path.join(root, f"{key}.lock"), "w") as lockf:
            fcntl.flock(lockf, fcntl.LOCK_EX)
            try:
                with open(path) as fh:
                    from_disk = fh.read() == source
            except OSError:
                from_disk = False
            if not from_disk:
                fd, tmp = tempfile.mkstemp(dir=root, suffix=".tmp")
                with os.fdopen(fd, "w") as fh:
                    fh.write(source)
                os.replace(tmp, path)
            mod = _import(modname, path)
    except OSError as exc:
        warnings.warn(f"jitgrad cuda: kernel cache directory {root!r} is not writable ({exc}); "
                      f"compiling in memory for this process only", RuntimeWarning, stacklevel=3)
        tmpdir = tempfile.mkdtemp(prefix="jitgrad-cuda-")
        path = os.path.join(tmpdir, f"{key}.py")
        with open(path, "w") as fh:
            fh.write(source)
        mod = _import(modname, path)
        from_disk = False
    return mod, from_disk


def _import(modname, path):
    spec = importlib.util.spec_from_file_location(modname, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[modname] = mod
    try:
        spec.loader.exec_module(mod)
    except BaseException:
        sys.modules.pop(modname, None)
        raise
    return mod


def _is_device(a):
    """A device array: `__cuda_array_interface__` (numba, CuPy, torch), or the simulator's."""
    return (hasattr(a, "__cuda_array_interface__") or type(a).__name__ == "FakeCUDAArray") \
        and not isinstance(a, np.ndarray)


def _as_device(a, cuda):
    if hasattr(a, "copy_to_host") and hasattr(a, "reshape"):  # numba (or simulator) device array
        return a
    return cuda.as_cuda_array(a)  # CuPy, torch, ...: a zero-copy view


class CudaCompiled:
    """A Program compiled to CUDA kernels; call with invar values then const values.

    Host arrays in -> NumPy arrays out (copied to the device and back); if any argument is a
    device array (`__cuda_array_interface__`), all results are numba device arrays, and device
    arguments are used in place (no copy)."""

    backend = "cuda"

    def __init__(self, program, cache_dir=None):
        require_cuda()
        from numba import cuda
        self._cuda = cuda
        t0 = time.perf_counter()
        sim = simulator_enabled()
        self.cfg = Config(sim)
        self.program = program
        self.lowering = Lowering(program, self.cfg)
        mode = "simulator" if sim else "gpu"
        self.source = Generator(self.lowering, self.cfg).module(mode)
        import numba
        h = hashlib.sha256()
        for part in (FORMAT_VERSION, numba.__version__, _numba_cuda_version(), mode, self.source):
            h.update(str(part).encode())
            h.update(b"\0")
        self.key = "cuda-" + h.hexdigest()[:32]
        self._mod, self.from_disk_cache = _load_module(self.source, self.key.replace("-", "_"), cache_dir)
        self._launch = self._mod.launch
        self.ir = self.lowering.describe()
        self.in_meta = [(tuple(v.shape), np.dtype(v.dtype)) for v in program.invars + program.constvars]
        self.out_meta = self.lowering.out_meta
        self.compile_seconds = time.perf_counter() - t0

    def _alloc(self, shape, dtype):
        return self._cuda.device_array(shape, dtype)

    def _fill_zero(self, arr):
        self._cuda.to_device(np.zeros(arr.shape, arr.dtype), to=arr)

    def __call__(self, *arrays):
        cuda = self._cuda
        if len(arrays) != len(self.in_meta):
            raise TypeError(f"compiled CUDA program takes {len(self.in_meta)} arrays, got {len(arrays)}")
        device = any(_is_device(a) for a in arrays)
        args = []
        for a, (shape, dtype) in zip(arrays, self.in_meta):
            if _is_device(a):
                d = _as_device(a, cuda)
                if tuple(d.shape) != shape:
                    raise ValueError(f"cuda: argument of shape {tuple(d.shape)}, compiled for {shape}")
                if np.dtype(d.dtype) != dtype:
                    raise TypeError(f"cuda: argument of dtype {d.dtype}, compiled for {dtype}")
                if not shape:
                    d = d.reshape(1)
            else:
                h = np.ascontiguousarray(np.asarray(a, dtype=dtype)).reshape(shape if shape else (1,))
                d = cuda.to_device(h)
            args.append(d)
        outs = self._launch(args, self._alloc, self._fill_zero)
        res = []
        for o, (shape, dtype) in zip(outs, self.out_meta):
            if device:
                res.append(o.reshape(shape) if not shape else o)
            else:
                res.append(o.copy_to_host().reshape(shape))
        return res


def _numba_cuda_version():
    try:
        import numba_cuda
        return numba_cuda.__version__
    except Exception:
        return "?"


def compile_cuda(program, cache_dir=None):
    """Compile a Program for the CUDA backend (a GPU, or the simulator)."""
    return CudaCompiled(program, cache_dir)
