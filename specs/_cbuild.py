"""Compile, cache and load the C record checks (:mod:`rmqueue.specs._crecords`).

The module is built with the system C compiler (``cc``, or ``$CC``) against this Python's
headers, once per generated source: the shared object is cached under
``$RMQUEUE_CACHE`` (default ``$XDG_CACHE_HOME/rmqueue`` or ``~/.cache/rmqueue``), named by a
hash of the source and the interpreter, and written atomically so that concurrent processes
can share it.  Where no compiler works (or ``RMQUEUE_NO_C=1``) :func:`load` returns None and
the checker keeps the Python evaluator of :mod:`rmqueue.specs._records`: the same instances,
only slower.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from functools import lru_cache
from pathlib import Path
from types import ModuleType

from ._crecords import c_source


def cache_dir() -> Path:
    """Where the compiled modules are kept."""
    env = os.environ.get("RMQUEUE_CACHE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "rmqueue"


def _compiler() -> str | None:
    cc = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    exe = cc.split()[0]
    return cc if shutil.which(exe) else None


@lru_cache(maxsize=16)
def load(max_order: int) -> ModuleType | None:
    """The compiled record-check module for ``max_order``, or None where it cannot be built
    (memoised per process: a pure function of its argument and the environment)."""
    if os.environ.get("RMQUEUE_NO_C"):
        return None
    src = c_source(max_order)
    tag = hashlib.sha256((src + sys.version + sysconfig.get_platform()).encode()).hexdigest()
    name = f"_rmq_records_{tag[:20]}"
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    try:
        out = cache_dir() / (name + suffix)
        if not out.exists():
            _build(src, name, out)
    except (OSError, subprocess.SubprocessError):
        try:
            out = Path(tempfile.gettempdir()) / "rmqueue-cache" / (name + suffix)
            if not out.exists():
                _build(src, name, out)
        except (OSError, subprocess.SubprocessError):
            return None
    spec = importlib.util.spec_from_file_location(name, out)
    if spec is None or spec.loader is None:
        return None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _build(src: str, name: str, out: Path) -> None:
    cc = _compiler()
    if cc is None:
        raise OSError("no C compiler")
    out.parent.mkdir(parents=True, exist_ok=True)
    include = sysconfig.get_paths()["include"]
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        c = Path(tmp) / (name + ".c")
        c.write_text(src)
        so = Path(tmp) / out.name
        cmd = [*cc.split(), "-O2", "-shared", "-fPIC", "-w", f"-I{include}",
               f"-DMODNAME_STR=\"{name}\"", f"-DPYINIT_NAME=PyInit_{name}",
               str(c), "-o", str(so)]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)
        os.replace(so, out)


__all__ = ["cache_dir", "load"]
