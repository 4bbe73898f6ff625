"""Counterexample -> model state (issue 4, item 4): a planted bug's Z3 counterexample is
moved into the executable model as a sound zone, and running its operation there with the bug
planted breaks an invariant for real, while the same state and operation without the bug do
not (:mod:`rmqueue.proofs.concretize`)."""

from __future__ import annotations

import pytest

from rmqueue.model.allocator import Allocator
from rmqueue.proofs import replay as m_replay
from rmqueue.proofs.concrete import differences, from_zone, to_allocator
from rmqueue.proofs.concretize import Transfer, transfer
from rmqueue.proofs.replay import REPLAY_CONFIG, ROUTE_SEARCH, ROUTE_STATE, sensitivity
from rmqueue.proofs.state import LINUX, SMALL
from rmqueue.proofs.transitions import TRANSITIONS
from rmqueue.specs.check import StepChecker
from rmqueue.specs.errors import InvariantViolation

BUDGET = 60.0


def test_zone_round_trip() -> None:
    """A model zone read as a Concrete and built back is the same zone, and sound."""
    a = Allocator(REPLAY_CONFIG)
    for order, gfp in ((0, "GFP_KERNEL"), (2, "GFP_HIGHUSER_MOVABLE"), (1, "GFP_TEMPORARY")):
        a.alloc(0, order, (gfp,))
    c = from_zone(a.zone, SMALL)
    b = to_allocator(c)
    assert differences(from_zone(b.zone, SMALL), c) == []
    StepChecker(b).full_check()


def test_unsound_state_is_refused() -> None:
    """The soundness gate can fail: a Concrete with a wrong nr_free builds a zone that the
    whole-state check rejects by name."""
    c = from_zone(Allocator(REPLAY_CONFIG).zone, SMALL)
    c.nr_free[1] += 1
    with pytest.raises(InvariantViolation) as exc:
        StepChecker(to_allocator(c)).full_check()
    assert exc.value.invariant == "nr_free_matches_lists"


def _check(t: Transfer) -> None:
    assert t.proof == "counterexample", t.detail
    assert t.sound, t.message
    assert t.violation is not None, (t.notes, t.message)
    assert t.control is None, f"the state breaks {t.control} even without the bug"
    assert t.tier in ("exact", "parameters", "local", "none")
    lo, hi = t.state["zone"]
    assert 1 <= hi - lo <= t.pages


# The quick one (a few seconds on 2 idle cores); every transition runs through
# sensitivity() in tests/proofs/test_proofs.py, in the slow test below (with the program
# check) and under `rmqueue prove --bugs`.
QUICK = ("pcp_hit",)


@pytest.mark.parametrize("transition", QUICK)
def test_counterexample_state_replays(transition: str) -> None:
    t = transfer(transition, SMALL, cap=16, budget_s=BUDGET)
    _check(t)
    # the program it prints replays the violation on its own
    with pytest.raises(InvariantViolation) as exc:
        exec("\n".join(t.program), {})
    assert exc.value.invariant == t.violation
    if transition == "pcp_hit":
        assert t.violation == "pcp_count_matches"
        kind, cpu, order, _ = t.state["operation"]
        assert (kind, cpu, order) == ("alloc", 0, 0)
        head = t.state["heads"][0]
        assert t.state["pages"][head].startswith("pcp cpu0")


@pytest.mark.slow
@pytest.mark.parametrize("transition", TRANSITIONS)
def test_every_counterexample_state_replays(transition: str) -> None:
    t = transfer(transition, SMALL, cap=16, budget_s=BUDGET)
    _check(t)
    with pytest.raises(InvariantViolation) as exc:
        exec("\n".join(t.program), {})
    assert exc.value.invariant == t.violation


@pytest.mark.slow
@pytest.mark.parametrize("transition", ("pcp_hit", "free_hot_cold_page", "drain_pages_zone"))
def test_counterexample_state_replays_linux(transition: str) -> None:
    _check(transfer(transition, LINUX, cap=4096, budget_s=BUDGET))


def test_search_is_only_the_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    """When the transfer shows nothing, sensitivity() falls back to the seeded search and
    says so; when it shows the violation, no search runs."""
    def no_transfer(*a: object, **k: object) -> Transfer:
        return Transfer("pcp_hit_forgets_count", "pcp_hit", "pcp_count_matches",
                        "counterexample", witness={"migratetype": 0})

    monkeypatch.setattr(m_replay, "transfer", no_transfer)
    s = sensitivity("pcp_hit")
    assert s.route == ROUTE_SEARCH and s.invariant is not None and s.replay is not None

    def found(*a: object, **k: object) -> Transfer:
        return Transfer("pcp_hit_forgets_count", "pcp_hit", "pcp_count_matches",
                        "counterexample", violation="pcp_count_matches")

    def no_search(*a: object, **k: object) -> None:
        raise AssertionError("searched although the transfer showed the violation")

    monkeypatch.setattr(m_replay, "transfer", found)
    monkeypatch.setattr(m_replay, "replay", no_search)
    s = sensitivity("pcp_hit")
    assert s.route == ROUTE_STATE and s.invariant == "pcp_count_matches" and s.ok


def test_cli_says_which_route() -> None:
    """`rmqueue prove --bugs` prints and reports (JSON) the replayed invariant and the route."""
    from rmqueue.proofs.cli import _bug_json, _bug_line
    from rmqueue.proofs.replay import Sensitivity

    t = Transfer("pcp_hit_forgets_count", "pcp_hit", "pcp_count_matches", "counterexample",
                 tier="local", pages=8, violation="pcp_count_matches",
                 state={"operation": ["alloc", 0, 0, ("GFP_KERNEL",)], "pages": {9: "pcp"}})
    s = Sensitivity("pcp_hit", t.bug, "counterexample", "", None, ROUTE_STATE,
                    "pcp_count_matches", t)
    line = _bug_line(s)
    assert "pcp_count_matches" in line and ROUTE_STATE in line and "tier local" in line
    j = _bug_json(s)
    assert j["route"] == ROUTE_STATE and j["replayed_violation"] == "pcp_count_matches"
    assert j["transfer"]["state"]["pages"] == {"9": "pcp"}
    none = Sensitivity("pcp_hit", t.bug, "counterexample", "", None)
    assert _bug_line(none) == "NOT replayed" and _bug_json(none)["route"] == ""
