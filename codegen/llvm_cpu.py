"""Loop-nest kernels compiled by LLVM directly (llvmlite), without Numba's pipeline.

Numba spends 0.1-0.25 s on each small kernel, about half in its own Python passes (typing,
lowering, the CPython wrapper) and half in LLVM run twice over every function; a program's
first call is mostly that. The kernels numba_cpu renders use a small subset of Python (range
loops, if/else, scalar arithmetic on typed values, flat indexing, calls to the helpers of
codegen.fastmath and codegen.scalar), so this module compiles that subset itself: the source
is parsed, typed with Numba's rules for it (NumPy scalar promotion, a Python float is float64),
emitted as LLVM IR and optimised once at O3: about 20 ms per kernel. The source stays the one
description of a kernel, and anything outside the subset raises `Unsupported`: that kernel is
compiled by Numba as before.

- The math helpers (codegen.fastmath: exp, tanh, ...) are compiled by Numba with the kernels'
  flags, once: their IR ships in `helpers/` (for one Numba/llvmlite/target) or is kept in the
  cache directory, and is linked into each kernel, where LLVM inlines it (as Numba's own linking
  does). codegen.scalar's one-line helpers (maximum, relu, ...) are compiled from their source
  in place; wrap_index (a bounds check that can fail) is emitted directly.
- Each kernel comes with a METH_FASTCALL CPython wrapper written in IR (arrays: their data
  pointer; sizes: PyLong/PyFloat), which releases the GIL around the loop nest as nogil does,
  made callable with PyCFunction_NewEx. The driver always passes C-contiguous arrays of the
  right dtype and Python numbers, as for Numba's entry points, so the wrapper checks nothing.
- Object code is cached on disk (`jgl_<key>.o`, with a checksum) and loaded through MCJIT's
  object cache: a warm process neither optimises nor generates code.

`JITGRAD_KERNEL_COMPILER=numba` turns this off.
"""
from __future__ import annotations

import ast
import ctypes
import hashlib
import os
import pathlib
import threading

import numpy as np

from .kernel_cache import locked, seal, unseal, write_atomic

COMPILER = os.environ.get("JITGRAD_KERNEL_COMPILER", "llvm")
FORMAT = "llvm-1"


class Unsupported(Exception):
    """The kernel source leaves the subset compiled here: Numba compiles it."""


# ----------------------------------------------------------------------------- types
B, I64, F32, F64, I8 = "i1", "i64", "float", "double", "i8"
FLOATS = (F32, F64)
_OF_DTYPE = {np.dtype(np.bool_): B, np.dtype(np.int64): I64, np.dtype(np.float32): F32, np.dtype(np.float64): F64}
_NP_CAST = {"float32": F32, "float64": F64, "int64": I64, "uintp": I64, "intp": I64}
_FLAGS = "reassoc contract"           # the kernels' fastmath set (numba_cpu.FASTMATH)


def promote(a, b):
    """Numba's result type of a binary arithmetic op on two of our scalar types."""
    if a == b:
        return a
    s = {a, b}
    if s == {B, I64}:
        return I64
    if B in s:
        return (s - {B}).pop()
    return F64          # float32 with float64 or with int64


# ----------------------------------------------------------------------------- IR building
class _Fn:
    """One function's IR text: an entry block of allocas, then the code blocks."""

    def __init__(self):
        self.allocas, self.lines = [], []
        self.n = 0

    def label(self, hint):
        self.n += 1
        return f"{hint}{self.n}"

    def emit(self, line):
        self.lines.append("  " + line)

    def block(self, label):
        self.lines.append(f"{label}:")

    def op(self, text):
        self.n += 1
        self.emit(f"%t{self.n} = {text}")
        return f"%t{self.n}"


def _const(v, t):
    if t == B:
        return "true" if v else "false"
    if t == I64:
        return str(int(v))
    v = float(v)
    if t == F32:
        v = float(np.float32(v))
    if v != v:
        return "0x7FF8000000000000"
    if v in (float("inf"), float("-inf")):
        return "0x7FF0000000000000" if v > 0 else "0xFFF0000000000000"
    return f"0x{np.float64(v).view(np.uint64):016X}"      # exact (float32 values as doubles)


def convert(f, v, src, dst):
    """Numba's implicit conversion of a value (assignments, stores, arguments)."""
    if src == dst:
        return v
    if dst == B:
        return f.op(f"fcmp une {src} {v}, 0.0" if src in FLOATS else f"icmp ne {src} {v}, 0")
    if src == B:
        return f.op(f"zext i1 {v} to i64") if dst == I64 else f.op(f"uitofp i1 {v} to {dst}")
    if src == I64:
        return f.op(f"sitofp i64 {v} to {dst}")
    if dst == I64:
        return f.op(f"fptosi {src} {v} to i64")
    return f.op(f"fpext float {v} to double") if src == F32 else f.op(f"fptrunc double {v} to float")


# ----------------------------------------------------------------------------- helpers (harvested)
_HELPER_LOCK = threading.Lock()
_HELPERS = {}        # (name, argtypes) -> (function name, (return type, can fail), IR text)
_PARSED = {}         # helper IR text -> its parsed module (linked into kernels as copies)


def _numba_type(t):
    from numba import types
    return {B: types.boolean, I64: types.int64, F32: types.float32, F64: types.float64}[t]


def _our_type(nt):
    for t in (B, I64, F32, F64):
        if nt == _numba_type(t):
            return t
    raise Unsupported(f"helper returns {nt}")


_FINGERPRINT = []


def helper_environment():
    """(Numba, llvmlite, target triple) of this process: what harvested helper IR is made for."""
    import llvmlite
    import llvmlite.binding as llvm
    from .numba_cpu import _numba_version
    return _numba_version(), llvmlite.__version__, llvm.get_process_triple()


def _helper_fingerprint(env=None):
    """What harvested helpers depend on: their sources, and the Numba, llvmlite and target
    (`env`, this process's by default) that compiled them."""
    if env is None and _FINGERPRINT:
        return _FINGERPRINT[0]
    numba_v, llvmlite_v, triple = env or helper_environment()
    here = pathlib.Path(__file__).resolve().parent
    h = hashlib.sha256(f"{FORMAT} {numba_v} {llvmlite_v} {triple}".encode())
    for f in ("fastmath.py", "scalar.py"):
        h.update((here / f).read_bytes())
    if env is None:
        _FINGERPRINT.append(h.hexdigest()[:16])
    return h.hexdigest()[:16]


PACKAGED = pathlib.Path(__file__).resolve().parent / "helpers"   # made by package_helpers()


def helper(name, argtypes, cache_dir):
    """(symbol, (return type, can fail), IR module text) of a scalar helper for these argument
    types: from the package (`helpers/`, made for one Numba and llvmlite version), the cache
    directory, or compiled by Numba with the kernels' flags (its core function renamed, the
    rest dropped), so linking it in adds one inlinable function."""
    key = (name, tuple(argtypes))
    hit = _HELPERS.get(key)
    if hit is not None:
        return hit
    with _HELPER_LOCK:
        hit = _HELPERS.get(key)
        if hit is not None:
            return hit
        sym = helper_symbol(name, argtypes)
        fname = f"{sym}_{_helper_fingerprint()}.ll"
        path = pathlib.Path(cache_dir) / fname if cache_dir is not None else None
        for where in (PACKAGED / fname, path):
            hit = _read_helper(where, sym) if where is not None else None
            if hit is not None:
                _HELPERS[key] = hit
                return hit
        hit = _HELPERS[key] = _harvest(name, argtypes, sym)
        if path is not None:
            _write_atomic(path, _helper_text(hit))
        return hit


def _helper_text(hit):
    return f"; returns {hit[1][0]} {'raises' if hit[1][1] else 'total'}\n{hit[2]}".encode()


def _read_helper(path, sym):
    """A stored helper, or None (missing or unreadable: it is compiled again)."""
    import llvmlite.binding as llvm
    try:
        head, body = path.read_text().split("\n", 1)
        _, _, ret, raises = head.split()
        _PARSED[body] = llvm.parse_assembly(body)
        if _PARSED[body].get_function(sym) is None:
            raise ValueError(sym)
    except (OSError, ValueError, RuntimeError):
        return None
    return sym, (ret, raises == "raises"), body


HELPER_SET = [(n, [t]) for n in "exp log log1p expm1 tanh sigmoid softplus sin cos sqrt".split() for t in FLOATS] \
    + [("pow", [t, t]) for t in FLOATS] + [("erf", [F64]), ("erf32", [F32]), ("hash_uniform", [I64, I64])]


def helper_symbol(name, argtypes):
    return f"jgh_{name}_{'_'.join(argtypes)}".replace("double", "f64").replace("float", "f32")


def packaged_environments():
    """The (Numba, llvmlite, triple) environments `helpers/` holds the helpers' IR for."""
    try:
        lines = (PACKAGED / "VERSIONS").read_text().splitlines()
    except OSError:
        return []
    return [(w[1], w[3], w[4]) for w in (ln.split() for ln in lines) if len(w) == 5]


def package_helpers():
    """Write every helper of HELPER_SET for this Numba, llvmlite and target into `helpers/`, next
    to those of the other environments listed in helpers/VERSIONS (a user's Numba is whatever
    their other packages allow: PyTensor pins an older one). Run
    `python -c "from codegen.llvm_cpu import package_helpers; package_helpers()"` under each
    listed Numba after a change to fastmath.py or scalar.py; an environment whose files went
    stale is dropped here, and tests/codegen/test_llvm.py names what is missing."""
    here = helper_environment()
    envs = [e for e in packaged_environments() if e != here] + [here]
    PACKAGED.mkdir(exist_ok=True)
    for name, ts in HELPER_SET:
        path = PACKAGED / f"{helper_symbol(name, ts)}_{_helper_fingerprint()}.ll"
        path.write_bytes(_helper_text(_harvest(name, ts, helper_symbol(name, ts))))
    current = {e for e in envs if all((PACKAGED / f"{helper_symbol(n, ts)}_{_helper_fingerprint(e)}.ll").exists()
                                      for n, ts in HELPER_SET)}
    keep = {f"{helper_symbol(n, ts)}_{_helper_fingerprint(e)}.ll" for e in current for n, ts in HELPER_SET}
    for old in PACKAGED.glob("jgh_*.ll"):
        if old.name not in keep:
            old.unlink()
    (PACKAGED / "VERSIONS").write_text("".join(f"numba {e[0]} llvmlite {e[1]} {e[2]}\n" for e in envs if e in current))


def _harvest(name, argtypes, sym):
    import llvmlite.binding as llvm
    from . import start_numba
    start_numba()
    from numba import njit
    from . import fastmath, scalar
    from .numba_cpu import FASTMATH
    import math
    impl = getattr(fastmath, name, None) if name in fastmath.__all__ else getattr(scalar, name, None)
    if name == "erf":
        impl = math.erf
    if impl is None:
        raise Unsupported(f"no helper {name!r}")
    args = ", ".join(f"a{i}" for i in range(len(argtypes)))
    ns = {"impl": impl}
    exec(f"def h({args}):\n    return impl({args})\n", ns)
    disp = njit(nogil=True, error_model="numpy", fastmath=set(FASTMATH))(ns["h"])
    sig = tuple(_numba_type(t) for t in argtypes)
    try:
        disp.compile(sig)
    except Exception as exc:
        raise Unsupported(f"helper {name}{argtypes}: {exc}") from None
    cres = disp.overloads[sig]
    ret = _our_type(cres.signature.return_type)
    mod = llvm.parse_assembly(cres.library.get_llvm_str())
    core = cres.fndesc.mangled_name
    for fn in mod.functions:
        if fn.is_declaration:
            continue
        if fn.name == core:
            fn.name = sym
        else:
            fn.linkage = "internal"
    for g in mod.global_variables:
        if not g.is_declaration:
            g.linkage = "internal"
    dce = llvm.create_new_module_pass_manager()    # Numba's wrappers and their constants go
    dce.add_global_dead_code_eliminate_pass()
    dce.add_strip_dead_prototype_pass()
    dce.run(mod, llvm.create_pass_builder(engine().tm, llvm.create_pipeline_tuning_options()))
    mod.get_function(sym).linkage = "linkonce_odr"   # one inlinable copy per kernel module
    raises = any(ln.strip().startswith("ret i32") and ln.strip() != "ret i32 0"
                 for ln in str(mod.get_function(sym)).splitlines())
    return sym, (ret, raises), str(mod)


# ----------------------------------------------------------------------------- inline helpers
_INLINE_NAMES = ("maximum", "minimum", "relu", "sign")
_INLINED = {}


def _inline(name):
    """(parameters, return expression) of a one-line helper of codegen.scalar: its source is the
    definition, compiled in place like the kernel's own expressions."""
    hit = _INLINED.get(name)
    if hit is None:     # read from the file: importing codegen.scalar would import Numba
        tree = ast.parse((pathlib.Path(__file__).resolve().parent / "scalar.py").read_text())
        fdef = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name), None)
        if fdef is None or len(fdef.body) != 1 or not isinstance(fdef.body[0], ast.Return):
            raise Unsupported(f"helper {name} is not one return statement")
        hit = _INLINED[name] = ([a.arg for a in fdef.args.args], fdef.body[0].value)
    return hit


# ----------------------------------------------------------------------------- the compiler
_BINOPS = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "div", ast.FloorDiv: "idiv",
           ast.Mod: "mod", ast.BitAnd: "and", ast.BitOr: "or"}
_CMP = {ast.Lt: ("slt", "olt"), ast.LtE: ("sle", "ole"), ast.Gt: ("sgt", "ogt"), ast.GtE: ("sge", "oge"),
        ast.Eq: ("eq", "oeq"), ast.NotEq: ("ne", "une")}
_HELPER_NAMES = {n for n, _ in HELPER_SET}     # compiled by Numba (harvested)


class _Kernel:
    """Compile the `kernel` function of one rendered kernel source (see module docstring)."""

    def __init__(self, source, argtypes, name, cache_dir):
        tree = ast.parse(source)
        fns = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "kernel"]
        if len(fns) != 1:
            raise Unsupported("no kernel function")
        self.fn_ast = fns[0]
        params = [a.arg for a in self.fn_ast.args.args]
        if len(params) != len(argtypes):
            raise Unsupported("signature")
        self.params = dict(zip(params, argtypes))      # name -> ("array", elem) | scalar type
        self.name, self.cache_dir = name, cache_dir
        self.vars = {}           # local scalar variable -> type
        self.local_arrays = {}   # local buffer -> (element type, length)
        self.helpers = {}        # symbol -> IR text
        self.env = [{}]          # names bound by an inlined helper: name -> (value, type)
        self.f = _Fn()

    # ---- typing: variable types are the unification of everything assigned to them
    def infer(self):
        body = self.fn_ast.body
        for _ in range(6):
            before = dict(self.vars)
            self._infer_block(body, top=True)
            if before == self.vars:
                return
        raise Unsupported("variable types do not settle")

    def _assign_type(self, name, t):
        if name in self.params or name in self.local_arrays:
            raise Unsupported(f"assignment to {name}")
        old = self.vars.get(name)
        self.vars[name] = t if old is None else promote(old, t)

    def _infer_block(self, stmts, top=False):
        for s in stmts:
            if isinstance(s, ast.Assign):
                if len(s.targets) != 1:
                    raise Unsupported("multiple targets")
                tgt = s.targets[0]
                if isinstance(tgt, ast.Name):
                    if self._is_empty(s.value):
                        if not top:
                            raise Unsupported("np.empty inside a loop")
                        self.local_arrays[tgt.id] = self._empty_spec(s.value)
                        continue
                    self._assign_type(tgt.id, self.type_of(s.value))
                elif isinstance(tgt, ast.Subscript):
                    self.type_of(s.value)
                else:
                    raise Unsupported("assignment target")
            elif isinstance(s, ast.AugAssign):
                if isinstance(s.target, ast.Name):
                    t = self.type_of(s.value)
                    old = self.vars.get(s.target.id)
                    if old is None:
                        raise Unsupported("augmented assignment before assignment")
                    self._assign_type(s.target.id, self._binop_type(type(s.op), old, t))
                elif not isinstance(s.target, ast.Subscript):
                    raise Unsupported("augmented target")
            elif isinstance(s, ast.For):
                if not isinstance(s.target, ast.Name) or s.orelse:
                    raise Unsupported("for loop form")
                self._range_args(s.iter)
                self._assign_type(s.target.id, I64)
                self._infer_block(s.body)
            elif isinstance(s, ast.If):
                self.type_of(s.test)
                self._infer_block(s.body)
                self._infer_block(s.orelse)
            elif isinstance(s, ast.Pass):
                pass
            else:
                raise Unsupported(f"statement {type(s).__name__}")

    @staticmethod
    def _is_empty(e):
        return isinstance(e, ast.Call) and ast.unparse(e.func) == "np.empty"

    @staticmethod
    def _empty_spec(e):
        if (len(e.args) != 2 or not isinstance(e.args[0], ast.Constant) or e.keywords
                or not isinstance(e.args[1], ast.Attribute)):
            raise Unsupported("np.empty form")
        t = _NP_CAST.get(e.args[1].attr)
        if t not in (F32, F64, I64):
            raise Unsupported("np.empty dtype")
        return t, int(e.args[0].value)

    def _range_args(self, it):
        if not (isinstance(it, ast.Call) and isinstance(it.func, ast.Name) and it.func.id == "range"
                and 1 <= len(it.args) <= 3 and not it.keywords):
            raise Unsupported("loop over something else than range")
        if len(it.args) == 3 and not (isinstance(it.args[2], ast.Constant) and isinstance(it.args[2].value, int)
                                      and it.args[2].value > 0):
            raise Unsupported("range step")
        for a in it.args:
            if self.type_of(a) not in (I64, B):
                raise Unsupported("range over a float")
        return it.args

    def _binop_type(self, op, a, b):
        kind = _BINOPS.get(op)
        if kind is None:
            raise Unsupported(f"operator {op.__name__}")
        if kind in ("and", "or"):
            if a in FLOATS or b in FLOATS:
                raise Unsupported("bitwise op on floats")
            return B if a == b == B else I64
        t = promote(a, b)
        if kind == "div":
            return F64 if t in (I64, B) else t
        if kind in ("idiv", "mod") and t in FLOATS:
            raise Unsupported("float floor division / modulo")
        return I64 if t == B else t

    def type_of(self, e):
        if isinstance(e, ast.Constant):
            v = e.value
            if isinstance(v, bool):
                return B
            if isinstance(v, int):
                return I64
            if isinstance(v, float):
                return F64
            raise Unsupported("constant")
        if isinstance(e, ast.Name):
            if e.id in self.env[-1]:
                return self.env[-1][e.id][1]
            if e.id in self.vars:
                return self.vars[e.id]
            p = self.params.get(e.id)
            if p is not None and not isinstance(p, tuple):
                return p
            raise Unsupported(f"name {e.id}")
        if isinstance(e, ast.Attribute):
            if ast.unparse(e) in ("np.inf", "np.nan"):
                return F64
            raise Unsupported(f"attribute {ast.unparse(e)}")
        if isinstance(e, ast.Subscript):
            base = self._array(e.value)
            if self.type_of(e.slice) not in (I64, B):
                raise Unsupported("float index")
            return base[1]
        if isinstance(e, ast.BinOp):
            return self._binop_type(type(e.op), self.type_of(e.left), self.type_of(e.right))
        if isinstance(e, ast.UnaryOp):
            t = self.type_of(e.operand)
            if isinstance(e.op, ast.Not):
                return B
            if isinstance(e.op, ast.USub):
                return I64 if t == B else t
            raise Unsupported("unary op")
        if isinstance(e, ast.Compare):
            if len(e.ops) != 1 or type(e.ops[0]) not in _CMP:
                raise Unsupported("comparison")
            self.type_of(e.left)
            self.type_of(e.comparators[0])
            return B
        if isinstance(e, ast.IfExp):
            self.type_of(e.test)
            return promote(self.type_of(e.body), self.type_of(e.orelse))
        if isinstance(e, ast.BoolOp):
            if any(self.type_of(v) != B for v in e.values):
                raise Unsupported("and/or of non-booleans")
            return B
        if isinstance(e, ast.Call):
            return self._call_type(e)
        raise Unsupported(f"expression {type(e).__name__}")

    def _array(self, e):
        if isinstance(e, ast.Name):
            p = self.params.get(e.id)
            if isinstance(p, tuple):
                return p
            if e.id in self.local_arrays:
                return ("local", self.local_arrays[e.id][0])
        raise Unsupported("subscript of a non-array")

    def _call_type(self, e):
        if e.keywords:
            raise Unsupported("keyword arguments")
        fn = ast.unparse(e.func)
        ts = [self.type_of(a) for a in e.args]
        if fn.startswith("np."):
            t = _NP_CAST.get(fn[3:])
            if t is None or len(ts) != 1:
                raise Unsupported(f"call {fn}")
            return t
        if fn == "abs" and len(ts) == 1:
            return I64 if ts[0] == B else ts[0]
        if fn in ("min", "max") and len(ts) == 2:
            if FLOATS[0] in ts or FLOATS[1] in ts:
                raise Unsupported("builtin min/max of floats")
            return promote(*ts)
        if fn == "wrap_index":
            if ts != [I64, I64]:
                raise Unsupported("wrap_index of non-integers")
            return I64
        if fn in _INLINE_NAMES:
            params, rexpr = _inline(fn)
            self.env.append({p: (None, t) for p, t in zip(params, ts)})
            try:
                return self.type_of(rexpr)
            finally:
                self.env.pop()
        if fn in _HELPER_NAMES:
            return helper(fn, ts, self.cache_dir)[1][0]
        raise Unsupported(f"call {fn}")

    # ---- code
    def compile(self):
        self.infer()
        f = self.f
        self.slots = {}
        for v, t in self.vars.items():
            f.allocas.append(f"%v.{v} = alloca {t}")
            self.slots[v] = (f"%v.{v}", t)
        self.bases = {}
        for v, (t, n) in self.local_arrays.items():
            f.allocas.append(f"%a.{v} = alloca [{n} x {t}], align 64")
            self.bases[v] = (f"%a.{v}", t)
        args = []
        for p, t in self.params.items():
            if isinstance(t, tuple):
                args.append(f"ptr noalias %{p}")
                self.bases[p] = (f"%{p}", I8 if t[1] == B else t[1])    # NumPy bools are bytes
            else:
                args.append(f"{t} %{p}")
        self.can_fail = False
        self.block_list(self.fn_ast.body)
        f.emit("ret i32 0")
        if self.can_fail:
            f.block("fail")
            f.emit("ret i32 1")
        body = "\n".join(["entry:"] + ["  " + a for a in f.allocas] + ["  br label %start", "start:"] + f.lines)
        sig = ", ".join(args)
        kernel = f"define internal i32 @{self.name}({sig}) nounwind {{\n{body}\n}}\n"
        return "\n".join([d for _, d in self.helpers.values()] + [kernel]), {s: t for s, (t, _) in self.helpers.items()}

    def block_list(self, stmts):
        for s in stmts:
            self.stmt(s)

    def stmt(self, s):
        f = self.f
        if isinstance(s, ast.Assign):
            tgt = s.targets[0]
            if isinstance(tgt, ast.Name):
                if tgt.id in self.local_arrays:
                    return
                v, t = self.expr(s.value)
                slot, st = self.slots[tgt.id]
                f.emit(f"store {st} {convert(f, v, t, st)}, ptr {slot}")
            else:
                v, t = self.expr(s.value)
                self.store(tgt, v, t)
        elif isinstance(s, ast.AugAssign):
            if isinstance(s.target, ast.Name):
                slot, st = self.slots[s.target.id]
                cur = f.op(f"load {st}, ptr {slot}")
                v, t = self.binop(type(s.op), cur, st, *self.expr(s.value))
                f.emit(f"store {st} {convert(f, v, t, st)}, ptr {slot}")
            else:
                ptr, et = self.address(s.target)
                cur = self.load_elem(ptr, et)
                v, t = self.binop(type(s.op), cur, et, *self.expr(s.value))
                self.store_elem(ptr, et, v, t)
        elif isinstance(s, ast.For):
            self.loop(s)
        elif isinstance(s, ast.If):
            c = self.truth(*self.expr(s.test))
            then, other, end = f.label("then"), f.label("else"), f.label("endif")
            f.emit(f"br i1 {c}, label %{then}, label %{other}")
            f.block(then)
            self.block_list(s.body)
            f.emit(f"br label %{end}")
            f.block(other)
            self.block_list(s.orelse)
            f.emit(f"br label %{end}")
            f.block(end)

    def loop(self, s):
        f = self.f
        args = s.iter.args
        vals = [convert(f, *self.expr(a), I64) for a in args]
        start, stop = ("0", vals[0]) if len(vals) == 1 else (vals[0], vals[1])
        step = args[2].value if len(args) == 3 else 1
        ctr = f"%c{f.n + 1}"
        f.n += 1
        f.allocas.append(f"{ctr} = alloca i64")
        f.emit(f"store i64 {start}, ptr {ctr}")
        head, body, end = f.label("head"), f.label("body"), f.label("end")
        f.emit(f"br label %{head}")
        f.block(head)
        i = f.op(f"load i64, ptr {ctr}")
        c = f.op(f"icmp slt i64 {i}, {stop}")
        f.emit(f"br i1 {c}, label %{body}, label %{end}")
        f.block(body)
        slot, st = self.slots[s.target.id]
        f.emit(f"store {st} {convert(f, i, I64, st)}, ptr {slot}")
        self.block_list(s.body)
        i2 = f.op(f"load i64, ptr {ctr}")
        f.emit(f"store i64 {f.op(f'add i64 {i2}, {step}')}, ptr {ctr}")
        f.emit(f"br label %{head}")
        f.block(end)

    def address(self, sub):
        base, et = self.bases[sub.value.id]
        idx = convert(self.f, *self.expr(sub.slice), I64)
        return self.f.op(f"getelementptr {et}, ptr {base}, i64 {idx}"), et

    def load_elem(self, ptr, et):
        v = self.f.op(f"load {et}, ptr {ptr}")
        return self.f.op(f"icmp ne i8 {v}, 0") if et == I8 else v

    def store_elem(self, ptr, et, v, t):
        if et == I8:
            v = self.f.op(f"zext i1 {convert(self.f, v, t, B)} to i8")
        else:
            v = convert(self.f, v, t, et)
        self.f.emit(f"store {et} {v}, ptr {ptr}")

    def store(self, tgt, v, t):
        ptr, et = self.address(tgt)
        self.store_elem(ptr, et, v, t)

    def truth(self, v, t):
        return convert(self.f, v, t, B)

    def binop(self, op, a, ta, b, tb):
        f = self.f
        kind = _BINOPS[op]
        rt = self._binop_type(op, ta, tb)
        if kind in ("and", "or"):
            return f.op(f"{kind} {rt} {convert(f, a, ta, rt)}, {convert(f, b, tb, rt)}"), rt
        ct = promote(ta, tb)
        if ct == B:
            ct = I64
        if kind == "div" and ct == I64:
            ct = F64
        a, b = convert(f, a, ta, ct), convert(f, b, tb, ct)
        if ct in FLOATS:
            return f.op(f"f{kind} {_FLAGS} {ct} {a}, {b}"), ct
        if kind in ("add", "sub", "mul"):
            return f.op(f"{kind} i64 {a}, {b}"), I64
        # Python floor division and modulo; a zero divisor gives 0 (error_model='numpy')
        zero = f.op(f"icmp eq i64 {b}, 0")
        safe = f.op(f"select i1 {zero}, i64 1, i64 {b}")
        q = f.op(f"sdiv i64 {a}, {safe}")
        r = f.op(f"srem i64 {a}, {safe}")
        rnz = f.op(f"icmp ne i64 {r}, 0")
        rneg = f.op(f"icmp slt i64 {r}, 0")
        bneg = f.op(f"icmp slt i64 {safe}, 0")
        diff = f.op(f"xor i1 {rneg}, {bneg}")
        adj = f.op(f"and i1 {rnz}, {diff}")
        if kind == "idiv":
            out = f.op(f"sub i64 {q}, {f.op(f'zext i1 {adj} to i64')}")
        else:
            out = f.op(f"select i1 {adj}, i64 {f.op(f'add i64 {r}, {safe}')}, i64 {r}")
        return f.op(f"select i1 {zero}, i64 0, i64 {out}"), I64

    def expr(self, e):
        f = self.f
        if isinstance(e, ast.Constant):
            t = self.type_of(e)
            return _const(e.value, t), t
        if isinstance(e, ast.Name):
            if e.id in self.env[-1]:
                return self.env[-1][e.id]
            if e.id in self.slots:
                slot, t = self.slots[e.id]
                return f.op(f"load {t}, ptr {slot}"), t
            return f"%{e.id}", self.params[e.id]
        if isinstance(e, ast.Attribute):
            return _const(np.inf if e.attr == "inf" else np.nan, F64), F64
        if isinstance(e, ast.Subscript):
            ptr, et = self.address(e)
            return self.load_elem(ptr, et), (B if et == I8 else et)
        if isinstance(e, ast.BinOp):
            return self.binop(type(e.op), *self.expr(e.left), *self.expr(e.right))
        if isinstance(e, ast.UnaryOp):
            v, t = self.expr(e.operand)
            if isinstance(e.op, ast.Not):
                return f.op(f"xor i1 {self.truth(v, t)}, true"), B
            if t == B:
                v, t = convert(f, v, B, I64), I64
            return (f.op(f"fneg {_FLAGS} {t} {v}"), t) if t in FLOATS else (f.op(f"sub i64 0, {v}"), t)
        if isinstance(e, ast.Compare):
            (a, ta), (b, tb) = self.expr(e.left), self.expr(e.comparators[0])
            ct = promote(ta, tb)
            if ct == B:
                ct = I64
            a, b = convert(f, a, ta, ct), convert(f, b, tb, ct)
            ip, fp = _CMP[type(e.ops[0])]
            return (f.op(f"fcmp {_FLAGS} {fp} {ct} {a}, {b}") if ct in FLOATS
                    else f.op(f"icmp {ip} i64 {a}, {b}")), B
        if isinstance(e, ast.IfExp):
            rt = self.type_of(e)
            slot = f"%s{f.n + 1}"
            f.n += 1
            f.allocas.append(f"{slot} = alloca {rt}")
            c = self.truth(*self.expr(e.test))
            then, other, end = f.label("ifx"), f.label("elx"), f.label("endx")
            f.emit(f"br i1 {c}, label %{then}, label %{other}")
            for label, branch in ((then, e.body), (other, e.orelse)):
                f.block(label)
                v, t = self.expr(branch)
                f.emit(f"store {rt} {convert(f, v, t, rt)}, ptr {slot}")
                f.emit(f"br label %{end}")
            f.block(end)
            return f.op(f"load {rt}, ptr {slot}"), rt
        if isinstance(e, ast.BoolOp):       # of comparisons: no side effects, so no short circuit
            vals = [self.truth(*self.expr(v)) for v in e.values]
            op = "or" if isinstance(e.op, ast.Or) else "and"
            out = vals[0]
            for v in vals[1:]:
                out = f.op(f"{op} i1 {out}, {v}")
            return out, B
        if isinstance(e, ast.Call):
            return self.call(e)
        raise Unsupported(type(e).__name__)

    def call(self, e):
        f = self.f
        fn = ast.unparse(e.func)
        vals = [self.expr(a) for a in e.args]
        if fn.startswith("np."):
            t = _NP_CAST[fn[3:]]
            return convert(f, *vals[0], t), t
        if fn == "abs":
            v, t = vals[0]
            if t == B:
                v, t = convert(f, v, B, I64), I64
            if t in FLOATS:
                return f.op(f"call {_FLAGS} {t} @llvm.fabs.{'f32' if t == F32 else 'f64'}({t} {v})"), t
            neg = f.op(f"icmp slt i64 {v}, 0")
            return f.op(f"select i1 {neg}, i64 {f.op(f'sub i64 0, {v}')}, i64 {v}"), t
        if fn in ("min", "max"):
            (a, ta), (b, tb) = vals
            t = promote(ta, tb)
            a, b = convert(f, a, ta, t), convert(f, b, tb, t)
            pick = f.op(f"icmp slt i64 {b}, {a}") if fn == "min" else f.op(f"icmp sgt i64 {b}, {a}")
            return f.op(f"select i1 {pick}, i64 {b}, i64 {a}"), t
        if fn == "wrap_index":      # codegen.scalar.wrap_index: NumPy's negative indices, bounds checked
            (i, _), (n, _) = vals
            j = f.op(f"select i1 {f.op(f'icmp slt i64 {i}, 0')}, i64 {f.op(f'add i64 {i}, {n}')}, i64 {i}")
            bad = f.op(f"or i1 {f.op(f'icmp slt i64 {j}, 0')}, {f.op(f'icmp sge i64 {j}, {n}')}")
            ok = f.label("ok")
            f.emit(f"br i1 {bad}, label %fail, label %{ok}")
            f.block(ok)
            self.can_fail = True
            return j, I64
        if fn in _INLINE_NAMES:     # one-expression helpers of codegen.scalar, compiled from their source
            params, rexpr = _inline(fn)
            self.env.append(dict(zip(params, vals)))
            try:
                return self.expr(rexpr)
            finally:
                self.env.pop()
        sym, (rt, raises), text = helper(fn, [t for _, t in vals], self.cache_dir)
        if rt == B:
            raise Unsupported(f"helper {fn} returns a boolean")
        self.helpers[sym] = (text, f"declare i32 @{sym}(ptr, ptr, {', '.join(t for _, t in vals)})")
        out = f"%r{f.n + 1}"
        f.n += 1
        f.allocas.append(f"{out} = alloca {rt if rt != B else 'i8'}")
        exc = f"%x{f.n + 1}"
        f.n += 1
        f.allocas.append(f"{exc} = alloca ptr")
        args = ", ".join(f"{t} {v}" for v, t in vals)
        status = f.op(f"call i32 @{sym}(ptr {out}, ptr {exc}, {args})")
        if raises:      # (wrap_index: an index out of bounds) the kernel stops and reports it
            bad, ok = f.op(f"icmp ne i32 {status}, 0"), f.label("ok")
            f.emit(f"br i1 {bad}, label %fail, label %{ok}")
            f.block(ok)
            self.can_fail = True
        if rt == B:
            return f.op(f"icmp ne i8 {f.op(f'load i8, ptr {out}')}, 0"), B
        return f.op(f"load {rt}, ptr {out}"), rt


# ----------------------------------------------------------------------------- the wrapper
def _array_data_offset():
    """Where a NumPy array object keeps its data pointer (after the object header)."""
    a = np.empty(1)
    want = a.ctypes.data
    for off in range(8, 128, 8):
        if ctypes.c_void_p.from_address(id(a) + off).value == want:
            return off
    raise RuntimeError("cannot find the data pointer of a NumPy array")


_DATA_OFFSET = None


def _wrapper(name, kernel, params):
    global _DATA_OFFSET
    if _DATA_OFFSET is None:
        _DATA_OFFSET = _array_data_offset()
    lines, args = [], []
    for i, (p, t) in enumerate(params.items()):
        lines.append(f"  %o{i}p = getelementptr ptr, ptr %args, i64 {i}")
        lines.append(f"  %o{i} = load ptr, ptr %o{i}p")
        if isinstance(t, tuple):
            lines.append(f"  %d{i}p = getelementptr i8, ptr %o{i}, i64 {_DATA_OFFSET}")
            lines.append(f"  %d{i} = load ptr, ptr %d{i}p")
            args.append(f"ptr %d{i}")
        elif t == I64:
            lines.append(f"  %d{i} = call i64 @PyLong_AsLongLong(ptr %o{i})")
            args.append(f"i64 %d{i}")
        elif t in FLOATS:
            lines.append(f"  %e{i} = call double @PyFloat_AsDouble(ptr %o{i})")
            if t == F32:
                lines.append(f"  %d{i} = fptrunc double %e{i} to float")
            args.append(f"{t} %d{i}" if t == F32 else f"double %e{i}")
        else:
            raise Unsupported(f"argument type {t}")
    lines += ["  %ts = call ptr @PyEval_SaveThread()",
              f"  %st = call i32 @{kernel}({', '.join(args)})",
              "  call void @PyEval_RestoreThread(ptr %ts)",
              "  %bad = icmp ne i32 %st, 0",
              "  br i1 %bad, label %err, label %ok",
              "err:",
              "  call void @PyErr_SetString(ptr @jg_IndexError, ptr @.jg_oob)",
              "  ret ptr null",
              "ok:",
              "  call void @Py_IncRef(ptr @_Py_NoneStruct)",
              "  ret ptr @_Py_NoneStruct"]
    return (f"define ptr @{name}(ptr %self, ptr %args, i64 %nargs) {{\nentry:\n" + "\n".join(lines) + "\n}\n")


_OOB = b"jit_grad: an integer index array holds an index out of bounds"   # as codegen.scalar.wrap_index
_DECLS = f"""
@_Py_NoneStruct = external global i8
@jg_IndexError = external global i8
@.jg_oob = private unnamed_addr constant [{len(_OOB) + 1} x i8] c"{_OOB.decode()}\\00"
declare void @PyErr_SetString(ptr, ptr)
declare i64 @PyLong_AsLongLong(ptr)
declare double @PyFloat_AsDouble(ptr)
declare ptr @PyEval_SaveThread()
declare void @PyEval_RestoreThread(ptr)
declare void @Py_IncRef(ptr)
declare float @llvm.fabs.f32(float)
declare double @llvm.fabs.f64(double)
"""


class _MethodDef(ctypes.Structure):
    _fields_ = [("ml_name", ctypes.c_char_p), ("ml_meth", ctypes.c_void_p), ("ml_flags", ctypes.c_int),
                ("ml_doc", ctypes.c_char_p)]


_METH_FASTCALL = 0x0080
_NEW = ctypes.pythonapi.PyCFunction_NewEx
_NEW.restype = ctypes.py_object
_NEW.argtypes = [ctypes.POINTER(_MethodDef), ctypes.py_object, ctypes.py_object]


class _Callable:
    """What keeps a compiled kernel alive: its method definition and the callable."""

    def __init__(self, addr, name):
        self.name = name.encode()
        self.mdef = _MethodDef(self.name, addr, _METH_FASTCALL, None)
        self.fn = _NEW(ctypes.byref(self.mdef), None, None)


# ----------------------------------------------------------------------------- the engine
class _Engine:
    """One MCJIT engine for every kernel of the process, with an object cache hook."""

    def __init__(self):
        import llvmlite.binding as llvm
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        self.llvm = llvm
        llvm.add_symbol("jg_IndexError", id(IndexError))   # the type object itself (Numba's
        target = llvm.Target.from_default_triple()        # PyExc_* symbols mean that too)
        self.tm = target.create_target_machine(cpu=llvm.get_host_cpu_name(),
                                               features=llvm.get_host_cpu_features().flatten(),
                                               opt=3, codemodel="jitdefault")
        self.triple = llvm.get_process_triple()
        self.layout = str(self.tm.target_data)
        self.ee = llvm.create_mcjit_compiler(llvm.parse_assembly(""), self.tm)
        self.objects = {}          # module name -> object code (to load, or just emitted)
        self.ee.set_object_cache(self._notify, self._getbuffer)
        self.lock = threading.Lock()
        self.keep = []

    def _notify(self, module, buf):
        self.objects[module.name] = bytes(buf)

    def _getbuffer(self, module):
        return self.objects.get(module.name)

    def optimize(self, mod, unroll):
        llvm = self.llvm
        pto = llvm.create_pipeline_tuning_options(speed_level=3)
        pto.loop_vectorization = True
        pto.slp_vectorization = True
        pto.loop_unrolling = unroll
        pb = llvm.create_pass_builder(self.tm, pto)
        pb.getModulePassManager().run(mod, pb)

    def load(self, modname, ir_text, obj, wrapper, unroll=True):
        """(callable, object code): from `obj` when given, else compiled from `ir_text`."""
        llvm = self.llvm
        with self.lock:
            if obj is not None:
                mod = llvm.parse_assembly(f'target triple = "{self.triple}"\n')
                mod.name = modname
                self.objects[modname] = obj
            else:
                mod = llvm.parse_assembly(ir_text)
                mod.name = modname
                mod.verify()
                self.optimize(mod, unroll)
            self.ee.add_module(mod)
            self.ee.finalize_object()
            addr = self.ee.get_function_address(wrapper)
            if not addr:
                raise Unsupported("the wrapper did not link")
            c = _Callable(addr, wrapper)
            self.keep.append((mod, c))
            return c.fn, self.objects.get(modname)


_ENGINE = None
_ENGINE_LOCK = threading.Lock()


def engine():
    global _ENGINE
    if _ENGINE is None:
        with _ENGINE_LOCK:
            if _ENGINE is None:
                _ENGINE = _Engine()
    return _ENGINE


def _write_atomic(path, data: bytes):
    """A cache file that cannot be written is only a later recompile."""
    try:
        write_atomic(path, data)
    except OSError:
        pass


_MAGIC = b"JGLLVM1\n"


def argtypes_of(sig):
    """Our argument types from a pattern signature (numba_cpu.pattern_signature)."""
    out = []
    for kind, d in sig:
        t = _OF_DTYPE.get(np.dtype(d))
        if t is None or (kind == "s" and t == B):
            raise Unsupported(f"argument of {d}")
        out.append(("array", t) if kind == "a" else t)
    return out


_LLVM_OK = []


def _llvm_ok():
    """The IR here uses opaque pointers and the new pass manager (llvmlite >= 0.45, LLVM >= 17)."""
    if not _LLVM_OK:
        import llvmlite.binding as llvm
        _LLVM_OK.append(hasattr(llvm, "create_pass_builder") and llvm.llvm_version_info >= (17,))
    return _LLVM_OK[0]


def build(source, sig, key, cache_dir):
    """(callable, "compiled" | "disk") for one rendered kernel; raises Unsupported."""
    if COMPILER != "llvm" or not _llvm_ok():
        raise Unsupported("JITGRAD_KERNEL_COMPILER is not llvm, or llvmlite is older than 0.45")
    eng = engine()
    if cache_dir is None:
        return _compile(source, sig, key, None, eng)[0], "compiled"
    d = pathlib.Path(cache_dir)
    path = d / f"jgl_{key}.o"
    with locked(d, f"jgl_{key}"):     # one process compiles, the others load
        obj = unseal(path, _MAGIC, key) if path.exists() else None
        if obj is not None:
            return eng.load(f"jgm_{key}", None, obj, f"jgw_{key}")[0], "disk"
        fn, obj = _compile(source, sig, key, d, eng)
        if obj is not None:
            _write_atomic(path, seal(_MAGIC, key, obj))
        return fn, "compiled"


_COMPILED = [0]
_COUNT_LOCK = threading.Lock()


def compiled_count():
    """How many kernels this process has compiled here (Numba's own count: its compile events)."""
    return _COMPILED[0]


def _compile(source, sig, key, d, eng):
    """(callable, object code) of a kernel compiled now; `d`: where its helpers are kept."""
    with _COUNT_LOCK:
        _COMPILED[0] += 1
    kname, wname = f"jgk_{key}", f"jgw_{key}"
    k = _Kernel(source, argtypes_of(sig), kname, d)
    kernel_ir, helpers = k.compile()
    text = "\n".join([f'target triple = "{eng.triple}"', f'target datalayout = "{eng.layout}"', _DECLS,
                      kernel_ir, _wrapper(wname, kname, k.params)])
    if helpers:
        text = _link_helpers(text, helpers)
    return eng.load(f"jgm_{key}", text, None, wname, unroll=_small_loops(source))


def _small_loops(source):
    """Whether LLVM's unroller should run: it doubles to triples a kernel's compile time (W2's
    kernels 0.5 -> 0.18 s, W9's 2.5 -> 1.2 s without it) and pays only for small fixed
    innermost loops (a conv's 3x3 window: W8 14% faster with it)."""
    for node in ast.walk(ast.parse(source)):
        if (isinstance(node, ast.For) and not any(isinstance(x, ast.For) for b in node.body for x in ast.walk(b))
                and isinstance(node.iter, ast.Call) and len(node.iter.args) == 1
                and isinstance(node.iter.args[0], ast.Constant) and node.iter.args[0].value <= 16):
            return True
    return False


def _link_helpers(text, helpers):
    """The kernel module with its helpers' modules linked in, as IR text."""
    import llvmlite.binding as llvm
    mod = llvm.parse_assembly(text)
    with _HELPER_LOCK:
        for h in helpers.values():
            parsed = _PARSED.get(h)
            if parsed is None:
                parsed = _PARSED[h] = llvm.parse_assembly(h)
            mod.link_in(parsed, preserve=True)
    return str(mod)

