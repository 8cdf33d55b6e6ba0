"""Which dimensions of a `jit_grad` signature are dynamic, and their names (API "Shapes that change").

A signature (see `jit.JitGrad._scan`) holds `(shape, dtype, ...)` for every array argument. Two
signatures that differ only in sizes belong to one *family*; a family's kernels take sizes as
arguments (`codegen`'s dynamic patterns), so each new size is a retrace (milliseconds) and no
compile. Dimensions whose sizes have differed within the family are symbolic; they are named
by duck sizing, as PyTorch does: dimensions that have had equal sizes in every call share a name.
"""
from __future__ import annotations

import numpy as np

NAMES = ("B", "T", "N", "M", "K", "L")


def _is_array_sig(t):
    return (isinstance(t, tuple) and len(t) >= 2 and isinstance(t[1], np.dtype) and isinstance(t[0], tuple)
            and all(isinstance(n, int) for n in t[0]))


def _map_shapes(key, fn):
    """The signature with each array shape replaced by fn(argument index, shape)."""
    def walk(t, arg):
        if _is_array_sig(t):
            return (fn(arg, t[0]),) + t[1:]
        if isinstance(t, tuple):
            return tuple(walk(x, arg) for x in t)
        return t
    return tuple(walk(part, i) for i, part in enumerate(key))


def shape_free(key):
    """The signature with sizes erased (ranks kept): equal for the members of one family."""
    return _map_shapes(key, lambda arg, shape: (None,) * len(shape))


def flat_dims(key):
    """[(argument index, dimension index, size)] for every array dimension, in order."""
    out = []
    _map_shapes(key, lambda arg, shape: out.extend((arg, d, n) for d, n in enumerate(shape)) or shape)
    return out


class Family:
    """The signatures seen that differ only in sizes; `all_dynamic` for `dynamic=True`."""

    def __init__(self, key, all_dynamic=False):
        self.template = key
        self.all_dynamic = all_dynamic
        self.sizes = []        # one tuple of sizes (flat_dims order) per signature seen
        self.order = []        # the signatures themselves, in order
        self.generalizer = None    # codegen.patterns.Generalizer (dynamic=None, CPU backend)
        self.add(key)

    def add(self, key):
        if key not in self.order:
            self.order.append(key)
            self.sizes.append(tuple(n for _, _, n in flat_dims(key)))

    def symbolic_positions(self):
        cols = list(zip(*self.sizes)) if self.sizes else []
        return [p for p, col in enumerate(cols)
                if len(set(col)) > 1 or (self.all_dynamic and col[0] not in (0, 1))]

    def names(self):
        """{flat position: name}; positions whose sizes agreed in every call share a name. Sizes
        that have changed are named first (the batch is 'B')."""
        groups, out = {}, {}
        cols = list(zip(*self.sizes))
        pos = self.symbolic_positions()
        for p in sorted(pos, key=lambda p: len(set(cols[p])) == 1):
            name = groups.get(cols[p])
            if name is None:
                k = len(groups)
                name = groups[cols[p]] = NAMES[k] if k < len(NAMES) else f"S{k}"
            out[p] = name
        return out

    def signature(self):
        """The template signature with symbolic sizes by name, e.g. (('B', 784), float32)."""
        names, pos = self.names(), iter(range(1 << 30))

        def fn(arg, shape):
            return tuple(names.get(next(pos), n) for n in shape)
        return _map_shapes(self.template, fn)

    def describe(self):
        names = self.names()
        if not names:
            return "no dynamic dimensions"
        dims = flat_dims(self.template)
        cols = list(zip(*self.sizes))
        parts = []
        for p, name in names.items():
            arg, d, _ = dims[p]
            sizes = ", ".join(map(str, dict.fromkeys(cols[p])))
            parts.append(f"{name} = argument {arg} dimension {d} (sizes seen: {sizes})")
        how = "dynamic=True" if self.all_dynamic else "after sizes changed"
        return f"dynamic dimensions ({how}): " + "; ".join(parts)
