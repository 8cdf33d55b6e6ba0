"""The CUDA backend (codegen.numba_cuda) against the eager NumPy reference.

Runs under the CUDA simulator in CI (`NUMBA_ENABLE_CUDASIM=1 pytest tests -m cuda`, its own
process: the variable must be set before numba is imported) or on a real GPU; skips otherwise.
Arrays are small (a few blocks: the simulator runs each CUDA thread as a Python thread).
"""
import os

import numpy as np
import pytest

from codegen import numba_cuda as nc
from codegen import Options, compile_program, format_kernel, run_pipeline
from codegen.backends import resolve_backend
from codegen.lower import SMALL_K, SMALL_MATMUL

if not nc.cuda_usable():
    pytest.skip("no GPU and NUMBA_ENABLE_CUDASIM is not set", allow_module_level=True)

import jitgrad as jg  # noqa: E402
import tracer  # noqa: E402
from tracer.primitives import PRIMS  # noqa: E402

# the simulator runs tracer.rng's hash on NumPy scalars, which warn where the device wraps
pytestmark = [pytest.mark.cuda, pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")]
if nc.simulator_enabled():
    # the simulator runs a block's threads as Python threads and syncthreads as a barrier
    # among them: at the default 5 ms GIL switch interval each barrier costs milliseconds
    import sys
    sys.setswitchinterval(1e-5)
CACHE = os.environ.get("JITGRAD_CACHE_DIR")


def _r(*shape, dtype=np.float32, seed=0, lo=None):
    a = np.random.default_rng(seed + len(shape)).standard_normal(shape)
    if lo is not None:
        a = np.abs(a) + lo
    return a.astype(dtype)


def check(f, *args, rtol=None, atol=None):
    """Compile f's value-and-grad Program for CUDA; compare every output with tracer.evaluate."""
    program = tracer.trace_value_and_grad(f, *args)
    compiled = nc.compile_cuda(program, CACHE)
    full = list(args) + list(program.const_values())
    got = compiled(*full)
    want = tracer.evaluate(program, *full)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert isinstance(g, np.ndarray)
        assert g.shape == w.shape and g.dtype == w.dtype, (g.shape, w.shape, g.dtype, w.dtype)
        lo = w.dtype in (np.float32, np.complex64)
        np.testing.assert_allclose(g, w, rtol=rtol or (2e-5 if lo else 1e-10),
                                   atol=atol or (2e-5 if lo else 1e-10), equal_nan=True)
    return compiled


# every primitive, through a small function whose value and gradients exercise it
UNARY = {
    "neg": lambda a: -a, "exp": jg.exp, "log": jg.log, "log1p": jg.log1p, "expm1": jg.expm1,
    "sqrt": jg.sqrt, "sin": jg.sin, "cos": jg.cos, "tanh": jg.tanh, "sigmoid": jg.sigmoid,
    "softplus": jg.softplus, "relu": jg.relu, "abs": jg.abs, "erf": jg.erf,
}
POSITIVE = {"log", "sqrt", "log1p"}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary(name, dtype):
    x = _r(37, dtype=dtype, lo=0.1 if name in POSITIVE else None)
    check(lambda a: jg.sum(UNARY[name](a) * a), x)


BINARY = {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b, "pow": lambda a, b: a ** b, "maximum": jg.maximum,
    "minimum": jg.minimum,
}


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_broadcasting(name):
    a = _r(3, 9, lo=0.5)
    b = _r(9, seed=3, lo=0.5)
    check(lambda x, y: jg.sum(BINARY[name](x, y) * x), a, b)


def test_comparisons_logical_where_sign_cast_stop_gradient():
    a, b = _r(4, 9), _r(4, 9, seed=5)
    b[0, :3] = a[0, :3]  # ties

    def f(x, y):
        m = ((x < y) & (x <= 0.3)) | ~(x > y) | (x >= y) & (x == y) | (x != 0.1)
        s = jg.where(m, x * y, y) + jg.sign(x) * x + (x > 0).astype(np.float32) * y
        return jg.sum(s + tracer.ops.stop_gradient(x) * y)
    check(f, a, b)


def test_cast_float64():
    check(lambda x: jg.sum(x.astype(np.float64) ** 2), _r(20))


@pytest.mark.parametrize("shape,axis,keepdims", [
    ((37,), None, False),          # block tree with partial blocks and a second pass
    ((5, 3), 1, True),             # one thread per output (short reduction)
    ((4, 19), 1, False),           # a block per output
    ((3, 4, 5), (0, 2), True),
    ((40, 70), 0, False),          # many columns: a thread per column (coalesced), not a block
])
def test_reductions(shape, axis, keepdims):
    x = _r(*shape)
    check(lambda a: jg.sum(jg.sum(a, axis=axis, keepdims=keepdims) ** 2)
          + jg.sum(jg.max(a, axis=axis, keepdims=keepdims)), x)


def test_max_ties_and_logsumexp_softmax():
    x = _r(3, 11)
    x[1, 2] = x[1, 7] = 5.0
    check(lambda a: jg.sum(jg.max(a, axis=1)) + jg.sum(jg.logsumexp(a, axis=0))
          + jg.sum(jg.softmax(a, axis=1) * a), x)


# small products are reduction loops in the IR; above SMALL_MATMUL (M*N*K) a MatMul statement,
# the tiled kernel (several tiles of the simulator's 4x4, partial edge tiles, batches)
@pytest.mark.parametrize("sa,sb", [((5, 7), (7, 6)), ((2, 3, 9), (9, 5)), ((1, 6), (6, 1)),
                                   ((2, 1, 4, 5), (3, 5, 2)), ((9, 17), (17, 15)), ((2, 9, 17), (17, 15)),
                                   ((2, 1, 9, 17), (3, 17, 15))])
def test_matmul(sa, sb):
    c = check(lambda a, b: jg.sum(jg.tanh(a @ b)), _r(*sa), _r(*sb, seed=1))
    tiled = sa[-2] * sb[-1] * sa[-1] > SMALL_MATMUL and sa[-1] > SMALL_K
    assert ("matmul [" in c.schedule) == tiled, c.schedule


def test_matmul_float64_transposed_operands():
    check(lambda x: jg.sum((x.T @ x) * 0.5), _r(6, 5, dtype=np.float64))
    c = check(lambda x: jg.sum((x.T @ x) * 0.5), _r(21, 11, dtype=np.float64))
    assert c.schedule.count("matmul [") >= 2, c.schedule   # forward and its transposed backward


def test_views_reshape_transpose_broadcast():
    x = _r(3, 4)
    check(lambda a: jg.sum(a.reshape(6, 2).T * jg.broadcast_to(a.reshape(12)[:2].reshape(2, 1), (2, 6))), x)
    check(lambda a: jg.sum(jg.expand_dims(a, 0).transpose(2, 0, 1) * jg.squeeze(a.reshape(1, 3, 4))[0].reshape(4, 1, 1)), x)


def test_getitem_slices_ints_newaxis():
    x = _r(6, 9)
    check(lambda a: jg.sum(a[1:, ::2][:, :4] * a[:-1, 1::2]) + jg.sum(a[2] * a[-1, None]), x)
    check(lambda a: jg.sum(a[::-2, 3:0:-1] ** 2), x)


def test_getitem_integer_arrays_and_index_add():
    x = _r(5, 4)
    idx = np.array([0, 3, 3, -1])
    check(lambda a: jg.sum(a[idx] ** 2) + jg.sum(a[idx, np.array([1, 0, 2, 2])] * 3), x)
    check(lambda a: jg.sum(a[1:3, idx[:2]] ** 2) + jg.sum(a[0, :, None][idx[:3]]), x)


def test_concatenate_stack():
    a, b = _r(3, 4), _r(3, 2, seed=2)
    check(lambda x, y: jg.sum(jg.concatenate([x, y * 2, x], axis=1) ** 2), a, b)
    check(lambda x: jg.sum(jg.stack([x, x * x], axis=0) ** 3), _r(5))


def test_zero_d_and_empty():
    check(lambda a: a * a + jg.sin(a), np.array(0.7, np.float32))
    check(lambda a: jg.sum(a * 2), np.zeros((0, 3), np.float32))


def test_windows_and_counter_based_random():
    """Convolution by im2col + GEMM, padded max pooling, col2im, a uniform mask: the CUDA
    kernels compute what eager NumPy does, mask bits included (tracer.rng on the device)."""
    from tracer import ops as T

    def f(x, w, seed):
        cols = T.unfold(x, (3, 3), (1, 2), (1, 1), (2, 1), (2, 3))
        y = T.reshape(w, (2, 18)) @ T.reshape(cols, (18, 6))
        pool = T.max(T.unfold(x, (2, 2), (2, 2), (1, 1), (1, 1), (3, 3), fill=-np.inf), (1, 2))
        keep = T.uniform(seed, x.shape) > 0.4
        return jg.sum(jg.tanh(y)) + jg.sum(pool * pool) + jg.sum(T.where(keep, x * x, 0.0))
    check(f, _r(1, 2, 4, 5), _r(2, 2, 3, 3, seed=1), np.array(12345, np.int64))


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_complex_numbers(dtype):
    """cmath on the device, |z| and the real part as real values, conjugates in the gradients."""
    from tracer import ops as T
    rng = np.random.default_rng(3)
    z, w = ((rng.standard_normal((3, 4)) + 1j * rng.standard_normal((3, 4))).astype(dtype) for _ in range(2))

    def f(z, w):
        a = (T.exp(z * 0.3) * T.sin(z) - T.cos(z) + T.log(z) / T.sqrt(z) + T.tanh(z)
             + T.expm1(z * 0.2) * T.log1p(z) + T.conj(z) * w + z ** 3 - z / w)
        return jg.sum(jg.abs(a @ w.T) ** 2) + jg.sum(jg.real(a * jg.mean(w, 0))) + jg.sum(jg.imag(a))
    check(f, z, w, **({"rtol": 2e-4, "atol": 2e-4} if dtype == np.complex64 else {}))


def test_every_primitive_is_covered():
    """Catch new primitives: every one in the table must be exercised above."""
    covered = set(UNARY) | set(BINARY) | {
        "lt", "le", "gt", "ge", "eq", "ne", "logical_and", "logical_or", "logical_not", "where",
        "sign", "cast", "stop_gradient", "reduce_sum", "reduce_max", "matmul", "reshape",
        "transpose", "broadcast_to", "getitem", "index_add", "concatenate", "unfold", "fold", "uniform",
        "zero_dep",   # in every relu/abs program above (their VJPs under create_graph)
        "conj"}       # test_complex_numbers
    assert set(PRIMS) <= covered, sorted(set(PRIMS) - covered)


def test_fusion_w1_is_one_split_reduction():
    """W1 (value and both gradients) is one loop nest in the loop IR, the same nest the CPU
    backend gets; on the GPU it is one reduction split over blocks: partials, then combine."""
    x, w = _r(40), _r(40, seed=1)
    f = lambda a, b: jg.sum(jg.tanh(a * b + 0.5) ** 2 * jg.exp(-a * a) + jg.sigmoid(b))  # noqa: E731
    c = check(f, x, w)
    cpu = run_pipeline(tracer.trace_value_and_grad(f, x, w), Options(parallel=False))
    assert format_kernel(c.kernel) == format_kernel(cpu)
    assert [s.split()[-1] for s in c.schedule.splitlines()] == ["partials", "rest"], c.schedule
    assert "@cuda.jit(cache=True)" in c.source and "cuda.shared.array" in c.source


def test_every_launch_kind_of_the_schedule():
    """One thread per point, a block per point sharing inner loops, a loop split over blocks
    with partials, the tiled matmul: each agrees with eager (check) and appears in the schedule."""
    def mlp(w1, w2, x):
        return jg.sum(jg.softmax(jg.tanh(x @ w1) @ w2, axis=1) ** 2)
    c = check(mlp, _r(12, 16) * 0.3, _r(16, 9, seed=1) * 0.3, _r(40, 12, seed=2))
    for kind in ("a thread per point", "sharing inner loops", "partials", "combine", "matmul ["):
        assert kind in c.schedule, (kind, c.schedule)


def test_index_out_of_bounds_raises_instead_of_reading_outside():
    x, idx = _r(3, 4), np.array([0, 2])
    program = tracer.trace_value_and_grad(lambda a, i: jg.sum(a[i] ** 2), x, idx)
    c = nc.compile_cuda(program, CACHE)
    np.testing.assert_allclose(c(x, np.array([0, -1]))[1], tracer.evaluate(program, x, np.array([0, -1]))[1])
    for bad in ([0, 3], [-4, 0]):
        with pytest.raises(IndexError, match="out of bounds"):
            c(x, np.array(bad))
    np.testing.assert_allclose(c(x, idx)[0], tracer.evaluate(program, x, idx)[0])  # the flag is reset


def test_device_argument_errors_name_the_argument():
    from numba import cuda
    program = tracer.trace_value_and_grad(lambda a: jg.sum(a * a), _r(3, 4))
    c = nc.compile_cuda(program, CACHE)
    with pytest.raises(ValueError, match="argument 0 .*non-contiguous"):
        c(cuda.to_device(_r(3, 8))[:, ::2])
    with pytest.raises(TypeError, match=r"argument 0 .*float64\[3, 4\].*float32\[3, 4\]"):
        c(cuda.to_device(_r(3, 4, dtype=np.float64)))


# ----------------------------------------------------------------------------- device arrays
def test_device_in_device_out_host_in_host_out():
    from numba import cuda
    x, w = _r(20), _r(20, seed=1)
    program = tracer.trace_value_and_grad(lambda a, b: jg.sum(jg.tanh(a * b)), x, w)
    c = nc.compile_cuda(program, CACHE)
    host = c(x, w)
    assert all(isinstance(h, np.ndarray) for h in host)
    dx, dw = cuda.to_device(x), cuda.to_device(w)
    dev = c(dx, dw)
    assert all(nc.is_device_array(d) for d in dev)
    assert dev[0].shape == () and dev[1].shape == (20,)
    for d, h in zip(dev, host):
        np.testing.assert_allclose(d.copy_to_host(), h, rtol=1e-6)
    # mixed: one parameter on the device, one host array: results on the device
    mixed = c(dx, w)
    assert all(nc.is_device_array(d) for d in mixed)
    # outputs can be fed back in (parameters stay on the device across calls)
    again = c(dev[1], dw)
    np.testing.assert_allclose(again[1].copy_to_host(),
                               tracer.evaluate(program, host[1], w)[1], rtol=1e-5, atol=1e-6)


def test_clear_error_without_gpu_or_simulator(monkeypatch):
    monkeypatch.setattr(nc, "simulator_enabled", lambda: False)
    monkeypatch.setattr(nc, "gpu_available", lambda: False)
    program = tracer.trace_value_and_grad(lambda a: jg.sum(a * a), _r(3))
    with pytest.raises(nc.CudaUnavailableError) as info:
        nc.compile_cuda(program)
    msg = str(info.value)
    assert "backend='cuda'" in msg and "no GPU" in msg
    assert "backend='cpu'" in msg and "NUMBA_ENABLE_CUDASIM=1" in msg
    assert resolve_backend("auto").name == "cpu"
    with pytest.raises(nc.CudaUnavailableError):
        compile_program(program, backend="cuda")


def test_auto_picks_cpu_under_the_simulator_cuda_when_gpu(monkeypatch):
    assert resolve_backend("auto").name == ("cuda" if nc.gpu_available() else "cpu")
    monkeypatch.setattr(nc, "gpu_available", lambda: True)
    assert resolve_backend("auto").name == "cuda"
    assert resolve_backend("cpu").name == "cpu"


def test_disk_cache_file(tmp_path):
    program = tracer.trace_value_and_grad(lambda a: jg.sum(jg.exp(a)), _r(5))
    c1 = nc.compile_cuda(program, str(tmp_path))
    files = list((tmp_path / "cuda").glob("*.py"))
    assert len(files) == 1 and files[0].read_text().partition("\n")[2] == c1.source
    assert c1.key.startswith("cuda-")


@pytest.mark.parametrize("damage", ["truncated", "foreign"])
def test_corrupt_cache_file_is_rebuilt(tmp_path, damage):
    """The CPU cache's guarantee for CUDA modules too: a damaged or foreign file is reported and
    rewritten, and the program still computes eager's result."""
    import sys
    k = {"truncated": 3.25, "foreign": 4.75}[damage]    # a module of its own (not one this process loaded)
    program = tracer.trace_value_and_grad(lambda a: jg.sum(jg.exp(a) * k), _r(5))
    c1 = nc.compile_cuda(program, str(tmp_path))
    (path,) = (tmp_path / "cuda").glob("*.py")
    text = path.read_text()
    path.write_text(text[: len(text) // 2] if damage == "truncated" else "# jitgrad kernel other sha256=0\n" + c1.source)
    sys.modules.pop(path.stem)
    with pytest.warns(RuntimeWarning, match="corrupt"):
        c2 = nc.compile_cuda(program, str(tmp_path))
    assert not c2.from_disk_cache and path.read_text() == text
    for got, want in zip(c2(_r(5)), tracer.evaluate(program, _r(5))):
        np.testing.assert_allclose(got, want, rtol=1e-5)


# ----------------------------------------------------------------------------- jit_grad end to end
def test_jit_grad_cuda_clear_error(monkeypatch):
    monkeypatch.setattr(nc, "simulator_enabled", lambda: False)
    monkeypatch.setattr(nc, "gpu_available", lambda: False)
    with pytest.raises(nc.CudaUnavailableError, match="no GPU"):
        jg.jit_grad(lambda a: jg.sum(a * a), backend="cuda")(_r(3))


def test_jit_grad_cuda_w1():
    def w1(x, w):
        return jg.sum(jg.tanh(x * w + 0.5) ** 2 * jg.exp(-x * x) + jg.sigmoid(w))
    x, w = _r(50), _r(50, seed=1)
    f = jg.jit_grad(w1, argnums=(0, 1), backend="cuda", cache_dir=CACHE)
    v, (gx, gw) = f(x, w)
    ev, (ex, ew) = jg.value_and_grad(w1, argnums=(0, 1))(x, w)
    np.testing.assert_allclose(np.asarray(v), np.asarray(ev), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(gx), np.asarray(ex), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(gw), np.asarray(ew), rtol=1e-5, atol=1e-6)
    # device arrays in: device arrays out, same values, same compiled signature
    from numba import cuda
    dv, (dgx, dgw) = f(cuda.to_device(x), cuda.to_device(w))
    assert nc.is_device_array(dgx) and nc.is_device_array(dgw)
    np.testing.assert_allclose(dgx.copy_to_host(), np.asarray(ex), rtol=1e-5, atol=1e-6)
    misses = f.cache_info().misses
    f(dgx, cuda.to_device(w))  # device outputs fed back: a cached call, no recompilation
    assert f.cache_info().misses == misses and f.cache_info().hits >= 1


def test_jit_grad_cuda_small_mlp():
    rng = np.random.default_rng(0)
    params = {"W1": rng.standard_normal((6, 8)).astype(np.float32) * 0.3,
              "b1": np.zeros(8, np.float32),
              "W2": rng.standard_normal((8, 3)).astype(np.float32) * 0.3,
              "b2": np.zeros(3, np.float32)}
    x = rng.standard_normal((5, 6)).astype(np.float32)
    y = np.array([0, 2, 1, 1, 0])

    def loss(p, x, y):
        h = jg.relu(x @ p["W1"] + p["b1"])
        logits = h @ p["W2"] + p["b2"]
        return -jg.mean(jg.log_softmax(logits, axis=1)[np.arange(5), y])
    v, g = jg.jit_grad(loss, backend="cuda", cache_dir=CACHE)(params, x, y)
    ev, eg = jg.value_and_grad(loss)(params, x, y)
    np.testing.assert_allclose(np.asarray(v), np.asarray(ev), rtol=1e-5)
    for k in params:
        np.testing.assert_allclose(np.asarray(g[k]), np.asarray(eg[k]), rtol=1e-4, atol=1e-6)


def test_kernels_type_for_the_real_cuda_target():
    """The simulator runs kernels as Python; type and lower them for a GPU (no GPU needed)."""
    import subprocess
    import sys
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    r = subprocess.run([sys.executable, "-m", "codegen.cuda_ptxcheck"], cwd=root, env=env,
                       capture_output=True, text=True, timeout=300)
    if r.returncode and ("NvvmSupportError" in r.stderr or "libNVVM" in r.stderr):
        pytest.skip("NVVM not available")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "kernels typed and lowered" in r.stdout
