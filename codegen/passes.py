"""Loop-IR passes and the one pipeline that turns a traced Program into a Kernel.

Every pass is `pass(ir, opts) -> ir`; `PIPELINE` lists them in order and `run_pipeline`
applies them, optionally verifying after each (tests do).
"""
from __future__ import annotations

import bisect
import heapq
from collections import Counter, defaultdict
from dataclasses import dataclass

from .graph import cse, dce, fold_constants, simplify, verify_program
from .ir import (ALU, Idx, Kernel, Let, LetRef, Load, Loop, MatMul, Reduce, Store,
                 buffers_read, buffers_written, children, loop_work, stmt_exprs, verify_kernel, walk_expr, walk_stmts)
from .lower import lower

PARALLEL_MIN_WORK = 1 << 17   # loop iterations below which fork/join and 5x compile time don't pay


@dataclass
class Options:
    fuse: bool = True
    parallel: bool | None = None    # None: by work size; False: never; True: whenever legal
    row_sums: bool = True           # sums over leading axes as rows added (serial; not for GPUs)


# ----------------------------------------------------------------------------- CSE into lets
def _rebuild(e, kids):
    if isinstance(e, ALU):
        return ALU(e.op, tuple(kids), e.dtype)
    if isinstance(e, Load):
        return Load(e.buf, kids[0])
    return e


def cse_lets(k: Kernel, opts) -> Kernel:
    """Bind every expression node used more than once in a statement list to a `let`
    (canonicalising structurally equal nodes first), so shared work is computed once per
    iteration: forward values reused by the backward pass, tanh(x) used three times, ..."""
    k.body = _cse_body(k.body, [0])
    return k


def _cse_body(body, counter):
    body = [Loop(s.var, s.extent, _cse_body(s.body, counter), s.parallel) if isinstance(s, Loop) else s
            for s in body]
    table, canon_of, refs = {}, {}, Counter()    # refs: parents in the canonical DAG, and roots

    def canon(e):
        r = canon_of.get(id(e))
        if r is None:
            old = children(e)
            kids = [canon(x) for x in old]
            r = _rebuild(e, kids) if any(a is not b for a, b in zip(kids, old)) else e
            got = table.setdefault(r, r)
            if got is r:        # a new node of the canonical DAG: its edges counted once
                for ch in kids:
                    refs[id(ch)] += 1
            r = canon_of[id(e)] = got
        return r

    roots = []
    for s in body:
        rs = [canon(e) for e in stmt_exprs(s)]
        for r in rs:
            refs[id(r)] += 1
        roots.append(rs)

    def worth(e):
        return isinstance(e, (ALU, Load)) and refs[id(e)] > 1

    out, done = [], {}

    def rw(e, pending):
        r = done.get(id(e))
        if r is not None:
            return r
        kids = [rw(x, pending) for x in children(e)]
        new = _rebuild(e, kids) if any(a is not b for a, b in zip(kids, children(e))) else e
        if worth(e):
            counter[0] += 1
            ref = LetRef(f"x{counter[0]}", e.dtype)
            pending.append(Let(ref, new))
            new = ref
        done[id(e)] = new
        return new

    for s, rs in zip(body, roots):
        pending = []
        if isinstance(s, Store):
            s = Store(s.buf, rw(rs[0], pending), rw(rs[1], pending), s.accumulate)
        elif isinstance(s, Reduce):
            s = Reduce(s.acc, rw(rs[0], pending))
        out += pending + [s]
    return out


# ----------------------------------------------------------------------------- parallel loops
def parallelize(k: Kernel, opts) -> Kernel:
    """Parallelise the outer loop of nests big enough to pay for threads (and, with
    JITGRAD_PARALLEL=numba, for parallel=True's 5-6x compile time); never scatter-adds.
    Accumulators shared across iterations (sum or max) are privatised per chunk by the backend."""
    if opts.parallel is False:
        return k
    for i, s in enumerate(k.body):
        if not isinstance(s, Loop) or s.extent < 2:
            continue
        inner = list(walk_stmts(s.body))
        if any(isinstance(x, Store) and x.accumulate for x in inner):
            continue
        if opts.parallel or loop_work(s) >= PARALLEL_MIN_WORK:
            s.parallel = True
    k.flags["parallel"] = any(isinstance(s, Loop) and s.parallel for s in k.body)
    return k


# ----------------------------------------------------------------------------- buffer planning
def _leaves(stmt):
    """What `_in_place_ok` asks about a top-level statement, computed once per statement rather
    than once per candidate pair: its leaf statements in execution order, each with the loop
    variables around it (extent > 1) and its loads by buffer; its lets; and by buffer, the
    positions of the leaves that touch it (load, store, matmul)."""
    leaves, lets, touching = [], {}, defaultdict(list)

    def go(body, loops):
        for s in body:
            if isinstance(s, Loop):
                go(s.body, loops + ((s.var,) if s.extent > 1 else ()))
                continue
            loads = {}
            if isinstance(s, MatMul):
                bufs = {s.a.buf, s.b.buf, s.out.buf}
            else:
                for e in stmt_exprs(s):
                    for x in walk_expr(e):
                        if isinstance(x, Load):
                            loads.setdefault(x.buf, []).append(x.index)
                bufs = set(loads) | ({s.buf} if isinstance(s, Store) else set())
            if isinstance(s, Let):
                lets[s.ref] = s.expr
            for b in bufs:
                touching[b].append(len(leaves))
            leaves.append((s, loops, loads))
    go([stmt], ())
    return leaves, lets, touching


def _in_place_ok(stmt, dst, src, leaves=None):
    """True if `dst` can overwrite `src` inside top-level statement `stmt`: dst is stored at one
    index that visits each element once (it uses every enclosing loop variable), every load of
    src there is at that same index and comes before the store: each element is read, in the
    same iteration, before it is overwritten."""
    leaves, lets, touching = leaves if leaves is not None else _leaves(stmt)
    index, stored = None, False

    def loop_vars_in(e):
        out = set()
        for x in walk_expr(e):
            if isinstance(x, Idx):
                out.add(x)
            elif isinstance(x, LetRef) and x in lets:
                out |= loop_vars_in(lets[x])
        return out

    for j in sorted(set(touching.get(src, ())) | set(touching.get(dst, ()))):
        s, loops, by_buf = leaves[j]
        if isinstance(s, MatMul):
            if src in (s.a.buf, s.b.buf) or dst == s.out.buf:
                return False
            continue
        loads = by_buf.get(src, ())
        if isinstance(s, Store) and s.buf == dst:
            if s.accumulate or not set(loops) <= loop_vars_in(s.index) or index not in (None, s.index):
                return False
            index, stored = s.index, True
        elif loads and stored:
            return False
        if loads and index is None:
            index = loads[0]
        if any(i != index for i in loads):
            return False
    return stored


def plan_buffers(k: Kernel, opts) -> Kernel:
    """Temporaries whose lifetimes (in top-level statements) do not overlap share storage, and a
    temporary computed elementwise from one that dies in the same loop nest overwrites it in
    place (no second buffer, one less stream of memory traffic)."""
    first, last = {}, {}
    for i, s in enumerate(k.body):
        for b in sorted(buffers_written([s]) | buffers_read([s]), key=lambda b: b.name):
            if b.role == "tmp":
                first.setdefault(b.name, i)
                last[b.name] = i
    temps = {t.name: t for t in k.temps}
    storage, cap, holder, leaves = {}, {}, {}, {}
    free = defaultdict(list)     # dtype -> sorted (capacity, storage) whose last holder is dead
    ends = []                    # heap of (last statement of its holder, storage)
    dying = defaultdict(list)    # statement -> storages whose holder's last statement it is
    freed = set()                # the storages in free

    def in_place(i, dst, src):
        if i not in leaves:
            leaves[i] = _leaves(k.body[i])
        return _in_place_ok(k.body[i], dst, src, leaves[i])
    for n in sorted(first, key=lambda m: (first[m], m)):   # name breaks ties: same source every process
        t, i = temps[n], first[n]
        while ends and ends[0][0] < i:                      # storages whose holder died before i
            end, st = heapq.heappop(ends)
            if last[holder[st]] == end and st not in freed:  # (not handed on since)
                freed.add(st)
                bisect.insort(free[temps[st].dtype], (cap[st], st))
        pool = free[t.dtype]
        j = bisect.bisect_left(pool, (t.size, ""))
        best = pool[j] if j < len(pool) else None
        # its holder's last read is here, before t overwrites it: in place. Among several, the
        # smallest, then the first one loaded (not the first name: the same choice, and the same
        # kernel, wherever the nest recurs, whatever its buffers are called)
        inplace = [st for st in dying[i] if last[holder[st]] == i and first[holder[st]] < i
                   and temps[st].dtype == t.dtype and cap[st] >= t.size and in_place(i, t, temps[holder[st]])]
        if inplace:
            order = {b: r for r, b in enumerate(b for _, _, loads in leaves[i][0] for b in loads)}
            st = min(inplace, key=lambda st: (cap[st], order.get(temps[holder[st]], len(order))))
            if best is None or cap[st] <= best[0]:
                best = (cap[st], st)
        if best is None:
            best, cap[n] = (t.size, n), t.size
        elif j < len(pool) and pool[j] == best:
            del pool[j]
            freed.discard(best[1])
        storage[n], holder[best[1]] = best[1], n
        heapq.heappush(ends, (last[n], best[1]))
        dying[last[n]].append(best[1])
    k.storage = {n: s for n, s in storage.items() if n != s}
    return k


# ----------------------------------------------------------------------------- pipeline
PIPELINE = [
    ("fold_constants", fold_constants),
    ("simplify", simplify),
    ("cse", cse),
    ("dce", dce),
    ("lower", lower),            # fusion happens here (opts.fuse)
    ("cse_lets", cse_lets),
    ("parallelize", parallelize),
    ("plan_buffers", plan_buffers),
]


def verify(ir):
    return verify_kernel(ir) if isinstance(ir, Kernel) else verify_program(ir)


def run_pipeline(program, opts: Options | None = None, check=False, trace=None):
    """Apply PIPELINE; `check` runs the verifier after every pass, `trace` collects
    (pass name, printed IR) for debugging."""
    opts = opts or Options()
    ir = program
    if check:
        verify(ir)
    for name, fn in PIPELINE:
        ir = fn(ir, opts)
        if check:
            verify(ir)
        if trace is not None:
            trace.append((name, str(ir)))
    return ir
