"""Test-session set-up: one kernel cache directory shared by every test (and by the
subprocesses tests start), so each program is compiled once per session at most."""
import os
import pathlib

import numpy as np
import pytest

CACHE_DIR = pathlib.Path(__file__).resolve().parent.parent / ".pytest_cache" / "jitgrad-kernels"
os.environ.setdefault("JITGRAD_CACHE_DIR", str(CACHE_DIR))
os.environ.setdefault("JITGRAD_VERIFY_IR", "1")   # every compile verifies its IR after every pass
pathlib.Path(os.environ["JITGRAD_CACHE_DIR"]).mkdir(parents=True, exist_ok=True)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def kernel_cache_dir():
    return pathlib.Path(os.environ["JITGRAD_CACHE_DIR"])


@pytest.fixture(params=["llvm", "numba"])
def kernel_compiler(request, monkeypatch):
    """Each of the two ways a loop-nest kernel is compiled (codegen.llvm_cpu, or Numba)."""
    from codegen import llvm_cpu
    monkeypatch.setattr(llvm_cpu, "COMPILER", request.param)
    return request.param
