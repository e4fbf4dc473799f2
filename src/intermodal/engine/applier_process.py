"""Appliers in processes of their own, so ingest and apply each get cores.

CPython runs one thread of a process at a time. With the applier as a thread of the hub,
ingest and apply shared one core however many the machine had: the applier took 44% of
the hub's interpreter time at full ingest (BENCHMARKS.md, "Where the time goes"). As a
child process it runs beside ingest, on the same store, exactly as the thread did:

- **Wake-ups** go down a pipe: the group committer writes a byte after each commit (a
  non-blocking write; a full pipe already means "wake up"), the child drains the pipe and
  applies until the inbox has nothing pending. It also looks every half second, as the
  thread did, for messages other processes stored (CLI replays).
  Ingest workers of other processes (`intermodal serve --workers N`, intermodal/serve.py)
  cannot reach that pipe: the child also binds a UNIX datagram socket at the address it
  is given (`wake_address`), and their committers send a byte there (`DatagramWake`).
- **Results** come back up a second pipe, one small summary per batch: the parent counts
  them in its metrics and totals (one `/metrics` for the whole hub) and wakes the
  dispatcher when a batch wrote commands.
- **Partitions, not one applier per store.** Each child holds leases on a share of the
  shipments' partitions (engine/partitions.py, `PartitionOwner`) and fences every batch
  with them, so several children (`ApplierPool`, `hub.appliers`) and the appliers of
  other nodes apply side by side, and a child started at once after a crash takes over
  the dead one's partitions as soon as it sees that process gone. Writers of every
  process queue on the store's writer lock on SQLite (`Store.write`).
- **The hub restarts it** when it dies alone (a crash, the OOM killer): after 1 s, then
  up to 30 s apart while it keeps dying; `/readyz` answers 503 meanwhile.
- **It dies with the hub.** The child asks Linux for SIGKILL when its parent dies
  (`PR_SET_PDEATHSIG`), stops when the wake pipe closes (the hub stopping, or gone), and
  ignores SIGINT and SIGTERM, which Ctrl-C, systemd and `docker stop` send the whole
  process group: the hub stops it.
  A message it was applying when killed is still `pending` and is applied by the next
  applier: its batch is one transaction.

The child is started with `spawn`, never `fork`: the hub's process has threads, an event
loop and a listening socket that a forked child would inherit.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import select
import signal
import socket
import threading
import time
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection

from intermodal.config import Settings
from intermodal.engine.applier import Applier, ApplyResult, record
from intermodal.engine.partitions import PartitionOwner, check_partitions
from intermodal.observe.logs import crashes_logged
from intermodal.observe.metrics import Metrics
from intermodal.processes import (
    die_with_parent,
    ignore_sigint,
    name_process,
    start_deaf_to_sigint,
)

log = logging.getLogger(__name__)

APPLIER_NAME = b"hub-applier"
"""Every applier process's name (/proc/<pid>/comm, `ps -o comm`)."""

_POLL_SECONDS = 0.5


class _PipeWake:
    """`threading.Event.set` across processes: a byte down the current child's wake pipe.

    The descriptor changes when a child is restarted; writes and the switch share a lock,
    so a wake-up can never land on a closed descriptor number the process reused.
    """

    def __init__(self) -> None:
        self._fd: int | None = None
        self._lock = threading.Lock()

    def set(self) -> None:
        with self._lock:
            if self._fd is None:
                return
            with contextlib.suppress(BlockingIOError, BrokenPipeError, OSError):
                os.write(self._fd, b"\x01")

    def attach(self, fd: int | None) -> None:
        with self._lock:
            self._fd = fd


class DatagramWake:
    """`threading.Event.set` from any process: a byte to the applier's datagram socket.

    Sending never blocks and never fails the commit that calls it: a full queue already
    means "wake up", and with no applier bound (it is restarting) the new one looks at
    the inbox when it starts, then every half second.
    """

    def __init__(self, address: str) -> None:
        self.address = address
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._socket.setblocking(False)

    def set(self) -> None:
        with contextlib.suppress(OSError):
            self._socket.sendto(b"\x01", self.address)

    def close(self) -> None:
        self._socket.close()


class _Wakes:
    """`set` wakes every applier of the node (their pipes, or their datagram sockets)."""

    def __init__(self, wakes: Sequence[_PipeWake | DatagramWake]) -> None:
        self.wakes = wakes

    def set(self) -> None:
        for wake in self.wakes:
            wake.set()

    def close(self) -> None:
        for wake in self.wakes:
            if isinstance(wake, DatagramWake):
                wake.close()


def wake_addresses(base: str, count: int) -> list[str]:
    """The datagram sockets of a node's `count` appliers, named after `base`."""
    return [f"{base}.{index}" for index in range(count)]


class ApplierElsewhere:
    """The handle of an ingest worker whose appliers run in other processes (the core
    worker's `ApplierPool`): `wake` reaches them through their datagram sockets; this
    process applies nothing, so its totals stay zero and it has no commands to report."""

    def __init__(self, wake_addresses: list[str]) -> None:
        self.wake = _Wakes([DatagramWake(address) for address in wake_addresses])
        self.on_commands: Callable[[int], None] | None = None
        self.totals = ApplyResult()
        self.restarts = 0

    @property
    def alive(self) -> bool:
        return True  # the core worker's /readyz speaks for the applier

    def start(self) -> None:
        pass

    def stop(self) -> None:
        self.wake.close()


class ApplierProcess:
    """The hub's handle on the applier child: the same `wake`, `on_commands`, `totals`,
    `start`, `stop` and `alive` as the in-process `Applier`.

    A supervisor thread reads the child's reports and, when the child dies without being
    asked to (a crash, the OOM killer), starts a new one after 1 s, doubling the wait up
    to 30 s while it keeps dying. Nothing is lost meanwhile: messages wait in the inbox,
    `/readyz` answers 503 and the restart is logged as an error and counted (`restarts`).
    """

    def __init__(
        self,
        settings: Settings,
        url: str,
        metrics: Metrics | None = None,
        wake_address: str | None = None,
    ) -> None:
        self.settings = settings
        self.url = url
        self.wake_address = wake_address
        self.metrics = metrics
        self.on_commands: Callable[[int], None] | None = None
        self.totals = ApplyResult()
        self.restarts = 0
        self.wake = _PipeWake()
        self._context = multiprocessing.get_context("spawn")
        self._process: multiprocessing.process.BaseProcess | None = None
        self._wake_write: Connection | None = None
        self._report_read: Connection | None = None
        self._ready = threading.Event()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._supervisor = threading.Thread(
            target=self._supervise, name="applier-supervisor", daemon=True
        )

    def start(self) -> None:
        with self._lock:
            self._spawn()
        self._supervisor.start()

    def _spawn(self) -> None:
        wake_read, wake_write = self._context.Pipe(duplex=False)
        report_read, report_write = self._context.Pipe(duplex=False)
        os.set_blocking(wake_write.fileno(), False)
        process = self._context.Process(
            target=_child,
            args=(
                self.settings,
                self.url,
                _resolved_secrets(),
                wake_read,
                report_write,
                os.getpid(),
                self.wake_address,
            ),
            name="intermodal-applier",
            daemon=True,
        )
        start_deaf_to_sigint(process)
        # The child holds its own copies; closing ours lets each side see the other go.
        wake_read.close()
        report_write.close()
        old = self._wake_write
        self.wake.attach(wake_write.fileno())
        if old is not None:
            old.close()
        self._process, self._wake_write, self._report_read = process, wake_write, report_read

    @property
    def alive(self) -> bool:
        """Started and applying: false until the child has opened the store (its start
        takes a second or two, and `/readyz` must not send traffic before)."""
        process = self._process
        return (
            self._ready.is_set()
            and process is not None
            and process.is_alive()
            and self._supervisor.is_alive()
        )

    def wait_ready(self, timeout: float) -> bool:
        return self._ready.wait(timeout)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def stop(self) -> None:
        """Close the wake pipe: the child finishes its batch and exits."""
        self._stopping.set()
        with self._lock:
            self.wake.attach(None)
            if self._wake_write is not None:
                self._wake_write.close()
            process = self._process
        if process is None:
            return
        process.join(timeout=30)
        if process.is_alive():
            log.error("applier process did not stop in 30 s; killing it")
            process.kill()
            process.join(timeout=5)
        self._supervisor.join(timeout=5)

    def _supervise(self) -> None:
        delay = 1.0
        while True:
            process, reports = self._process, self._report_read
            assert process is not None and reports is not None
            started = time.monotonic()
            self._read(reports)
            self._ready.clear()
            reports.close()
            process.join(timeout=5)
            if self._stopping.is_set():
                return
            # Killed by SIGTERM before it could ignore it (it reaches a child still starting;
            # SIGINT waits, blocked, until then): its process group was told to stop, so
            # the hub is stopping too.
            signalled = process.exitcode in (-signal.SIGTERM, -signal.SIGINT)
            if signalled and self._stopping.wait(30):
                return
            if time.monotonic() - started > 60:
                delay = 1.0  # it had been running well: a fresh failure
            log.error(
                "applier process exited (code %s); starting a new one in %.0f s",
                process.exitcode,
                delay,
            )
            if self._stopping.wait(delay):
                return
            with self._lock:
                if self._stopping.is_set():
                    return
                self._spawn()
                self.restarts += 1
                if self.metrics is not None:
                    self.metrics.applier_restarts.inc()
            delay = min(delay * 2, 30.0)
            self.wake.set()  # apply what arrived meanwhile

    def _read(self, reports: Connection) -> None:
        while True:
            try:
                result: ApplyResult | None = reports.recv()
            except (EOFError, OSError):
                return
            if result is None:  # the child is up
                self._ready.set()
                continue
            record(result, self.metrics, self.totals)
            if result.commands and self.on_commands is not None:
                self.on_commands(result.commands)


class ApplierPool:
    """A node's appliers: `count` `ApplierProcess`es behind the one handle the hub uses.
    Each child holds a share of the partitions (engine/partitions.py); a commit wakes them
    all, since its messages may belong to any of them."""

    def __init__(
        self,
        settings: Settings,
        url: str,
        metrics: Metrics | None = None,
        wake_address: str | None = None,
        count: int = 1,
    ) -> None:
        addresses: list[str | None] = (
            list(wake_addresses(wake_address, count)) if wake_address else [None] * count
        )
        self.processes = [ApplierProcess(settings, url, metrics, a) for a in addresses]
        self.wake = _Wakes([p.wake for p in self.processes])
        self._on_commands: Callable[[int], None] | None = None

    @property
    def on_commands(self) -> Callable[[int], None] | None:
        return self._on_commands

    @on_commands.setter
    def on_commands(self, callback: Callable[[int], None] | None) -> None:
        self._on_commands = callback
        for process in self.processes:
            process.on_commands = callback

    @property
    def totals(self) -> ApplyResult:
        total = ApplyResult()
        for process in self.processes:
            record(process.totals, None, total)
        return total

    @property
    def restarts(self) -> int:
        return sum(p.restarts for p in self.processes)

    @property
    def alive(self) -> bool:
        return all(p.alive for p in self.processes)

    @property
    def pids(self) -> list[int | None]:
        return [p.pid for p in self.processes]

    def wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        return all(p.wait_ready(max(0.0, deadline - time.monotonic())) for p in self.processes)

    def start(self) -> None:
        for process in self.processes:
            process.start()

    def stop(self) -> None:
        """Stop them side by side: each finishes its batch and lets its partitions go."""
        threads = [threading.Thread(target=p.stop) for p in self.processes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()


def _resolved_secrets() -> list[str]:
    from intermodal.security.secrets import resolved_values

    return sorted(resolved_values())


@crashes_logged
def _child(
    settings: Settings,
    url: str,
    secrets: list[str],
    wake: Connection,
    report: Connection,
    parent: int,
    wake_address: str | None = None,
) -> None:
    """The child's main: apply whenever woken, until the wake pipe closes."""
    die_with_parent(parent)
    name_process(APPLIER_NAME)
    # Ctrl-C, systemd and `docker stop` signal the whole process group: the hub stops the
    # child through the wake pipe after its batch, instead of seeing it die and restarting it.
    ignore_sigint()
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    from intermodal.mapping import MappingNormalizer
    from intermodal.observe import traces
    from intermodal.observe.logs import configure_logging
    from intermodal.observe.memory import freeze_start_up_heap, release_free_memory
    from intermodal.security.audit import keys_from_settings, use_keys
    from intermodal.security.secrets import remember_resolved
    from intermodal.store import open_store

    remember_resolved(secrets)
    configure_logging(settings.hub.log_level)
    telemetry = settings.telemetry
    if telemetry is not None:
        traces.configure(telemetry.otlp_endpoint, telemetry.service_name, telemetry.sample_ratio)
    store = open_store(url, migrate=False)
    use_keys(store, keys_from_settings(settings))  # its audit rows sealed as the hub's
    check_partitions(store, settings.hub.partitions)
    owner = PartitionOwner(store, settings.hub.partitions, settings.hub.lease_seconds)
    owner.start()
    others = _bind_wake_socket(wake_address) if wake_address is not None else None
    worked = False

    def send(result: ApplyResult | None) -> None:
        nonlocal worked
        worked = worked or (result is not None and result.messages > 0)
        try:
            report.send(result)
        except (BrokenPipeError, OSError):
            applier.stop()  # the hub is gone

    fd = wake.fileno()
    watched = [fd] if others is None else [fd, others.fileno()]

    def woken() -> bool:
        """Wait for a wake-up byte, or half a second; False once the hub closes the pipe."""
        nonlocal worked
        ready, _, _ = select.select(watched, [], [], _POLL_SECONDS)
        if others is not None and others.fileno() in ready:
            _drain(others)
            if fd not in ready:
                return True
        if ready:
            try:
                return bool(os.read(fd, 65536))  # b"": the hub closed the pipe, or died
            except OSError:
                return False
        if worked:  # quiet for a poll after a burst: hand its freed pages back (W5)
            release_free_memory()
            worked = False
        return True

    applier = Applier(
        store, settings, normalize=MappingNormalizer(settings), report=send, owner=owner
    )
    freeze_start_up_heap()
    send(None)  # ready
    try:
        applier.run(woken)
    finally:
        owner.stop()  # its partitions go to the other appliers at once
        store.dispose()
        if others is not None:
            others.close()
        report.close()


def _bind_wake_socket(address: str) -> socket.socket:
    """Bind the datagram socket other ingest workers wake the applier through; an earlier
    applier's (dead: the pool starts one child per address) is replaced."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(address)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    sock.setblocking(False)
    return sock


def _drain(sock: socket.socket) -> None:
    with contextlib.suppress(BlockingIOError, OSError):
        while sock.recv(64):
            pass
