"""Lowering: Program -> loop IR, with fusion decided on the way (tinygrad's lazy scheduling).

Each Program variable becomes a *lazy value*: a function from a multi-index to a scalar
expression. Elementwise ops and views compose these functions (a broadcast is a zero stride, a
transpose or slice is an index remap: no copies). Only some variables are *materialised* into
buffers: outputs, reduction/matmul/concat/scatter results, and values that would otherwise be
recomputed expensively (used by several loop nests, or broadcast into a bigger one). Each
materialisation is a loop `Nest`; nests with the same iteration space and no dependency between
them are merged into one loop (horizontal fusion: forward and backward share one pass over
memory), and a reduction's accumulator lives at the loop depth of its kept axes, so
elementwise stores and reductions over the same space share loops.
"""
from __future__ import annotations

import bisect
import math
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from tracer.primitives import PRIMS
from tracer.program import Literal, Program, Var

from .ir import (ALU, BOOL, INT, Acc, Buffer, Const, Def, Idx, Kernel, Load, Loop,
                 MatMul, Reduce, Store, View, buffers_read, buffers_written, real_dtype)

F64 = np.dtype(np.float64)
RECOMPUTE_MAX_COST = 8      # recompute a value in each consumer nest below this cost
SMALL_MATMUL = 2048         # M*N*K at or below this: loops (fusable, no BLAS call overhead)
SMALL_K = 4                 # K at or below this (an outer product, a PINN's input layer): loops too;
                            # measured 30 us in BLAS for 256x1 @ 1x32, a fused loop is a few
MAX_FANIN = 8               # buffers one fused value may read; a longer chain (an unrolled loop's
                            # gradient sum) is cut into links that are one repeated kernel
SHORT_SUM = 16              # window terms (col2im) up to which a float32 sum accumulates in float32
                            # (any other sum: float64, so its pattern never depends on a size)
ROW_SUM_MIN = 16            # kept elements from which a sum over leading axes adds rows (row_sum)
MAX_GROUP = 8               # nests that read a common input merged into one loop (finish), at
                            # most this many: a long run of them is copies of one kernel
OWN_BUFFER = ("reduce", "matmul", "concat", "fold", "scatter")   # kinds whose result is always stored


# ----------------------------------------------------------------------------- index algebra
def c(v, dtype=INT):
    return Const(v, np.dtype(dtype))


def iadd(a, b):
    if isinstance(a, Const) and isinstance(b, Const):
        return c(a.value + b.value)
    if isinstance(a, Const) and a.value == 0:
        return b
    if isinstance(b, Const) and b.value == 0:
        return a
    return ALU("add", (a, b), INT)


def imul(a, k):
    if isinstance(a, Const):
        return c(a.value * k)
    if k == 0:
        return c(0)
    return a if k == 1 else ALU("mul", (a, c(k)), INT)


def flat(idx, strides, offset=0):
    e = c(offset)
    for i, s in zip(idx, strides):
        e = iadd(e, imul(i, s))
    return e


def cstrides(shape):
    """C-order strides, 0 for unit axes (their index is always 0: loads and stores that differ
    only there compare equal, which in-place buffer planning relies on)."""
    st, acc = [], 1
    for n in reversed(shape):
        st.append(0 if n == 1 else acc)
        acc *= n
    return tuple(reversed(st))


def affine(e):
    """({Idx: coefficient}, constant) if e is an affine form of loop variables, else None."""
    if isinstance(e, Const):
        return {}, e.value
    if isinstance(e, Idx):
        return {e: 1}, 0
    if isinstance(e, ALU) and e.op == "add":
        a, b = affine(e.srcs[0]), affine(e.srcs[1])
        if a is None or b is None:
            return None
        d = dict(a[0])
        for k, v in b[0].items():
            d[k] = d.get(k, 0) + v
        return d, a[1] + b[1]
    if isinstance(e, ALU) and e.op == "mul" and isinstance(e.srcs[1], Const):
        a = affine(e.srcs[0])
        return None if a is None else ({k: v * e.srcs[1].value for k, v in a[0].items()}, a[1] * e.srcs[1].value)
    return None


# ----------------------------------------------------------------------------- lazy values
class Lazy:
    shape: tuple
    dtype: np.dtype
    cost: int = 0

    def at(self, idx):
        raise NotImplementedError


@dataclass(eq=False)
class Strided(Lazy):
    """A strided window on a buffer: loads only, any view keeps it strided."""
    view: View
    cost: int = 1

    @property
    def shape(self):
        return self.view.shape

    @property
    def dtype(self):
        return self.view.buf.dtype

    def at(self, idx):
        return Load(self.view.buf, flat(idx, self.view.strides, self.view.offset))


@dataclass(eq=False)
class Fn(Lazy):
    shape: tuple
    dtype: np.dtype
    fn: object
    cost: int = 1

    def at(self, idx):
        idx = tuple(idx)
        memo = self.__dict__.setdefault("_memo", {})   # shared sub-DAGs, not exponential trees
        r = memo.get(idx)
        if r is None:
            r = memo[idx] = self.fn(idx)
        return r


def remap(x: Lazy, shape, m, extra_cost=0):
    """The lazy value y[idx] = x[m(idx)]; stays Strided when the map is affine."""
    shape = tuple(shape)
    if isinstance(x, Strided):
        probe = tuple(Idx(f"_p{k}") for k in range(len(shape)))
        a = affine(x.at(m(probe)).index)
        if a is not None:
            return Strided(View(x.view.buf, shape, tuple(a[0].get(p, 0) for p in probe), a[1]))
    return Fn(shape, x.dtype, lambda idx: x.at(m(idx)), x.cost + extra_cost)


def lz_broadcast(x, shape):
    lead = len(shape) - len(x.shape)
    if tuple(shape) == tuple(x.shape):
        return x
    return remap(x, shape, lambda idx: tuple(c(0) if n == 1 else idx[k + lead] for k, n in enumerate(x.shape)))


def lz_transpose(x, axes):
    inv = np.argsort(axes)
    return remap(x, tuple(x.shape[a] for a in axes), lambda idx: tuple(idx[inv[k]] for k in range(len(axes))))


def _nocopy_strides(shape, strides, new):
    """NumPy's attempt_nocopy_reshape: strides giving `new` over the same memory, or None. Each
    group of axes (see _reshape_groups) must be contiguous in the old view."""
    out = [0] * len(new)
    for olds, news in _reshape_groups(shape, new):
        if any(strides[a] != strides[b] * shape[b] for a, b in zip(olds, olds[1:])):
            return None
        st = strides[olds[-1]]
        for j in reversed(news):
            out[j] = st
            st *= new[j]
    return tuple(out)


def lz_reshape(x, shape):
    shape = tuple(shape)
    if 0 in shape:          # nothing is read
        return Strided(View(x.view.buf, shape, cstrides(shape), x.view.offset)) if isinstance(x, Strided) else \
            remap(x, shape, lambda idx: tuple(c(0) for _ in x.shape))
    if isinstance(x, Strided):
        st = _nocopy_strides(x.shape, x.view.strides, shape)
        if st is not None:
            return Strided(View(x.view.buf, shape, st, x.view.offset))
    groups = _reshape_groups(x.shape, shape)

    def m(idx):
        """Per group of axes with equal products: a split is affine (old = a*k + b), only a
        merge needs division (a transposed image split into pooling windows stays affine)."""
        src = [c(0)] * len(x.shape)
        for olds, news in groups:
            lin = flat([idx[j] for j in news], cstrides([shape[j] for j in news]))
            ost = cstrides([x.shape[j] for j in olds])
            for k, (j, st) in enumerate(zip(olds, ost)):
                src[j] = _divmod(lin, st, x.shape[j], k == 0) if len(olds) > 1 else lin
        return tuple(src)
    return remap(x, shape, m, extra_cost=0 if all(len(o) == 1 for o, _ in groups) else 2)


def _reshape_groups(old, new):
    """[(old axes, new axes)]: the shortest runs of non-unit axes with equal products."""
    oa = [j for j, n in enumerate(old) if n != 1]
    na = [j for j, n in enumerate(new) if n != 1]
    groups, i, k = [], 0, 0
    while i < len(oa) and k < len(na):
        go, gn = [oa[i]], [na[k]]
        po, pn = old[oa[i]], new[na[k]]
        i, k = i + 1, k + 1
        while po != pn:
            if po < pn:
                go.append(oa[i])
                po *= old[oa[i]]
                i += 1
            else:
                gn.append(na[k])
                pn *= new[na[k]]
                k += 1
        groups.append((go, gn))
    return groups


def _divmod(lin, s, n, first):
    e = lin if s == 1 else ALU("idiv", (lin, c(s)), INT)
    return e if first else ALU("mod", (e, c(n)), INT)


def index_map(spec, src_shape, arrays, out_shape):
    """Multi-index map out -> source of x[spec] with NumPy advanced-indexing rules: the broadcast
    index dims replace adjacent advanced indices in place, else they go first."""
    adv = [k for k, e in enumerate(spec) if e[0] == "array"]
    if adv:
        advpos = [k for k, e in enumerate(spec) if e[0] in ("array", "int")]
        bshape = np.broadcast_shapes(*(arrays[spec[k][1]].shape for k in adv))
        nb = len(bshape)
        adjacent = advpos == list(range(advpos[0], advpos[-1] + 1))

    def m(idx):
        src, r, bidx = [], 0, None
        if adv and not adjacent:
            bidx, r = idx[:nb], nb
        for e in spec:
            tag = e[0]
            if tag == "slice":
                src.append(iadd(c(e[1]), imul(idx[r], e[3])))
                r += 1
            elif tag == "new":
                r += 1
            elif tag == "int":
                src.append(c(e[1]))
            else:
                if bidx is None:
                    bidx, r = idx[r:r + nb], r + nb
                a = arrays[e[1]]
                v = a.at(tuple(c(0) if n == 1 else bidx[k + nb - len(a.shape)] for k, n in enumerate(a.shape)))
                if v.dtype != INT:
                    v = ALU("cast", (v,), INT)
                n = src_shape[len(src)]
                src.append(v if isinstance(v, Const) and 0 <= v.value < n else ALU("wrap_index", (v, c(n)), INT))
        return tuple(src)
    return m


# ----------------------------------------------------------------------------- scalar ops
def cast(e, dtype):
    dtype = np.dtype(dtype)
    if e.dtype == dtype:
        return e
    to_real = e.dtype.kind == "c" and dtype.kind != "c"    # keeps the real part, as eagerly
    if isinstance(e, Const):
        v = np.asarray(e.value)
        return Const((v.real if to_real else v).astype(dtype).item(), dtype)
    if to_real:
        return cast(ALU("real", (e,), real_dtype(e.dtype)), dtype)
    return ALU("cast", (e,), dtype)


def scalar_op(prim, srcs, out_dtype):
    """The scalar expression of an elementwise primitive, inputs cast to the operation's dtype."""
    if prim == "cast" or PRIMS[prim].expr == "{0}":   # casts and the table's pass-throughs
        return cast(srcs[0], out_dtype)
    if prim in ("lt", "le", "gt", "ge", "eq", "ne"):
        dt = np.result_type(*(s.dtype for s in srcs))
        return ALU(prim, tuple(cast(s, dt) for s in srcs), BOOL)
    if prim.startswith("logical_"):
        return ALU(prim, tuple(cast(s, BOOL) for s in srcs), BOOL)
    if prim == "where":
        return ALU("where", (cast(srcs[0], BOOL), cast(srcs[1], out_dtype), cast(srcs[2], out_dtype)), out_dtype)
    if prim == "abs" and srcs[0].dtype.kind == "c":     # |z|: complex in, real out
        return ALU("abs", (srcs[0],), real_dtype(srcs[0].dtype))
    return ALU(prim, tuple(cast(s, out_dtype) for s in srcs), out_dtype)


# ----------------------------------------------------------------------------- nests
@dataclass(eq=False)
class Nest:
    """One loop nest over `extents` (loop variables i0, i1, ...): full-depth stores and
    reductions whose accumulator sits at `depth` (its kept axes are the outer loops)."""
    extents: tuple
    stores: list = field(default_factory=list)        # Store at full depth
    reduces: list = field(default_factory=list)       # (depth, Acc, expr, epilogue Store)
    matmul: MatMul | None = None
    fusable: bool = True

    def stmts(self):
        if self.matmul is not None:
            return [self.matmul]
        return emit_loops(self.extents, self.stores, self.reduces)

    def _leaves(self):
        """The statements that touch buffers, without the loops around them."""
        if self.matmul is not None:
            return [self.matmul]
        return self.stores + [Reduce(acc, e) for _, acc, e, _ in self.reduces] + [r[3] for r in self.reduces]

    @property
    def reads(self):
        return buffers_read(self._leaves())

    @property
    def writes(self):
        return buffers_written(self._leaves())


def loop_vars(n):
    return tuple(Idx(f"i{k}") for k in range(n))


def emit_loops(extents, stores, reduces, depth=0):
    here = [r for r in reduces if r[0] == depth]
    if depth == len(extents):   # (a reduction over no axes has its accumulator here too)
        return [Def(r[1]) for r in here] + list(stores) + [Reduce(acc, e) for d, acc, e, _ in reduces] + \
            [r[3] for r in here]
    inner = emit_loops(extents, stores, reduces, depth + 1)
    return [Def(r[1]) for r in here] + [Loop(Idx(f"i{depth}"), extents[depth], inner)] + [r[3] for r in here]


# ----------------------------------------------------------------------------- the lowering
class Lowering:
    def __init__(self, p: Program, fuse: bool, row_sums: bool = True):
        self.p, self.fuse, self.row_sums = p, fuse, row_sums
        self.nests, self.temps, self.n_acc, self.bufs = [], [], 0, {}
        self.params = [Buffer(f"a{k}", v.shape, v.dtype, "in") for k, v in enumerate(p.invars + p.constvars)]
        self.outs, self.out_buf = [], {}
        for v in p.outvars:
            if isinstance(v, Var) and id(v) not in self.out_buf:
                b = Buffer(f"o{len(self.outs)}", v.shape, v.dtype, "out")
                self.outs.append(b)
                self.out_buf[id(v)] = b
        # an output that reshapes a reduction, matmul, concat or scatter (a bias gradient: the
        # sum over the batch, reshaped): that op writes the output buffer itself, no copy
        prod = {id(e.out): e for e in p.eqns}
        for v in p.outvars:
            u = v
            while isinstance(u, Var) and id(u) in prod and prod[id(u)].prim.name == "reshape":
                u = prod[id(u)].inputs[0]
            if u is not v and isinstance(u, Var) and id(u) in prod and id(u) not in self.out_buf and (
                    prod[id(u)].prim.kind in OWN_BUFFER):
                self.out_buf[id(u)] = self.out_buf[id(v)]

    # buffers ------------------------------------------------------------------
    def buffer_for(self, v):
        b = self.out_buf.get(id(v)) or self.bufs.get(id(v))
        if b is None:
            b = self.bufs[id(v)] = Buffer(f"t{len(self.temps)}", v.shape, v.dtype, "tmp")
            self.temps.append(b)
        return b

    def materialize(self, x: Lazy, buf: Buffer):
        idx = loop_vars(len(x.shape))
        self.nests.append(Nest(x.shape, [Store(buf, flat(idx, cstrides(x.shape)), cast(x.at(idx), buf.dtype))]))
        return Strided(View(buf, x.shape, cstrides(x.shape)))

    def temp_copy(self, x: Lazy):
        b = Buffer(f"t{len(self.temps)}", x.shape, x.dtype, "tmp")
        self.temps.append(b)
        return self.materialize(x, b)

    # analysis: which variables get a buffer ------------------------------------
    def plan(self):
        p = self.p
        eqns = p.eqns
        M = {id(v) for v in p.outvars if isinstance(v, Var)}
        if not self.fuse:
            return M | {id(e.out) for e in eqns}
        prod = {id(e.out): e for e in eqns}
        for e in eqns:
            kind = e.prim.kind
            if kind in OWN_BUFFER:
                M.add(id(e.out))
            if kind == "matmul":
                for v in e.inputs:   # operands must be buffers: materialise the base under views
                    while isinstance(v, Var) and id(v) in prod and id(v) not in M and _is_view(prod[id(v)]):
                        v = prod[id(v)].inputs[0]
                    if isinstance(v, Var) and id(v) in prod:
                        M.add(id(v))
        M |= _compared_with_their_max(eqns, prod)
        while True:
            cost, sigs = {}, defaultdict(set)
            for e in eqns:
                kind = e.prim.kind
                own = e.prim.cost if kind == "elementwise" else 0 if kind == "view" else 2
                cost[id(e.out)] = own + sum(cost.get(id(i), 1) for i in e.inputs
                                            if isinstance(i, Var) and id(i) not in M)
            for e in reversed(eqns):
                s = {self.nest_sig(e)} if id(e.out) in M else sigs[id(e.out)]
                for i in e.inputs:
                    if isinstance(i, Var):
                        sigs[id(i)] |= s
            grow = _fanin_cuts(eqns, M)
            for e in eqns:
                v = e.out
                if id(v) in M or cost[id(v)] < RECOMPUTE_MAX_COST:
                    continue
                expanded = any(_size(u.out) > _size(v) for u in self.users[id(v)]
                               if u.prim.kind in ("elementwise", "view"))
                if len(sigs[id(v)]) > 1 or expanded:
                    grow.add(id(v))
            if not grow:
                return M
            M |= grow

    def nest_sig(self, e):
        kind = e.prim.kind
        if kind == "reduce":
            x = e.inputs[0]
            axes = e.params["axes"]
            kept = [d for d in range(len(x.shape)) if d not in axes]
            return tuple(x.shape[d] for d in kept + list(axes))
        if kind in ("elementwise", "view", "unfold", "index"):
            return tuple(e.out.shape)
        return ("own", id(e))

    # main ------------------------------------------------------------------------
    def run(self) -> Kernel:
        p = self.p
        self.users = defaultdict(list)
        for e in p.eqns:
            for i in e.inputs:
                if isinstance(i, Var):
                    self.users[id(i)].append(e)
        M = self.plan()
        env = {}
        for v, b in zip(p.invars + p.constvars, self.params):
            env[id(v)] = Strided(View(b, v.shape, cstrides(v.shape)))

        def get(v):
            if isinstance(v, Literal):
                val = Const(np.asarray(v.value, v.dtype).item(), v.dtype)
                return Fn((), v.dtype, lambda idx: val, 0)
            return env[id(v)]

        for e in p.eqns:
            ins = [get(i) for i in e.inputs]
            out = e.out
            rule = LOWER.get(e.prim.kind)
            if rule is None:
                raise NotImplementedError(f"no lowering for {e.prim.name} (kind {e.prim.kind!r})")
            val = rule(self, e, ins)
            if id(out) in M and not (isinstance(val, Strided) and val.view.buf == self.buffer_for(out)
                                     and val.view.strides == cstrides(out.shape)):
                val = self.materialize(val, self.buffer_for(out))
            env[id(out)] = val
        # outputs that are inputs or views: copy into their output buffer
        for v in p.outvars:
            if isinstance(v, Var):
                b = self.out_buf[id(v)]
                x = env[id(v)]
                if not (isinstance(x, Strided) and x.view.buf == b):
                    env[id(v)] = self.materialize(x, b)
        return self.finish()

    # primitives --------------------------------------------------------------------
    def elementwise(self, e, ins):
        shape = e.out.shape
        xs = [lz_broadcast(x, shape) for x in ins]
        prim, dt = e.prim, e.out.dtype
        return Fn(shape, dt, lambda idx: scalar_op(prim.name, [x.at(idx) for x in xs], dt),
                  prim.cost + sum(x.cost for x in xs))

    def view(self, e, x):
        if e.prim.name == "reshape":
            return lz_reshape(x, e.params["shape"])
        if e.prim.name == "transpose":
            return lz_transpose(x, e.params["axes"])
        return lz_broadcast(x, e.params["shape"])

    def getitem(self, e, ins):
        x, arrays = ins[0], ins[1:]
        m = index_map(e.params["index"], x.shape, arrays, e.out.shape)
        return remap(x, e.out.shape, m, extra_cost=2 * len(arrays))

    def reduce(self, e, x, buf, window=False):
        """`window`: the terms are a kernel window's (col2im), a fixed few whatever the sizes."""
        axes = tuple(e.params["axes"])
        kept = [d for d in range(len(x.shape)) if d not in axes]
        order = kept + list(axes)
        idx = loop_vars(len(order))
        src = [None] * len(order)
        for k, d in enumerate(order):
            src[d] = idx[k]
        op = "sum" if e.prim.name == "reduce_sum" else "max"
        if op == "sum":
            adt = np.dtype(np.float64) if x.dtype.kind == "f" else np.dtype(np.complex128) if x.dtype.kind == "c" else INT
            if window and x.dtype.kind in "fc" and math.prod(x.shape[d] for d in axes) <= SHORT_SUM:
                adt = x.dtype      # col2im's 3x3 terms: NumPy's and PyTorch's precision, full vectors
        else:
            adt = x.dtype
        if op == "sum" and self.row_sums and axes == tuple(range(len(axes))) and kept \
                and math.prod(x.shape[d] for d in kept) >= ROW_SUM_MIN and math.prod(x.shape[d] for d in axes) > 1:
            return self.row_sum(e, x, buf, len(axes), adt)
        self.n_acc += 1
        acc = Acc(f"acc{self.n_acc}", op, adt)
        expr = cast(x.at(tuple(src)), adt)
        ostore = Store(buf, flat(idx[:len(kept)], cstrides(tuple(x.shape[d] for d in kept))), cast(acc, buf.dtype))
        self.nests.append(Nest(tuple(x.shape[d] for d in order), [], [(len(kept), acc, expr, ostore)]))
        return Strided(View(buf, e.out.shape, cstrides(e.out.shape)))

    def row_sum(self, e, x, buf, n_axes, adt):
        """A sum over leading axes (a bias gradient: the batch's rows summed into one row) as
        rows added into a row of accumulators, in the same order as the reduction nest would:
        the inner loop runs along memory and vectorises, where a reduced inner axis strides a
        whole row per step (W9's 1024x512 column sums: 0.9 ms). Serial (an accumulating store)."""
        row = tuple(x.shape[n_axes:])
        st = cstrides(row)
        acc = Buffer(f"t{len(self.temps)}", row, adt, "tmp")
        self.temps.append(acc)
        kidx, idx = loop_vars(len(row)), loop_vars(len(x.shape))
        self.nests.append(Nest(row, [Store(acc, flat(kidx, st), c(0, adt))]))
        self.nests.append(Nest(tuple(x.shape), [Store(acc, flat(idx[n_axes:], st), cast(x.at(idx), adt), accumulate=True)],
                               fusable=False))
        self.nests.append(Nest(row, [Store(buf, flat(kidx, st), cast(Load(acc, flat(kidx, st)), buf.dtype))]))
        return Strided(View(buf, e.out.shape, cstrides(e.out.shape)))

    def matmul(self, e, a, b, buf):
        M, K, N = a.shape[-2], a.shape[-1], b.shape[-1]
        batch = e.out.shape[:-2]
        if (M * N * K <= SMALL_MATMUL or K <= SMALL_K or a.dtype.kind != "f" or a.dtype != b.dtype
                or a.dtype != buf.dtype):
            # out[..., m, n] = sum_k a[..., m, k] * b[..., k, n]: a reduction nest over (..., m, n, k)
            nb = len(batch)
            A = lz_broadcast(a, batch + (M, K))
            B = lz_broadcast(b, batch + (K, N))
            dt = buf.dtype
            prod = Fn(batch + (M, N, K), dt, lambda idx: scalar_op("mul", [
                A.at(idx[:nb] + (idx[nb], idx[nb + 2])), B.at(idx[:nb] + (idx[nb + 2], idx[nb + 1]))], dt))
            return self.reduce(_FakeEqn(PRIMS["reduce_sum"], {"axes": (nb + 2,)}, e.out), prod, buf)
        views = []
        for x, (r, cl) in ((a, (M, K)), (b, (K, N))):
            x = lz_broadcast(x, batch + (r, cl))
            if not (isinstance(x, Strided) and _blas_layout(x.view)):
                x = lz_broadcast(self.temp_copy(x), batch + (r, cl))
            views.append(x.view)
        out = View(buf, e.out.shape, cstrides(e.out.shape))
        self.nests.append(Nest(e.out.shape, matmul=_fold_batch(MatMul(out, views[0], views[1])), fusable=False))
        return Strided(out)

    def concat(self, e, ins, buf):
        axis, off = e.params["axis"], 0
        st = cstrides(e.out.shape)
        for x in ins:
            idx = loop_vars(len(x.shape))
            oidx = tuple(iadd(i, c(off)) if k == axis else i for k, i in enumerate(idx))
            self.nests.append(Nest(x.shape, [Store(buf, flat(oidx, st), cast(x.at(idx), buf.dtype))]))
            off += x.shape[axis]
        return Strided(View(buf, e.out.shape, st))

    def index_add(self, e, ins, buf):
        g, arrays = ins[0], ins[1:]
        shape = e.out.shape
        st = cstrides(shape)
        zidx = loop_vars(len(shape))
        self.nests.append(Nest(shape, [Store(buf, flat(zidx, st), c(0, buf.dtype) if buf.dtype != BOOL else c(False, BOOL))]))
        m = index_map(e.params["index"], shape, arrays, g.shape)
        idx = loop_vars(len(g.shape))
        self.nests.append(Nest(g.shape, [Store(buf, flat(m(idx), st), cast(g.at(idx), buf.dtype), accumulate=True)],
                               fusable=False))
        return Strided(View(buf, shape, st))

    def unfold(self, e, x):
        """cols[c, i, j, n, a, b] = x[n, c, a*sh + i*dh - ph, b*sw + j*dw - pw], `fill` outside:
        a strided view where no window leaves the input, else a clamped load under a mask."""
        p = e.params
        n, ch, h, w = x.shape
        fill = cast(c(p["fill"], np.float64), x.dtype)

        def source(idx):
            ci, i, j, ni, a, b = idx
            (hh, hc), (ww, wc) = _window_coord(a, i, p, 0, h), _window_coord(b, j, p, 1, w)
            return (ni, ci, hh, ww), hc + wc

        def at(idx):
            src, conds = source(idx)
            return ALU("where", (_all(conds), x.at(src), fill), x.dtype)
        if not source(loop_vars(6))[1]:
            return remap(x, e.out.shape, lambda idx: source(idx)[0])
        return Fn(e.out.shape, x.dtype, at, x.cost + 4)

    def fold(self, e, g, buf):
        """dx[n, c, y, z] = sum over (i, j) of the cols entry that read x[n, c, y, z], if any:
        col2im in gather form (each output written once: no races, parallel loops)."""
        p = e.params
        ch, kh, kw, n = g.shape[:4]
        out = tuple(g.shape[4:])

        def at(idx):
            ni, ci, y, z, i, j = idx
            a, ac = _window_source(y, i, p, 0, out[0])
            b, bc = _window_source(z, j, p, 1, out[1])
            v = g.at((ci, i, j, ni, a, b))
            return v if not ac + bc else ALU("where", (_all(ac + bc), v, c(0, g.dtype)), g.dtype)
        terms = Fn(e.out.shape + (kh, kw), g.dtype, at, g.cost + 6)
        return self.reduce(_FakeEqn(PRIMS["reduce_sum"], {"axes": (4, 5)}, e.out), terms, buf, window=True)

    def uniform(self, e, seed):
        """Each element hashes the seed with its C-order index (tracer.rng): a pure function,
        recomputed wherever it is used (a dropout mask in the forward and the backward)."""
        shape, dt, st = e.out.shape, e.out.dtype, cstrides(e.out.shape)
        s = cast(seed.at(()), INT)
        return Fn(shape, dt, lambda idx: cast(ALU("hash_uniform", (s, flat(idx, st)), F64), dt), 12)

    # grouping --------------------------------------------------------------------------
    def finish(self) -> Kernel:
        """Nests in order, each merged into the first earlier group of its extents that reads one
        of its inputs (one pass over that memory) and that nothing between orders it after (a read
        of its writes, a write of its reads or writes). Nests that share no input stay apart: one
        small kernel each, the same for any number of them (an unrolled loop's zero-fills)."""
        groups = []   # [extents, [nests], fusable, buffers the group reads]
        last_w, last_rw = {}, {}   # buffer -> last group that writes it / reads or writes it
        room = defaultdict(list)   # extents -> fusable groups with room, ascending
        for n in self.nests:
            reads, writes = n.reads, n.writes
            dep = max([last_w.get(b, -1) for b in reads] + [last_rw.get(b, -1) for b in writes], default=-1)
            cands = room[n.extents] if self.fuse and n.fusable else ()
            j = bisect.bisect_right(cands, dep)
            while j < len(cands) and groups[cands[j]][3].isdisjoint(reads):
                j += 1
            if j < len(cands):
                gi = cands[j]
                groups[gi][1].append(n)
                groups[gi][3] |= reads
                if len(groups[gi][1]) >= MAX_GROUP:
                    del cands[j]
            else:
                gi = len(groups)
                groups.append([n.extents, [n], n.fusable, set(reads)])
                if self.fuse and n.fusable:
                    room[n.extents].append(gi)
            for b in reads:
                last_rw[b] = max(last_rw.get(b, -1), gi)
            for b in writes:
                last_w[b] = max(last_w.get(b, -1), gi)
                last_rw[b] = max(last_rw.get(b, -1), gi)
        body = []
        for extents, nests, _, _ in groups:
            if nests[0].matmul is not None:
                body.append(nests[0].matmul)
            else:
                body += emit_loops(extents, [s for n in nests for s in n.stores],
                                   [r for n in nests for r in n.reduces])
        p = self.p
        return Kernel(self.params, [v.shape for v in p.invars + p.constvars], self.outs, self.temps, body,
                      outvars=list(p.outvars))


# primitive kind (the table's `kind` column) -> how an equation becomes a lazy value, adding the
# loop nests it needs; a new kind of primitive is one entry here
LOWER = {
    "elementwise": lambda L, e, ins: L.elementwise(e, ins),
    "view": lambda L, e, ins: L.view(e, ins[0]),
    "index": lambda L, e, ins: L.getitem(e, ins),
    "scatter": lambda L, e, ins: L.index_add(e, ins, L.buffer_for(e.out)),
    "reduce": lambda L, e, ins: L.reduce(e, ins[0], L.buffer_for(e.out)),
    "matmul": lambda L, e, ins: L.matmul(e, ins[0], ins[1], L.buffer_for(e.out)),
    "concat": lambda L, e, ins: L.concat(e, ins, L.buffer_for(e.out)),
    "unfold": lambda L, e, ins: L.unfold(e, ins[0]),
    "fold": lambda L, e, ins: L.fold(e, ins[0], L.buffer_for(e.out)),
    "random": lambda L, e, ins: L.uniform(e, ins[0]),
}


def _fanin_cuts(eqns, M):
    """Values to materialise so that no fused value reads more than MAX_FANIN buffers: where a
    value first exceeds it, its widest unmaterialised input is stored."""
    srcs, cut = {}, set()
    for e in eqns:
        own = set()
        widest = None
        for i in e.inputs:
            if not isinstance(i, Var):
                continue
            if id(i) in M or id(i) not in srcs:
                own.add(id(i))
            else:
                own |= srcs[id(i)]
                if len(srcs[id(i)]) > 1 and (widest is None or len(srcs[id(i)]) > len(srcs[widest])):
                    widest = id(i)
        if len(own) > MAX_FANIN and widest is not None and all(
                len(srcs.get(id(i), ())) <= MAX_FANIN for i in e.inputs if isinstance(i, Var)):
            cut.add(widest)
            own = {widest} | {x for i in e.inputs if isinstance(i, Var) and id(i) != widest
                              for x in ({id(i)} if id(i) in M or id(i) not in srcs else srcs[id(i)])}
        srcs[id(e.out)] = own
    return cut


def _is_view(e):
    """A strided window on its input: a view, or basic indexing (ints and slices, `xs[t]` of an
    unrolled loop), which BLAS reads in place where its layout allows (else matmul copies it)."""
    return e.prim.kind == "view" or e.prim.kind == "index" and len(e.inputs) == 1 and all(
        s[0] in ("int", "slice", "new") for s in e.params["index"])


def _through_views(v, prod):
    while isinstance(v, Var) and id(v) in prod and prod[id(v)].prim.kind == "view":
        v = prod[id(v)].inputs[0]
    return v


def _compared_with_their_max(eqns, prod):
    """Inputs of a reduce_max whose result an `eq` compares (max's gradient: the argmax mask).
    Recomputed in two loop nests, `x * y * 1.5` may round differently (fastmath reassociation
    hoists `y * 1.5` out of one of them, FMA contraction on a GPU), the mask comes out empty and
    the gradient NaN; stored once, both nests read the same bits."""
    out = set()
    for e in eqns:
        if e.prim.name != "eq":
            continue
        for side in e.inputs:
            r = prod.get(id(_through_views(side, prod)))
            if r is not None and r.prim.name == "reduce_max":
                x = _through_views(r.inputs[0], prod)
                if isinstance(x, Var) and id(x) in prod:
                    out.add(id(x))
    return out


def _all(conds):
    r = conds[0]
    for x in conds[1:]:
        r = ALU("logical_and", (r, x), BOOL)
    return r


def _window_coord(o, k, p, axis, size):
    """Input coordinate o*s + k*d - pad of window position o, tap k (clamped into the input),
    and the conditions for it to be inside: only those some window can fail."""
    s, d, pad = p["stride"][axis], p["dilation"][axis], p["padding"][axis]
    top = (p["grid"][axis] - 1) * s + (p["kernel"][axis] - 1) * d - pad
    e = iadd(iadd(imul(o, s), imul(k, d)), c(-pad))
    conds = []
    if pad > 0:
        conds.append(ALU("ge", (e, c(0)), BOOL))
        e_safe = ALU("maximum", (e, c(0)), INT)
    else:
        e_safe = e
    if top >= size:
        conds.append(ALU("lt", (e, c(size)), BOOL))
        e_safe = ALU("minimum", (e_safe, c(size - 1)), INT)
    return e_safe, conds


def _window_source(y, k, p, axis, n_out):
    """The window position a with a*s + k*d - pad == y (clamped into range), and the
    conditions for one to exist."""
    s, d, pad = p["stride"][axis], p["dilation"][axis], p["padding"][axis]
    size = p["size"][axis]
    t = iadd(y, iadd(c(pad), imul(k, -d)))
    conds = []
    if pad - (p["kernel"][axis] - 1) * d < 0:
        conds.append(ALU("ge", (t, c(0)), BOOL))
    if s > 1:
        conds.append(ALU("eq", (ALU("mod", (t, c(s)), INT), c(0)), BOOL))
        t = ALU("idiv", (t, c(s)), INT)
    if conds and conds[0].op == "ge":
        t = ALU("maximum", (t, c(0)), INT)
    if (size - 1 + pad) // s >= n_out:
        conds.append(ALU("lt", (t, c(n_out)), BOOL))
        t = ALU("minimum", (t, c(n_out - 1)), INT)
    return t, conds


def _size(v):
    return int(np.prod(v.shape, dtype=np.int64))


@dataclass
class _FakeEqn:
    """A reduction the matmul lowering asks for (small matmuls become reduction nests)."""
    prim: object   # a tracer Prim
    params: dict
    out: object


def _merged_rows(v: View):
    """v's batch axes and rows as one axis (a View of shape (rows, cols)), or None when the
    strides do not allow it."""
    st = [s for n, s in zip(v.shape[:-1], v.strides[:-1]) if n != 1]
    sh = [n for n in v.shape[:-1] if n != 1]
    if any(st[i] != st[i + 1] * sh[i + 1] for i in range(len(st) - 1)):
        return None
    rows = int(np.prod(v.shape[:-1], dtype=np.int64))
    return View(v.buf, (rows, v.shape[-1]), (st[-1] if st else 0, v.strides[-1]), v.offset)


def _fold_batch(mm: MatMul):
    """A batched matmul whose right operand is the same matrix for every batch entry (a Linear
    layer on (B, T, E) input) is one GEMM with the batch folded into the rows."""
    a, b, out = mm.a, mm.b, mm.out
    if len(out.shape) < 3 or any(s for n, s in zip(b.shape[:-2], b.strides[:-2]) if n != 1):
        return mm
    a2, o2 = _merged_rows(a), _merged_rows(out)
    if a2 is None or o2 is None or not _blas_layout(a2):
        return mm
    return MatMul(o2, a2, View(b.buf, b.shape[-2:], b.strides[-2:], b.offset))


def _blas_layout(v: View):
    """C- or F-ordered last two dims (what np.dot takes without a copy)."""
    r, cl = v.shape[-2], v.shape[-1]
    sr, sc = v.strides[-2], v.strides[-1]
    return (sc == 1 or cl == 1) and (sr == cl or r == 1) or (sr == 1 or r == 1) and (sc == r or cl == 1)


def lower(p: Program, opts) -> Kernel:
    return Lowering(p, opts.fuse, opts.row_sums).run()
