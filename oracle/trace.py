"""The trace file: a stable, versioned JSON record of a run (not Hypothesis's database).

```
{"format": "rmqueue-trace", "version": 1,
 "config": CONFIG, "impl": "CMD", "hello": {...}, "level": "exact",
 "ops": [{"op": "alloc", "cpu": 0, "order": 3, "gfp": ["GFP_KERNEL"]},
         {"op": "free", "block": 0, "cpu": 1, "cold": false},
         {"op": "drain", "cpu": 0},
         {"op": "bad", "kind": "double_free", "block": 0}],
 "observed": [{"pfn": 8}, {"ok": true}, ...],
 "verdict": {"kind": "violation", "name": "no_overlap", "message": "...", "step": 5}}
```

A ``free`` names the alloc it returns by that alloc's index in ``ops``, so one trace replays
on any implementation; a free whose alloc failed is skipped.  ``observed`` (the answers the
implementation gave) and ``hello`` are informative: replay ignores them.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rmqueue.model.config import ZoneConfig
from rmqueue.model.errors import ConfigError

from .findings import EXIT_FOUND, EXIT_IMPLEMENTATION, EXIT_PASSED, Finding, ImplementationError

FORMAT = "rmqueue-trace"
VERSION = 1
BAD_KINDS = ("order_too_big", "cpu_out_of_range", "free_unallocated", "free_wrong_order",
             "double_free")
Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Verdict:
    """``kind`` is ``pass``, ``violation``, ``divergence`` or ``implementation-error``."""

    kind: str
    name: str = ""
    message: str = ""
    step: int | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        if self.kind == "pass":
            return EXIT_PASSED
        if self.kind == "implementation-error":
            return EXIT_IMPLEMENTATION
        return EXIT_FOUND

    @classmethod
    def of(cls, exc: Finding | ImplementationError | None) -> Verdict:
        if exc is None:
            return cls("pass")
        details: dict[str, Any] = dict(getattr(exc, "details", {}) or {})
        if isinstance(exc, ImplementationError):
            details = {"request": exc.request, "raw": exc.raw}
        return cls(exc.kind, exc.name, exc.message, exc.step, _jsonable(details))

    def to_json(self) -> Json:
        out: Json = {"kind": self.kind}
        if self.kind != "pass":
            out.update(name=self.name, message=self.message, step=self.step,
                       details=dict(self.details))
        return out

    def same_as(self, other: Verdict) -> bool:
        """Same outcome: kind and check name (the step may move when replay is exact)."""
        return self.kind == other.kind and self.name == other.name


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=repr))


@dataclass(slots=True)
class Trace:
    config: ZoneConfig
    ops: list[Json]
    verdict: Verdict | None = None
    impl: str = ""
    hello: Json | None = None
    level: str = ""
    observed: list[object] = field(default_factory=list)
    seed: int | None = None

    def to_json(self) -> Json:
        return {
            "format": FORMAT,
            "version": VERSION,
            "config": self.config.to_json(),
            "impl": self.impl,
            "hello": self.hello,
            "level": self.level,
            "seed": self.seed,
            "ops": self.ops,
            "observed": _jsonable(self.observed),
            "verdict": self.verdict.to_json() if self.verdict else None,
        }

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Write atomically (temporary file, then rename), so a crash leaves the old file."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".trace-", dir=target.parent)
        with os.fdopen(fd, "w") as f:
            json.dump(self.to_json(), f, indent=1)
            f.write("\n")
        os.replace(tmp, target)
        return target

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> Trace:
        try:
            with open(path) as f:
                obj = json.load(f)
        except OSError as exc:
            raise ConfigError(f"cannot read trace {os.fspath(path)!r}: {exc.strerror}") from None
        except json.JSONDecodeError as exc:
            raise ConfigError(f"trace {os.fspath(path)!r} is not JSON: {exc}") from None
        return cls.from_json(obj, where=os.fspath(path))

    @classmethod
    def from_json(cls, obj: object, where: str = "trace") -> Trace:
        if not isinstance(obj, dict) or obj.get("format") != FORMAT:
            raise ConfigError(f"{where} is not an rmqueue trace (needs \"format\": \"{FORMAT}\")")
        if obj.get("version") != VERSION:
            raise ConfigError(
                f"{where} has trace version {obj.get('version')!r}; this rmqueue reads "
                f"version {VERSION}"
            )
        config = ZoneConfig.from_json(obj.get("config", {}), strict=True)
        ops = obj.get("ops")
        if not isinstance(ops, list):
            raise ConfigError(f"{where}: \"ops\" must be a list of operations")
        for i, op in enumerate(ops):
            validate_op(i, op, ops, config, where)
        verdict = obj.get("verdict")
        v = None
        if isinstance(verdict, dict) and isinstance(verdict.get("kind"), str):
            v = Verdict(verdict["kind"], str(verdict.get("name", "")),
                        str(verdict.get("message", "")), verdict.get("step"),
                        verdict.get("details") or {})
        return cls(config, ops, v, str(obj.get("impl", "")), obj.get("hello"),
                   str(obj.get("level", "")), list(obj.get("observed") or []), obj.get("seed"))


def _int_field(op: Json, key: str, lo: int, hi: int, where: str) -> None:
    v = op.get(key)
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v < hi:
        raise ConfigError(f"{where}: {key} must be an integer in {lo}..{hi - 1} (got {v!r})")


def validate_op(i: int, op: object, ops: list[Any], config: ZoneConfig, where: str) -> None:
    """Raise ConfigError (one line) unless ``op`` is a well-formed trace operation."""
    at = f"{where}: op {i}"
    if not isinstance(op, dict):
        raise ConfigError(f"{at} must be an object")
    kind = op.get("op")
    if kind == "alloc":
        _int_field(op, "cpu", 0, config.cpus, at)
        _int_field(op, "order", 0, config.max_order, at)
        gfp = op.get("gfp")
        if not isinstance(gfp, list) or not all(isinstance(g, str) for g in gfp):
            raise ConfigError(f"{at}: gfp must be a list of flag names")
    elif kind == "free":
        _int_field(op, "cpu", 0, config.cpus, at)
        _int_field(op, "block", 0, i, at)
        if ops[op["block"]].get("op") != "alloc":
            raise ConfigError(f"{at}: block {op['block']} is not an alloc op")
        if not isinstance(op.get("cold", False), bool):
            raise ConfigError(f"{at}: cold must be true or false")
    elif kind == "drain":
        _int_field(op, "cpu", 0, config.cpus, at)
    elif kind == "bad":
        if op.get("kind") not in BAD_KINDS:
            raise ConfigError(f"{at}: bad kind must be one of {', '.join(BAD_KINDS)}")
    else:
        raise ConfigError(f"{at}: op must be alloc, free, drain or bad (got {kind!r})")
