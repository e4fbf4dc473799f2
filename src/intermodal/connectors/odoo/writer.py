"""The writer: many commands' ops become few Odoo calls, in order, one bad record alone.

Given the ops of a batch of commands, the writer

1. runs them stage by stage (partners, then documents, then actions on documents, then
   follow-ups: picking updates, notes, activities), and inside a stage in *layers*: the
   n-th op on one Odoo record goes to layer n, so two changes to one picking are never
   reordered and never merged into one call;
2. in each layer resolves every reference with one `search_read` per model and reference
   field (`upsert.References`), then groups the ops into calls: one `create` with a list
   per model, one `write` per model and distinct value set over all its ids, one call per
   business method over all ids not already in the method's result state;
3. sends the independent calls of a layer concurrently, and when one fails with a
   permanent error, bisects it: the halves are sent separately until the bad record is
   alone, so it fails (and later dead-letters) alone while the rest go through.

A retryable failure (network, 5xx, 429, serialization) fails the whole call's commands as
retryable, without bisecting: the same records will likely go through on the next try.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from intermodal.connectors.odoo.client import OdooClient, OdooError
from intermodal.connectors.odoo.ops import (
    Activity,
    Call,
    Note,
    Op,
    PickingsOf,
    Ref,
    Upsert,
    Validate,
    Write,
    op_record_key,
)
from intermodal.connectors.odoo.upsert import References, marker_html
from intermodal.connectors.odoo.validation import CONFIRMED, DeliveryValidator, Finding
from intermodal.errors import NotFound

_NOTE_SUBTYPE = "mail.mt_note"
_TODO_TYPE = "mail.mail_activity_data_todo"
_MODEL_XMLID = {"sale.order": "sale.model_sale_order"}
_NOT_YET_SECONDS = 30.0  # a target that does not exist yet (order intake lagging)


@dataclass(slots=True)
class WriteOutcome:
    """What became of one `Work`'s Odoo writes: all done, or the first failure. The
    writer knows no outbox rows; the Odoo sink turns this into the dispatcher's `Result`."""

    ok: bool = True
    error: str | None = None
    retryable: bool = False
    retry_after: float | None = None
    findings: list[Finding] = field(default_factory=list)
    """What Odoo did not do that the command asked (a delivery not validated): reported
    back to the flows with the delivered command (connectors/odoo/validation.py)."""

    def fail(self, error: str, retryable: bool, retry_after: float | None = None) -> None:
        if not self.ok:
            # A permanent failure stays permanent; a retryable one may learn a longer wait.
            if self.retryable and not retryable:
                self.retryable = False
            return
        self.ok, self.error, self.retryable, self.retry_after = False, error, retryable, retry_after


@dataclass(slots=True)
class Work:
    """One command's ops; `maybe_sent` asks for replay checks where a create has no key."""

    ops: list[Op]
    maybe_sent: bool = True
    outcome: WriteOutcome = field(default_factory=WriteOutcome)


@dataclass(slots=True)
class _Entry:
    work: Work
    op: Op
    record: tuple[Any, ...]


@dataclass(slots=True)
class _Group:
    """One Odoo call in the making: the entries it serves and each entry's payload."""

    kind: str  # create | write | call
    model: str
    method: str
    values: dict[str, Any] = field(default_factory=dict)
    items: list[tuple[_Entry, Any]] = field(default_factory=list)


class Writer:
    def __init__(self, client: OdooClient, max_batch: int = 500) -> None:
        self.client = client
        self.refs = References(client)
        self.max_batch = max_batch
        self.validator = DeliveryValidator(client, self.refs)

    async def execute(self, works: Sequence[Work]) -> None:
        """Run every command's ops; each `Work.outcome` says what became of its command."""
        stages: dict[int, list[list[_Entry]]] = defaultdict(list)
        seen: dict[tuple[Any, ...], int] = defaultdict(int)
        last: dict[tuple[Any, ...], _Entry] = {}
        # The same upsert repeated back to back (one customer on many orders) is done once;
        # the repeats share its outcome instead of costing a layer (and a call) each.
        followers: dict[int, list[tuple[Work, _Entry]]] = defaultdict(list)
        for work in works:
            for op in work.ops:
                record = op_record_key(op)
                previous = last.get(record)
                if isinstance(op, Upsert) and previous is not None and previous.op == op:
                    followers[op.stage].append((work, previous))
                    continue
                depth = seen[record]
                seen[record] += 1
                layers = stages[op.stage]
                while len(layers) <= depth:
                    layers.append([])
                entry = _Entry(work, op, record)
                layers[depth].append(entry)
                last[record] = entry
        failed_records: set[tuple[Any, ...]] = set()
        for stage in sorted(stages):
            for layer in stages[stage]:
                ready = []
                for entry in layer:
                    if not entry.work.outcome.ok:
                        continue
                    if entry.record in failed_records:
                        entry.work.outcome.fail(
                            "an earlier change to the same Odoo record failed; kept in order",
                            retryable=True,
                        )
                        continue
                    ready.append(entry)
                if ready:
                    await self._run_layer(ready)
                failed_records.update(e.record for e in layer if not e.work.outcome.ok)
            for work, leader in followers.get(stage, []):
                if not leader.work.outcome.ok and work.outcome.ok:
                    leader_outcome = leader.work.outcome
                    work.outcome.fail(
                        leader_outcome.error or "failed",
                        leader_outcome.retryable,
                        leader_outcome.retry_after,
                    )

    # -- one layer -------------------------------------------------------------------------
    async def _run_layer(self, entries: list[_Entry]) -> None:
        validations = [e for e in entries if isinstance(e.op, Validate)]
        entries = [e for e in entries if not isinstance(e.op, Validate)]
        calls = [self._validate(validations)] if validations else []
        try:
            groups = await self._plan(entries) if entries else []
        except OdooError as exc:  # a lookup failed: nothing of this layer can be sent
            for entry in entries:
                entry.work.outcome.fail(_describe("lookup", exc), exc.retryable, exc.retry_after)
            groups = []
        for group in groups:
            for start in range(0, len(group.items), self.max_batch):
                calls.append(self._send(group, group.items[start : start + self.max_batch]))
        await asyncio.gather(*calls)

    async def _validate(self, entries: list[_Entry]) -> None:
        """Deliveries to validate (validation.py): many shipments, a few calls."""
        items = []
        for entry in entries:
            assert isinstance(entry.op, Validate)
            items.append((entry.op, entry.work.maybe_sent))
        for entry, result in zip(entries, await self.validator.run(items), strict=True):
            if result.error is not None:
                entry.work.outcome.fail(result.error, result.retryable, result.retry_after)
            entry.work.outcome.findings += result.findings

    async def _plan(self, entries: list[_Entry]) -> list[_Group]:
        refs = self.refs
        wanted: list[Ref] = []
        for entry in entries:
            op = entry.op
            if isinstance(op, Upsert):
                wanted.append(op.ref)
                _collect_refs(op.values, wanted)
                _collect_refs(op.create_values, wanted)
            elif isinstance(op, Write | Call):
                wanted.append(op.target.order if isinstance(op.target, PickingsOf) else op.target)
                if isinstance(op, Write):
                    _collect_refs(op.values, wanted)
            else:
                assert isinstance(op, Note | Activity)  # Validate ops run apart (_validate)
                wanted.append(op.target)
        ids = await refs.resolve(wanted)
        order_ids = [
            oid
            for e in entries
            if isinstance(e.op, Write | Call) and isinstance(e.op.target, PickingsOf)
            if (oid := ids.get(e.op.target.order.key)) is not None
        ]
        pickings = await refs.pickings(order_ids) if order_ids else {}
        # An order without deliveries is one of services once confirmed (nothing to write
        # to), one not confirmed yet otherwise: its state, read again if unsure, says which.
        bare = [o for o in sorted(set(order_ids)) if not pickings.get(o)]
        unsure = [o for o in bare if refs.states.get(("sale.order", o)) not in CONFIRMED]
        if unsure:
            await refs.refresh_states("sale.order", unsure)
        follow_ups = [e for e in entries if isinstance(e.op, Note | Activity)]
        constants: dict[str, int] = {}
        if follow_ups:
            names = [_NOTE_SUBTYPE, _TODO_TYPE] + [
                _MODEL_XMLID[e.op.target.model]
                for e in follow_ups
                if isinstance(e.op, Note | Activity) and e.op.target.model in _MODEL_XMLID
            ]
            constants = await refs.xmlids(names)
        present = await self._present_markers(follow_ups, ids)

        groups: dict[tuple[Any, ...], _Group] = {}

        def group(kind: str, model: str, method: str, values: dict[str, Any]) -> _Group:
            key = (kind, model, method, orjson.dumps(values, option=orjson.OPT_SORT_KEYS))
            found = groups.get(key)
            if found is None:
                found = groups[key] = _Group(kind, model, method, values)
            return found

        for entry in entries:
            op = entry.op
            outcome = entry.work.outcome
            try:
                if isinstance(op, Upsert):
                    values = _substitute(op.values, ids)
                    rid = ids.get(op.ref.key)
                    if rid is None and op.ref.field == "id":
                        raise _Unresolved(f"Odoo has no {op.ref.model} with id {op.ref.value}")
                    if rid is None:
                        create = {**_substitute(op.create_values, ids), **values}
                        if op.ref.field != "id":  # the reference commits with the record
                            create[op.ref.field] = op.ref.value
                        group("create", op.ref.model, "create", {}).items.append((entry, create))
                    elif values:
                        group("write", op.ref.model, "write", values).items.append((entry, [rid]))
                    continue
                if isinstance(op, Write | Call):
                    target_ids = _target_ids(op.target, ids, pickings, refs.states)
                    if isinstance(op, Write):
                        values = _substitute(op.values, ids)
                        if target_ids:
                            group("write", _model(op.target), "write", values).items.append(
                                (entry, target_ids)
                            )
                    else:
                        model = _model(op.target)
                        todo = [
                            i for i in target_ids if refs.states.get((model, i)) not in op.reached
                        ]
                        if todo:
                            group("call", model, op.method, {}).items.append((entry, todo))
                    continue
                assert isinstance(op, Note | Activity)
                rid = ids.get(op.target.key)
                if rid is None:
                    raise _NotYet(
                        f"no {op.target.model} with {op.target.field} = {op.target.value!r}"
                    )
                if op.marker in present:
                    continue  # an earlier delivery of this command already wrote it
                if isinstance(op, Note):
                    body = op.body + marker_html(op.marker)
                    vals = {
                        "model": op.target.model,
                        "res_id": rid,
                        "body": body,
                        "message_type": "comment",
                        "subtype_id": _constant(constants, _NOTE_SUBTYPE),
                    }
                    group("create", "mail.message", "create", {}).items.append((entry, vals))
                else:
                    model_xmlid = _MODEL_XMLID.get(op.target.model, "")
                    vals = {
                        "res_model_id": _constant(constants, model_xmlid),
                        "res_id": rid,
                        "activity_type_id": _constant(constants, _TODO_TYPE),
                        "summary": op.summary,
                        "note": op.note + marker_html(op.marker),
                        "date_deadline": op.deadline,
                    }
                    group("create", "mail.activity", "create", {}).items.append((entry, vals))
            except _NotYet as exc:
                outcome.fail(str(exc), retryable=True, retry_after=_NOT_YET_SECONDS)
            except _Unresolved as exc:
                outcome.fail(str(exc), retryable=False)
        return list(groups.values())

    async def _present_markers(
        self, follow_ups: list[_Entry], ids: dict[tuple[Any, ...], int | None]
    ) -> set[str]:
        """Markers of notes/activities an earlier delivery may already have written.

        Only commands that may have been sent before are checked (see `ClaimedCommand.maybe_sent`):
        a first delivery cannot have left anything behind, and the check costs a call.
        """
        present: set[str] = set()
        for kind, model, model_field, text_field in (
            (Note, "mail.message", "model", "body"),
            (Activity, "mail.activity", "res_model", "note"),
        ):
            by_model: dict[str, list[int]] = defaultdict(list)
            for e in follow_ups:
                if isinstance(e.op, kind) and e.work.maybe_sent:
                    rid = ids.get(e.op.target.key)
                    if rid is not None:
                        by_model[e.op.target.model].append(rid)
            for res_model, res_ids in by_model.items():
                present |= await self.refs.markers(
                    model, model_field, res_model, text_field, res_ids
                )
        return present

    # -- sending, bisecting ----------------------------------------------------------------
    async def _send(self, group: _Group, items: list[tuple[_Entry, Any]]) -> None:
        try:
            result = await self._call(group, items)
        except OdooError as exc:
            if not exc.retryable and len(items) > 1:
                middle = len(items) // 2
                await self._send(group, items[:middle])
                await self._send(group, items[middle:])
                return
            await self._failed(group, items, exc)
            return
        self._succeeded(group, items, result)

    async def _call(self, group: _Group, items: list[tuple[_Entry, Any]]) -> Any:
        if group.kind == "create":
            return await self.client.call(
                group.model, "create", vals_list=[payload for _, payload in items]
            )
        ids = sorted({i for _, payload in items for i in payload})
        if not ids:
            return None
        if group.kind == "write":
            return await self.client.call(group.model, "write", ids, vals=group.values)
        return await self.client.call(group.model, group.method, ids)

    def _succeeded(self, group: _Group, items: list[tuple[_Entry, Any]], result: Any) -> None:
        if group.kind == "create":
            created = result if isinstance(result, list) else [result]
            for (entry, _), rid in zip(items, created, strict=True):
                if isinstance(entry.op, Upsert):
                    self.refs.remember(entry.op.ref, int(rid), _initial_state(group.model))
            return
        if group.kind == "call":
            for entry, payload in items:
                assert isinstance(entry.op, Call)
                for rid in payload:
                    self.refs.states[(group.model, rid)] = entry.op.result_state

    async def _failed(self, group: _Group, items: list[tuple[_Entry, Any]], exc: OdooError) -> None:
        retryable = exc.retryable
        if not retryable and group.kind == "call" and len(items) == 1:
            # The record may have reached the state by other hands since we last looked.
            entry, payload = items[0]
            assert isinstance(entry.op, Call)
            try:
                states = await self.refs.refresh_states(group.model, list(payload))
            except OdooError:
                states = {}
            if payload and all(states.get(i) in entry.op.reached for i in payload):
                return
        if exc.name == "odoo.exceptions.MissingError":
            # Someone deleted a record the cache still names: look it up afresh next time.
            for entry, _ in items:
                op = entry.op
                if isinstance(op, Upsert):
                    self.refs.forget(op.ref)
                elif isinstance(op, Write | Call):
                    self.refs.forget(
                        op.target.order if isinstance(op.target, PickingsOf) else op.target
                    )
            retryable = True
        what = f"{group.model}.{group.method}"
        for entry, _ in items:
            entry.work.outcome.fail(_describe(what, exc), retryable, exc.retry_after)


class _NotYet(NotFound):
    """The record an op points at does not exist (yet)."""


class _Unresolved(NotFound):
    """A value names a record Odoo does not have (a product code, a currency)."""


def _describe(what: str, exc: OdooError) -> str:
    return f"odoo {what}: {exc.name}: {exc.message}"[:1000]


def _model(target: Ref | PickingsOf) -> str:
    return "stock.picking" if isinstance(target, PickingsOf) else target.model


def _initial_state(model: str) -> str | None:
    return "draft" if model in ("sale.order", "account.move") else None


def _constant(constants: dict[str, int], name: str) -> int:
    if name not in constants:
        raise _Unresolved(f"Odoo has no record '{name}' (is the module installed?)")
    return constants[name]


def _target_ids(
    target: Ref | PickingsOf,
    ids: dict[tuple[Any, ...], int | None],
    pickings: dict[int, list[int]],
    states: dict[tuple[str, int], str] | None = None,
) -> list[int]:
    if isinstance(target, PickingsOf):
        order = ids.get(target.order.key)
        if order is None:
            raise _NotYet(f"no sale.order for shipment {target.order.value!r}")
        confirmed = (states or {}).get(("sale.order", order)) in CONFIRMED
        found = pickings.get(order, [])
        if not found and confirmed:
            return []  # an order of services: no delivery in Odoo, nothing to write to
        if not found:
            raise _NotYet(f"sale.order for shipment {target.order.value!r} has no delivery yet")
        return found
    rid = ids.get(target.key)
    if rid is None:
        raise _NotYet(f"no {target.model} with {target.field} = {target.value!r}")
    return [rid]


def _collect_refs(value: Any, out: list[Ref]) -> None:
    if isinstance(value, Ref):
        out.append(value)
    elif isinstance(value, dict):
        for v in value.values():
            _collect_refs(v, out)
    elif isinstance(value, list | tuple):
        for v in value:
            _collect_refs(v, out)


def _substitute(value: Any, ids: dict[tuple[Any, ...], int | None]) -> Any:
    """Values with every `Ref` replaced by the id it names."""
    if isinstance(value, Ref):
        rid = ids.get(value.key)
        if rid is None:
            raise _Unresolved(f"Odoo has no {value.model} with {value.field} = {value.value!r}")
        return rid
    if isinstance(value, dict):
        return {k: _substitute(v, ids) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_substitute(v, ids) for v in value]
    return value
