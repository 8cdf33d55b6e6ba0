"""The loop IR: flat buffers, loop nests, stores, reductions and BLAS matmuls.

Every array in a kernel is a flat C-ordered `Buffer`; a view (broadcast, transpose, slice,
reshape) is nothing but the index expression of a `Load`. Expressions are frozen dataclasses,
so structural equality gives CSE for free.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from tracer.primitives import PRIMS

INT = np.dtype(np.int64)
BOOL = np.dtype(np.bool_)
# scalar ops a backend must render, with their arity: every elementwise primitive that is an
# op of its own (not a pass-through such as stop_gradient), and the index arithmetic lowering adds
OPS = {**{p.name: p.arity for p in PRIMS.values() if p.kind == "elementwise" and p.expr != "{0}"},
       "idiv": 2, "mod": 2, "wrap_index": 2, "hash_uniform": 2, "real": 1}


class IRError(AssertionError):
    """A Program or Kernel that breaks the IR's rules (a compiler bug, not the user's)."""


# ----------------------------------------------------------------------------- expressions
def _node(cls):
    """Expressions are DAGs with heavy sharing: cache the hash, compare by hash first."""
    fields = tuple(cls.__dataclass_fields__)

    def __hash__(self):
        h = self.__dict__.get("_h")
        if h is None:
            h = hash((cls.__name__,) + tuple(getattr(self, f) for f in fields))
            object.__setattr__(self, "_h", h)
        return h

    def __eq__(self, other):
        if self is other:
            return True
        if type(other) is not cls or hash(self) != hash(other):
            return False
        return all(getattr(self, f) == getattr(other, f) for f in fields)
    cls.__hash__, cls.__eq__ = __hash__, __eq__
    return cls


@_node
@dataclass(frozen=True)
class Buffer:
    name: str
    shape: tuple
    dtype: np.dtype
    role: str = "tmp"   # in | out | tmp

    @property
    def size(self):
        return math.prod(self.shape)

    def __repr__(self):
        return self.name


@_node
@dataclass(frozen=True)
class Const:
    value: object
    dtype: np.dtype

    def __repr__(self):
        return repr(self.value) if self.dtype == INT else f"{self.value!r}:{self.dtype}"


@dataclass(frozen=True)
class _Named:
    """A scalar the kernel's source names: a loop variable, an argument, a let."""
    name: str
    dtype: np.dtype = INT

    def __repr__(self):
        return self.name


@_node
@dataclass(frozen=True, repr=False)
class Idx(_Named):
    """A loop variable (int64)."""


@_node
@dataclass(frozen=True)
class Load:
    buf: Buffer
    index: object   # int64 expression: flat element offset

    @property
    def dtype(self):
        return self.buf.dtype

    def __repr__(self):
        return f"{self.buf.name}[{self.index!r}]"


@_node
@dataclass(frozen=True)
class ALU:
    op: str
    srcs: tuple
    dtype: np.dtype

    def __repr__(self):
        if self.op == "cast":
            return f"cast<{self.dtype}>({self.srcs[0]!r})"
        return f"{self.op}({', '.join(map(repr, self.srcs))})"


@_node
@dataclass(frozen=True)
class Acc:
    """A scalar accumulator; `AccRef`-free: the Acc itself is the expression reading it."""
    name: str
    op: str          # sum | max
    dtype: np.dtype

    def __repr__(self):
        return self.name


@_node
@dataclass(frozen=True, repr=False)
class Sym(_Named):
    """A run-time scalar argument of a loop-nest kernel: a size, stride or constant that was
    abstracted out of the nest so one compiled kernel serves every value of it."""


@_node
@dataclass(frozen=True, repr=False)
class LetRef(_Named):
    """The value a Let statement named (reused instead of recomputed)."""


# ----------------------------------------------------------------------------- statements
@dataclass(eq=False)
class Loop:
    var: Idx
    extent: int
    body: list
    parallel: bool = False


@dataclass(eq=False)
class Store:
    buf: Buffer
    index: object
    expr: object
    accumulate: bool = False   # buf[index] += expr (scatter-add)


@dataclass(eq=False)
class Def:
    """Declare and initialise an accumulator (0 for sum, -inf for max)."""
    acc: Acc


@dataclass(eq=False)
class Reduce:
    acc: Acc
    expr: object


@dataclass(eq=False)
class Let:
    ref: LetRef
    expr: object


@dataclass(frozen=True)
class View:
    """A strided window on a flat buffer (what MatMul operands and outputs are)."""
    buf: Buffer
    shape: tuple
    strides: tuple
    offset: int = 0

    def __repr__(self):
        return f"{self.buf.name}@{self.offset}{list(self.shape)}/{list(self.strides)}"


@dataclass(eq=False)
class MatMul:
    """out = a @ b with NumPy batch broadcasting; lowered to np.dot (BLAS) per batch entry."""
    out: View
    a: View
    b: View


@dataclass(eq=False)
class Kernel:
    params: list          # input Buffers (invars then constvars), flat
    param_shapes: list    # their n-d shapes
    outs: list            # output Buffers (one per distinct output Var)
    temps: list
    body: list
    storage: dict = field(default_factory=dict)   # temp name -> storage temp name (buffer plan)
    flags: dict = field(default_factory=dict)
    outvars: list = field(default_factory=list)  # the Program's outputs after graph passes

    def __str__(self):
        return format_kernel(self)


STATEMENTS = (Loop, Store, Def, Reduce, Let, MatMul)
NEST_STATEMENTS = (Loop, Store, Def, Reduce, Let)     # inside a loop nest (a MatMul is a step)


def statement_rules(what, rules, covers=STATEMENTS):
    """The one statement visitor: `rules` maps each statement type to `rule(s, *args)`, and
    the returned `visit(s, *args)` dispatches on type(s). A type it does not cover is an error
    when the module defining it is imported, naming the visitor (`what`), not a silent skip."""
    missing = [c.__name__ for c in covers if c not in rules]
    if missing:
        raise IRError(f"{what}: no rule for {', '.join(missing)} statements")

    def visit(s, *args):
        rule = rules.get(type(s))
        if rule is None:
            raise IRError(f"{what}: no rule for {type(s).__name__} statements ({s!r})")
        return rule(s, *args)
    return visit


# ----------------------------------------------------------------------------- helpers
def children(e):
    if isinstance(e, ALU):
        return e.srcs
    if isinstance(e, Load):
        return (e.index,)
    return ()


def walk_expr(e, seen=None):
    """Each node of an expression DAG once (loads' index expressions included)."""
    seen = set() if seen is None else seen
    stack = [e]
    while stack:
        e = stack.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        stack.extend(children(e))


stmt_exprs = statement_rules("stmt_exprs", {    # the expressions a statement evaluates itself
    Loop: lambda s: [], Store: lambda s: [s.index, s.expr], Def: lambda s: [], Reduce: lambda s: [s.expr],
    Let: lambda s: [s.expr], MatMul: lambda s: []})


def walk_stmts(body):
    for s in body:
        yield s
        if isinstance(s, Loop):
            yield from walk_stmts(s.body)


def reduced_accs(loop):
    """Accumulators reduced inside `loop` but declared outside it."""
    inner = {s.acc for s in walk_stmts(loop.body) if isinstance(s, Def)}
    return list(dict.fromkeys(s.acc for s in walk_stmts(loop.body)
                              if isinstance(s, Reduce) and s.acc not in inner))


def loop_work(s):
    """Iterations of a statement's innermost body: what a nest costs, roughly."""
    if not isinstance(s, Loop):
        return 1
    return s.extent * max((loop_work(x) for x in s.body), default=1)


_NONE = frozenset()


def loads_of(e):
    """The buffers an expression loads from, its loads' indices included. Cached on each node
    (expressions are immutable, shared DAGs: fusion asks this of every nest, many times)."""
    r = e.__dict__.get("_loads")
    if r is not None:
        return r
    stack = [e]
    while stack:                      # post-order without recursion (long chains)
        x = stack[-1]
        if "_loads" in x.__dict__:
            stack.pop()
            continue
        kids = children(x)
        todo = [k for k in kids if "_loads" not in k.__dict__]
        if todo:
            stack.extend(todo)
            continue
        got = _NONE.union(*(k.__dict__["_loads"] for k in kids)) if kids else _NONE
        object.__setattr__(x, "_loads", got | {x.buf} if isinstance(x, Load) else got)
        stack.pop()
    return e.__dict__["_loads"]


def buffers_read(stmts):
    out = set()
    for s in walk_stmts(stmts):
        if isinstance(s, MatMul):
            out |= {s.a.buf, s.b.buf}
        if isinstance(s, Store) and s.accumulate:
            out.add(s.buf)
        for e in stmt_exprs(s):
            out |= loads_of(e)
    return out


def buffers_written(stmts):
    return {s.buf for s in walk_stmts(stmts) if isinstance(s, Store)} | \
           {s.out.buf for s in walk_stmts(stmts) if isinstance(s, MatMul)}


# ----------------------------------------------------------------------------- printer
def format_kernel(k: Kernel) -> str:
    sig = ", ".join(f"{b.name}: {b.dtype}{list(s)}" for b, s in zip(k.params, k.param_shapes))
    outs = ", ".join(f"{b.name}: {b.dtype}{list(b.shape)}" for b in k.outs)
    lines = [f"kernel({sig}) -> ({outs})" + (f"  flags={k.flags}" if k.flags else "")]
    for t in k.temps:
        at = k.storage.get(t.name, t.name)
        lines.append(f"  tmp {t.name}: {t.dtype}[{t.size}]" + (f" in {at}" if at != t.name else ""))
    lines += format_body(k.body, 1)
    return "\n".join(lines)


def format_body(body, depth):
    pad = "  " * depth
    return [line for s in body for line in _format(s, pad, depth)]


_format = statement_rules("format_kernel", {
    Loop: lambda s, pad, depth: [f"{pad}for {s.var} in 0..{s.extent}{' parallel' if s.parallel else ''}:",
                                 *format_body(s.body, depth + 1)],
    Store: lambda s, pad, depth: [f"{pad}{s.buf.name}[{s.index!r}] {'+=' if s.accumulate else '='} {s.expr!r}"],
    Def: lambda s, pad, depth: [f"{pad}{s.acc.name}: {s.acc.dtype} = {s.acc.op} identity"],
    Reduce: lambda s, pad, depth: [f"{pad}{s.acc.name} {s.acc.op}= {s.expr!r}"],
    Let: lambda s, pad, depth: [f"{pad}let {s.ref.name} = {s.expr!r}"],
    MatMul: lambda s, pad, depth: [f"{pad}{s.out!r} = matmul({s.a!r}, {s.b!r})"],
})


# ----------------------------------------------------------------------------- verifier
def _same_as_result(x):
    return [x.dtype] * len(x.srcs), x.dtype


def _compare(x):
    return [x.srcs[0].dtype] * len(x.srcs), BOOL


# op -> (ALU) -> (operand dtypes, result dtype) it must have, or None (any); others: all the result's
ALU_TYPES = {
    "cast": lambda x: None,
    **{op: _compare for op in ("lt", "le", "gt", "ge", "eq", "ne")},
    **{op: lambda x: ([BOOL] * len(x.srcs), BOOL) for op in ("logical_and", "logical_or", "logical_not")},
    "where": lambda x: ([BOOL, x.dtype, x.dtype], x.dtype),
    **{op: lambda x: ([INT, INT], INT) for op in ("idiv", "mod", "wrap_index")},
    "hash_uniform": lambda x: ([INT, INT], np.dtype(np.float64)),
    "real": lambda x: ([complex_dtype(x.dtype)], x.dtype),
    "abs": lambda x: ([complex_dtype(x.dtype) if x.srcs[0].dtype.kind == "c" else x.dtype], x.dtype),
}


def real_dtype(dt):
    """float64 for complex128, float32 for complex64 (the dtype of z.real)."""
    return np.dtype(np.dtype(dt).char.lower()) if np.dtype(dt).kind == "c" else np.dtype(dt)


def complex_dtype(dt):
    return np.result_type(dt, np.complex64)


def _check_alu(x):
    if x.op not in OPS or (OPS[x.op] is not None and OPS[x.op] != len(x.srcs)):
        raise IRError(f"bad ALU {x.op}/{len(x.srcs)}")
    want = ALU_TYPES.get(x.op, _same_as_result)(x)
    if want is not None and ([s.dtype for s in x.srcs] != want[0] or x.dtype != want[1]):
        raise IRError(f"{x!r}: {x.op} of {', '.join(str(s.dtype) for s in x.srcs)} -> {x.dtype}, "
                      f"expected {', '.join(map(str, want[0]))} -> {want[1]}")


def verify_kernel(k: Kernel):
    """Check scoping, typing and buffer invariants; raise IRError naming the first violation."""
    _Verifier(k).body(k.body, set(), False)
    return k


class _Verifier:
    def __init__(self, k):
        self.bufs = {b.name: b for b in k.params + k.outs + k.temps}
        if len(self.bufs) != len(k.params) + len(k.outs) + len(k.temps):
            raise IRError("duplicate buffer names")
        for t, s in k.storage.items():
            b = self.bufs
            if t not in b or s not in b or b[t].dtype != b[s].dtype or b[t].size > b[s].size:
                raise IRError(f"bad storage plan {t} -> {s}")
        self.inputs = {b.name for b in k.params}

    def body(self, body, scope, in_parallel):
        scope = set(scope)      # what a statement declares is in scope for the rest of its body
        for s in body:
            _verify(s, self, scope, in_parallel)

    def expr(self, e, scope):
        for x in walk_expr(e):
            if isinstance(x, Load):
                if self.bufs.get(x.buf.name) != x.buf:
                    raise IRError(f"load from undeclared buffer {x.buf.name}")
                if x.index.dtype != INT:
                    raise IRError(f"non-integer index {x.index!r}")
            elif isinstance(x, (Idx, Acc, LetRef)):
                if x not in scope:
                    raise IRError(f"{x!r} used outside its scope")
            elif isinstance(x, ALU):
                _check_alu(x)
            elif not isinstance(x, (Const, Sym)):
                raise IRError(f"unknown expression {x!r}")

    def view(self, v, write):
        if self.bufs.get(v.buf.name) != v.buf or (write and v.buf.name in self.inputs):
            raise IRError(f"bad matmul buffer {v.buf.name}")
        hi = v.offset + sum((n - 1) * s for n, s in zip(v.shape, v.strides) if n > 0 and s > 0)
        if min(v.shape, default=1) > 0 and (v.offset < 0 or hi >= v.buf.size):
            raise IRError(f"matmul view {v!r} out of bounds")

    def loop(self, s, scope, in_parallel):
        if s.var in scope:
            raise IRError(f"loop variable {s.var} shadows an outer one")
        if not (isinstance(s.extent, Sym) or isinstance(s.extent, int) and s.extent >= 0):
            raise IRError(f"bad extent {s.extent}")
        if s.parallel and in_parallel:
            raise IRError("nested parallel loops")
        self.body(s.body, scope | {s.var}, in_parallel or s.parallel)

    def store(self, s, scope, in_parallel):
        if self.bufs.get(s.buf.name) != s.buf or s.buf.name in self.inputs:
            raise IRError(f"store to {s.buf.name}: not a writable buffer")
        if s.accumulate and in_parallel:
            raise IRError("scatter-add inside a parallel loop")
        self.expr(s.index, scope)
        self.expr(s.expr, scope)
        if s.expr.dtype != s.buf.dtype:
            raise IRError(f"store of {s.expr.dtype} into {s.buf.name}: {s.buf.dtype}")

    def reduce(self, s, scope, in_parallel):
        if s.acc not in scope:
            raise IRError(f"reduce into undeclared {s.acc}")
        self.expr(s.expr, scope)

    def let(self, s, scope, in_parallel):
        self.expr(s.expr, scope)
        if s.ref.dtype != s.expr.dtype:
            raise IRError(f"let {s.ref} dtype mismatch")
        scope.add(s.ref)

    def matmul(self, s, scope, in_parallel):
        self.view(s.out, True)
        self.view(s.a, False)
        self.view(s.b, False)


_verify = statement_rules("verify_kernel", {
    Loop: lambda s, v, scope, par: v.loop(s, scope, par),
    Store: lambda s, v, scope, par: v.store(s, scope, par),
    Def: lambda s, v, scope, par: scope.add(s.acc),
    Reduce: lambda s, v, scope, par: v.reduce(s, scope, par),
    Let: lambda s, v, scope, par: v.let(s, scope, par),
    MatMul: lambda s, v, scope, par: v.matmul(s, scope, par),
})
