"""Test harness pieces users and our own tests share: run a hub on loopback, and a
receiving endpoint that deduplicates commands by idempotency key and counts everything.

`Receiver` is what a well-behaved partner endpoint looks like: it applies each command
once, answers duplicates with 200, and can be told to fail (5xx, 429 + Retry-After) so
retries, breakers and dead letters can be watched from outside.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from intermodal.config import Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Receiver:
    """A real HTTP endpoint that applies each command id once and counts duplicates."""

    fail_next: int = 0
    fail_status: int = 503
    retry_after: str | None = None
    applied: dict[str, dict[str, Any]] = field(default_factory=dict)
    deliveries: Counter[str] = field(default_factory=Counter)
    requests: int = 0
    failures_sent: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def duplicates(self) -> int:
        return sum(n - 1 for n in self.deliveries.values() if n > 1)

    def app(self) -> Starlette:
        async def hooks(request: Request) -> Response:
            body = await request.body()
            with self.lock:
                self.requests += 1
                if self.fail_next > 0:
                    self.fail_next -= 1
                    self.failures_sent += 1
                    headers = {"retry-after": self.retry_after} if self.retry_after else None
                    return JSONResponse({"error": "injected"}, self.fail_status, headers=headers)
            try:
                value = orjson.loads(body)
            except orjson.JSONDecodeError:
                return JSONResponse({"error": "not json"}, 400)
            items = value if isinstance(value, list) else [value]
            with self.lock:
                for item in items:
                    command_id = str(item.get("id")) if isinstance(item, dict) else ""
                    self.deliveries[command_id] += 1
                    self.applied.setdefault(command_id, item)
            return JSONResponse({"ok": True, "received": len(items)})

        async def stats(_request: Request) -> Response:
            with self.lock:
                return JSONResponse(
                    {
                        "requests": self.requests,
                        "applied": len(self.applied),
                        "duplicates": self.duplicates,
                        "failures_sent": self.failures_sent,
                    }
                )

        return Starlette(routes=[Route("/hooks", hooks, methods=["POST"]), Route("/stats", stats)])


class _ThreadServer(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # the test runner owns the signals
        pass


@contextlib.contextmanager
def serve_in_thread(app: Any, port: int | None = None) -> Iterator[str]:
    """Serve an ASGI app on loopback in a background thread; yield its base URL.

    Between `free_port` and the bind another process can take the port (as the source
    port of an outgoing connection, say); then the bind fails and the server's thread
    ends. That is tried again: a port left to choose is replaced, a given one (a story
    configured it already) retried after a pause, while the process using it lets go."""
    server, thread, port = _start(app, port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def _start(app: Any, port: int | None) -> tuple[_ThreadServer, threading.Thread, int]:
    for _attempt in range(8):
        chosen = port or free_port()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=chosen, log_level="warning", lifespan="on"
        )
        server = _ThreadServer(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started and thread.is_alive():
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.01)
        if server.started:
            return server, thread, chosen
        time.sleep(0.5)  # the bind failed (see serve_in_thread)
    raise RuntimeError(f"server did not start: port {port or 'chosen'} stayed in use")


@contextlib.contextmanager
def running_hub(settings: Settings, dispatch: bool = True) -> Iterator[str]:
    """A full hub (API, applier, dispatcher) on a free loopback port."""
    from intermodal.api.app import create_app

    with serve_in_thread(create_app(settings, dispatch=dispatch)) as url:
        yield url


def wait_until(predicate: Any, timeout: float = 30.0, interval: float = 0.05) -> None:
    """Poll until `predicate()` is true; raise TimeoutError naming the wait otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise TimeoutError(
        f"condition not met within {timeout}s: {getattr(predicate, '__name__', predicate)}"
    )


def main() -> None:
    """`python -m intermodal_sim.testing receiver PORT`: a receiver in its own process."""
    import sys

    port = int(sys.argv[2]) if len(sys.argv) > 2 else 9000
    receiver = Receiver()
    uvicorn.run(receiver.app(), host="127.0.0.1", port=port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
