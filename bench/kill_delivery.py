"""Duplicate deliveries per kill: SIGKILL a hub 1 s into draining an outbox backlog.

Setup: a store (SQLite file, or `--db` PostgreSQL URL) gets N pending commands (N/3
shipments, three each), as the applier writes them. A receiver in this process
(`intermodal_sim.testing.Receiver`) applies each command id once and counts the copies.

Measured: `intermodal serve` starts and drains the backlog; `--kill-after` seconds after
the receiver saw the first command, the hub is SIGKILLed, then started again on the same
store and left to drain. Every copy the receiver got beyond the first is a duplicate
delivery caused by the kill: commands sent whose outcome was not recorded yet.

    python bench/kill_delivery.py [--quick] [--count 3000] [--kill-after 1.0] [--db URL]

The peer, measured in the same run, is what a dispatcher that records a claimed pass's
outcomes only at the end of the pass (this hub's before 2026-12-04, passes of up to 2,000)
resends after the same kill: every command delivered before it. The goal is the commands
in flight at the kill, a few dozen.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import orjson
import yaml
from sqlalchemy import func, select

from _common import BIN, workdir
from intermodal.engine.ids import iso, utcnow
from intermodal.outbox.command import OutboundCommand, enqueue
from intermodal.store import open_store
from intermodal.store.tables import outbox
from intermodal_sim.testing import Receiver, free_port, serve_in_thread, wait_until


def fill(url: str, count: int) -> None:
    store = open_store(url)
    now = iso(utcnow())
    commands = []
    for i in range(count):
        subject, step = f"SHP-{i % (count // 3):05d}", i // (count // 3)
        command_id = f"cmd_{subject}_{step}"
        body = orjson.dumps({"id": command_id, "subject": subject, "n": step})
        commands.append(OutboundCommand(command_id, "portal", "bench", subject, body, "c", now))
    with store.write() as conn:
        enqueue(conn, commands)
    store.dispose()


def pending(url: str) -> int:
    store = open_store(url, migrate=False)
    try:
        with store.read() as conn:
            return int(
                conn.execute(
                    select(func.count()).select_from(outbox).where(outbox.c.status == "pending")
                ).scalar_one()
            )
    finally:
        store.dispose()


def start(config: Path, url: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [
                str(BIN / "intermodal"),
                "serve",
                "--config",
                str(config),
                "--db",
                url,
                "--port",
                str(port),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return proc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 commands, under a minute")
    parser.add_argument("--count", type=int, default=None, help="backlog (default 3000)")
    parser.add_argument("--kill-after", type=float, default=1.0)
    parser.add_argument(
        "--db", help="an empty PostgreSQL database it may fill (default: a fresh SQLite file)"
    )
    args = parser.parse_args()
    if args.count is None:
        args.count = 1000 if args.quick else 3000
    receiver = Receiver()
    with workdir("kill-delivery") as work, serve_in_thread(receiver.app()) as receiver_url:
        url = args.db or f"sqlite:///{work / 'hub.db'}"
        fill(url, args.count)
        port = free_port()
        config = work / "intermodal.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "hub": {"log_level": "warning"},
                    "partners": {},
                    "endpoints": {
                        "portal": {"url": f"{receiver_url}/hooks", "rate_per_second": 20_000}
                    },
                }
            )
        )
        log = work / "hub.log"
        hub = start(config, url, port, log)
        try:
            wait_until(lambda: receiver.requests > 0, timeout=60)
            time.sleep(args.kill_after)
            os.killpg(hub.pid, signal.SIGKILL)
            hub.wait()
            at_kill = len(receiver.applied)
            killed = time.monotonic()
            hub = start(config, url, port, log)
            wait_until(lambda: len(receiver.applied) >= args.count, timeout=300)
            drained = time.monotonic() - killed
            wait_until(lambda: pending(url) == 0, timeout=60)
            hub.send_signal(signal.SIGTERM)
            hub.wait(timeout=60)
        finally:
            if hub.poll() is None:
                os.killpg(hub.pid, signal.SIGKILL)
        with httpx.Client() as client:  # the receiver's own count, as a second witness
            stats = client.get(f"{receiver_url}/stats").json()
    print(
        f"backlog {args.count}, killed {args.kill_after:.1f} s into draining with "
        f"{at_kill} applied; drained {drained:.1f} s after the kill"
    )
    ratio = receiver.duplicates / at_kill if at_kill else float("nan")
    print(
        f"RESULT kill-delivery duplicates_per_kill={receiver.duplicates} commands"
        f" peer={at_kill} ratio={ratio:.3f}"
    )
    assert stats["duplicates"] == receiver.duplicates
    sys.exit(0)


if __name__ == "__main__":
    main()
