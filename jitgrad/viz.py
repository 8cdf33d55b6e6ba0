"""The graph behind a tensor as Graphviz DOT (like torchviz's `make_dot`).

    print(jg.viz.to_dot(loss))          # paste into `dot -Tsvg`

Backward nodes are boxes labelled by `grad_fn.name()`; leaves (`AccumulateGrad`) are blue
boxes labelled with the leaf's shape and dtype; the tensor itself is a green box. Edges follow
`next_functions`, drawn in the direction data flows (input -> consumer).
"""
from __future__ import annotations

from tracer import Tensor
from tracer.tensor import AccumulateGrad, walk_graph

__all__ = ["to_dot"]


def _q(s):
    return '"' + str(s).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _shape(t):
    return "(" + ", ".join(str(d) for d in t.shape) + ("," if len(t.shape) == 1 else "") + ")"


def to_dot(tensor, name="jitgrad"):
    """DOT source for the graph that computed `tensor` (a Tensor, or a list of Tensors)."""
    roots = list(tensor) if isinstance(tensor, (list, tuple)) else [tensor]
    for t in roots:
        if not isinstance(t, Tensor):
            raise TypeError(f"to_dot: expected a Tensor, got {type(t).__name__}")
    lines = [f"digraph {_q(name)} {{",
             '  node [shape=box, style=filled, fillcolor=white, fontname="monospace", fontsize=10];',
             "  rankdir=BT;"]
    ids = {}

    def node_id(n):
        if id(n) not in ids:
            ids[id(n)] = f"n{len(ids)}"
        return ids[id(n)]

    stack = []
    for k, t in enumerate(roots):
        out_id = f"out{k}"
        lines.append(f"  {out_id} [label={_q('tensor ' + _shape(t) + ' ' + str(t.dtype))}, "
                     f"fillcolor=darkolivegreen1];")
        if t.grad_fn is not None:
            lines.append(f"  {node_id(t.grad_fn)} -> {out_id};")
            stack.append(t.grad_fn)
        elif t.requires_grad:
            lines.append(f"  {out_id} [label={_q('leaf ' + _shape(t) + ' ' + str(t.dtype))}, "
                         f"fillcolor=lightblue];")
    for n in walk_graph(stack):
        nid = node_id(n)
        if isinstance(n, AccumulateGrad):
            v = n.variable
            label = f"AccumulateGrad\n{_shape(v)} {v.dtype}"
            lines.append(f"  {nid} [label={_q(label)}, fillcolor=lightblue];")
            continue
        lines.append(f"  {nid} [label={_q(n.name())}, fillcolor=lightgrey];")
        for child, idx in filter(None, n.next_functions):
            attrs = f' [label="{idx}"]' if getattr(child, "n_out", 1) > 1 else ""
            lines.append(f"  {node_id(child)} -> {nid}{attrs};")
    lines.append("}")
    return "\n".join(lines) + "\n"
