"""Linux-exact implementations with planted bugs (mutants of the model behind the protocol)
are found at the exact level and shrunk to short traces; the unmutated model passes."""

from __future__ import annotations

from typing import Any

import pytest

from rmqueue.oracle.fuzz import fuzz
from rmqueue.oracle.session import ModelSession

Json = dict[str, Any]


class Mutant:
    """The model answering the protocol, with one request or config rewritten first."""

    def __init__(self, mutation: str) -> None:
        self.session = ModelSession()
        self.mutation = mutation

    def handle(self, request: Json) -> Json:
        r = dict(request)
        m = self.mutation
        if m == "batch_off_by_one" and r["op"] == "hello":
            cfg = dict(r["config"])
            cfg["pcp"] = {**cfg["pcp"], "batch": cfg["pcp"]["batch"] + 1}
            r["config"] = cfg
            answer = self.session.handle(r)
            answer["config"] = request["config"]
            return answer
        if m == "cold_free_is_hot" and r["op"] == "free":
            r["cold"] = False
        if m == "cold_alloc_is_hot" and r["op"] == "alloc":
            r["gfp"] = [g for g in r["gfp"] if g != "__GFP_COLD"]
        valid_cpu = r.get("cpu") in range(2)  # refuse bad cpus as the model does
        if m == "drain_ignored" and r["op"] == "drain" and valid_cpu:
            return {"ok": True}
        if m == "cpu_ignored" and r["op"] in ("alloc", "free", "drain") and valid_cpu:
            r["cpu"] = 0
        return self.session.handle(r)


@pytest.mark.parametrize(
    "mutation",
    ["batch_off_by_one", "cold_free_is_hot", "drain_ignored", "cpu_ignored",
     pytest.param("cold_alloc_is_hot", marks=pytest.mark.slow)],
)
def test_exact_mutant_found_and_shrunk(mutation: str) -> None:
    result = fuzz(lambda: Mutant(mutation), max_examples=200, steps=40, seed=0,
                  shrink_budget=30)
    assert result.verdict.kind == "divergence", result.verdict
    assert result.trace is not None and len(result.trace.ops) <= 12, result.trace.ops


def test_model_itself_passes_exact() -> None:
    result = fuzz(ModelSession, max_examples=30, steps=60, seed=0)
    assert result.verdict.kind == "pass" and result.steps > 500
