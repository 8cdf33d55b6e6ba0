"""Tensor, grad modes, and `bind`: applying a primitive and recording it.

One rule decides what gets recorded. An op's result gets a graph node when grad mode is on
and an input requires grad (PyTorch) or is watched by an active GradientTape (TensorFlow), or
when an input is being traced by `jit_grad` (then the node may carry values only).
"""
from __future__ import annotations

import functools
import itertools
import os
import sys
import threading
import weakref
from typing import Protocol

import numpy as np

_PKG_DIRS = tuple(os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep + d + os.sep
                  for d in ("tracer", "codegen", "jitgrad"))
_NUMPY_DIR = os.path.dirname(np.__file__)


class TraceError(RuntimeError):
    """Python control flow or a NumPy conversion needed a traced value while compiling."""


class AnomalyError(RuntimeError):
    """An op produced NaN or Inf under `detect_anomaly`."""


class _State(threading.local):
    def __init__(self):
        self.grad_enabled = True
        self.tapes = []          # open tapes (the Tape protocol below), innermost last
        self.trace_depth = 0     # >0 while jit_grad traces a function
        self.anomaly = False
        self.in_vjp = 0          # >0 while a backward node's rule runs (anomaly: check its result only)
        self.differentiating = 0  # >0 inside value_and_grad / jit_grad's call of the user's f
        self.effects = None      # the innermost open `tracing` (collects updates and seeds)
        # traced values are shape-and-dtype stand-ins (primitives.abstract_eval); 0: computed, to
        # debug the tracer itself
        self.abstract = os.environ.get("JITGRAD_TRACE_VALUES", "0") != "1"


STATE = _State()


class Tape(Protocol):
    """What the tracer asks of an open tape (jitgrad's GradientTape implements it). An op on a
    tensor the tape watches is recorded for it while it is `recording`; `auto_watch(t)` is asked
    of each other input (TensorFlow watches trainable variables on first use); a watched tensor
    leaving the graph (.numpy(), float()) is reported, so a None gradient can say where the path
    was cut."""
    tape_id: int
    recording: bool

    def auto_watch(self, tensor) -> bool: ...

    def note_cut(self, tensor, what: str) -> None: ...
node_seq = itertools.count()     # creation order of nodes: a reverse topological order


def user_frame(skip_internal=True):
    """(filename, lineno, function) of the first stack frame outside jitgrad and NumPy."""
    f = sys._getframe(1)
    while f is not None:
        fn = f.f_code.co_filename
        fn = fn if fn.startswith("<") else os.path.abspath(fn)
        if not (fn.startswith(_PKG_DIRS) or fn.startswith(_NUMPY_DIR) or "importlib" in fn
                or fn.startswith("<frozen")):
            return fn, f.f_lineno, f.f_code.co_name
        f = f.f_back
    return "<unknown>", 0, "?"


def where_str():
    fn, line, func = user_frame()
    return f"{fn}:{line} (in {func})"


# ----------------------------------------------------------------------------- grad modes
class _GradMode:
    """Context manager and decorator that sets grad mode for the current thread."""
    flag = True

    def __new__(cls, *args):
        self = super().__new__(cls)
        if cls is not set_grad_enabled and len(args) == 1 and callable(args[0]):
            return self(args[0])          # @no_grad without parentheses, as PyTorch allows
        return self

    def __enter__(self):
        self._prev = getattr(self, "_prev", [])
        self._prev.append(STATE.grad_enabled)
        STATE.grad_enabled = self.flag
        return self

    def __exit__(self, *exc):
        STATE.grad_enabled = self._prev.pop()
        return False

    def __call__(self, fn):
        flag = self.flag

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            prev = STATE.grad_enabled
            STATE.grad_enabled = flag
            try:
                return fn(*args, **kwargs)
            finally:
                STATE.grad_enabled = prev
        return wrapper


class no_grad(_GradMode):
    flag = False


class enable_grad(_GradMode):
    flag = True


class set_grad_enabled(_GradMode):
    """Takes effect at once (like PyTorch), and restores on exit when used with `with`."""

    def __init__(self, mode):
        self.flag = bool(mode)
        self._prev = [STATE.grad_enabled]
        STATE.grad_enabled = self.flag

    def __enter__(self):
        return self

    def __call__(self, fn):
        # used as a decorator: the mode applies inside fn only (PyTorch restores it here)
        STATE.grad_enabled = self._prev[-1]
        return super().__call__(fn)


def is_grad_enabled():
    return STATE.grad_enabled


class tracing:
    """While open, ops on tensors marked traced are recorded even without grad (jit_grad).
    It also collects what the function does besides computing its result, for the compiled
    function to do on every call: state updates (`ops.assign_`, BatchNorm's running
    statistics) and random seeds (`ops.random_seed`, dropout), which become program inputs."""

    def __init__(self):
        self.updates, self.seeds = [], []

    def __enter__(self):
        STATE.trace_depth += 1
        self._outer, STATE.effects = STATE.effects, self
        return self

    def __exit__(self, *exc):
        STATE.trace_depth -= 1
        STATE.effects = self._outer
        return False


# ----------------------------------------------------------------------------- nodes
class Node:
    """A recorded primitive application; also the PyTorch-style `grad_fn`."""
    __slots__ = ("prim", "params", "next_functions", "in_meta", "saved", "versions", "out_data",
                 "requires_grad", "tape_ids", "pre_hooks", "freed", "seq", "where", "trace_inputs",
                 "trace_outputs", "n_out", "__weakref__")

    def __init__(self, prim, params, inputs, out_data, requires_grad, tape_ids, traced):
        self.prim = prim
        self.params = params
        self.next_functions = tuple(edge_of(t) for t in inputs)
        self.in_meta = tuple((t.data.shape, t.data.dtype) for t in inputs)
        self.saved = tuple(inputs)
        self.versions = tuple(t._version for t in inputs)   # in-place updates since: see vjp
        self.out_data = out_data
        self.requires_grad = requires_grad
        self.tape_ids = tape_ids
        self.pre_hooks = None
        self.freed = False
        self.seq = next(node_seq)
        self.where = where_str() if STATE.anomaly else None
        self.trace_inputs = tuple(inputs) if traced else None
        self.trace_outputs = None
        self.n_out = 1

    def name(self):
        return self.prim.backward_name

    def release(self):
        if self.trace_inputs is None:
            self.saved = None
            self.out_data = None
            self.freed = True

    def vjp(self, grads, needed):
        """Input cotangents (None where not needed or not differentiable)."""
        for t, v in zip(self.saved, self.versions):
            if t._version != v:
                raise RuntimeError(f"one of the variables needed for gradient computation has been "
                                   f"modified by an inplace operation: {self.name()} saved a tensor of "
                                   f"shape {t.shape} ({t.dtype}) at version {v}, and it is now at version "
                                   f"{t._version}. Update a copy instead, or do the update after backward")
        out = Tensor(self.out_data, _node=self, _traced=self.trace_inputs is not None
                     and any(t._traced for t in self.trace_inputs))
        res = []
        for i, need in enumerate(needed):
            rule = self.prim.rule(i) if need else None
            res.append(None if rule is None else rule(grads[0], out, *self.saved, **self.params))
        return res

    def __repr__(self):
        return f"<{self.name()}>"


class AccumulateGrad:
    """The node standing for a leaf in `next_functions` (PyTorch's AccumulateGrad)."""
    __slots__ = ("variable", "__weakref__")
    next_functions = ()
    seq = -1
    requires_grad = True

    def __init__(self, variable):
        self.variable = variable

    def name(self):
        return "AccumulateGrad"

    def __repr__(self):
        return "<AccumulateGrad>"


def accumulate_node(t):
    node = t._acc_ref() if t._acc_ref is not None else None
    if node is None:
        node = AccumulateGrad(t)
        t._acc_ref = weakref.ref(node)
    return node


def edge_of(t):
    """(node, output index) that a gradient for `t` flows into, or None."""
    if t.grad_fn is not None:
        return (t.grad_fn, t._out_idx)
    if t._requires_grad or t._tape_ids:
        return (accumulate_node(t), 0)
    return None


def walk_graph(roots, follow=None):
    """Each node reachable from `roots` through `next_functions`, once, depth first: the one
    graph walk of the backward engine, `captured_leaves` and `viz`. A node for which
    `follow(node)` is false is neither yielded nor walked through."""
    seen, stack = set(), list(roots)
    while stack:
        n = stack.pop()
        if id(n) in seen or (follow is not None and not follow(n)):
            continue
        seen.add(id(n))
        yield n
        stack.extend(e[0] for e in n.next_functions if e is not None and id(e[0]) not in seen)


# ----------------------------------------------------------------------------- tensor
def check_float(dtype, what="requires_grad"):
    if not (np.issubdtype(dtype, np.floating) or np.issubdtype(dtype, np.complexfloating)):
        raise RuntimeError(f"only Tensors of floating point and complex dtype can require gradients "
                           f"(got dtype {np.dtype(dtype)})")


class Tensor:
    """An ndarray that remembers how it was computed."""
    __slots__ = ("data", "_requires_grad", "grad_fn", "_value_node", "_out_idx", "_grad",
                 "_hooks", "_acc_ref", "_tape_ids", "_traced", "_retains_grad",
                 "_is_user_tensor", "_version", "_foldable", "__weakref__")
    __array_priority__ = 1000

    def __init__(self, data, requires_grad=False, _node=None, _out_idx=0, _user=True, _traced=False):
        self.data = data if isinstance(data, np.ndarray) else np.asarray(data)
        self.grad_fn = None
        self._value_node = None
        if _node is not None:
            if _node.requires_grad or _node.tape_ids:
                self.grad_fn = _node
            else:
                self._value_node = _node
        self._out_idx = _out_idx
        self._requires_grad = False
        self._grad = None
        self._hooks = None
        self._acc_ref = None
        self._tape_ids = frozenset()
        self._traced = _traced
        self._retains_grad = False
        self._is_user_tensor = _user
        # made while jit_grad traces: a 0-d one may be compiled in as a literal (nothing outside
        # the function holds it to change it later, unlike a captured tensor)
        self._foldable = STATE.trace_depth > 0
        self._version = 0          # bumped by in-place updates (tracer.ops.update_inplace)
        if _node is not None:
            self._requires_grad = _node.requires_grad
            self._tape_ids = _node.tape_ids
        if requires_grad:
            self.requires_grad = True

    # -- attributes
    shape = property(lambda self: self.data.shape)
    dtype = property(lambda self: self.data.dtype)
    ndim = property(lambda self: self.data.ndim)
    size = property(lambda self: self.data.size)
    device = property(lambda self: "cpu")
    is_leaf = property(lambda self: self.grad_fn is None)

    @property
    def requires_grad(self):
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, flag):
        if self.grad_fn is not None:
            raise RuntimeError("you can only change requires_grad flags of leaf variables; "
                               "use .detach() to get a leaf from a non-leaf tensor")
        if flag:
            check_float(self.data.dtype)
        self._requires_grad = bool(flag)

    def requires_grad_(self, flag=True):
        self.requires_grad = flag
        return self

    @property
    def grad(self):
        return self._grad

    @grad.setter
    def grad(self, value):
        if value is not None:
            value = value if isinstance(value, Tensor) else Tensor(np.asarray(value))
            if value.shape != self.shape:
                raise RuntimeError(f"assigned grad has shape {value.shape}, but the tensor has "
                                   f"shape {self.shape}")
        self._grad = value

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    # -- leaving the graph
    def _leave(self, what):
        if self._traced and STATE.trace_depth:
            raise TraceError(f"{what} needs the concrete value of a traced tensor "
                             f"(shape {self.shape}, dtype {self.dtype}) while jit_grad is tracing, "
                             f"at {where_str()}. Python control flow cannot depend on traced values: "
                             f"use jg.where/jg.maximum, pass the value as a static (non-array) "
                             f"argument, or run with eager=True")
        if self._tape_ids:
            for tape in STATE.tapes:
                if tape.tape_id in self._tape_ids:
                    tape.note_cut(self, what)

    def numpy(self):
        self._leave(".numpy()")
        return self.data

    def __array__(self, dtype=None, copy=None):
        self._leave("np.asarray()")
        if dtype is not None and dtype != self.data.dtype:
            return self.data.astype(dtype)
        return self.data.copy() if copy else self.data

    def item(self):
        self._leave(".item()")
        return self.data.item()

    def tolist(self):
        self._leave(".tolist()")
        return self.data.tolist()

    def __float__(self):
        self._leave("float()")
        return float(self.data)

    def __int__(self):
        self._leave("int()")
        return int(self.data)

    def __index__(self):
        self._leave("index")
        return self.data.__index__()

    def __bool__(self):
        self._leave("bool()")
        return bool(self.data)

    # -- hooks
    def register_hook(self, fn):
        """`fn(grad)` runs when this tensor's gradient is computed; may return a replacement."""
        if not (self._requires_grad or self._tape_ids):
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self.grad_fn is None:
            hooks = self._hooks = self._hooks or {}
        else:
            node = self.grad_fn
            node.pre_hooks = node.pre_hooks or {}
            hooks = node.pre_hooks.setdefault(self._out_idx, {})
        key = object()
        hooks[key] = fn
        return _HookHandle(hooks, key)

    def retain_grad(self):
        if self.grad_fn is None or self._retains_grad:
            return
        self._retains_grad = True
        ref = weakref.ref(self)

        def keep(grad):
            t = ref()
            if t is not None:
                t._grad = grad if t._grad is None else Tensor(t._grad.data + grad.data)
        keep.retains_grad = True
        self.register_hook(keep)

    @property
    def retains_grad(self):
        return self._retains_grad

    def __repr__(self):
        if self._traced and STATE.trace_depth:   # no value while jit_grad traces (JAX: Traced<...>)
            return f"tensor(<traced>, shape={self.shape}, dtype={self.dtype})"
        body = np.array2string(self.data, separator=", ", prefix="tensor(")
        extra = ""
        if self.dtype not in (np.float32, np.int64, np.bool_) or self.size == 0:
            extra += f", dtype={self.dtype}"
        if self.grad_fn is not None:
            extra += f", grad_fn=<{self.grad_fn.name()}>"
        elif self._requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    def __hash__(self):
        return id(self)

    def __deepcopy__(self, memo):
        t = Tensor(self.data.copy(), requires_grad=self._requires_grad if self.is_leaf else False)
        memo[id(self)] = t
        return t

    def __reduce__(self):
        return (Tensor, (self.data, self._requires_grad and self.is_leaf))

def _tensors_in(x):
    if isinstance(x, Tensor):
        yield x
    elif isinstance(x, (list, tuple)):
        for v in x:
            yield from _tensors_in(v)
    elif isinstance(x, dict):
        for v in x.values():
            yield from _tensors_in(v)


def arrays_of(x):
    if isinstance(x, Tensor):
        return x.data
    if isinstance(x, (list, tuple)):
        return type(x)(arrays_of(v) for v in x)
    if isinstance(x, dict):
        return {k: arrays_of(v) for k, v in x.items()}
    return x


def refuse_if_differentiated(name, args, kwargs):
    for t in _tensors_in((args, kwargs)):
        if t._requires_grad or t._tape_ids or t._traced:
            raise TypeError(f"{name} is not differentiable in jitgrad: applied to a Tensor of shape "
                            f"{t.shape} that is part of a graph, it would drop the gradient (at "
                            f"{where_str()}); use jitgrad's ops, or np.asarray(t) to leave the graph")


class _HookHandle:
    def __init__(self, hooks, key):
        self._hooks, self._key = hooks, key

    def remove(self):
        self._hooks.pop(self._key, None)


# ----------------------------------------------------------------------------- bind
def _weak_scalar(x, like):
    """A Python scalar takes the dtype of the tensor it meets (NumPy 2's weak scalars)."""
    if isinstance(x, bool):
        kind_dtype = np.bool_
    elif isinstance(x, int):
        kind_dtype = np.int64
    elif isinstance(x, float):
        kind_dtype = np.float64
    else:
        kind_dtype = np.complex128
    if like is not None:
        ld = like.dtype
        if isinstance(x, bool) or (isinstance(x, int) and ld.kind in "iufc") or \
                (isinstance(x, float) and ld.kind in "fc") or (isinstance(x, complex) and ld.kind == "c"):
            kind_dtype = ld
    return Tensor(np.asarray(x, dtype=kind_dtype), _user=False)


def is_device_array(x):
    """A CUDA device array: `__cuda_array_interface__` (numba, CuPy, torch), or the simulator's."""
    return (hasattr(x, "__cuda_array_interface__") or type(x).__name__ == "FakeCUDAArray") \
        and not isinstance(x, np.ndarray)


def as_input(x, like=None):
    if isinstance(x, Tensor):
        return x
    if isinstance(x, np.generic):  # before Python scalars: np.float64 subclasses float, and
        return Tensor(np.asarray(x), _user=False)  # NumPy scalars are strongly typed (NEP 50)
    if isinstance(x, (bool, int, float, complex)):
        return _weak_scalar(x, like)
    if is_device_array(x):
        raise TypeError("a device array was passed to an eager op; copy it to the host first")
    if not isinstance(x, np.ndarray):
        return Tensor(np.asarray(x), _user=False)
    t = Tensor(x, _user=False)
    t._foldable = False       # the caller's own array: it may change before the next call
    return t


def coerce(args):
    like = next((a for a in args if isinstance(a, Tensor)), None)
    if like is None:
        like = next((a for a in args if isinstance(a, np.ndarray)), None)
    return [as_input(a, like) for a in args]


def bind(prim, *args, **params):
    """Apply primitive `prim` to tensors/arrays/scalars and record it where needed."""
    ins = coerce(args)
    datas = [t.data for t in ins]
    # while tracing, every op is recorded (constants stay symbolic: no folded 4M-element
    # arrays of ones); `_traced` marks values that depend on the traced inputs, which are
    # never read, so they are not computed either (unless anomaly checks want to see them)
    recording = STATE.trace_depth > 0
    traced = recording and any(t._traced for t in ins)
    try:
        prim.check(datas, params)
        if traced and STATE.abstract and not STATE.anomaly:
            out = prim.abstract_eval(datas, params)
        else:
            with np.errstate(all="ignore"):
                out = prim.impl(*datas, **params)
    except ShapeError as e:
        raise ShapeError(f"{prim.name}: {e} at {where_str()}") from None
    except (ValueError, TypeError, IndexError) as e:
        shapes = ", ".join(f"{d.shape} {d.dtype}" for d in datas)
        raise type(e)(f"{prim.name}: invalid inputs ({shapes}) at {where_str()}: {e}") from None
    if not isinstance(out, np.ndarray):
        out = np.asarray(out)
    if STATE.anomaly and not STATE.in_vjp:
        _check_anomaly(prim.name, out, "forward")
    requires_grad = tape_ids = False
    if STATE.grad_enabled:
        differentiable = prim.vjp is not None and out.dtype.kind in "fc"
        requires_grad = differentiable and any(t._requires_grad for t in ins)
        tape_ids = tape_ids_of(ins) if (differentiable and STATE.tapes) else frozenset()
    if not (requires_grad or tape_ids or recording):
        return Tensor(out, _user=False)
    node = Node(prim, params, ins, out, bool(requires_grad), tape_ids or frozenset(), recording)
    return Tensor(out, _node=node, _traced=traced)


def tape_ids_of(ins):
    """The ids of the open tapes that record an op on these inputs."""
    ids = set()
    for tape in STATE.tapes:
        if tape.recording:
            for t in ins:
                if tape.tape_id in t._tape_ids or tape.auto_watch(t):
                    ids.add(tape.tape_id)
    return frozenset(ids)


def _check_anomaly(name, arr, phase):
    if arr.dtype.kind in "fc" and not np.all(np.isfinite(arr)):
        what = "NaN" if np.isnan(arr).any() else "Inf"
        raise AnomalyError(f"{name} produced {what} in its {phase} (output shape {arr.shape}, "
                           f"dtype {arr.dtype}) at {where_str()}")


def check_backward_anomaly(node, j, arr):
    """A backward node's gradient for its input j is NaN/Inf: name the node, the forward op and
    the user's line that called it (recorded when the graph was built under detect_anomaly)."""
    if arr.dtype.kind in "fc" and not np.all(np.isfinite(arr)):
        what = "NaN" if np.isnan(arr).any() else "Inf"
        fwd = node.prim.name if getattr(node, "prim", None) is not None else node.name()
        made = (f"the forward op {fwd} was called at {node.where}" if node.where else
                f"the forward op {fwd} was recorded outside detect_anomaly, so its line is unknown "
                f"(build the graph inside detect_anomaly to see it)")
        raise AnomalyError(f"{node.name()} produced {what} in its backward (gradient for input {j}, "
                           f"shape {arr.shape}, dtype {arr.dtype}); {made}; backward was called at "
                           f"{where_str()}")


class ShapeError(ValueError):
    """Incompatible shapes for an op (message names the op and both shapes)."""
