"""EDI deliveries are signed with every active secret, like webhook deliveries: during a
rotation a receiver that knows only the old secret, and one that knows only the new, both
find their signature, as the reference `standardwebhooks` package computes it, in the
header (its `verify` also parses the body as JSON, which an X12 document is not)."""

from __future__ import annotations

import asyncio
import base64
import secrets
from datetime import UTC, datetime

import httpx
from standardwebhooks.webhooks import Webhook
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from intermodal.config import Endpoint
from intermodal.outbox.edi_sink import EdiSink
from intermodal.outbox.sinks import ClaimedCommand
from intermodal_sim.testing import serve_in_thread

X12 = (
    b"ISA*00*          *00*          *ZZ*HUB            *ZZ*TMS            "
    b"*261130*1200*U*00401*000000001*0*P*>~"
)


def endpoint(url: str, keys: tuple[bytes, ...]) -> Endpoint:
    return Endpoint(
        name="tms-edi",
        kind="edi",
        url=url,
        secret_key=keys[0] if keys else None,
        milestones=None,
        max_attempts=3,
        rate_per_second=100.0,
        timeout_seconds=5.0,
        batch_size=1,
        options={},
        secret_keys=keys,
    )


def command(n: int) -> ClaimedCommand:
    return ClaimedCommand(n, f"cmd_edi_{n}", "tms-edi", "edi.x12", "SHP-1", X12, "corr", 0)


def test_edi_deliveries_carry_a_signature_per_active_secret() -> None:
    old, new = secrets.token_bytes(32), secrets.token_bytes(32)
    verified: dict[str, list[str]] = {"old": [], "new": []}
    refused: list[str] = []

    async def receive(request: Request) -> Response:
        who = request.path_params["who"]
        key = old if who == "old" else new
        body = await request.body()
        sent_at = datetime.fromtimestamp(int(request.headers["webhook-timestamp"]), UTC)
        expected = Webhook(base64.b64encode(key).decode()).sign(
            request.headers["webhook-id"], sent_at, body.decode("ascii")
        )
        if expected not in request.headers["webhook-signature"].split(" "):
            refused.append(who)
            return Response(status_code=401)
        verified[who].append(request.headers["webhook-id"])
        return Response(status_code=202)

    app = Starlette(routes=[Route("/edi/{who}", receive, methods=["POST"])])
    with serve_in_thread(app) as url:

        async def deliver(who: str, keys: tuple[bytes, ...], n: int) -> list[bool]:
            async with httpx.AsyncClient() as client:
                sink = EdiSink(endpoint(f"{url}/edi/{who}", keys), client)
                return [r.ok for r in await sink.deliver([command(n)])]

        # Mid-rotation the hub holds both secrets: each receiver verifies with its own.
        assert asyncio.run(deliver("old", (old, new), 1)) == [True]
        assert asyncio.run(deliver("new", (old, new), 2)) == [True]
        # Before the rotation, the old secret alone: the new receiver refuses.
        assert asyncio.run(deliver("new", (old,), 3)) == [False]
    assert verified == {"old": ["cmd_edi_1"], "new": ["cmd_edi_2"]}
    assert refused == ["new"]
