"""pytest plugin (entry point ``rmqueue``): run the oracle from a user's own test suite.

    def test_my_allocator(rmqueue_oracle):
        rmqueue_oracle("./build/my-alloc --protocol")      # fails the test on any finding

or with ``pytest --rmqueue-impl './build/my-alloc'`` and ``rmqueue_oracle()``.  The state
machine is importable too, for Hypothesis settings of your own::

    from rmqueue.oracle.machine import make_machine
    TestMyAllocator = make_machine("./build/my-alloc").TestCase

Found failures are kept in a directory example database (``.rmqueue/examples`` under the
rootdir; ``--rmqueue-redis URL`` shares them between machines) and replayed first next time.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("rmqueue", "rmqueue page-allocator oracle")
    group.addoption("--rmqueue-impl", metavar="CMD", help="implementation command line")
    group.addoption("--rmqueue-config", metavar="FILE", help="zone config JSON")
    group.addoption("--rmqueue-max-examples", type=int, default=50, metavar="N")
    group.addoption("--rmqueue-steps", type=int, default=60, metavar="N")
    group.addoption("--rmqueue-seed", type=int, default=None, metavar="S")
    group.addoption("--rmqueue-timeout", type=float, default=5.0, metavar="SECONDS")
    group.addoption("--rmqueue-report", metavar="DIR", help="where traces and reports go")
    group.addoption("--rmqueue-redis", metavar="URL", help="shared Redis example database")


@pytest.fixture
def rmqueue_oracle(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[..., Any]:
    """A function ``(impl=None, config=None, **fuzz_options) -> FuzzResult`` that fuzzes
    ``impl`` (a command line, ``python:MOD:ATTR`` or a factory of an in-process allocator)
    and fails the test, with the report, on any violation or implementation error."""
    opt = request.config.getoption

    def run(impl: Any = None, config: Any = None, **options: Any) -> Any:
        from rmqueue.model.config import ZoneConfig
        from rmqueue.oracle.fuzz import example_database, fuzz
        from rmqueue.oracle.fuzz_cli import load_config

        impl = impl if impl is not None else opt("rmqueue_impl")
        if impl is None:
            pytest.skip("no implementation to test: pass --rmqueue-impl CMD")
        if config is None:
            config = load_config(opt("rmqueue_config")) if opt("rmqueue_config") else None
        elif not isinstance(config, ZoneConfig):
            config = ZoneConfig.from_json(config)
        report = opt("rmqueue_report")
        db_dir = str(Path(str(request.config.rootpath)) / ".rmqueue" / "examples")
        options.setdefault("max_examples", opt("rmqueue_max_examples"))
        options.setdefault("steps", opt("rmqueue_steps"))
        options.setdefault("seed", opt("rmqueue_seed"))
        options.setdefault("timeout", opt("rmqueue_timeout"))
        options.setdefault("database", example_database(db_dir, opt("rmqueue_redis")))
        out = Path(report) / request.node.name if report else tmp_path / "rmqueue-report"
        result = fuzz(impl, config, report_dir=out, **options)
        if result.verdict.kind != "pass":
            text = result.report_path.read_text() if result.report_path else ""
            pytest.fail(
                f"rmqueue oracle: {result.verdict.kind} {result.verdict.name}: "
                f"{result.verdict.message}\ntrace: {result.trace_path}\n\n{text}",
                pytrace=False,
            )
        return result

    return run
