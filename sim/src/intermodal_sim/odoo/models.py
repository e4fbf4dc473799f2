"""Business behaviour of the models the hub drives: sequences, totals and state transitions.

Only what an integration observes is simulated: confirming an order creates its delivery (of
its goods: stock.py), validating a delivery marks it done or asks about a backorder, posting
an invoice numbers it. Method names and return values follow addons/sale, stock and account.
"""

# ruff: noqa: S608 - SQL text is built only from registry identifiers (tables, columns);
# every value travels as a bound parameter.

from __future__ import annotations

import email.utils
from collections.abc import Mapping
from typing import Any, cast

from intermodal_sim.odoo import stock
from intermodal_sim.odoo.accounting import AccountMove, AccountMoveLine
from intermodal_sim.odoo.attachments import IrAttachment
from intermodal_sim.odoo.errors import UserError, ValidationError
from intermodal_sim.odoo.mail import MailActivity, MailThread
from intermodal_sim.odoo.orm import (
    BaseModel,
    api_model,
    readonly,
)
from intermodal_sim.odoo.schema import Model


def _parent_ids(rec: BaseModel, link: str) -> list[int]:
    return sorted({v for v in rec._column_rows(rec.ids, link).values() if v})


def parse_contact_from_email(text: str) -> tuple[str, str]:
    """odoo/tools/mail.py parse_contact_from_email: '"Name" <a@b.c>' gives the name and the
    normalized address, a bare address gives no name, anything else is a name."""
    name, address = email.utils.parseaddr(text)
    if address and "@" in address:
        return name.strip(), address.strip().lower()
    return text.strip(), ""


class ResPartner(MailThread):
    def _complete_names(self) -> dict[int, str]:
        """res.partner _compute_complete_name: a contact of a company reads 'Company, Person',
        an unnamed address 'Company, Delivery Address'."""
        if not self.ids:
            return {}
        marks = ", ".join("?" * len(self.ids))
        rows = self.env.db.execute(
            "SELECT p.id, p.name, p.is_company, p.type, parent.name FROM res_partner p "
            f"LEFT JOIN res_partner parent ON parent.id = p.parent_id WHERE p.id IN ({marks})",
            self.ids,
        )
        labels = dict(self._spec.fields["type"].selection)
        out = {}
        for rid, name, is_company, ptype, parent_name in rows:
            label = name or ""
            if parent_name:
                if not label and ptype in ("invoice", "delivery", "other"):
                    label = labels.get(ptype, "")
                if not is_company:
                    label = f"{parent_name}, {label}"
            out[rid] = label.strip()
        return out

    def _after_write(self, fields: set[str]) -> None:
        """complete_name is stored (and searched: `_rec_names_search`): recompute it for the
        partners written and, when their name changed, for their contacts."""
        super()._after_write(fields)
        ids = list(self.ids)
        if fields & {"name", "is_company", "type", "parent_id"} and ids:
            marks = ", ".join("?" * len(ids))
            ids += [row[0] for row in self.env.db.execute(
                f"SELECT id FROM res_partner WHERE parent_id IN ({marks})", ids)]  # fmt: skip
        for rid, complete in cast(ResPartner, self.browse(ids))._complete_names().items():
            self.env.db.execute(
                "UPDATE res_partner SET complete_name = ? WHERE id = ?", (complete, rid)
            )

    def _display_names(self) -> dict[int, str]:
        """res.partner _compute_display_name: the complete name (no show_* context here)."""
        names = self._column_rows(self.ids, "complete_name") if self.ids else {}
        missing = [rid for rid, name in names.items() if name is None]
        names.update(cast(ResPartner, self.browse(missing))._complete_names())
        return {rid: str(name or "") for rid, name in names.items()}

    @api_model
    def name_create(self, name: str) -> Any:
        """res.partner name_create: 'Name <email>' makes a contact with that email."""
        if not isinstance(name, str):
            raise TypeError(f"expected string or bytes-like object, got {type(name).__name__!r}")
        contact, address = parse_contact_from_email(name)
        if self.env.context.get("force_email") and not address:
            raise ValidationError("Couldn't create contact without email address!")
        vals: dict[str, Any] = {"name": contact or address}
        if address:
            vals["email"] = address
        record = self.create(vals)
        return (record.id, record._display_names().get(record.ids[0], ""))

    def copy_data(self, default: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """res.partner copy_data: the copy is named '<name> (copy)' unless given a name."""
        vals_list = super().copy_data(default)
        if default and default.get("name"):
            return vals_list
        names = self._column_rows(self.ids, "name")
        return [{**vals, "name": f"{names[rid]} (copy)"} for rid, vals in
                zip(self.ids, vals_list, strict=True)]  # fmt: skip


class AccountIncoterms(BaseModel):
    def _display_names(self) -> dict[int, str]:
        """addons/account/models/account_incoterms.py _compute_display_name: '[DDP] DELIVERED
        DUTY PAID', the code in brackets before the name."""
        if not self.ids:
            return {}
        marks = ", ".join("?" * len(self.ids))
        rows = self.env.db.execute(
            f"SELECT id, code, name FROM account_incoterms WHERE id IN ({marks})", self.ids
        )
        return {rid: f"[{code}] {name}" if code else str(name) for rid, code, name in rows}


class ResUsers(BaseModel):
    @api_model
    @readonly
    def context_get(self) -> dict[str, Any]:
        row = self.env.db.execute(
            "SELECT lang, tz FROM res_users WHERE id = ?", (self.env.uid,)
        ).fetchone()
        return {
            "lang": (row[0] if row else None) or "en_US",
            "tz": (row[1] if row else None) or "UTC",
            "uid": self.env.uid,
        }

    def _prepare_create(self, vals: dict[str, Any]) -> dict[str, Any]:
        # res.users _inherits res.partner: a user without a partner gets one.
        if not vals.get("partner_id"):
            partner = (
                self.env["res.partner"]
                .sudo()
                .create({"name": vals.get("name") or vals.get("login"), "email": vals.get("email")})
            )
            vals["partner_id"] = partner.id
        vals.setdefault("name", vals.get("login"))
        return vals


class ResCurrency(BaseModel):
    def _compute_rate(self, ids: list[int]) -> dict[int, Any]:
        """The latest rate on or before today, 1.0 when there is none (res.currency)."""
        out: dict[int, Any] = dict.fromkeys(ids, 1.0)
        for rid in ids:
            row = self.env.db.execute(
                "SELECT rate FROM res_currency_rate WHERE currency_id = ? AND name <= ? "
                "ORDER BY name DESC, id DESC LIMIT 1",
                (rid, self.env.today),
            ).fetchone()
            if row:
                out[rid] = float(row[0])
        return out


class ProductCategory(BaseModel):
    def _after_write(self, fields: set[str]) -> None:
        if fields & {"name", "parent_id"} or not fields:
            rows = self.env.db.execute(
                "WITH RECURSIVE h(id, path) AS ("
                "SELECT id, name FROM product_category WHERE parent_id IS NULL UNION ALL "
                "SELECT c.id, h.path || ' / ' || c.name FROM product_category c "
                "JOIN h ON c.parent_id = h.id) SELECT id, path FROM h"
            ).fetchall()
            for rid, path in rows:
                self.env.db.execute(
                    "UPDATE product_category SET complete_name = ? WHERE id = ?", (path, rid)
                )


class ProductTemplate(MailThread):
    def _after_write(self, fields: set[str]) -> None:
        # stock/models/product.py compute_is_storable (18+): only goods track inventory.
        if "is_storable" in self._spec.fields and (fields & {"type", "is_storable"} or not fields):
            self.env.db.execute(
                "UPDATE product_template SET is_storable = 0 WHERE type != 'consu' AND "
                f"is_storable AND id IN ({', '.join('?' * len(self.ids))})",
                self.ids,
            )


class ProductProduct(MailThread):
    def _display_names(self) -> dict[int, str]:
        """product.product: '[CODE] Name' when the variant has an internal reference."""
        if not self.ids:
            return {}
        marks = ", ".join("?" * len(self.ids))
        rows = self.env.db.execute(
            "SELECT p.id, p.default_code, t.name FROM product_product p "
            f"JOIN product_template t ON t.id = p.product_tmpl_id WHERE p.id IN ({marks})",
            self.ids,
        )
        return {rid: f"[{code}] {name}" if code else name for rid, code, name in rows}


class SaleOrder(MailThread):
    def _prepare_create(self, vals: dict[str, Any]) -> dict[str, Any]:
        if vals.get("name") in (None, False, "New", "/"):
            vals["name"] = f"S{self.env.db.next_sequence('sale.order'):05d}"
        if vals.get("partner_id"):
            vals.setdefault("partner_invoice_id", vals["partner_id"])
            vals.setdefault("partner_shipping_id", vals["partner_id"])
        return vals

    def _after_write(self, fields: set[str]) -> None:
        if "order_line" in fields or not fields:
            self._recompute_amounts()

    def _recompute_amounts(self) -> None:
        for rid in self.ids:
            row = self.env.db.execute(
                "SELECT COALESCE(SUM(price_subtotal), 0) FROM sale_order_line WHERE order_id = ?",
                (rid,),
            ).fetchone()
            total = round(float(row[0]), 2)
            self.env.db.execute(
                "UPDATE sale_order SET amount_untaxed = ?, amount_tax = 0, amount_total = ? "
                "WHERE id = ?",
                (total, total, rid),
            )

    def _check_unlink(self) -> None:
        states = self._column_rows(self.ids, "state").values()
        if any(state not in ("draft", "cancel") for state in states):
            raise UserError(
                "You can not delete a sent quotation or a confirmed sales order. "
                "You must first cancel it."
            )

    def action_confirm(self) -> bool:
        """sale.order action_confirm: the order becomes a sale and its delivery is created."""
        self.env.check_access(self._spec, "write")
        self._ensure_exist()
        for order in self.read(["state", "name"]):
            if order["state"] not in ("draft", "sent"):
                raise UserError(
                    "It is not allowed to confirm an order in the following states: "
                    f"{dict(self._spec.fields['state'].selection)[order['state']]}"
                )
        self.write({"state": "sale", "date_order": self.env.now, "invoice_status": "to invoice"})
        for record in self:
            stock.launch_stock_rule(record)
        return True

    def action_cancel(self) -> bool:
        self.env.check_access(self._spec, "write")
        self._ensure_exist()
        return self.write({"state": "cancel"})

    def action_draft(self) -> bool:
        self.env.check_access(self._spec, "write")
        self._ensure_exist()
        return self.write({"state": "draft"})


class SaleOrderLine(BaseModel):
    def _prepare_create(self, vals: dict[str, Any]) -> dict[str, Any]:
        product = vals.get("product_id")
        if product and not vals.get("name"):
            names = self.env["product.product"].sudo().browse([int(product)])._display_names()
            vals["name"] = names.get(int(product)) or "/"
        if product and "price_unit" not in vals:
            price = self.env["product.product"].sudo().browse([int(product)]).read(["list_price"])
            vals["price_unit"] = price[0]["list_price"] if price else 0.0
        return vals

    def _after_write(self, fields: set[str]) -> None:
        for rid in self.ids:
            self.env.db.execute(
                "UPDATE sale_order_line SET price_subtotal = ROUND(product_uom_qty * price_unit "
                "* (1 - discount / 100.0), 2), price_total = ROUND(product_uom_qty * price_unit "
                "* (1 - discount / 100.0), 2) WHERE id = ?",
                (rid,),
            )
        orders = _parent_ids(self, "order_id")
        self.env["sale.order"].sudo().browse(orders)._recompute_amounts()  # type: ignore[attr-defined]

    def unlink(self) -> bool:
        self._ensure_exist()
        orders = _parent_ids(self, "order_id")
        result = super().unlink()
        self.env["sale.order"].sudo().browse(orders)._recompute_amounts()  # type: ignore[attr-defined]
        return result


class StockPicking(MailThread):
    def _prepare_create(self, vals: dict[str, Any]) -> dict[str, Any]:
        if vals.get("name") in (None, False, "New", "/"):
            prefix = "WH/INT/"
            if vals.get("picking_type_id"):
                row = self.env.db.execute(
                    "SELECT sequence_code FROM stock_picking_type WHERE id = ?",
                    (vals["picking_type_id"],),
                ).fetchone()
                if row:
                    prefix = f"WH/{row[0]}/"
            vals["name"] = f"{prefix}{self.env.db.next_sequence(prefix):05d}"
        return vals

    def _after_write(self, fields: set[str]) -> None:
        if "carrier_tracking_ref" in fields:
            for rid in self.ids:
                self.env.db.execute(
                    "UPDATE stock_picking SET carrier_tracking_url = CASE WHEN "
                    "carrier_tracking_ref IS NULL THEN NULL ELSE "
                    "'https://tracking.example/' || carrier_tracking_ref END WHERE id = ?",
                    (rid,),
                )

    def action_confirm(self) -> bool:
        self.env.check_access(self._spec, "write")
        self._ensure_exist()
        stock.confirm_pickings(self)
        return True

    def action_assign(self) -> bool:
        self.env.check_access(self._spec, "write")
        self._ensure_exist()
        stock.assign_pickings(self)
        return True

    def action_cancel(self) -> bool:
        self.env.check_access(self._spec, "write")
        self._ensure_exist()
        stock.cancel_pickings(self)
        return True

    def button_validate(self) -> Any:
        """stock.picking button_validate: True, or the backorder wizard's action (stock.py)."""
        return stock.button_validate(self)


class IrModelData(BaseModel):
    @api_model
    def check_object_reference(
        self, module: str, xml_id: str, raise_on_access_error: bool = False
    ) -> list[Any]:
        row = self.env.db.execute(
            "SELECT model, res_id FROM ir_model_data WHERE module = ? AND name = ?",
            (module, xml_id),
        ).fetchone()
        if row is None:
            raise ValueError(f"External ID not found in the system: {module}.{xml_id}")
        return [row[0], row[1]]

    def _after_write(self, fields: set[str]) -> None:
        marks = ", ".join("?" * len(self.ids))
        self.env.db.execute(
            f"UPDATE ir_model_data SET complete_name = module || '.' || name WHERE id IN ({marks})",
            self.ids,
        )


class IrModelAccess(BaseModel):
    @api_model
    def check(self, model: str, mode: str = "read", raise_exception: bool = True) -> bool:
        if mode not in ("read", "write", "create", "unlink"):
            raise ValueError("Invalid access mode")
        if model not in self.env.registry:
            raise ValueError(f"Invalid model {model!r}")
        if raise_exception:
            self.env.check_access(self.env.registry[model], mode)
            return True
        return self.env.has_access(model, mode)


class NameSearchArgs(BaseModel):
    """Up to 17, name_search called its domain `args` (odoo/models.py)."""

    @api_model
    @readonly
    def name_search(
        self, name: str = "", args: Any = None, operator: str = "ilike", limit: int = 100
    ) -> list[tuple[int, str]]:
        return self._name_search_impl(name, args, operator, limit)


SPECIFIC: dict[str, type[BaseModel]] = {
    "res.partner": ResPartner,
    "account.incoterms": AccountIncoterms,
    "res.users": ResUsers,
    "res.currency": ResCurrency,
    "product.category": ProductCategory,
    "product.template": ProductTemplate,
    "product.product": ProductProduct,
    "sale.order": SaleOrder,
    "sale.order.line": SaleOrderLine,
    "stock.picking": StockPicking,
    **stock.STOCK_MODELS,
    "account.move": AccountMove,
    "account.move.line": AccountMoveLine,
    "ir.model.data": IrModelData,
    "ir.model.access": IrModelAccess,
    "mail.activity": MailActivity,
    "ir.attachment": IrAttachment,
}


def build_classes(
    registry: Mapping[str, Model],
    major: int,
    specific: Mapping[str, type[BaseModel]] | None = None,
) -> dict[str, type[BaseModel]]:
    """One Python class per model for one major, so that introspection matches that major.
    `specific` gives classes defined elsewhere, which win over this module's."""
    classes: dict[str, type[BaseModel]] = {}
    for name, spec in registry.items():
        base = (
            (specific or {}).get(name)
            or SPECIFIC.get(name)
            or (MailThread if spec.mail_thread else BaseModel)
        )
        bases: tuple[type[BaseModel], ...] = (base,)
        if major <= 17:
            bases = (NameSearchArgs, base)
        classes[name] = type(base.__name__, bases, {"__module__": __name__})
    return classes
