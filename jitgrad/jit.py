"""`jit_grad`: value_and_grad, traced once per signature and compiled by `codegen`.

A call computes a signature from its arguments (array shapes and dtypes, static values); a
new signature traces `f` with real values, records the reverse sweep too, flattens both into
one Program and compiles it. Later calls with that signature only marshal arrays in and out.
"""
from __future__ import annotations

import contextlib
import functools
import gc
import threading
import time
from collections import namedtuple

import numpy as np

from tracer import Tensor, TraceError, make_program, tracing
from tracer.tensor import is_device_array as _is_device_array
from tracer.rng import draw_seed

from . import config, pytree
from .dynamic import Family, shape_free
from .nn import MODE_READS
from .autodiff import (accumulate, call_differentiated, captured_leaves, differentiate, prepare_args,
                       split_output, value_and_grad)

CacheInfo = namedtuple("CacheInfo", "hits misses signatures")
_ARRAY, _TREE, _STATIC, _SCALAR = range(4)


def _is_array(x):
    return isinstance(x, (np.ndarray, Tensor)) or _is_device_array(x)


def _array_sig(a):
    if isinstance(a, Tensor):
        a = a.data
    if _is_device_array(a) and hasattr(a, "__cuda_array_interface__"):  # e.g. torch dtypes
        return (tuple(a.shape), np.dtype(a.__cuda_array_interface__["typestr"]))
    return (tuple(a.shape), np.dtype(a.dtype))


UNSUPPORTED = {np.dtype(np.float16): "float16"}   # (NumPy's float16 has no scalar kernels in Numba)


def _to_host(tree):
    """The arrays a trace sees: host copies of device arrays, native byte order (a big-endian
    array is traced as its native twin; each call converts it, as Compiled does), and a clear
    refusal of dtypes the kernels cannot compute in. The one place both backends rely on."""
    if isinstance(tree, (list, tuple, dict)):
        leaves, td = pytree.flatten(tree)
        return pytree.unflatten(td, [_to_host(x) for x in leaves])
    if isinstance(tree, (np.ndarray, Tensor)):
        data = tree.data if isinstance(tree, Tensor) else tree
        if data.dtype.newbyteorder("=") in UNSUPPORTED:
            raise TypeError(f"jit_grad: an argument of shape {data.shape} has dtype "
                            f"{UNSUPPORTED[data.dtype.newbyteorder('=')]}, which compiled kernels do not "
                            f"support (supported: float32, float64, complex64, complex128, integers, "
                            f"bool); pass x.astype(np.float32), or run eagerly with eager=True")
        if isinstance(tree, np.ndarray) and tree.dtype.byteorder not in "=|":
            return tree.astype(tree.dtype.newbyteorder("="))
        return tree
    if not _is_device_array(tree):
        return tree
    if hasattr(tree, "copy_to_host"):
        return tree.copy_to_host()
    from numba import cuda
    return cuda.as_cuda_array(tree).copy_to_host()


def _static_key(x, i):
    if isinstance(x, (list, tuple)):
        return (type(x).__name__,) + tuple(_static_key(v, i) for v in x)
    if isinstance(x, dict):
        return ("dict",) + tuple((k, _static_key(v, i)) for k, v in sorted(x.items()))
    try:
        hash(x)
    except TypeError:
        raise TypeError(f"jit_grad: argument {i} ({type(x).__name__}) is neither an array nor hashable; "
                        f"non-array arguments are static (part of the cache key) and must be hashable") from None
    return (type(x), x)


class _Entry:
    """One compiled signature: how to run it and how to rebuild the results."""
    __slots__ = ("run", "program", "compiled", "specs", "aux_def", "aux_static", "n_aux",
                 "captured", "n_diff", "key", "reason", "argnums_int", "timings", "arg_paths", "family",
                 "modes", "n_seeds", "update_targets")


class JitGrad:
    def __init__(self, f, argnums=0, has_aux=False, backend="cpu", eager=None, cache_dir=None, dynamic=None):
        from codegen.backends import resolve_backend
        if backend != "auto":
            try:
                resolve_backend(backend)
            except ValueError as exc:
                raise ValueError(f"jit_grad: {exc}") from None
        if dynamic not in (None, True, False):
            raise ValueError(f"jit_grad: dynamic must be None, True or False, got {dynamic!r}")
        self.dynamic = dynamic
        self._families = {}      # shape-free signature -> Family (signatures compiled dynamically)
        self._static = []        # signatures compiled with static shapes, in order
        self.f = f
        self.argnums = argnums
        self._nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
        self._negative = any(n < 0 for n in self._nums)   # normalised per call (len(args))
        self._max_num = max(self._nums, default=-1)
        self.has_aux = has_aux
        self.backend = backend
        self.eager = eager
        self.cache_dir = cache_dir
        self._cache = {}
        self._scratch_group = []   # its programs' temporaries reuse one another's memory (see codegen)
        self._locks = {}
        self._lock = threading.Lock()
        self._hits = 0
        self._misses = 0
        self.last_reason = None
        self.last_key = None
        self._eager_fn = value_and_grad(f, argnums, has_aux)
        functools.update_wrapper(self, f)

    # -------------------------------------------------------------------- calls
    def __call__(self, *args, **kwargs):
        if self.eager or (self.eager is None and config.eager):
            return self._eager_fn(*args, **kwargs)
        nums = self._nums if not self._negative else self._normalised_nums(len(args))
        key, arrays = self._scan(args, kwargs, nums)
        entry = self._cache.get(key)
        if entry is None:
            entry = self._compile(key, args, kwargs, nums)
        else:
            self._hits += 1
        self.last_key = key
        try:
            return entry.run(arrays, args, kwargs)
        except _Stale as why:   # a captured tensor changed shape, dtype or requires_grad
            with self._lock:
                if self._cache.get(key) is entry:
                    del self._cache[key]
            self._hits -= 1      # not a hit after all: the retrace below counts as a miss
            return self._compile(key, args, kwargs, nums, reason=str(why)).run(arrays, args, kwargs)
        except IndexError:      # an index array out of bounds: eager names the op and the line
            self._eager_fn(*args, **kwargs)
            raise

    def _normalised_nums(self, nargs):
        return tuple(n % max(nargs, 1) for n in self._nums)

    def _scan(self, args, kwargs, nums):
        """Signature and the flat list of dynamic arrays, in one pass over the arguments. A
        Tensor that requires grad outside `argnums` is marked: it receives `.grad`, as eagerly."""
        key, arrays = [], []
        for i, a in enumerate(args):
            if type(a) is np.ndarray:
                key.append((a.shape, a.dtype))
                arrays.append(a)
            elif isinstance(a, Tensor):
                key.append((a.data.shape, a.data.dtype) if not a._requires_grad or i in nums else
                           (a.data.shape, a.data.dtype, _GRAD))
                arrays.append(a.data)
            elif i in nums or _is_device_array(a) or _has_array(a):
                leaves, td = pytree.flatten(a)
                sig = [pytree.treedef_key(td)]
                for leaf in leaves:
                    if _is_array(leaf) or i in nums:
                        arr = pytree.as_array(leaf)
                        sig.append(_array_sig(arr) + ((_GRAD,) if _wants_grad(leaf) and i not in nums else ()))
                        arrays.append(arr)
                    else:
                        sig.append(_static_key(leaf, i))
                key.append(tuple(sig))
            else:
                key.append(_static_key(a, i))
        if len(args) <= (self._max_num if nums is self._nums else max(nums, default=-1)):
            raise TypeError(f"jit_grad: argnums={self.argnums} but {len(args)} positional arguments were given")
        for k in sorted(kwargs) if kwargs else ():
            v = kwargs[k]
            if _is_array(v):
                arr = pytree.as_array(v)
                key.append((k, _array_sig(arr) + ((_GRAD,) if _wants_grad(v) else ())))
                arrays.append(arr)
            else:
                key.append((k, _static_key(v, k)))
        return tuple(key), arrays

    # -------------------------------------------------------------------- compiling
    def _compile(self, key, args, kwargs, nums, reason=None):
        with self._lock:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            entry = self._cache.get(key)
            if entry is not None:  # another thread compiled it while we waited
                self._hits += 1
                return entry
            family = self._family_for(key)
            reason = reason or self._why(key, family)
            with _gc_paused():
                entry = self._trace_and_compile(key, args, kwargs, nums, family)
            entry.reason = reason
            self.last_reason = reason
            self._misses += 1
            self._cache[key] = entry
            return entry

    def _family_for(self, key):
        """The Family a new signature joins when it is compiled with dynamic sizes, else None
        (dynamic=None: a signature that differs from one already compiled only in sizes)."""
        if self.dynamic is False:
            return None
        g = shape_free(key)
        fam = self._families.get(g)
        if fam is None:
            if self.dynamic is None:
                prev = next((k for k in reversed(self._static) if shape_free(k) == g and k != key), None)
                if prev is None:
                    if key not in self._static:
                        self._static.append(key)
                    return None
                fam = Family(prev)
            else:
                fam = Family(key, all_dynamic=True)
            self._families[g] = fam
        fam.add(key)
        return fam

    def _why(self, key, family=None):
        if not self._cache:
            return "first call" + (f"; {family.describe()}" if family is not None else "")
        prev = list(self._cache)[-1]
        diffs = []
        for i, (a, b) in enumerate(zip(prev, key)):
            if a != b:
                diffs.append(f"argument {i}: {_describe(a)} -> {_describe(b)}")
        if len(prev) != len(key):
            diffs.append(f"number of arguments {len(prev)} -> {len(key)}")
        why = "new signature: " + "; ".join(diffs)
        if family is not None:
            why += f"; {family.describe()}: compiled with sizes as kernel arguments"
        return why

    def _trace_and_compile(self, key, args, kwargs, nums, family=None):
        args = [_to_host(a) for a in args]
        kwargs = {k: _to_host(v) for k, v in kwargs.items()}
        new_args, specs, diff = prepare_args(args, nums[0] if isinstance(self.argnums, int) else nums,
                                             traced=True)
        dyn, kw, arg_leaves, arg_paths = _traced_arguments(new_args, kwargs, nums, specs)
        t0 = time.perf_counter()
        value, aux, captured, grads, effects, modes = self._record(new_args, kw, diff, arg_leaves)
        aux_leaves, aux_def = pytree.flatten(aux) if self.has_aux else ([], None)
        aux_tensors = [a for a in aux_leaves if isinstance(a, Tensor)]
        # random seeds are inputs drawn per call; state updates are outputs written back after it
        program = make_program(dyn + effects.seeds, [value, *aux_tensors, *grads, *(v for _, v in effects.updates)],
                               state=[t for t, _ in effects.updates])
        e = _Entry()
        e.program, e.specs, e.captured, e.n_diff, e.key = program, specs, captured, len(diff), key
        e.aux_def, e.n_aux = aux_def, len(aux_tensors)
        e.n_seeds, e.update_targets = len(effects.seeds), [t for t, _ in effects.updates]
        e.arg_paths = arg_paths
        e.modes = modes + _python_numbers(self.f)
        e.aux_static = [None if isinstance(a, Tensor) else a for a in aux_leaves]
        e.argnums_int = isinstance(self.argnums, int)
        e.family = family
        t1 = time.perf_counter()
        e.compiled, t_import = self._backend_compile(program, family)
        e.timings = {"trace": t1 - t0, "import": t_import, **getattr(e.compiled, "timings", {})}
        e.run = _make_runner(e, self.has_aux)
        return e

    def _record(self, new_args, kw, diff, arg_leaves):
        """Run f on traced tensors and record its reverse sweep: (value, aux, captured leaves,
        gradients, the trace's effects (seeds, state updates), the module modes it read)."""
        np_state = _np_random_state()
        prev_reads, MODE_READS.reads = MODE_READS.reads, []
        try:
            with tracing() as effects:
                value, aux = split_output(call_differentiated(self.f, new_args, kw), self.has_aux, "jit_grad")
                captured = captured_leaves(value, diff + arg_leaves)
                grads = differentiate(value, diff, captured + arg_leaves, create_graph=True)
            modes = list({id(m): (m, v) for m, v in MODE_READS.reads}.values())
        finally:
            MODE_READS.reads = prev_reads
        if _np_random_state() != np_state:
            raise TraceError(f"np.random was used while jit_grad traced {getattr(self.f, '__qualname__', self.f)}: "
                             f"the draw would be frozen into the compiled code (the same numbers on every "
                             f"call); pass random arrays as arguments, or run eagerly with eager=True")
        return value, aux, captured, grads, effects, modes

    def _backend_compile(self, program, family=None):
        """(compiled, seconds spent importing codegen: Numba's own start-up, once per process)."""
        from codegen.backends import compile_program, resolve_backend
        t0 = time.perf_counter()
        if self.backend != "auto":
            resolve_backend(self.backend).load()
        t_import = time.perf_counter() - t0
        dynamic = family is not None and (family.all_dynamic or self.backend != "cpu" or self._generalizer(family))
        return compile_program(program, backend=self.backend, cache_dir=self.cache_dir,
                               dynamic=dynamic, scratch_group=self._scratch_group), t_import

    def _generalizer(self, family):
        """dynamic=None: the family's kernels take as arguments only the values that differed
        between its sizes, starting from the statically compiled signature it grew from."""
        if family.generalizer is None:
            from codegen.patterns import Generalizer
            g = Generalizer()
            for k in family.order:
                kernel = getattr(getattr(self._cache.get(k), "compiled", None), "kernel", None)
                if kernel is not None:
                    g.observe_kernel(kernel)
            family.generalizer = g
        return family.generalizer

    # -------------------------------------------------------------------- introspection
    def cache_info(self):
        """hits, misses (traces) and the signatures compiled: static ones as they are, each
        family of dynamic ones once, its symbolic sizes by name (('B', 784), float32)."""
        sigs, seen = [], set()
        for k, e in self._cache.items():
            if e.family is None:
                sigs.append(k)
            elif id(e.family) not in seen:
                seen.add(id(e.family))
                sigs.append(e.family.signature())
        return CacheInfo(self._hits, self._misses, sigs)

    def clear_cache(self):
        with self._lock:
            self._cache.clear()
            self._locks.clear()
            self._families.clear()
            self._static.clear()
            self._hits = self._misses = 0

    def entry_for(self, *args, **kwargs):
        """The compiled entry for these arguments (compiling if needed), for `explain`."""
        nums = self._nums if not self._negative else self._normalised_nums(len(args))
        key, _ = self._scan(args, kwargs, nums)
        entry = self._cache.get(key)
        if entry is None:
            entry = self._compile(key, args, kwargs, nums)
        return entry

    def __repr__(self):
        return f"<jit_grad of {getattr(self.f, '__qualname__', self.f)} backend={self.backend}>"


_GRAD = "requires_grad"   # marks, in a signature, a Tensor argument that receives .grad


@contextlib.contextmanager
def _gc_paused():
    """Tracing and the IR passes allocate many small objects; with Numba's large heap each
    full collection they trigger took tens of ms (a 32-step RNN's passes: 205 -> 165 ms)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


class _Stale(Exception):
    """A compiled entry no longer matches what the function captured; the message says why."""


def _traced_arguments(new_args, kwargs, nums, specs):
    """Traced tensors in place of the array arguments that are not differentiated (in
    new_args, and a new kwargs); returns (program inputs in the order `_scan` passes arrays:
    by position, then keyword; that kwargs; the arguments' leaves that get .grad; their paths)."""
    dyn, arg_leaves, arg_paths = [], [], []

    def traced(leaf, path):
        t = Tensor(pytree.as_array(leaf))
        t._traced = True
        if _wants_grad(leaf):     # a Tensor argument that requires grad gets .grad, as eagerly
            t.requires_grad = True
            arg_leaves.append(t)
            arg_paths.append(path)
        dyn.append(t)
        return t
    for i, a in enumerate(new_args):
        if i in nums:
            dyn.extend(specs[nums.index(i)][0])
            continue
        if _is_array(a):
            new_args[i] = traced(a, (i, None))
        elif _has_array(a):
            leaves, td = pytree.flatten(a)
            new_args[i] = pytree.unflatten(td, [traced(leaf, (i, j)) if _is_array(leaf) else leaf
                                                for j, leaf in enumerate(leaves)])
    kw = {k: traced(v, (k, None)) if _is_array(v) else v for k, v in sorted(kwargs.items())}
    return dyn, kw, arg_leaves, arg_paths


def _wants_grad(x):
    return isinstance(x, Tensor) and x._requires_grad


def _has_array(x):
    if isinstance(x, (list, tuple, dict)):
        return any(_is_array(leaf) for leaf in pytree.flatten(x)[0])
    return False


def _describe(part):
    if isinstance(part, tuple) and len(part) == 2 and isinstance(part[0], tuple) and isinstance(part[1], np.dtype):
        return f"array {part[1]}{list(part[0])}"
    if isinstance(part, tuple) and len(part) == 2 and isinstance(part[0], type):
        return f"static {part[1]!r}"
    return repr(part)


def _make_runner(e, has_aux):
    """A closure doing the least work per call: marshal arrays, rebuild pytrees, accumulate.
    The common cases (bare array arguments, no aux, nothing captured) cost one kernel call and
    a slice; pytrees, aux and captured tensors pay only for what they use."""
    compiled, program = e.compiled, e.program
    n_aux, n_diff = e.n_aux, e.n_diff
    specs, captured, arg_paths = e.specs, e.captured, e.arg_paths
    g0 = 1 + n_aux
    if not (program.constvars or e.n_seeds or e.update_targets or e.modes or has_aux or captured or arg_paths) \
            and all(td is None for _, td in specs):
        return _plain_runner(compiled, e.argnums_int, n_diff)
    if program.constvars:
        const_values, check = program.const_values, _const_guard(program)

        def call(arrays):
            consts = const_values()
            check(consts)
            return compiled(*arrays, *consts)
    else:
        def call(arrays):
            return compiled(*arrays)
    if e.n_seeds or e.update_targets:
        call = _with_effects(call, e.n_seeds, e.update_targets)
    if e.modes:
        call = _guarded(call, e.modes)

    if all(td is None for _, td in specs):     # bare arrays at argnums: gradients as they come
        if e.argnums_int:
            def grads_of(outs):
                return outs[g0]
        else:
            def grads_of(outs):
                return tuple(outs[g0:g0 + n_diff])
    else:
        def grads_of(outs):
            it = iter(outs[g0:g0 + n_diff])
            gs = [pytree.unflatten(td, [next(it) for _ in ts]) for ts, td in specs]
            return gs[0] if e.argnums_int else tuple(gs)

    if not has_aux and not captured and not arg_paths:
        def run(arrays, args, kwargs):
            outs = call(arrays)
            return outs[0], grads_of(outs)
        return run

    def run(arrays, args, kwargs):
        outs = call(arrays)
        extra = outs[g0 + n_diff:]
        if captured:
            accumulate(captured, [Tensor(x) for x in extra[:len(captured)]])
        if arg_paths:
            accumulate(_args_at(args, kwargs, arg_paths), [Tensor(x) for x in extra[len(captured):]])
        if has_aux:
            ai = iter(outs[1:g0])
            aux = pytree.unflatten(e.aux_def, [next(ai) if s is None else s for s in e.aux_static])
            return (outs[0], aux), grads_of(outs)
        return outs[0], grads_of(outs)
    return run


def _guarded(inner, modes):
    """`inner`, after checking what the trace read and compiled in (training flags, Python numbers)."""
    def call(arrays):
        for m, v in modes:
            if isinstance(m, _NumberRef):
                if m.get() != v:
                    raise _Stale(f"the captured Python number {m.name} changed from {v!r} to {m.get()!r}")
            elif m.__dict__.get("_training", True) != v:
                raise _Stale(f"{type(m).__name__} switched to {'training' if not v else 'eval'} mode "
                             f"(the function read its training flag while tracing)")
        return inner(arrays)
    return call


def _plain_runner(compiled, argnums_int, n_diff):
    """Bare arrays in, value and gradients out, nothing else to do: one layer of calls (W4's
    cached call is 3 us, and each layer costs 0.1-0.2 us)."""
    if argnums_int:
        def run(arrays, args, kwargs):
            outs = compiled(*arrays)
            return outs[0], outs[1]
    else:
        def run(arrays, args, kwargs):
            outs = compiled(*arrays)
            return outs[0], tuple(outs[1:1 + n_diff])
    return run


def _with_effects(call, n_seeds, targets):
    """`call` given a fresh seed per random draw of the function (from the global generator,
    as eager draws them), writing the state updates it computed back into their tensors."""
    n = len(targets)

    def run(arrays):
        if n_seeds:
            arrays = [*arrays, *(draw_seed() for _ in range(n_seeds))]
        outs = call(arrays)
        if not n:
            return outs
        for t, new in zip(targets, outs[len(outs) - n:]):
            np.copyto(t.data, new)
        return outs[:len(outs) - n]
    return run


def _args_at(args, kwargs, paths):
    """The Tensors at (argument, leaf index) paths of this call (each pytree flattened once)."""
    leaves = {}
    out = []
    for where, j in paths:
        a = kwargs[where] if isinstance(where, str) else args[where]
        if j is None:
            out.append(a)
        else:
            if where not in leaves:
                leaves[where] = pytree.flatten(a)[0]
            out.append(leaves[where][j])
    return out


class _NumberRef:
    """A Python number the traced function refers to directly (a global or closure variable):
    its value is compiled in, so a change retraces (torch.compile guards them too)."""
    __slots__ = ("name", "get")

    def __init__(self, name, get):
        self.name, self.get = name, get


_NUMBER_TYPES = (bool, int, float, complex)


def _python_numbers(f):
    """[(_NumberRef, value at trace time)] for f's globals and closure cells holding numbers.
    Numbers reached indirectly (attributes, other functions' globals) are compiled in unguarded."""
    f = getattr(f, "__func__", f)
    code, out = getattr(f, "__code__", None), []
    if code is None:
        return out
    for name, cell in zip(code.co_freevars, f.__closure__ or ()):
        try:
            v = cell.cell_contents
        except ValueError:
            continue
        if type(v) in _NUMBER_TYPES:
            out.append((_NumberRef(name, lambda c=cell: c.cell_contents), v))
    g = f.__globals__
    for name in code.co_names:
        v = g.get(name)
        if type(v) in _NUMBER_TYPES:
            out.append((_NumberRef(name, lambda n=name: g.get(n)), v))
    return out


def _np_random_state():
    """NumPy's global generator position (what np.random.rand & co advance)."""
    st = np.random.get_state()
    return (st[2], st[1][:4].tobytes(), st[3])


def _const_guard(program):
    """A check of the captured arrays before each call: a change of shape or dtype, or of which
    captured tensors require grad, needs a new trace (raises _Stale, and the caller retraces)."""
    specs = [(v.shape, v.dtype) for v in program.constvars]
    flags = [(s, s._requires_grad) for s in program.const_sources if isinstance(s, Tensor)]

    def check(consts):
        for c, (shape, dtype) in zip(consts, specs):
            if c.shape != shape or c.dtype != dtype:
                raise _Stale(f"a captured array changed from {dtype}{list(shape)} to {c.dtype}{list(c.shape)}")
        for t, rg in flags:
            if t._requires_grad != rg:
                raise _Stale(f"a captured tensor of shape {t.shape} {'now' if t._requires_grad else 'no longer'} "
                             f"requires grad")
    return check


def jit_grad(f=None, *, argnums=0, has_aux=False, backend="cpu", eager=None, cache_dir=None, dynamic=None):
    """Compiled `value_and_grad`; see API.md."""
    if f is None:
        return functools.partial(jit_grad, argnums=argnums, has_aux=has_aux, backend=backend,
                                 eager=eager, cache_dir=cache_dir, dynamic=dynamic)
    return JitGrad(f, argnums, has_aux, backend, eager, cache_dir, dynamic)
