"""`intermodal serve --workers N`: N ingest processes on one port, under one supervisor.

CPython runs one thread of a process at a time, so one process answers webhooks with one
core however many the machine has. With N workers:

- **The supervisor** (the `serve` process) migrates the store, reserves the port and
  starts N worker processes (`spawn`), then only watches them: a worker that dies
  without being asked to is started again after 0.5 s, doubling up to 30 s while that
  slot keeps dying (logged as an error, counted in `intermodal_worker_restarts_total`).
  SIGTERM or SIGINT is passed on to every worker; the supervisor waits for them (up to
  30 s, then SIGKILL), removes its runtime folder and exits as `serve --workers 1` does.
  Workers ask Linux for SIGKILL when the supervisor dies (`PR_SET_PDEATHSIG`).
- **Every worker** binds its own listening socket to the same address with
  `SO_REUSEPORT` (the kernel spreads connections across them) and runs the hub's HTTP
  application with its own group committer.
- **Worker 0 is the core worker**: besides ingest, it runs the node's appliers (child
  processes, engine/applier_process.py; `hub.appliers`), the dispatcher, the timer
  worker, the pollers, sync, reconciliation and retention, exactly as a one-process hub
  does. The others are ingest-only (`Hub.ingest_only`). Commits wake the appliers
  through their pipes or their UNIX datagram sockets in the runtime folder. If worker 0
  dies, its appliers die with it and its replacement starts new ones, which take over
  their partitions at once; meanwhile the other workers keep acknowledging webhooks,
  which wait in the inbox.
- **The inbox writer** (SQLite only): a process that commits every worker's messages in
  one transaction (engine/commit_relay.py), supervised like a worker and stopped after
  them.
- **Metrics**: the supervisor points `PROMETHEUS_MULTIPROC_DIR` at the runtime folder
  (or keeps the operator's), so `/metrics` from any worker sums every worker's counters
  (prometheus_client's multiprocess mode); see docs/operations.md.

On SQLite the workers commit through the inbox writer (on their own, queueing on the
store's cross-process writer lock, while it is away); on PostgreSQL they commit side by
side.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import tempfile
import time
from dataclasses import dataclass
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import FrameType

import uvicorn
from starlette.types import ASGIApp

from intermodal.config import Settings
from intermodal.observe.logs import crashes_logged
from intermodal.processes import die_with_parent, ignore_sigint, name_process, start_deaf_to_sigint

log = logging.getLogger(__name__)

FIRST_RESTART_DELAY = 0.5
MAX_RESTART_DELAY = 30.0
HEALTHY_AFTER_SECONDS = 60.0
STOP_TIMEOUT = 30.0
RUNTIME_PREFIX = "intermodal-serve-"
"""The runtime folder in $TMPDIR: `intermodal-serve-<supervisor pid>-<random>`."""
WRITER_NAME = b"inbox-writer"
"""The inbox writer's process name (/proc/<pid>/comm, `ps -o comm`)."""
WORKER_NAME = b"hub-worker-"
"""Each spawned worker's process name, followed by its index: `hub-worker-0` is the core
worker. With `--workers 1` the one process keeps its own name (`intermodal`)."""
WORKER_ENV = "INTERMODAL_WORKER"
"""Set in each worker to its index: the core worker is 0."""


@dataclass
class _Slot:
    index: int
    process: BaseProcess | None = None
    writer: bool = False
    """The inbox writer (SQLite: one group commit for every worker), not a worker."""
    started: float = 0.0
    delay: float = FIRST_RESTART_DELAY
    restart_at: float | None = None


class Supervisor:
    """Starts the workers, restarts the ones that die, stops them all on a signal."""

    def __init__(self, settings: Settings, workers: int) -> None:
        self.settings = settings
        self.workers = workers
        self.runtime = Path()  # made at start: the wake socket and the metrics files
        self.restarts = 0
        self._context = multiprocessing.get_context("spawn")
        self._slots = [_Slot(i) for i in range(workers)]
        if settings.hub.database.startswith("sqlite") and workers > 1:
            self._slots.append(_Slot(workers, writer=True))
        self._signal: int | None = None
        self._reserved: socket.socket | None = None
        self.port = settings.hub.port

    def run(self) -> int | None:
        """Run until SIGTERM or SIGINT; the signal that stopped it (None: none did)."""
        previous = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)
        }
        _remove_stale_runtimes()
        self.runtime = Path(tempfile.mkdtemp(prefix=f"{RUNTIME_PREFIX}{os.getpid()}-"))
        try:
            self._start()
            self._watch()
        finally:
            self._stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            if self._reserved is not None:
                self._reserved.close()
            shutil.rmtree(self.runtime, ignore_errors=True)
        return self._signal

    @property
    def wake_address(self) -> str:
        """Where the appliers' datagram sockets are named after (applier_process.py)."""
        return str(self.runtime / "applier.sock")

    @property
    def relay_address(self) -> str | None:
        """The inbox writer's socket (engine/commit_relay.py), on SQLite."""
        if not any(slot.writer for slot in self._slots):
            return None
        return str(self.runtime / "commit.sock")

    def reserve_port(self) -> int:
        """Bind (not listen) the address with SO_REUSEPORT: a port in use fails here, port
        0 becomes a real port every worker then shares."""
        self._reserved = listening_socket(self.settings.hub.host, self.port, listen=False)
        self.port = self._reserved.getsockname()[1]
        return self.port

    def _on_signal(self, sig: int, _frame: FrameType | None) -> None:
        if self._signal is None:
            self._signal = sig

    def _start(self) -> None:
        from intermodal.store import open_store

        if self._reserved is None:
            self.reserve_port()
        metrics_dir = os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(self.runtime))
        Path(metrics_dir).mkdir(parents=True, exist_ok=True)
        open_store(self.settings.hub.database).dispose()  # migrate once, not N times
        for slot in self._slots:
            self._spawn(slot)

    def _spawn(self, slot: _Slot) -> None:
        from intermodal.engine.applier_process import _resolved_secrets

        if slot.writer:
            assert self.relay_address is not None
            process = self._context.Process(
                target=_inbox_writer,
                args=(
                    self.settings,
                    _resolved_secrets(),
                    self.relay_address,
                    self.wake_address,
                    os.getpid(),
                ),
                name="intermodal-inbox-writer",
            )
            start_deaf_to_sigint(process)
            slot.process, slot.started, slot.restart_at = process, time.monotonic(), None
            return
        process = self._context.Process(
            target=_worker,
            args=(
                slot.index,
                self.settings,
                _resolved_secrets(),
                self.port,
                self.wake_address,
                self.relay_address,
                os.getpid(),
                self.restarts,
            ),
            name=f"intermodal-worker-{slot.index}",
        )
        start_deaf_to_sigint(process)
        slot.process, slot.started, slot.restart_at = process, time.monotonic(), None

    def _watch(self) -> None:
        while self._signal is None:
            sentinels = [s.process.sentinel for s in self._slots if s.process is not None]
            wait(sentinels, timeout=0.2)
            now = time.monotonic()
            for slot in self._slots:
                process = slot.process
                if process is not None and not process.is_alive() and self._signal is None:
                    process.join()
                    self._forget(process)
                    if now - slot.started > HEALTHY_AFTER_SECONDS:
                        slot.delay = FIRST_RESTART_DELAY
                    log.error(  # the pid as a field: in the text it reads as a phone number
                        "%s exited with code %s; starting a new one in %.1f s",
                        "the inbox writer" if slot.writer else f"worker {slot.index}",
                        process.exitcode,
                        slot.delay,
                        extra={"worker_pid": process.pid},
                    )
                    slot.process, slot.restart_at = None, now + slot.delay
                    slot.delay = min(slot.delay * 2, MAX_RESTART_DELAY)
                if slot.process is None and slot.restart_at is not None and now >= slot.restart_at:
                    self.restarts += 1
                    self._spawn(slot)

    def _forget(self, process: BaseProcess) -> None:
        """Drop a dead worker's live gauges from the multiprocess metrics."""
        if process.pid is None:
            return
        with contextlib.suppress(Exception):
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(process.pid)  # type: ignore[no-untyped-call]

    def _stop_all(self) -> None:
        """Workers first (their last commits still go through the inbox writer), then
        the writer."""
        self._stop([s.process for s in self._slots if s.process is not None and not s.writer])
        self._stop([s.process for s in self._slots if s.process is not None and s.writer])

    def _stop(self, running: list[BaseProcess]) -> None:
        for process in running:
            if process.is_alive() and process.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for process in running:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                log.error(
                    "a worker did not stop in %.0f s; killing it",
                    STOP_TIMEOUT,
                    extra={"worker_pid": process.pid},
                )
                process.kill()
                process.join(5)


def _remove_stale_runtimes() -> None:
    """Remove the runtime folders of supervisors that are gone (SIGKILLed: no clean stop)."""
    for folder in Path(tempfile.gettempdir()).glob(f"{RUNTIME_PREFIX}*-*"):
        pid = folder.name.removeprefix(RUNTIME_PREFIX).split("-", 1)[0]
        if not pid.isdigit() or folder.stat().st_uid != os.getuid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            continue


def listening_socket(host: str, port: int, listen: bool = True) -> socket.socket:
    """A TCP socket on (host, port) that other processes of this user can bind too."""
    family, kind, proto, _name, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind(address)
        if listen:
            sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(False)
    return sock


@crashes_logged
def _worker(
    index: int,
    settings: Settings,
    secrets: list[str],
    port: int,
    wake_address: str,
    relay_address: str | None,
    parent: int,
    restarts: int,
) -> None:
    """A worker's main: the hub's application on its own SO_REUSEPORT socket."""
    from intermodal.api.app import create_app
    from intermodal.observe.logs import configure_logging
    from intermodal.security.secrets import remember_resolved
    from intermodal.store import open_store

    die_with_parent(parent)
    name_process(WORKER_NAME + str(index).encode())
    ignore_sigint()  # as _WorkerServer: the supervisor stops the workers
    os.environ[WORKER_ENV] = str(index)
    remember_resolved(secrets)
    configure_logging(settings.hub.log_level)
    sock = listening_socket(settings.hub.host, port)
    store = open_store(settings.hub.database, migrate=False)
    application = create_app(
        settings,
        store,
        applier="process" if index == 0 else "elsewhere",
        wake_address=wake_address,
        relay_address=relay_address,
    )
    _count_restarts(restarts)
    _WorkerServer(server_config(application, settings)).run(sockets=[sock])


def server_config(
    application: ASGIApp, settings: Settings, host: str | None = None, port: int | None = None
) -> uvicorn.Config:
    """How every `intermodal serve` process serves the application (one process, or each
    worker): httptools with `hub.limits` enforced (api/limits.py), on uvloop.

    `log_config=None`: uvicorn's own loggers then keep no plain-text handlers of their
    own and propagate to the root logger `configure_logging` set up, so the server's
    lines and tracebacks are JSON and redacted like every other (observe/logs.py).
    No WebSocket protocol: the hub serves none, so an upgrade request is plain HTTP."""
    from intermodal.api.limits import limited_protocol

    limits = settings.hub.limits
    return uvicorn.Config(
        application,
        host=host if host is not None else settings.hub.host,
        port=port if port is not None else settings.hub.port,
        log_config=None,
        log_level="warning",
        access_log=False,
        loop="uvloop",
        http=limited_protocol(limits),
        ws="none",
        timeout_keep_alive=limits.keep_alive_seconds,
        server_header=False,  # no "server: uvicorn" on every answer: less to parse, to tell
    )


@crashes_logged
def _inbox_writer(
    settings: Settings, secrets: list[str], relay_address: str, wake_address: str, parent: int
) -> None:
    """The inbox writer's main (SQLite, several workers): commit what every worker sends,
    wake the appliers; stop on SIGTERM (the supervisor's, after the workers')."""
    import threading

    from intermodal.engine.applier_process import ApplierElsewhere, wake_addresses
    from intermodal.engine.commit_relay import InboxWriter
    from intermodal.observe.logs import configure_logging
    from intermodal.observe.metrics import Metrics
    from intermodal.security.secrets import remember_resolved
    from intermodal.store import open_store

    die_with_parent(parent)
    name_process(WRITER_NAME)
    stop = threading.Event()
    ignore_sigint()  # the supervisor stops it, last
    signal.signal(signal.SIGTERM, lambda _sig, _frame: stop.set())
    remember_resolved(secrets)
    configure_logging(settings.hub.log_level)
    store = open_store(settings.hub.database, migrate=False)
    appliers = ApplierElsewhere(wake_addresses(wake_address, settings.hub.applier_count()))
    metrics = Metrics(store, list(settings.partners), endpoints=list(settings.endpoints))
    try:
        InboxWriter(store, relay_address, appliers.wake.set, metrics).serve(stop)
    finally:
        appliers.stop()
        store.dispose()


class _WorkerServer(uvicorn.Server):
    """uvicorn's server, deaf to SIGINT: Ctrl-C in a terminal reaches the whole process
    group, and the supervisor, which gets it too, stops the workers with SIGTERM."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig != signal.SIGINT:
            super().handle_exit(sig, frame)


def _count_restarts(total: int) -> None:
    """Carry the supervisor's restart count, as it was when this worker started, into the
    shared metrics: in `max` mode the newest worker's figure is the total."""
    from prometheus_client import Gauge

    Gauge(
        "intermodal_worker_restarts",
        "Worker processes that died on their own and were started again by serve.",
        multiprocess_mode="max",
    ).set(total)
