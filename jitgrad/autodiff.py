"""Reverse-mode entry points in the three dialects users bring: PyTorch (`grad`, `backward`,
`Function`), TensorFlow (`GradientTape`) and JAX (`value_and_grad`)."""
from __future__ import annotations

import itertools
import threading
import warnings
import weakref

import numpy as np

from tracer import STATE, Tensor, no_grad, ops
from tracer.engine import backward, grad, sweep  # noqa: F401  (re-exported)
from tracer.tensor import AccumulateGrad, Node, check_float, edge_of, tape_ids_of, walk_graph, where_str

from . import pytree


# ----------------------------------------------------------------------------- JAX style
def captured_leaves(value, exclude):
    """Leaves with requires_grad that `value` depends on, other than `exclude` (closures,
    globals, module parameters): they receive `.grad` as backward() would give them."""
    skip = {id(t) for t in exclude}
    found, seen = [], set()
    roots = [value.grad_fn] if value.grad_fn is not None else []
    for n in walk_graph(roots, lambda n: isinstance(n, AccumulateGrad) or n.requires_grad):
        v = getattr(n, "variable", None)
        if v is not None and v._requires_grad and id(v) not in skip and id(v) not in seen:
            seen.add(id(v))
            found.append(v)
    return found


def prepare_args(args, argnums, traced=False):
    """Fresh leaf tensors for the differentiated arguments (the caller's objects are untouched).

    Returns (new_args, per-argnum (leaves, treedef), all leaf tensors)."""
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    args = list(args)
    for i in nums:
        if i >= len(args):
            raise TypeError(f"argnums={argnums} but the function was called with {len(args)} arguments")
    specs, diff = [], []
    for i in nums:
        leaves, td = pytree.flatten(args[i])
        ts = []
        for leaf in leaves:
            arr = pytree.as_array(pytree.refuse_device_array(leaf, "value_and_grad", i))
            if arr.dtype.kind not in "fc":
                raise TypeError(f"argument {i} has dtype {arr.dtype}: only floating point arguments "
                                f"can be differentiated (argnums={argnums})")
            t = Tensor(arr, requires_grad=True)
            t._traced = traced
            ts.append(t)
        args[i] = pytree.unflatten(td, ts)
        specs.append((ts, td))
        diff.extend(ts)
    return args, specs, diff


def call_differentiated(f, args, kwargs):
    STATE.differentiating += 1
    try:
        return f(*args, **kwargs)
    finally:
        STATE.differentiating -= 1


def split_output(out, has_aux, who):
    if has_aux:
        if not (isinstance(out, (tuple, list)) and len(out) == 2):
            raise TypeError(f"{who}(has_aux=True) needs f to return a pair (value, aux), got "
                            f"{type(out).__name__}")
        value, aux = out
    else:
        value, aux = out, None
    if not isinstance(value, Tensor):
        value = Tensor(np.asarray(value))
    if value.size != 1:
        raise TypeError(f"{who} needs f to return a scalar (size-1) value, got shape {value.shape}; "
                        f"reduce it (e.g. .sum() or .mean()) first")
    return value, aux


def differentiate(value, diff, captured, create_graph):
    """One sweep for the differentiated arguments and the captured leaves; unused -> zeros."""
    targets = diff + captured
    if value.grad_fn is None and not value.requires_grad:  # a differentiated leaf itself: seed 1
        grads = [None] * len(targets)
    else:
        grads = sweep([value], [None], targets, create_graph=create_graph, retain_graph=create_graph)
    return [g if g is not None else Tensor(np.zeros(t.shape, t.dtype)) for g, t in zip(grads, targets)]


_ACCUMULATE = threading.Lock()


def accumulate(tensors, grads):
    """`.grad += g` for each tensor; under a lock, so two threads training one module through
    one function both land their gradients (each read-add-write is otherwise a lost update)."""
    with _ACCUMULATE:
        for t, g in zip(tensors, grads):
            t._grad = Tensor(g.data.copy()) if t._grad is None else Tensor(t._grad.data + g.data)


def value_and_grad(f, argnums=0, has_aux=False):
    """Eager: `(value, grads)` (`((value, aux), grads)` with has_aux), as NumPy arrays."""
    def wrapped(*args, **kwargs):
        new_args, specs, diff = prepare_args(args, argnums)
        value, aux = split_output(call_differentiated(f, new_args, kwargs), has_aux, "value_and_grad")
        captured = captured_leaves(value, diff)
        grads = differentiate(value, diff, captured, create_graph=False)
        accumulate(captured, grads[len(diff):])
        it = iter(g.data for g in grads)
        gs = [pytree.unflatten(td, [next(it) for _ in ts]) for ts, td in specs]
        g = gs[0] if isinstance(argnums, int) else tuple(gs)
        v = value.data
        return ((v, pytree.to_numpy(aux)), g) if has_aux else (v, g)
    wrapped.__wrapped__ = f
    return wrapped


# ----------------------------------------------------------------------------- TF style
_tape_ids_counter = itertools.count(1)


class GradientTape:
    """Records ops on watched tensors while open (TensorFlow's tf.GradientTape)."""

    def __init__(self, persistent=False, watch_accessed_variables=True):
        self._persistent = persistent
        self._watch_accessed = watch_accessed_variables
        self.tape_id = next(_tape_ids_counter)     # tracer.tensor.Tape: the tracer reads these
        self._watched = []
        self.recording = False
        self._used = False
        self._cuts = []
        self._warned = False

    def __enter__(self):
        STATE.tapes.append(self)
        self.recording = True
        return self

    def __exit__(self, *exc):
        self.recording = False
        if self in STATE.tapes:
            STATE.tapes.remove(self)
        return False

    def watch(self, tensor):
        for t in pytree.flatten(tensor)[0]:
            if not isinstance(t, Tensor):
                raise TypeError(f"GradientTape.watch takes Tensors, got {type(t).__name__}; "
                                f"wrap arrays with jg.tensor(...)")
            check_float(t.dtype)
            if self.tape_id not in t._tape_ids:
                t._tape_ids = t._tape_ids | {self.tape_id}
                self._watched.append(t)

    def watched_variables(self):
        return tuple(self._watched)

    def stop_recording(self):
        tape = self

        class _Pause:
            def __enter__(self):
                self.prev = tape.recording
                tape.recording = False

            def __exit__(self, *exc):
                tape.recording = self.prev
                return False
        return _Pause()

    def reset(self):
        """Forget everything recorded so far (ops and watches)."""
        self.tape_id = next(_tape_ids_counter)
        self._watched, self._cuts, self._used, self._warned = [], [], False, False

    def note_cut(self, tensor, what):
        self._cuts.append((what, where_str(), tensor.shape))

    def auto_watch(self, tensor):
        """With watch_accessed_variables, a trainable leaf is watched when an op first uses it."""
        if self._watch_accessed and tensor._requires_grad and tensor.grad_fn is None:
            self.watch(tensor)
            return True
        return False

    def _record_gradient(self, targets):
        """Record the sweep when something will differentiate its result: an outer tape, or
        value_and_grad/jit_grad around a loss that uses this gradient (a PINN loss)."""
        if not STATE.grad_enabled:
            return False
        return any(t.recording and t is not self for t in STATE.tapes) or \
            (STATE.differentiating > 0 and any(isinstance(t, Tensor) and t._requires_grad for t in targets))

    def _check_use(self):
        if self._used and not self._persistent:
            raise RuntimeError("A non-persistent GradientTape can only be used to compute one set of "
                               "gradients (or jacobians); create it with persistent=True to call "
                               "gradient() more than once")
        self._used = True

    def gradient(self, target, sources, output_gradients=None, unconnected_gradients="none"):
        if unconnected_gradients not in ("none", "zero"):
            raise ValueError("unconnected_gradients must be 'none' or 'zero'")
        self._check_use()
        targets = [t for t in pytree.flatten(target)[0]]
        src_leaves, src_def = pytree.flatten(sources)
        for i, s in enumerate(src_leaves):
            if not isinstance(s, Tensor):
                raise TypeError(f"GradientTape.gradient: source {i} is a {type(s).__name__}, not a Tensor")
        if output_gradients is None:
            seeds = [Tensor(np.ones(t.shape, t.dtype)) for t in targets]
        else:
            seeds = pytree.flatten(output_gradients)[0]
        live = [(t, g) for t, g in zip(targets, seeds) if isinstance(t, Tensor) and edge_of(t) is not None]
        if live:
            res = sweep([t for t, _ in live], [g for _, g in live], src_leaves,
                        create_graph=self._record_gradient(targets), retain_graph=True, tape_id=self.tape_id)
        else:
            res = [None] * len(src_leaves)
        out = []
        for i, (s, g) in enumerate(zip(src_leaves, res)):
            if g is None:
                self._warn_cut(i, s)
                if unconnected_gradients == "zero":
                    g = Tensor(np.zeros(s.shape, s.dtype))
            out.append(g)
        return pytree.unflatten(src_def, out) if src_def is not None else out[0]

    def _warn_cut(self, i, source):
        if self._cuts and not self._warned:
            self._warned = True
            what, where, shape = self._cuts[0]
            warnings.warn(f"GradientTape.gradient: the gradient for source {i} (shape {source.shape}, "
                          f"dtype {source.dtype}) is None because the path from it to the target was "
                          f"cut by a conversion to NumPy ({what} on a tensor of shape {shape} at "
                          f"{where}); use jitgrad ops instead of NumPy on recorded tensors",
                          RuntimeWarning, stacklevel=3)

    def jacobian(self, target, source, unconnected_gradients="none"):
        """d target / d source, shape target.shape + source.shape, in one sweep per element."""
        self._check_use()
        create = self._record_gradient([target])
        rows = []
        for k in range(target.size):
            seed = np.zeros(target.size, target.dtype)
            seed[k] = 1
            live = edge_of(target) is not None
            g = sweep([target], [Tensor(seed.reshape(target.shape))], [source], create_graph=create,
                      retain_graph=True, tape_id=self.tape_id)[0] if live else None
            if g is None:
                if unconnected_gradients != "zero":
                    return None
                g = Tensor(np.zeros(source.shape, source.dtype))
            rows.append(g)
        if not rows:
            return Tensor(np.zeros(target.shape + source.shape, source.dtype))
        return ops.reshape(ops.stack(rows), target.shape + source.shape)


# ----------------------------------------------------------------------------- PyTorch style
class FunctionCtx:
    def __init__(self):
        self.saved = ()
        self.needs_input_grad = ()
        self.freed = False

    def save_for_backward(self, *tensors):
        self.saved = tensors

    @property
    def saved_tensors(self):
        if self.freed:
            from tracer.engine import FREED_MSG
            raise RuntimeError(FREED_MSG)
        node = self._node() if getattr(self, "_node", None) is not None else None
        if node is None:
            return self.saved
        # saved outputs come back attached to this Function's node (as in PyTorch), so a
        # backward written with tensor ops can itself be differentiated (create_graph=True)
        return tuple(Tensor(node.out_data[t.index], _node=node, _out_idx=t.index,
                            _traced=t.traced) if isinstance(t, _SavedOutput) else t for t in self.saved)


class _SavedOutput:
    __slots__ = ("index", "traced")

    def __init__(self, index, traced):
        self.index, self.traced = index, traced


class FunctionNode(Node):
    """grad_fn of a user-defined `Function`: its backward is the user's staticmethod."""
    __slots__ = ("fn_cls", "ctx", "arg_positions")

    def __init__(self, fn_cls, ctx, args, outs, requires_grad, tape_ids):
        tensors = [a for a in args if isinstance(a, Tensor)]
        super().__init__(None, {}, tensors, [o.data for o in outs], requires_grad, tape_ids, traced=False)
        self.fn_cls, self.ctx = fn_cls, ctx
        self.arg_positions = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        self.saved = ()          # the user's ctx keeps what backward needs
        self.trace_outputs = tuple(outs) if STATE.trace_depth else None
        self.n_out = len(outs)

    def name(self):
        return self.fn_cls.__name__ + "Backward"

    def release(self):
        if self.trace_outputs is None:
            self.ctx.freed = True
            self.ctx.saved = ()
            self.freed = True

    def vjp(self, grads, needed):
        grads = [g if g is not None else Tensor(np.zeros_like(d)) for g, d in zip(grads, self.out_data)]
        res = self.fn_cls.backward(self.ctx, *grads)
        res = res if isinstance(res, tuple) else (res,)
        return [res[p] if p < len(res) and need else None for p, need in zip(self.arg_positions, needed)]


class Function:
    """Subclass with `@staticmethod forward(ctx, *args)` and `backward(ctx, *grad_outputs)`;
    call as `MyFn.apply(*args)`. Works eagerly and under jit_grad."""

    @staticmethod
    def forward(ctx, *args):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError

    @classmethod
    def apply(cls, *args):
        ctx = FunctionCtx()
        tensors = [a for a in args if isinstance(a, Tensor)]
        ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        with no_grad():
            raw = cls.forward(ctx, *args)
        multi = isinstance(raw, tuple)
        outs = [o if isinstance(o, Tensor) else Tensor(np.asarray(o)) for o in (raw if multi else (raw,))]
        requires_grad = STATE.grad_enabled and any(t._requires_grad for t in tensors)
        tape_ids = tape_ids_of(tensors) if STATE.grad_enabled and STATE.tapes else frozenset()
        if not (requires_grad or tape_ids):
            return raw if multi else outs[0]
        node = FunctionNode(cls, ctx, args, outs, requires_grad, tape_ids)
        pos = {id(o): i for i, o in enumerate(outs)}
        if any(isinstance(t, Tensor) and id(t) in pos for t in ctx.saved):
            ctx.saved = tuple(_SavedOutput(pos[id(t)], t._traced) if isinstance(t, Tensor) and id(t) in pos
                              else t for t in ctx.saved)
            ctx._node = weakref.ref(node)  # weak: no cycle node -> ctx -> node
        wrapped = tuple(Tensor(o.data, _node=node, _out_idx=i, _traced=o._traced) for i, o in enumerate(outs))
        return wrapped if multi else wrapped[0]
