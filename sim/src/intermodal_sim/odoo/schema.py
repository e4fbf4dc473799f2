"""The models the hub touches, with Odoo's field names, types and selection values.

Field lists come from odoo/odoo (17.0, 18.0, master/19): odoo/addons/base/models/res_partner.py,
res_users.py, res_company.py, res_currency.py; addons/product, sale, stock, stock_delivery,
delivery, account, mail, base_automation. Only what an integration reads or writes is here;
`since`/`until` mark the fields that differ between the supported majors.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import available_timezones

MAJORS = (17, 18, 19)

# Values a default can take that depend on the call, resolved by the ORM at create time.
NOW = "__now__"
TODAY = "__today__"
UID = "__uid__"
COMPANY = "__company__"
CURRENCY = "__currency__"

NUMERIC = ("integer", "float", "monetary")
RELATIONAL = ("many2one", "one2many", "many2many")


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    string: str
    relation: str | None = None
    inverse_name: str | None = None
    relation_table: str | None = None
    column1: str | None = None
    column2: str | None = None
    selection: tuple[tuple[str, str], ...] = ()
    required: bool = False
    readonly: bool = False
    default: Any = None
    store: bool = True
    related: str | None = None
    ondelete: str = "set null"
    copy: bool = True
    help: str = ""
    since: int = 0
    until: int = 99
    # fields.Image (odoo/fields.py): a binary that must decode as an image when written.
    image: bool = False

    @property
    def column(self) -> bool:
        """Whether the field is a column of the model's own table."""
        return self.store and self.related is None and self.type not in ("one2many", "many2many")


@dataclass
class Model:
    name: str
    description: str
    fields: dict[str, Field] = field(default_factory=dict)
    rec_name: str = "name"
    order: str = "id"
    parent_name: str | None = None
    inherits: dict[str, str] = field(default_factory=dict)
    mail_thread: bool = False
    transient: bool = False
    module: str = "base"
    rec_names_search: tuple[str, ...] = ()
    """`_rec_names_search`: the fields a `display_name` condition (and so name_search) tries,
    or-ed (odoo/models.py `_search_display_name`); empty means `rec_name` alone."""
    constraints: tuple[SqlConstraint, ...] = ()

    @property
    def table(self) -> str:
        return self.name.replace(".", "_")


@dataclass(frozen=True)
class SqlConstraint:
    """`_sql_constraints` (<= 18) / `models.Constraint` (19): a table constraint named
    `<table>_<name>` whose violation `retrying` turns into "The operation cannot be
    completed: <message>" (odoo/service/model.py)."""

    name: str
    definition: str
    message: str


def _sel(*pairs: str) -> tuple[tuple[str, str], ...]:
    """Selections written as 'value:Label' so the tables below stay readable."""
    out = []
    for pair in pairs:
        value, _, label = pair.partition(":")
        out.append((value, label or value.replace("_", " ").title()))
    return tuple(out)


def char(string: str, **kw: Any) -> dict[str, Any]:
    return {"type": "char", "string": string, **kw}


def text(string: str, **kw: Any) -> dict[str, Any]:
    return {"type": "text", "string": string, **kw}


def html(string: str, **kw: Any) -> dict[str, Any]:
    return {"type": "html", "string": string, **kw}


def integer(string: str, **kw: Any) -> dict[str, Any]:
    return {"type": "integer", "string": string, **kw}


def float_(string: str, **kw: Any) -> dict[str, Any]:
    return {"type": "float", "string": string, **kw}


def monetary(string: str, **kw: Any) -> dict[str, Any]:
    return {"type": "monetary", "string": string, **kw}


def boolean(string: str, **kw: Any) -> dict[str, Any]:
    return {"type": "boolean", "string": string, **kw}


def date(string: str, **kw: Any) -> dict[str, Any]:
    return {"type": "date", "string": string, **kw}


def datetime_(string: str, **kw: Any) -> dict[str, Any]:
    return {"type": "datetime", "string": string, **kw}


def selection(string: str, values: tuple[tuple[str, str], ...], **kw: Any) -> dict[str, Any]:
    return {"type": "selection", "string": string, "selection": values, **kw}


def binary(string: str, **kw: Any) -> dict[str, Any]:
    return {"type": "binary", "string": string, **kw}


def reference(string: str, models: tuple[tuple[str, str], ...], **kw: Any) -> dict[str, Any]:
    """fields.Reference: 'model,id' in a text column, the models allowed given as a selection."""
    return {"type": "reference", "string": string, "selection": models, **kw}


def m2o(relation: str, string: str, **kw: Any) -> dict[str, Any]:
    if kw.get("required") and "ondelete" not in kw:
        # odoo/fields.py Many2one._setup_attrs: a required 'set null' becomes 'restrict'.
        kw["ondelete"] = "restrict"
    return {"type": "many2one", "string": string, "relation": relation, **kw}


def o2m(relation: str, inverse: str, string: str, **kw: Any) -> dict[str, Any]:
    return {
        "type": "one2many",
        "string": string,
        "relation": relation,
        "inverse_name": inverse,
        "copy": False,
        **kw,
    }


def m2m(relation: str, table: str, col1: str, col2: str, string: str, **kw: Any) -> dict[str, Any]:
    return {
        "type": "many2many",
        "string": string,
        "relation": relation,
        "relation_table": table,
        "column1": col1,
        "column2": col2,
        **kw,
    }


def m2oref(string: str, model_field: str, **kw: Any) -> dict[str, Any]:
    return {"type": "many2one_reference", "string": string, "inverse_name": model_field, **kw}


PARTNER_TYPES = _sel(
    "contact:Contact", "invoice:Invoice Address", "delivery:Delivery Address", "other:Other Address"
)
SALE_STATES = _sel("draft:Quotation", "sent:Quotation Sent", "sale:Sales Order", "cancel:Cancelled")
INVOICE_STATUS = _sel(
    "upselling:Upselling Opportunity",
    "invoiced:Fully Invoiced",
    "to invoice:To Invoice",
    "no:Nothing to Invoice",
)
PICKING_STATES = _sel(
    "draft:Draft",
    "waiting:Waiting Another Operation",
    "confirmed:Waiting",
    "assigned:Ready",
    "done:Done",
    "cancel:Cancelled",
)
MOVE_STATES = _sel(
    "draft:New",
    "waiting:Waiting Another Move",
    "confirmed:Waiting Availability",
    "partially_available:Partially Available",
    "assigned:Available",
    "done:Done",
    "cancel:Cancelled",
)
MOVE_TYPES = _sel(
    "entry:Journal Entry",
    "out_invoice:Customer Invoice",
    "out_refund:Customer Credit Note",
    "in_invoice:Vendor Bill",
    "in_refund:Vendor Credit Note",
    "out_receipt:Sales Receipt",
    "in_receipt:Purchase Receipt",
)
PAYMENT_STATES = _sel(
    "not_paid:Not Paid",
    "in_payment:In Payment",
    "paid:Paid",
    "partial:Partially Paid",
    "reversed:Reversed",
    "invoicing_legacy:Invoicing App Legacy",
)
PAYMENT_STATES_18 = (*PAYMENT_STATES, ("blocked", "Blocked"))
TRIGGERS = _sel(
    "on_create:On Creation",
    "on_write:On Update",
    "on_create_or_write:On Save",
    "on_unlink:On Deletion",
    "on_webhook:On Webhook",
)
SERVER_ACTION_STATES = _sel(
    "object_write:Update Record",
    "object_create:Create Record",
    "code:Execute Code",
    "webhook:Send Webhook Notification",
    "multi:Multi Actions",
)
LANGS = _sel("en_US:English (US)")
# res.partner _tzs (odoo/addons/base/models/res_partner.py): every IANA zone, Etc/ ones last.
TZS = tuple(
    (tz, tz)
    for tz in sorted(available_timezones(), key=lambda tz: tz if not tz.startswith("Etc/") else "_")
)


def _model(name: str, description: str, fields: dict[str, dict[str, Any]], **kw: Any) -> Model:
    return Model(
        name=name,
        description=description,
        fields={fname: Field(name=fname, **spec) for fname, spec in fields.items()},
        **kw,
    )


def _definitions() -> list[Model]:
    return [
        _model(
            "res.company",
            "Companies",
            {
                "name": char("Company Name", required=True),
                "partner_id": m2o("res.partner", "Partner", required=True),
                "currency_id": m2o("res.currency", "Currency", required=True, default=CURRENCY),
                "country_id": m2o("res.country", "Country"),
                "email": char("Email"),
                "phone": char("Phone"),
                "vat": char("Tax ID"),
                "active": boolean("Active", default=True),
                "logo": binary("Company Logo", related="partner_id.image_1920", store=False),
                "logo_web": binary("Logo Web", store=False, readonly=True),
            },
            order="name",
        ),
        _model(
            "res.country",
            "Country",
            {
                "name": char("Country Name", required=True),
                "code": char("Country Code", required=True),
                "currency_id": m2o("res.currency", "Currency"),
                "state_ids": o2m("res.country.state", "country_id", "States"),
            },
            order="name",
        ),
        _model(
            "res.country.state",
            "Country state",
            {
                "name": char("State Name", required=True),
                "code": char("State Code", required=True),
                "country_id": m2o("res.country", "Country", required=True),
            },
            order="code",
        ),
        _model(
            "res.partner",
            "Contact",
            {
                "name": char("Name"),
                "complete_name": char("Complete Name", readonly=True),
                "is_company": boolean("Is a Company", default=False),
                "parent_id": m2o("res.partner", "Related Company"),
                "child_ids": o2m("res.partner", "parent_id", "Contact"),
                "type": selection("Address Type", PARTNER_TYPES, default="contact"),
                "ref": char("Reference"),
                "vat": char("Tax ID"),
                "company_registry": char("Company ID"),
                "email": char("Email"),
                "phone": char("Phone"),
                "mobile": char("Mobile", until=18),
                "website": char("Website Link"),
                "function": char("Job Position"),
                "street": char("Street"),
                "street2": char("Street2"),
                "zip": char("Zip"),
                "city": char("City"),
                "state_id": m2o("res.country.state", "State", ondelete="restrict"),
                "country_id": m2o("res.country", "Country", ondelete="restrict"),
                "company_id": m2o("res.company", "Company"),
                "lang": selection("Language", LANGS, default="en_US"),
                "tz": selection("Timezone", TZS),
                "comment": html("Notes"),
                "active": boolean("Active", default=True),
                "customer_rank": integer("Customer Rank", default=0),
                "supplier_rank": integer("Supplier Rank", default=0),
                "user_ids": o2m("res.users", "partner_id", "Users"),
                "image_1920": binary("Image", image=True),
                "credit_limit": float_("Credit Limit", default=0.0),
                "date": date("Date", until=17),
            },
            order="complete_name, id desc",
            parent_name="parent_id",
            mail_thread=True,
            rec_names_search=("complete_name", "email", "ref", "vat", "company_registry"),
            constraints=(
                SqlConstraint(
                    "check_name",
                    "CHECK((type = 'contact' AND name IS NOT NULL) OR type != 'contact')",
                    "Contacts require a name",
                ),
            ),
        ),
        _model(
            "res.groups",
            "Access Groups",
            {
                "name": char("Name", required=True),
                "full_name": char("Group Name", readonly=True),
            },
            order="name",
        ),
        _model(
            "res.users",
            "User",
            {
                "login": char("Login", required=True),
                "name": char("Name"),
                "partner_id": m2o("res.partner", "Related Partner", required=True),
                "company_id": m2o("res.company", "Company", required=True, default=COMPANY),
                "company_ids": m2m(
                    "res.company", "res_company_users_rel", "user_id", "cid", "Companies"
                ),
                "email": char("Email"),
                "active": boolean("Active", default=True),
                "share": boolean("Share User", readonly=True, default=False),
                "lang": selection("Language", LANGS, default="en_US"),
                "tz": selection("Timezone", TZS),
                # res_users.py: the home action, the login records and the date they give.
                "action_id": m2o("ir.actions.actions", "Home Action"),
                "log_ids": o2m("res.users.log", "create_uid", "User log entries"),
                "login_date": datetime_("Latest Login", store=False, readonly=True),
                # addons/auth_signup/models/res_users.py: 'active' once the user has logged in.
                "state": selection(
                    "Status", _sel("new:Never Connected", "active:Confirmed"), store=False
                ),
                "groups_id": m2m(
                    "res.groups", "res_groups_users_rel", "uid", "gid", "Groups", until=18
                ),
                "group_ids": m2m(
                    "res.groups", "res_groups_users_rel", "uid", "gid", "Groups", since=19
                ),
            },
            order="name, login",
            # res_users.py: _inherits = {'res.partner': 'partner_id'}
            inherits={"res.partner": "partner_id"},
            constraints=(
                SqlConstraint(
                    "login_key", "UNIQUE (login)", "You can not have two users with the same login!"
                ),
            ),
        ),
        _model(
            "res.currency",
            "Currency",
            {
                "name": char("Currency", required=True, help="Currency Code (ISO 4217)"),
                "full_name": char("Name"),
                "symbol": char("Symbol", required=True),
                "rate": float_("Current Rate", store=False, readonly=True),
                "rate_ids": o2m("res.currency.rate", "currency_id", "Rates"),
                "rounding": float_("Rounding Factor", default=0.01),
                "decimal_places": integer("Decimal Places", default=2),
                "position": selection(
                    "Symbol Position",
                    _sel("after:After Amount", "before:Before Amount"),
                    default="after",
                ),
                "active": boolean("Active", default=True),
            },
            order="active desc, name",
        ),
        _model(
            "res.currency.rate",
            "Currency Rate",
            {
                "name": date("Date", required=True, default=TODAY),
                "rate": float_("Technical Rate", default=1.0),
                "currency_id": m2o("res.currency", "Currency", required=True, ondelete="cascade"),
                "company_id": m2o("res.company", "Company", default=COMPANY),
            },
            order="name desc",
        ),
        _model("uom.uom", "Product Unit of Measure", {"name": char("Unit", required=True)}),
        _model(
            "product.category",
            "Product Category",
            {
                "name": char("Name", required=True),
                "complete_name": char("Complete Name", readonly=True),
                "parent_id": m2o("product.category", "Parent Category", ondelete="cascade"),
                "child_id": o2m("product.category", "parent_id", "Child Categories"),
            },
            rec_name="complete_name",
            order="complete_name",
            parent_name="parent_id",
            module="product",
        ),
        _model(
            "product.template",
            "Product",
            {
                "name": char("Name", required=True),
                "default_code": char("Internal Reference"),
                "barcode": char("Barcode"),
                "type": selection(
                    "Product Type",
                    _sel("consu:Goods", "service:Service", "product:Storable Product"),
                    default="consu",
                    until=17,
                ),
                "type_18": selection(
                    "Product Type",
                    _sel("consu:Goods", "service:Service", "combo:Combo"),
                    default="consu",
                    since=18,
                ),
                # addons/stock/models/product.py (18+): stock is kept only for goods whose
                # inventory is tracked; `compute_is_storable` clears it on anything else.
                "is_storable": boolean("Track Inventory", default=False, since=18),
                "categ_id": m2o("product.category", "Product Category"),
                "list_price": float_("Sales Price", default=1.0),
                "standard_price": float_("Cost", default=0.0),
                "uom_id": m2o("uom.uom", "Unit"),
                "weight": float_("Weight"),
                "sale_ok": boolean("Sales", default=True),
                "purchase_ok": boolean("Purchase", default=True),
                "active": boolean("Active", default=True),
                "company_id": m2o("res.company", "Company"),
                "product_variant_ids": o2m("product.product", "product_tmpl_id", "Products"),
            },
            order="name",
            module="product",
            mail_thread=True,
        ),
        _model(
            "product.product",
            "Product Variant",
            {
                "product_tmpl_id": m2o(
                    "product.template", "Product Template", required=True, ondelete="cascade"
                ),
                "default_code": char("Internal Reference"),
                "barcode": char("Barcode"),
                "active": boolean("Active", default=True),
            },
            order="default_code, name, id",
            inherits={"product.template": "product_tmpl_id"},
            module="product",
            mail_thread=True,
        ),
        _model(
            "account.incoterms",
            "Incoterms",
            {
                "name": char("Name", required=True),
                "code": char("Code", required=True),
                "active": boolean("Active", default=True),
            },
            order="code",
            module="account",
        ),
        _model(
            "delivery.carrier",
            "Shipping Methods",
            {
                "name": char("Delivery Method", required=True),
                "active": boolean("Active", default=True),
                "sequence": integer("Sequence", default=10),
                "delivery_type": selection(
                    "Provider",
                    _sel("fixed:Fixed Price", "base_on_rule:Based on Rules"),
                    default="fixed",
                    required=True,
                ),
                "integration_level": selection(
                    "Integration Level",
                    _sel("rate:Get Rate", "rate_and_ship:Get Rate and Create Shipment"),
                    default="rate_and_ship",
                ),
                "invoice_policy": selection(
                    "Invoicing Policy",
                    _sel("estimated:Estimated cost", "real:Real cost"),
                    default="estimated",
                    required=True,
                ),
                "product_id": m2o("product.product", "Delivery Product", required=True),
                "fixed_price": float_("Fixed Price"),
                "margin": float_("Margin"),
                "free_over": boolean("Free if order amount is above", default=False),
                "amount": float_("Amount"),
                "company_id": m2o("res.company", "Company"),
            },
            order="sequence, id",
            module="delivery",
        ),
        _model(
            "sale.order",
            "Sales Order",
            {
                "name": char("Order Reference", required=True, copy=False),
                "partner_id": m2o("res.partner", "Customer", required=True),
                "partner_invoice_id": m2o("res.partner", "Invoice Address"),
                "partner_shipping_id": m2o("res.partner", "Delivery Address"),
                "date_order": datetime_("Order Date", required=True, default=NOW),
                "commitment_date": datetime_("Delivery Date"),
                "validity_date": date("Expiration"),
                "client_order_ref": char("Customer Reference", copy=False),
                "origin": char("Source Document"),
                "state": selection("Status", SALE_STATES, default="draft", readonly=True),
                "locked": boolean("Locked", default=False),
                "order_line": o2m("sale.order.line", "order_id", "Order Lines", copy=True),
                "invoice_status": selection("Invoice Status", INVOICE_STATUS, default="no"),
                "invoice_ids": m2m(
                    "account.move", "sale_order_invoice_rel", "order_id", "move_id", "Invoices"
                ),
                "picking_ids": o2m("stock.picking", "sale_id", "Transfers"),
                "amount_untaxed": monetary("Untaxed Amount", readonly=True),
                "amount_tax": monetary("Taxes", readonly=True),
                "amount_total": monetary("Total", readonly=True),
                "currency_id": m2o("res.currency", "Currency", default=CURRENCY),
                "company_id": m2o("res.company", "Company", required=True, default=COMPANY),
                "user_id": m2o("res.users", "Salesperson", default=UID),
                "carrier_id": m2o("delivery.carrier", "Delivery Method"),
                "incoterm": m2o("account.incoterms", "Incoterm"),
                "note": html("Terms and conditions"),
            },
            order="date_order desc, id desc",
            mail_thread=True,
            module="sale",
        ),
        _model(
            "sale.order.line",
            "Sales Order Line",
            {
                "order_id": m2o("sale.order", "Order Reference", required=True, ondelete="cascade"),
                "sequence": integer("Sequence", default=10),
                "product_id": m2o("product.product", "Product", ondelete="restrict"),
                "name": text("Description", required=True),
                "product_uom_qty": float_("Quantity", default=1.0),
                # addons/sale/models/sale_order_line.py: 19 renamed product_uom and tax_id.
                "product_uom": m2o("uom.uom", "Unit", ondelete="restrict", until=18),
                "product_uom_id": m2o("uom.uom", "Unit", ondelete="restrict", since=19),
                "tax_id": m2m(
                    "account.tax",
                    "account_tax_sale_order_line_rel",
                    "sale_order_line_id",
                    "account_tax_id",
                    "Taxes",
                    until=18,
                ),
                "tax_ids": m2m(
                    "account.tax",
                    "account_tax_sale_order_line_rel",
                    "sale_order_line_id",
                    "account_tax_id",
                    "Taxes",
                    since=19,
                ),
                "price_unit": float_("Unit Price", default=0.0),
                "discount": float_("Discount (%)", default=0.0),
                "price_subtotal": monetary("Subtotal", readonly=True),
                "price_total": monetary("Total", readonly=True),
                "qty_delivered": float_("Delivery Quantity", default=0.0, copy=False),
                "qty_invoiced": float_("Invoiced Quantity", readonly=True, default=0.0),
                "state": selection("Order Status", SALE_STATES, related="order_id.state"),
                "currency_id": m2o("res.currency", "Currency", related="order_id.currency_id"),
                "company_id": m2o("res.company", "Company", related="order_id.company_id"),
            },
            order="order_id, sequence, id",
            module="sale",
        ),
        _model(
            "stock.picking.type",
            "Picking Type",
            {
                "name": char("Operation Type", required=True),
                "code": selection(
                    "Type of Operation",
                    _sel("incoming:Receipt", "outgoing:Delivery", "internal:Internal Transfer"),
                    required=True,
                ),
                "sequence_code": char("Sequence Prefix", required=True),
                "create_backorder": selection(
                    "Create Backorder",
                    _sel("ask:Ask", "always:Always", "never:Never"),
                    required=True,
                    default="ask",
                ),
                "active": boolean("Active", default=True),
                "company_id": m2o("res.company", "Company", default=COMPANY),
            },
            order="id",
            module="stock",
        ),
        _model(
            "stock.picking",
            "Transfer",
            {
                "name": char("Reference", copy=False),
                "origin": char("Source Document"),
                "note": html("Notes"),
                "state": selection("Status", PICKING_STATES, default="draft", readonly=True),
                "priority": selection("Priority", _sel("0:Normal", "1:Urgent"), default="0"),
                "scheduled_date": datetime_("Scheduled Date", default=NOW),
                "date_deadline": datetime_("Deadline"),
                "date_done": datetime_("Date of Transfer", copy=False, readonly=True),
                "picking_type_id": m2o("stock.picking.type", "Operation Type", required=True),
                "picking_type_code": selection(
                    "Type of Operation",
                    _sel("incoming:Receipt", "outgoing:Delivery", "internal:Internal Transfer"),
                    related="picking_type_id.code",
                ),
                "partner_id": m2o("res.partner", "Contact"),
                "company_id": m2o("res.company", "Company", default=COMPANY),
                "move_ids": o2m("stock.move", "picking_id", "Stock Moves"),
                "move_line_ids": o2m("stock.move.line", "picking_id", "Operations"),
                "backorder_id": m2o("stock.picking", "Back Order of", copy=False),
                "backorder_ids": o2m("stock.picking", "backorder_id", "Back Orders"),
                "sale_id": m2o("sale.order", "Sales Order"),
                "carrier_id": m2o("delivery.carrier", "Carrier"),
                "carrier_tracking_ref": char("Tracking Reference", copy=False),
                "carrier_tracking_url": char("Tracking URL", readonly=True),
                "carrier_price": float_("Shipping Cost"),
                "weight": float_("Weight"),
            },
            order="priority desc, scheduled_date asc, id desc",
            mail_thread=True,
            module="stock",
        ),
        _model(
            "stock.move",
            "Stock Move",
            {
                "name": char("Description", until=18),
                "reference": char("Reference", readonly=True),
                "description_picking": text("Description of Picking"),
                "sequence": integer("Sequence", default=10),
                "product_id": m2o("product.product", "Product", required=True),
                "product_uom_qty": float_("Demand", required=True, default=1.0),
                "quantity": float_("Quantity", default=0.0),
                "picked": boolean("Picked", default=False, copy=False),
                "move_line_ids": o2m("stock.move.line", "move_id", "Move Lines"),
                "product_uom": m2o("uom.uom", "Unit"),
                "picking_id": m2o("stock.picking", "Transfer"),
                "picking_type_id": m2o("stock.picking.type", "Operation Type"),
                "state": selection("Status", MOVE_STATES, default="draft", readonly=True),
                "date": datetime_("Date Scheduled", required=True, default=NOW),
                "date_deadline": datetime_("Deadline"),
                "origin": char("Source Document"),
                "partner_id": m2o("res.partner", "Destination Address"),
                "sale_line_id": m2o("sale.order.line", "Sale Line"),
                "company_id": m2o("res.company", "Company", required=True, default=COMPANY),
            },
            order="sequence, id",
            rec_name="reference",
            module="stock",
        ),
        _model(
            "stock.move.line",
            "Product Moves (Stock Move Line)",
            {
                "picking_id": m2o("stock.picking", "Transfer"),
                "move_id": m2o("stock.move", "Stock Operation"),
                "product_id": m2o("product.product", "Product", ondelete="cascade"),
                "quantity": float_("Quantity", default=0.0),
                "picked": boolean("Picked", default=False),
                "state": selection("Status", MOVE_STATES, related="move_id.state"),
                "reference": char("Reference", related="move_id.reference"),
                "date": datetime_("Date", required=True, default=NOW),
                "company_id": m2o("res.company", "Company", required=True, default=COMPANY),
            },
            order="id",
            rec_name="reference",
            module="stock",
        ),
        _model(
            "stock.backorder.confirmation",
            "Backorder Confirmation",
            {
                "pick_ids": m2m(
                    "stock.picking",
                    "stock_picking_backorder_rel",
                    "stock_backorder_confirmation_id",
                    "stock_picking_id",
                    "Pick",
                ),
                "show_transfers": boolean("Show Transfers"),
                "backorder_confirmation_line_ids": o2m(
                    "stock.backorder.confirmation.line",
                    "backorder_confirmation_id",
                    "Backorder Confirmation Lines",
                ),
            },
            transient=True,
            module="stock",
        ),
        _model(
            "stock.backorder.confirmation.line",
            "Backorder Confirmation Line",
            {
                "backorder_confirmation_id": m2o(
                    "stock.backorder.confirmation", "Immediate Transfer", ondelete="cascade"
                ),
                "picking_id": m2o("stock.picking", "Transfer"),
                "to_backorder": boolean("To Backorder"),
            },
            transient=True,
            module="stock",
        ),
        _model(
            "account.move",
            "Journal Entry",
            {
                "name": char("Number", default="/", copy=False),
                "move_type": selection("Type", MOVE_TYPES, required=True, default="entry"),
                "state": selection(
                    "Status",
                    _sel("draft:Draft", "posted:Posted", "cancel:Cancelled"),
                    required=True,
                    default="draft",
                    readonly=True,
                ),
                "payment_state": selection(
                    "Payment Status", PAYMENT_STATES, default="not_paid", until=17
                ),
                "payment_state_18": selection(
                    "Payment Status", PAYMENT_STATES_18, default="not_paid", since=18
                ),
                "partner_id": m2o("res.partner", "Partner", ondelete="restrict"),
                "date": date("Date", required=True, default=TODAY),
                "invoice_date": date("Invoice/Bill Date"),
                "invoice_date_due": date("Due Date"),
                "ref": char("Reference", copy=False),
                "invoice_origin": char("Origin"),
                "currency_id": m2o("res.currency", "Currency", required=True, default=CURRENCY),
                "company_id": m2o("res.company", "Company", required=True, default=COMPANY),
                "line_ids": o2m("account.move.line", "move_id", "Journal Items"),
                "invoice_line_ids": o2m("account.move.line", "move_id", "Invoice lines"),
                "invoice_incoterm_id": m2o("account.incoterms", "Incoterm"),
                "amount_untaxed": monetary("Untaxed Amount", readonly=True),
                "amount_tax": monetary("Tax", readonly=True),
                "amount_total": monetary("Total", readonly=True),
                "amount_residual": monetary("Amount Due", readonly=True),
            },
            order="date desc, name desc, id desc",
            mail_thread=True,
            module="account",
        ),
        _model(
            "account.move.line",
            "Journal Item",
            {
                "move_id": m2o("account.move", "Journal Entry", required=True, ondelete="cascade"),
                "name": char("Label"),
                "sequence": integer("Sequence", default=10),
                "product_id": m2o("product.product", "Product", ondelete="restrict"),
                "quantity": float_("Quantity", default=1.0),
                "price_unit": float_("Unit Price", default=0.0),
                "discount": float_("Discount (%)", default=0.0),
                "price_subtotal": monetary("Subtotal", readonly=True),
                "price_total": monetary("Total", readonly=True),
                "display_type": selection(
                    "Display Type",
                    _sel("product:Product", "line_section:Section", "line_note:Note"),
                    default="product",
                ),
                "partner_id": m2o("res.partner", "Partner", related="move_id.partner_id"),
                "currency_id": m2o("res.currency", "Currency", related="move_id.currency_id"),
                "parent_state": selection(
                    "Status",
                    _sel("draft:Draft", "posted:Posted", "cancel:Cancelled"),
                    related="move_id.state",
                ),
            },
            order="move_id, sequence, id",
            module="account",
        ),
        _model(
            "mail.activity.type",
            "Activity Type",
            {"name": char("Name", required=True), "summary": char("Default Summary")},
            module="mail",
        ),
        _model(
            "mail.activity",
            "Activity",
            {
                "res_model_id": m2o(
                    "ir.model", "Document Model", required=True, ondelete="cascade"
                ),
                "res_model": char("Related Document Model", readonly=True),
                "res_id": m2oref("Related Document ID", "res_model", required=True),
                "res_name": char("Document Name", readonly=True),
                "activity_type_id": m2o("mail.activity.type", "Activity Type"),
                "summary": char("Summary"),
                "note": html("Note"),
                "date_deadline": date("Due Date", required=True, default=TODAY),
                "user_id": m2o("res.users", "Assigned to", default=UID),
            },
            order="date_deadline ASC, id ASC",
            rec_name="summary",
            module="mail",
        ),
        _model(
            "mail.message.subtype",
            "Message subtypes",
            {"name": char("Message Type", required=True), "internal": boolean("Internal Only")},
            module="mail",
        ),
        _model(
            "mail.message",
            "Message",
            {
                "subject": char("Subject"),
                "body": html("Contents", default=""),
                "model": char("Related Document Model"),
                "res_id": m2oref("Related Document ID", "model"),
                "record_name": char("Message Record Name", readonly=True),
                "message_type": selection(
                    "Type",
                    _sel(
                        "email:Incoming Email",
                        "comment:Comment",
                        "email_outgoing:Outgoing Email",
                        "notification:System notification",
                        "auto_comment:Automated Targeted Notification",
                        "user_notification:User Specific Notification",
                    ),
                    required=True,
                    default="comment",
                ),
                "subtype_id": m2o("mail.message.subtype", "Subtype", ondelete="set null"),
                "author_id": m2o("res.partner", "Author"),
                "date": datetime_("Date", default=NOW),
            },
            order="id desc",
            rec_name="record_name",
            module="mail",
        ),
        _model(
            "ir.model",
            "Models",
            {
                "name": char("Model Description", required=True),
                "model": char("Model", required=True),
                "info": text("Information"),
                "field_id": o2m("ir.model.fields", "model_id", "Fields"),
                "state": selection(
                    "Type", _sel("manual:Custom Object", "base:Base Object"), default="base"
                ),
                "transient": boolean("Transient Model"),
                "abstract": boolean("Abstract Model", since=19),
                "modules": char("In Apps", readonly=True),
            },
            order="model",
        ),
        _model(
            "ir.model.fields",
            "Fields",
            {
                "name": char("Field Name", required=True),
                "model": char("Model Name", required=True),
                "model_id": m2o("ir.model", "Model", required=True, ondelete="cascade"),
                "field_description": char("Field Label", required=True),
                "ttype": char("Field Type", required=True),
                "relation": char("Related Model"),
                "relation_field": char("Relation Field"),
                "required": boolean("Required"),
                "readonly": boolean("Readonly"),
                "store": boolean("Stored", default=True),
                "selection": char("Selection Options (Deprecated)"),
            },
            order="name",
        ),
        _model(
            "ir.model.data",
            "Model Data",
            {
                "name": char("External Identifier", required=True),
                "complete_name": char("Complete ID", readonly=True),
                "model": char("Model Name", required=True),
                "module": char("Module", required=True, default=""),
                "res_id": m2oref("Record ID", "model"),
                "noupdate": boolean("Non Updatable", default=False),
            },
            order="module, model, name",
        ),
        _model(
            "ir.model.access",
            "Model Access",
            {
                "name": char("Name", required=True),
                "active": boolean("Active", default=True),
                "model_id": m2o("ir.model", "Model", required=True, ondelete="cascade"),
                "group_id": m2o("res.groups", "Group", ondelete="restrict"),
                "perm_read": boolean("Read Access"),
                "perm_write": boolean("Write Access"),
                "perm_create": boolean("Create Access"),
                "perm_unlink": boolean("Delete Access"),
            },
            order="model_id, group_id, name, id",
        ),
        _model(
            "ir.actions.server",
            "Server Actions",
            {
                "name": char("Action Name", required=True),
                "model_id": m2o("ir.model", "Model", required=True, ondelete="cascade"),
                "state": selection(
                    "Type", SERVER_ACTION_STATES, required=True, default="object_write"
                ),
                "webhook_url": char("Webhook URL"),
                "webhook_field_ids": m2m(
                    "ir.model.fields",
                    "ir_act_server_webhook_field_rel",
                    "server_id",
                    "field_id",
                    "Webhook Fields",
                ),
                "base_automation_id": m2o("base.automation", "Automation Rule", ondelete="cascade"),
            },
            order="name",
        ),
        _model(
            "base.automation",
            "Automation Rule",
            {
                "name": char("Automation Rule Name", required=True),
                "model_id": m2o("ir.model", "Model", required=True, ondelete="cascade"),
                "model_name": char("Model Name", related="model_id.model"),
                "active": boolean("Active", default=True),
                "trigger": selection("Trigger", TRIGGERS, required=True),
                "trigger_field_ids": m2m(
                    "ir.model.fields",
                    "base_automation_trigger_field_rel",
                    "automation_id",
                    "field_id",
                    "Trigger Fields",
                ),
                "filter_domain": char("Apply on"),
                "action_server_ids": o2m("ir.actions.server", "base_automation_id", "Actions"),
            },
            module="base_automation",
        ),
    ]


# -- accounting, chatter and documents -------------------------------------------------------
# What invoices with products (accounts, taxes, fiscal positions), the chatter (followers,
# notifications, activities marked done) and documents (ir.attachment) need. Fields that
# extend a model defined above are listed apart, per model, as Odoo's `_inherit` adds them.
# Sources: addons/account/models/{account_account,account_journal,account_tax,partner,
# account_move,account_move_line,product}.py, addons/mail/models/{mail_followers,
# mail_notification,mail_activity,mail_activity_type,mail_message,mail_message_subtype}.py,
# odoo/addons/base/models/ir_attachment.py (19.0; `since`/`until` mark what 19 changed).

ACCOUNT_TYPES = _sel(
    "asset_receivable:Receivable",
    "asset_current:Current Assets",
    "liability_payable:Payable",
    "liability_current:Current Liabilities",
    "income:Income",
    "income_other:Other Income",
    "expense:Expenses",
)
JOURNAL_TYPES = _sel(
    "sale:Sales", "purchase:Purchase", "cash:Cash", "bank:Bank", "general:Miscellaneous"
)


def _accounting_and_documents(
    major: int,
) -> tuple[list[Model], dict[str, dict[str, dict[str, Any]]]]:
    account = {"ondelete": "restrict"}
    models = [
        _model(
            "account.account",
            "Account",
            {
                "name": char("Account Name", required=True),
                "code": char("Code"),
                "account_type": selection("Type", ACCOUNT_TYPES, required=True),
                "reconcile": boolean("Allow Reconciliation", default=False),
                "active": boolean("Active", default=True),
            },
            order="code",
            module="account",
        ),
        _model(
            "account.journal",
            "Journal",
            {
                "name": char("Journal Name", required=True),
                "code": char("Short Code", required=True),
                "type": selection("Type", JOURNAL_TYPES, required=True),
                "default_account_id": m2o("account.account", "Default Account", **account),
                "company_id": m2o("res.company", "Company", required=True, default=COMPANY),
                "active": boolean("Active", default=True),
            },
            order="type, code",
            module="account",
        ),
        _model(
            "account.tax",
            "Tax",
            {
                "name": char("Tax Name", required=True),
                "type_tax_use": selection(
                    "Tax Type",
                    _sel("sale:Sales", "purchase:Purchases", "none:None"),
                    required=True,
                    default="sale",
                ),
                "amount_type": selection(
                    "Tax Computation",
                    _sel(
                        "group:Group of Taxes",
                        "fixed:Fixed",
                        "percent:Percentage of Price",
                        "division:Percentage of Price Tax Included",
                    ),
                    required=True,
                    default="percent",
                ),
                "amount": float_("Amount", required=True, default=0.0),
                "sequence": integer("Sequence", default=1),
                "active": boolean("Active", default=True),
                "company_id": m2o("res.company", "Company", required=True, default=COMPANY),
                "original_tax_ids": m2m(
                    "account.tax",
                    "account_tax_alternatives",
                    "dest_tax_id",
                    "src_tax_id",
                    "Replaces",
                    since=19,
                ),
                "fiscal_position_ids": m2m(
                    "account.fiscal.position",
                    "account_fiscal_position_account_tax_rel",
                    "account_tax_id",
                    "account_fiscal_position_id",
                    "Fiscal Positions",
                    since=19,
                ),
            },
            order="sequence,id",
            module="account",
        ),
        _model(
            "account.fiscal.position",
            "Fiscal Position",
            {
                "name": char("Fiscal Position", required=True),
                "sequence": integer("Sequence"),
                "active": boolean("Active", default=True),
                "company_id": m2o("res.company", "Company", required=True, default=COMPANY),
                "auto_apply": boolean("Detect Automatically"),
                "vat_required": boolean("VAT required"),
                "country_id": m2o("res.country", "Country"),
                "zip_from": char("Zip Range From"),
                "zip_to": char("Zip Range To"),
                "note": html("Notes"),
                "account_ids": o2m(
                    "account.fiscal.position.account", "position_id", "Account Mapping"
                ),
                "tax_ids": m2m(
                    "account.tax",
                    "account_fiscal_position_account_tax_rel",
                    "account_fiscal_position_id",
                    "account_tax_id",
                    "Taxes",
                    since=19,
                ),
                # Up to 18 the mapping is a table of (source tax, replacement) rows.
                "tax_ids_18": o2m(
                    "account.fiscal.position.tax", "position_id", "Tax Mapping", until=18
                ),
            },
            order="sequence",
            module="account",
        ),
        _model(
            "account.fiscal.position.tax",
            "Tax Mapping of Fiscal Position",
            {
                "position_id": m2o(
                    "account.fiscal.position",
                    "Fiscal Position",
                    required=True,
                    ondelete="cascade",
                ),
                "tax_src_id": m2o("account.tax", "Tax on Product", required=True),
                "tax_dest_id": m2o("account.tax", "Tax to Apply"),
            },
            rec_name="position_id",
            module="account",
        ),
        _model(
            "account.fiscal.position.account",
            "Accounts Mapping of Fiscal Position",
            {
                "position_id": m2o(
                    "account.fiscal.position",
                    "Fiscal Position",
                    required=True,
                    ondelete="cascade",
                ),
                "account_src_id": m2o("account.account", "Account on Product", required=True),
                "account_dest_id": m2o("account.account", "Account to Use Instead", required=True),
            },
            rec_name="position_id",
            module="account",
        ),
        _model(
            "mail.followers",
            "Document Followers",
            {
                "res_model": char("Related Document Model Name", required=True),
                "res_id": m2oref("Related Document ID", "res_model"),
                "partner_id": m2o(
                    "res.partner", "Related Partner", required=True, ondelete="cascade"
                ),
                "subtype_ids": m2m(
                    "mail.message.subtype",
                    "mail_followers_mail_message_subtype_rel",
                    "mail_followers_id",
                    "mail_message_subtype_id",
                    "Subtype",
                ),
            },
            rec_name="partner_id",
            module="mail",
        ),
        _model(
            "mail.notification",
            "Message Notifications",
            {
                "mail_message_id": m2o(
                    "mail.message", "Message", required=True, ondelete="cascade"
                ),
                "res_partner_id": m2o("res.partner", "Recipient", ondelete="cascade"),
                "notification_type": selection(
                    "Notification Type",
                    _sel("inbox:Inbox", "email:Email"),
                    required=True,
                    default="inbox",
                ),
                "notification_status": selection(
                    "Status",
                    _sel(
                        "ready:Ready to Send",
                        "process:Processing",
                        "pending:Sent",
                        "sent:Delivered",
                        "bounce:Bounced",
                        "exception:Exception",
                        "canceled:Cancelled",
                    ),
                    default="ready",
                ),
                "is_read": boolean("Is Read"),
            },
            rec_name="res_partner_id",
            module="mail",
        ),
        _model(
            "ir.attachment",
            "Attachment",
            {
                "name": char("Name", required=True),
                "description": text("Description"),
                "res_name": char("Resource Name", store=False),
                "res_model": char("Resource Model"),
                "res_field": char("Resource Field"),
                "res_id": m2oref("Resource ID", "res_model"),
                "company_id": m2o("res.company", "Company", default=COMPANY),
                "type": selection(
                    "Type", _sel("url:URL", "binary:File"), required=True, default="binary"
                ),
                "url": char("Url"),
                "public": boolean("Is public document"),
                "access_token": char("Access Token"),
                "datas": {"type": "binary", "string": "File Content (base64)", "store": False},
                "store_fname": char("Stored Filename"),
                "file_size": integer("File Size", readonly=True),
                "checksum": char("Checksum/SHA1", readonly=True),
                "mimetype": char("Mime Type", readonly=True),
                "index_content": text("Indexed Content", readonly=True),
            },
            order="id desc",
        ),
    ]
    if major >= 19:  # 19 maps taxes through account.tax.original_tax_ids instead
        models = [m for m in models if m.name != "account.fiscal.position.tax"]
    extensions: dict[str, dict[str, dict[str, Any]]] = {
        "res.company": {
            "account_sale_tax_id": m2o("account.tax", "Default Sale Tax"),
            "account_purchase_tax_id": m2o("account.tax", "Default Purchase Tax"),
        },
        "res.partner": {
            "property_account_position_id": m2o("account.fiscal.position", "Fiscal Position"),
        },
        "res.users": {
            "notification_type": selection(
                "Notification",
                _sel("email:Handle by Emails", "inbox:Handle in Odoo"),
                default="email",
            ),
        },
        "product.category": {
            "property_account_income_categ_id": m2o("account.account", "Income Account"),
            "property_account_expense_categ_id": m2o("account.account", "Expense Account"),
        },
        "product.template": {
            "taxes_id": m2m("account.tax", "product_taxes_rel", "prod_id", "tax_id", "Sales Taxes"),
            "supplier_taxes_id": m2m(
                "account.tax", "product_supplier_taxes_rel", "prod_id", "tax_id", "Purchase Taxes"
            ),
            "property_account_income_id": m2o("account.account", "Income Account"),
            "property_account_expense_id": m2o("account.account", "Expense Account"),
        },
        "account.move": {
            "journal_id": m2o("account.journal", "Journal", required=True),
            "fiscal_position_id": m2o(
                "account.fiscal.position", "Fiscal Position", ondelete="restrict"
            ),
            "partner_shipping_id": m2o("res.partner", "Delivery Address"),
            "reversed_entry_id": m2o("account.move", "Reversal of", copy=False),
        },
        "account.move.line": {
            "account_id": m2o("account.account", "Account", ondelete="cascade"),
            "tax_ids": m2m(
                "account.tax",
                "account_move_line_account_tax_rel",
                "account_move_line_id",
                "account_tax_id",
                "Taxes",
            ),
        },
        "mail.activity": {
            "automated": boolean("Automated activity", readonly=True),
            "active": boolean("Active", default=True),
            "date_done": date("Done Date"),
        },
        "mail.activity.type": {
            "keep_done": boolean("Keep Done", default=False),
            "res_model": char("Model"),
            "icon": char("Icon"),
            "active": boolean("Active", default=True),
        },
        "mail.message": {
            "email_from": char("From"),
            "mail_activity_type_id": m2o("mail.activity.type", "Mail Activity Type"),
            "partner_ids": m2m(
                "res.partner",
                "mail_message_res_partner_rel",
                "mail_message_id",
                "res_partner_id",
                "Recipients",
            ),
            "attachment_ids": m2m(
                "ir.attachment",
                "message_attachment_rel",
                "message_id",
                "attachment_id",
                "Attachments",
            ),
            "notification_ids": o2m("mail.notification", "mail_message_id", "Notifications"),
        },
        "mail.message.subtype": {
            "default": boolean("Default", default=True),
            "sequence": integer("Sequence", default=1),
            "res_model": char("Model"),
        },
    }
    return models, extensions


MAGIC = {
    "id": Field(name="id", type="integer", string="ID", readonly=True),
    "display_name": Field(
        name="display_name", type="char", string="Display Name", readonly=True, store=False
    ),
    "create_uid": Field(
        name="create_uid", type="many2one", string="Created by", relation="res.users", readonly=True
    ),
    "create_date": Field(name="create_date", type="datetime", string="Created on", readonly=True),
    "write_uid": Field(
        name="write_uid",
        type="many2one",
        string="Last Updated by",
        relation="res.users",
        readonly=True,
    ),
    "write_date": Field(
        name="write_date", type="datetime", string="Last Updated on", readonly=True
    ),
}


def models_for(
    major: int, extend: Callable[[list[Model]], list[Model]] | None = None
) -> dict[str, Model]:
    """The registry of one Odoo major: its models with only the fields that major has.
    `extend` adds models defined elsewhere (technical.py's actions, crons, menus...)."""
    if major not in MAJORS:
        raise ValueError(f"unsupported Odoo major {major}; choose one of {MAJORS}")
    definitions = _definitions()
    registry: dict[str, Model] = {}
    added, extensions = _accounting_and_documents(major)
    combined = [*definitions, *added]
    for model in extend(combined) if extend else combined:
        for fname, spec in extensions.get(model.name, {}).items():
            model.fields[fname] = Field(name=fname, **spec)
        kept: dict[str, Field] = {}
        for fname, fld in model.fields.items():
            if not fld.since <= major <= fld.until:
                continue
            real = fname[: -len("_18")] if fname.endswith("_18") else fname
            kept[real] = fld if real == fname else Field(**{**fld.__dict__, "name": real})
        model.fields = {**{"id": MAGIC["id"]}, **kept}
        for magic in ("display_name", "create_uid", "create_date", "write_uid", "write_date"):
            model.fields[magic] = MAGIC[magic]
        registry[model.name] = model
    # _inherits: the parent's fields are readable and writable on the child through the link.
    for model in registry.values():
        for parent_name, link in model.inherits.items():
            parent = registry[parent_name]
            for fname, fld in parent.fields.items():
                if fname in model.fields or fname in MAGIC:
                    continue
                model.fields[fname] = Field(
                    **{**fld.__dict__, "related": f"{link}.{fname}", "store": True}
                )
    return registry
