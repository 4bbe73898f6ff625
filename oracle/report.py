"""The human report of a failing trace: the check that broke (by name), the operations as a
replayable program, the states of model and implementation before and after the failing
step in kernel terms, and the implementation's stderr.

The report is built after the trace file is on disk, by replaying the trace once more with
every state captured; if that replay cannot run, the report says so and keeps the rest.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .adapters import Target
from .findings import Finding, ImplementationError
from .lockstep import Lockstep, StepRecord
from .trace import Trace, Verdict

Json = dict[str, Any]


def kernel_terms(state: Json | None) -> list[str]:
    """A reported state as the kernel's fields: ``free_area[o].free_list[Mt]``,
    ``pcp[cpu].lists[Mt]`` (head to tail) and the vmstat counters."""
    if state is None:
        return ["  (not observed)"]
    lines = []
    for e in state.get("free_area", []):
        if e.get("pfns"):
            lines.append(f"  free_area[{e['order']}].free_list[{e['migratetype']}] = {e['pfns']}")
    for e in state.get("pcp", []):
        if e.get("pfns"):
            lines.append(f"  pcp[cpu {e['cpu']}].lists[{e['migratetype']}] = {e['pfns']}")
    counters = state.get("counters", {})
    if counters:
        lines.append("  " + ", ".join(f"{k}={v}" for k, v in counters.items()))
    return lines or ["  (empty: every page is allocated)"]


def program_line(index: int, op: Json, observed: object) -> str:
    """One operation as a call on the oracle's view, with the answer the impl gave."""
    kind = op["op"]
    if kind == "alloc":
        call = f"b{index} = alloc(cpu={op['cpu']}, order={op['order']}, gfp={op['gfp']})"
    elif kind == "free":
        call = f"free(b{op['block']}, cpu={op['cpu']}, cold={op.get('cold', False)})"
    elif kind == "drain":
        call = f"drain(cpu={op['cpu']})"
    else:
        extra = {k: v for k, v in op.items() if k not in ("op", "kind")}
        call = f"bad_request({op['kind']!r}, {extra})"
    if observed is None and kind == "free":
        return call + "  # skipped: its alloc failed"
    return call + ("" if observed is None else f"  # -> {json.dumps(observed)}")


def capture(trace: Trace, target: Target, timeout: float) -> tuple[Lockstep | None, str]:
    """Replay ``trace`` with every state kept; returns the engine (or None) and a note."""
    try:
        engine = Lockstep(target.open(timeout), trace.config, capture=True, invariant_every=1)
    except (Finding, ImplementationError) as exc:
        return None, f"(the capture replay could not start: {exc})"
    try:
        engine.run(trace.ops)
        note = "(the capture replay did not fail: the implementation may be nondeterministic)"
    except (Finding, ImplementationError) as exc:
        note = f"(capture replay: {exc})"
    engine.close()
    return engine, note


def build_report(
    trace: Trace, trace_path: Path | None, target: Target | None, timeout: float,
    stderr_tail: str = "",
) -> str:
    v = trace.verdict or Verdict("pass")
    out = [f"# rmqueue oracle report: {v.kind} `{v.name or 'none'}`", ""]
    if v.kind != "pass":
        out += [f"**{v.name}** at step {v.step}: {v.message}", ""]
    out += [
        f"- implementation: `{trace.impl}`",
        f"- level: {trace.level or '?'}; hello: `{json.dumps(trace.hello)}`",
        f"- zone: `{json.dumps(trace.config.to_json())}`",
        f"- trace: `{trace_path}` ({len(trace.ops)} operations); replay with "
        f"`rmqueue replay {trace_path} --impl '{trace.impl}'`",
        "",
        "## Operations",
        "```",
    ]
    for i, op in enumerate(trace.ops):
        obs = trace.observed[i] if i < len(trace.observed) else None
        line = program_line(i, op, obs)
        mark = "   <-- fails here" if v.step == i else ""
        out.append(f"{i:4d}: {line}{mark}")
    out += ["```", ""]
    if target is not None and v.step is not None and v.step >= 0:
        engine, note = capture(trace, target, timeout)
        out += ["## States at the failing step", note, ""]
        if engine is not None:
            out += _states(engine, v.step)
            stderr_tail = stderr_tail or engine.adapter.stderr_tail()
    if v.details:
        out += ["## Details", "```", json.dumps(dict(v.details), indent=1, default=repr), "```",
                ""]
    out += ["## Implementation stderr (tail)", "```", stderr_tail[-4000:] or "(empty)", "```"]
    return "\n".join(out) + "\n"


def _states(engine: Lockstep, step: int) -> list[str]:
    by_index: dict[int, StepRecord] = {r.index: r for r in engine.records}
    rec = by_index.get(step)
    prev = next((by_index[i] for i in range(step - 1, -1, -1) if i in by_index), None)
    impl_before = prev.impl_state if prev else engine.initial_state
    model_before = prev.model_state if prev else engine.model_boot_state
    out = []
    if rec is not None:
        out += [f"request: `{json.dumps(rec.request)}`",
                f"implementation answered: `{json.dumps(rec.response)}`"]
        if engine.model is not None:
            out.append(f"Linux 4.3 (model) answers: `{json.dumps(rec.model_response)}`")
        out.append("")
    out += ["implementation, before:"] + kernel_terms(impl_before)
    out += ["implementation, after:"] + kernel_terms(rec.impl_state if rec else None)
    if engine.model is not None:
        out += ["model (Linux 4.3), before:"] + kernel_terms(model_before)
        out += ["model (Linux 4.3), after:"] + kernel_terms(rec.model_state if rec else None)
    return out + [""]


def write_report(
    report_dir: Path, trace: Trace, trace_path: Path | None, target: Target | None,
    timeout: float, stderr_tail: str = "",
) -> Path:
    """Write ``report.md`` into ``report_dir``; never raises for the implementation's sake."""
    try:
        text = build_report(trace, trace_path, target, timeout, stderr_tail)
    except Exception as exc:  # the report must not hide the finding
        text = (f"# rmqueue oracle report\n\nverdict: {trace.verdict}\n\n(report building "
                f"failed: {exc!r}; the trace file is complete)\n")
    path = report_dir / "report.md"
    path.write_text(text)
    return path
