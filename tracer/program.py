"""A recorded computation as flat equations (JAX's jaxpr, in miniature).

`make_program` walks the graph behind some output tensors back to the traced inputs and
returns a `Program`: the interface between the tracer and `codegen`. Every equation applies
one primitive of `tracer.primitives.PRIMS` to earlier variables; nothing else is needed to
lower it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .tensor import Tensor, tracing


@dataclass(eq=False)
class Var:
    """One array value of a Program (identity matters, not contents)."""
    shape: tuple
    dtype: np.dtype
    name: str = ""

    def __repr__(self):
        return f"{self.name}:{self.dtype}{list(self.shape)}"


@dataclass(eq=False)
class Literal:
    """A 0-d constant folded into the program (Python scalars mixed into ops)."""
    value: Any
    dtype: np.dtype
    shape: tuple = ()

    def __repr__(self):
        return f"{self.value!r}:{self.dtype}"


@dataclass(eq=False)
class Eqn:
    prim: str
    inputs: tuple  # of Var | Literal
    out: Var
    params: dict = field(default_factory=dict)

    def __repr__(self):
        ps = ", ".join(f"{k}={v!r}" for k, v in self.params.items() if not isinstance(v, np.ndarray))
        return f"{self.out!r} = {self.prim}({', '.join(map(repr, self.inputs))}{'; ' + ps if ps else ''})"


@dataclass(eq=False)
class Program:
    """invars: the traced inputs, in call order. constvars: arrays captured by the function
    (closures, globals, module parameters); `const_sources[i]` is the Tensor (read `.data`
    at each call: optimizers replace it) or ndarray that supplies constvars[i]."""
    invars: list
    constvars: list
    const_sources: list
    eqns: list
    outvars: list  # Var | Literal

    def __str__(self):
        lines = [f"in  {self.invars}", f"const {self.constvars}"]
        lines += ["  " + repr(e) for e in self.eqns]
        lines.append(f"out {self.outvars}")
        return "\n".join(lines)

    def const_values(self):
        return [s.data if isinstance(s, Tensor) else s for s in self.const_sources]


def make_program(inputs, outputs, literal_max_size=1, state=()):
    """Flatten the graph from `outputs` back to `inputs` (Tensors) into a Program.

    Leaves that are not inputs become constants: 0-d ones become Literals, others (and the
    tensors in `state`, which the compiled function updates) constvars read at call time."""
    state = {id(t) for t in state}
    env = {}          # id(tensor) or (id(node), idx) -> Var | Literal
    keep = []         # keep keyed objects alive while ids are in use
    invars = []
    for i, t in enumerate(inputs):
        v = Var(tuple(t.shape), t.dtype, f"in{i}")
        env[id(t)] = v
        keep.append(t)
        invars.append(v)
    constvars, const_sources, eqns = [], [], []
    counter = [0]

    def new_var(shape, dtype):
        counter[0] += 1
        return Var(tuple(shape), np.dtype(dtype), f"v{counter[0]}")

    def key_of(t):
        node = t.grad_fn if t.grad_fn is not None else t._value_node
        if node is None or id(t) in env:
            return id(t)
        return (id(node), t._out_idx)

    def leaf_var(t):
        # only scalars made while tracing are folded: a captured 0-d tensor or array may change
        # between calls (a temperature, a step size), so it is read at each call
        if (t.data.ndim == 0 and t.data.size <= literal_max_size and not t.requires_grad
                and t._foldable and id(t) not in state):
            return Literal(t.data.item(), t.dtype)
        v = Var(tuple(t.shape), t.dtype, f"c{len(constvars)}")
        constvars.append(v)
        const_sources.append(t if t._is_user_tensor else t.data)
        return v

    # iterative post-order DFS
    def visit(root):
        stack = [(root, False)]
        while stack:
            t, expanded = stack.pop()
            k = key_of(t)
            if k in env:
                continue
            node = t.grad_fn if t.grad_fn is not None else t._value_node
            if node is None or not isinstance(k, tuple):
                env[k] = leaf_var(t)
                keep.append(t)
                continue
            alias = node.trace_outputs
            if alias is not None:  # a jg.Function node: its outputs are the forward's values
                src = alias[t._out_idx]
                if expanded:
                    env[k] = env[key_of(src)]
                    keep.append(node)
                else:
                    stack.append((t, True))
                    stack.append((src, False))
                continue
            ins = node.trace_inputs
            if ins is None:
                raise RuntimeError(f"{node.name()} was recorded outside a trace; cannot compile it")
            if expanded:
                out = new_var(t.shape, t.dtype)
                eqns.append(Eqn(node.prim.name, tuple(env[key_of(i)] for i in ins), out,
                                dict(node.params)))
                env[k] = out
                keep.append(node)
            else:
                stack.append((t, True))
                for i in reversed(ins):
                    if key_of(i) not in env:
                        stack.append((i, False))

    outvars = []
    for t in outputs:
        visit(t)
        outvars.append(env[key_of(t)])
    return Program(invars, constvars, const_sources, eqns, outvars)


def trace_value_and_grad(f, *arrays):
    """Program computing [f(*arrays), d f / d each float array], the way jit_grad traces.

    A small entry point for codegen tests; `jitgrad.jit` adds pytrees, captured tensors, aux."""
    from .engine import grad
    xs = [Tensor(np.asarray(a)) for a in arrays]
    wrt = [x for x in xs if x.dtype.kind == "f"]
    for x in xs:
        x._traced = True
        if x.dtype.kind == "f":
            x.requires_grad = True
    with tracing():
        y = f(*xs)
        grads = grad(y, wrt, create_graph=True, allow_unused=True) if wrt else ()
        grads = [g if g is not None else Tensor(np.zeros(x.shape, x.dtype)) for g, x in zip(grads, wrt)]
    return make_program(xs, [y, *grads])


def evaluate(program, *arrays):
    """Run a Program with the eager NumPy implementations (the reference for compiled code)."""
    from .primitives import PRIMS
    env = {}
    for v, a in zip(program.invars + program.constvars, arrays):
        env[id(v)] = np.asarray(a)

    def val(v):
        return np.asarray(v.value, dtype=v.dtype) if isinstance(v, Literal) else env[id(v)]
    with np.errstate(all="ignore"):
        for e in program.eqns:
            env[id(e.out)] = np.asarray(PRIMS[e.prim].impl(*(val(i) for i in e.inputs), **e.params))
    return [np.array(val(v)) for v in program.outvars]
