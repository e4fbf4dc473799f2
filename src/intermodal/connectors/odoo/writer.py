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
import base64
import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from intermodal.connectors.odoo.client import OdooClient, OdooError
from intermodal.connectors.odoo.ops import (
    ActivitiesDone,
    Activity,
    AdjustInvoice,
    Attach,
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
# The hub posts as an integration user: it should not become a follower of every order it
# writes a note on (mail_thread.py message_post subscribes the author of a comment).
_POST_CONTEXT = {"mail_post_autofollow_author_skip": True}
_POSTED_REFUSAL = "readonly fields on a posted move"  # account_move.py AccountMove.write
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

    kind: str  # create | write | call | post (message_post on one record)
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
        # An invoice adjustment decides on Odoo's answers (is the invoice still a draft?), and
        # deliveries are validated by their own few calls (validation.py): both run next to
        # the batched calls.
        adjustments = [self._adjust(e) for e in entries if isinstance(e.op, AdjustInvoice)]
        validations = [e for e in entries if isinstance(e.op, Validate)]
        batched = [e for e in entries if not isinstance(e.op, AdjustInvoice | Validate)]
        calls = [self._validate(validations)] if validations else []
        try:
            groups = await self._plan(batched) if batched else []
        except OdooError as exc:  # a lookup failed: nothing of this layer can be sent
            for entry in batched:
                entry.work.outcome.fail(_describe("lookup", exc), exc.retryable, exc.retry_after)
            groups = []
        for group in groups:
            for start in range(0, len(group.items), self.max_batch):
                calls.append(self._send(group, group.items[start : start + self.max_batch]))
        await asyncio.gather(*calls, *adjustments)

    async def _validate(self, entries: list[_Entry]) -> None:
        """Deliveries to validate (validation.py): many shipments, a few calls."""
        items: list[tuple[Validate, bool]] = []
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
            elif isinstance(op, Write | Call | Attach):
                wanted.append(op.target.order if isinstance(op.target, PickingsOf) else op.target)
                if isinstance(op, Write):
                    _collect_refs(op.values, wanted)
            elif isinstance(op, Note | Activity | ActivitiesDone):
                wanted.append(op.target)
        ids = await refs.resolve(wanted)
        order_ids = [
            oid
            for e in entries
            if isinstance(e.op, Write | Call | Attach) and isinstance(e.op.target, PickingsOf)
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
        activities = [e.op for e in entries if isinstance(e.op, Activity)]
        constants: dict[str, int] = {}
        model_ids: dict[str, int] = {}
        if activities:
            constants = await refs.xmlids([_TODO_TYPE])
            # mail_activity_mixin.py activity_schedule: res_model_id = ir.model._get(model)
            model_ids = await refs.model_ids({op.target.model for op in activities})
        present = await self._present_markers(follow_ups, ids)
        open_activities = await self._open_activities(
            [e.op for e in entries if isinstance(e.op, ActivitiesDone)], ids
        )
        attached = await self._attached(
            [e for e in entries if isinstance(e.op, Attach)], ids, pickings
        )

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
                if isinstance(op, Attach):
                    for model, rid in _attach_targets(op, ids, pickings, refs.states):
                        file = (model, rid, _sha1(op.content), op.name)
                        if file in attached:
                            continue  # an earlier delivery (or another command) attached it
                        attached.add(file)  # the same file twice in this flush: once
                        group("create", "ir.attachment", "create", {}).items.append(
                            (entry, _attachment_values(op, model, rid))
                        )
                    continue
                if isinstance(op, ActivitiesDone):
                    rid = ids.get(op.target.key)
                    done = sorted(
                        {a for m in op.markers for a in open_activities.get((rid, m), ())}
                    )
                    if done:  # none open: done already (Odoo deleted them), or never made
                        group(
                            "call", "mail.activity", "action_feedback", {"feedback": op.feedback}
                        ).items.append((entry, done))
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
                assert isinstance(op, Note | Activity)  # adjustments run apart (_adjust)
                rid = ids.get(op.target.key)
                if rid is None:
                    raise _NotYet(
                        f"no {op.target.model} with {op.target.field} = {op.target.value!r}"
                    )
                if op.marker in present:
                    continue  # an earlier delivery of this command already wrote it
                if isinstance(op, Note):
                    # message_post, one record at a time (it is ensure_one): the notes one
                    # flush has for a record become one chatter message, each with its marker.
                    body = op.body + marker_html(op.marker)
                    group("post", op.target.model, "message_post", {"res_id": rid}).items.append(
                        (entry, body)
                    )
                else:
                    if op.target.model not in model_ids:
                        raise _Unresolved(f"Odoo has no model {op.target.model!r}")
                    vals = {
                        "res_model_id": model_ids[op.target.model],
                        "res_id": rid,
                        "activity_type_id": _constant(constants, _TODO_TYPE),
                        "summary": op.summary,
                        "note": op.note + marker_html(op.marker),
                        "date_deadline": op.deadline,
                        "automated": True,
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

    async def _open_activities(
        self, ops: list[ActivitiesDone], ids: dict[tuple[Any, ...], int | None]
    ) -> dict[tuple[int | None, str], list[int]]:
        """The open activities carrying each wanted marker: (record id, marker) -> ids."""
        by_model: dict[str, set[int]] = defaultdict(set)
        wanted: set[str] = set()
        for op in ops:
            rid = ids.get(op.target.key)
            if rid is not None:
                by_model[op.target.model].add(rid)
                wanted.update(op.markers)
        found: dict[tuple[int | None, str], list[int]] = defaultdict(list)
        for model, res_ids in by_model.items():
            for row in await self.refs.marked(
                "mail.activity", "res_model", model, "note", sorted(res_ids)
            ):
                for marker in set(row["markers"]) & wanted:
                    found[(row["res_id"], marker)].append(row["id"])
        return found

    async def _attached(
        self,
        entries: list[_Entry],
        ids: dict[tuple[Any, ...], int | None],
        pickings: dict[int, list[int]],
    ) -> set[tuple[str, int, str, str]]:
        """(model, record, checksum, name) of the files the targets already have."""
        wanted: dict[str, set[int]] = defaultdict(set)
        sums: dict[str, set[str]] = defaultdict(set)
        for entry in entries:
            op = entry.op
            assert isinstance(op, Attach)
            try:
                targets = _attach_targets(op, ids, pickings, self.refs.states)
            except _NotYet:
                continue  # planned below, where it fails as not yet there
            for model, rid in targets:
                wanted[model].add(rid)
                sums[model].add(_sha1(op.content))
        found: set[tuple[str, int, str, str]] = set()
        for model, res_ids in wanted.items():
            rows = await self.client.call(
                "ir.attachment",
                "search_read",
                domain=[
                    ["res_model", "=", model],
                    ["res_id", "in", sorted(res_ids)],
                    ["checksum", "in", sorted(sums[model])],
                ],
                fields=["res_id", "checksum", "name"],
            )
            found.update((model, int(r["res_id"]), str(r["checksum"]), str(r["name"]))
                         for r in rows)  # fmt: skip
        return found

    # -- invoice adjustments ---------------------------------------------------------------
    async def _adjust(self, entry: _Entry) -> None:
        op = entry.op
        assert isinstance(op, AdjustInvoice)
        outcome = entry.work.outcome
        if not outcome.ok:
            return
        try:
            await self._adjust_invoice(op)
        except _NotYet as exc:
            outcome.fail(str(exc), retryable=True, retry_after=_NOT_YET_SECONDS)
        except NotFound as exc:  # _Unresolved, _Refused
            outcome.fail(str(exc), retryable=False)
        except OdooError as exc:
            outcome.fail(_describe("account.move adjustment", exc), exc.retryable, exc.retry_after)

    async def _adjust_invoice(self, op: AdjustInvoice) -> None:
        """Lines added to the invoice while it is a draft; once it is posted (Odoo refuses
        new lines on a posted move) a supplementary invoice for a net increase or a credit
        note (reversing the invoice) for a net decrease, posted when asked. Each line's
        label carries `[reference]`, and the separate document has it as its `ref`: a
        replay finds what an earlier delivery did, whichever way it went."""
        separate = Ref("account.move", "ref", op.reference,
                       domain=(("move_type", "in", ("out_invoice", "out_refund")),))  # fmt: skip
        wanted = [op.invoice, separate]
        _collect_refs(op.lines, wanted)
        _collect_refs(op.create_values, wanted)
        ids = await self.refs.resolve(wanted)
        made = ids.get(separate.key)
        if made is not None:
            if op.post and self.refs.states.get(("account.move", made)) == "draft":
                await self._post(made)
            return
        invoice = ids.get(op.invoice.key)
        if invoice is None:
            raise _NotYet(f"Odoo has no invoice {op.invoice.value!r} yet")
        added = await self.client.call(
            "account.move.line",
            "search_count",
            domain=[["move_id", "=", invoice], ["name", "ilike", f"[{op.reference}]"]],
        )
        if added:
            return
        lines: list[dict[str, Any]] = _substitute(op.lines, ids)
        state = (await self.refs.refresh_states("account.move", [invoice])).get(invoice)
        if state is None:
            self.refs.forget(op.invoice)
            raise _NotYet(f"the invoice {op.invoice.value!r} is gone from Odoo")
        if state == "draft" and not op.separate:
            try:
                await self.client.call(
                    "account.move",
                    "write",
                    [invoice],
                    vals={"invoice_line_ids": [[0, 0, line] for line in lines]},
                )
                return
            except OdooError as exc:
                if _POSTED_REFUSAL not in exc.message:
                    raise
                state = "posted"  # posted meanwhile: a separate document after all
        if state == "cancel":
            raise _Refused(
                f"the invoice {op.invoice.value!r} is cancelled in Odoo: the change "
                f"{op.reference!r} was not billed"
            )
        net = round(sum(float(line["price_unit"]) * float(line.get("quantity", 1))
                        for line in lines), 6)  # fmt: skip
        if net == 0:
            return
        values: dict[str, Any] = {**_substitute(op.create_values, ids), "ref": op.reference}
        if net > 0:
            values["move_type"] = "out_invoice"
        else:
            values.update(move_type="out_refund", reversed_entry_id=invoice)
            lines = [{**line, "price_unit": -float(line["price_unit"])} for line in lines]
        values["invoice_line_ids"] = [[0, 0, line] for line in lines]
        created = await self.client.call("account.move", "create", vals_list=[values])
        rid = int(created[0] if isinstance(created, list) else created)
        self.refs.remember(separate, rid, "draft")
        if op.post:
            await self._post(rid)

    async def _post(self, move: int) -> None:
        await self.client.call("account.move", "action_post", [move])
        self.refs.states[("account.move", move)] = "posted"

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
        if group.kind == "post":
            return await self.client.call(
                group.model,
                "message_post",
                [group.values["res_id"]],
                body="".join(payload for _, payload in items),
                message_type="comment",
                subtype_xmlid=_NOTE_SUBTYPE,
                body_is_html=True,  # a plain string body is escaped (message_post, 17+)
                context=_POST_CONTEXT,
            )
        ids = sorted({i for _, payload in items for i in payload})
        if not ids:
            return None
        if group.kind == "write":
            return await self.client.call(group.model, "write", ids, vals=group.values)
        return await self.client.call(group.model, group.method, ids, **group.values)

    def _succeeded(self, group: _Group, items: list[tuple[_Entry, Any]], result: Any) -> None:
        if group.kind == "create":
            created = result if isinstance(result, list) else [result]
            for (entry, _), rid in zip(items, created, strict=True):
                if isinstance(entry.op, Upsert):
                    self.refs.remember(entry.op.ref, int(rid), _initial_state(group.model))
            return
        if group.kind == "call":
            for entry, payload in items:
                if isinstance(entry.op, Call):
                    for rid in payload:
                        self.refs.states[(group.model, rid)] = entry.op.result_state

    async def _failed(self, group: _Group, items: list[tuple[_Entry, Any]], exc: OdooError) -> None:
        retryable = exc.retryable
        if (not retryable and group.kind == "call" and len(items) == 1
                and isinstance(items[0][0].op, Call)):  # fmt: skip
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


class _Refused(NotFound):
    """What the command asks no longer applies in Odoo (an invoice cancelled there)."""


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


def _sha1(content: bytes) -> str:
    """ir_attachment.py _compute_checksum: how Odoo names a file's content."""
    return hashlib.sha1(content).hexdigest()  # noqa: S324 - Odoo's checksum, not security


def _attach_targets(
    op: Attach,
    ids: dict[tuple[Any, ...], int | None],
    pickings: dict[int, list[int]],
    states: dict[tuple[str, int], str],
) -> list[tuple[str, int]]:
    """The records to attach the file to. A file for the deliveries of a confirmed order
    of services (which has none in Odoo) goes on the order itself, rather than waiting for
    a delivery that never comes and holding back the shipment's later commands."""
    found = _target_ids(op.target, ids, pickings, states)
    if not found and isinstance(op.target, PickingsOf):
        order = ids.get(op.target.order.key)
        return [("sale.order", order)] if order is not None else []
    return [(_model(op.target), rid) for rid in found]


def _attachment_values(op: Attach, model: str, rid: int) -> dict[str, Any]:
    values: dict[str, Any] = {
        "name": op.name,
        "type": "binary",
        "datas": base64.b64encode(op.content).decode("ascii"),
        "res_model": model,
        "res_id": rid,
    }
    if op.mimetype:
        values["mimetype"] = op.mimetype
    if op.description:
        values["description"] = op.description
    return values
