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
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from intermodal.canonical.model import MilestoneType
from intermodal.config import Endpoint
from intermodal.connectors.odoo.client import Connection, OdooClient
from intermodal.connectors.odoo.mappings import ops_for
from intermodal.connectors.odoo.mappings.mail_activity import NEEDS_A_PERSON
from intermodal.connectors.odoo.mappings.milestone import MilestonePolicy
from intermodal.connectors.odoo.ops import OdooMappingError
from intermodal.connectors.odoo.writer import Work, Writer
from intermodal.outbox.sinks import ClaimedCommand, Result, endpoint_options
from intermodal.security.secrets import SecretError, resolve_secret


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
            out.append(Result(command.seq, o.ok, o.error, o.retryable, o.retry_after))
        return out

    async def aclose(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._pending:
            self._start_flush()
        async with self._flush_lock:
            return None
