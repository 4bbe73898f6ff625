"""Replaying a trace: the same operations, in order, on a fresh session, with the same
checks; the verdict is the same as the run that wrote the trace (for a deterministic
implementation)."""

from __future__ import annotations

from typing import Any

from .adapters import Target, parse_target
from .findings import Finding, ImplementationError
from .lockstep import Lockstep
from .trace import Trace, Verdict


def replay(
    trace: Trace, impl: str | Target | None = None, *, timeout: float = 5.0,
    state_every: int = 1,
) -> tuple[Verdict, str]:
    """Run ``trace`` on ``impl`` (default: the trace's own) and return the verdict and the
    implementation's stderr tail."""
    target = impl if isinstance(impl, Target) else parse_target(impl or trace.impl)
    try:
        engine = Lockstep(target.open(timeout), trace.config, state_every=state_every,
                          invariant_every=1)
    except (Finding, ImplementationError) as exc:
        exc.step = -1
        return Verdict.of(exc), getattr(exc, "stderr_tail", "")
    try:
        engine.run(trace.ops)
        verdict = Verdict("pass")
    except (Finding, ImplementationError) as exc:
        verdict = Verdict.of(exc)
    tail = engine.adapter.stderr_tail()
    engine.close()
    return verdict, tail


def replay_json(obj: dict[str, Any], impl: str | None = None, timeout: float = 5.0) -> Verdict:
    """Replay a trace given as its JSON object (what ``--emit-pytest`` tests call)."""
    return replay(Trace.from_json(obj), impl, timeout=timeout)[0]
