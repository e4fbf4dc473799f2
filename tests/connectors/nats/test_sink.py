"""The `nats` endpoint against the machine's NATS JetStream: what a hub publishes arrives on
the stream once and in order per shipment, a resend is dropped by JetStream's duplicate
window, an outage ends in retries and dead letters that replay once NATS is back, the sink
keeps one connection and makes a new one after losing it, credentials (password, token,
creds file) work against NATS servers of the test's own, and a stream that refuses the
subject dead-letters at once with a reason."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from nats.js.api import StreamConfig
from sqlalchemy import func, select, update

from intermodal.config import Settings
from intermodal.connectors.nats.sink import NatsSink, render_subject
from intermodal.engine.ids import iso, utcnow
from intermodal.ingress.signatures import sign
from intermodal.outbox.command import OutboundCommand, enqueue
from intermodal.outbox.dead_letters import replay
from intermodal.outbox.dispatcher import Dispatcher
from intermodal.outbox.sinks import ClaimedCommand
from intermodal.security.secrets import Secret, webhook_key
from intermodal.store import Store, open_store
from intermodal.store.tables import dead_letters, outbox
from intermodal.wiring import SINK_KINDS
from intermodal_sim.testing import free_port, running_hub
from tests.conftest import new_secret

from .conftest import NATS_URL, Operator, Outage, Stream, private_nats

CHAIN = ("booked", "dispatched", "picked_up", "in_transit", "delivered")


def nats_endpoint(stream: Stream, url: str = NATS_URL, **options: Any) -> dict[str, Any]:
    return {
        "kind": "nats",
        "url": url,
        "batch_size": 50,
        "events": ["milestone", "pod.received"],
        "options": {
            "stream": stream.name,
            "subject": f"{stream.prefix}.{{partner}}.{{type}}",
            **options,
        },
    }


def milestone_event(event_id: str, shipment: str, milestone: str, minute: int) -> dict[str, Any]:
    at = f"2026-11-23T10:{minute:02d}:00Z"
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": "acme",
        "type": "intermodal.shipment.milestone",
        "subject": shipment,
        "time": at,
        "datacontenttype": "application/json",
        "data": {"milestone": milestone, "occurred_at": at},
    }


async def until(predicate: Callable[[], Any], timeout: float = 30.0) -> None:
    """Wait for an async or plain predicate, failing with its name after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not within {timeout}s: {getattr(predicate, '__name__', predicate)}")


def notification(command_id: str, shipment: str, milestone: str) -> OutboundCommand:
    payload = {
        "specversion": "1.0",
        "id": command_id,
        "source": "intermodal",
        "type": "intermodal.shipment.milestone",
        "subject": shipment,
        "time": iso(utcnow()),
        "data": {"milestone": milestone},
        "assertedby": "acme",
    }
    now = iso(utcnow())
    return OutboundCommand(
        command_id, "bi", "webhook", shipment, orjson.dumps(payload), "corr-1", now
    )


def count(store: Store, table: Any, *where: Any) -> int:
    with store.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


async def test_a_hub_publishes_its_events_in_order_per_shipment(
    make_settings: Callable[..., Settings], db_url: str, stream: Stream
) -> None:
    secret = new_secret()
    settings = make_settings(
        {
            "hub": {"database": db_url},
            "partners": {"acme": {"webhook_secrets": ["env:ACME_WEBHOOK_SECRET"]}},
            "endpoints": {"bi": nats_endpoint(stream)},
        },
        env={"ACME_WEBHOOK_SECRET": secret},
    )
    key = webhook_key(Secret(secret))
    shipments = [f"SHP-{i}" for i in range(6)]
    with running_hub(settings) as url:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            # Interleaved across shipments, one webhook per milestone, in chain order.
            for step, milestone in enumerate(CHAIN):
                for shipment in shipments:
                    msg_id = f"{shipment}-{milestone}"
                    body = orjson.dumps(milestone_event(msg_id, shipment, milestone, step))
                    ts = int(time.time())
                    answer = await client.post(
                        "/v1/webhooks/acme",
                        content=body,
                        headers={
                            "content-type": "application/json",
                            "webhook-id": msg_id,
                            "webhook-timestamp": str(ts),
                            "webhook-signature": sign(key, msg_id, ts, body),
                        },
                    )
                    assert answer.status_code == 202, answer.text
            expected = len(CHAIN) * len(shipments)
            await until(lambda: _at_least(stream, expected))
    messages = await stream.messages()
    assert len(messages) == expected
    seen: dict[str, list[str]] = defaultdict(list)
    for message in messages:
        assert message.subject == f"{stream.prefix}.acme.shipment.milestone"
        event = orjson.loads(message.data or b"")
        assert message.headers is not None
        assert message.headers["Nats-Msg-Id"] == event["id"]
        assert message.headers["Content-Type"] == "application/cloudevents+json"
        assert event["type"] == "intermodal.shipment.milestone"
        seen[event["subject"]].append(event["data"]["milestone"])
    assert seen == {shipment: list(CHAIN) for shipment in shipments}


async def _at_least(stream: Stream, n: int) -> bool:
    return await stream.count() >= n


async def test_a_resent_command_is_dropped_by_jetstream(
    make_settings: Callable[..., Settings], sqlite_url: str, stream: Stream
) -> None:
    settings = make_settings(
        {"hub": {"database": sqlite_url}, "endpoints": {"bi": nats_endpoint(stream)}}
    )
    store = open_store(sqlite_url)
    with store.write() as conn:
        enqueue(conn, [notification("cmd_one", "SHP-1", "picked_up")])
    dispatcher = Dispatcher(store, settings, sink_kinds=SINK_KINDS)
    try:
        assert await dispatcher.run_once() == 1
        assert count(store, outbox, outbox.c.status == "delivered") == 1
        assert await stream.count() == 1

        # Sent but not recorded (a dispatcher killed before it wrote the outcome): the
        # command is due again, goes out again, and the stream keeps one copy.
        with store.write() as conn:
            conn.execute(update(outbox).values(status="pending", delivered_at=None))
        assert await dispatcher.run_once() == 1
        assert count(store, outbox, outbox.c.status == "delivered") == 1
        assert await stream.count() == 1

        # Stored, but its ack lost on the last attempt, so it went to the dead letters; an
        # operator replays it: it goes out again and the stream keeps one copy.
        with store.write() as conn:
            row = conn.execute(select(outbox)).one()
            conn.execute(
                dead_letters.insert().values(
                    command_id=row.command_id, endpoint=row.endpoint, kind=row.kind,
                    subject=row.subject, payload=row.payload,
                    correlation_id=row.correlation_id, attempts=3,
                    last_error="no JetStream ack", created_at=row.created_at,
                    dead_at=iso(utcnow()),
                )
            )  # fmt: skip
            conn.execute(outbox.delete())
        assert replay(store, "test", ["cmd_one"]) == 1
        assert await dispatcher.run_once() == 1
        assert count(store, outbox, outbox.c.status == "delivered") == 1
        assert await stream.count() == 1

        # Two deliveries of the same command at once (two nodes holding it): one copy.
        sink = dispatcher.sinks["bi"]
        with store.read() as conn:
            row = conn.execute(select(outbox)).one()
        twice = await asyncio.gather(
            sink.deliver([ClaimedCommand.from_row(row)]),
            sink.deliver([ClaimedCommand.from_row(row)]),
        )
        assert all(result.ok for results in twice for result in results)
        assert await stream.count() == 1
    finally:
        await dispatcher.aclose()
        store.dispose()


async def test_nats_down_retries_then_dead_letters_and_a_replay_delivers_once(
    make_settings: Callable[..., Settings], sqlite_url: str, stream: Stream
) -> None:
    delivery = {
        "max_attempts": 3,
        "backoff_base_seconds": 0.01,
        "backoff_max_seconds": 0.05,
        "breaker_failures": 100,
    }
    down = make_settings(
        {
            "hub": {"database": sqlite_url},
            "delivery": delivery,
            "endpoints": {"bi": nats_endpoint(stream, url=f"nats://127.0.0.1:{free_port()}")},
        }
    )
    store = open_store(sqlite_url)
    commands = [
        notification("cmd_a1", "SHP-A", "picked_up"),
        notification("cmd_b1", "SHP-B", "picked_up"),
        notification("cmd_a2", "SHP-A", "delivered"),
    ]
    with store.write() as conn:
        enqueue(conn, commands)
    dispatcher = Dispatcher(store, down, sink_kinds=SINK_KINDS)
    try:
        # The head of each shipment dies; SHP-A's second command waits behind its letter.
        async def heads_dead() -> bool:
            await dispatcher.run_once()
            return count(store, dead_letters) == 2

        await until(heads_dead)
        assert dispatcher.stats["retried"] >= 2 * 2  # attempts before dying
    finally:
        await dispatcher.aclose()
    with store.read() as conn:
        errors = [r.last_error for r in conn.execute(select(dead_letters))]
        held = conn.execute(select(outbox.c.command_id, outbox.c.status)).all()
    assert all("NATS at nats://127.0.0.1:" in e and "(after 3 attempts)" in e for e in errors)
    assert [tuple(r) for r in held] == [("cmd_a2", "pending")]
    assert await stream.count() == 0

    # NATS is back (the endpoint points at it again): a replay delivers each command once.
    up = make_settings(
        {
            "hub": {"database": sqlite_url},
            "delivery": delivery,
            "endpoints": {"bi": nats_endpoint(stream)},
        }
    )
    assert replay(store, "test", everything=True) == 2
    dispatcher = Dispatcher(store, up, sink_kinds=SINK_KINDS)
    try:

        async def all_delivered() -> bool:
            await dispatcher.run_once()
            return count(store, outbox, outbox.c.status == "delivered") == len(commands)

        await until(all_delivered)
        assert replay(store, "test", everything=True) == 0
        await dispatcher.run_once()
    finally:
        await dispatcher.aclose()
        store.dispose()
    messages = await stream.messages()
    ids = [m.headers["Nats-Msg-Id"] for m in messages if m.headers]
    assert sorted(ids) == sorted(c.command_id for c in commands)
    assert ids.index("cmd_a1") < ids.index("cmd_a2")  # SHP-A in order


async def test_the_sink_keeps_one_connection_and_connects_again_after_nats_went_away(
    make_settings: Callable[..., Settings], stream: Stream, outage: Outage
) -> None:
    endpoint = {**nats_endpoint(stream, url=outage.url), "timeout_seconds": 2}
    settings = make_settings({"endpoints": {"bi": endpoint}})

    def claimed(n: int) -> list[ClaimedCommand]:
        command = notification(f"cmd_{n}", f"SHP-{n}", "picked_up")
        assert isinstance(command.payload, bytes)
        return [ClaimedCommand(n, command.command_id, "bi", "webhook", command.subject,
                               command.payload, "corr", 0)]  # fmt: skip

    async with httpx.AsyncClient() as http:
        sink = NatsSink(settings.endpoints["bi"], http)
        try:
            assert [r.ok for r in await sink.deliver(claimed(1))] == [True]
            connection = sink._client
            assert [r.ok for r in await sink.deliver(claimed(2))] == [True]
            assert sink._client is connection  # one connection, not one per delivery

            await outage.down()
            failed = await sink.deliver(claimed(3))
            assert not failed[0].ok and failed[0].retryable, failed
            assert (failed[0].error or "").startswith(f"NATS at {outage.url}"), failed

            await outage.up()

            async def delivered() -> bool:
                return (await sink.deliver(claimed(3)))[0].ok

            await until(delivered, timeout=20)
            assert sink._client is not connection
        finally:
            await sink.aclose()
    assert await stream.count() == 3


@pytest.mark.parametrize(
    ("authorization", "options", "env"),
    [
        (
            'user: hub, password: "pw-{secret}"',
            {"user": "hub", "password": "env:TEST_NATS_PASSWORD"},
            {"TEST_NATS_PASSWORD": "pw-{secret}"},
        ),
        (
            'token: "tk-{secret}"',
            {"token": "env:TEST_NATS_TOKEN"},
            {"TEST_NATS_TOKEN": "tk-{secret}"},
        ),
    ],
)
async def test_credentials_are_references_and_never_logged(
    make_settings: Callable[..., Settings],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    authorization: str,
    options: dict[str, str],
    env: dict[str, str],
) -> None:
    secret = secrets.token_hex(8)
    env = {k: v.format(secret=secret) for k, v in env.items()}
    block = f"authorization {{ {authorization.format(secret=secret)} }}"
    with private_nats(tmp_path, block) as url:
        stream = Stream(name="AUTH", prefix="authtest", js=None)  # type: ignore[arg-type]
        command = notification("cmd_auth", "SHP-1", "picked_up")
        assert isinstance(command.payload, bytes)
        claimed = [ClaimedCommand(1, "cmd_auth", "bi", "webhook", "SHP-1", command.payload, "c", 0)]
        async with httpx.AsyncClient() as http:
            # A sink reads its secrets when built: each is built under its own environment.
            good = make_settings(
                {"endpoints": {"bi": nats_endpoint(stream, url=url, **options)}}, env
            )
            accepted = NatsSink(good.endpoints["bi"], http)
            wrong = {k: "not-" + v for k, v in env.items()}
            bad = make_settings(
                {"endpoints": {"bi": nats_endpoint(stream, url=url, **options)}}, wrong
            )
            refused = NatsSink(bad.endpoints["bi"], http)
            try:
                failed = await refused.deliver(claimed)
                assert not failed[0].ok and failed[0].retryable, failed
                assert "Authorization" in (failed[0].error or ""), failed
                assert [r.ok for r in await accepted.deliver(claimed)] == [True]
            finally:
                await refused.aclose()
                await accepted.aclose()
    assert secret not in caplog.text
    assert all(secret not in str(r) for r in failed)


async def test_a_creds_file_signs_in_to_a_server_that_trusts_its_operator(
    make_settings: Callable[..., Settings], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    operator = Operator.make()
    (tmp_path / "hub.creds").write_text(operator.creds(), encoding="utf-8")
    stranger = Operator.make().account  # a user this server's operator never vouched for
    (tmp_path / "stranger.creds").write_text(operator.creds(issuer=stranger), encoding="utf-8")
    command = notification("cmd_creds", "SHP-1", "picked_up")
    assert isinstance(command.payload, bytes)
    claimed = [ClaimedCommand(1, "cmd_creds", "bi", "webhook", "SHP-1", command.payload, "c", 0)]
    stream = Stream(name="CREDS", prefix="credstest", js=None)  # type: ignore[arg-type]
    with private_nats(tmp_path, operator.settings) as url:
        results = {}
        async with httpx.AsyncClient() as http:
            for name in ("stranger", "hub"):
                endpoint = nats_endpoint(stream, url=url, creds=f"file:{tmp_path / name}.creds")
                settings = make_settings({"endpoints": {"bi": endpoint}})
                sink = NatsSink(settings.endpoints["bi"], http)
                try:
                    results[name] = (await sink.deliver(claimed))[0]
                finally:
                    await sink.aclose()
    assert results["hub"].ok, results
    assert not results["stranger"].ok and results["stranger"].retryable, results
    assert "Authorization" in (results["stranger"].error or ""), results
    for name in ("hub", "stranger"):
        seed = (tmp_path / f"{name}.creds").read_text().split("SEED-----\n")[1].split("\n")[0]
        assert seed.startswith("SU") and seed not in caplog.text


async def test_a_stream_that_cannot_be_made_says_why(
    make_settings: Callable[..., Settings], stream: Stream
) -> None:
    """Another stream already holds the template's subjects: the hub cannot make its own,
    retries (an operator may fix it) and says which subjects collide."""
    other = f"{stream.name}_OTHER"
    await stream.js.add_stream(StreamConfig(name=other, subjects=[f"{stream.prefix}.>"]))
    settings = make_settings({"endpoints": {"bi": nats_endpoint(stream)}})
    command = notification("cmd_collide", "SHP-1", "picked_up")
    assert isinstance(command.payload, bytes)
    claimed = [ClaimedCommand(1, "cmd_collide", "bi", "webhook", "SHP-1", command.payload, "c", 0)]
    try:
        async with httpx.AsyncClient() as http:
            sink = NatsSink(settings.endpoints["bi"], http)
            try:
                (result,) = await sink.deliver(claimed)
            finally:
                await sink.aclose()
    finally:
        await stream.js.delete_stream(other)
    assert not result.ok and result.retryable, result
    assert f"cannot create stream '{stream.name}' on ['{stream.prefix}.>']" in (result.error or "")
    assert "overlap" in (result.error or ""), result


async def test_a_stream_that_refuses_the_subject_dead_letters_at_once(
    make_settings: Callable[..., Settings], sqlite_url: str, stream: Stream
) -> None:
    await stream.js.add_stream(
        StreamConfig(name=stream.name, subjects=[f"{stream.prefix}.other.>"])
    )
    settings = make_settings(
        {
            "hub": {"database": sqlite_url},
            "endpoints": {"bi": nats_endpoint(stream, create_stream=False)},
        }
    )
    store = open_store(sqlite_url)
    with store.write() as conn:
        enqueue(conn, [notification("cmd_refused", "SHP-1", "picked_up")])
    dispatcher = Dispatcher(store, settings, sink_kinds=SINK_KINDS)
    try:
        await dispatcher.run_once()
    finally:
        await dispatcher.aclose()
    with store.read() as conn:
        letter = conn.execute(select(dead_letters)).one()
    store.dispose()
    assert letter.attempts == 1
    assert f"no JetStream stream takes subject '{stream.prefix}.acme.shipment.milestone'" in (
        letter.last_error
    )
    assert stream.name in letter.last_error
    assert await stream.count() == 0


def test_subjects_name_the_partner_and_type_with_safe_tokens() -> None:
    def command(payload: bytes, subject: str | None = "SHP.1 *") -> ClaimedCommand:
        return ClaimedCommand(1, "cmd_1", "bi", "webhook", subject, payload, "c", 0)

    case = orjson.dumps({"type": "intermodal.case.opened", "subject": "SHP.1 *"})
    assert render_subject("im.{partner}.{type}.{subject}", "bi", command(case)) == (
        "im.hub.case.opened.SHP_1__",
        True,
    )
    pod = orjson.dumps({"type": "intermodal.pod.received", "assertedby": "acme"})
    assert render_subject("im.{endpoint}.{partner}.{type}", "bi", command(pod)) == (
        "im.bi.acme.pod.received",
        True,
    )
    assert render_subject("im.{type}", "bi", command(b"ISA*00*...", None)) == ("im.webhook", False)
