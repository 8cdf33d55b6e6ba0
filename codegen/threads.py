"""The worker threads that run a parallel loop nest's iteration ranges.

A parallel kernel is compiled serial (Numba's `parallel=True` made each loop-nest kernel cost
3-4x more to compile: 0.5-0.85 s against 0.15-0.2 s, measured), with its parallel loop's range
as arguments; the driver splits the range here and calls the kernel on each piece. Kernels
release the GIL (`nogil=True`), so the pieces run at once. Idle workers block on a queue: none
spins and takes a core from the BLAS call that comes next.
"""
from __future__ import annotations

import os
import queue
import threading

import numpy as np

_POOL = {"workers": [], "lock": threading.Lock()}


def num_threads():
    """NUMBA_NUM_THREADS when set (the harness and CI pin it), else the cores we may use."""
    n = os.environ.get("JITGRAD_NUM_THREADS") or os.environ.get("NUMBA_NUM_THREADS")
    if n:
        return max(1, int(n))
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def _worker(q):
    while True:
        fn, args, done = q.get()
        try:
            fn(*args)
            done.put(None)
        except BaseException as e:     # re-raised in the calling thread
            done.put(e)


def _workers(n):
    with _POOL["lock"]:
        ws = _POOL["workers"]
        while len(ws) < n:
            q = queue.SimpleQueue()
            threading.Thread(target=_worker, args=(q,), daemon=True, name=f"jitgrad-{len(ws)}").start()
            ws.append(q)
        return ws[:n]


def prun(kernel, args, n, extra=(), cost=None):
    """kernel(*args, lo, hi, 0, *extra) over [0, n) in contiguous pieces, one per thread, the
    calling thread taking the first. `extra`: the per-chunk partial-result arrays."""
    t = min(num_threads(), n)
    if t <= 1:
        kernel(*args, 0, n, 0, *extra)
        return
    bounds = [n * i // t for i in range(t + 1)]
    done = queue.SimpleQueue()
    for q, lo, hi in zip(_workers(t - 1), bounds[1:-1], bounds[2:]):
        q.put((kernel, (*args, lo, hi, 0, *extra), done))
    err = None
    try:
        kernel(*args, bounds[0], bounds[1], 0, *extra)
    except BaseException as e:
        err = e
    for _ in range(t - 1):
        e = done.get()
        err = err or e
    if err is not None:
        raise err


SMALL_GEMM = 1 << 19     # multiply-adds of one matrix product that OpenBLAS runs on one thread


def bmatmul(a, b, out, split_a, split_b):
    """np.matmul of a stack of small matrices (attention's heads: 128x32 @ 32x128), the stack
    split between the worker threads: OpenBLAS runs each such product on one thread, so a stack
    of them used one core (W9's six head matmuls: 0.31 -> 0.21 ms each, torch's bmm 0.19).
    `split_a`/`split_b` (decided when the driver is rendered): the operand has the stack's
    leading axis; one without it (broadcast) is passed whole."""
    prun(_matmul_rows, (a, b, out, split_a, split_b), out.shape[0])


def _matmul_rows(a, b, out, split_a, split_b, lo, hi, _phase):
    np.matmul(a[lo:hi] if split_a else a, b[lo:hi] if split_b else b, out=out[lo:hi])
