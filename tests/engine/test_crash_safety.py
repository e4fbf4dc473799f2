"""Crash safety: signed webhooks in while the hub is SIGKILLed and restarted, nothing lost.

The hub runs as a real `intermodal serve` subprocess on a real SQLite file (the same
load and checks on PostgreSQL, with nodes killed and restarted there, are
tests/engine/test_node_loss.py's three-node test). 20,000 Standard Webhooks-signed
messages for 500 shipments go in concurrently, shuffled, 10% of them exact
re-deliveries, while the hub is killed with SIGKILL at 5 random moments and restarted on
the same database. The sender behaves like a real partner: a connection error or a 5xx
is retried until a 2xx comes back. Outgoing commands go to a deduplicating `Receiver` in
this process.

Afterwards, read straight from the database:
- every webhook-id that got a 2xx (in particular a 202) is in the inbox exactly once, and
  no webhook-id was answered 202 twice (which would mean a 202 was not durable);
- every event is recorded once as the original, duplicates flagged, violations exactly
  where the ownership policy says;
- each shipment's state equals the pure fold (`engine.apply.decide`) of its distinct
  events in time order, computed here from what was sent;
- every state change in the audit chain has its command, every command reached the
  receiver, none was applied twice; duplicate deliveries (at-least-once retries after a
  kill) are allowed and reported; the audit chain verifies.

The seed is printed; set INTERMODAL_CRASH_SEED to replay a run's workload and kill points.
Run with `-s` to see the timings and counters.
"""

from __future__ import annotations

import asyncio
import base64
import os
import random
import secrets
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml
from sqlalchemy import func, select

from intermodal.canonical.model import MilestoneType as M
from intermodal.engine.apply import Mark, OwnershipPolicy, ShipmentState, decide
from intermodal.ingress.signatures import sign
from intermodal.store import Store, open_store
from intermodal.store.tables import audit, dead_letters, events, inbox, outbox, shipments
from intermodal_sim.testing import Receiver, free_port, serve_in_thread

pytestmark = pytest.mark.slow  # a parallel run gives it one worker: ONE_WORKER, conftest.py

SHIPMENTS = 500
WEBHOOKS = 20_000
REDELIVERIES = WEBHOOKS // 10  # exact re-deliveries: same webhook-id, same body
RESENT_EVENTS = 300  # the same event again under a new webhook-id
MEANING_DUPLICATES = 300  # a new event id, same partner/type/subject/time/milestone
BASE_EVENTS = WEBHOOKS - REDELIVERIES - RESENT_EVENTS - MEANING_DUPLICATES
KILLS = 5
IN_FLIGHT = 48
SEND_DEADLINE = 360.0  # seconds; a hub that stops answering fails here, with its log

CARRIER = "acme-carrier"
RIVAL = "rival-tms"  # owns nothing; its carrier milestones are violations
CARRIER_OWNS = [M.PICKED_UP, M.IN_TRANSIT, M.OUT_FOR_DELIVERY, M.DELIVERED, M.DELIVERY_FAILED]
POLICY = OwnershipPolicy({m: frozenset({CARRIER}) for m in CARRIER_OWNS})

HUB_BIN = Path(sys.executable).with_name("intermodal")


# -- the workload -----------------------------------------------------------------------
@dataclass(frozen=True)
class Event:
    partner: str
    event_id: str
    subject: str
    milestone: M
    occurred_at: datetime
    time: datetime

    def body(self) -> bytes:
        return orjson.dumps(
            {
                "specversion": "1.0",
                "id": self.event_id,
                "source": self.partner,
                "type": "intermodal.shipment.milestone",
                "subject": self.subject,
                "time": _z(self.time),
                "datacontenttype": "application/json",
                "data": {"milestone": self.milestone.value, "occurred_at": _z(self.occurred_at)},
            }
        )


@dataclass(frozen=True)
class Webhook:
    partner: str
    webhook_id: str
    body: bytes


@dataclass
class Workload:
    webhooks: list[Webhook]  # shuffled, re-deliveries included
    base: dict[str, list[Event]]  # per shipment: its distinct meanings
    carried_by: dict[tuple[str, str], set[str]]  # (partner, event id) -> webhook-ids
    meaning_groups: list[set[str]]  # event ids sharing one meaning (same partner)


def _z(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _carrier_story(rng: random.Random, length: int) -> list[M]:
    """A plausible carrier track of exactly `length` milestones, in time order."""
    delivered = rng.random() < 0.85
    customs = rng.random() < 0.25
    failed_attempt = delivered and rng.random() < 0.2
    head = [M.BOOKED, M.DISPATCHED, M.PICKED_UP]
    middle: list[M] = []
    if rng.random() < 0.15:
        middle.append(M.EXCEPTION)
    if customs:
        middle += [M.CUSTOMS_HOLD, M.CUSTOMS_RELEASED]
    tail: list[M] = []
    if delivered:
        tail = [M.OUT_FOR_DELIVERY]
        if failed_attempt:
            tail += [M.DELIVERY_FAILED, M.OUT_FOR_DELIVERY]
        tail.append(M.DELIVERED)
    ending: list[M] = []
    if rng.random() < 0.04:
        ending.append(M.RETURNED if delivered or failed_attempt else M.CANCELLED)
    scans = length - len(head) - len(middle) - len(tail) - len(ending)
    assert scans >= 1
    transit = [M.IN_TRANSIT] * scans
    # side states land somewhere among the in-transit scans
    for side in middle:
        transit.insert(rng.randrange(1, len(transit) + 1), side)
    return head + transit + tail + ending


def build_workload(rng: random.Random) -> Workload:
    epoch = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)
    per_shipment = [BASE_EVENTS // SHIPMENTS] * SHIPMENTS
    for i in range(BASE_EVENTS - sum(per_shipment)):
        per_shipment[i] += 1
    base: dict[str, list[Event]] = {}
    for n in range(SHIPMENTS):
        key = f"SHP-CRASH-{n:05d}"
        start = epoch + timedelta(minutes=n)
        rival = rng.random() < 0.6
        story = _carrier_story(rng, per_shipment[n] - (1 if rival else 0))
        evs = []
        for k, milestone in enumerate(story):
            at = start + timedelta(minutes=37 * k)
            # `time` differs per event, so meanings never collide by accident
            evs.append(
                Event(CARRIER, f"evt-{key}-{k:03d}", key, milestone, at, at + timedelta(seconds=9))
            )
        if rival:
            # the TMS asserting a carrier milestone (a violation: never applied), or an
            # exception nobody owns (allowed), at a time between or after the carrier's
            k = rng.randrange(len(story) + 1)
            at = start + timedelta(minutes=37 * k - 11)
            milestone = M.DELIVERED if rng.random() < 0.6 else M.EXCEPTION
            evs.append(Event(RIVAL, f"tms-{key}", key, milestone, at, at + timedelta(seconds=3)))
        base[key] = evs

    originals = [ev for evs in base.values() for ev in evs]
    webhooks = [Webhook(ev.partner, f"msg-{ev.event_id}", ev.body()) for ev in originals]
    carried_by: dict[tuple[str, str], set[str]] = {
        (ev.partner, ev.event_id): {f"msg-{ev.event_id}"} for ev in originals
    }
    carrier_events = [ev for ev in originals if ev.partner == CARRIER]
    picked = rng.sample(carrier_events, RESENT_EVENTS + MEANING_DUPLICATES)
    for ev in picked[:RESENT_EVENTS]:
        webhook_id = f"msg-again-{ev.event_id}"
        webhooks.append(Webhook(ev.partner, webhook_id, ev.body()))
        carried_by[(ev.partner, ev.event_id)].add(webhook_id)
    meaning_groups = []
    for ev in picked[RESENT_EVENTS:]:
        twin = Event(
            ev.partner, f"{ev.event_id}-twin", ev.subject, ev.milestone, ev.occurred_at, ev.time
        )
        webhook_id = f"msg-{twin.event_id}"
        webhooks.append(Webhook(twin.partner, webhook_id, twin.body()))
        carried_by[(twin.partner, twin.event_id)] = {webhook_id}
        meaning_groups.append({ev.event_id, twin.event_id})
    webhooks += rng.sample(webhooks, REDELIVERIES)
    rng.shuffle(webhooks)
    assert len(webhooks) == WEBHOOKS
    return Workload(webhooks, base, carried_by, meaning_groups)


def expected_states(workload: Workload) -> dict[str, str | None]:
    """Each shipment's state: `decide` folded over its distinct events in time order."""
    result: dict[str, str | None] = {}
    for key, evs in workload.base.items():
        state = ShipmentState()
        for ev in sorted(evs, key=lambda e: e.occurred_at):
            state, _ = decide(
                state, Mark(ev.milestone, ev.occurred_at, ev.event_id), ev.partner, POLICY
            )
        result[key] = state.current.milestone.value if state.current else None
    return result


# -- the hub as a process ------------------------------------------------------------------
@dataclass
class HubProcess:
    config: Path
    db: str
    port: int
    env: dict[str, str]
    log: Path
    args: list[str] = field(default_factory=list)  # more `serve` options, e.g. --workers
    proc: subprocess.Popen[bytes] | None = None
    starts: list[float] = field(default_factory=list)  # seconds from spawn to ready

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def spawn(self) -> None:
        with self.log.open("ab") as out:
            out.write(f"\n=== start {len(self.starts) + 1} ===\n".encode())
            out.flush()
            self.proc = subprocess.Popen(
                [
                    HUB_BIN,
                    "serve",
                    "--config",
                    self.config,
                    "--db",
                    self.db,
                    "--port",
                    str(self.port),
                    *self.args,
                ],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    async def wait_ready(self, timeout: float = 60.0) -> None:
        began = time.monotonic()
        async with httpx.AsyncClient(timeout=2.0) as client:
            while True:
                assert self.proc is not None
                if self.proc.poll() is not None:
                    raise AssertionError(f"hub exited with {self.proc.returncode}:\n{self.tail()}")
                try:
                    if (await client.get(f"{self.url}/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() - began > timeout:
                    raise AssertionError(f"hub not ready after {timeout}s:\n{self.tail()}")
                await asyncio.sleep(0.05)
        self.starts.append(time.monotonic() - began)

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no flush, in-flight requests and batches cut off."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM and wait; SIGKILL if it does not exit. Returns the exit code, or None."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


# -- sending like a partner ----------------------------------------------------------------
@dataclass
class SendLog:
    statuses: Counter[int] = field(default_factory=Counter)
    transport_errors: Counter[str] = field(default_factory=Counter)
    accepted: Counter[str] = field(default_factory=Counter)  # webhook-id -> number of 202s
    succeeded: set[str] = field(default_factory=set)  # webhook-ids that got any 2xx
    unexpected: list[tuple[str, int, str]] = field(default_factory=list)
    attempts: Counter[str] = field(default_factory=Counter)  # per webhook-id, all sends
    done: int = 0


async def kill_and_restart(hub: HubProcess) -> None:
    await asyncio.to_thread(hub.kill)
    hub.spawn()
    await hub.wait_ready()


async def send_all(
    hubs: list[HubProcess],
    workload: Workload,
    keys: dict[str, bytes],
    kill_at: list[int],
    kill: Callable[[int], Awaitable[None]] | None = None,
) -> tuple[SendLog, list[float]]:
    """Send every webhook like a partner behind a load balancer: round-robin over `hubs`,
    a failed send retried on the next one. At each of `kill_at` sends done, `kill(i)`
    (default: SIGKILL the one hub and start it again) runs; its duration is a downtime."""
    log = SendLog()
    progress = asyncio.Condition()
    downtimes: list[float] = []
    pending: Iterator[tuple[int, Webhook]] = enumerate(workload.webhooks)
    if kill is None:
        kill = lambda _i: kill_and_restart(hubs[0])  # noqa: E731

    async def deliver(client: httpx.AsyncClient, index: int, wh: Webhook) -> None:
        delay = 0.02
        while True:
            hub = hubs[index % len(hubs)]
            index += 1
            log.attempts[wh.webhook_id] += 1
            timestamp = int(time.time())
            headers = {
                "content-type": "application/json",
                "webhook-id": wh.webhook_id,
                "webhook-timestamp": str(timestamp),
                "webhook-signature": sign(keys[wh.partner], wh.webhook_id, timestamp, wh.body),
            }
            try:
                response = await client.post(
                    f"{hub.url}/v1/webhooks/{wh.partner}", content=wh.body, headers=headers
                )
            except httpx.TransportError as exc:
                log.transport_errors[type(exc).__name__] += 1
            else:
                status = response.status_code
                log.statuses[status] += 1
                if status == 202:
                    log.accepted[wh.webhook_id] += 1
                if 200 <= status < 300:
                    log.succeeded.add(wh.webhook_id)
                    return
                if status < 500:
                    log.unexpected.append((wh.webhook_id, status, response.text[:300]))
                    return
            # a partner's retry: exponential backoff with jitter, capped
            await asyncio.sleep(random.uniform(delay / 2, delay))
            delay = min(delay * 2, 0.5)

    async def worker() -> None:
        # A client per worker, one connection each: a shared pool of 48 connections
        # costs httpcore more CPU per request than the hub spends answering it.
        async with httpx.AsyncClient(
            limits=httpx.Limits(max_connections=1), timeout=30.0
        ) as client:
            for index, wh in pending:
                await deliver(client, index, wh)
                async with progress:
                    log.done += 1
                    progress.notify_all()

    async def killer() -> None:
        assert kill is not None
        for number, threshold in enumerate(kill_at):
            async with progress:
                await progress.wait_for(lambda t=threshold: log.done >= t)
            began = time.monotonic()
            await kill(number)
            downtimes.append(time.monotonic() - began)

    try:
        await asyncio.wait_for(
            asyncio.gather(killer(), *(worker() for _ in range(IN_FLIGHT))), SEND_DEADLINE
        )
    except TimeoutError:
        raise AssertionError(
            f"sending did not finish within {SEND_DEADLINE}s: {log.done} of {WEBHOOKS} done,"
            f" {len(downtimes)} kills, answers {dict(log.statuses)},"
            f" transport errors {dict(log.transport_errors)}\n{hubs[0].tail()}"
        ) from None
    return log, downtimes


# -- reading the outcome -------------------------------------------------------------------
def wait_drained(store: Store, hubs: list[HubProcess], timeout: float = 120.0) -> dict[str, int]:
    """Poll until the inbox and the outbox have nothing pending."""
    deadline = time.monotonic() + timeout
    while True:
        with store.read() as conn:
            counts = {
                "inbox_pending": conn.scalar(
                    select(func.count()).select_from(inbox).where(inbox.c.status == "pending")
                ),
                "outbox_pending": conn.scalar(
                    select(func.count()).select_from(outbox).where(outbox.c.status == "pending")
                ),
            }
        if not any(counts.values()):
            return counts
        for hub in hubs:
            assert hub.proc is not None and hub.proc.poll() is None, (
                f"hub died while draining:\n{hub.tail()}"
            )
        if time.monotonic() > deadline:
            raise AssertionError(f"not drained after {timeout}s: {counts}\n{hubs[0].tail()}")
        time.sleep(0.1)


def kill_points(rng: random.Random) -> list[int]:
    """When to kill: after how many sends, once in each of KILLS stretches of the load."""
    spread = WEBHOOKS * 0.9 / KILLS
    return [int(WEBHOOKS * 0.05 + spread * i + rng.uniform(0, spread)) for i in range(KILLS)]


def hub_setup(
    tmp_path: Path, receiver_url: str, reconcile: dict[str, Any] | None = None, **delivery: Any
) -> tuple[Path, dict[str, str], dict[str, bytes]]:
    """The hub under test: its configuration file (the carrier owning its milestones, a
    rival owning none, the deduplicating receiver as the one endpoint; `delivery` settings
    added), its environment with fresh webhook secrets, and the partners' signing keys."""
    secrets_by_partner = {
        CARRIER: "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode(),
        RIVAL: "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode(),
    }
    config: dict[str, Any] = {
        # metrics_public: the node-loss test scrapes each node's leader gauge.
        "hub": {"log_level": "warning", "metrics_public": True},
        "partners": {
            CARRIER: {
                "kind": "carrier",
                "webhook_secrets": ["env:ACME_WEBHOOK_SECRET"],
                "owns": [m.value for m in CARRIER_OWNS],
            },
            RIVAL: {"kind": "tms", "webhook_secrets": ["env:RIVAL_WEBHOOK_SECRET"]},
        },
        "endpoints": {"portal": {"url": f"{receiver_url}/hooks", "rate_per_second": 20_000}},
        "delivery": {
            "max_attempts": 50,
            "backoff_base_seconds": 0.05,
            "backoff_max_seconds": 1.0,
            **delivery,
        },
    }
    if reconcile is not None:
        config["reconcile"] = reconcile
    path = tmp_path / "intermodal.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    env = {
        **os.environ,
        "ACME_WEBHOOK_SECRET": secrets_by_partner[CARRIER],
        "RIVAL_WEBHOOK_SECRET": secrets_by_partner[RIVAL],
    }
    keys = {p: base64.b64decode(s.removeprefix("whsec_")) for p, s in secrets_by_partner.items()}
    return path, env, keys


def test_crash_safety(sqlite_url: str, tmp_path: Path) -> None:
    db_url = sqlite_url
    seed = int(os.environ.get("INTERMODAL_CRASH_SEED") or secrets.randbits(32))
    rng = random.Random(seed)
    backend = db_url.split(":", 1)[0]
    print(f"\n[crash-safety {backend}] seed={seed}")
    timings: dict[str, float] = {}

    t = time.monotonic()
    workload = build_workload(rng)
    expected = expected_states(workload)
    timings["generate"] = time.monotonic() - t

    kill_at = kill_points(rng)

    receiver = Receiver()
    with serve_in_thread(receiver.app()) as receiver_url:
        # commands claimed by a killed hub are re-delivered once their lease ends; one
        # hub process never overlaps its own passes
        config_path, env, keys = hub_setup(tmp_path, receiver_url, lease_seconds=2.0)
        hub = HubProcess(config_path, db_url, free_port(), env, tmp_path / "hub.log")
        store = open_store(db_url, migrate=False)
        try:
            t = time.monotonic()
            hub.spawn()
            asyncio.run(hub.wait_ready())
            timings["first start"] = time.monotonic() - t

            t = time.monotonic()
            sent, downtimes = asyncio.run(send_all([hub], workload, keys, kill_at))
            timings["send"] = time.monotonic() - t

            t = time.monotonic()
            wait_drained(store, [hub])
            timings["drain"] = time.monotonic() - t

            t = time.monotonic()
            exit_code = hub.stop()
            timings["graceful stop"] = time.monotonic() - t
            assert exit_code is not None, f"hub did not stop on SIGTERM:\n{hub.tail()}"

            t = time.monotonic()
            report = check_outcome(store, workload, expected, sent, receiver)
            verify = subprocess.run(
                [HUB_BIN, "audit", "verify", "--db", db_url],
                capture_output=True,
                text=True,
                timeout=120,
            )
            timings["verify"] = time.monotonic() - t
        finally:
            hub.stop(timeout=10)
            store.dispose()

    print(f"[crash-safety {backend}] kills at {kill_at} (of {WEBHOOKS} sends)")
    print(
        f"[crash-safety {backend}] restart downtime (kill to ready) "
        + ", ".join(f"{d:.2f}s" for d in downtimes)
    )
    print(f"[crash-safety {backend}] responses {dict(sorted(sent.statuses.items()))}")
    print(f"[crash-safety {backend}] transport errors {dict(sent.transport_errors)}")
    most = sent.attempts.most_common(1)[0]
    print(f"[crash-safety {backend}] most sends of one webhook: {most[1]} ({most[0]})")
    for line in report:
        print(f"[crash-safety {backend}] {line}")
    print(
        f"[crash-safety {backend}] timings "
        + ", ".join(f"{name} {seconds:.1f}s" for name, seconds in timings.items())
    )
    assert verify.returncode == 0, f"audit verify failed: {verify.stdout}{verify.stderr}"
    assert len(downtimes) == KILLS


def check_outcome(
    store: Store,
    workload: Workload,
    expected: dict[str, str | None],
    sent: SendLog,
    receiver: Receiver,
) -> list[str]:
    """Assert everything the issue promises; return lines worth printing."""
    distinct_ids = {wh.webhook_id for wh in workload.webhooks}
    assert not sent.unexpected, f"unexpected answers: {sent.unexpected[:10]}"
    assert sent.succeeded == distinct_ids, "every webhook ends with a 2xx"
    interrupted = sent.transport_errors["ReadError"] + sent.transport_errors["RemoteProtocolError"]
    assert interrupted, "no kill cut off a request in flight: the test proved nothing"
    twice = {wid: n for wid, n in sent.accepted.items() if n > 1}
    assert not twice, f"answered 202 more than once (a 202 that was not durable): {twice}"

    with store.read() as conn:
        inbox_rows = conn.execute(select(inbox.c.partner, inbox.c.message_id, inbox.c.status)).all()
        event_rows = conn.execute(
            select(events.c.partner, events.c.event_id, events.c.subject, events.c.outcome)
        ).all()
        ship_rows = conn.execute(
            select(shipments.c.key, shipments.c.state, shipments.c.events_count)
        ).all()
        outbox_rows = conn.execute(
            select(
                outbox.c.command_id, outbox.c.status, outbox.c.attempts, outbox.c.subject
            ).order_by(outbox.c.seq)
        ).all()
        dead = conn.scalar(select(func.count()).select_from(dead_letters))
        audit_rows = conn.execute(
            select(audit.c.actor, audit.c.action, audit.c.subject, audit.c.detail).order_by(
                audit.c.seq
            )
        ).all()

    # inbox: each message once, all applied
    per_message = Counter((r.partner, r.message_id) for r in inbox_rows)
    repeated = {k: n for k, n in per_message.items() if n > 1}
    assert not repeated, f"messages stored more than once: {list(repeated.items())[:10]}"
    stored = {message_id for _, message_id in per_message}
    accepted = set(sent.accepted)
    assert accepted <= stored, f"202 but not in the inbox: {sorted(accepted - stored)[:10]}"
    assert stored == distinct_ids, (
        f"inbox differs from what was sent: missing {sorted(distinct_ids - stored)[:10]},"
        f" unknown {sorted(stored - distinct_ids)[:10]}"
    )
    statuses = Counter(r.status for r in inbox_rows)
    assert statuses == {"applied": len(distinct_ids)}, f"inbox statuses {statuses}"

    # events: one row per (message, event); exactly one original per meaning
    rows_per_event = Counter((r.partner, r.event_id) for r in event_rows)
    carried = {k: len(v) for k, v in workload.carried_by.items()}
    assert rows_per_event == carried, "each event is recorded once per message carrying it"
    originals = Counter((r.partner, r.event_id) for r in event_rows if r.outcome != "duplicate")
    assert max(originals.values()) == 1
    twins = {event_id for group in workload.meaning_groups for event_id in group}
    for group in workload.meaning_groups:
        count = sum(originals.get((CARRIER, event_id), 0) for event_id in group)
        assert count == 1, f"meaning group {group} has {count} originals"
    missing = [k for k in carried if k[1] not in twins and originals.get(k) != 1]
    assert not missing, f"events without an original row: {missing[:10]}"
    outcome_of = {
        (r.partner, r.event_id): r.outcome for r in event_rows if r.outcome != "duplicate"
    }
    for evs in workload.base.values():
        for ev in evs:
            outcome = outcome_of.get((ev.partner, ev.event_id))
            if outcome is None:  # a meaning group where the twin arrived first
                outcome = outcome_of[(ev.partner, f"{ev.event_id}-twin")]
            violation = not POLICY.allows(ev.milestone, ev.partner)
            assert (outcome == "violation") == violation, (ev, outcome)
    outcomes = Counter(r.outcome for r in event_rows)

    # shipments: state equals the pure fold; counters match the events table
    actual = {r.key: r.state for r in ship_rows}
    assert set(actual) == set(expected)
    wrong = {k: (actual[k], expected[k]) for k in expected if actual[k] != expected[k]}
    assert not wrong, (
        f"{len(wrong)} shipments differ (actual, expected): {list(wrong.items())[:10]}"
    )
    per_subject = Counter(r.subject for r in event_rows)
    counts_off = {r.key: (r.events_count, per_subject[r.key]) for r in ship_rows}
    counts_off = {k: v for k, v in counts_off.items() if v[0] != v[1]}
    assert not counts_off, f"events_count differs from the events table: {counts_off}"

    # outbox and receiver: every command delivered, applied once, none lost
    assert dead == 0, f"{dead} dead letters"
    outbox_status = Counter(r.status for r in outbox_rows)
    assert outbox_status == {"delivered": len(outbox_rows)}, f"outbox statuses {outbox_status}"
    commands = {r.command_id for r in outbox_rows}
    assert len(commands) == len(outbox_rows)
    with receiver.lock:
        applied = dict(receiver.applied)
        deliveries = Counter(receiver.deliveries)
    assert set(applied) == commands, (
        f"receiver vs outbox: not received {sorted(commands - set(applied))[:5]},"
        f" unknown {sorted(set(applied) - commands)[:5]}"
    )
    # each shipment's commands reached the receiver first in the order they were made
    made: dict[str, list[str]] = {}
    for r in outbox_rows:
        made.setdefault(r.subject, []).append(r.command_id)
    arrived: dict[str, list[str]] = {}
    for command_id, item in applied.items():  # first arrivals, in arrival order
        arrived.setdefault(str(item["subject"]), []).append(command_id)
    out_of_order = [k for k in made if made[k] != arrived.get(k)]
    assert not out_of_order, (
        f"{len(out_of_order)} shipments' commands arrived out of order, e.g."
        f" {out_of_order[0]}: made {made[out_of_order[0]]}, arrived {arrived.get(out_of_order[0])}"
    )
    changes = [
        (r.actor, r.subject, orjson.loads(r.detail))
        for r in audit_rows
        if r.action == "shipment.state"
    ]
    caused = Counter((actor, detail["event_id"]) for actor, _, detail in changes)
    assert max(caused.values()) == 1, "an event changed state twice"
    received = Counter((c["assertedby"], c["causationid"]) for c in applied.values())
    assert received == caused, (
        "state changes without a command, or commands without a state change: "
        f"{list((caused - received).items())[:5]} / {list((received - caused).items())[:5]}"
    )
    last_change: dict[str, str] = {}
    for _, subject, detail in changes:  # audit rows come in seq order
        last_change[subject] = detail["to"]
    assert {k: v for k, v in actual.items() if v is not None} == last_change
    violations = sum(1 for r in audit_rows if r.action == "ownership.violation")
    assert violations == outcomes["violation"]

    redelivered = {cid: n for cid, n in deliveries.items() if n > 1}
    return [
        f"inbox {len(inbox_rows)} messages ({len(accepted)} answered 202, "
        f"{len(distinct_ids) - len(accepted)} only 200: committed before a kill or re-sent)",
        f"events {dict(sorted(outcomes.items()))}",
        f"states {dict(sorted(Counter(str(v) for v in actual.values()).items()))}",
        f"commands {len(commands)} delivered, receiver applied {len(applied)}, "
        f"duplicate deliveries {sum(n - 1 for n in redelivered.values())} "
        f"over {len(redelivered)} commands (at-least-once after kills), "
        f"outbox attempts {dict(sorted(Counter(r.attempts for r in outbox_rows).items()))}",
    ]
