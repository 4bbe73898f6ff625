"""Every ``__init__`` of the oracle has an explicit ``__all__`` whose names resolve."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize("module", ["rmqueue.oracle", "rmqueue.oracle.adapters"])
def test_all_names_resolve(module: str) -> None:
    mod = importlib.import_module(module)
    assert mod.__all__ == sorted(mod.__all__)
    for name in mod.__all__:
        assert getattr(mod, name) is not None, name


def test_serve_start_does_not_import_hypothesis() -> None:
    import subprocess
    import sys

    code = ("import sys, rmqueue.oracle.cli as c; c.build_parser(); "
            "print('hypothesis' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False"
