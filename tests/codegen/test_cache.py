"""The kernel cache: reuse from a second process, corrupt files, read-only dirs, concurrency."""
import os
import subprocess
import sys
import textwrap
import threading
import warnings

import numpy as np
import pytest

import tracer
from tracer import ops as T

from codegen import compile_program, kernel_cache, numba_cpu

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CACHE = os.environ.get("JITGRAD_CACHE_DIR")


def _program(k=0.5):
    x = np.linspace(-1, 1, 7)
    return tracer.trace_value_and_grad(lambda x: T.sum(T.sin(x) * x + k), x), x


def _forget(c):
    for lk in c.kernels.values():
        numba_cpu._MEM.pop(lk.key, None)


def _kernel_file(d, c, compiler="numba"):
    (lk,) = c.kernels.values()
    return d / (f"jgl_{lk.key}.o" if compiler == "llvm" else f"jg_{lk.key}.py")


SCRIPT = textwrap.dedent("""
    import json, sys, numpy as np, tracer
    from tracer import ops as T
    from codegen import compile_program
    x = np.linspace(-1, 1, 7)
    k = float(sys.argv[1])
    p = tracer.trace_value_and_grad(lambda x: T.sum(T.sin(x) * x + k), x)
    c = compile_program(p)
    origins = [lk.origin for lk in c.kernels.values()]
    print(json.dumps(dict(disk=c.from_disk_cache, loaded=origins.count("disk"), compiled=c.compiled_kernels,
                          value=float(c(x)[0]))))
""")


def test_second_process_compiles_nothing(kernel_compiler):
    k = 0.5 if kernel_compiler == "llvm" else 0.75          # (a key the other variant did not load)
    p, x = _program(k)
    c = compile_program(p, cache_dir=CACHE)
    env = dict(os.environ, PYTHONPATH=ROOT, JITGRAD_CACHE_DIR=CACHE, JITGRAD_KERNEL_COMPILER=kernel_compiler)
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(k)], env=env, capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    import json
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert r["disk"] and r["loaded"] >= 1 and r["compiled"] == 0, r
    assert np.isclose(r["value"], float(c(x)[0]))


KEY_SCRIPT = textwrap.dedent("""
    import numpy as np, tracer
    from tracer import ops as T
    from codegen import run_pipeline
    from codegen.ir import format_kernel
    from codegen.numba_cpu import kernel_key, render
    r = np.random.default_rng(0)
    shapes = [(32, 24), (24,), (24, 24), (24,), (24, 5), (5,)]
    ws = [r.standard_normal(s).astype(np.float32) for s in shapes]
    x, labels = r.standard_normal((16, 32)).astype(np.float32), r.integers(0, 5, 16)
    def mlp(*ws):   # many temporaries with overlapping lifetimes: buffer planning has ties to break
        h = T.relu(T.matmul(x, ws[0]) + ws[1])
        h = T.relu(T.matmul(h, ws[2]) + ws[3])
        logp = T.log_softmax(T.matmul(h, ws[4]) + ws[5], -1)
        return -T.mean(logp[np.arange(16), labels])
    from tracer.engine import grad
    def pinn(w1, b1, w2, b2, w3):   # second order: du/dt inside the loss, as W5
        t = ts
        t.requires_grad = True
        u = T.matmul(T.tanh(T.matmul(T.tanh(T.matmul(t, w1) + b1), w2) + b2), w3)
        du, = grad(T.sum(u), [t], create_graph=True)
        return T.mean((u + du) ** 2)
    ts = tracer.Tensor(np.linspace(0.0, 1.0, 8).reshape(8, 1))
    ts._traced = True
    pw = [r.standard_normal(s) for s in [(1, 6), (6,), (6, 6), (6,), (6, 1)]]
    keys = []
    for f, args in ((mlp, ws), (pinn, pw)):
        k = run_pipeline(tracer.trace_value_and_grad(f, *args))
        keys.append(kernel_key(format_kernel(k), render(k, cache=True)))
    print(" ".join(keys))
""")


def test_kernel_key_is_the_same_in_every_process():
    """The disk cache only helps if a new process derives the same key: no iteration over sets of
    objects hashed by id (or strings hashed by a random seed) may leak into the generated source."""
    keys = set()
    for seed in ("1", "2", "3", "4", "5", "6"):
        env = dict(os.environ, PYTHONPATH=ROOT, PYTHONHASHSEED=seed)
        out = subprocess.run([sys.executable, "-c", KEY_SCRIPT], env=env, capture_output=True, text=True, cwd=ROOT)
        assert out.returncode == 0, out.stderr
        keys.add(out.stdout.strip().splitlines()[-1])
    assert len(keys) == 1, keys


PROGRAM_SCRIPT = textwrap.dedent("""
    import json, sys, numpy as np, tracer
    from tracer import ops as T
    from codegen import compile_program
    r = np.random.default_rng(0)
    x, w = r.standard_normal((6, 5)), r.standard_normal((5, 3))
    p = tracer.trace_value_and_grad(lambda x, w: T.sum(T.tanh(x @ w) ** 2) * float(sys.argv[1]), x, w)
    c = compile_program(p)
    print(json.dumps(dict(hit=getattr(c, "from_program_cache", False), passes=c.timings["passes"],
                          ir=c.ir, out=[o.tolist() for o in c(x, w)])))
""")


def test_a_new_process_skips_the_passes():
    """A warm cache holds the whole program: a second process (another hash seed) loads its driver
    and kernels, runs no IR pass, computes the same numbers, and can still show its IR."""
    import json
    scale = float(np.random.default_rng().uniform(1, 2))     # a program no earlier run cached
    runs = []
    for seed in ("1", "2"):
        env = dict(os.environ, PYTHONPATH=ROOT, JITGRAD_CACHE_DIR=CACHE, PYTHONHASHSEED=seed)
        out = subprocess.run([sys.executable, "-c", PROGRAM_SCRIPT, repr(scale)], env=env, capture_output=True,
                             text=True, cwd=ROOT)
        assert out.returncode == 0, out.stderr
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    first, second = runs
    assert not first["hit"] and first["passes"] > 0
    assert second["hit"] and second["passes"] == 0
    assert second["ir"] == first["ir"] and second["out"] == first["out"]


def test_corrupt_program_record_is_recompiled_with_warning(tmp_path):
    p, x = _program(2.5)
    c = compile_program(p, cache_dir=tmp_path)
    (path,) = tmp_path.glob("jgp_*.bin")
    data = path.read_bytes()
    path.write_bytes(data[:-40] + bytes(40))
    with pytest.warns(RuntimeWarning, match="corrupt"):
        c2 = compile_program(p, cache_dir=tmp_path)
    assert not getattr(c2, "from_program_cache", False)
    np.testing.assert_allclose(c2(x)[1], c(x)[1])
    assert path.read_bytes() == data
    assert compile_program(p, cache_dir=tmp_path).from_program_cache


def test_program_key_covers_literals_and_shapes_not_captured_values():
    from codegen.program_cache import program_key
    x = np.linspace(-1, 1, 7)
    key = lambda f, x=x: program_key(tracer.trace_value_and_grad(f, x))   # noqa: E731
    assert key(lambda x: T.sum(x * 0.5)) == key(lambda x: T.sum(x * 0.5))
    assert key(lambda x: T.sum(x * 0.5)) != key(lambda x: T.sum(x * 0.25))
    assert key(lambda x: T.sum(x * 0.5)) != key(lambda x: T.sum(x * 0.5), np.linspace(-1, 1, 8))
    assert key(lambda x: T.sum(x * 0.5)) != key(lambda x: T.sum(x * 0.5), x.astype(np.float32))
    c1, c2 = np.arange(7.0), np.arange(7.0) * 3      # captured arrays: read at each call
    assert key(lambda x: T.sum(x * c1)) == key(lambda x: T.sum(x * c2))
    p1 = tracer.trace_value_and_grad(lambda x: T.sum(x * c1), x)
    p2 = tracer.trace_value_and_grad(lambda x: T.sum(x * c2), x)
    d = CACHE or None
    compile_program(p1, cache_dir=d)
    hit = compile_program(p2, cache_dir=d)
    assert hit.from_program_cache
    np.testing.assert_allclose(hit(x, *p2.const_values())[1], c2)


@pytest.mark.parametrize("damage", ["garbage", "truncate"])
def test_corrupt_cache_file_is_recompiled_with_warning(tmp_path, damage, kernel_compiler):
    p, x = _program((1.25 if damage == "garbage" else 1.75) + (kernel_compiler == "numba"))   # (keys not in memory)
    c = compile_program(p, cache_dir=tmp_path)
    want = c(x)
    path = _kernel_file(tmp_path, c, kernel_compiler)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if damage == "truncate" else
                     data.replace(b"sin(", b"cos(") if kernel_compiler == "numba" else data[:-64] + bytes(64))
    _forget(c)
    with pytest.warns(RuntimeWarning, match="corrupt"):
        c2 = compile_program(p, cache_dir=tmp_path)
    for g, w in zip(c2(x), want):
        np.testing.assert_allclose(g, w)
    assert path.read_bytes() == data


def test_corrupt_numba_index_is_recovered(tmp_path, monkeypatch):
    monkeypatch.setattr(numba_cpu.llvm_cpu, "COMPILER", "numba")
    p, x = _program(2.5)
    c = compile_program(p, cache_dir=tmp_path)
    want = c(x)
    for f in (tmp_path / "__pycache__").glob("*"):
        f.write_bytes(b"\x00garbage")
    _forget(c)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c2 = compile_program(p, cache_dir=tmp_path)
    for g, w in zip(c2(x), want):
        np.testing.assert_allclose(g, w)


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root can write anywhere")
def test_read_only_cache_dir_falls_back_to_memory(tmp_path):
    d = tmp_path / "ro"
    d.mkdir()
    d.chmod(0o555)
    try:
        p, x = _program(3.5)
        with pytest.warns(RuntimeWarning, match="memory only"):
            c = compile_program(p, cache_dir=d)
        assert not c.from_disk_cache and np.isfinite(c(x)[0])
    finally:
        d.chmod(0o755)


def test_unwritable_cache_path_falls_back_to_memory(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    p, x = _program(4.5)
    with pytest.warns(RuntimeWarning, match="memory only"):
        c = compile_program(p, cache_dir=blocker / "sub")
    want = tracer.evaluate(p, x)
    np.testing.assert_allclose(c(x)[0], want[0])


def test_cache_disabled_and_default_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("JITGRAD_CACHE_DIR", str(tmp_path))
    assert kernel_cache.default_cache_dir() == tmp_path
    p, x = _program(5.5)
    c = compile_program(p, cache_dir=False)
    assert not c.from_disk_cache and not list(tmp_path.glob("*.py"))


def test_concurrent_first_compile_compiles_once(monkeypatch, kernel_compiler):
    p, x = _program(float(np.random.default_rng().integers(1 << 30)))   # a key no one compiled yet
    calls = []
    where, name = (numba_cpu, "_compile_memory") if kernel_compiler == "numba" else (numba_cpu.llvm_cpu, "_compile")
    real = getattr(where, name)

    def counting(*a):
        calls.append(1)
        return real(*a)
    monkeypatch.setattr(where, name, counting)
    results, errors = [None] * 8, []
    barrier = threading.Barrier(8)

    def work(i):
        try:
            barrier.wait()
            c = compile_program(p, cache_dir=False)
            results[i] = c(x)
        except Exception as e:  # pragma: no cover
            errors.append(e)
    ts = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors and len(calls) == 1
    want = tracer.evaluate(p, x)
    for r in results:
        for g, w in zip(r, want):
            np.testing.assert_allclose(g, w, rtol=1e-9)


def test_concurrent_calls_of_a_parallel_kernel():
    n = 1 << 18
    x = np.linspace(-1, 1, n).astype(np.float32)
    p = tracer.trace_value_and_grad(lambda x: T.sum(T.tanh(x) * x), x)
    c = compile_program(p, cache_dir=CACHE)
    assert "prun(" in c.source or "prange(" in c.source      # threads (default) or Numba's prange
    want = c(x)
    out, errors = [], []

    def work():
        try:
            for _ in range(5):
                out.append(c(x))
        except Exception as e:  # pragma: no cover
            errors.append(e)
    ts = [threading.Thread(target=work) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors and len(out) == 20
    for r in out:
        np.testing.assert_allclose(r[1], want[1])
