"""The client side of wire protocol v1: requests the oracle sends, and the validation of
every response it gets back (types, fields, ranges).  Anything a response gets wrong is a
:class:`ProtocolError` naming the request and the raw reply.

See /work/shared/protocol.md (the contract) and oracle/PROTOCOL.md (this project's words).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, TypeGuard

from rmqueue.model.config import ZoneConfig
from rmqueue.model.types import PROC_NAMES

from .findings import ProtocolError

PROTOCOL_VERSION = 1
SEMANTICS = ("linux-4.3", "buddy")
Json = dict[str, Any]


class Level(Enum):
    """How strongly the oracle can check an implementation (strongest it allows)."""

    BLACK_BOX = "black-box"
    STATE = "state"
    EXACT = "exact"


@dataclass(frozen=True, slots=True)
class Hello:
    """The hello answer, validated."""

    name: str
    observes: tuple[str, ...]
    semantics: str | None
    complete: bool
    validates: bool
    extensions: tuple[str, ...]
    raw: Mapping[str, Any]

    @property
    def observes_state(self) -> bool:
        return "state" in self.observes

    @property
    def level(self) -> Level:
        if self.semantics == "linux-4.3":
            return Level.EXACT
        if self.observes_state and self.semantics == "buddy":
            return Level.STATE
        return Level.BLACK_BOX


def hello_request(config: ZoneConfig) -> Json:
    return {"op": "hello", "protocol": PROTOCOL_VERSION, "config": config.to_json()}


def _bad(name: str, message: str, request: object, raw: object) -> ProtocolError:
    return ProtocolError(name, message, request=request, raw=_short(raw))


def _short(raw: object) -> str:
    text = raw if isinstance(raw, str) else repr(raw)
    return text if len(text) <= 300 else text[:300] + "..."


def is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_hello(request: Json, response: object) -> Hello:
    """Validate the hello answer; an ``error`` answer is a refusal (ProtocolError)."""
    if not isinstance(response, dict):
        raise _bad("not_an_object", "the hello answer must be a JSON object", request, response)
    if "error" in response:
        raise _bad(
            "hello_refused",
            f"the implementation refused the hello: {response['error']!r}",
            request,
            response,
        )
    if response.get("ok") is not True:
        raise _bad("bad_hello", 'the hello answer needs "ok": true', request, response)
    name = response.get("name", "?")
    observes = response.get("observes", [])
    if not isinstance(observes, list) or not all(isinstance(x, str) for x in observes):
        raise _bad("bad_hello", '"observes" must be a list of strings', request, response)
    semantics = response.get("semantics")
    if semantics is not None and semantics not in SEMANTICS:
        raise _bad(
            "bad_hello",
            f'"semantics" must be "linux-4.3" or "buddy" (got {semantics!r})',
            request,
            response,
        )
    flags = {}
    for key in ("complete", "validates"):
        value = response.get(key, False)
        if not isinstance(value, bool):
            raise _bad("bad_hello", f'"{key}" must be true or false', request, response)
        flags[key] = value
    extensions = response.get("extensions", [])
    if not isinstance(extensions, list) or not all(isinstance(x, str) for x in extensions):
        raise _bad("bad_hello", '"extensions" must be a list of strings', request, response)
    return Hello(
        name=str(name),
        observes=tuple(observes),
        semantics=semantics,
        complete=flags["complete"],
        validates=flags["validates"],
        extensions=tuple(extensions),
        raw=response,
    )


def check_response(request: Json, response: object, config: ZoneConfig) -> None:
    """Raise ProtocolError unless ``response`` is a well-formed answer to ``request``.

    An ``{"error": str}`` answer is well-formed for any request (whether it was allowed to
    refuse is the conformance checks' business).  An alloc's pfn must name a page of the
    zone: a pfn outside it is out of range (whether the whole block fits is checked later,
    as ``block_in_zone``).
    """
    if not isinstance(response, dict):
        raise _bad("not_an_object", "a response must be a JSON object", request, response)
    if "error" in response:
        if not isinstance(response["error"], str):
            raise _bad("bad_error", '"error" must be a string', request, response)
        return
    op = request["op"]
    if op == "alloc":
        if "pfn" not in response:
            raise _bad("missing_field", 'an alloc answer needs "pfn"', request, response)
        pfn = response["pfn"]
        if pfn is None:
            return
        if not is_int(pfn):
            raise _bad("wrong_type", f'"pfn" must be an integer or null (got {pfn!r})',
                       request, response)
        if not config.start_pfn <= pfn < config.end_pfn:
            raise _bad(
                "pfn_out_of_range",
                f"pfn {pfn} is outside the zone (pfns {config.start_pfn}..{config.end_pfn - 1})",
                request,
                response,
            )
    elif op in ("free", "drain", "bye"):
        if "ok" not in response:
            raise _bad("missing_field", f'a {op} answer needs "ok"', request, response)
        if not isinstance(response["ok"], bool):
            raise _bad("wrong_type", '"ok" must be true or false', request, response)
    elif op == "state":
        check_state_shape(request, response, config)


def _pfn_list(request: Json, response: Json, entry: object, config: ZoneConfig) -> None:
    pfns = entry.get("pfns") if isinstance(entry, dict) else None
    if not isinstance(pfns, list):
        raise _bad("wrong_type", '"pfns" must be a list of integers', request, response)
    lo, hi = config.start_pfn, config.end_pfn
    for pfn in pfns:
        if not is_int(pfn):
            raise _bad("wrong_type", f"state pfn {pfn!r} is not an integer", request, response)
        if not lo <= pfn < hi:
            raise _bad("pfn_out_of_range", f"state names pfn {pfn}, outside the zone "
                       f"(pfns {lo}..{hi - 1})", request, response)


def check_state_shape(request: Json, response: Json, config: ZoneConfig) -> None:
    """The ``state`` answer: free_area, pcp, counters with the right types and ranges."""
    free_area = response.get("free_area")
    if not isinstance(free_area, list):
        raise _bad("missing_field", 'a state answer needs "free_area", a list', request, response)
    for entry in free_area:
        if not isinstance(entry, dict):
            raise _bad("wrong_type", "free_area entries must be objects", request, response)
        order = entry.get("order")
        if not is_int(order) or not 0 <= order < config.max_order:
            raise _bad("wrong_type", f"free_area order {order!r} is not in 0..max_order-1",
                       request, response)
        if entry.get("migratetype") not in PROC_NAMES:
            raise _bad("wrong_type", f"unknown migratetype {entry.get('migratetype')!r}",
                       request, response)
        _pfn_list(request, response, entry, config)
    pcp = response.get("pcp", [])
    if not isinstance(pcp, list):
        raise _bad("wrong_type", '"pcp" must be a list', request, response)
    for entry in pcp:
        if not isinstance(entry, dict):
            raise _bad("wrong_type", "pcp entries must be objects", request, response)
        cpu = entry.get("cpu")
        if not is_int(cpu) or not 0 <= cpu < config.cpus:
            raise _bad("wrong_type", f"pcp cpu {cpu!r} is not in 0..cpus-1", request, response)
        if entry.get("migratetype") not in PROC_NAMES[:3]:
            raise _bad("wrong_type", f"bad pcp migratetype {entry.get('migratetype')!r}",
                       request, response)
        _pfn_list(request, response, entry, config)
    counters = response.get("counters", {})
    if not isinstance(counters, dict) or not all(is_int(v) for v in counters.values()):
        raise _bad("wrong_type", '"counters" must map names to integers', request, response)
