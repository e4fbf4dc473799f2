"""Deliveries as Odoo 19's stock module makes and validates them.

What an integration observes, imitated from odoo/odoo (19.0) and cited per function:

- a confirmed sale order procures only goods: `addons/sale_stock/models/sale_order_line.py`
  `_action_launch_stock_rule` skips lines whose product type is not 'consu' (up to 17,
  'consu' or 'product'), so a service-only order has no delivery at all; the moves' (and
  the delivery's) `origin` is the order's name, or "<name> - <client_order_ref>";
- a move's `quantity` is the sum of its move lines' (`stock_move.py` `_compute_quantity`),
  writing it adds or removes move lines (`_set_quantity`); `picked` follows its lines
  (`_compute_picked`, `_inverse_picked`); goods whose inventory is not tracked
  (`is_storable` False) are reserved in full when the delivery is confirmed
  (`_action_assign`, `_should_bypass_reservation`); tracked ones find no stock here (the
  test server keeps no quants) and wait;
- `button_validate` (`stock_picking.py`) runs `_sanity_check` (nothing to move: a
  UserError), `_pre_action_done_hook` (marks the moves picked when nothing was, then
  `_check_backorder`: less than the demand returns the `stock.backorder.confirmation`
  window action instead of validating), then `_action_done`;
- the wizard (`addons/stock/wizard/stock_backorder_confirmation.py`) validates the
  pickings named by the context's `button_validate_picking_ids`: `process` with a
  backorder for what is left (`stock.move._create_backorder` splits the moves,
  `stock.picking._create_backorder` moves the rest to a new picking whose `backorder_id`
  is the original), `process_cancel_backorder` without one (the rest is cancelled).

Not simulated: quants and locations, lots, packages, the activity Odoo logs on the order
when less is delivered than ordered (`_log_less_quantities_than_expected`), report
printing after validation.
"""

# ruff: noqa: S608 - SQL text is built only from registry identifiers (tables, columns);
# every value travels as a bound parameter.

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from intermodal_sim.odoo.errors import UserError
from intermodal_sim.odoo.orm import BaseModel, api_model, readonly

PRECISION = 2
"""decimal.precision 'Product Unit' (digits 2): quantities are compared at this precision."""

ZERO_QUANTITY = (
    "Transfer trouble alert! Validating a zero quantity transfer? You're not moving invisible "
    "goods around are you?\nSet some quantities and let's get moving!"
)
"""stock_picking.py `_get_without_quantities_error_message`."""

EMPTY_TRANSFER = (
    "You can\u2019t validate an empty transfer. Please add some products to move before proceeding."
)
"""stock_picking.py `_sanity_check`, one transfer (the apostrophe is Odoo's U+2019)."""

_NOT_COPIED = frozenset({"id", "create_date", "write_date", "create_uid", "write_uid"})
OPEN = ("draft", "waiting", "confirmed", "partially_available", "assigned")
TODO = ("confirmed", "waiting", "partially_available")


def _marks(values: Sequence[Any]) -> str:
    return ", ".join("?" * len(values))


def _zero(value: float) -> bool:
    return round(value, PRECISION) == 0


def _less(a: float, b: float) -> bool:
    """float_compare(a, b, precision_digits=2) < 0."""
    return round(a - b, PRECISION) < 0


def goods_types(major: int) -> tuple[str, ...]:
    """Product types a sale order procures: 17 still had 'product' (storable) beside 'consu'."""
    return ("consu", "product") if major <= 17 else ("consu",)


def storable_products(rec: BaseModel, product_ids: list[int]) -> set[int]:
    """Products whose inventory is tracked (17: type 'product'; 18+: `is_storable` on goods)."""
    if not product_ids:
        return set()
    where = "t.type = 'product'" if rec.env.major <= 17 else "t.type = 'consu' AND t.is_storable"
    rows = rec.env.db.execute(
        "SELECT p.id FROM product_product p JOIN product_template t ON t.id = p.product_tmpl_id "
        f"WHERE p.id IN ({_marks(product_ids)}) AND {where}",
        product_ids,
    )
    return {row[0] for row in rows}


@dataclass
class Move:
    id: int
    picking_id: int | None
    product_id: int
    demand: float
    quantity: float
    picked: bool
    state: str
    sale_line_id: int | None


_MOVE_COLUMNS = "id, picking_id, product_id, product_uom_qty, quantity, picked, state, sale_line_id"


def _moves(rec: BaseModel, where: str, params: list[Any]) -> list[Move]:
    rows = rec.env.db.execute(
        f"SELECT {_MOVE_COLUMNS} FROM stock_move WHERE {where} ORDER BY sequence, id", params
    )
    return [
        Move(r[0], r[1], r[2], float(r[3] or 0), float(r[4] or 0), bool(r[5]), r[6], r[7])
        for r in rows
    ]


def picking_moves(rec: BaseModel, picking_ids: list[int]) -> list[Move]:
    if not picking_ids:
        return []
    return _moves(rec, f"picking_id IN ({_marks(picking_ids)})", picking_ids)


def _moves_by_id(rec: BaseModel, move_ids: list[int]) -> list[Move]:
    if not move_ids:
        return []
    return _moves(rec, f"id IN ({_marks(move_ids)})", move_ids)


# -- stock.move and stock.move.line ----------------------------------------------------------


def sync_moves_from_lines(rec: BaseModel, move_ids: list[int]) -> None:
    """stock_move.py `_compute_quantity` (the sum of the move lines) and `_compute_picked`
    (a done move, or one with a picked line, is picked; one whose lines are all unpicked
    is not; one without lines keeps what was set)."""
    if not move_ids:
        return
    rec.env.db.execute(
        "UPDATE stock_move SET quantity = (SELECT COALESCE(SUM(l.quantity), 0) FROM "
        "stock_move_line l WHERE l.move_id = stock_move.id), picked = CASE "
        "WHEN state = 'done' OR EXISTS (SELECT 1 FROM stock_move_line l WHERE "
        "l.move_id = stock_move.id AND l.picked) THEN 1 "
        "WHEN EXISTS (SELECT 1 FROM stock_move_line l WHERE l.move_id = stock_move.id) THEN 0 "
        f"ELSE picked END WHERE id IN ({_marks(move_ids)})",
        move_ids,
    )


def _line_values(rec: BaseModel, move: Move, quantity: float) -> dict[str, Any]:
    """stock_move.py `_prepare_move_line_vals`, for what the test server keeps of a line."""
    return {
        "move_id": move.id,
        "picking_id": move.picking_id or False,
        "product_id": move.product_id,
        "quantity": quantity,
        "picked": move.picked,
    }


def set_move_quantities(rec: BaseModel, move_ids: list[int]) -> None:
    """stock_move.py `_set_quantity`, the inverse of `quantity`: more than the lines hold
    adds to the last line (or creates one, `_set_quantity_done`); less removes from the
    last lines first, deleting those that reach zero (`_process_decrease`)."""
    lines_model = rec.env["stock.move.line"].sudo()
    errors = []
    for move in _moves_by_id(rec, move_ids):
        wanted = move.quantity
        if round(wanted, PRECISION) != wanted:
            product = rec.env["product.product"].sudo().browse([move.product_id])
            label = product._display_names().get(move.product_id, "")
            errors.append(
                f"\nThe quantity done for the product {label} doesn't respect the rounding "
                "precision defined on the system.\nPlease change the quantity done or the "
                "rounding precision in your settings."
            )
            continue
        lines = rec.env.db.execute(
            "SELECT id, quantity FROM stock_move_line WHERE move_id = ? ORDER BY id", (move.id,)
        ).fetchall()
        delta = round(wanted - sum(float(q or 0) for _, q in lines), PRECISION)
        if delta > 0:
            if lines:
                last_id, last_qty = lines[-1]
                lines_model.browse([last_id]).write({"quantity": float(last_qty or 0) + delta})
            else:
                lines_model.create(_line_values(rec, move, delta))
        elif delta < 0:
            left = -delta
            for line_id, qty in reversed(lines):
                if _zero(left):
                    break
                qty = float(qty or 0)
                take = min(qty, left)
                if _zero(qty - take):
                    lines_model.browse([line_id]).unlink()
                else:
                    lines_model.browse([line_id]).write({"quantity": qty - take})
                left -= take
    if errors:
        raise UserError("\n".join(errors))


def set_move_picked(rec: BaseModel, picked: dict[int, Any]) -> None:
    """stock_move.py `_inverse_picked`: the move's lines follow the mark written on it."""
    for move_id, value in picked.items():
        flag = 1 if value else 0
        rec.env.db.execute("UPDATE stock_move SET picked = ? WHERE id = ?", (flag, move_id))
        rec.env.db.execute(
            "UPDATE stock_move_line SET picked = ? WHERE move_id = ?", (flag, move_id)
        )


def assign_moves(rec: BaseModel, move_ids: list[int]) -> None:
    """stock_move.py `_action_assign` for the moves waiting for a reservation: goods whose
    inventory is not tracked bypass reservation (`_should_bypass_reservation`) and get a
    move line for what is missing; tracked goods find no quants here and keep waiting."""
    moves = [m for m in _moves_by_id(rec, move_ids) if m.state in TODO and not m.picked]
    storable = storable_products(rec, sorted({m.product_id for m in moves}))
    lines_model = rec.env["stock.move.line"].sudo()
    assigned = []
    for move in moves:
        if move.product_id in storable:
            continue
        missing = round(move.demand - move.quantity, PRECISION)
        if missing > 0:
            lines_model.create({**_line_values(rec, move, missing), "picked": False})
        assigned.append(move.id)
    if assigned:
        rec.env.db.execute(
            f"UPDATE stock_move SET state = 'assigned' WHERE id IN ({_marks(assigned)})", assigned
        )


def recompute_move_states(rec: BaseModel, move_ids: list[int]) -> None:
    """stock_move.py `_recompute_state` (without chained moves)."""
    for move in _moves_by_id(rec, move_ids):
        if move.state in ("cancel", "done") or (move.state == "draft" and not move.quantity):
            continue
        if not _less(move.quantity, move.demand):
            state = "assigned"
        elif move.quantity:
            state = "partially_available"
        else:
            state = "confirmed"
        if state != move.state:
            rec.env.db.execute("UPDATE stock_move SET state = ? WHERE id = ?", (state, move.id))


def cancel_moves(rec: BaseModel, move_ids: list[int]) -> None:
    """stock_move.py `_action_cancel`: a done move cannot be cancelled; the others lose
    their reservation (`_do_unreserve`) and their `picked` mark."""
    moves = _moves_by_id(rec, move_ids)
    if any(m.state == "done" for m in moves):
        raise UserError(
            "You cannot cancel a stock move that has been set to 'Done'. Create a return in "
            "order to reverse the moves which took place."
        )
    ids = [m.id for m in moves if m.state != "cancel"]
    if not ids:
        return
    rec.env.db.execute(f"DELETE FROM stock_move_line WHERE move_id IN ({_marks(ids)})", ids)
    rec.env.db.execute(
        f"UPDATE stock_move SET state = 'cancel', picked = 0, quantity = 0 WHERE id IN "
        f"({_marks(ids)})",
        ids,
    )


def _picked_quantity(rec: BaseModel, move: Move) -> float:
    """stock_move.py `_get_picked_quantity`: the picked lines' quantity when only some of a
    picked move's lines are picked, else the move's quantity."""
    if move.picked:
        rows = rec.env.db.execute(
            "SELECT COALESCE(SUM(CASE WHEN picked THEN quantity ELSE 0 END), 0), "
            "SUM(CASE WHEN picked THEN 0 ELSE 1 END) FROM stock_move_line WHERE move_id = ?",
            (move.id,),
        ).fetchone()
        if rows and rows[1]:
            return float(rows[0])
    return move.quantity


class StockMove(BaseModel):
    def _prepare_create(self, vals: dict[str, Any]) -> dict[str, Any]:
        if vals.get("picking_id") and not vals.get("reference"):
            row = self.env.db.execute(
                "SELECT name FROM stock_picking WHERE id = ?", (vals["picking_id"],)
            ).fetchone()
            vals["reference"] = row[0] if row else False
        return vals

    def _after_write(self, fields: set[str]) -> None:
        # The stored `quantity` and `picked` are computed from the move lines; writing
        # them runs their inverses, quantity first, then the mark written with it.
        if not fields & {"quantity", "picked"}:
            return
        picked = self._column_rows(self.ids, "picked") if "picked" in fields else {}
        if "quantity" in fields:
            set_move_quantities(self, self.ids)
        set_move_picked(self, picked)
        lines_changed(self, self.ids)


class StockMoveLine(BaseModel):
    def _prepare_create(self, vals: dict[str, Any]) -> dict[str, Any]:
        if vals.get("move_id") and not vals.get("product_id"):
            row = self.env.db.execute(
                "SELECT product_id, picking_id FROM stock_move WHERE id = ?", (vals["move_id"],)
            ).fetchone()
            if row:
                vals["product_id"] = row[0]
                vals.setdefault("picking_id", row[1] or False)
        return vals

    def _parents(self) -> list[int]:
        return sorted({v for v in self._column_rows(self.ids, "move_id").values() if v})

    def _after_write(self, fields: set[str]) -> None:
        lines_changed(self, self._parents())

    def unlink(self) -> bool:
        self._ensure_exist()
        parents = self._parents()
        result = super().unlink()
        lines_changed(self, parents)
        return result


def lines_changed(rec: BaseModel, move_ids: list[int]) -> None:
    """What a change of move lines recomputes: the moves' quantity and mark, their state
    (stock_move_line.py `write`/`unlink` call `_recompute_state`), their pickings' state."""
    sync_moves_from_lines(rec, move_ids)
    recompute_move_states(rec, move_ids)
    pickings = sorted({m.picking_id for m in _moves_by_id(rec, move_ids) if m.picking_id})
    if pickings:
        recompute_picking_states(rec.env["stock.picking"].sudo().browse(pickings))


# -- stock.picking ---------------------------------------------------------------------------


def recompute_picking_states(pickings: BaseModel) -> None:
    """stock_picking.py `_compute_state`: no moves or a draft move is draft; all cancelled
    is cancel; all done or cancelled is done; otherwise, with the default shipping policy
    ('direct', `_get_relevant_state_among_moves`), a move reserved even in part makes the
    delivery Ready ('assigned'), one waiting for another makes it 'waiting', else it waits
    for stock ('confirmed'). Written through the ORM, so automation rules see it."""
    by_picking: dict[int, list[Move]] = {pid: [] for pid in pickings.ids}
    for move in picking_moves(pickings, pickings.ids):
        if move.picking_id is not None:
            by_picking[move.picking_id].append(move)
    current = pickings._column_rows(pickings.ids, "state")
    for pid, moves in by_picking.items():
        states = {m.state for m in moves}
        if not moves or "draft" in states:
            state = "draft"
        elif states == {"cancel"}:
            state = "cancel"
        elif states <= {"cancel", "done"}:
            state = "done"
        elif states & {"assigned", "partially_available"}:
            state = "assigned"
        elif "waiting" in states:
            state = "waiting"
        else:
            state = "confirmed"
        if current.get(pid) != state:
            pickings.sudo().browse([pid]).write({"state": state})


def confirm_pickings(pickings: BaseModel) -> None:
    """stock_picking.py `action_confirm`: draft moves are confirmed (`_action_confirm`)
    and, the operation type reserving at confirmation, reserved."""
    moves = [m.id for m in picking_moves(pickings, pickings.ids) if m.state == "draft"]
    if moves:
        pickings.env.db.execute(
            f"UPDATE stock_move SET state = 'confirmed' WHERE id IN ({_marks(moves)})", moves
        )
        assign_moves(pickings, moves)
    recompute_picking_states(pickings)


def assign_pickings(pickings: BaseModel) -> None:
    """stock_picking.py `action_assign`."""
    drafts = [pid for pid, s in pickings._column_rows(pickings.ids, "state").items()
              if s == "draft"]  # fmt: skip
    if drafts:
        confirm_pickings(pickings.browse(drafts))
    moves = [m.id for m in picking_moves(pickings, pickings.ids) if m.state not in
             ("draft", "cancel", "done")]  # fmt: skip
    if not moves:
        raise UserError("Nothing to check the availability for.")
    assign_moves(pickings, moves)
    recompute_picking_states(pickings)


def cancel_pickings(pickings: BaseModel) -> None:
    """stock_picking.py `action_cancel`: the moves are cancelled (a done one refuses)."""
    cancel_moves(pickings, [m.id for m in picking_moves(pickings, pickings.ids)])
    empty = [pid for pid in pickings.ids if not picking_moves(pickings, [pid])]
    if empty:
        pickings.sudo().browse(empty).write({"state": "cancel"})
    recompute_picking_states(pickings.browse([p for p in pickings.ids if p not in empty]))


def sanity_check(pickings: BaseModel) -> None:
    """stock_picking.py `_sanity_check` (lots are not simulated)."""
    show_transfers = len(pickings.ids) > 1
    without_moves, without_quantities = [], []
    for pid in pickings.ids:
        moves = picking_moves(pickings, [pid])
        lines = pickings.env.db.execute(
            "SELECT 1 FROM stock_move_line WHERE picking_id = ? LIMIT 1", (pid,)
        ).fetchone()
        if not moves and not lines:
            without_moves.append(pid)
        has_pick = any(m.picked and m.state not in ("done", "cancel") for m in moves)
        if all(
            _zero(m.quantity)
            for m in moves
            if m.state not in ("done", "cancel") and (not has_pick or m.picked)
        ):
            without_quantities.append(pid)
    if not show_transfers:
        if without_moves:
            raise UserError(EMPTY_TRANSFER)
        if without_quantities:
            raise UserError(ZERO_QUANTITY)
    elif without_moves:
        names = pickings.browse(without_moves)._display_names()
        raise UserError(
            f"Transfers {', '.join(names[p] for p in without_moves)}: Please add some items to "
            "move."
        )


def _create_backorder_type(pickings: BaseModel) -> dict[int, str]:
    """Each picking's operation type `create_backorder` setting (ask, always, never)."""
    rows = pickings.env.db.execute(
        "SELECT p.id, t.create_backorder FROM stock_picking p JOIN stock_picking_type t "
        f"ON t.id = p.picking_type_id WHERE p.id IN ({_marks(pickings.ids)})",
        pickings.ids,
    )
    return {pid: mode or "ask" for pid, mode in rows}


def check_backorder(pickings: BaseModel) -> list[int]:
    """stock_picking.py `_check_backorder`: the pickings (of an operation type that asks)
    with a move left unpicked or picked below its demand."""
    modes = _create_backorder_type(pickings)
    out = []
    for pid in pickings.ids:
        if modes.get(pid) != "ask":
            continue
        if any(
            (m.demand and not m.picked) or _less(_picked_quantity(pickings, m), m.demand)
            for m in picking_moves(pickings, [pid])
            if m.state != "cancel"
        ):
            out.append(pid)
    return out


def backorder_wizard_action(pickings: BaseModel, ids: list[int], show_transfers: bool) -> Any:
    """stock_picking.py `_action_generate_backorder_wizard`: the window action a client
    opens; its context carries the pickings to validate (`button_validate_picking_ids`,
    set by `button_validate`) and the wizard's defaults."""
    view = pickings.env.ref_id("stock.view_backorder_confirmation") or False
    return {
        "name": "Create Backorder?",
        "type": "ir.actions.act_window",
        "view_mode": "form",
        "res_model": "stock.backorder.confirmation",
        "views": [[view, "form"]],
        "view_id": view,
        "target": "new",
        "context": {
            **pickings.env.context,
            "default_show_transfers": show_transfers,
            "default_pick_ids": [[4, pid] for pid in ids],
        },
    }


def pre_action_done_hook(pickings: BaseModel) -> Any:
    """stock_picking.py `_pre_action_done_hook`: a picking with quantities but no move
    marked picked has all its moves marked picked; then, unless the context says
    `skip_backorder`, the pickings `_check_backorder` finds get the wizard instead."""
    to_pick = []
    for pid in pickings.ids:
        moves = picking_moves(pickings, [pid])
        if any(m.quantity for m in moves) and not any(m.picked for m in moves):
            to_pick += [m.id for m in moves]
    if to_pick:
        pickings.env["stock.move"].sudo().browse(to_pick).write({"picked": True})
    if not pickings.env.context.get("skip_backorder"):
        found = check_backorder(pickings)
        if found:
            return backorder_wizard_action(pickings, found, len(pickings.ids) > 1)
    return True


def button_validate(pickings: BaseModel) -> Any:
    """stock_picking.py `button_validate`."""
    pickings.env.check_access(pickings._spec, "write")
    pickings._ensure_exist()
    states = pickings._column_rows(pickings.ids, "state")
    todo = pickings.browse([pid for pid in pickings.ids if states.get(pid) != "done"])
    drafts = [pid for pid in todo.ids if states.get(pid) == "draft"]
    if drafts:
        confirm_pickings(todo.browse(drafts))
        for move in picking_moves(todo, drafts):
            if _zero(move.quantity) and not _zero(move.demand):
                todo.env["stock.move"].sudo().browse([move.id]).write({"quantity": move.demand})
    context = todo.env.context
    if not context.get("skip_sanity_check"):
        sanity_check(todo)
    if not context.get("button_validate_picking_ids"):
        todo = todo.with_env(todo.env.with_context({"button_validate_picking_ids": todo.ids}))
    result = pre_action_done_hook(todo)
    if result is not True:
        return result
    modes = _create_backorder_type(todo) if todo.ids else {}
    not_to_backorder = {pid for pid in todo.ids if modes.get(pid) == "never"}
    asked = context.get("picking_ids_not_to_backorder") or []
    not_to_backorder |= {pid for pid in asked if pid in modes and modes[pid] != "always"}
    cancel = [pid for pid in todo.ids if pid in not_to_backorder]
    keep = [pid for pid in todo.ids if pid not in not_to_backorder]
    if cancel:
        action_done(todo.browse(cancel), cancel_backorder=True)
    if keep:
        action_done(todo.browse(keep), cancel_backorder=False)
    return True


def action_done(pickings: BaseModel, cancel_backorder: bool) -> None:
    """stock_picking.py `_action_done` over stock_move.py `_action_done`: unpicked lines of
    picked moves go; a move with nothing picked is cancelled when it has no demand or no
    backorder is wanted; the others are done, split first when picked below their demand
    (`_create_backorder`, `_split`), and what is left moves to a backorder picking."""
    env = pickings.env
    moves = [m for m in picking_moves(pickings, pickings.ids) if m.state in OPEN]
    drafts = [m.id for m in moves if m.state == "draft"]
    if drafts:
        env.db.execute(
            f"UPDATE stock_move SET state = 'confirmed' WHERE id IN ({_marks(drafts)})", drafts
        )
    unpicked_lines: list[int] = []
    to_cancel = []
    for move in moves:
        if move.picked:
            unpicked_lines += [
                row[0]
                for row in env.db.execute(
                    "SELECT id FROM stock_move_line WHERE move_id = ? AND NOT picked", (move.id,)
                )
            ]
        if (move.quantity <= 0 or not move.picked) and (_zero(move.demand) or cancel_backorder):
            to_cancel.append(move.id)
    if unpicked_lines:
        env["stock.move.line"].sudo().browse(unpicked_lines).unlink()
    cancel_moves(pickings, to_cancel)
    moves = _moves_by_id(pickings, [m.id for m in moves])
    todo = [m for m in moves if m.state != "cancel" and m.quantity > 0 and m.picked]
    if not cancel_backorder:
        split_for_backorder(pickings, todo)
    now = env.now
    done_ids = [m.id for m in todo]
    if done_ids:
        env.db.execute(
            f"UPDATE stock_move SET state = 'done', date = ? WHERE id IN ({_marks(done_ids)})",
            [now, *done_ids],
        )
    done_pickings = sorted({m.picking_id for m in todo if m.picking_id})
    backorders: list[int] = []
    if done_pickings and not cancel_backorder:
        backorders = create_backorders(pickings.browse(done_pickings))
    pickings.sudo().write({"date_done": now, "priority": "0"})
    recompute_picking_states(pickings)
    update_qty_delivered(pickings, [m.sale_line_id for m in moves if m.sale_line_id])
    if backorders:
        assign_pickings(pickings.browse(backorders))


def split_for_backorder(rec: BaseModel, todo: list[Move]) -> None:
    """stock_move.py `_create_backorder` and `_split`: a move picked below its demand keeps
    the picked quantity as its demand; a new, confirmed move takes the rest."""
    moves_model = rec.env["stock.move"].sudo()
    for move in todo:
        if not _less(move.quantity, move.demand):
            continue
        rest = round(move.demand - move.quantity, PRECISION)
        row = moves_model.browse([move.id]).read(None, load=None)[0]
        spec = moves_model._spec
        values = {
            name: value
            for name, value in row.items()
            if name in spec.fields
            and spec.fields[name].column
            and spec.fields[name].copy
            and not spec.fields[name].readonly
            and name not in _NOT_COPIED
            and name not in ("quantity", "picked")
        }
        values.update(product_uom_qty=rest, state="confirmed")
        moves_model.create(values)
        rec.env.db.execute(
            "UPDATE stock_move SET product_uom_qty = ? WHERE id = ?", (move.quantity, move.id)
        )


def create_backorders(pickings: BaseModel) -> list[int]:
    """stock_picking.py `_create_backorder` and `_create_backorder_picking`: the moves not
    done or cancelled go to a copy of the picking whose `backorder_id` is the original,
    unpicked; the original's chatter says so."""
    env = pickings.env
    model = env["stock.picking"].sudo()
    spec = model._spec
    created = []
    for pid in pickings.ids:
        rest = [m.id for m in picking_moves(pickings, [pid]) if m.state not in ("done", "cancel")]
        if not rest:
            continue
        row = model.browse([pid]).read(None, load=None)[0]
        values = {
            name: value
            for name, value in row.items()
            if name in spec.fields
            and spec.fields[name].column
            and spec.fields[name].copy
            and not spec.fields[name].readonly
            and name not in _NOT_COPIED
            and name != "name"
        }
        values.update(backorder_id=pid, state="draft")
        backorder = model.create(values)
        bid = int(backorder.id)
        marks = _marks(rest)
        env.db.execute(
            f"UPDATE stock_move SET picking_id = ?, picked = 0 WHERE id IN ({marks})", [bid, *rest]
        )
        env.db.execute(
            f"UPDATE stock_move_line SET picking_id = ?, picked = 0 WHERE move_id IN ({marks})",
            [bid, *rest],
        )
        env.db.execute(
            "UPDATE stock_move SET reference = (SELECT name FROM stock_picking WHERE id = ?) "
            f"WHERE id IN ({marks})",
            [bid, *rest],
        )
        name = backorder._display_names().get(bid, "")
        link = f'<a href="#" data-oe-model="stock.picking" data-oe-id="{bid}">{name}</a>'
        # Odoo posts a Markup body (stock_picking.py _create_backorder): HTML, not escaped.
        model.browse([pid]).message_post(  # type: ignore[attr-defined]
            body=f"The backorder {link} has been created.", body_is_html=True
        )
        created.append(bid)
    return created


def update_qty_delivered(rec: BaseModel, sale_line_ids: list[int]) -> None:
    """sale_stock sale_order_line.py `_compute_qty_delivered`: the done outgoing moves'
    quantity (returns are not simulated)."""
    ids = sorted(set(sale_line_ids))
    if ids:
        rec.env.db.execute(
            "UPDATE sale_order_line SET qty_delivered = (SELECT COALESCE(SUM(m.quantity), 0) "
            "FROM stock_move m WHERE m.sale_line_id = sale_order_line.id AND "
            f"m.state = 'done') WHERE id IN ({_marks(ids)})",
            ids,
        )


# -- sale.order -> delivery ------------------------------------------------------------------


def launch_stock_rule(order: BaseModel) -> None:
    """sale_stock sale_order_line.py `_action_launch_stock_rule` for one confirmed order:
    one delivery with a move per goods line, none for services or combos; confirmed at
    once (the `action_confirm` at the end of that function)."""
    env = order.env
    values = order.read(
        ["name", "client_order_ref", "partner_shipping_id", "carrier_id", "commitment_date",
         "order_line"],
        load=None,
    )[0]  # fmt: skip
    lines = (
        env["sale.order.line"]
        .sudo()
        .browse(values["order_line"])
        .read(["product_id", "product_uom_qty", "name"], load=None)
    )
    product_ids = sorted({line["product_id"] for line in lines if line["product_id"]})
    goods: set[int] = set()
    if product_ids:
        rows = env.db.execute(
            "SELECT p.id FROM product_product p JOIN product_template t ON "
            f"t.id = p.product_tmpl_id WHERE p.id IN ({_marks(product_ids)}) AND t.type IN "
            f"({_marks(goods_types(env.major))})",
            [*product_ids, *goods_types(env.major)],
        )
        goods = {row[0] for row in rows}
    moves = [ln for ln in lines if ln["product_id"] in goods and ln["product_uom_qty"] > 0]
    if not moves:
        return
    reference = values["client_order_ref"]
    origin = f"{values['name']} - {reference}" if reference else values["name"]
    picking_type = env.ref_id("stock.picking_type_out")
    partner = values["partner_shipping_id"]
    picking = (
        env["stock.picking"]
        .sudo()
        .create(
            {
                "picking_type_id": picking_type,
                "partner_id": partner,
                "origin": origin,
                "sale_id": order.ids[0],
                "carrier_id": values["carrier_id"],
                "scheduled_date": values["commitment_date"] or env.now,
                "state": "draft",
                "move_ids": [
                    (0, 0, {
                        "product_id": line["product_id"],
                        "product_uom_qty": line["product_uom_qty"],
                        "description_picking": line["name"],
                        "sale_line_id": line["id"],
                        "partner_id": partner,
                        "origin": origin,
                        "picking_type_id": picking_type,
                        "state": "draft",
                    })
                    for line in moves
                ],
            }
        )
    )  # fmt: skip
    confirm_pickings(picking)


# -- stock.backorder.confirmation ------------------------------------------------------------


def _command_ids(commands: Any) -> list[int]:
    """The record ids x2many commands name: (4, id) links and (6, 0, ids) sets."""
    ids: list[int] = []
    for command in commands or []:
        if isinstance(command, list | tuple) and command:
            if command[0] == 4 and len(command) > 1:
                ids.append(int(command[1]))
            elif command[0] == 6 and len(command) > 2:
                ids = [int(i) for i in command[2]]
        elif isinstance(command, int) and not isinstance(command, bool):
            ids.append(command)
    return ids


class StockBackorderConfirmation(BaseModel):
    """stock.backorder.confirmation (addons/stock/wizard/stock_backorder_confirmation.py)."""

    def _prepare_create(self, vals: dict[str, Any]) -> dict[str, Any]:
        # default_get: one line per picking of the wizard, to back order.
        if "backorder_confirmation_line_ids" not in vals:
            picks = _command_ids(vals.get("pick_ids", self.env.context.get("default_pick_ids")))
            vals["backorder_confirmation_line_ids"] = [
                (0, 0, {"to_backorder": True, "picking_id": pid}) for pid in picks
            ]
        return vals

    @api_model
    @readonly
    def default_get(self, fields: list[str]) -> dict[str, Any]:
        result = super().default_get(fields)
        if "pick_ids" in result:
            # default_get returns x2m values as [(6, 0, ids)] (webclient limitation).
            result["pick_ids"] = [[6, 0, _command_ids(result["pick_ids"])]]
        if "backorder_confirmation_line_ids" in (fields or []) and result.get("pick_ids"):
            result["backorder_confirmation_line_ids"] = [
                [0, 0, {"to_backorder": True, "picking_id": pid}]
                for pid in result["pick_ids"][0][2]
            ]
        return result

    def _lines(self) -> list[dict[str, Any]]:
        rows = self.env.db.execute(
            "SELECT picking_id, to_backorder FROM stock_backorder_confirmation_line WHERE "
            f"backorder_confirmation_id IN ({_marks(self.ids)}) ORDER BY id",
            self.ids,
        )
        return [{"picking_id": r[0], "to_backorder": bool(r[1])} for r in rows]

    def _to_validate(self) -> BaseModel | None:
        ids = self.env.context.get("button_validate_picking_ids")
        if not ids:
            return None
        return self.env["stock.picking"].browse(ids)  # Odoo's browse: ids, or a ValueError

    def process(self) -> Any:
        """`process`: validate the context's pickings, a backorder for each line marked
        so; the others as `process_cancel_backorder` does. Without the context's
        `button_validate_picking_ids` it does nothing and answers True, as Odoo does."""
        self._ensure_exist()
        lines = self._lines() if self.ids else []
        not_to_do = [ln["picking_id"] for ln in lines if not ln["to_backorder"]]
        pickings = self._to_validate()
        if pickings is None:
            return True
        context: dict[str, Any] = {"skip_backorder": True}
        if not_to_do:
            context["picking_ids_not_to_backorder"] = not_to_do
        return button_validate(pickings.with_env(pickings.env.with_context(context)))

    def process_cancel_backorder(self) -> Any:
        """`process_cancel_backorder`: validate without backorders; what was not picked is
        cancelled."""
        self._ensure_exist()
        pickings = self._to_validate()
        if pickings is None:
            return True
        picks = self._many2many_values(self._f("pick_ids"), self.ids) if self.ids else {}
        not_to_backorder = sorted({pid for ids in picks.values() for pid in ids})
        context = {"skip_backorder": True, "picking_ids_not_to_backorder": not_to_backorder}
        return button_validate(pickings.with_env(pickings.env.with_context(context)))


STOCK_MODELS: dict[str, type[BaseModel]] = {
    "stock.move": StockMove,
    "stock.move.line": StockMoveLine,
    "stock.backorder.confirmation": StockBackorderConfirmation,
}
