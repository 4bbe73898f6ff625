"""JUnit XML for CI: one test case per fuzz run, failed with the check's name."""

from __future__ import annotations

import json

from junit_xml import TestCase, TestSuite, to_xml_report_string  # type: ignore[import-untyped, unused-ignore]

from rmqueue.model.errors import ConfigError

from .fuzz import FuzzResult


def write_junit(path: str, result: FuzzResult) -> None:
    impl = result.extra.get("impl", "?")
    case = TestCase(
        name=f"rmqueue-oracle[{impl}]",
        classname="rmqueue.oracle.fuzz",
        elapsed_sec=result.seconds,
        stdout=json.dumps(result.summary(), indent=1),
        stderr=result.stderr_tail or None,
    )
    v = result.verdict
    if v.kind == "implementation-error":
        case.add_error_info(message=f"{v.name}: {v.message}", error_type=v.name)
    elif v.kind != "pass":
        case.add_failure_info(
            message=f"{v.name} at step {v.step}: {v.message}",
            output=f"trace: {result.trace_path}\nreport: {result.report_path}",
            failure_type=v.name,
        )
    suite = TestSuite("rmqueue-oracle", [case])
    try:
        with open(path, "w") as f:
            f.write(to_xml_report_string([suite]))
    except OSError as exc:
        raise ConfigError(f"--junit {path!r}: {exc.strerror}") from None
