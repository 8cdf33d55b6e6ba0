"""`jg.explain(f, *args)`: everything jitgrad did for one call, as text."""
from __future__ import annotations

from .jit import JitGrad, jit_grad


class Explanation:
    def __init__(self, fn, entry, compiled_now):
        self.fn, self.entry, self.compiled_now = fn, entry, compiled_now
        self.program = entry.program
        self.ir = entry.compiled.ir
        self.source = entry.compiled.source
        self.key = entry.key
        self.reason = entry.reason

    def __str__(self):
        c = self.entry.compiled
        status = (f"compiled by this call ({self.reason})" if self.compiled_now else
                  f"cache hit; it was compiled because: {self.reason}")
        disk = " (loaded from the disk cache)" if getattr(c, "from_disk_cache", False) else ""
        if getattr(c, "from_program_cache", False):
            disk = " (the whole program loaded from the disk cache: no IR pass ran)"
        return "\n".join([
            f"== jit_grad explain: {getattr(self.fn.f, '__qualname__', self.fn.f)} ==",
            f"cache key (signature): {self.key}",
            f"kernel key: {getattr(c, 'key', '?')}{disk}, compile {getattr(c, 'compile_seconds', 0):.3f} s",
            f"compile time by phase: {_phases(self.entry)}",
            f"kernels: {_kernels(c)}",
            f"shapes: {_shapes(self.entry, c)}",
            f"why: {status}",
            f"last compile of this function: {self.fn.last_reason}",
            f"== recorded tape ({len(self.program.eqns)} equations: forward and reverse) ==",
            str(self.program),
            "== loop IR ==",
            str(self.ir),
            "== generated kernel source ==",
            str(self.source),
        ])

    __repr__ = __str__


PHASES = {"trace": "tracing", "import": "importing Numba", "passes": "IR passes",
          "numba": "Numba (compile, or load from its disk cache)"}


def _phases(entry):
    t = getattr(entry, "timings", None) or {}
    return ", ".join(f"{PHASES.get(k, k)} {v:.3f} s" for k, v in t.items()) or "n/a"


def _kernels(c):
    ks = getattr(c, "kernels", None)
    if ks is None:
        return "n/a"
    by = {o: sum(k.origin == o for k in ks.values()) for o in ("compiled", "disk", "memory")}
    return (f"{len(ks)} (compiled now {by['compiled']}, loaded from the disk cache {by['disk']}, "
            f"already in memory {by['memory']}), one per distinct loop-nest pattern")


def _shapes(entry, c):
    if entry.family is not None:
        return entry.family.describe() + "; kernels take sizes as arguments"
    return "static: sizes are compiled into the kernels" if not getattr(c, "dynamic", False) else "dynamic"


def explain(f, *args, **kwargs):
    """Trace/compile `f` for these arguments (or reuse the cache) and describe the result."""
    jf = f if isinstance(f, JitGrad) else jit_grad(f)
    before = jf.cache_info().misses
    entry = jf.entry_for(*args, **kwargs)
    return Explanation(jf, entry, jf.cache_info().misses > before)
