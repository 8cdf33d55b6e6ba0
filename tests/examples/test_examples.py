"""The examples run (a few steps each, in a subprocess from the examples folder); the digits
ones need scikit-learn (the examples extra) and skip without it."""
import importlib.util
import os
import subprocess
import sys

import pytest

HERE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "examples")


def _run(*argv, timeout=600):
    env = dict(os.environ, PYTHONPATH=os.path.dirname(HERE))
    r = subprocess.run([sys.executable, *argv], cwd=HERE, env=env, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout


def test_char_transformer_trains_and_samples():
    out = _run("char_transformer.py", "--steps", "4", "--plot", "")
    assert "4 steps in" in out and "sample: 'Beautiful is " in out


@pytest.mark.skipif(importlib.util.find_spec("sklearn") is None, reason="needs scikit-learn (the examples extra)")
def test_digits_cnn_one_epoch():
    out = _run("train_digits_cnn.py", "--epochs", "1", "--plot", "")
    assert "final:" in out and "traced signatures: 2" in out
