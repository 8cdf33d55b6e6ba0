"""Passes over the traced Program (flat equations), before loops exist.

Cheaper to do here than on loops: constant folding, algebraic simplification (the backward
pass is full of `x * broadcast(1.0)` and `pow(x, 2.0 - 1.0)`), CSE and DCE. Each pass returns a
new Program and never mutates the tracer's (jit_grad keeps it for `explain`).
"""
from __future__ import annotations

import numpy as np

from tracer.primitives import PRIMS, abstract_eval, stand_in
from tracer.program import Eqn, Literal, Program, Var

from .ir import IRError


def _rebuild(p, eqns, subst):
    def s(v):
        while isinstance(v, Var) and id(v) in subst:
            v = subst[id(v)]
        return v
    new = [Eqn(e.prim, tuple(s(i) for i in e.inputs), e.out, e.params) for e in eqns]
    return Program(p.invars, p.constvars, p.const_sources, new, [s(v) for v in p.outvars]), s


def _uniform(v, consts):
    """The scalar value of v if it is a Literal or a broadcast/reshape of one, else None."""
    if isinstance(v, Literal):
        return v.value
    return consts.get(id(v))


def fold_constants(p: Program, opts=None) -> Program:
    """Evaluate equations whose inputs are all constants; 0-d results become Literals and
    uniform arrays (broadcasts of a scalar) are remembered so elementwise users see a scalar."""
    consts, subst, eqns = {}, {}, []
    for e in p.eqns:
        ins = tuple(subst.get(id(i), i) if isinstance(i, Var) else i for i in e.inputs)
        vals = [_uniform(i, consts) for i in ins]
        prim = e.prim
        if all(v is not None for v in vals) and (prim.kind == "elementwise" or prim.name in ("reshape", "broadcast_to")):
            if prim.kind == "elementwise":
                with np.errstate(all="ignore"):
                    r = np.asarray(prim.impl(*(np.asarray(v, i.dtype) for v, i in zip(vals, ins)), **e.params))
                val = r.astype(e.out.dtype).item()
            else:
                val = vals[0]
            if e.out.shape == ():
                subst[id(e.out)] = Literal(val, e.out.dtype)
                continue
            consts[id(e.out)] = val
        if prim.kind == "elementwise" and len(ins) > 1:
            # scalar-valued broadcast arrays become Literals inside elementwise ops
            ins = tuple(Literal(v, i.dtype) if v is not None and isinstance(i, Var) else i
                        for v, i in zip(vals, ins))
        eqns.append(Eqn(e.prim, ins, e.out, e.params))
    return _rebuild(p, eqns, subst)[0]


def simplify(p: Program, opts=None) -> Program:
    """x*1, x+0, x-0, x/1, pow(x, 1|2|0.5|-1|0) and no-op casts/views: fewer ops for fusion."""
    subst, eqns = {}, []

    def same(v, out):
        return isinstance(v, Var) and v.shape == out.shape and v.dtype == out.dtype

    for e in p.eqns:
        ins = tuple(subst.get(id(i), i) if isinstance(i, Var) else i for i in e.inputs)
        lit = [i.value if isinstance(i, Literal) else None for i in ins]
        o, rep, new, name = e.out, None, None, e.prim.name
        if name == "mul":
            for a, b in ((0, 1), (1, 0)):
                if lit[b] == 1 and same(ins[a], o):
                    rep = ins[a]
        elif name == "add":
            for a, b in ((0, 1), (1, 0)):
                if lit[b] == 0 and same(ins[a], o):
                    rep = ins[a]
        elif name in ("sub", "div") and lit[1] == (0 if name == "sub" else 1) and same(ins[0], o):
            rep = ins[0]
        elif (name in ("cast", "reshape", "broadcast_to") or e.prim.expr == "{0}") and same(ins[0], o):
            rep = ins[0]
        elif name == "transpose" and e.params["axes"] == tuple(range(len(o.shape))):
            rep = ins[0]
        elif name == "pow" and lit[1] is not None and o.dtype.kind == "f":
            y = lit[1]
            if y == 1 and same(ins[0], o):
                rep = ins[0]
            elif y == 2:
                new = Eqn(PRIMS["mul"], (ins[0], ins[0]), o)
            elif y == 0.5:
                new = Eqn(PRIMS["sqrt"], (ins[0],), o)
            elif y == -1:
                new = Eqn(PRIMS["div"], (Literal(1.0, o.dtype), ins[0]), o)
            elif y == 0 and o.shape == ():
                rep = Literal(1.0, o.dtype)
        if rep is not None:
            subst[id(o)] = rep
            continue
        eqns.append(new or Eqn(e.prim, ins, e.out, e.params))
    return _rebuild(p, eqns, subst)[0]


def _key(v):
    return ("lit", v.value, str(v.dtype)) if isinstance(v, Literal) else id(v)


def cse(p: Program, opts=None) -> Program:
    """Merge equations with the same primitive, inputs and parameters."""
    seen, subst, eqns = {}, {}, []
    for e in p.eqns:
        ins = tuple(subst.get(id(i), i) if isinstance(i, Var) else i for i in e.inputs)
        k = (e.prim, tuple(map(_key, ins)), repr(sorted(e.params.items())), str(e.out.dtype), e.out.shape)
        if k in seen:
            subst[id(e.out)] = seen[k]
            continue
        seen[k] = e.out
        eqns.append(Eqn(e.prim, ins, e.out, e.params))
    return _rebuild(p, eqns, subst)[0]


def dce(p: Program, opts=None) -> Program:
    """Drop equations no output depends on."""
    live = {id(v) for v in p.outvars if isinstance(v, Var)}
    keep = []
    for e in reversed(p.eqns):
        if id(e.out) in live:
            keep.append(e)
            live |= {id(i) for i in e.inputs if isinstance(i, Var)}
    return Program(p.invars, p.constvars, p.const_sources, keep[::-1], list(p.outvars))


def verify_program(p: Program):
    """Definition order, and every equation's result type from its primitive's shape rule
    (primitives.abstract_eval on stand-ins of its inputs): a pass that rewrites an equation
    into one of another shape or dtype is caught here, not as wrong loops later."""
    defined = {id(v) for v in p.invars + p.constvars}
    for e in p.eqns:
        if PRIMS.get(getattr(e.prim, "name", None)) is not e.prim:
            raise IRError(f"{e!r}: {e.prim!r} is not a row of the primitive table")
        for i in e.inputs:
            if isinstance(i, Var) and id(i) not in defined:
                raise IRError(f"{e!r}: input {i!r} used before definition")
        if id(e.out) in defined:
            raise IRError(f"{e.out!r} defined twice")
        _type_check(e)
        defined.add(id(e.out))
    for v in p.outvars:
        if isinstance(v, Var) and id(v) not in defined:
            raise IRError(f"output {v!r} undefined")
    return p


def _type_check(e):
    datas = [np.asarray(i.value, i.dtype) if isinstance(i, Literal) else stand_in(i.shape, i.dtype)
             for i in e.inputs]
    prim = e.prim
    try:
        prim.check(datas, e.params)
        out = abstract_eval(prim, datas, e.params)
    except Exception as exc:
        raise IRError(f"{e!r}: {prim.name} does not apply to its inputs ({exc})") from None
    shape = tuple(out.shape)
    if prim.kind == "elementwise" and _broadcasts(shape, tuple(e.out.shape)):
        shape = tuple(e.out.shape)   # simplify folds a broadcast constant into a Literal: the
        #                              equation then writes its result broadcast, as lowering does
    if shape != tuple(e.out.shape) or out.dtype != e.out.dtype:
        raise IRError(f"{e!r}: {prim.name} of these inputs gives {out.dtype}{list(out.shape)}, "
                      f"the program says {e.out.dtype}{list(e.out.shape)}")


def _broadcasts(shape, to):
    try:
        return np.broadcast_shapes(shape, to) == to
    except ValueError:
        return False
