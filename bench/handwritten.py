"""Practical-limit reference for benchmark workload W1: a hand-written, fused, vectorised Numba
kernel for the value and both gradients of

    f(x, w) = sum(tanh(x*w + 0.5)**2 * exp(-x*x) + sigmoid(w))

for float32 x, w (2**22 elements in the benchmark). One pass over the data: each element reads
x[i], w[i] and writes gx[i], gw[i]; the value is accumulated in float64. Math comes from
`codegen.fastmath` (branch-free polynomial exp/tanh/sigmoid, which LLVM vectorises; np.exp in
the loop would be a scalar libm call).

With t = tanh(a), a = x*w + 0.5, g = exp(-x*x), s = sigmoid(w):
    df/dx = 2 t (1 - t^2) w g - 2 x t^2 g
    df/dw = 2 t (1 - t^2) x g + s (1 - s)

The kernel is `parallel=True` over `threads` equal contiguous chunks (prange). Each chunk runs
in blocks of 1024 elements: a float32 pass computes gradients and per-element terms (into a small
buffer), a second pass adds the terms into the chunk's float64 accumulator; the partial sums are added in chunk order, so the value is
deterministic for a given thread count. The kernel is compiled with fastmath={'reassoc'} so that
the float64 accumulation vectorises (in lanes); the fastmath functions are forcibly inlined but
keep their own strict (non-fastmath) instructions.

Run `python -m bench.handwritten` for a timing next to NumPy.
"""
import numba
import numpy as np
from numba import njit, prange

from codegen.fastmath import exp, sigmoid, tanh

_HALF = np.float32(0.5)
_ONE = np.float32(1.0)
_TWO = np.float32(2.0)


_BLOCK = 1024


@njit(parallel=True, fastmath={"reassoc"}, cache=True, nogil=True)
def _w1_kernel(x, w, gx, gw, partial):
    n = x.size
    nc = partial.size
    for c in prange(nc):
        lo = c * n // nc
        hi = (c + 1) * n // nc
        terms = np.empty(_BLOCK, np.float32)
        acc = 0.0
        for b0 in range(lo, hi, _BLOCK):
            m = min(_BLOCK, hi - b0)
            # Block views indexed from 0: LLVM sees unit-stride non-negative indices (with
            # range(lo, hi) Numba's negative-index wraparound turns the loads into gathers).
            xb, wb, gxb, gwb = x[b0:b0 + m], w[b0:b0 + m], gx[b0:b0 + m], gw[b0:b0 + m]
            # Pass 1, all float32 (vectorised 8/16-wide): gradients, and the terms into an
            # L1-resident buffer. Summing into a float64 accumulator in this loop would force
            # the whole loop down to the float64 vector width (measured ~1.7x slower).
            for i in range(m):
                xi = xb[i]
                wi = wb[i]
                t = tanh(xi * wi + _HALF)
                g = exp(-(xi * xi))
                s = sigmoid(wi)
                t2 = t * t
                t2g = t2 * g
                d = _TWO * t * (_ONE - t2) * g
                gxb[i] = d * wi - _TWO * xi * t2g
                gwb[i] = d * xi + s * (_ONE - s)
                terms[i] = t2g + s
            # Pass 2: float64 accumulation (vectorised in lanes thanks to reassoc).
            for i in range(m):
                acc += np.float64(terms[i])
        partial[c] = acc


def w1_value_and_grad(x, w, threads=2, out=None):
    """(value, gx, gw) of W1 for 1-D float32 arrays x, w of equal size.

    value is a Python float (accumulated in float64); gx, gw are float32 arrays (pass
    out=(gx, gw) to reuse buffers). `threads` Numba threads are used (capped at
    numba.config.NUMBA_NUM_THREADS); the previous thread count is restored afterwards.
    """
    x = np.ascontiguousarray(x, dtype=np.float32)
    w = np.ascontiguousarray(w, dtype=np.float32)
    if x.shape != w.shape or x.ndim != 1:
        raise ValueError("x and w must be 1-D arrays of the same size")
    if out is None:
        gx, gw = np.empty_like(x), np.empty_like(w)
    else:
        gx, gw = out
    threads = max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS))
    partial = np.zeros(threads, np.float64)
    prev = numba.get_num_threads()
    if prev != threads:
        numba.set_num_threads(threads)
    try:
        _w1_kernel(x, w, gx, gw, partial)
    finally:
        if prev != threads:
            numba.set_num_threads(prev)
    return float(partial.sum()), gx, gw


def w1_numpy(x, w):
    """NumPy eager reference (same formulas, float32 arrays, float64 sum)."""
    t = np.tanh(x * w + np.float32(0.5))
    g = np.exp(-(x * x))
    s = 1 / (1 + np.exp(-w))
    t2 = t * t
    d = 2 * t * (1 - t2) * g
    gx = d * w - 2 * x * t2 * g
    gw = d * x + s * (1 - s)
    value = float(np.sum(t2 * g + s, dtype=np.float64))
    return value, gx, gw


if __name__ == "__main__":
    import time

    def _median_ms(fn, *args, reps=20):
        fn(*args)
        ts = []
        for _ in range(reps):
            t0 = time.perf_counter()
            fn(*args)
            ts.append(time.perf_counter() - t0)
        return 1e3 * float(np.median(ts))

    rng = np.random.default_rng(0)
    n = 2 ** 22
    x = rng.standard_normal(n).astype(np.float32)
    w = rng.standard_normal(n).astype(np.float32)
    v, gx, gw = w1_value_and_grad(x, w)
    rv, rgx, rgw = w1_numpy(x, w)
    print(f"W1 n=2**22 float32  value={v:.6f} (numpy {rv:.6f})  "
          f"max|dgx|={np.max(np.abs(gx - rgx)):.2e} max|dgw|={np.max(np.abs(gw - rgw)):.2e}")
    for th in (1, 2):
        print(f"handwritten numba, {th} thread(s): {_median_ms(w1_value_and_grad, x, w, th):8.2f} ms"
              f"   (threading layer: {numba.threading_layer()})")
    print(f"numpy eager:                    {_median_ms(w1_numpy, x, w):8.2f} ms")
