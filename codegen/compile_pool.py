"""Compiling new kernels in parallel: helper processes that fill the disk cache.

Numba compiles one function at a time per process (a global compiler lock, and most of the
work is Python), so a program with a dozen new loop-nest kernels compiles them one after the
other. Here some of them go to helper processes (`python -m codegen.compile_pool`, started once
and kept), which compile them into the kernel cache under the same file locks; the calling
process compiles its own share meanwhile and then loads theirs from disk (a few ms each).

Kernels that llvm_cpu compiles (20-40 ms each) are shared another way (`share`): a helper
takes the new ones from the back of the list while the caller compiles from the front, the
kernel's file lock deciding who compiles it; the caller never waits for a helper.

Helpers never import user code: they read (cache dir, key, source, signature) lines on stdin
and answer on stdout. `JITGRAD_COMPILE_WORKERS=N` sets how many (default: cores - 1, at most
4; 0 turns this off). A helper that fails or dies only means its kernels are compiled here.
"""
from __future__ import annotations

import atexit
import json
import os
import pathlib
import subprocess
import sys
import threading

MIN_JOBS = 3          # fewer new kernels than this: a helper's start-up (~0.5 s) does not pay

_BUSY = threading.Lock()     # one batch in flight: answers come back in the order asked
_WORKERS: list = []


def worker_count():
    env = os.environ.get("JITGRAD_COMPILE_WORKERS")
    if env is not None:
        try:
            return max(0, int(env))
        except ValueError:
            return 0
    return max(0, min((os.cpu_count() or 1) - 1, 4))


def _start():
    root = str(pathlib.Path(__file__).resolve().parent.parent)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([root] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    return subprocess.Popen([sys.executable, "-m", "codegen.compile_pool"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
                            cwd=root, bufsize=1)


def _alive():
    global _WORKERS
    _WORKERS = [w for w in _WORKERS if w.poll() is None]
    while len(_WORKERS) < worker_count():
        try:
            _WORKERS.append(_start())
        except OSError:
            break
    return _WORKERS


class Batch:
    """Jobs handed to helpers; `wait()` returns the keys they compiled (and frees the helpers)."""

    def __init__(self, sent, owns_lock=False):
        self.sent = sent            # [(worker, [keys])]
        self.owns_lock = owns_lock

    def wait(self):
        done = set()
        try:
            for w, keys in self.sent:
                for _ in keys:
                    try:
                        line = w.stdout.readline()
                        r = json.loads(line) if line else None
                    except (OSError, ValueError):
                        r = None
                    if r is None:   # the helper died: the caller compiles what is left
                        break
                    if r.get("ok"):
                        done.add(r["key"])
        finally:
            if self.owns_lock:
                self.owns_lock = False
                _BUSY.release()
        return done


def submit(jobs):
    """Hand jobs [(cache dir, key, source, signature)] to helpers, round-robin, leaving one
    share (every job not in `Batch.sent`) to the caller."""
    if len(jobs) < MIN_JOBS or worker_count() == 0 or not _BUSY.acquire(blocking=False):
        return Batch([])            # (another thread's batch is in flight: compile here)
    try:
        workers = _alive()
        if not workers:
            _BUSY.release()
            return Batch([])
        lanes = len(workers) + 1
        sent = []
        for i, w in enumerate(workers):
            share = jobs[i + 1::lanes]
            if not share:
                continue
            try:
                for d, key, source, sig in share:
                    w.stdin.write(json.dumps({"dir": str(d), "key": key, "source": source,
                                              "sig": list(sig)}) + "\n")
                w.stdin.flush()
            except OSError:         # a dead helper: its share stays with the caller
                continue
            sent.append((w, [j[1] for j in share]))
    except BaseException:
        _BUSY.release()
        raise
    return Batch(sent, owns_lock=True)


_WRITE = threading.Lock()


def running():
    """Whether a helper is up already (no start-up to pay)."""
    return any(w.poll() is None for w in _WORKERS)


def share(jobs):
    """Hand LLVM kernel jobs [(cache dir, key, source, signature)] to a helper, which compiles
    them into the disk cache in this order (give it the caller's list reversed) and answers
    nothing: the caller compiles from the front meanwhile, and each kernel's file lock decides
    who compiles it and who loads it (a helper still starting takes none: never slower)."""
    if not jobs or worker_count() == 0:
        return False
    with _WRITE:
        workers = _alive()
        if not workers:
            return False
        try:
            for d, key, source, sig in jobs:
                workers[0].stdin.write(json.dumps({"dir": str(d), "key": key, "source": source,
                                                   "sig": list(sig), "compiler": "llvm"}) + "\n")
            workers[0].stdin.flush()
        except OSError:
            return False
    return True


@atexit.register
def _shutdown():
    for w in _WORKERS:
        try:
            w.stdin.close()         # the helper's loop ends at end of input
            w.wait(timeout=2)
        except (OSError, subprocess.TimeoutExpired):
            w.kill()
        finally:
            w.stdout.close()


def main():
    """The helper: compile each requested kernel into the cache, answer one line per job."""
    from codegen import llvm_cpu
    for line in sys.stdin:
        try:
            req = json.loads(line)
        except ValueError:
            continue
        if req.get("compiler") == "llvm":      # no answer: the caller does not wait for these
            try:
                llvm_cpu.build(req["source"], tuple(map(tuple, req["sig"])), req["key"], pathlib.Path(req["dir"]))
            except Exception:                   # (the caller compiles it itself)
                pass
            continue
        from codegen.numba_cpu import _compile_disk
        try:
            _compile_disk(pathlib.Path(req["dir"]), req["key"], req["source"], tuple(map(tuple, req["sig"])))
            out = {"key": req["key"], "ok": True}
        except Exception as exc:   # reported, and the caller compiles it itself
            out = {"key": req.get("key"), "ok": False, "error": repr(exc)}
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
