"""Change capture: Odoo's own changes become inbox messages, like any partner's.

Two ways in, same result:

- **Automation-rule webhooks** (Odoo 17+, `base.automation` with a "Send Webhook
  Notification" action): Odoo POSTs `{"_action", "_id", "_model", "id", <fields>}` after
  the change commits. Odoo cannot sign it or add headers, so the URL carries the partner's
  token: `POST /v1/odoo/<partner>/changes?token=<token>` (a bearer header works too).
- **A `write_date` polling cursor** for servers without webhooks (or as a safety net):
  `search_read` of records written since the cursor, in `(write_date, id)` order.

Both turn a record into canonical events with ids derived from the record and its state
(`odoo:<model>:<id>:<state>`), so the same change seen twice (webhook and poll, or a
re-read of the overlap window) is one event: the applier drops the second by id.

Mapping (inbound): a confirmed sale.order is the shipment (`shipment.upserted`) and its
`booked` milestone; a cancelled one is `cancelled`; a validated outgoing picking is
`dispatched`, a cancelled one `cancelled` unless it is a backorder
(`mappings/stock_picking.py`). A picking belongs to the shipment of its `sale_id`: the
order is read (`name`, `client_order_ref`: `order_keys`) and keyed as order intake keys
it. Its `origin` is never parsed: Odoo writes "<order> - <customer reference>" there
(sale_stock `_action_launch_stock_rule`) and people edit it; a picking without an order
asserts nothing. Event ids and stored cursors are unchanged by this keying.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from intermodal.api.errors import ApiError
from intermodal.api.http import bearer_token, read_body, store_durably, store_unavailable
from intermodal.canonical.events import EventError, parse_events
from intermodal.canonical.model import Incoterm
from intermodal.config import WRITE_SCOPE, Settings
from intermodal.connectors.odoo.client import OdooClient
from intermodal.connectors.odoo.cursor import (
    ODOO_DATETIME,
    Position,
    WriteDateCursor,
    pages_after,
    position_of,
)
from intermodal.connectors.odoo.mappings.sale_order import order_key
from intermodal.connectors.odoo.mappings.stock_picking import picking_milestone
from intermodal.engine.ids import iso, sortable_id, utcnow
from intermodal.engine.inbox import InboxMessage, Receipt
from intermodal.security.tokens import TokenRejected, TokensUnavailable
from intermodal.store import Store

if TYPE_CHECKING:
    from intermodal.hub import Hub

log = logging.getLogger(__name__)

# Fields an automation rule (or the poller) must send per model for the mapping below.
CAPTURE_FIELDS: dict[str, list[str]] = {
    "sale.order": [
        "name",
        "client_order_ref",
        "state",
        "write_date",
        # order intake: who is billed, who receives, by which carrier, terms
        "partner_id",
        "partner_invoice_id",
        "partner_shipping_id",
        "carrier_id",
        "incoterm",
        "company_id",
    ],
    "stock.picking": [
        "name",
        "origin",
        "state",
        "picking_type_code",
        "sale_id",
        "backorder_id",
        "write_date",
    ],
}
_MAX_BODY = 1024 * 1024


def automation_rule(model: str, url: str) -> dict[str, Any]:
    """The automation rule that sends a model's state changes to the hub at `url`: on
    update of `state`, a webhook with the fields the mapping reads (what docs/odoo.md
    tells an Odoo administrator to create, and what the demo and tests create in the Odoo
    test server through `POST /__sim/webhooks`)."""
    return {
        "model": model,
        "trigger": "on_write",
        "trigger_fields": ["state"],
        "url": url,
        "fields": CAPTURE_FIELDS[model],
    }


Submit = Callable[[list[InboxMessage]], Awaitable[list[Receipt]]]


# -- Odoo record -> canonical events (pure) --------------------------------------------------
def _when(record: dict[str, Any]) -> datetime:
    value = record.get("write_date")
    if isinstance(value, str):
        try:
            return datetime.strptime(value[:19], ODOO_DATETIME).replace(tzinfo=UTC)
        except ValueError:
            pass
    return utcnow()


def events_from_record(
    model: str,
    record: dict[str, Any],
    source: str,
    stops: list[dict[str, Any]] | None = None,
    orders: Mapping[int, str] | None = None,
) -> list[dict[str, Any]]:
    """The canonical events one Odoo record change asserts (none when it asserts nothing).

    `stops` (read from Odoo by `order_stops`) go into a confirmed order's
    shipment: the change itself names the addresses only by id. `orders` (from
    `order_keys`) gives a picking's shipment key by its `sale_id`."""
    record_id = record.get("id", record.get("_id"))
    state = record.get("state")
    if not isinstance(record_id, int) or not isinstance(state, str):
        return []
    at = iso(_when(record))
    base = {"specversion": "1.0", "source": source, "time": at}
    events: list[dict[str, Any]] = []
    if model == "sale.order":
        key = order_key(record)
        if key is None:
            return []
        if state == "sale":
            references: dict[str, Any] = {}
            if isinstance(record.get("name"), str):
                references["odoo_sale_order"] = record["name"]
            if isinstance(record.get("client_order_ref"), str) and record["client_order_ref"]:
                references["customer_reference"] = record["client_order_ref"]
            events.append(
                {
                    **base,
                    "id": f"odoo:sale.order:{record_id}:upserted",
                    "type": "intermodal.shipment.upserted",
                    "subject": key,
                    "data": {
                        "key": key,
                        "references": references,
                        **_order_terms(record),
                        **({"stops": stops} if stops else {}),
                    },
                }
            )
            milestone = "booked"
        elif state == "cancel":
            milestone = "cancelled"
        else:
            return []
    elif model == "stock.picking":
        if record.get("picking_type_code") not in (None, "outgoing"):
            return []
        sale = _many2one(record.get("sale_id"))
        found = picking_milestone(record)
        order = (orders or {}).get(sale[0]) if sale is not None else None
        if found is None or order is None:
            return []
        key, milestone = order, found.value
    else:
        return []
    events.append(
        {
            **base,
            "id": f"odoo:{model}:{record_id}:{state}",
            "type": "intermodal.shipment.milestone",
            "subject": key,
            "data": {"milestone": milestone, "occurred_at": at},
        }
    )
    try:
        parse_events(orjson.dumps(events), max_events=10)
    except (EventError, orjson.JSONEncodeError) as exc:  # e.g. a name no key can hold
        log.warning("odoo %s %s: not a valid shipment change: %s", model, record_id, exc)
        return []
    return events


def _many2one(value: Any) -> tuple[int, str | None] | None:
    """Odoo's many2one as (id, display name): `[id, name]` from search_read, a bare id from
    an automation webhook (which reads with load=None), False when empty."""
    if isinstance(value, list | tuple) and len(value) == 2 and _record_id(value[0]):
        return value[0], str(value[1]) if value[1] else None
    if _record_id(value):
        return value, None
    return None


def _record_id(value: Any) -> bool:
    """An Odoo record id: a positive integer (a database serial), never a bool."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63


_INCOTERM = re.compile(r"^\[?([A-Z]{3})\]?(?:\s|$)")


def _order_terms(record: dict[str, Any]) -> dict[str, Any]:
    """The parts of a sale order the flows need: the customer (and invoice
    address) as parties known by their Odoo id, the carrier by name when Odoo gave it, and
    the incoterm when its display name starts with the code ("DDP" or "[DDP] Delivered
    Duty Paid"). Stops need the delivery address's fields, which a change does not carry:
    they come from the TMS or a later shipment update."""
    parties: list[dict[str, Any]] = []
    for field, role in (("partner_id", "customer"), ("partner_invoice_id", "bill_to"),
                        ("partner_shipping_id", "consignee")):  # fmt: skip
        found = _many2one(record.get(field))
        if found is None or (role != "customer" and parties and
                             found[0] == parties[0]["odoo_partner_id"]):  # fmt: skip
            continue
        partner_id, name = found
        parties.append({"role": role, "name": (name or f"Odoo partner {partner_id}")[:256],
                        "odoo_partner_id": partner_id})  # fmt: skip
    carrier = _many2one(record.get("carrier_id"))
    terms: dict[str, Any] = {"parties": parties} if parties else {}
    if carrier is not None and carrier[1]:
        # The delivery method is the service the customer bought: it names the SLA level.
        parties.append({"role": "carrier", "name": carrier[1][:256]})
        terms["service_level"] = carrier[1][:256]
    incoterm = _many2one(record.get("incoterm"))
    match = _INCOTERM.match(incoterm[1]) if incoterm is not None and incoterm[1] else None
    if match is not None and match.group(1) in Incoterm.__members__:
        terms["incoterm"] = match.group(1)
    return terms


_ADDRESS_FIELDS = ["name", "street", "street2", "city", "zip", "state_id", "country_id"]


async def order_stops(client: OdooClient, record: dict[str, Any]) -> list[dict[str, Any]]:
    """The stops of a confirmed order, read from Odoo: pick up at the company's
    address, deliver to the order's delivery address (its customer's when it has none).
    An address without a country cannot be a canonical stop and is left out."""
    if record.get("state") != "sale":
        return []
    delivery = _many2one(record.get("partner_shipping_id")) or _many2one(record.get("partner_id"))
    company = _many2one(record.get("company_id"))
    company_partner: int | None = None
    if company is not None:
        rows = await client.call("res.company", "read", [company[0]], fields=["partner_id"])
        found = _many2one(rows[0].get("partner_id")) if rows else None
        company_partner = found[0] if found else None
    wanted = [(1, "pickup", company_partner), (2, "delivery", delivery[0] if delivery else None)]
    ids = sorted({pid for _, _, pid in wanted if pid is not None})
    if not ids:
        return []
    partners = {
        row["id"]: row
        for row in await client.call("res.partner", "read", ids, fields=_ADDRESS_FIELDS)
    }
    countries = await _codes(client, "res.country", partners.values(), "country_id")
    regions = await _codes(client, "res.country.state", partners.values(), "state_id")
    stops = []
    for sequence, kind, pid in wanted:
        row = partners.get(pid) if pid is not None else None
        country_id = _many2one(row.get("country_id")) if row else None
        if row is None or country_id is None or country_id[0] not in countries:
            continue
        address: dict[str, Any] = {"country": countries[country_id[0]]}
        for field, name in (("street", "street"), ("street2", "street2"), ("city", "city"),
                            ("zip", "postal_code")):  # fmt: skip
            if isinstance(row.get(field), str) and row[field].strip():
                address[name] = row[field].strip()[: 256 if name != "postal_code" else 32]
        region = _many2one(row.get("state_id"))
        if region is not None and region[0] in regions:
            address["region"] = regions[region[0]]
        party = {"role": "shipper" if kind == "pickup" else "consignee",
                 "name": str(row.get("name") or f"Odoo partner {pid}")[:256],
                 "odoo_partner_id": pid}  # fmt: skip
        stops.append({"sequence": sequence, "kind": kind, "address": address, "party": party})
    return stops


async def order_keys(client: OdooClient, records: list[dict[str, Any]]) -> dict[int, str]:
    """The shipment key of each picking's order (`sale_id`), in one read: the hub's
    reference when the order has one, else its name (`order_key`, as order intake keys
    the order itself). Orders that no longer exist are left out."""
    ids = sorted({m[0] for r in records if (m := _many2one(r.get("sale_id"))) is not None})
    if not ids:
        return {}
    rows = await client.call(
        "sale.order", "read", ids, fields=["name", "client_order_ref"], load=None
    )
    return {int(row["id"]): key for row in rows if (key := order_key(row)) is not None}


async def _orders_or_none(
    client: OdooClient | None, model: str, records: list[dict[str, Any]]
) -> dict[int, str] | None:
    """`order_keys` for a picking webhook, or None when Odoo cannot be asked: the change
    then asserts nothing here (the write_date poller, where configured, reads it again)."""
    if client is None or model != "stock.picking":
        return None
    try:
        return await order_keys(client, records)
    except Exception:  # a failed read must not lose the other records of the page
        log.warning("odoo: could not read the orders of %d picking(s)", len(records),
                    exc_info=True)  # fmt: skip
        return None


async def _codes(client: OdooClient, model: str, rows: Any, field: str) -> dict[int, str]:
    ids = sorted({m[0] for row in rows if (m := _many2one(row.get(field))) is not None})
    if not ids:
        return {}
    found = await client.call(model, "read", ids, fields=["code"])
    return {r["id"]: str(r["code"]).upper() for r in found if isinstance(r.get("code"), str)}


async def _stops_or_none(client: OdooClient | None, model: str, record: dict[str, Any]) -> Any:
    """Stops for a confirmed order, or None when Odoo cannot be asked (no client) or fails:
    intake goes on without them (the TMS or a later shipment update can add them)."""
    if client is None or model != "sale.order" or record.get("state") != "sale":
        return None
    try:
        return await order_stops(client, record)
    except Exception:  # an address read must never lose the order itself
        log.warning("odoo: could not read the addresses of order %s", record.get("id"),
                    exc_info=True)  # fmt: skip
        return None


def inbox_message(partner: str, channel: str, events: list[dict[str, Any]]) -> InboxMessage:
    body = orjson.dumps(events)
    message_id = "odoo-" + hashlib.sha256(body).hexdigest()[:32]
    return InboxMessage(partner, message_id, channel, "application/json", body, sortable_id("corr"))


# -- webhooks ---------------------------------------------------------------------------------
def odoo_capture_router(settings: Settings, hub: Callable[[], Hub]) -> APIRouter:
    """`POST /v1/odoo/{partner}/changes`: Odoo automation-rule webhooks into the inbox."""
    router = APIRouter(tags=["ingress"])

    @router.post(
        "/v1/odoo/{partner}/changes",
        status_code=202,
        summary="Receive an Odoo automation-rule webhook (token in ?token= or a bearer header)",
    )
    async def odoo_change(partner: str, request: Request) -> Response:
        # The token is checked before the name: an unknown name gets the 401 a wrong token
        # gets, so names cannot be told apart from outside. Odoo automation webhooks cannot
        # add headers, so the token may come in the URL.
        token = bearer_token(request.headers) or request.query_params.get("token")
        tokens = hub().tokens
        try:
            grant = tokens.lookup(token, "odoo", partner)
        except TokenRejected:
            grant = None
        except TokensUnavailable:
            raise store_unavailable() from None
        if grant is not None and grant.partner != partner:
            tokens.failed("odoo", "wrong_partner", grant.partner, grant.token_id)
            grant = None
        if grant is None:
            raise ApiError(
                401,
                "unauthorized",
                "a valid token of this partner is required (?token= or Authorization: Bearer)",
                headers={"WWW-Authenticate": "Bearer"},
            )
        config = settings.partners.get(partner)
        if config is None or config.kind != "odoo":  # only its own partner learns this
            raise ApiError(404, "unknown_partner", f"partner '{partner}' is not of kind odoo")
        if WRITE_SCOPE not in grant.scopes:
            raise ApiError(403, "forbidden", f"this token lacks the '{WRITE_SCOPE}' scope")
        body = await read_body(request, _MAX_BODY)
        try:
            record = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise ApiError(400, "bad_json", "body is not valid JSON") from None
        if not isinstance(record, dict) or not isinstance(record.get("_model"), str):
            raise ApiError(
                422, "invalid_change", "expected an Odoo webhook object with '_model' and 'id'"
            )
        model = record["_model"]
        stops = orders = None
        endpoint = _address_endpoint(settings, partner)
        reads = (model == "sale.order" and record.get("state") == "sale") or (
            model == "stock.picking"
        )
        if endpoint is not None and reads:
            from intermodal.connectors.odoo.sink import odoo_client

            async with httpx.AsyncClient() as http:
                client = odoo_client(endpoint, http)
                stops = await _stops_or_none(client, model, record)
                orders = await _orders_or_none(client, model, [record])
        events = events_from_record(model, record, f"odoo/{partner}", stops, orders)
        if not events:
            return JSONResponse({"events": 0, "ignored": True}, status_code=200)
        message = inbox_message(partner, "odoo-webhook", events)
        (receipt,) = await store_durably(hub().committer, [message])
        return JSONResponse(
            {
                "receipt_id": receipt.receipt_id,
                "duplicate": receipt.duplicate,
                "events": len(events),
            },
            status_code=200 if receipt.duplicate else 202,
        )

    return router


def _address_endpoint(settings: Settings, partner: str) -> Any:
    """The `odoo` endpoint order addresses (and pickings' orders) are read from: the
    flows' odoo role, else the one this partner polls; None (no stops, and pickings
    assert nothing) without either."""
    name = settings.workflows.roles.odoo if settings.workflows is not None else None
    config = settings.partners.get(partner)
    if name is None and config is not None and config.poll is not None:
        name = config.poll.endpoint
    return settings.endpoints.get(name) if name is not None else None


# -- polling ----------------------------------------------------------------------------------


class WriteDatePoller:
    """Reads records written since the cursor and hands their events to the inbox.

    The cursor is `(write_date, id)` of the last record read. Odoo stamps `write_date` with
    the transaction's start time, so a transaction that commits after a later one can
    appear *behind* the cursor; each poll therefore starts `overlap` seconds before it and
    lets the inbox and the event ids drop what was seen. Inside one read, pages follow the
    `(write_date, id)` order, so records written in the same second are never skipped at a
    page boundary.
    """

    def __init__(
        self,
        client: OdooClient,
        store: Store,
        partner: str,
        submit: Submit,
        models: dict[str, list[str]] | None = None,
        overlap_seconds: float = 10.0,
        page_size: int = 200,
    ) -> None:
        self.client = client
        self.store = store
        self.partner = partner
        self.submit = submit
        self.models = models or CAPTURE_FIELDS
        self.overlap = timedelta(seconds=overlap_seconds)
        self.page_size = page_size

    def cursor(self, model: str) -> Position | None:
        return WriteDateCursor(self.store, self.partner, model).load()

    async def poll_once(self) -> int:
        """One pass over every model; returns how many records were read."""
        total = 0
        for model, fields in self.models.items():
            total += await self._poll_model(model, fields)
        return total

    async def _poll_model(self, model: str, fields: list[str]) -> int:
        stored = WriteDateCursor(self.store, self.partner, model)
        cursor = await asyncio.to_thread(stored.load)
        read = 0
        overlap = self.overlap.total_seconds()
        async for rows in pages_after(self.client, model, fields, cursor, overlap, self.page_size):
            read += len(rows)
            messages = []
            # A failed read of the pickings' orders fails the pass before the cursor moves:
            # the page is read again next time rather than lost.
            orders = await order_keys(self.client, rows) if model == "stock.picking" else None
            for row in rows:
                stops = await _stops_or_none(self.client, model, row)
                events = events_from_record(model, row, f"odoo/{self.partner}", stops, orders)
                if events:
                    messages.append(inbox_message(self.partner, "odoo-poll", events))
            if messages:
                await self.submit(messages)  # durable before the cursor moves past them
            after = position_of(rows[-1])
            if cursor is None or after > cursor:
                await asyncio.to_thread(stored.save, after)
                cursor = after
        return read

    async def run(self, interval_seconds: float = 30.0) -> None:
        """Poll until cancelled; a failed pass is logged and tried again next interval."""
        while True:
            try:
                await self.poll_once()
            except Exception:
                log.exception("odoo polling for partner %s failed; next try in %ss",
                              self.partner, interval_seconds)  # fmt: skip
            await asyncio.sleep(interval_seconds)
