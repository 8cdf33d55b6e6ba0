"""`jg.save` / `jg.load`: state dicts (and nested dicts, lists and tuples of arrays, Tensors,
numbers, strings and None) in a NumPy `.npz` file: arrays as its members, the structure as JSON.
Nothing is pickled, so loading a file never runs code from it."""
from __future__ import annotations

import json
from collections import OrderedDict

import numpy as np

from tracer import Tensor

__all__ = ["save", "load"]


def _encode(x, arrays, where):
    if isinstance(x, Tensor):
        x = x.data
    if isinstance(x, (np.ndarray, np.generic)):
        if x.dtype.kind in "OV":
            raise TypeError(f"jg.save: {where} is an array of dtype {x.dtype}; only numeric, bool and "
                            f"string arrays can be stored without pickling")
        key = f"a{len(arrays)}"
        arrays[key] = np.asarray(x)
        return {"array": key, "scalar": isinstance(x, np.generic)}
    if isinstance(x, dict):
        items = []
        for k, v in x.items():
            if not isinstance(k, (str, int)) or isinstance(k, bool):
                raise TypeError(f"jg.save: {where} has a key {k!r} of type {type(k).__name__} (str or int expected)")
            items.append([k, _encode(v, arrays, f"{where}[{k!r}]")])
        return {"dict": items, "ordered": isinstance(x, OrderedDict)}
    if isinstance(x, (list, tuple)):
        return {"tuple" if isinstance(x, tuple) else "list":
                [_encode(v, arrays, f"{where}[{i}]") for i, v in enumerate(x)]}
    if x is None or isinstance(x, (bool, int, float, str)):
        return {"value": x}
    raise TypeError(f"jg.save: {where} is a {type(x).__name__}; jg.save stores nested dicts, lists and "
                    f"tuples of arrays, Tensors, numbers, strings and None (no pickled objects)")


def _decode(t, z):
    if "array" in t:
        a = z[t["array"]]
        return a[()] if t["scalar"] else a
    if "dict" in t:
        d = (OrderedDict if t["ordered"] else dict)()
        for k, v in t["dict"]:
            d[k] = _decode(v, z)
        return d
    if "list" in t:
        return [_decode(v, z) for v in t["list"]]
    if "tuple" in t:
        return tuple(_decode(v, z) for v in t["tuple"])
    return t["value"]


def save(obj, path):
    """Write `obj` to `path` (the name is used as given)."""
    arrays = {}
    tree = _encode(obj, arrays, "the object")
    with open(path, "wb") as f:
        np.savez(f, __tree__=np.array(json.dumps(tree)), **arrays)


def load(path):
    """Read what `save` wrote: arrays come back as ndarrays (load them into a model with
    `load_state_dict`)."""
    with np.load(path, allow_pickle=False) as z:
        if "__tree__" not in z.files:
            raise ValueError(f"jg.load: {path} was not written by jg.save (no structure entry)")
        return _decode(json.loads(str(z["__tree__"])), z)
