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

from .engine import grad
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
    prim: Any      # the tracer.primitives.Prim row
    inputs: tuple  # of Var | Literal
    out: Var
    params: dict = field(default_factory=dict)

    def __repr__(self):
        ps = ", ".join(f"{k}={v!r}" for k, v in self.params.items() if not isinstance(v, np.ndarray))
        return f"{self.out!r} = {self.prim.name}({', '.join(map(repr, self.inputs))}{'; ' + ps if ps else ''})"


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
    f = _Flatten(inputs, literal_max_size, state)
    outvars = [f.visit(t) for t in outputs]
    return Program(f.invars, f.constvars, f.const_sources, f.eqns, outvars)


class _Flatten:
    """make_program's state. `env` maps a tensor's key (id of a leaf, or (id(node), output
    index) of a computed value) to its Var or Literal; `keep` holds the keyed objects while
    their ids are in use."""

    def __init__(self, inputs, literal_max_size, state):
        self.literal_max_size, self.state = literal_max_size, {id(t) for t in state}
        self.invars = [Var(tuple(t.shape), t.dtype, f"in{i}") for i, t in enumerate(inputs)]
        self.env = {id(t): v for t, v in zip(inputs, self.invars)}
        self.keep = list(inputs)
        self.constvars, self.const_sources, self.eqns = [], [], []

    def key_of(self, t):
        node = t.grad_fn if t.grad_fn is not None else t._value_node
        if node is None or id(t) in self.env:
            return id(t)
        return (id(node), t._out_idx)

    def leaf_var(self, t):
        # only scalars made while tracing are folded: a captured 0-d tensor or array may change
        # between calls (a temperature, a step size), so it is read at each call
        if (t.data.ndim == 0 and t.data.size <= self.literal_max_size and not t.requires_grad
                and t._foldable and id(t) not in self.state):
            return Literal(t.data.item(), t.dtype)
        v = Var(tuple(t.shape), t.dtype, f"c{len(self.constvars)}")
        self.constvars.append(v)
        self.const_sources.append(t if t._is_user_tensor else t.data)
        return v

    @staticmethod
    def operands(t, node):
        """What t's value is made from: a jg.Function node's output is the forward's value."""
        if node.trace_outputs is not None:
            return [node.trace_outputs[t._out_idx]]
        if node.trace_inputs is None:
            raise RuntimeError(f"{node.name()} was recorded outside a trace; cannot compile it")
        return node.trace_inputs

    def value(self, t, node):
        if node.trace_outputs is not None:
            return self.env[self.key_of(node.trace_outputs[t._out_idx])]
        out = Var(tuple(t.shape), np.dtype(t.dtype), f"v{len(self.eqns) + 1}")
        self.eqns.append(Eqn(node.prim, tuple(self.env[self.key_of(i)] for i in node.trace_inputs), out,
                             dict(node.params)))
        return out

    def visit(self, root):
        """Post-order, iterative (a deep graph would overflow Python's stack); root's Var."""
        env, stack = self.env, [(root, False)]
        while stack:
            t, expanded = stack.pop()
            k = self.key_of(t)
            if k in env:
                continue
            node = t.grad_fn if t.grad_fn is not None else t._value_node
            if node is None or not isinstance(k, tuple):
                env[k] = self.leaf_var(t)
                self.keep.append(t)
            elif expanded:
                env[k] = self.value(t, node)
                self.keep.append(node)
            else:
                stack.append((t, True))
                stack.extend((i, False) for i in reversed(self.operands(t, node)) if self.key_of(i) not in env)
        return env[self.key_of(root)]


def trace_value_and_grad(f, *arrays):
    """Program computing [f(*arrays), d f / d each float array], the way jit_grad traces.

    A small entry point for codegen tests; `jitgrad.jit` adds pytrees, captured tensors, aux."""
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
    env = {}
    for v, a in zip(program.invars + program.constvars, arrays):
        env[id(v)] = np.asarray(a)

    def val(v):
        return np.asarray(v.value, dtype=v.dtype) if isinstance(v, Literal) else env[id(v)]
    with np.errstate(all="ignore"):
        for e in program.eqns:
            env[id(e.out)] = np.asarray(e.prim.impl(*(val(i) for i in e.inputs), **e.params))
    return [np.array(val(v)) for v in program.outvars]
