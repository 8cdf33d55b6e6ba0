"""The benchmark runner: correctness gate, timing (each system in its own fresh process by
default, or interleaved in one), compile-cost, memory and scaling subprocesses, one table
printer (plain text or Markdown), JSON, and a plot.

`run(workloads, systems, opts) -> dict` is the whole benchmark as data (the JSON document);
`render(doc, markdown=False) -> str` is the report.
"""
from __future__ import annotations

import gc
import json
import os
import pathlib
import platform
import random
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass

import numpy as np

from .systems import SYSTEMS, to_numpy, version_of
from .workloads import WORKLOADS, Workload, reference

SCHEMA = "jitgrad-bench/1"
TOL = {"float32": 2e-3, "float64": 1e-8}


@dataclass
class Options:
    quick: bool = False
    threads: int = 2
    progress: bool = True
    reps: int = 0             # 0: 5 quick, 15 full
    budget_s: float = 0.0     # per system per workload; 0: 0.6 quick, 3 full
    sample_s: float = 0.0     # target length of one timing sample; 0: 0.01 quick, 0.03 full
    settle_s: float = -1.0    # pause before each sample; -1: 0.1 quick, 0.15 full (JITGRAD_BENCH_SETTLE_S)
    interleaved: bool = False  # all systems in this process, samples round-robin (the old mode)
    timeout_s: float = 900.0   # per system and workload, per-process mode

    def __post_init__(self):
        self.reps = self.reps or (5 if self.quick else 15)
        self.budget_s = self.budget_s or (0.6 if self.quick else 3.0)
        self.sample_s = self.sample_s or (0.01 if self.quick else 0.03)
        if self.settle_s < 0:
            self.settle_s = float(os.environ.get("JITGRAD_BENCH_SETTLE_S", 0.1 if self.quick else 0.15))


# ----------------------------------------------------------------------------- progress
class _Progress:
    def __init__(self, total, enabled):
        self.bar = None
        self.n, self.total, self.enabled = 0, total, enabled
        if enabled:
            try:
                from tqdm import tqdm
                self.bar = tqdm(total=total, file=sys.stderr, leave=False, dynamic_ncols=True)
            except ImportError:
                pass

    def step(self, what):
        self.n += 1
        if self.bar is not None:
            self.bar.set_description(what)
            self.bar.update(1)
        elif self.enabled:
            print(f"[{self.n}/{self.total}] {what}", file=sys.stderr, flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()


# ----------------------------------------------------------------------------- correctness gate
def check(out, ref_value, ref_grads, tol):
    """(ok, value_err, grad_err, message): errors relative to the reference's magnitude
    (value: |v - r| / |r|; gradients: max |g - r| / max |r|, worst over the gradients)."""
    v, gs = out
    try:
        v = float(np.asarray(to_numpy(v)).reshape(()))
    except Exception as e:
        return False, None, None, f"value is not a scalar: {e}"
    if len(gs) != len(ref_grads):
        return False, None, None, f"{len(gs)} gradients, expected {len(ref_grads)}"
    ev = abs(v - ref_value) / max(abs(ref_value), 1e-30)
    eg = 0.0
    for k, (g, r) in enumerate(zip(gs, ref_grads)):
        g = np.asarray(to_numpy(g), np.float64)
        if g.shape != r.shape:
            return False, ev, None, f"gradient {k} has shape {g.shape}, expected {r.shape}"
        if not np.all(np.isfinite(g)):
            return False, ev, None, f"gradient {k} has NaN/Inf"
        eg = max(eg, float(np.max(np.abs(g - r), initial=0.0)) / max(float(np.max(np.abs(r), initial=0.0)), 1e-30))
    ok = ev <= tol and eg <= tol
    msg = "" if ok else f"disagrees with the float64 reference: value err {ev:.1e}, grad err {eg:.1e} (tol {tol:.0e})"
    return ok, ev, eg, msg


def _err(e):
    s = str(e).strip().splitlines()
    return f"{type(e).__name__}: {s[0][:200] if s else ''}"


# ----------------------------------------------------------------------------- timing
def _per_weight(build, w, args, argnums, threads):
    """One value_and_grad per differentiated argument (each its own compiled function)."""
    fns = [build(w, args, (i,), threads) for i in argnums]

    def run():
        outs = [f() for f in fns]
        return outs[0][0], [o[1][0] for o in outs]
    return run


def _sample(fn, n):
    gc_was = gc.isenabled()
    gc.disable()
    try:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        return (time.perf_counter() - t0) / n
    finally:
        if gc_was:
            gc.enable()


def _stats(ts):
    q1, med, q3 = np.percentile(ts, [25, 50, 75])
    return {"median_s": float(med), "q1_s": float(q1), "q3_s": float(q3), "min_s": float(min(ts)),
            "max_s": float(max(ts)), "n_samples": len(ts)}


def _row(wid, sname, status, reason=None, **kw):
    r = {"workload": wid, "system": sname, "status": status, "reason": reason, "timing": None,
         "value_err": None, "grad_err": None, "compile_s": None, "ratio_vs_best_peer": None,
         "bandwidth_frac": None, "metrics": {}}
    r.update(kw)
    return r


def _not_here(w, s):
    """The row of a system that does not run this workload here, else None."""
    if not s.supports(w.id):
        return _row(w.id, s.name, "n/a", f"{s.name} has no {w.id} implementation")
    why = s.unavailable()
    return _row(w.id, s.name, "skipped", why) if why else None


def gate(w, s, args, argnums, opts, rv, rg):
    """Build, first call (timed: it compiles where the system compiles), the float64 gate, a
    warm-up and the sample size: (row, fn, calls per sample, samples); fn None on failure."""
    try:
        fn = (_per_weight(s.build, w, args, argnums, opts.threads) if w.per_weight
              else s.build(w, args, argnums, opts.threads))
        t0 = time.perf_counter()
        out = fn()
        first = time.perf_counter() - t0
    except Exception as e:
        return _row(w.id, s.name, "error", _err(e), metrics={"traceback": traceback.format_exc(limit=3)}), None, 0, 0
    ok, ev, eg, msg = check(out, rv, rg, TOL[w.dtype])
    if not ok:
        return _row(w.id, s.name, "WRONG", msg, value_err=ev, grad_err=eg), None, 0, 0
    del out
    try:
        t1 = _sample(fn, 1)                          # warm-up
        t1 = min(t1, _sample(fn, 1))
    except Exception as e:
        return _row(w.id, s.name, "error", "after a correct first call: " + _err(e)), None, 0, 0
    n = max(1, int(opts.sample_s / max(t1, 1e-9)))
    reps = int(max(3, min(opts.reps, opts.budget_s / max(n * t1, 1e-9))))
    return _row(w.id, s.name, "ok", value_err=ev, grad_err=eg, compile_s=first), fn, n, reps


def time_workload(w: Workload, systems, opts: Options, progress, bandwidth=None):
    """Gate and time every system: each alone in a fresh process, one after the other (the
    default), or all in this process with samples interleaved (`--interleaved`)."""
    args, argnums = w.make(opts.quick)
    rv, rg = reference(w, args, argnums)
    rows = _time_per_process(w, systems, opts, progress, rv, rg) if not opts.interleaved else \
        _time_interleaved(w, systems, opts, progress, args, argnums, rv, rg)
    _ratios(rows, {s.name: s.family for s in systems})
    if w.min_bytes and bandwidth:
        nbytes = w.min_bytes(args)
        for r in rows:
            if r["timing"]:
                r["bandwidth_frac"] = nbytes / r["timing"]["median_s"] / bandwidth
    return rows


def _time_per_process(w, systems, opts, progress, rv, rg):
    """As a user runs a library: its own fresh process (same data from the same seed, same
    thread settings), back-to-back calls after the warm-up; the gate's reference goes to the
    child in a file."""
    rows = []
    with tempfile.TemporaryDirectory() as d:
        ref = os.path.join(d, "reference.npz")
        np.savez(ref, value=np.float64(rv), **{f"g{i}": g for i, g in enumerate(rg)})
        for s in systems:
            progress.step(f"{w.id} {s.name}")
            row = _not_here(w, s)
            if row is None:
                cmd = _child_cmd("time", s.name, w.id, opts.threads, opts.quick) + \
                    [ref, str(opts.reps), str(opts.budget_s), str(opts.sample_s)]
                try:
                    row = _run_child(cmd, {}, opts.timeout_s)
                except subprocess.TimeoutExpired:
                    row = _row(w.id, s.name, "error", f"timed out after {opts.timeout_s:.0f} s in its process")
                except Exception as e:
                    row = _row(w.id, s.name, "error", _err(e))
            rows.append(row)
    return rows


def _time_child(w, s, quick, threads, ref, reps, budget_s, sample_s):
    """The per-process mode's child: gate, then back-to-back samples; returns the row."""
    with np.load(ref) as z:
        rv = float(z["value"])
        rg = [z[f"g{i}"] for i in range(len(z.files) - 1)]
    opts = Options(quick=quick, threads=threads, progress=False, reps=reps, budget_s=budget_s, sample_s=sample_s)
    args, argnums = w.make(quick)
    row, fn, n, k = gate(w, s, args, argnums, opts, rv, rg)
    if fn is not None:
        row["timing"] = dict(_stats([_sample(fn, n) for _ in range(k)]), calls_per_sample=n)
    return row


def _time_interleaved(w, systems, opts, progress, args, argnums, rv, rg):
    """All systems in this process: gate each, then interleave their samples round-robin."""
    rows, live = [], []
    for s in systems:
        progress.step(f"{w.id} {s.name}")
        row = _not_here(w, s)
        if row is not None:
            rows.append(row)
            continue
        row, fn, n, reps = gate(w, s, args, argnums, opts, rv, rg)
        rows.append(row)
        if fn is not None:
            live.append([s, fn, n, reps, [], row])
    # interleaved samples: round robin over the systems, in a shuffled order each round
    order = random.Random(0)
    while any(len(l[4]) < l[3] for l in live):
        todo = [l for l in live if len(l[4]) < l[3]]
        order.shuffle(todo)
        for l in todo:
            # BLAS/OpenMP/XLA worker threads spin for up to ~0.1 s after a call; on a small machine
            # they would steal the cores of whichever system runs next. Let them go to sleep.
            time.sleep(opts.settle_s)
            l[4].append(_sample(l[1], l[2]))
    for s, fn, n, reps, ts, row in live:
        row["timing"] = dict(_stats(ts), calls_per_sample=n)
    return rows


def _ratios(rows, family):
    peers = [r for r in rows if r["timing"] and family.get(r["system"]) == "peer"]
    if not peers:
        return
    best = min(r["timing"]["median_s"] for r in peers)
    for r in rows:
        if r["timing"]:
            r["ratio_vs_best_peer"] = r["timing"]["median_s"] / best


def measure_bandwidth(threads, nbytes=1 << 27):
    """Copy bandwidth in bytes/s (read + write counted), the best of a NumPy copy and a
    `threads`-wide Numba prange copy over 128 MiB."""
    src = np.ones(nbytes // 4, np.float32)
    dst = np.empty_like(src)
    best = 0.0
    fns = [lambda: np.copyto(dst, src)]
    try:
        import numba

        @numba.njit(parallel=True, cache=False)
        def _copy(a, b):
            for i in numba.prange(a.size):
                b[i] = a[i]
        _copy(src, dst)
        fns.append(lambda: _copy(src, dst))
    except Exception:
        pass
    for f in fns:
        f()
        ts = [_sample(f, 1) for _ in range(5)]
        best = max(best, 2 * nbytes / float(np.median(ts)))
    return best


# ----------------------------------------------------------------------------- W6, W7 (subprocesses)
def _child_cmd(kind, sname, wid, threads, quick):
    code = "import sys; from bench.harness import child_main; child_main(sys.argv[1:])"
    return [sys.executable, "-c", code, kind, sname, wid, str(threads), "1" if quick else "0"]


def _run_child(cmd, env, timeout):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    e = dict(os.environ)
    e.update(env)
    e["PYTHONPATH"] = root + (os.pathsep + e["PYTHONPATH"] if e.get("PYTHONPATH") else "")
    p = subprocess.run(cmd, env=e, capture_output=True, text=True, timeout=timeout, cwd=root)
    for line in reversed(p.stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    tail = (p.stderr.strip().splitlines() or ["no output"])[-1]
    raise RuntimeError(f"child exited {p.returncode}: {tail[:200]}")


def child_main(argv):
    """In a fresh process: gate and time a system on a workload ("time"), build its function and
    time its first two calls ("compile"), or measure one step's peak memory ("memory")."""
    kind, sname, wid, threads, quick = argv[:5]
    threads, quick = int(threads), quick == "1"
    s, w = SYSTEMS[sname], WORKLOADS[wid]
    if kind == "time":
        ref, reps, budget_s, sample_s = argv[5:]
        row = _time_child(w, s, quick, threads, ref, int(reps), float(budget_s), float(sample_s))
        print(json.dumps(row), flush=True)
        return
    args, argnums = w.make(quick)
    t0 = time.perf_counter()
    fn = s.build(w, args, argnums, threads)
    res = {"build_s": time.perf_counter() - t0}
    if kind == "compile":
        for key in ("first_call_s", "second_call_s"):
            t0 = time.perf_counter()
            fn()
            res[key] = time.perf_counter() - t0
            if key == "first_call_s" and hasattr(fn, "phases"):
                res["phases"] = fn.phases()
        if w.resize and hasattr(fn, "with_args") and os.environ.get("JITGRAD_BENCH_SIZES", "1") == "1":
            for i, b in enumerate(w.batches):   # the same compiled function at new batch sizes
                run_b = fn.with_args(w.resize(quick, b))
                counter = _numba_compile_counter() if sname.startswith("jitgrad") else None
                t0 = time.perf_counter()
                run_b()
                res[f"size{i + 2}_s"] = time.perf_counter() - t0
                if counter is not None:
                    res[f"size{i + 2}_numba_compiles"] = counter()
                t0 = time.perf_counter()    # what that size costs once compiled: the new size's
                run_b()                     # overhead is the difference (W8's step alone is ~20 ms)
                res[f"size{i + 2}_cached_s"] = time.perf_counter() - t0
    else:
        import tracemalloc
        fn()
        fn()
        gc.collect()
        rss0 = _proc_kb("VmRSS")
        with open("/proc/self/clear_refs", "w") as f:   # reset the VmHWM high-water mark
            f.write("5")
        tracemalloc.start()
        out = fn()
        res["tracemalloc_peak_bytes"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        res["rss_peak_bytes"] = (_proc_kb("VmHWM") - rss0) * 1024
        res["outputs_bytes"] = int(sum(np.asarray(to_numpy(g)).nbytes for g in out[1]))
    print(json.dumps(res), flush=True)


def _numba_compile_counter():
    """A function returning how many functions were compiled since this call: kernels LLVM
    compiled directly (codegen.llvm_cpu), and whatever Numba compiled (kernels and helpers)."""
    from numba.core import event
    from codegen.llvm_cpu import compiled_count
    n = [-compiled_count()]

    class Count(event.Listener):
        def on_start(self, ev):
            n[0] += 1

        def on_end(self, ev):
            pass
    event.register("numba:compile", Count())
    return lambda: n[0] + compiled_count()


def _proc_kb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def compile_workload(w, systems, opts, progress):
    """First call in a fresh process with an empty disk cache, the second call there (memory
    cache hit), then the first call in a second fresh process reusing the disk cache."""
    rows = []
    _compile_bytecode()
    for s, wid, tag in _cells(w, systems, w.of, progress, rows):
        if s.cache_env is None:
            rows.append(_row(tag, s.name, "n/a", "nothing to compile"))
            continue
        if opts.quick and s.name in QUICK_SKIP_COMPILE:
            rows.append(_row(tag, s.name, "skipped", "--quick: compile cost not measured (slow fresh compile)"))
            continue
        try:
            with tempfile.TemporaryDirectory(prefix="jitgrad-bench-cache-") as d:
                cmd = _child_cmd("compile", s.name, wid, opts.threads, opts.quick)
                a = _run_child(cmd, s.cache_env(d), 600)
                b = _run_child(cmd, dict(s.cache_env(d), JITGRAD_BENCH_SIZES="0"), 600)
            m = {"first_call_s": a["first_call_s"], "cache_hit_s": a["second_call_s"],
                 "disk_hit_s": b["first_call_s"], "build_s": a["build_s"],
                 "first_call_phases": a.get("phases"), "disk_hit_phases": b.get("phases")}
            m.update({k: v for k, v in a.items() if k.startswith("size")})
            if s.name == "jitgrad" and wid == "W2":
                m["numba_import_s"] = _numba_import_s()
            rows.append(_row(tag, s.name, "ok", metrics=m))
        except Exception as e:
            rows.append(_row(tag, s.name, "error", _err(e)))
    return rows


def _compile_bytecode():
    """jitgrad's own .pyc files, as `pip install` writes them (the peers' were written when they
    were installed): a checkout run with PYTHONDONTWRITEBYTECODE=1 would otherwise compile
    jitgrad's sources in every fresh process (40-70 ms of each first call here)."""
    import compileall
    root = pathlib.Path(__file__).resolve().parent.parent
    for pkg in ("tracer", "codegen", "jitgrad"):
        compileall.compile_dir(str(root / pkg), quiet=2)


def _cells(w, systems, wids, progress, rows):
    """(system, workload id, row tag) for each pair to measure; a row for each pair that cannot
    be (the system is missing here, or has no implementation of that workload) goes into rows."""
    for s in systems:
        for wid in wids:
            progress.step(f"{w.id} {s.name}")
            tag = f"{w.id}:{wid}"
            why = s.unavailable()
            if why:
                rows.append(_row(tag, s.name, "skipped", why))
            elif not s.supports(wid):
                rows.append(_row(tag, s.name, "n/a", f"{s.name} has no {wid} implementation"))
            else:
                yield s, wid, tag


def _numba_import_s():
    """What `import numba` costs in a fresh process that has NumPy already (the warm-start
    target's yardstick: jitgrad itself no longer imports Numba on a cache hit)."""
    code = "import numpy, time; t = time.perf_counter(); import numba; print(time.perf_counter() - t)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    return float(out.stdout.split()[-1])


QUICK_SKIP_COMPILE = ("pytensor", "torch.compile")   # a fresh-cache compile takes 10-60 s each
MEMORY_ENV = {  # freed buffers go back to the OS at once, so the RSS high-water mark is the step's peak
    "MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "65536", "MALLOC_TOP_PAD_": "0",
    "GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=65536:glibc.malloc.trim_threshold=65536:glibc.malloc.top_pad=0",
    "JITGRAD_TUNE_MALLOC": "0"}


def memory_workload(w, systems, opts, progress):
    rows = []
    for s, wid, tag in _cells(w, systems, w.of[-1:] if opts.quick else w.of, progress, rows):  # --quick: W2
        try:
            m = _run_child(_child_cmd("memory", s.name, wid, opts.threads, opts.quick), MEMORY_ENV, 600)
            rows.append(_row(tag, s.name, "ok", metrics=m))
        except Exception as e:
            rows.append(_row(tag, s.name, "error", _err(e)))
    return rows


# ----------------------------------------------------------------------------- data-parallel scaling
SCALING_SIZES = {"W2": "784,256,256,10", "1M params": "784,1024,256,10"}
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}


def scaling_workload(w, systems, opts, progress):
    """W10: the MLP step on 2 ranks x 1 thread (half the batch each) against 1 process x 1
    thread (the whole batch), each in fresh processes; speedup = throughput ratio."""
    rows = []
    for s in systems:
        for label, sizes in SCALING_SIZES.items():
            progress.step(f"{w.id} {s.name}")
            tag = f"{w.id}:{label}"
            runner = DDP_RUNNERS.get(s.name)
            if runner is None:
                rows.append(_row(tag, s.name, "n/a", f"{s.name}: no data-parallel runner in the harness"))
                continue
            from jitgrad.distributed import mpiexec as find_mpiexec
            mpiexec = find_mpiexec()
            if mpiexec is None:   # (torch's ranks are launched by the same mpiexec)
                rows.append(_row(tag, s.name, "skipped", "the dist extra (mpi4py, mpich) is not installed"))
                continue
            if s.unavailable():
                rows.append(_row(tag, s.name, "skipped", s.unavailable()))
                continue
            cmd = ["-m", runner, "--sizes", sizes, "--batch", "128", "--reps", "20" if opts.quick else "60"]
            try:
                one = _run_child([sys.executable] + cmd, ONE_THREAD, 600)
                two = _run_child([mpiexec, "-n", "2", sys.executable] + cmd + ["--port", str(_free_port())],
                                 ONE_THREAD, 600)
            except Exception as e:
                rows.append(_row(tag, s.name, "error", _err(e)))
                continue
            rows.append(_row(tag, s.name, "ok", metrics={
                "speedup": two["samples_per_s"] / one["samples_per_s"], "params": one["params"],
                "step_1rank_s": one["step_s"], "step_2ranks_s": two["step_s"],
                "allreduce_s": two["allreduce_s"], "allreduce_share": two["allreduce_s"] / two["step_s"]}))
    return rows


DDP_RUNNERS = {"jitgrad": "bench.ddp", "torch": "bench.ddp_torch"}   # torch: DDP over gloo


def _free_port():
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ----------------------------------------------------------------------------- the whole run
def header(opts):
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    vers = {}
    for m in ("numpy", "numba", "llvmlite", "scipy", "jitgrad", "torch", "jax", "jaxlib", "autograd", "pytensor"):
        try:
            vers[m] = version_of(m)
        except Exception:
            vers[m] = None
    th = {"requested": opts.threads}
    for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS", "XLA_FLAGS"):
        th[k] = os.environ.get(k)
    if "numba" in sys.modules:
        import numba
        th["numba"] = numba.get_num_threads()
        try:
            th["numba_threading_layer"] = numba.config.THREADING_LAYER
        except Exception:
            pass
    if "torch" in sys.modules:
        th["torch"] = sys.modules["torch"].get_num_threads()
    return {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "cpu": cpu, "cores": os.cpu_count(),
            "platform": platform.platform(), "python": platform.python_version(), "versions": vers,
            "threads": th, "quick": opts.quick, "settle_s": opts.settle_s, "reps": opts.reps}


def machine_state(window_s=0.5):
    """Load average and the processes that used a CPU in the last `window_s` (from /proc), read
    before timing: a noisy neighbour moves every figure."""
    def ticks():
        out = {}
        for pid in os.listdir("/proc") if os.path.isdir("/proc") else ():
            if not pid.isdigit() or int(pid) == os.getpid():
                continue
            try:
                with open(f"/proc/{pid}/stat") as f:
                    st = f.read()
                name, rest = st[st.index("(") + 1:st.rindex(")")], st[st.rindex(")") + 2:].split()
                out[pid] = (name, int(rest[11]) + int(rest[12]))
            except (OSError, ValueError, IndexError):
                pass
        return out
    a = ticks()
    time.sleep(window_s)
    b = ticks()
    hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    busy = sorted(((b[p][0], 100.0 * (b[p][1] - a[p][1]) / hz / window_s) for p in b if p in a), key=lambda x: -x[1])
    load = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    busy = [(n, round(c)) for n, c in busy if c >= 10][:5]
    quiet = not busy and (load is None or load[0] < 0.5 * (os.cpu_count() or 1))
    return {"loadavg": load, "busy": busy, "quiet": quiet}


def same_malloc_for_all():
    """jitgrad's codegen raises glibc's mmap/trim thresholds when it is imported (freed multi-MB
    buffers stay in the heap instead of being unmapped and page-faulted in again). That helps every
    library that allocates big temporaries, so the harness applies the same setting up front for
    all systems: results then do not depend on whether jitgrad happened to be imported."""
    if os.environ.get("JITGRAD_TUNE_MALLOC", "1") == "0" or not sys.platform.startswith("linux"):
        return "glibc defaults (JITGRAD_TUNE_MALLOC=0)"
    try:
        import ctypes
        mallopt = ctypes.CDLL(None).mallopt
        mallopt(-3, 32 << 20)   # M_MMAP_THRESHOLD
        mallopt(-1, 1 << 30)    # M_TRIM_THRESHOLD
        return "glibc mmap threshold 32 MiB, trim threshold 1 GiB (as jitgrad sets it), for every system"
    except (OSError, AttributeError):
        return "glibc defaults"


def run(workloads, systems, opts: Options):
    """Run the benchmark; returns the JSON document."""
    malloc = same_malloc_for_all()
    machine = machine_state()
    if not machine["quiet"]:
        print(f"warning: the machine is not quiet (load average {machine['loadavg']}, busy: "
              f"{machine['busy'] or 'none'}): every figure below moves with it", file=sys.stderr)
    total = sum(len(systems) * max(1, len(w.of) if not (opts.quick and w.kind == "memory") else 1)
                for w in workloads)
    progress = _Progress(total, opts.progress)
    bw = None
    if any(w.min_bytes for w in workloads):
        bw = measure_bandwidth(opts.threads)
    rows = []
    try:
        for w in workloads:
            if w.kind == "time":
                rows += time_workload(w, systems, opts, progress, bw)
            elif w.kind == "compile":
                rows += compile_workload(w, systems, opts, progress)
            elif w.kind == "memory":
                rows += memory_workload(w, systems, opts, progress)
            elif w.kind == "scaling":
                rows += scaling_workload(w, systems, opts, progress)
            # kind "program": only measured through the compile table
    finally:
        progress.close()
    meta = header(opts)
    meta["bandwidth_Bps"] = bw
    meta["malloc"] = malloc
    meta["machine"] = machine
    meta["timing_mode"] = "interleaved" if opts.interleaved else "per-process"
    doc = {"schema": SCHEMA, "meta": meta,
           "workloads": {w.id: {"title": w.title, "dtype": w.dtype, "kind": w.kind} for w in workloads},
           "systems": {s.name: {"label": s.label, "family": s.family, "available": s.unavailable() is None,
                                "reason": s.unavailable()} for s in systems},
           "results": rows}
    doc["targets"] = targets(doc)
    return doc


def _get(doc, wid, sname):
    for r in doc["results"]:
        if r["workload"] == wid and r["system"] == sname:
            return r
    return None


def _med(doc, wid, sname):
    r = _get(doc, wid, sname)
    return r["timing"]["median_s"] if r and r["timing"] else None


def targets(doc):
    """The compiler issue's targets, measured in this run (None where a side is missing)."""
    out = []

    def ratio(name, wid, other, want, faster=True):
        a, b = _med(doc, wid, "jitgrad"), _med(doc, wid, other)
        m = (b / a) if (a and b) else None
        met = None if m is None else (m >= want if faster else (a / b) <= want)
        out.append({"name": name, "target": f"{'>=' if faster else '<='} {want}x",
                    "measured": (f"{m:.2f}x faster" if faster else f"{a / b:.2f}x the time") if m else None,
                    "met": met})
    ratio("W1 vs jax.jit", "W1", "jax", 3)
    ratio("W1 vs torch.compile", "W1", "torch.compile", 2)
    ratio("W1 vs hand-written Numba", "W1", "numba-hand", 1.5, faster=False)
    a = _med(doc, "W2", "jitgrad")
    peers = [m for m in (_med(doc, "W2", "torch"), _med(doc, "W2", "jax")) if m]
    out.append({"name": "W2 vs best of torch eager, jax.jit", "target": "<= 1.0x the time",
                "measured": f"{a / min(peers):.2f}x the time" if (a and peers) else None,
                "met": (a <= min(peers)) if (a and peers) else None})
    a = _med(doc, "W4", "jitgrad")
    out.append({"name": "W4 cached call", "target": "< 5 us", "measured": f"{a * 1e6:.2f} us" if a else None,
                "met": (a < 5e-6) if a else None})
    out += compile_targets(doc)
    return out


def compile_targets(doc):
    """The compile issue's targets, from the W6 rows of this run."""
    out = []

    def m(wid, sname):
        r = _get(doc, f"W6:{wid}", sname)
        return r["metrics"] if r is not None and r["status"] == "ok" else None
    jg, jx = m("W2", "jitgrad"), m("W2", "jax")
    ratio = jg["first_call_s"] / jx["first_call_s"] if jg and jx else None
    out.append({"name": "MLP (W2) first call vs jax.jit", "target": "<= 2x",
                "measured": f"{ratio:.1f}x ({jg['first_call_s']:.2f} s vs {jx['first_call_s']:.2f} s)" if ratio else None,
                "met": ratio <= 2 if ratio else None})
    for wid in WORKLOADS["W6"].of:
        j = m(wid, "jitgrad")
        if j and "size3_s" in j:
            n = j.get("size3_numba_compiles")
            extra = j["size3_s"] - j.get("size3_cached_s", 0.0)   # the call less the step itself
            out.append({"name": f"{wid} new batch size (3rd size) compiles nothing", "target": "0 compiles, < 50 ms",
                        "measured": f"{n} compiles, {extra * 1e3:.0f} ms over the step (call "
                                    f"{j['size3_s'] * 1e3:.0f} ms; 2nd size: "
                                    f"{j.get('size2_numba_compiles')} compiles, {j['size2_s']:.2f} s)",
                        "met": n == 0 and extra < 0.05})
    r4, r32 = m("R4", "jitgrad"), m("R32", "jitgrad")
    if r4 and r32:
        q = r32["first_call_s"] / r4["first_call_s"]
        out.append({"name": "RNN 32 steps first call vs 4 steps", "target": "<= 1.3x",
                    "measured": f"{q:.2f}x ({r32['first_call_s']:.2f} s vs {r4['first_call_s']:.2f} s)",
                    "met": q <= 1.3})
    base = jg.get("numba_import_s") if jg else None
    for wid in WORKLOADS["W6"].of if base else ():
        j = m(wid, "jitgrad")
        ph = j.get("disk_hit_phases") if j else None
        if ph:
            t = j["disk_hit_s"]
            out.append({"name": f"{wid} warm new process (first call, cache on disk)",
                        "target": "<= import numba + 50 ms",
                        "measured": f"{t * 1e3:.0f} ms, import numba alone {base * 1e3:.0f} ms (kernel loads "
                                    f"{ph.get('numba', 0) * 1e3:.0f} ms, codegen import {ph.get('import', 0) * 1e3:.0f} ms)",
                        "met": t <= base + 0.05})
    return out


# ----------------------------------------------------------------------------- output
def _phase_note(r):
    """Where a jitgrad first call spends its time: tracing and IR passes vs kernels."""
    def fmt(ph):
        own = ph.get("trace", 0) + ph.get("passes", 0)
        kernels = ph.get("import", 0) + ph.get("numba", 0)
        return (f"tracing and IR passes {_fmt_t(own)} (tracing {_fmt_t(ph.get('trace'))}, IR passes "
                f"{_fmt_t(ph.get('passes'))}), kernels {_fmt_t(kernels)} (codegen import {_fmt_t(ph.get('import'))}, "
                f"compile or load {_fmt_t(ph.get('numba'))})")
    m = r["metrics"]
    parts = [f"{r['system']} first call: " + fmt(m["first_call_phases"])]
    if m.get("disk_hit_phases"):
        parts.append(f"{r['system']} disk-cache hit: " + fmt(m["disk_hit_phases"]))
    return "\n\n".join(parts)


def _size_cell(r, i):
    m = r["metrics"]
    t = _fmt_t(m.get(f"size{i}_s"))
    n = m.get(f"size{i}_numba_compiles")
    step = m.get(f"size{i}_cached_s")
    info = ([f"{n} compiles"] if n is not None else []) + ([f"step {_fmt_t(step)}"] if step is not None else [])
    return t + (f" ({'; '.join(info)})" if info and t else "")


def _vs_jax(doc, r):
    j = _get(doc, r["workload"], "jax")
    a, b = r["metrics"].get("first_call_s"), (j or {}).get("metrics", {}).get("first_call_s") if j else None
    return f"{a / b:.1f}" if a and b else ""


def _fmt_t(s):
    if s is None:
        return ""
    for unit, f in (("s", 1), ("ms", 1e3), ("us", 1e6)):
        if s * f >= 1 or unit == "us":
            return f"{s * f:.3g} {unit}"


def _fmt_b(b):
    if b is None:
        return ""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(b) < 1024 or unit == "GiB":
            return f"{b:.3g} {unit}" if unit != "B" else f"{int(b)} B"
        b /= 1024


def table(head, rows, markdown=False):
    """The one table printer: plain aligned text or a Markdown table."""
    rows = [[str(c) for c in r] for r in rows]
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
        return "\n".join(lines + ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows])
    ws = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(head)]
    line = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, ws)).rstrip()  # noqa: E731
    return "\n".join([line(head), line(["-" * w for w in ws])] + [line(r) for r in rows])


def _status(r):
    return r["status"] if r["status"] == "ok" else f"{r['status']}: {r['reason']}"


def render(doc, markdown=False):
    h = "#### " if markdown else "== "
    out = _render_meta(doc["meta"], h)
    by = {}
    for r in doc["results"]:
        by.setdefault(r["workload"].split(":")[0], []).append(r)
    for wid, rows in by.items():
        info = doc["workloads"][wid]
        out.append(f"\n{h}{wid}: {info['title']} ({info['dtype']})\n")
        head, body, notes = _TABLES[info["kind"]](doc, rows)
        out.append(table(head, body, markdown))
        out += ["\n" + n for n in notes]
    if doc.get("targets"):
        out.append(f"\n{h}Targets (compiler issue)\n")
        out.append(table(["target", "want", "measured", "met"],
                         [[t["name"], t["target"], t["measured"] or "not measured",
                           {True: "yes", False: "NO", None: "-"}[t["met"]]] for t in doc["targets"]], markdown))
    return "\n".join(out) + "\n"


def _render_meta(m, h):
    """The run's header: machine, versions, threads, timing mode."""
    th = m["threads"]
    out = [f"{h}jitgrad bench{' (--quick)' if m['quick'] else ''}, {m['date']}",
           f"CPU: {m['cpu']} ({m['cores']} cores), {m['platform']}, Python {m['python']}\n",
           f"Versions: {', '.join(f'{k} {x}' for k, x in m['versions'].items() if x)}\n",
           f"Threads: {th['requested']} for every system (OMP/MKL/OpenBLAS/NUMBA_NUM_THREADS, "
           f"torch.set_num_threads, XLA_FLAGS intra_op_parallelism_threads); idle threads spin briefly "
           f"(OPENBLAS_THREAD_TIMEOUT={os.environ.get('OPENBLAS_THREAD_TIMEOUT', '-')}, GOMP_SPINCOUNT="
           f"{os.environ.get('GOMP_SPINCOUNT', '-')}); numba reports "
           f"{th.get('numba', '?')}, torch {th.get('torch', '?')}.\n"]
    if m.get("timing_mode", "interleaved") == "interleaved":
        out.append(f"Timing (interleaved mode): every system in one process; first call (compile) + warm-up, "
                   f"then up to {m.get('reps')} samples per system, round-robin in shuffled order with a "
                   f"{m.get('settle_s')} s pause before each sample; median, IQR, min-max.\n")
    else:
        out.append(f"Timing (per-process mode): each system alone in its own fresh process, one after the "
                   f"other, on the same data from the same seed; first call (compile) + warm-up, then up to "
                   f"{m.get('reps')} samples of back-to-back calls; median, IQR, min-max.\n")
    mc = m.get("machine")
    if mc:
        out.append(f"Machine before timing: load average {', '.join(f'{x:.2f}' for x in mc['loadavg'] or [])}; "
                   + ("quiet" if mc["quiet"] else f"NOT quiet (busy: {mc['busy'] or 'none'})") + ".\n")
    if m.get("malloc"):
        out.append(f"Allocator: {m['malloc']}.\n")
    if m.get("bandwidth_Bps"):
        out.append(f"Measured copy bandwidth: {m['bandwidth_Bps'] / 1e9:.1f} GB/s (read + write).\n")
    return out


def _time_table(doc, rows):
    bw = any(r["bandwidth_frac"] for r in rows)
    head = ["system", "median", "IQR", "min-max", "x best peer", "first call"] + (["of bandwidth"] if bw else []) + ["status"]
    body = []
    for r in sorted(rows, key=lambda r: (r["timing"] is None, r["timing"]["median_s"] if r["timing"] else 0)):
        t = r["timing"] or {}
        body.append([r["system"], _fmt_t(t.get("median_s")),
                     f"{_fmt_t(t.get('q1_s'))} - {_fmt_t(t.get('q3_s'))}" if t else "",
                     f"{_fmt_t(t.get('min_s'))} - {_fmt_t(t.get('max_s'))}" if t else "",
                     f"{r['ratio_vs_best_peer']:.2f}" if r["ratio_vs_best_peer"] else "",
                     _fmt_t(r["compile_s"])]
                    + ([f"{100 * r['bandwidth_frac']:.0f}%" if r["bandwidth_frac"] else ""] if bw else [])
                    + [_status(r)])
    notes = ["x best peer: median / fastest median among PyTorch, torch.compile, JAX, autograd, "
             "PyTensor (< 1 is faster than every peer)."] if any(r["ratio_vs_best_peer"] for r in rows) else []
    return head, body, notes


def _compile_table(doc, rows):
    head = ["system", "of", "first call (fresh cache)", "cache hit", "2nd batch size", "3rd batch size",
            "warm new process", "x jax.jit first call", "status"]
    body = [[r["system"], r["workload"].split(":")[1], _fmt_t(r["metrics"].get("first_call_s")),
             _fmt_t(r["metrics"].get("cache_hit_s")), _size_cell(r, 2), _size_cell(r, 3),
             _fmt_t(r["metrics"].get("disk_hit_s")), _vs_jax(doc, r), _status(r)]
            for r in rows]
    notes = [_phase_note(r) for r in rows if r["metrics"].get("first_call_phases")]
    return head, body, ["\n\n".join(notes)] if notes else []


def _scaling_table(doc, rows):
    head = ["system", "model", "params", "1 rank x 1 thread", "2 ranks x 1 thread", "speedup",
            "allreduce", "share of step", "status"]
    body = [[r["system"], r["workload"].split(":")[1], str(r["metrics"].get("params", "")),
             _fmt_t(r["metrics"].get("step_1rank_s")), _fmt_t(r["metrics"].get("step_2ranks_s")),
             f"{r['metrics']['speedup']:.2f}x" if r["metrics"].get("speedup") else "",
             _fmt_t(r["metrics"].get("allreduce_s")),
             f"{100 * r['metrics']['allreduce_share']:.0f}%" if r["metrics"].get("speedup") else "",
             _status(r)] for r in rows]
    return head, body, [
        "The W2 step at a global batch of 128; each rank takes half. jitgrad: jit_grad value and "
        "gradients, then jg.distributed.average_gradients (MPI); torch: DistributedDataParallel over "
        "gloo (allreduce in buckets during the backward pass). Times are per step, medians, the "
        "slowest rank's; allreduce: all the gradients' allreduce alone, after a barrier. Targets: "
        "speedup >= 1.8x, allreduce <= 10% of the step at 1M parameters."]


def _memory_table(doc, rows):
    head = ["system", "of", "RSS peak during step", "tracemalloc peak", "gradients", "status"]
    body = [[r["system"], r["workload"].split(":")[1], _fmt_b(r["metrics"].get("rss_peak_bytes")),
             _fmt_b(r["metrics"].get("tracemalloc_peak_bytes")), _fmt_b(r["metrics"].get("outputs_bytes")),
             _status(r)] for r in rows]
    return head, body, [
        "RSS peak: growth of the resident set during one step after warm-up, in a fresh process "
        "with glibc returning freed blocks >= 64 KiB to the OS at once (every library's "
        "allocations, including Numba's and PyTorch's). tracemalloc peak: NumPy/Python "
        "allocations only (does not see PyTorch, JAX or Numba-internal buffers)."]


_TABLES = {"time": _time_table, "compile": _compile_table, "scaling": _scaling_table, "memory": _memory_table}


def plot(doc, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = [r for r in doc["results"] if r["timing"]]
    wids = list(dict.fromkeys(r["workload"] for r in rows))
    sysn = list(dict.fromkeys(r["system"] for r in rows))
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(wids) + 2), 4.5))
    wdt = 0.8 / max(1, len(sysn))
    cmap = plt.get_cmap("tab10")
    for j, s in enumerate(sysn):
        xs, ys, es = [], [], []
        for i, w in enumerate(wids):
            r = next((r for r in rows if r["workload"] == w and r["system"] == s), None)
            if r:
                t = r["timing"]
                xs.append(i + (j - (len(sysn) - 1) / 2) * wdt)
                ys.append(t["median_s"])
                es.append([t["median_s"] - t["q1_s"], t["q3_s"] - t["median_s"]])
        ax.bar(xs, ys, wdt, label=s, color=cmap(j % 10), yerr=np.array(es).T if es else None, capsize=2)
    ax.set_yscale("log")
    ax.set_xticks(range(len(wids)), wids)
    ax.set_ylabel("median time per call (s, log)")
    ax.set_title(f"jitgrad bench, {doc['meta']['cpu']}, {doc['meta']['threads']['requested']} threads", fontsize=9)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
