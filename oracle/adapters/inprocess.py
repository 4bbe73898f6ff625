"""A Python object driven in-process, with no serialisation.

Either an object with ``handle(request) -> response`` (it speaks the protocol's
dictionaries, as :class:`rmqueue.oracle.session.ModelSession` does), or one that implements
the typed :class:`PageAllocator` protocol below.  A ``PageAllocator`` method refuses a
request by raising ``ValueError``; any other exception is a crash of the implementation.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from ..findings import ImplementationError

Json = dict[str, Any]


@runtime_checkable
class PageAllocator(Protocol):
    """What an in-process implementation offers (the protocol's operations as methods).

    ``hello`` receives the CONFIG object and returns the hello answer's fields
    (``name``, ``observes``, ``semantics``, ``complete``, ``validates``); ``state`` is called
    only when ``observes`` lists ``"state"``.
    """

    def hello(self, config: Mapping[str, Any]) -> Mapping[str, Any]: ...

    def alloc(self, cpu: int, order: int, gfp: Sequence[str]) -> int | None: ...

    def free(self, cpu: int, pfn: int, order: int, cold: bool) -> None: ...

    def drain(self, cpu: int) -> None: ...

    def state(self) -> Mapping[str, Any]: ...


class InProcessAdapter:
    """Drives ``factory()`` (a fresh object per session) in this process."""

    def __init__(self, factory: Callable[[], object], *, description: str = "") -> None:
        self.description = description or getattr(factory, "__qualname__", repr(factory))
        try:
            self.obj = factory()
        except Exception as exc:
            raise ImplementationError(
                "crashed", f"the implementation's constructor raised {exc!r}",
                stderr_tail=traceback.format_exc(),
            ) from None
        handle = getattr(self.obj, "handle", None)
        self._handle: Callable[[Json], object] = handle if callable(handle) else self._typed
        self._tail = ""

    def enable_batch(self) -> None:
        pass

    def stderr_tail(self) -> str:
        return self._tail

    def exchange(self, requests: list[Json]) -> list[object]:
        handle = self._handle
        out: list[object] = []
        for request in requests:
            try:
                out.append(handle(request))
            except Exception as exc:
                self._tail = traceback.format_exc()
                error = ImplementationError(
                    "crashed", f"the implementation raised {exc!r}", request=request,
                    stderr_tail=self._tail,
                )
                error.answered = len(out)
                raise error from None
        return out

    def _typed(self, request: Json) -> object:
        obj: Any = self.obj
        op = request["op"]
        try:
            if op == "alloc":
                return {"pfn": obj.alloc(request["cpu"], request["order"], request["gfp"])}
            if op == "free":
                obj.free(request["cpu"], request["pfn"], request["order"], request["cold"])
                return {"ok": True}
            if op == "drain":
                obj.drain(request["cpu"])
                return {"ok": True}
            if op == "state":
                return dict(obj.state())
            if op == "hello":
                answer = dict(obj.hello(request["config"]))
                answer.setdefault("ok", True)
                return answer
            if op == "bye":
                return {"ok": True}
        except ValueError as exc:
            return {"error": str(exc) or type(exc).__name__}
        return {"error": f"unknown op {op!r}"}

    def close(self) -> None:
        close = getattr(self.obj, "close", None)
        if callable(close):
            try:
                close()
            except Exception:
                pass
