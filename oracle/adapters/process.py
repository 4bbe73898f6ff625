"""A child process speaking protocol v1 on its stdin/stdout.

Requests are pipelined: all of one ``exchange`` are written before any answer is read,
through non-blocking pipes watched by a selector, so neither side can block the other.
Every answer must arrive within ``timeout`` seconds of the previous one; past that, or when
the child exits or prints a line that is not JSON, the child is killed and an
:class:`ImplementationError` names what happened.  stderr goes to a bounded buffer.
"""

from __future__ import annotations

import atexit
import json
import os
import selectors
import subprocess
import threading
import time
from collections import deque
from typing import Any, NoReturn

from rmqueue.model.errors import ConfigError

from ..findings import ImplementationError, ProtocolError

Json = dict[str, Any]
STDERR_KEEP = 64 * 1024
MAX_LINE = 64 * 1024 * 1024


_SPARES: dict[tuple[str, ...], subprocess.Popen[bytes]] = {}


def _spawn(argv: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0
    )


def _take(argv: list[str], warm: bool) -> subprocess.Popen[bytes]:
    """A started child for ``argv``: the warm spare if one is ready, and (with ``warm``) a
    new spare started at once, so the next session does not wait for the child to start
    (Hypothesis opens one session per example, and shrinking runs hundreds)."""
    key = tuple(argv)
    proc = _SPARES.pop(key, None)
    if proc is None or proc.poll() is not None:
        proc = _spawn(argv)
    if warm:
        try:
            _SPARES[key] = _spawn(argv)
        except OSError:
            pass
    return proc


@atexit.register
def kill_spares() -> None:
    """Kill the spare children nobody took (called at exit)."""
    while _SPARES:
        _, proc = _SPARES.popitem()
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()


class ProcessAdapter:
    """One child process; ``exchange`` sends requests and reads one line per request."""

    def __init__(
        self, argv: list[str], *, timeout: float = 5.0, description: str = "", warm: bool = True
    ) -> None:
        if not argv:
            raise ConfigError("--impl is an empty command line")
        self.description = description or " ".join(argv)
        self.timeout = timeout
        self.batch = False
        try:
            self.proc = _take(argv, warm)
        except OSError as exc:
            raise ConfigError(f"--impl {self.description!r} cannot be started: {exc}") from None
        assert self.proc.stdin and self.proc.stdout and self.proc.stderr
        self._in = self.proc.stdin.fileno()
        self._out = self.proc.stdout.fileno()
        os.set_blocking(self._in, False)
        os.set_blocking(self._out, False)
        self._pending = b""
        self._stderr: deque[bytes] = deque()
        self._stderr_size = 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._drain_stderr, daemon=True)
        self._thread.start()
        self.closed = False
        self._answered = 0

    # -- stderr -------------------------------------------------------------------------

    def _drain_stderr(self) -> None:
        err = self.proc.stderr
        assert err is not None
        fd = err.fileno()
        while True:
            try:
                chunk = os.read(fd, 8192)
            except OSError:
                return
            if not chunk:
                return
            with self._lock:
                self._stderr.append(chunk)
                self._stderr_size += len(chunk)
                while self._stderr_size > STDERR_KEEP and len(self._stderr) > 1:
                    self._stderr_size -= len(self._stderr.popleft())

    def stderr_tail(self) -> str:
        if self.proc.poll() is not None:
            self._thread.join(timeout=0.2)
        with self._lock:
            data = b"".join(self._stderr)
        return data[-STDERR_KEEP:].decode("utf-8", "replace")

    # -- requests -------------------------------------------------------------------------

    def enable_batch(self) -> None:
        self.batch = True

    def exchange(self, requests: list[Json]) -> list[object]:
        if self.batch and len(requests) > 1 and all(r["op"] != "bye" for r in requests):
            (answer,) = self._roundtrip([{"op": "batch", "requests": requests}], requests)
            responses = answer.get("responses") if isinstance(answer, dict) else None
            if not isinstance(responses, list) or len(responses) != len(requests):
                self.kill()
                raise ProtocolError(
                    "bad_batch",
                    f"a batch of {len(requests)} requests needs a 'responses' list of that "
                    "length",
                    request=requests[0],
                    raw=str(answer)[:300],
                    stderr_tail=self.stderr_tail(),
                )
            return responses
        return self._roundtrip(requests, requests)

    def _fail(self, name: str, message: str, request: object, raw: str | None = None) -> NoReturn:
        self.kill()
        cls = ProtocolError if name in ("not_json", "line_too_long") else ImplementationError
        exc = cls(name, message, request=request, raw=raw, stderr_tail=self.stderr_tail())
        exc.answered = self._answered
        raise exc

    def _roundtrip(self, lines: list[Json], requests: list[Json]) -> list[object]:
        if self.closed:
            self._fail("closed", "the implementation's session is already over", requests[0])
        out = b"".join(json.dumps(r, separators=(",", ":")).encode() + b"\n" for r in lines)
        answers: list[object] = []
        self._answered = 0
        with selectors.DefaultSelector() as sel:
            sel.register(self._out, selectors.EVENT_READ)
            if out:
                sel.register(self._in, selectors.EVENT_WRITE)
            deadline = time.monotonic() + self.timeout
            while len(answers) < len(lines):
                now = time.monotonic()
                if now >= deadline:
                    which = requests[min(len(answers), len(requests) - 1)]
                    self._fail(
                        "timeout",
                        f"no answer within {self.timeout:g} s (the implementation hangs, or "
                        "is slower than --timeout)",
                        which,
                    )
                for key, _ in sel.select(deadline - now):
                    if key.fd == self._in:
                        try:
                            n = os.write(self._in, out)
                        except BlockingIOError:
                            n = 0
                        except OSError:  # the child closed stdin: its stdout says why
                            n = len(out)
                        out = out[n:]
                        if not out:
                            sel.unregister(self._in)
                        continue
                    try:
                        chunk = os.read(self._out, 1 << 16)
                    except BlockingIOError:
                        continue
                    if not chunk:
                        self._exited(requests[min(len(answers), len(requests) - 1)])
                    self._pending += chunk
                    while b"\n" in self._pending and len(answers) < len(lines):
                        line, self._pending = self._pending.split(b"\n", 1)
                        if not line.strip():
                            continue
                        answers.append(self._parse(line, requests[min(len(answers),
                                                                      len(requests) - 1)]))
                        self._answered = len(answers)
                        deadline = time.monotonic() + self.timeout
                    if len(self._pending) > MAX_LINE:
                        self._fail("line_too_long", "an answer line is over 64 MiB",
                                   requests[0])
        return answers

    def _parse(self, line: bytes, request: object) -> object:
        try:
            return json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raw = line[:300].decode("utf-8", "replace")
            self._fail("not_json", f"the answer is not one JSON object: {raw!r}", request, raw)

    def _exited(self, request: object) -> NoReturn:
        try:
            code = self.proc.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            code = None
        how = f"exit code {code}" if code is not None else "closed its stdout"
        if code is not None and code < 0:
            how = f"killed by signal {-code}"
        self._fail("child_exited", f"the implementation exited before answering ({how})",
                   request)

    # -- end ----------------------------------------------------------------------------

    def kill(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(timeout=2.0)
        except subprocess.TimeoutExpired:  # pragma: no cover - kill is not refused
            pass
        self._close_pipes()

    def _close_pipes(self) -> None:
        self._thread.join(timeout=0.5)
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                if pipe is not None:
                    pipe.close()
            except OSError:
                pass

    def close(self) -> None:
        """Say bye, give the child a moment to exit, then kill it; never raises."""
        if self.closed:
            return
        if self.proc.poll() is None:
            try:
                self.timeout = min(self.timeout, 1.0)
                self._roundtrip([{"op": "bye"}], [{"op": "bye"}])
                if self.proc.stdin is not None:
                    self.proc.stdin.close()  # end of input, for children that read on
                self.proc.wait(timeout=0.5)
            except (ImplementationError, subprocess.TimeoutExpired, OSError, ValueError):
                pass
        self.kill()
