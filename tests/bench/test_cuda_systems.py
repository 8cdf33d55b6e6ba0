"""The GPU systems of the harness (jitgrad-cuda), built under the CUDA simulator on small
inputs: device arguments, synchronisation and the correctness check's conversion work, so a
session with a GPU can time W1 and W2 straight away. Timing itself needs the GPU."""
import numpy as np
import pytest

from codegen import numba_cuda as nc

if not nc.cuda_usable():
    pytest.skip("no GPU and NUMBA_ENABLE_CUDASIM is not set", allow_module_level=True)

from bench import workloads as W  # noqa: E402
from bench.systems import SYSTEMS, _build_jitgrad_cuda, to_numpy  # noqa: E402

pytestmark = pytest.mark.cuda


def _small(wid):
    r = np.random.default_rng(0)
    if wid == "W1":
        return W.w1_make(True, n=50)
    ps = W._mlp_params(r, (6, 5, 5, 3), np.float32)
    return ps + [r.standard_normal((4, 6)).astype(np.float32), np.array([0, 2, 1, 1])], tuple(range(6))


@pytest.mark.parametrize("wid", ["W1", "W2"])
def test_jitgrad_cuda_system_agrees_with_the_numpy_reference(wid):
    w = W.WORKLOADS[wid]
    args, argnums = _small(wid)
    run = _build_jitgrad_cuda(w, args, argnums, threads=1)
    value, grads = run()
    want_v, want_g = w.numpy_vg([a.astype(np.float64) if a.dtype.kind == "f" else a for a in args], argnums)
    np.testing.assert_allclose(float(to_numpy(value)), want_v, rtol=1e-5)
    assert len(grads) == len(want_g)
    for g, e in zip(grads, want_g):
        np.testing.assert_allclose(to_numpy(g), e, rtol=1e-4, atol=1e-6)


def test_gpu_systems_say_why_they_cannot_run():
    for name in ("jitgrad-cuda", "torch-cuda"):
        s = SYSTEMS[name]
        assert s.workloads == ("W1", "W2")
        why = s.unavailable()
        assert why is None or "GPU" in why or "import" in why
