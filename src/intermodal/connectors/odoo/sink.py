"""The Odoo sink: the dispatcher hands it commands, it hands the writer a coalesced batch.

The `odoo` row of the hub's endpoint kinds (`intermodal.wiring.SINK_KINDS`). Configuration
(validated by `OdooOptions`):

    endpoints:
      odoo:
        kind: odoo
        url: https://erp.example.com
        batch_size: 500
        options:
          database: prod
          api_key: env:ODOO_API_KEY      # a secret reference, never the key itself
          protocol: auto                 # auto | json2 | jsonrpc
          login: intermodal-bot          # JSON-RPC (Odoo 16-18) only
          linger_ms: 20
          max_batch: 500
          concurrency: 4                 # Odoo calls in flight at once
          validate_milestones: [picked_up]   # the goods left: validate the deliveries
          validate_from: [wms]           # only these partners' reports validate (default any)
          backorder: create              # less left than ordered: create | cancel the rest
          backorder_by_partner: {wms-eu: cancel}

What Odoo did not do that a command asked (a delivery still open after the hub validated
it) is reported back to the flows as a follow-up of the delivered command: an inbox
message on the hub's own `odoo` channel, from which the execution flow opens an
`odoo_refused` case (connectors/odoo/validation.py).

Deliveries that arrive within `linger_ms` of each other (the chunks of one dispatcher round,
several rounds' worth when they queue) are written together, up to `max_batch` commands,
so their ops share calls. Flushes run one at a time: Odoo gains nothing from two
concurrent writers of the same records, and order across flushes stays the dispatcher's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Literal

import httpx
import orjson
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from intermodal.canonical.model import MilestoneType
from intermodal.config import Endpoint
from intermodal.connectors.odoo.client import Connection, OdooClient
from intermodal.connectors.odoo.mappings import ops_for
from intermodal.connectors.odoo.mappings.mail_activity import NEEDS_A_PERSON
from intermodal.connectors.odoo.mappings.milestone import MilestonePolicy
from intermodal.connectors.odoo.ops import BackorderPolicy, OdooMappingError
from intermodal.connectors.odoo.validation import Finding
from intermodal.connectors.odoo.writer import Work, Writer
from intermodal.engine.ids import iso, utcnow
from intermodal.outbox.sinks import ClaimedCommand, FollowUp, Result, endpoint_options
from intermodal.security.secrets import SecretError, resolve_secret
from intermodal.workflows.timers import ODOO_CHANNEL, TIMER_PARTNER


class OdooOptions(BaseModel):
    """`endpoints.<name>.options` of an `odoo` endpoint."""

    model_config = ConfigDict(extra="forbid")

    database: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    api_key: Annotated[str, StringConstraints(pattern=r"^(env|file):.+$")]
    login: str | None = None
    protocol: Literal["auto", "json2", "jsonrpc"] = "auto"
    linger_ms: Annotated[float, Field(ge=0, le=5000)] = 20.0
    max_batch: Annotated[int, Field(ge=1, le=5000)] = 500
    concurrency: Annotated[int, Field(ge=1, le=64)] = 4
    note_milestones: list[MilestoneType] | None = sorted(NEEDS_A_PERSON)
    """The milestones noted on the order's chatter (None: all). By default the ones a person
    must act on: each order noted costs one `message_post` call (one record per call), so
    noting every scan would cost a call per event where the rest of a batch costs a few."""
    activity_milestones: list[MilestoneType] = sorted(NEEDS_A_PERSON)
    validate_milestones: list[MilestoneType] = [MilestoneType.PICKED_UP]
    validate_from: list[Annotated[str, StringConstraints(min_length=1, max_length=64)]] | None = (
        None
    )
    backorder: BackorderPolicy = "create"
    backorder_by_partner: dict[
        Annotated[str, StringConstraints(min_length=1, max_length=64)], BackorderPolicy
    ] = {}


def parse_options(endpoint: Endpoint, base_dir: Path | None = None) -> tuple[OdooOptions, str]:
    """Validated options and the resolved API key; ValueError naming each bad field."""
    options = endpoint_options(OdooOptions, endpoint)
    try:
        key = resolve_secret(options.api_key, base_dir)
    except SecretError as exc:
        raise ValueError(f"endpoints.{endpoint.name}.options.api_key: {exc}") from None
    if options.protocol == "jsonrpc" and not options.login:
        raise ValueError(f"endpoints.{endpoint.name}.options.login: JSON-RPC needs the login")
    return options, key.value


def odoo_client(endpoint: Endpoint, http: httpx.AsyncClient) -> OdooClient:
    """A client for the Odoo database an `odoo` endpoint names (sink and poller share it)."""
    options, _ = parse_options(endpoint, endpoint.base_dir)
    return OdooClient(
        Connection(
            url=endpoint.url,
            database=options.database,
            api_key=resolve_secret(options.api_key, endpoint.base_dir),
            login=options.login,
            protocol=options.protocol,
            timeout_seconds=endpoint.timeout_seconds,
            concurrency=options.concurrency,
        ),
        http,
    )


class OdooSink:
    """Delivers outbox commands to one Odoo database."""

    def __init__(self, endpoint: Endpoint, http: httpx.AsyncClient) -> None:
        options, _ = parse_options(endpoint, endpoint.base_dir)
        self.endpoint = endpoint
        self.options = options
        self.client = odoo_client(endpoint, http)
        self.writer = Writer(self.client, options.max_batch)
        self.policy = MilestonePolicy(
            notes=frozenset(options.note_milestones)
            if options.note_milestones is not None
            else None,
            activities=frozenset(options.activity_milestones),
            validate=frozenset(options.validate_milestones),
            validate_from=frozenset(options.validate_from)
            if options.validate_from is not None
            else None,
            backorder=options.backorder,
            backorder_by_partner=dict(options.backorder_by_partner),
        )
        self._pending: list[tuple[Sequence[ClaimedCommand], asyncio.Future[list[Result]]]] = []
        self._pending_count = 0
        self._timer: asyncio.TimerHandle | None = None
        self._flush_lock = asyncio.Lock()

    async def deliver(self, commands: Sequence[ClaimedCommand]) -> list[Result]:
        if not commands:
            return []
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Result]] = loop.create_future()
        self._pending.append((commands, future))
        self._pending_count += len(commands)
        if self._pending_count >= self.options.max_batch or self.options.linger_ms == 0:
            self._start_flush()
        elif self._timer is None:
            self._timer = loop.call_later(self.options.linger_ms / 1000, self._start_flush)
        return await future

    def _start_flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._pending, self._pending_count = self._pending, [], 0
        if batch:
            asyncio.get_running_loop().create_task(self._flush(batch))

    async def _flush(
        self, batch: list[tuple[Sequence[ClaimedCommand], asyncio.Future[list[Result]]]]
    ) -> None:
        async with self._flush_lock:
            try:
                results = await self.write([c for commands, _ in batch for c in commands])
            except Exception as exc:  # keep the commands: the dispatcher retries them
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                return
            start = 0
            for commands, future in batch:
                if not future.done():
                    future.set_result(results[start : start + len(commands)])
                start += len(commands)

    async def write(self, commands: Sequence[ClaimedCommand]) -> list[Result]:
        """Map and write the commands now (no linger); one Result per command, in order."""
        works: list[Work | None] = []
        results: list[Result | None] = []
        for command in commands:
            try:
                ops = ops_for(command.payload, self.policy)
            except OdooMappingError as exc:
                works.append(None)
                results.append(Result(command.seq, False, f"odoo mapping: {exc}"[:1000], False))
                continue
            works.append(Work(ops, maybe_sent=command.maybe_sent))
            results.append(None)
        await self.writer.execute([w for w in works if w is not None])
        out: list[Result] = []
        for command, work, result in zip(commands, works, results, strict=True):
            if result is not None:
                out.append(result)
                continue
            assert work is not None
            o = work.outcome
            reported = o.ok and o.findings and command.subject
            follow_ups = (self._follow_up(command, o.findings),) if reported else ()
            out.append(Result(command.seq, o.ok, o.error, o.retryable, o.retry_after, follow_ups))
        return out

    def _follow_up(self, command: ClaimedCommand, findings: list[Finding]) -> FollowUp:
        """The flows' `odoo.refused` trigger (workflows/engine.py `internal_trigger`):
        one per command, its id the command's, so a second delivery adds nothing."""
        message_id = f"odoo:{command.command_id}"
        body = {
            "id": message_id,
            "subject": command.subject or "",
            "endpoint": self.endpoint.name,
            "at": iso(utcnow()),
            "reason": "; ".join(f.reason for f in findings)[:1500],
            "detail": {
                "command_id": command.command_id,
                "pickings": sorted({p for f in findings for p in f.pickings}),
            },
        }
        return FollowUp(TIMER_PARTNER, ODOO_CHANNEL, message_id, orjson.dumps(body))

    async def aclose(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._pending:
            self._start_flush()
        async with self._flush_lock:
            return None
