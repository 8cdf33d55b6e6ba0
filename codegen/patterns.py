"""Loop-nest patterns: the unit that is compiled, cached and shared.

A Kernel's body is a sequence of top-level loop nests (and BLAS matmuls). Each nest becomes a
*pattern*: its statements with buffers, accumulators and lets renamed in order of appearance,
index offsets (slices, concat pieces) replaced by `Sym` arguments, and, when `dynamic`, every
size, stride and float constant too (or, with a `Generalizer`, those whose values have differed:
a conv's 3x3 window stays a literal loop of 3 while the batch becomes an argument). Two nests
with the same pattern (an unrolled RNN's steps, two layers of one width, the same layer at
another batch size) are one compiled kernel; the driver passes each its buffers and values.

Sizes 0 and 1 stay constants (PyTorch specialises them too): stride-1 inner loops stay stride-1,
so LLVM still vectorises them, and a loop of one iteration disappears.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import threading

from .ir import (ALU, INT, Acc, Buffer, Const, Def, Let, LetRef, Load, Loop, MatMul, Reduce, Store,
                 NEST_STATEMENTS, Sym, format_body, statement_rules, walk_expr, stmt_exprs, walk_stmts)

# float constants kept in the code in dynamic mode; any other (a mean's 1/n, a variance's
# 1/(n-1), but also a 0.5 that is 1/n at n = 2) becomes an argument: a loop-invariant scalar
KEPT_FLOATS = frozenset([0.0, 1.0, -1.0])


@dataclass(eq=False)
class Pattern:
    body: list          # statements over buffers b0, b1, ... and symbols n0, n1, ... / f0, ...
    buffers: list       # the Kernel's Buffers passed as b0, b1, ... (in this order)
    syms: list          # Sym arguments after the buffers
    values: list        # this nest's value of each Sym
    parallel: bool
    sig: tuple = ()     # the backend's signature and source, once it has rendered the pattern
    source: str = ""


def split_nests(body):
    """Top-level statements grouped into nests: a group stays open while an accumulator or let
    it declares at top level is still used by a later statement (0-d reductions: Def, Loop,
    Store). MatMuls stand alone."""
    uses = []
    for s in body:
        names = set()
        for x in walk_stmts([s]):
            for e in stmt_exprs(x):
                names |= {n.name for n in walk_expr(e) if isinstance(n, (Acc, LetRef))}
            if isinstance(x, Reduce):
                names.add(x.acc.name)
        uses.append(names)
    last = {}
    for i, names in enumerate(uses):
        for n in names:
            last[n] = i
    groups, cur, open_until = [], [], -1
    for i, s in enumerate(body):
        if isinstance(s, MatMul):
            assert not cur, "a matmul inside an open loop nest"
            groups.append([s])
            continue
        cur.append(s)
        declared = [s.acc.name] if isinstance(s, Def) else [s.ref.name] if isinstance(s, Let) else []
        open_until = max([open_until] + [last.get(n, i) for n in declared])
        if open_until <= i:
            groups.append(cur)
            cur, open_until = [], -1
    assert not cur, "an accumulator outlives the kernel body"
    return groups


class _Abstractor:
    def __init__(self, dynamic, storage, fixed=frozenset()):
        self.dynamic, self.storage = dynamic, storage
        self.fixed = fixed          # candidate numbers that stay literals (see Generalizer)
        self.candidates = 0
        self.buffers, self.bufmap = [], {}
        self.syms, self.values = [], []
        self.names = {}
        self.memo = {}

    def buf(self, b):
        """Buffers that share storage (a temporary overwritten in place) are one argument: the
        arguments never overlap (the kernel's arrays are `noalias`), and LLVM sees the
        in-place update as the same array."""
        root = self.storage.get(b.name, b.name)
        r = self.bufmap.get(root)
        if r is None:
            r = self.bufmap[root] = Buffer(f"b{len(self.buffers)}", (), b.dtype, b.role)
            self.buffers.append(b)
        return r

    def sym(self, value, dtype):
        s = Sym(f"{'n' if dtype == INT else 'f'}{len(self.syms)}", np.dtype(dtype))
        self.syms.append(s)
        self.values.append(value)
        return s

    def candidate(self, value, dtype, literal):
        """A value that may become an argument: the literal where the Generalizer keeps it."""
        j = self.candidates
        self.candidates += 1
        return literal if j in self.fixed else self.sym(value, dtype)

    def abstract_const(self, e, offset=False):
        if offset and e.dtype == INT and e.value != 0:   # an index offset: a slice, a concat
            return self.candidate(int(e.value), INT, e)  # piece, an unrolled step's window
        if not self.dynamic:
            return e
        if e.dtype == INT and e.value not in (0, 1):
            return self.candidate(int(e.value), INT, e)
        if e.dtype.kind == "f" and np.isfinite(e.value) and float(e.value) not in KEPT_FLOATS:
            return self.candidate(float(e.value), e.dtype, e)
        return e

    def extent(self, n):
        return self.candidate(int(n), INT, n) if self.dynamic and n not in (0, 1) else n

    def rename(self, e, prefix):
        r = self.names.get(e.name)
        if r is None:
            r = self.names[e.name] = type(e)(f"{prefix}{len(self.names)}", *(
                (e.op, e.dtype) if isinstance(e, Acc) else (e.dtype,)))
        return r

    def expr(self, e):
        if isinstance(e, Const):       # no memo: each occurrence its own argument
            return self.abstract_const(e)
        hit = self.memo.get(id(e))
        if hit is not None:
            return hit[0]
        if isinstance(e, ALU):
            off = e.op == "add" and e.dtype == INT
            r = ALU(e.op, tuple(self.abstract_const(x, off) if isinstance(x, Const) else self.expr(x)
                                for x in e.srcs), e.dtype)
        elif isinstance(e, Load):
            r = Load(self.buf(e.buf), self.expr(e.index))
        elif isinstance(e, Acc):
            r = self.rename(e, "acc")
        elif isinstance(e, LetRef):
            r = self.rename(e, "x")
        else:
            r = e     # Idx: loop variables are named by depth already
        self.memo[id(e)] = (r, e)     # e kept alive while its id is a key
        return r

    def stmt(self, s):
        return _abstract(s, self)


_abstract = statement_rules("patterns.abstract", {
    Loop: lambda s, a: Loop(s.var, a.extent(s.extent), [a.stmt(x) for x in s.body], s.parallel),
    Store: lambda s, a: Store(a.buf(s.buf), a.expr(s.index), a.expr(s.expr), s.accumulate),
    Def: lambda s, a: Def(a.rename(s.acc, "acc")),
    Reduce: lambda s, a: Reduce(a.rename(s.acc, "acc"), a.expr(s.expr)),
    Let: lambda s, a: Let(a.rename(s.ref, "x"), a.expr(s.expr)),
}, covers=NEST_STATEMENTS)


def abstract(nest, dynamic, storage=None, fixed=frozenset()) -> Pattern:
    """The pattern of one nest; `storage` is the Kernel's buffer plan (temp name -> storage);
    `fixed`: the candidate arguments that stay literals."""
    a = _Abstractor(dynamic, storage or {}, fixed)
    body = [a.stmt(s) for s in nest]
    parallel = any(isinstance(s, Loop) and s.parallel for s in walk_stmts(nest))
    return Pattern(body, a.buffers, a.syms, a.values, parallel)


def _shape_of(pat):
    """What identifies a nest across sizes and places: its fully symbolic body and dtypes (not
    whether a loop runs on threads: a static kernel decided that by its size)."""
    text = "\n".join(format_body(pat.body, 0))
    dtypes = tuple(b.dtype.str for b in pat.buffers)
    pat.text = (text, dtypes)
    return text.replace(" parallel:", ":"), dtypes


class Generalizer:
    """Automatic dynamic sizes, per kernel argument: of a nest's fully symbolic pattern, only the
    values that have differed (between the sizes compiled so far, or between the places of the
    program where that nest occurs) become arguments; the others stay literals, so a conv's 3x3
    window or a head width keeps its small fixed loops (unrolled, never blocked) while the batch
    size is an argument. A literal that later differs is one more compile, then an argument.
    Correct for any history: a literal always has the nest's own value."""

    VARIES = object()

    def __init__(self):
        self.seen = {}          # _shape_of(full pattern) -> its values, VARIES where they differed
        self.programs = {}      # _shape_of(full pattern) -> how many programs had it
        self.templates = {}     # (full pattern's text, literals) -> its pattern, shared by its nests
        self.lock = threading.Lock()

    def observe(self, nests, storage):
        """Record every nest of a program; returns their fully symbolic patterns."""
        full = [abstract(n, True, storage) for n in nests]
        with self.lock:
            for p in full:
                p.shape = _shape_of(p)
                old = self.seen.get(p.shape)
                if old is None:
                    self.seen[p.shape] = list(p.values)
                else:
                    for j, v in enumerate(p.values):
                        if old[j] is not self.VARIES and old[j] != v:
                            old[j] = self.VARIES
            for shape in {p.shape for p in full}:
                self.programs[shape] = self.programs.get(shape, 0) + 1
        return full

    def specialise(self, full, nest, storage):
        """The nest's pattern with the literals of `fixed`: one body (and one rendered source)
        for every nest of the same full pattern, its own buffers and argument values."""
        fixed = self.fixed(full.shape)
        key = (full.text, fixed)
        t = self.templates.get(key)
        if t is None:
            t = self.templates[key] = abstract(nest, True, storage, fixed)
        p = Pattern(t.body, full.buffers, t.syms, [v for j, v in enumerate(full.values) if j not in fixed],
                    t.parallel)
        p.template = t
        return p

    def observe_kernel(self, k):
        self.observe(loop_nests(k), k.storage)

    def fixed(self, shape):
        """Literals: values seen in two programs at least (a nest that a new size fuses
        differently has nothing to compare with: all its values are arguments), never varied."""
        with self.lock:
            if self.programs.get(shape, 0) < 2:
                return frozenset()
            return frozenset(j for j, v in enumerate(self.seen[shape]) if v is not self.VARIES)


def loop_nests(k):
    return [n for n in split_nests(k.body) if not isinstance(n[0], MatMul)]


def abstract_all(nests, dynamic, storage):
    """The patterns of a program's loop nests; `dynamic`: False, True (every size an argument)
    or a Generalizer (the sizes that varied), which first sees the whole program."""
    if not isinstance(dynamic, Generalizer):
        return [abstract(n, dynamic, storage) for n in nests]
    full = dynamic.observe(nests, storage)
    return [dynamic.specialise(p, n, storage) for n, p in zip(nests, full)]
