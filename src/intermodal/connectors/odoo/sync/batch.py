"""The scheduled master-data sync: Odoo's customers, carriers, products, companies, currencies
and rates, copied page by page into `master_data` and `currency_rates`.

From where: an `odoo` endpoint (its URL, database and API key). Through: one
`(write_date, id)` cursor per model (connectors/odoo/cursor.py, table
`odoo_capture_cursors`, model name prefixed `sync:` so that it never shares a row with the
change-capture poller). To: upserts keyed by the Odoo id, written in the same transaction
as the cursor that moves past them. On error: the pass stops where it is; the next pass
(or `intermodal sync` run) resumes after the last committed page, so nothing is skipped,
and a page read twice overwrites itself, so nothing is stored twice.

Archived records are read too (`active_test: False`): a customer archived in Odoo must
become inactive here, not silently stay as it was.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from intermodal.connectors.odoo.client import OdooClient
from intermodal.connectors.odoo.cursor import (
    WriteDateCursor,
    domain_since,
    pages_after,
    position_of,
)
from intermodal.connectors.odoo.sync.rates import ALL_COMPANIES
from intermodal.connectors.odoo.sync.storage import store_master_data, store_rates
from intermodal.engine.ids import iso, utcnow
from intermodal.store import Store

log = logging.getLogger(__name__)

CURSOR_PREFIX = "sync:"


def _m2o_id(value: Any) -> int | None:
    """A many2one as Odoo reads it (`[id, name]`, a bare id, or false) -> its id."""
    if isinstance(value, list) and value and isinstance(value[0], int):
        return value[0]
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _m2o_name(value: Any) -> str | None:
    if isinstance(value, list) and len(value) > 1 and isinstance(value[1], str):
        return value[1]
    return None


def _text(value: Any) -> str | None:
    """Odoo reads an empty char field as `false`."""
    return value if isinstance(value, str) and value else None


@dataclass(frozen=True)
class SyncedModel:
    """One Odoo model the sync copies: what it reads and what kind of master data it makes."""

    model: str
    kind: str
    fields: tuple[str, ...]
    key: Callable[[dict[str, Any]], str]
    data: Callable[[dict[str, Any]], dict[str, Any]]


def _plain(fields: tuple[str, ...]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Data as read, many2ones reduced to `{"id", "name"}` (or null)."""

    def build(record: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in fields:
            value = record.get(name)
            if name.endswith("_id"):
                ref = _m2o_id(value)
                out[name] = {"id": ref, "name": _m2o_name(value)} if ref is not None else None
            elif value is False and name not in ("active", "is_company", "free_over"):
                out[name] = None  # Odoo's "empty"
            else:
                out[name] = value
        return out

    return build


_PARTNER = ("name", "ref", "vat", "email", "phone", "street", "street2", "zip", "city",
            "country_id", "is_company", "parent_id", "type", "customer_rank", "supplier_rank",
            "company_id", "lang", "active")  # fmt: skip
_CARRIER = ("name", "active", "delivery_type", "integration_level", "invoice_policy",
            "product_id", "fixed_price", "margin", "free_over", "company_id")  # fmt: skip
_PRODUCT = ("name", "default_code", "barcode", "active", "list_price", "standard_price",
            "categ_id", "uom_id", "weight")  # fmt: skip
_CURRENCY = ("name", "full_name", "symbol", "rounding", "decimal_places", "active")
_COMPANY = ("name", "currency_id", "active")


def _company_data(record: dict[str, Any]) -> dict[str, Any]:
    data = _plain(_COMPANY)(record)
    data["currency"] = _m2o_name(record.get("currency_id"))
    return data


MODELS: dict[str, SyncedModel] = {
    m.model: m
    for m in (
        SyncedModel("res.company", "company", _COMPANY,
                    lambda r: _text(r.get("name")) or str(r["id"]), _company_data),
        SyncedModel("res.currency", "currency", _CURRENCY,
                    lambda r: _text(r.get("name")) or str(r["id"]), _plain(_CURRENCY)),
        SyncedModel("res.currency.rate", "currency_rate", ("name", "rate", "currency_id",
                    "company_id"), lambda r: str(r["id"]), _plain(("name", "rate"))),
        SyncedModel("res.partner", "partner", _PARTNER,
                    lambda r: _text(r.get("ref")) or f"res.partner:{r['id']}", _plain(_PARTNER)),
        SyncedModel("delivery.carrier", "carrier", _CARRIER,
                    lambda r: _text(r.get("name")) or str(r["id"]), _plain(_CARRIER)),
        SyncedModel("product.product", "product", _PRODUCT,
                    lambda r: _text(r.get("default_code")) or f"product.product:{r['id']}",
                    _plain(_PRODUCT)),
    )
}  # fmt: skip
"""Every model the sync knows, in the order a pass reads them (companies and currencies
before the rates that refer to them)."""


def rate_row(record: dict[str, Any], synced_at: str) -> dict[str, Any] | None:
    """A `currency_rates` row from a res.currency.rate record; None when it is unusable."""
    currency = _m2o_name(record.get("currency_id"))
    day = record.get("name")
    rate = record.get("rate")
    if currency is None or not isinstance(day, str) or isinstance(rate, bool):
        return None
    if not isinstance(rate, int | float) or not math.isfinite(rate) or rate <= 0:
        return None
    return {
        "odoo_id": int(record["id"]),
        "currency": currency[:3].upper(),
        "company_id": _m2o_id(record.get("company_id")) or ALL_COMPANIES,
        "day": day[:10],
        "rate": repr(float(rate)),  # shortest text that reads back as the same float
        "write_date": str(record["write_date"]),
        "synced_at": synced_at,
    }


def _json_text(value: dict[str, Any]) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # an integer beyond 64 bits: no Odoo field holds one, but never fail
        return json.dumps(value, default=str)


def master_row(spec: SyncedModel, record: dict[str, Any], synced_at: str) -> dict[str, Any]:
    return {
        "kind": spec.kind,
        "odoo_id": int(record["id"]),
        "key": spec.key(record)[:256],
        "data": _json_text(spec.data(record)),
        "write_date": str(record["write_date"]),
        "synced_at": synced_at,
    }


OnPage = Callable[[str, int], None]
"""Told after each committed page: (model, records in it)."""


class MasterDataSync:
    """One Odoo database's master data, synced model by model behind resumable cursors."""

    def __init__(
        self,
        client: OdooClient,
        store: Store,
        partner: str,
        models: list[str] | None = None,
        page_size: int = 200,
        overlap_seconds: float = 10.0,
    ) -> None:
        unknown = sorted(set(models or []) - set(MODELS))
        if unknown:
            raise ValueError(f"cannot sync {', '.join(unknown)}: known models are {known_models()}")
        self.client = client
        self.store = store
        self.partner = partner
        self.models = [m for m in MODELS if models is None or m in models]
        self.page_size = page_size
        self.overlap_seconds = overlap_seconds

    def cursor(self, model: str) -> WriteDateCursor:
        return WriteDateCursor(self.store, self.partner, CURSOR_PREFIX + model)

    async def pending(self, model: str) -> int:
        """How many records the next pass over `model` will read (for a progress bar)."""
        position = await asyncio.to_thread(self.cursor(model).load)
        count = await self.client.call(
            model,
            "search_count",
            domain=domain_since(position, self.overlap_seconds),
            context={"active_test": False},
        )
        return int(count)

    async def sync_once(self, on_page: OnPage | None = None) -> dict[str, int]:
        """One pass over every model; returns how many records were read per model."""
        return {model: await self.sync_model(model, on_page) for model in self.models}

    async def sync_model(self, model: str, on_page: OnPage | None = None) -> int:
        spec = MODELS[model]
        cursor = self.cursor(model)
        position = await asyncio.to_thread(cursor.load)
        read = 0
        async for rows in pages_after(
            self.client,
            model,
            list(spec.fields),
            position,
            self.overlap_seconds,
            self.page_size,
            context={"active_test": False},
        ):
            last = position_of(rows[-1])
            move = position is None or last > position
            await asyncio.to_thread(self._store_page, spec, rows, cursor if move else None, last)
            if move:
                position = last
            read += len(rows)
            if on_page is not None:
                on_page(model, len(rows))
        return read

    def _store_page(
        self,
        spec: SyncedModel,
        rows: list[dict[str, Any]],
        cursor: WriteDateCursor | None,
        last: tuple[str, int],
    ) -> None:
        synced_at = iso(utcnow())
        with self.store.write() as conn:
            if spec.kind == "currency_rate":
                rates = [r for r in (rate_row(rec, synced_at) for rec in rows) if r is not None]
                store_rates(conn, rates)
            else:
                store_master_data(conn, [master_row(spec, rec, synced_at) for rec in rows])
            if cursor is not None:
                cursor.save_in(conn, last)  # the page and the cursor commit together

    async def run(self, interval_seconds: float) -> None:
        """Sync until cancelled; a failed pass is logged and resumed at the next interval."""
        while True:
            try:
                read = await self.sync_once()
                log.info("master-data sync from %s: %s", self.partner, read)
            except Exception:
                log.exception("master-data sync from %s failed; resuming in %ss",
                              self.partner, interval_seconds)  # fmt: skip
            await asyncio.sleep(interval_seconds)


def known_models() -> str:
    return ", ".join(MODELS)


def models_by_kind() -> Mapping[str, str]:
    return {spec.kind: model for model, spec in MODELS.items()}
