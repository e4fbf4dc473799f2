"""Invoices as addons/account (19.0) makes them from what an integration sends.

A line with a product gets its account and taxes the way Odoo computes them
(addons/account/models/account_move_line.py `_compute_account_id`, `_compute_tax_ids`,
`_get_computed_taxes`): the product's income account (or its category's), else the
journal's default account; the product's sales taxes; both mapped through the invoice's
fiscal position (addons/account/models/partner.py AccountFiscalPosition `map_tax`,
`map_account`, `_get_fiscal_position`), which the invoice takes from its partner. A posted
invoice refuses changes to its lines, partner, dates and currency with Odoo's own message
(addons/account/models/account_move.py AccountMove.write).

Simplified, and said so in docs/odoo-sim.md: percentage and fixed taxes only, never
included in the price, rounded per line; no journal items for receivables or taxes (the
invoice's totals are computed from its product lines); no lock dates or hashing; fiscal
positions match on country, zip range and VAT only.
"""

# ruff: noqa: S608 - SQL text is built only from registry identifiers (tables, columns);
# every value travels as a bound parameter.

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from intermodal_sim.odoo.errors import UserError
from intermodal_sim.odoo.mail import MailThread
from intermodal_sim.odoo.orm import BaseModel, Env

MOVE_PREFIX = {
    "out_invoice": "INV",
    "out_refund": "RINV",
    "in_invoice": "BILL",
    "in_refund": "RBILL",
    "out_receipt": "SREC",
    "in_receipt": "PREC",
    "entry": "MISC",
}
SALE_TYPES = ("out_invoice", "out_refund", "out_receipt")
PURCHASE_TYPES = ("in_invoice", "in_refund", "in_receipt")
JOURNAL_FOR = {**dict.fromkeys(SALE_TYPES, "sale"), **dict.fromkeys(PURCHASE_TYPES, "purchase"),
               "entry": "general"}  # fmt: skip

# account_move.py AccountMove.write: what a posted move refuses to change.
UNMODIFIABLE_WHEN_POSTED = (
    "invoice_line_ids", "line_ids", "invoice_date", "date", "partner_id",
    "invoice_payment_term_id", "currency_id", "fiscal_position_id", "invoice_cash_rounding_id",
)  # fmt: skip


def _scalar(env: Env, sql: str, params: tuple[Any, ...]) -> Any:
    row = env.db.execute(sql, params).fetchone()
    return row[0] if row else None


def _rel(env: Env, table: str, col1: str, col2: str, owner: int) -> list[int]:
    return [int(r[0]) for r in env.db.execute(
        f"SELECT {col2} FROM {table} WHERE {col1} = ? ORDER BY {col2}", (owner,)
    )]  # fmt: skip


# -- fiscal positions (addons/account/models/partner.py AccountFiscalPosition) --------------
def fiscal_position_for(env: Env, partner: int | None, delivery: int | None = None) -> int | None:
    """_get_fiscal_position: the partner's own position (on the delivery address first),
    else the first automatic one, by sequence, whose country, zip range and VAT condition
    the delivery address meets; none for a partner without a country."""
    if not partner:
        return None
    delivery = delivery or partner
    for pid in (delivery, partner):
        manual = _scalar(
            env, "SELECT property_account_position_id FROM res_partner WHERE id = ?", (pid,)
        )
        if manual:
            return int(manual)
    row = env.db.execute(
        "SELECT country_id, zip, vat FROM res_partner WHERE id = ?", (delivery,)
    ).fetchone()
    own = env.db.execute("SELECT country_id FROM res_partner WHERE id = ?", (partner,)).fetchone()
    if row is None or not (own and own[0]):
        return None
    country, zip_code, vat = row
    for fpos, fcountry, zip_from, zip_to, vat_required in env.db.execute(
        "SELECT id, country_id, zip_from, zip_to, vat_required FROM account_fiscal_position "
        "WHERE active = 1 AND auto_apply = 1 ORDER BY sequence, id"
    ):
        if vat_required and not vat:
            continue
        if zip_from and zip_to and not (zip_code and zip_from <= zip_code <= zip_to):
            continue
        if fcountry and fcountry != country:
            continue
        return int(fpos)
    return None


def map_taxes(env: Env, fpos: int | None, taxes: list[int]) -> list[int]:
    """map_tax. 19: a position with no taxes removes them all; otherwise each tax becomes the
    position's taxes that name it in `original_tax_ids`, or stays. Up to 18: each tax becomes
    the destination of its mapping rows (none when a row has no destination), or stays."""
    if not fpos:
        return taxes
    out: list[int] = []
    if env.major >= 19:
        own = _rel(env, "account_fiscal_position_account_tax_rel", "account_fiscal_position_id",
                   "account_tax_id", fpos)  # fmt: skip
        if not own:
            return []
        mapping: dict[int, list[int]] = {}
        for dest in own:
            for src in _rel(env, "account_tax_alternatives", "dest_tax_id", "src_tax_id", dest):
                mapping.setdefault(src, []).append(dest)
        for tax in taxes:
            out += [t for t in mapping.get(tax, [tax]) if t not in out]
        return out
    for tax in taxes:
        rows = env.db.execute(
            "SELECT tax_dest_id FROM account_fiscal_position_tax WHERE position_id = ? "
            "AND tax_src_id = ? ORDER BY id",
            (fpos, tax),
        ).fetchall()
        replacements = [int(r[0]) for r in rows if r[0]] if rows else [tax]
        out += [t for t in replacements if t not in out]
    return out


def map_account(env: Env, fpos: int | None, account: int | None) -> int | None:
    if not fpos or not account:
        return account
    dest = _scalar(
        env,
        "SELECT account_dest_id FROM account_fiscal_position_account WHERE position_id = ? "
        "AND account_src_id = ? ORDER BY id LIMIT 1",
        (fpos, account),
    )
    return int(dest) if dest else account


class AccountMove(MailThread):
    def _display_names(self) -> dict[int, str]:
        names = super()._display_names()
        return {rid: (name if name and name != "/" else f"Draft ({rid})") for rid, name in
                names.items()}  # fmt: skip

    def _prepare_create(self, vals: dict[str, Any]) -> dict[str, Any]:
        move_type = vals.get("move_type") or "entry"
        if not vals.get("journal_id"):
            journal = _scalar(
                self.env,
                "SELECT id FROM account_journal WHERE type = ? AND active = 1 ORDER BY id",
                (JOURNAL_FOR.get(move_type, "general"),),
            )
            if journal:
                vals["journal_id"] = int(journal)
        if "fiscal_position_id" not in vals and move_type != "entry" and vals.get("partner_id"):
            # account_move.py _compute_fiscal_position_id (the delivery address first).
            fpos = fiscal_position_for(
                self.env, _id(vals.get("partner_id")), _id(vals.get("partner_shipping_id"))
            )
            if fpos:
                vals["fiscal_position_id"] = fpos
        return vals

    def write(self, vals: Any) -> bool:
        """account_move.py AccountMove.write: a posted move refuses its readonly fields."""
        if isinstance(vals, Mapping) and not self.env.context.get("skip_readonly_check"):
            readonly = [name for name in vals if name in UNMODIFIABLE_WHEN_POSTED]
            if readonly:
                self._ensure_exist()
                for state in self._column_rows(self.ids, "state").values():
                    if vals.get("state", state) == "posted":
                        raise UserError(
                            "You cannot modify the following readonly fields on a posted "
                            f"move: {', '.join(readonly)}"
                        )
        return super().write(vals)

    def _after_write(self, fields: set[str]) -> None:
        if fields & {"invoice_line_ids", "line_ids", "payment_state"} or not fields:
            self._recompute_amounts()

    def _recompute_amounts(self) -> None:
        for rid in self.ids:
            row = self.env.db.execute(
                "SELECT COALESCE(SUM(price_subtotal), 0), COALESCE(SUM(price_total), 0) "
                "FROM account_move_line WHERE move_id = ? AND display_type = 'product'",
                (rid,),
            ).fetchone()
            untaxed, total = round(float(row[0]), 2), round(float(row[1]), 2)
            self.env.db.execute(
                "UPDATE account_move SET amount_untaxed = ?, amount_tax = ?, amount_total = ?, "
                "amount_residual = CASE WHEN payment_state IN ('paid', 'in_payment', 'reversed') "
                "THEN 0 ELSE ? END WHERE id = ?",
                (untaxed, round(total - untaxed, 2), total, total, rid),
            )

    def _check_unlink(self) -> None:
        if any(s == "posted" for s in self._column_rows(self.ids, "state").values()):
            raise UserError("You cannot delete an entry which has been posted once.")

    def action_post(self) -> bool:
        """account.move action_post: number the entry and post it; returns False like Odoo."""
        self.env.check_access(self._spec, "write")
        self._ensure_exist()
        for move in self.read(["state", "move_type", "name", "invoice_line_ids", "invoice_date",
                               "amount_total"]):  # fmt: skip
            if move["state"] == "posted":
                raise UserError(
                    "The entry {} (id {}) is already posted.".format(move["name"], move["id"])
                )
            if move["move_type"] != "entry" and not move["invoice_line_ids"]:
                raise UserError("You need to add a line before posting.")
            if move["move_type"] in SALE_TYPES + PURCHASE_TYPES and move["amount_total"] < 0:
                # account_move.py _post
                raise UserError(
                    "You cannot validate an invoice with a negative total amount. You should "
                    "create a credit note instead. Use the action menu to transform it into a "
                    "credit note or refund."
                )
            record = self.browse([move["id"]])
            prefix = f"{MOVE_PREFIX[move['move_type']]}/{self.env.today[:4]}/"
            vals: dict[str, Any] = {}
            if move["name"] in ("/", False):
                vals["name"] = f"{prefix}{self.env.db.next_sequence(prefix):05d}"
            if move["move_type"] != "entry" and not move["invoice_date"]:
                vals["invoice_date"] = self.env.today  # set while draft, as _post does
            if vals:
                record.write(vals)
            record.write({"state": "posted"})
        return False

    def button_draft(self) -> None:
        self.env.check_access(self._spec, "write")
        self._ensure_exist()
        self.write({"state": "draft"})

    def button_cancel(self) -> None:
        self.env.check_access(self._spec, "write")
        self._ensure_exist()
        self.write({"state": "cancel"})


class AccountMoveLine(BaseModel):
    def _prepare_create(self, vals: dict[str, Any]) -> dict[str, Any]:
        """The computed fields of a product line, when the caller did not set them:
        `_compute_name`, `_compute_price_unit`, `_compute_account_id`, `_compute_tax_ids`."""
        move = _id(vals.get("move_id"))
        if not move or vals.get("display_type") in ("line_section", "line_note"):
            return vals
        row = self.env.db.execute(
            "SELECT m.move_type, m.fiscal_position_id, j.default_account_id FROM account_move m "
            "LEFT JOIN account_journal j ON j.id = m.journal_id WHERE m.id = ?",
            (move,),
        ).fetchone()
        if row is None:
            return vals
        move_type, fpos, journal_account = row
        sale = move_type in SALE_TYPES
        purchase = move_type in PURCHASE_TYPES
        product = _id(vals.get("product_id"))
        if product:
            tmpl = self.env.db.execute(
                "SELECT t.id, t.list_price, t.property_account_income_id, "
                "t.property_account_expense_id, c.property_account_income_categ_id, "
                "c.property_account_expense_categ_id FROM product_product p "
                "JOIN product_template t ON t.id = p.product_tmpl_id "
                "LEFT JOIN product_category c ON c.id = t.categ_id WHERE p.id = ?",
                (product,),
            ).fetchone()
            if tmpl is not None:
                tmpl_id, list_price, income, expense, categ_income, categ_expense = tmpl
                if not vals.get("name"):
                    names = self.env["product.product"].sudo().browse([product])._display_names()
                    vals["name"] = names.get(product) or False
                if "price_unit" not in vals and sale:
                    vals["price_unit"] = float(list_price or 0.0)
                if "account_id" not in vals and (sale or purchase):
                    account = (income or categ_income) if sale else (expense or categ_expense)
                    if account:
                        vals["account_id"] = map_account(self.env, fpos, int(account))
                if "tax_ids" not in vals and (sale or purchase):
                    table = "product_taxes_rel" if sale else "product_supplier_taxes_rel"
                    taxes = [
                        t for t in _rel(self.env, table, "prod_id", "tax_id", int(tmpl_id))
                        if _scalar(self.env, "SELECT type_tax_use FROM account_tax WHERE id = ?",
                                   (t,)) == ("sale" if sale else "purchase")
                    ]  # fmt: skip
                    vals["tax_ids"] = [(6, 0, map_taxes(self.env, fpos, taxes))]
        if not vals.get("account_id") and journal_account:
            vals["account_id"] = int(journal_account)
        return vals

    def write(self, vals: Any) -> bool:
        """account_move_line.py write: the taxes of a posted line are fixed."""
        if isinstance(vals, Mapping) and "tax_ids" in vals:
            self._ensure_exist()
            if any(s == "posted" for s in self._parent_states().values()):
                raise UserError(
                    "You cannot modify the taxes related to a posted journal item, you should "
                    "reset the journal entry to draft to do so."
                )
        return super().write(vals)

    def _parent_states(self) -> dict[int, Any]:
        marks = ", ".join("?" * len(self.ids))
        rows = self.env.db.execute(
            f"SELECT l.id, m.state FROM account_move_line l JOIN account_move m "
            f"ON m.id = l.move_id WHERE l.id IN ({marks})",
            self.ids,
        )
        return {int(r[0]): r[1] for r in rows}

    def _check_unlink(self) -> None:
        """account_move_line.py _unlink_except_posted."""
        if any(s == "posted" for s in self._parent_states().values()):
            raise UserError(
                "You can't delete a posted journal item. Don\u2019t play games with your "
                "accounting records; reset the journal entry to draft before deleting it."
            )

    def _after_write(self, fields: set[str]) -> None:
        for rid in self.ids:
            row = self.env.db.execute(
                "SELECT quantity, price_unit, discount FROM account_move_line WHERE id = ?",
                (rid,),
            ).fetchone()
            quantity, price, discount = (float(v or 0) for v in row)
            subtotal = round(quantity * price * (1 - discount / 100.0), 2)
            tax = 0.0
            for amount_type, amount in self.env.db.execute(
                "SELECT t.amount_type, t.amount FROM account_move_line_account_tax_rel r "
                "JOIN account_tax t ON t.id = r.account_tax_id WHERE r.account_move_line_id = ?",
                (rid,),
            ):
                if amount_type == "fixed":
                    tax += float(amount) * quantity
                elif amount_type in ("percent", "division"):
                    tax += subtotal * float(amount) / 100.0
            self.env.db.execute(
                "UPDATE account_move_line SET price_subtotal = ?, price_total = ? WHERE id = ?",
                (subtotal, round(subtotal + tax, 2), rid),
            )
        moves = sorted({v for v in self._column_rows(self.ids, "move_id").values() if v})
        self.env["account.move"].sudo().browse(moves)._recompute_amounts()  # type: ignore[attr-defined]


def _id(value: Any) -> int | None:
    if isinstance(value, list | tuple) and value:
        value = value[0]
    return int(value) if isinstance(value, int) and not isinstance(value, bool) and value else None


def seed_accounting(env: Env, xmlid: Any) -> None:
    """What installing a generic chart of accounts leaves: accounts, journals, a sales and a
    purchase tax (the company's defaults, set on the products that have none, as
    account.chart.template `_post_load_data` does), and two fiscal positions: "Export"
    (assigned by hand: no tax, income booked to the export sales account) and "Belgium"
    (applied automatically to Belgian addresses: Belgian VAT)."""

    def make(model: str, name: str, values: dict[str, Any]) -> int:
        rid = int(env[model].create(values).id)
        xmlid(f"account.1_{name}", model, rid)
        return rid

    accounts = {
        name: make("account.account", name, {"name": label, "code": code,
                                             "account_type": kind, "reconcile": reconcile})
        for name, label, code, kind, reconcile in (
            ("receivable", "Account Receivable", "121000", "asset_receivable", True),
            ("payable", "Account Payable", "211000", "liability_payable", True),
            ("income", "Product Sales", "400000", "income", False),
            ("income_export", "Sales Abroad", "400100", "income", False),
            ("expense", "Expenses", "600000", "expense", False),
        )
    }  # fmt: skip
    income, expense = accounts["income"], accounts["expense"]
    for name, label, code, kind, default in (
        ("sale", "Customer Invoices", "INV", "sale", income),
        ("purchase", "Vendor Bills", "BILL", "purchase", expense),
        ("general", "Miscellaneous Operations", "MISC", "general", False),
    ):
        values = {"name": label, "code": code, "type": kind, "default_account_id": default}
        make("account.journal", name, values)
    taxes = {
        name: make("account.tax", name, {"name": label, "amount": amount, "type_tax_use": use})
        for name, label, amount, use in (
            ("sale_tax_15", "15%", 15.0, "sale"),
            ("purchase_tax_15", "15%", 15.0, "purchase"),
            ("sale_tax_0_export", "0% Export", 0.0, "sale"),
            ("sale_tax_21_be", "21% BE", 21.0, "sale"),
        )
    }
    sale_tax, purchase_tax = taxes["sale_tax_15"], taxes["purchase_tax_15"]
    export_mapping = {"account_src_id": income, "account_dest_id": accounts["income_export"]}
    foreign = make("account.fiscal.position", "fiscal_position_export",
                   {"name": "Export", "sequence": 10,
                    "account_ids": [(0, 0, export_mapping)]})  # fmt: skip
    belgium = make("account.fiscal.position", "fiscal_position_be",
                   {"name": "Belgium", "sequence": 20, "auto_apply": True,
                    "country_id": env.ref_id("base.be") or False})  # fmt: skip
    for position, tax in ((foreign, taxes["sale_tax_0_export"]),
                          (belgium, taxes["sale_tax_21_be"])):  # fmt: skip
        if env.major >= 19:
            env["account.tax"].browse([tax]).write(
                {"original_tax_ids": [(6, 0, [sale_tax])],
                 "fiscal_position_ids": [(6, 0, [position])]}
            )  # fmt: skip
        else:
            env["account.fiscal.position.tax"].create(
                {"position_id": position, "tax_src_id": sale_tax, "tax_dest_id": tax}
            )
    env.db.execute(
        "UPDATE res_company SET account_sale_tax_id = ?, account_purchase_tax_id = ?",
        (sale_tax, purchase_tax),
    )
    env.db.execute(
        "UPDATE product_category SET property_account_income_categ_id = ?, "
        "property_account_expense_categ_id = ? WHERE property_account_income_categ_id IS NULL",
        (income, expense),
    )
    for table, tax in (("product_taxes_rel", sale_tax), ("product_supplier_taxes_rel",
                                                         purchase_tax)):  # fmt: skip
        env.db.execute(
            f"INSERT INTO {table} (prod_id, tax_id) SELECT t.id, ? FROM product_template t "
            f"WHERE NOT EXISTS (SELECT 1 FROM {table} r WHERE r.prod_id = t.id)",
            (tax,),
        )
