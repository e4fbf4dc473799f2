"""Validating a shipment's Odoo deliveries as Odoo 19 wants it done, then checking it was.

The hub never takes a validation for granted. For the `Validate` ops of one writer layer
(any number of shipments), in a handful of calls whatever their number:

1. read the orders' outgoing deliveries (fresh: an earlier partial validation may have
   left a backorder) and the open ones' moves;
2. when the partner reported quantities, write them on the moves (`quantity`, and
   `picked` for what was picked: stock_move.py `_set_quantity`, `_inverse_picked`); a
   product it does not name was not picked;
3. `button_validate` them (stock_picking.py): True, or the `stock.backorder.confirmation`
   window action when less than the demand was picked; the hub creates that wizard with
   the action's context (it names the pickings: `button_validate_picking_ids`) and calls
   `process` (a backorder for the rest) or `process_cancel_backorder`, as the endpoint's
   policy says (addons/stock/wizard/stock_backorder_confirmation.py). A refusal (Odoo's
   UserError: nothing was picked) is a finding, not a failed delivery. Before a backorder
   can come into being (the reported quantities leave a delivery short, or Odoo asks),
   each such delivery gets a chatter note of what the hub validates on whose report,
   with the command's marker: a replay validates the deliveries so marked, never the
   backorder they left. A full validation leaves nothing a replay could misjudge, and
   costs no note. (An operation type set to `always` backorder, validated on Odoo's
   reserved quantities, is noted right after: a crash in between would let a replay
   validate its backorder on the reserved quantities.);
5. read the deliveries' state again: one that is not done is a finding. Findings go back
   to the flows, which open a case (`odoo_refused`) for a person.

An order without any outgoing delivery is an order of services (sale_stock procures goods
only): once it is confirmed there is nothing to validate and nothing to wait for. Its
dispatch and milestones live on the order (notes, activities). An order not found, or not
confirmed yet, is asked again later.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from intermodal.connectors.odoo.client import OdooClient, OdooError
from intermodal.connectors.odoo.ops import BackorderPolicy, Validate
from intermodal.connectors.odoo.upsert import MARKER_PREFIX, References, marker_html

WIZARD = "stock.backorder.confirmation"
WIZARD_METHOD: dict[BackorderPolicy, str] = {
    "create": "process",
    "cancel": "process_cancel_backorder",
}
CONFIRMED = frozenset({"sale", "done"})
_NOTE_SUBTYPE = "mail.mt_note"
_NOT_YET_SECONDS = 30.0
_DONE_OR_CANCELLED = ("done", "cancel")


@dataclass(slots=True)
class Finding:
    """Something Odoo did not do that the hub asked of it: the reason a person reads."""

    reason: str
    pickings: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Outcome:
    """What became of one `Validate` op: an error (the command fails, maybe retried) or
    success with findings (the command is delivered; the findings open a case)."""

    error: str | None = None
    retryable: bool = False
    retry_after: float | None = None
    findings: list[Finding] = field(default_factory=list)
    validated: list[str] = field(default_factory=list)
    """Names of the deliveries the hub validated (done after it)."""
    backorders: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Move:
    id: int
    picking: int
    product: int
    demand: Decimal
    quantity: Decimal
    picked: bool


class DeliveryValidator:
    """Runs `Validate` ops against one Odoo database (the writer's client and caches)."""

    def __init__(self, client: OdooClient, refs: References) -> None:
        self.client = client
        self.refs = refs
        self._codes: dict[int, str] = {}
        """product.product id -> internal reference (they do not change under a shipment)."""

    async def run(self, items: Sequence[tuple[Validate, bool]]) -> list[Outcome]:
        """One `Outcome` per (op, maybe_sent), in order."""
        outcomes = [Outcome() for _ in items]
        try:
            await self._run(list(items), outcomes)
        except OdooError as exc:
            for outcome in outcomes:
                if outcome.error is None:
                    outcome.error = f"odoo {exc.name}: {exc.message}"[:1000]
                    outcome.retryable, outcome.retry_after = exc.retryable, exc.retry_after
        return outcomes

    async def _run(self, items: list[tuple[Validate, bool]], outcomes: list[Outcome]) -> None:
        ids = await self.refs.resolve([op.target.order for op, _ in items])
        order_of: dict[int, int] = {}
        for index, (op, _) in enumerate(items):
            order = ids.get(op.target.order.key)
            if order is None:
                outcomes[index].error = f"no sale.order for shipment {op.target.order.value!r}"
                outcomes[index].retryable, outcomes[index].retry_after = True, _NOT_YET_SECONDS
            else:
                order_of[index] = order
        if not order_of:
            return
        pickings = await self.client.call(
            "stock.picking",
            "search_read",
            domain=[
                ["sale_id", "in", sorted(set(order_of.values()))],
                ["picking_type_code", "=", "outgoing"],
            ],
            fields=["sale_id", "state", "name"],
            order="id asc",
        )
        by_order: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for row in pickings:
            order = _id(row.get("sale_id"))
            if order is not None:
                by_order[order].append(row)
        await self._orders_without_deliveries(items, outcomes, order_of, by_order)
        marked = await self._marked(items, order_of, by_order)
        targets: dict[int, list[dict[str, Any]]] = {}
        for index, order in order_of.items():
            if outcomes[index].error is not None or not by_order.get(order):
                continue
            op = items[index][0]
            rows = by_order[order]
            if op.marker in marked:  # a replay: the same deliveries as the first time
                rows = [r for r in rows if int(r["id"]) in marked[op.marker]]
            open_rows = [r for r in rows if r["state"] not in _DONE_OR_CANCELLED]
            if not open_rows and rows and all(r["state"] == "cancel" for r in rows):
                names = [str(r["name"]) for r in rows]
                outcomes[index].findings.append(
                    Finding(f"its deliveries are cancelled in Odoo ({', '.join(names)})", names)
                )
            if open_rows:
                targets[index] = open_rows
        if not targets:
            return
        reported = [i for i in targets if items[i][0].quantities is not None]
        short: set[int] = set()
        if reported:  # without quantities Odoo's reserved ones stand: no need to read moves
            picking_ids = [int(r["id"]) for i in reported for r in targets[i]]
            moves = await self._moves(picking_ids)
            subset = {i: targets[i] for i in reported}
            short = await self._set_quantities(items, outcomes, subset, moves)
        notes = _Notes(self, items, targets, marked)
        await notes.post(short)  # known to leave something behind, whatever Odoo will ask
        groups: dict[BackorderPolicy, list[int]] = defaultdict(list)
        for index in targets:
            groups[items[index][0].backorder].append(index)
        refusals: dict[int, str] = {}
        for policy, indexes in groups.items():
            picking_ids = sorted({int(r["id"]) for i in indexes for r in targets[i]})
            await self._validate(picking_ids, policy, refusals, notes)
        await self._check(items, outcomes, targets, refusals, notes)
        self.refs.forget_pickings(order_of[i] for i in targets)

    async def _orders_without_deliveries(
        self,
        items: list[tuple[Validate, bool]],
        outcomes: list[Outcome],
        order_of: dict[int, int],
        by_order: dict[int, list[dict[str, Any]]],
    ) -> None:
        """A confirmed order without deliveries is one of services: nothing to do. One not
        confirmed yet (its delivery comes with the confirmation) is asked again later."""
        empty = sorted({o for i, o in order_of.items() if not by_order.get(o)})
        if not empty:
            return
        unknown = [o for o in empty if self.refs.states.get(("sale.order", o)) not in CONFIRMED]
        if unknown:
            await self.refs.refresh_states("sale.order", unknown)
        for index, order in order_of.items():
            if order in empty and self.refs.states.get(("sale.order", order)) not in CONFIRMED:
                outcome = outcomes[index]
                outcome.error = (
                    f"sale.order for shipment {items[index][0].target.order.value!r} "
                    "is not confirmed yet: no delivery to validate"
                )
                outcome.retryable, outcome.retry_after = True, _NOT_YET_SECONDS

    async def _marked(
        self,
        items: list[tuple[Validate, bool]],
        order_of: dict[int, int],
        by_order: dict[int, list[dict[str, Any]]],
    ) -> dict[str, set[int]]:
        """marker -> deliveries an earlier delivery of the same command noted (replays)."""
        maybe = {items[i][0].marker for i in order_of if items[i][1]}
        picking_ids = sorted(
            {int(r["id"]) for i, o in order_of.items() if items[i][1] for r in by_order.get(o, [])}
        )
        if not maybe or not picking_ids:
            return {}
        rows = await self.client.call(
            "mail.message",
            "search_read",
            domain=[
                ["model", "=", "stock.picking"],
                ["res_id", "in", picking_ids],
                ["body", "ilike", MARKER_PREFIX],
            ],
            fields=["res_id", "body"],
        )
        found: dict[str, set[int]] = defaultdict(set)
        for row in rows:
            body = str(row.get("body") or "")
            for marker in maybe:
                if f"{MARKER_PREFIX}{marker}<" in body:
                    found[marker].add(int(row["res_id"]))
        return dict(found)

    async def _moves(self, picking_ids: list[int]) -> list[_Move]:
        rows = await self.client.call(
            "stock.move",
            "search_read",
            domain=[["picking_id", "in", picking_ids], ["state", "not in", ["done", "cancel"]]],
            fields=["picking_id", "product_id", "product_uom_qty", "quantity", "picked"],
            order="id asc",
        )
        moves = [
            _Move(
                int(r["id"]),
                _id(r["picking_id"]) or 0,
                _id(r["product_id"]) or 0,
                _decimal(r.get("product_uom_qty")),
                _decimal(r.get("quantity")),
                bool(r.get("picked")),
            )
            for r in rows
        ]
        unknown = sorted({m.product for m in moves if m.product not in self._codes})
        if unknown:
            products = await self.client.call(
                "product.product",
                "read",
                unknown,
                fields=["default_code"],
                context={"active_test": False},
            )
            for row in products:
                self._codes[int(row["id"])] = str(row.get("default_code") or "")
        return moves

    async def _set_quantities(
        self,
        items: list[tuple[Validate, bool]],
        outcomes: list[Outcome],
        targets: dict[int, list[dict[str, Any]]],
        moves: list[_Move],
    ) -> set[int]:
        """The reported quantity of each product spread over its moves in order, each up
        to its demand and the last one taking any excess; unnamed products at zero. One
        `write` per distinct (quantity, picked) over all the moves that take it. Returns
        the deliveries left short (some move below its demand)."""
        writes: dict[tuple[Decimal, bool], list[int]] = defaultdict(list)
        short: set[int] = set()
        for index, rows in targets.items():
            op = items[index][0]
            if op.quantities is None:
                continue
            picking_ids = {int(r["id"]) for r in rows}
            mine = [m for m in moves if m.picking in picking_ids]
            left = dict(op.quantities)
            by_product: dict[str, list[_Move]] = defaultdict(list)
            for move in mine:
                by_product[self._codes.get(move.product, "")].append(move)
            for code, group in by_product.items():
                remaining = left.pop(code, Decimal(0))
                for position, move in enumerate(group):
                    last = position == len(group) - 1
                    take = remaining if last else min(remaining, move.demand)
                    remaining -= take
                    if take < move.demand:
                        short.add(move.picking)
                    wanted = (take, take > 0)
                    if (move.quantity, move.picked) != wanted:
                        writes[wanted].append(move.id)
            unknown = sorted(code for code, qty in left.items() if qty > 0)
            if unknown:
                names = [str(r["name"]) for r in rows]
                outcomes[index].findings.append(
                    Finding(
                        f"{op.source} reported {', '.join(unknown)}, which "
                        f"{', '.join(names)} does not deliver",
                        names,
                    )
                )
        for (quantity, picked), move_ids in sorted(writes.items()):
            await self.client.call(
                "stock.move",
                "write",
                sorted(move_ids),
                vals={"quantity": float(quantity), "picked": picked},
            )
        return short

    async def _validate(
        self,
        picking_ids: list[int],
        policy: BackorderPolicy,
        refusals: dict[int, str],
        notes: _Notes,
    ) -> None:
        """`button_validate` over the deliveries, answering the backorder wizard when it
        comes (after noting them: the answer creates the backorder); a refused set is
        halved until the refusing delivery is alone."""
        try:
            result = await self.client.call("stock.picking", "button_validate", picking_ids)
            if isinstance(result, dict) and result.get("res_model") == WIZARD:
                context = result.get("context") or {}
                named = context.get("button_validate_picking_ids") or picking_ids
                await notes.post({int(p) for p in named if isinstance(p, int)})
                created = await self.client.call(WIZARD, "create", vals_list=[{}], context=context)
                wizard = created if isinstance(created, list) else [created]
                await self.client.call(WIZARD, WIZARD_METHOD[policy], wizard, context=context)
        except OdooError as exc:
            if exc.retryable:
                raise
            if len(picking_ids) > 1:
                middle = len(picking_ids) // 2
                await self._validate(picking_ids[:middle], policy, refusals, notes)
                await self._validate(picking_ids[middle:], policy, refusals, notes)
                return
            refusals[picking_ids[0]] = f"{exc.name}: {exc.message}"

    async def _check(
        self,
        items: list[tuple[Validate, bool]],
        outcomes: list[Outcome],
        targets: dict[int, list[dict[str, Any]]],
        refusals: dict[int, str],
        notes: _Notes,
    ) -> None:
        """Read the deliveries again: any not done is a finding, with Odoo's refusal. One
        Odoo backordered without asking (an operation type set to `always`, on reserved
        quantities the hub could not foresee) gets its note now.

        One `search_read` for what is not done and for the backorders of these deliveries:
        when all went well it returns the backorders alone (usually none), so checking
        costs a call, not a read of every record (Odoo's time grows with the records)."""
        picking_ids = sorted({int(r["id"]) for rows in targets.values() for r in rows})
        rows = await self.client.call(
            "stock.picking",
            "search_read",
            domain=[
                "|",
                "&",
                ["id", "in", picking_ids],
                ["state", "!=", "done"],
                ["backorder_id", "in", picking_ids],
            ],
            fields=["name", "state", "backorder_id"],
            context={"active_test": False},
        )
        open_now = {int(r["id"]): str(r["state"]) for r in rows if int(r["id"]) in picking_ids}
        backorders: dict[int, list[str]] = defaultdict(list)
        for row in rows:
            parent = _id(row.get("backorder_id"))
            if parent is not None and parent in picking_ids:
                backorders[parent].append(str(row["name"]))
        await notes.post(set(backorders))
        for index, picked in targets.items():
            outcome = outcomes[index]
            for row in picked:
                pid, name = int(row["id"]), str(row["name"])
                state = open_now.get(pid, "done")
                self.refs.states[("stock.picking", pid)] = state
                why = refusals.get(pid)
                if state == "done" and why is None:
                    outcome.validated.append(name)
                    outcome.backorders += backorders.get(pid, [])
                    continue
                if why is None:
                    reason = f"{name} is still {state} after Odoo was asked to validate it"
                elif pid in open_now:
                    reason = f"{name} is still {state}: Odoo refused to validate it: {why}"
                else:  # refused, and gone since (deleted)
                    reason = f"{name}: Odoo refused to validate it: {why}"
                outcome.findings.append(Finding(reason, [name]))


class _Notes:
    """The chatter notes that mark the deliveries a command validates: what, on whose
    report, and the command's marker (never twice; not on a replay that found it)."""

    def __init__(
        self,
        validator: DeliveryValidator,
        items: list[tuple[Validate, bool]],
        targets: dict[int, list[dict[str, Any]]],
        marked: dict[str, set[int]],
    ) -> None:
        self.validator = validator
        self.by_picking: dict[int, Validate] = {}
        for index, rows in targets.items():
            op = items[index][0]
            if op.marker in marked:
                continue
            for row in rows:
                self.by_picking[int(row["id"])] = op
        self.posted: set[int] = set()

    async def post(self, picking_ids: set[int]) -> None:
        wanted = sorted(p for p in picking_ids if p in self.by_picking and p not in self.posted)
        if not wanted:
            return
        # message_post, one delivery at a time (it is ensure_one), never raw mail.message
        # rows: Odoo sets the author and notifies who follows the delivery's notes. Only
        # deliveries validated in part are noted, so these calls are few.
        posts = []
        for pid in wanted:
            op = self.by_picking[pid]
            reported = (
                "; ".join(f"{code} {_plain(qty)}" for code, qty in op.quantities)
                if op.quantities is not None
                else "the reserved quantities (no quantities reported)"
            )
            body = (
                f"<p>intermodal validates this delivery on the report of "
                f"{_html(op.source)}: {_html(reported)}.</p>{marker_html(op.marker)}"
            )
            posts.append(
                self.validator.client.call(
                    "stock.picking",
                    "message_post",
                    [pid],
                    body=body,
                    message_type="comment",
                    subtype_xmlid=_NOTE_SUBTYPE,
                    body_is_html=True,  # a plain string body is escaped (message_post, 17+)
                    context={"mail_post_autofollow_author_skip": True},
                )
            )
        await asyncio.gather(*posts)
        self.posted.update(wanted)


def _id(value: Any) -> int | None:
    """A many2one as search_read gives it (`[id, name]`), or a bare id."""
    if isinstance(value, list | tuple) and value:
        value = value[0]
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return None


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return Decimal(0)
    return Decimal(str(value))


def _plain(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
