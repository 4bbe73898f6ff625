"""The installed distribution must carry every subpackage of the source tree.

A strict editable or normal install copies only the packages pyproject.toml lists; a
subpackage missing from that list imports fine in a checkout but not once installed.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def listed_and_present() -> tuple[set[str], set[str]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    present = set()
    for name, directory in config["package-dir"].items():
        for init in (ROOT / directory).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / directory)
            present.add(".".join([name, *rel.parts]))
    return listed, present


def test_every_subpackage_is_listed_for_installation() -> None:
    listed, present = listed_and_present()
    assert present - listed == set(), "add these to [tool.setuptools] packages"
    assert listed - present == set(), "these listed packages have no __init__.py"
    assert "rmqueue.oracle.adapters" in present  # the check sees subpackages at all


def test_every_package_ships_py_typed() -> None:
    _, present = listed_and_present()
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    top = {n: ROOT / d for n, d in config["package-dir"].items()}
    for name in top:
        assert (top[name] / "py.typed").exists(), name
    assert set(config["package-data"]) == set(top)
