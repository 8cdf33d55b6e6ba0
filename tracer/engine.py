"""The backward engine: ONE reverse topological sweep serves every requested input.

Nodes are numbered in creation order, so processing them from newest to oldest is a valid
reverse topological order. Gradients are un-broadcast to an input's shape here and only here.
"""
from __future__ import annotations

import numpy as np

from . import ops
from .tensor import (STATE, AccumulateGrad, Tensor, as_input, check_backward_anomaly, edge_of,
                     enable_grad, no_grad, walk_graph)

FREED_MSG = ("Trying to backward through the graph a second time (or directly access saved tensors "
             "after they have already been freed). Saved intermediate values of the graph are freed "
             "when you call .backward() or jg.grad(). Specify retain_graph=True if you need to "
             "backward through the graph a second time or if you need to access saved tensors after "
             "calling backward.")


class _InBackward:
    def __enter__(self):
        STATE.in_vjp += 1

    def __exit__(self, *exc):
        STATE.in_vjp -= 1
        return False


def unbroadcast(g, shape):
    """Sum a gradient back to the shape of the input it flows into."""
    if g.shape == tuple(shape):
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(i + lead for i, d in enumerate(shape) if d == 1 and g.shape[i + lead] != 1)
    if axes:
        g = ops.sum(g, axes, keepdims=True)
    return ops.reshape(g, tuple(shape))


def _seed(t, g, k):
    if g is None:
        if t.size != 1:
            raise RuntimeError(f"grad can be implicitly created only for scalar outputs (output {k} "
                               f"has shape {t.shape}); pass gradient= / grad_outputs= with the "
                               f"output's shape, or reduce it first, e.g. y.sum().backward()")
        if t.dtype.kind == "c":
            raise RuntimeError(f"grad can be implicitly created only for real scalar outputs (output {k} "
                               f"is {t.dtype}); differentiate a real loss, e.g. jg.abs(z) ** 2 or "
                               f"z.astype(np.float64) (its real part), as PyTorch requires")
        return Tensor(np.ones(t.shape, dtype=t.dtype))
    g = as_input(g, t)
    if g.shape != t.shape:
        raise RuntimeError(f"mismatch in shape: grad_output[{k}] has shape {g.shape} and output[{k}] "
                           f"has shape {t.shape}")
    return g


def _run_hooks(hooks, g):
    """In registration order, except that `retain_grad` sees the final gradient (runs last)."""
    fns = list(hooks.values())
    for fn in sorted(fns, key=lambda f: getattr(f, "retains_grad", False)):
        r = fn(g)
        if r is not None:
            g = as_input(r)
    return g


def sweep(outputs, grad_outputs, targets=None, *, create_graph=False, retain_graph=None,
          known_grads=None, tape_id=None, accumulate=False):
    """Run one reverse sweep.

    targets: tensors whose gradients to return (in order; None where unconnected). With
    `accumulate`, gradients of leaf targets (or of every leaf, when targets is None) are added
    into `.grad` instead. known_grads maps intermediates to injected gradients that replace
    whatever the sweep would compute for them.
    """
    s = _Sweep(targets, tape_id, create_graph, accumulate)
    roots = s.seed(outputs, grad_outputs, known_grads)
    nodes = list(walk_graph([e[0] for e in roots], s.traversable))
    order = s.prune(nodes)
    touched = []
    with enable_grad() if create_graph else no_grad(), _InBackward():
        # anomaly mode checks each node's gradients, not their intermediates
        for n in reversed(order):
            if s.interior(n):
                touched.append(n)
        for n in nodes:
            if isinstance(n, AccumulateGrad):
                s.leaf(n)
        for key in [k for k in s.buf if k in s.target_edges]:  # targets whose node this sweep skips
            s.finish(key, s.buf.pop(key), None)
    if not (create_graph if retain_graph is None else retain_graph):
        for n in touched:
            n.release()
    return s.results


class _Sweep:
    """The state of one reverse sweep: gradients flowing into (id(node), output index) keys,
    the edges whose gradients were asked for, and the nodes that lead to one of them."""

    def __init__(self, targets, tape_id, create_graph, accumulate):
        self.targets, self.tape_id = targets, tape_id
        self.create_graph, self.accumulate = create_graph, accumulate
        self.buf = {}       # key -> gradient summed so far
        self.known = {}     # key -> injected gradient
        self.target_edges = {}  # key -> indices into targets
        self.results = [None] * (len(targets) if targets is not None else 0)
        self.leads = set()  # ids of nodes a wanted gradient flows through

    def add(self, key, g):
        self.buf[key] = g if key not in self.buf else self.buf[key] + g

    def seed(self, outputs, grad_outputs, known_grads):
        """The output gradients and injected ones into buf and known; the root edges."""
        roots = []
        for k, (t, g) in enumerate(zip(outputs, grad_outputs)):
            e = edge_of(t)
            if e is None or (self.tape_id is None and not t._requires_grad):
                raise RuntimeError(f"element {k} of tensors does not require grad and does not have a "
                                   f"grad_fn (shape {t.shape}): nothing recorded its computation")
            roots.append(e)
            self.add((id(e[0]), e[1]), _seed(t, g, k))
        for t, g in dict(known_grads or {}).items():
            e = edge_of(t)
            if e is not None:
                self.known[(id(e[0]), e[1])] = _seed(t, g, "known")
                roots.append(e)
        return roots

    def traversable(self, node):
        if isinstance(node, AccumulateGrad):  # a tape differentiates only what it watched
            return self.tape_id is None or self.tape_id in node.variable._tape_ids
        return node.requires_grad if self.tape_id is None else self.tape_id in node.tape_ids

    def prune(self, nodes):
        """The interior nodes oldest first; marks those that lead to a wanted gradient."""
        for i, t in enumerate(self.targets or ()):
            e = edge_of(t)
            # a tape serves what it watched, also an intermediate made before it opened (whose
            # producer is not on the tape: the sweep stops at it)
            if e is not None and (self.tape_id is None or self.tape_id in t._tape_ids or self.traversable(e[0])):
                self.target_edges.setdefault((id(e[0]), e[1]), []).append(i)
        self.leads = {k[0] for k in self.target_edges}
        if self.targets is None:
            self.leads |= {id(n) for n in nodes if isinstance(n, AccumulateGrad)}
        order = sorted((n for n in nodes if not isinstance(n, AccumulateGrad)), key=lambda n: n.seq)
        for n in order:  # oldest first: inputs are decided before their consumers
            if any(e is not None and id(e[0]) in self.leads for e in n.next_functions):
                self.leads.add(id(n))
        return order

    def finish(self, key, g, hooks, leaf=False):
        """The gradient flowing into `key` after its hooks; `grad` returns an intermediate's
        gradient as captured before its hooks run, a leaf's after them (as PyTorch does)."""
        if key in self.known:
            g = self.known[key]
        before = g
        if g is not None and hooks:
            g = _run_hooks(hooks, g)
        for i in self.target_edges.get(key, ()):
            self.results[i] = g if leaf else before
        return g

    def interior(self, n):
        """Run n's VJP into its inputs' keys; True when it ran (its saved values are used)."""
        if id(n) not in self.leads:
            return False
        grads = [self.finish((id(n), i), self.buf.pop((id(n), i), None),
                             n.pre_hooks.get(i) if n.pre_hooks else None) for i in range(n.n_out)]
        if all(g is None for g in grads):
            return False
        needed = [e is not None and ((id(e[0]) in self.leads and self.traversable(e[0]))
                                     or (id(e[0]), e[1]) in self.target_edges) for e in n.next_functions]
        if not any(needed):
            return False
        if n.freed:
            raise RuntimeError(FREED_MSG)
        if n.n_out == 1 and grads[0] is None:
            return False
        for j, (e, g) in enumerate(zip(n.next_functions, n.vjp(grads, needed))):
            if g is not None and needed[j]:
                self.add((id(e[0]), e[1]), _conform(n, j, as_input(g)))
        return True

    def leaf(self, n):
        """A leaf's gradient after its hooks, added into `.grad` when accumulating."""
        key, v = (id(n), 0), n.variable
        g = self.finish(key, self.buf.pop(key, None), v._hooks, leaf=True)
        if (g is None or not self.accumulate or (self.targets is not None and key not in self.target_edges)
                or (not v._requires_grad and self.tape_id is None)):
            return
        if not self.create_graph:
            g = Tensor(g.data)
        v._grad = g if v._grad is None else (v._grad + g if self.create_graph else Tensor(v._grad.data + g.data))


def _conform(n, j, g):
    """A VJP's j-th result summed to that input's shape and cast to its dtype."""
    shape, dtype = n.in_meta[j]
    g = unbroadcast(g, shape)
    if g.dtype != dtype:
            g = ops.cast(g, dtype)
    if STATE.anomaly:
        check_backward_anomaly(n, j, g.data)
    return g


def _as_list(x):
    if x is None:
        return None
    if isinstance(x, (list, tuple)):
        return list(x)
    return [x]


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         allow_unused=False, known_grads=None):
    """Gradients of `outputs` w.r.t. `inputs`; never touches `.grad`."""
    outs = _as_list(outputs) or []
    ins = _as_list(inputs)
    gos = _as_list(grad_outputs) or [None] * len(outs)
    if len(gos) != len(outs):
        raise RuntimeError(f"grad_outputs has {len(gos)} entries but there are {len(outs)} outputs")
    for i, t in enumerate(ins):
        if not isinstance(t, Tensor):
            raise TypeError(f"inputs[{i}] is a {type(t).__name__}, not a Tensor")
        if not t._requires_grad and t.grad_fn is None:
            raise RuntimeError(f"inputs[{i}] (shape {t.shape}) does not require grad; "
                               f"set requires_grad=True on it")
    res = sweep(outs, gos, ins, create_graph=create_graph, retain_graph=retain_graph,
                known_grads=known_grads)
    for i, r in enumerate(res):
        if r is None and not allow_unused:
            raise RuntimeError(f"One of the differentiated Tensors (inputs[{i}], shape {ins[i].shape}) "
                               f"appears to not have been used in the graph. Set allow_unused=True "
                               f"if this is the desired behavior.")
    return tuple(res)


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """Accumulate gradients into `.grad` of the leaves (or of `inputs` only)."""
    outs = _as_list(tensors)
    gos = _as_list(grad_tensors) or [None] * len(outs)
    ins = _as_list(inputs)
    if ins is not None and not ins:
        raise RuntimeError("inputs= was given but is empty")
    res = sweep(outs, gos, ins, create_graph=create_graph, retain_graph=retain_graph, accumulate=True)
    for t, g in zip(ins or (), res):  # non-leaf inputs get their gradient in .grad too (PyTorch)
        if g is not None and t.grad_fn is not None and not t._retains_grad:  # (its hook did it)
            g = g if create_graph else Tensor(g.data)
            t._grad = g if t._grad is None else t._grad + g


def _tensor_backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
    backward([self], None if gradient is None else [gradient], retain_graph=retain_graph,
             create_graph=create_graph, inputs=inputs)


Tensor.backward = _tensor_backward
