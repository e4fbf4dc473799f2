"""Idempotent upserts: find the hub's records in Odoo by the hub's own references.

Every record the hub creates carries the hub's reference in a field that is written in the
same `create` call, so the record and its reference commit in one Odoo transaction: a
replay, or a crash between the call and its acknowledgement, finds the record instead of
creating a second one. Where the model has a reference field the hub uses it
(`sale.order.client_order_ref`, `account.move.ref`, `res.partner.ref`); chatter notes and
activities, which have none, carry a marker (`intermodal:<command id>`) in their body;
attachments are recognised by name and content (`checksum`).

(An external id in `ir.model.data` is the other classic key, but it is a second row
created by a second call: a crash between the two would leave a record the hub cannot
recognise. Odoo's `load()` creates both in one transaction; the test server does not
offer it yet, see docs/odoo.md.)

Lookups are batched: one `search_read` with an `in` domain per model and reference field,
whatever the number of commands, and found ids are cached (a reference, once created,
names the same record until someone deletes it; a MissingError drops the cache entry).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from intermodal.connectors.odoo.client import OdooClient
from intermodal.connectors.odoo.ops import Ref

MARKER_PREFIX = "intermodal:"
_MARKER = re.compile(r"intermodal:([A-Za-z0-9_.-]+)")

# Models whose state the writer needs in order to skip business methods already done.
_STATE_MODELS = frozenset({"sale.order", "account.move", "stock.picking"})
_NO_ARCHIVE_FILTER = {"active_test": False}  # an archived customer is still that customer


def marker_html(marker: str) -> str:
    """The footer that makes a note or activity recognisable on a replay."""
    return f'<p class="o_intermodal_ref"><small>{MARKER_PREFIX}{marker}</small></p>'


def _text(value: Any) -> str | int | None:
    if value is False or value is None:
        return None
    if isinstance(value, list) and value:  # many2one read as [id, display_name]
        return int(value[0])
    return value if isinstance(value, int | str) else str(value)


class References:
    """Resolves `Ref`s, deliveries of orders and well-known xmlids, with a cache."""

    def __init__(self, client: OdooClient) -> None:
        self.client = client
        self._ids: dict[tuple[Any, ...], int] = {}
        self.states: dict[tuple[str, int], str] = {}
        self._pickings: dict[int, list[int]] = {}
        self._xmlids: dict[str, int] = {}
        self._model_ids: dict[str, int] = {}

    def known(self, ref: Ref) -> int | None:
        return self._ids.get(ref.key)

    def remember(self, ref: Ref, record_id: int, state: str | None = None) -> None:
        self._ids[ref.key] = record_id
        if state is not None:
            self.states[(ref.model, record_id)] = state

    def forget(self, ref: Ref) -> None:
        record_id = self._ids.pop(ref.key, None)
        if record_id is not None:
            self._pickings.pop(record_id, None)

    def forget_pickings(self, order_ids: Iterable[int]) -> None:
        """Read these orders' deliveries afresh next time (a validation left a backorder)."""
        for order in order_ids:
            self._pickings.pop(order, None)

    async def resolve(self, refs: Iterable[Ref]) -> dict[tuple[Any, ...], int | None]:
        """Ids of the records the refs name (None when absent); one call per ref kind."""
        refs = list(refs)
        groups: dict[tuple[Any, ...], dict[Any, list[Ref]]] = defaultdict(lambda: defaultdict(list))
        for ref in refs:
            if ref.key not in self._ids:
                groups[(ref.model, ref.field, ref.alt_field, ref.domain)][ref.value].append(ref)
        for (model, field, alt, extra), by_value in groups.items():
            values = list(by_value)
            domain: list[Any] = [[field, "in", values]]
            if alt is not None:
                domain = ["|", [field, "in", values], [alt, "in", values]]
            domain += [list(term) for term in extra]
            fields = [f for f in (field, alt) if f is not None and f != "id"]
            if model in _STATE_MODELS:
                fields.append("state")
            rows = await self.client.call(
                model,
                "search_read",
                domain=domain,
                fields=fields,
                order="id asc",
                context=_NO_ARCHIVE_FILTER,
            )
            for row in rows:
                if "state" in row:
                    self.states[(model, int(row["id"]))] = str(row["state"])
                for name in (field, alt):
                    if name is None:
                        continue
                    value = _text(row["id"] if name == "id" else row.get(name))
                    for ref in by_value.get(value, []):
                        self._ids.setdefault(ref.key, int(row["id"]))  # oldest record wins
        return {ref.key: self._ids.get(ref.key) for ref in refs}

    async def pickings(self, order_ids: Iterable[int]) -> dict[int, list[int]]:
        """The outgoing transfers of each order, in one call for the orders not yet known."""
        wanted = sorted(set(order_ids))
        missing = [o for o in wanted if o not in self._pickings]
        if missing:
            rows = await self.client.call(
                "stock.picking",
                "search_read",
                domain=[["sale_id", "in", missing], ["picking_type_code", "=", "outgoing"]],
                fields=["sale_id", "state"],
                order="id asc",
            )
            found: dict[int, list[int]] = defaultdict(list)
            for row in rows:
                order = _text(row["sale_id"])
                if isinstance(order, int):
                    found[order].append(int(row["id"]))
                    self.states[("stock.picking", int(row["id"]))] = str(row["state"])
            # An order without deliveries yet (not confirmed) is asked again next time.
            self._pickings.update(found)
        return {o: self._pickings.get(o, []) for o in wanted}

    async def refresh_states(self, model: str, ids: list[int]) -> dict[int, str]:
        rows = await self.client.call(model, "read", ids, fields=["state"])
        states = {int(r["id"]): str(r["state"]) for r in rows}
        for rid, state in states.items():
            self.states[(model, rid)] = state
        return states

    async def xmlids(self, names: Iterable[str]) -> dict[str, int]:
        """Ids of well-known records (`mail.mt_note`, `sale.model_sale_order`), cached."""
        names = list(dict.fromkeys(names))
        missing = [n for n in names if n not in self._xmlids]
        if missing:
            terms: list[Any] = ["|"] * (len(missing) - 1)
            for name in missing:
                module, _, local = name.partition(".")
                terms += ["&", ["module", "=", module], ["name", "=", local]]
            rows = await self.client.call(
                "ir.model.data", "search_read", domain=terms, fields=["module", "name", "res_id"]
            )
            for row in rows:
                self._xmlids[f"{row['module']}.{row['name']}"] = int(row["res_id"])
        return {n: self._xmlids[n] for n in names if n in self._xmlids}

    async def markers(
        self, model: str, model_field: str, res_model: str, text_field: str, res_ids: Iterable[int]
    ) -> set[str]:
        """Markers already present on these records' notes or activities (for replays)."""
        found: set[str] = set()
        for row in await self.marked(model, model_field, res_model, text_field, res_ids):
            found.update(row["markers"])
        return found

    async def marked(
        self, model: str, model_field: str, res_model: str, text_field: str, res_ids: Iterable[int]
    ) -> list[dict[str, Any]]:
        """The hub's notes or activities on these records: {id, res_id, markers} each."""
        ids = sorted(set(res_ids))
        if not ids:
            return []
        rows = await self.client.call(
            model,
            "search_read",
            domain=[
                [model_field, "=", res_model],
                ["res_id", "in", ids],
                [text_field, "ilike", MARKER_PREFIX],
            ],
            fields=[text_field, "res_id"],
        )
        return [
            {
                "id": int(row["id"]),
                "res_id": int(row["res_id"]),
                "markers": _MARKER.findall(str(row.get(text_field) or "")),
            }
            for row in rows
        ]

    async def model_ids(self, models: Iterable[str]) -> dict[str, int]:
        """ir.model ids by model name, cached: what `res_model_id` of an activity takes
        (mail_activity_mixin.py activity_schedule uses ir.model._get(model), not an xmlid)."""
        wanted = sorted(set(models))
        missing = [m for m in wanted if m not in self._model_ids]
        if missing:
            rows = await self.client.call(
                "ir.model", "search_read", domain=[["model", "in", missing]], fields=["model"]
            )
            for row in rows:
                self._model_ids[str(row["model"])] = int(row["id"])
        return {m: self._model_ids[m] for m in wanted if m in self._model_ids}
