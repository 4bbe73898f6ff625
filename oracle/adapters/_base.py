"""The adapter interface and how a ``--impl`` string names a target."""

from __future__ import annotations

import importlib
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from rmqueue.model.errors import ConfigError

Json = dict[str, Any]


class Adapter(Protocol):
    """One session with an implementation."""

    description: str

    def exchange(self, requests: list[Json]) -> list[object]:
        """Send the requests in order and return their answers (parsed JSON), in order."""
        ...

    def enable_batch(self) -> None:
        """Use the ``batch`` extension from now on (the hello answer listed it)."""
        ...

    def stderr_tail(self) -> str:
        """The end of what the implementation wrote to stderr, for reports."""
        ...

    def close(self) -> None:
        """End the session (``bye``) and release the implementation; never raises."""
        ...


@dataclass(frozen=True, slots=True)
class Target:
    """What ``--impl`` names: a command line, or a Python factory (``python:mod:attr``)."""

    spec: str
    argv: tuple[str, ...] = ()
    factory: Callable[[], object] | None = None

    def open(self, timeout: float) -> Adapter:
        return open_target(self, timeout)


def parse_target(spec: str | Callable[[], object]) -> Target:
    """``'CMD ARGS'`` (a shell-quoted command line), ``serve`` (the model through
    ``rmqueue serve``), ``model`` (the model in-process) or ``python:MODULE:ATTR`` (a class
    or factory returning a :class:`PageAllocator` or an object with ``handle(request)``)."""
    if callable(spec):
        return Target(getattr(spec, "__qualname__", repr(spec)), factory=spec)
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError("--impl needs a command line (e.g. --impl './my-alloc --flag')")
    if spec == "model":
        from rmqueue.oracle.session import ModelSession

        return Target(spec, factory=ModelSession)
    if spec == "serve":
        from .serve import serve_command

        return Target(spec, argv=tuple(serve_command()))
    if spec.startswith("python:"):
        _, _, rest = spec.partition(":")
        module_name, _, attr = rest.partition(":")
        try:
            module = importlib.import_module(module_name)
            factory = getattr(module, attr)
        except (ImportError, AttributeError, ValueError) as exc:
            raise ConfigError(
                f"--impl {spec!r}: cannot import {attr!r} from {module_name!r} ({exc}); use "
                "python:MODULE:ATTR with MODULE importable"
            ) from None
        return Target(spec, factory=factory)
    try:
        argv = tuple(shlex.split(spec))
    except ValueError as exc:
        raise ConfigError(f"--impl {spec!r} is not a valid command line: {exc}") from None
    return Target(spec, argv=argv)


def open_target(target: Target, timeout: float) -> Adapter:
    if target.factory is not None:
        from .inprocess import InProcessAdapter

        return InProcessAdapter(target.factory, description=target.spec)
    from .process import ProcessAdapter

    return ProcessAdapter(list(target.argv), timeout=timeout, description=target.spec)
