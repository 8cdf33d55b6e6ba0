"""Nested lists, tuples and dicts of arrays: flatten to leaves and rebuild (JAX's pytrees)."""
from __future__ import annotations

import numpy as np

from tracer import Tensor
from tracer.tensor import is_device_array


def is_leaf(x):
    return not isinstance(x, (list, tuple, dict))


def flatten(tree):
    """(leaves, treedef); treedef rebuilds the same structure from new leaves."""
    if isinstance(tree, dict):
        keys = sorted(tree)
        parts = [flatten(tree[k]) for k in keys]
        return [l for p in parts for l in p[0]], ("dict", keys, [p[1] for p in parts])
    if isinstance(tree, (list, tuple)):
        parts = [flatten(x) for x in tree]
        kind = type(tree) if not hasattr(tree, "_fields") else type(tree)
        return [l for p in parts for l in p[0]], ("seq", kind, [p[1] for p in parts])
    return [tree], None


def unflatten(treedef, leaves):
    it = iter(leaves)
    out = _build(treedef, it)
    return out


def _build(td, it):
    if td is None:
        return next(it)
    tag, a, kids = td
    if tag == "dict":
        return {k: _build(c, it) for k, c in zip(a, kids)}
    vals = [_build(c, it) for c in kids]
    if hasattr(a, "_fields"):
        return a(*vals)
    return a(vals)


def treedef_key(td):
    """A hashable description of a structure (for cache keys)."""
    if td is None:
        return None
    tag, a, kids = td
    return (tag, tuple(a) if tag == "dict" else a.__name__, tuple(treedef_key(k) for k in kids))


def to_numpy(tree):
    """Tensors in a structure become ndarrays (detached)."""
    leaves, td = flatten(tree)
    return unflatten(td, [l.data if isinstance(l, Tensor) else l for l in leaves])


def refuse_device_array(x, who, i):
    """Eager jitgrad computes on the host: a device array (numba.cuda, CuPy, torch) is refused
    by name rather than turned into a 0-d object array."""
    if is_device_array(x):
        raise TypeError(f"{who}: argument {i} is a device array of shape {tuple(x.shape)}; eager jitgrad "
                        f"computes on the host: copy it there first (x.copy_to_host()), or compile with "
                        f"jit_grad(..., backend='cuda')")
    return x


def as_array(x):
    """An argument at `argnums`: arrays stay, Python and NumPy scalars become 0-d arrays."""
    if isinstance(x, Tensor):
        return x.data
    if is_device_array(x):
        return x
    return np.asarray(x)
