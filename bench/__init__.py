"""jitgrad benchmark harness: `python -m bench` (or `jitgrad-bench`), see `bench/__main__.py`.

Importing this package imports nothing heavy, so `python -m bench` can pin thread counts in the
environment before NumPy, Numba, PyTorch or JAX load."""
