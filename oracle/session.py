"""The model behind the wire protocol: one request object in, one response object out.

``ModelSession`` is pure protocol logic with no I/O, so ``rmqueue serve``, the in-process
adapters and the tests share it.  See oracle/PROTOCOL.md for the contract.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rmqueue.model.allocator import Allocator
from rmqueue.model.config import ZoneConfig
from rmqueue.model.errors import RmqueueError
from rmqueue.model.record import Transition
from rmqueue.model.snapshot import state_json

PROTOCOL_VERSION = 1
SERVER_NAME = "rmqueue-model"
# Compatible extensions this server offers beyond v1 (see PROTOCOL.md).
EXTENSIONS = ("batch", "state-detail")

Json = dict[str, Any]


def _error(message: str) -> Json:
    return {"error": message}


@dataclass(eq=False)
class ModelSession:
    """Answers protocol requests with the reference model (``semantics: linux-4.3``).

    ``strict_config`` makes unknown config keys an error instead of a warning on stderr.
    ``last`` is the Transition of the last successful alloc/free/drain, for callers that
    check every step.
    """

    strict_config: bool = False
    allocator: Allocator | None = None
    closed: bool = False
    last: Transition | None = field(default=None, repr=False)

    def handle(self, request: object) -> Json:
        """Answer one request; never raises for a bad request (it answers ``error``)."""
        if not isinstance(request, Mapping):
            return _error(f"a request must be a JSON object (got {type(request).__name__})")
        op = request.get("op")
        if op == "batch":
            return self._batch(request)
        try:
            return self._dispatch(op, request)
        except RmqueueError as exc:
            return _error(str(exc))

    def _batch(self, request: Mapping[str, Any]) -> Json:
        requests = request.get("requests")
        if not isinstance(requests, list):
            return _error("batch needs `requests`, a list of request objects")
        responses = []
        for sub in requests:
            if isinstance(sub, Mapping) and sub.get("op") == "batch":
                responses.append(_error("batch requests cannot nest"))
            else:
                responses.append(self.handle(sub))
        return {"responses": responses}

    def _dispatch(self, op: object, request: Mapping[str, Any]) -> Json:
        if op == "hello":
            return self._hello(request)
        if op == "bye":
            self.closed = True
            return {"ok": True}
        if self.allocator is None:
            return _error(f"expected a hello request first (got op {op!r})")
        alloc = self.allocator
        if op == "alloc":
            gfp = request.get("gfp", ["GFP_KERNEL"])
            if not isinstance(gfp, list):
                return _error(f"alloc.gfp must be a list of gfp flag names (got {gfp!r})")
            rec = alloc.alloc(_field(request, "cpu"), _field(request, "order"), gfp)
            self.last = rec
            return {"pfn": rec.pfn}
        if op == "free":
            cold = request.get("cold", False)
            rec = alloc.free(
                _field(request, "cpu"), _field(request, "pfn"), _field(request, "order"), cold
            )
            self.last = rec
            return {"ok": True}
        if op == "drain":
            self.last = alloc.drain(_field(request, "cpu"))
            return {"ok": True}
        if op == "state":
            return state_json(alloc.zone, detail=bool(request.get("detail", False)))
        return _error(
            f"unknown op {op!r}; expected hello, alloc, free, drain, state, batch or bye"
        )

    def _hello(self, request: Mapping[str, Any]) -> Json:
        version = request.get("protocol")
        if version != PROTOCOL_VERSION:
            return _error(f"unsupported protocol {version!r}: this server speaks protocol 1")
        config = ZoneConfig.from_json(request.get("config", {}), strict=self.strict_config)
        self.allocator = Allocator(config)
        self.last = None
        return {
            "ok": True,
            "name": SERVER_NAME,
            "observes": ["state"],
            "semantics": "linux-4.3",
            "validates": True,
            "extensions": list(EXTENSIONS),
            "config": config.to_json(),
        }


def _field(request: Mapping[str, Any], name: str) -> Any:
    from rmqueue.model.errors import RequestError

    if name not in request:
        raise RequestError(f"{request.get('op')} needs the field {name!r}")
    return request[name]
