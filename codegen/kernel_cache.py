"""The disk cache of compiled kernels: one module for every backend and process on the machine.

Entries are content-addressed: a key hashes everything a kernel depends on (its source, its
signature, the versions of jitgrad and of the compilers), so an entry never needs invalidating
and two programs (or processes) that need the same kernel share one file. The guarantees, the
same for the CPU kernels (`jg_<key>.py` and llvm_cpu's `jgl_<key>.o`) and the CUDA modules
(`cuda/jitgrad_cuda_<key>.py`):
- writes are atomic (a temp file, then os.replace): a reader sees the old file or the new one;
- one process compiles a key while the others wait on its flock, then load what it wrote;
- every file carries its key and a checksum of its body: a corrupt or foreign file is reported,
  removed together with what the compiler cached from it (Numba's `__pycache__` entries), and
  rebuilt; a load that still fails is retried once from a fresh file;
- a directory that cannot be written is reported once per call and the kernel is compiled in
  memory instead.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import os
import pathlib
import sys
import tempfile
import threading
import warnings

from tracer import __version__ as JITGRAD_VERSION


def content_key(*parts) -> str:
    h = hashlib.sha256()
    for part in (*parts, JITGRAD_VERSION, sys.version):
        h.update(str(part).encode())
        h.update(b"\0")
    return h.hexdigest()[:32]


def source_fingerprint(paths) -> str:
    """A hash of the files' contents (missing ones skipped): part of a key, so that an entry made
    by other code (the compiler's own source) is never taken for this code's."""
    h = hashlib.sha256()
    for f in paths:
        try:
            h.update(pathlib.Path(f).read_bytes())
        except OSError:
            pass
    return h.hexdigest()


def default_cache_dir():
    env = os.environ.get("JITGRAD_CACHE_DIR")
    if env:
        return pathlib.Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(base) / "jitgrad"


def cache_path(cache_dir, sub=None):
    """cache_dir as given to compile_program: None (the default directory), False (none), a path."""
    if cache_dir is False:
        return None
    d = pathlib.Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return d / sub if sub else d


def usable_dir(d):
    """The cache directory, created; None (with a warning) where it cannot be written."""
    if d is None:
        return None
    try:
        d.mkdir(parents=True, exist_ok=True)
        if not os.access(d, os.W_OK):
            raise PermissionError(f"{d} is not writable")
        return d
    except OSError as exc:
        warnings.warn(f"jitgrad: kernel cache directory {d} unusable ({exc}); compiling in memory only",
                      RuntimeWarning)
        return None


def write_atomic(path: pathlib.Path, data):
    """Write text or bytes so that readers see the old file or the whole new one."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb" if isinstance(data, bytes) else "w") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def locked(d: pathlib.Path, stem: str):
    """This key's lock across processes: one compiles, the others wait and then load."""
    with open(d / f"{stem}.lock", "a+") as lockf:
        fcntl.flock(lockf, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lockf, fcntl.LOCK_UN)


_KEY_LOCKS: dict = {}
_GLOBAL_LOCK = threading.Lock()


def key_lock(key):
    """This key's lock among the threads of this process."""
    with _GLOBAL_LOCK:
        lk = _KEY_LOCKS.get(key)
        if lk is None:
            lk = _KEY_LOCKS[key] = threading.Lock()
        return lk


# ----------------------------------------------------------------------------- checked files
def _header(key, body: str):
    return f"# jitgrad kernel {key} sha256={hashlib.sha256(body.encode()).hexdigest()}\n"


def _valid(text, key):
    first, _, body = text.partition("\n")
    return first == _header(key, body).rstrip("\n")


def seal(tag: bytes, key, payload: bytes):
    """Binary entries (object code): tag, key and a checksum ahead of the payload."""
    return tag + key.encode() + b"\n" + hashlib.sha256(payload).digest() + payload


def unseal(path: pathlib.Path, tag: bytes, key):
    """The payload `seal` wrote for `key`, or None (missing; corrupt or another key's: warned)."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    head = tag + key.encode() + b"\n"
    n = len(head)
    if data.startswith(head) and len(data) > n + 32 and hashlib.sha256(data[n + 32:]).digest() == data[n:n + 32]:
        return data[n + 32:]
    _corrupt(path)
    return None


def _corrupt(path):
    warnings.warn(f"jitgrad: kernel cache file {path} is corrupt; recompiling it", RuntimeWarning)


def purge_compiler_cache(d: pathlib.Path, stem: str):
    """What Numba (or numba-cuda) cached from the module `stem` (its index and machine code)."""
    for f in (d / "__pycache__").glob(stem + ".*"):
        with contextlib.suppress(OSError):
            f.unlink()


def import_file(path: pathlib.Path, modname: str):
    sys.modules.pop(modname, None)
    spec = importlib.util.spec_from_file_location(modname, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[modname] = mod      # before exec: Numba's cache locator looks the module up
    try:
        spec.loader.exec_module(mod)
    except BaseException:
        sys.modules.pop(modname, None)
        raise
    return mod


def load_module(d: pathlib.Path, stem: str, key, body: str, load):
    """(load(module), found) for the checked module file `<d>/<stem>.py` holding `body`,
    written first where it is missing or corrupt; `found`: a valid file was there already.
    `load` compiles (or loads from the compiler's own cache beside the file) what the module
    defines; when it fails, the compiler's cache and the file are rebuilt and it runs once more."""
    path = d / f"{stem}.py"
    text = _header(key, body) + body
    with locked(d, stem):
        try:
            old = path.read_text()
        except (OSError, UnicodeDecodeError):
            old = None
        if old is not None and not _valid(old, key):
            _corrupt(path)
            purge_compiler_cache(d, stem)
            old = None
        if old is None:
            write_atomic(path, text)
        for attempt in range(2):
            try:
                return load(import_file(path, stem)), old is not None
            except Exception as exc:   # a damaged compiler cache: drop it and rebuild once
                if attempt:
                    raise
                warnings.warn(f"jitgrad: loading cached kernel {path} failed ({exc!r}); recompiling it",
                              RuntimeWarning)
                purge_compiler_cache(d, stem)
                write_atomic(path, text)
                old = None
