"""What the control tower shows, read from the store: plain functions returning plain data.

Every page is a handful of grouped queries over the same tables the hub writes (inbox,
events, shipments, outbox, dead letters, cases, reconciliation runs), so the tower is true
after a restart and needs no state of its own. These run off the event loop
(`asyncio.to_thread`) because the hub's ingress shares the loop.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import orjson
from sqlalchemy import case, func, or_, select

from intermodal.config import Endpoint, Settings
from intermodal.engine import reads
from intermodal.engine.ids import iso, parse_iso, utcnow
from intermodal.store import Store
from intermodal.store.tables import (
    cases,
    dead_letters,
    documents,
    events,
    inbox,
    outbox,
    reconciliation_runs,
    shipments,
)
from intermodal.workflows.billing import charges_by_currency, delivered_not_invoiced
from intermodal.workflows.timers import TIMER_PARTNER

OUTCOMES = ("applied", "late", "duplicate", "violation")
HUB_ITSELF = "the hub itself"
PAGE = 50
_ODOO_EVENT = re.compile(r"^odoo:([a-z_]+(?:\.[a-z_]+)+):(\d{1,12}):")


def age(at: str | None, now: datetime) -> str:
    """'3d 4h', '12m', '40s': how long ago `at` was, for tables sorted by age."""
    if not at:
        return "never"
    try:
        seconds = int((now - parse_iso(at)).total_seconds())
    except ValueError:
        return "?"
    if seconds < 0:
        return "in the future"
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{secs}s"


def _since(now: datetime, **delta: float) -> str:
    return iso(now - timedelta(**delta))


def _json(text: str | bytes | None) -> Any:
    if not text:
        return {}
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return {}


def _is_hub_itself(name: str, settings: Settings) -> bool:
    """The hub writes its own messages (a timer fired, a case was closed) to its inbox
    under the name `intermodal` (workflows/timers.py), so the flows read them in order
    with the partners' ones. They are the hub talking to itself, not a partner: no kind,
    no mapping, nothing to chase when they stop."""
    return name == TIMER_PARTNER and name not in settings.partners


# -- overview ----------------------------------------------------------------------------
def overview(
    store: Store, settings: Settings, breakers: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    now = utcnow()
    hour, day = _since(now, hours=1), _since(now, days=1)
    with store.read() as conn:
        inbox_status: dict[str, int] = _pairs(
            conn.execute(select(inbox.c.status, func.count()).group_by(inbox.c.status)).all()
        )
        ingress = conn.execute(
            select(
                inbox.c.partner,
                func.count(),
                _count_if(inbox.c.received_at >= hour),
                func.max(inbox.c.received_at),
            )
            .where(inbox.c.received_at >= day)
            .group_by(inbox.c.partner)
        ).all()
        last_seen = dict(
            conn.execute(
                select(inbox.c.partner, func.max(inbox.c.received_at)).group_by(inbox.c.partner)
            ).all()
        )
        outbound = conn.execute(
            select(outbox.c.endpoint, outbox.c.status, func.count()).group_by(
                outbox.c.endpoint, outbox.c.status
            )
        ).all()
        delivered_hour: dict[str, int] = _pairs(
            conn.execute(
                select(outbox.c.endpoint, func.count())
                .where(outbox.c.delivered_at >= hour)
                .group_by(outbox.c.endpoint)
            ).all()
        )
        dead: dict[str, int] = _pairs(
            conn.execute(
                select(dead_letters.c.endpoint, func.count()).group_by(dead_letters.c.endpoint)
            ).all()
        )
        states = conn.execute(
            select(shipments.c.state, func.count()).group_by(shipments.c.state)
        ).all()
        outcomes: dict[str, int] = _pairs(
            conn.execute(
                select(events.c.outcome, func.count())
                .where(events.c.recorded_at >= day)
                .group_by(events.c.outcome)
            ).all()
        )
        open_cases: dict[str, int] = _pairs(
            conn.execute(
                select(cases.c.kind, func.count())
                .where(cases.c.status == "open")
                .group_by(cases.c.kind)
            ).all()
        )
        commands = conn.execute(
            select(outbox.c.kind, outbox.c.status, func.count())
            .where(outbox.c.created_at >= day)
            .group_by(outbox.c.kind, outbox.c.status)
        ).all()
    partners = sorted(
        p for p in set(settings.partners) | set(last_seen) if not _is_hub_itself(p, settings)
    )
    flows_in = {p: (int(n), int(h or 0), last) for p, n, h, last in ingress}
    hub_itself = None
    if TIMER_PARTNER in last_seen and _is_hub_itself(TIMER_PARTNER, settings):
        day_count, hour_count, _last = flows_in.get(TIMER_PARTNER, (0, 0, None))
        hub_itself = {
            "name": HUB_ITSELF,
            "what": "timers fired, cases closed",
            "day": day_count,
            "hour": hour_count,
            "last": last_seen[TIMER_PARTNER],
            "freshness": age(last_seen[TIMER_PARTNER], now),
        }
    endpoints: dict[str, dict[str, int]] = {}
    for name in sorted(set(settings.endpoints) | {e for e, _s, _n in outbound} | set(dead)):
        endpoints[name] = {"pending": 0, "delivered": 0, "dead": int(dead.get(name, 0))}
    for endpoint, status, count in outbound:
        endpoints[endpoint][status] = endpoints[endpoint].get(status, 0) + int(count)
    billing = _billing_active(settings)
    unbilled = _not_invoiced(store) if billing else None
    kinds: dict[str, dict[str, int]] = {}
    for kind, status, count in commands:
        kinds.setdefault(kind, {})[status] = int(count)
    return {
        "now": iso(now),
        "inbox": {
            "pending": int(inbox_status.get("pending", 0)),
            "rejected": int(inbox_status.get("rejected", 0)),
            "applied": int(inbox_status.get("applied", 0)),
        },
        "outbox_pending": sum(e.get("pending", 0) for e in endpoints.values()),
        "dead_letters": sum(int(n) for n in dead.values()),
        "open_cases": {k: int(v) for k, v in sorted(open_cases.items())},
        "open_cases_total": sum(int(v) for v in open_cases.values()),
        "shipments": sorted(((s or "none", int(n)) for s, n in states), key=lambda x: -x[1]),
        "outcomes": {o: int(outcomes.get(o, 0)) for o in OUTCOMES},
        "flows_in": [
            {
                "partner": p,
                "kind": settings.partners[p].kind if p in settings.partners else "unconfigured",
                "day": flows_in.get(p, (0, 0, None))[0],
                "hour": flows_in.get(p, (0, 0, None))[1],
                "last": last_seen.get(p),
                "freshness": age(last_seen.get(p), now),
            }
            for p in partners
        ],
        "hub_itself": hub_itself,
        "flows_out": [
            {
                "endpoint": name,
                "kind": settings.endpoints[name].kind if name in settings.endpoints else "?",
                "pending": counts.get("pending", 0),
                "delivered": counts.get("delivered", 0),
                "delivered_hour": int(delivered_hour.get(name, 0)),
                "dead": counts["dead"],
                "breaker": breakers.get(name, {"state": "closed", "failures": 0}),
            }
            for name, counts in endpoints.items()
        ],
        "commands": sorted(kinds.items()),
        "not_invoiced": unbilled,
    }


_NOT_INVOICED_LIMIT = 20_000


def _billing_active(settings: Settings) -> bool:
    """Invoices are made only when the workflows give Odoo its role; without that every
    delivered shipment would look 'not invoiced', which says nothing."""
    workflows = settings.workflows
    return workflows is not None and workflows.roles.odoo is not None


def _not_invoiced(store: Store) -> dict[str, Any]:
    """Delivered shipments whose invoice Odoo does not have yet (the rule is
    workflows/billing.py's), with their charges summed per currency."""
    with store.read() as conn:
        rows = conn.execute(
            delivered_not_invoiced(shipments.c.document).limit(_NOT_INVOICED_LIMIT)
        ).all()
    totals = charges_by_currency(text for (text,) in rows)
    return {
        "count": len(rows),
        "capped": len(rows) == _NOT_INVOICED_LIMIT,
        "value": [(c, f"{v:,.2f}") for c, v in sorted(totals.items())],
    }


def _pairs(rows: Any) -> dict[str, int]:
    """(name, count) rows as a dict; a NULL name reads as 'none'."""
    return {str(k) if k is not None else "none": int(v or 0) for k, v in rows}


def _count_if(condition: Any) -> Any:
    return func.sum(case((condition, 1), else_=0))


# -- shipments ---------------------------------------------------------------------------
def _like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search(store: Store, query: str) -> list[dict[str, Any]]:
    """Shipments whose key starts with `query`, or that name it as a reference or tracking
    number (the references live in the shipment document, so we look for the JSON string)."""
    query = query.strip()[:128]
    if not query:
        return []
    quoted = orjson.dumps(query).decode()
    with store.read() as conn:
        rows = conn.execute(
            select(
                shipments.c.key,
                shipments.c.state,
                shipments.c.state_at,
                shipments.c.updated_at,
                shipments.c.document,
                shipments.c.late_count,
                shipments.c.duplicate_count,
                shipments.c.violation_count,
            )
            .where(
                or_(
                    shipments.c.key.like(_like(query) + "%", escape="\\"),
                    shipments.c.document.like("%" + _like(quoted) + "%", escape="\\"),
                )
            )
            .order_by(shipments.c.updated_at.desc())
            .limit(PAGE)
        ).all()
    found = []
    for r in rows:
        refs = ((_json(r.document).get("shipment") or {}).get("data") or {}).get("references") or {}
        matched = "key" if r.key.startswith(query) else _matched_reference(refs, query)
        found.append(
            {
                "key": r.key,
                "state": r.state,
                "state_at": r.state_at,
                "updated_at": r.updated_at,
                "references": refs,
                "matched": matched,
                "flags": {
                    "late": r.late_count,
                    "duplicate": r.duplicate_count,
                    "violation": r.violation_count,
                },
            }
        )
    # An exact key first, then references, then prefixes.
    found.sort(key=lambda f: (f["key"] != query, f["matched"] == "key"))
    return found


def _matched_reference(refs: dict[str, Any], query: str) -> str:
    for name, value in refs.items():
        if value == query or (isinstance(value, list) and query in value):
            return name
    return "document"


def _odoo_endpoint(settings: Settings, partner: str | None = None) -> Endpoint | None:
    """The Odoo a link points into: the endpoint the partner polls through, else the first
    Odoo endpoint; None when no Odoo is configured (then no links are drawn)."""
    chosen = settings.partners.get(partner or "")
    if chosen is not None and chosen.poll is not None:
        endpoint = settings.endpoints.get(chosen.poll.endpoint)
        if endpoint is not None:
            return endpoint
    return next((e for e in settings.endpoints.values() if e.kind == "odoo"), None)


def odoo_base_url(settings: Settings, partner: str | None = None) -> str | None:
    """The Odoo web client's address, or None when no Odoo is configured."""
    endpoint = _odoo_endpoint(settings, partner)
    return endpoint.url.rstrip("/") if endpoint is not None else None


def odoo_link(endpoint: Endpoint | None, model: str, record_id: int) -> str | None:
    """A record's address in the Odoo web client.

    Odoo 18 and later address a record by path, `/odoo/<model>/<id>` (`m-<model>` for a
    model without a dot); the web client still opens the older `/web#model=...&id=...`
    by rewriting it in the browser (odoo/odoo addons/web/static/src/core/browser/
    router.js, `stateToUrl` and `urlToState`'s url-retrocompatibility branch). An
    endpoint configured for JSON-2 is Odoo 19 or later and gets the path; one on
    JSON-RPC (Odoo 16 to 18) or on `auto`, whose version is known only once the hub has
    asked the server, gets the older form, which every version opens.
    """
    if endpoint is None:
        return None
    base = endpoint.url.rstrip("/")
    if endpoint.options.get("protocol") == "json2":
        segment = model if "." in model else f"m-{model}"
        return f"{base}/odoo/{quote(segment, safe='')}/{record_id}"
    return f"{base}/web#model={model}&id={record_id}&view_type=form"


def shipment_story(store: Store, settings: Settings, key: str) -> dict[str, Any] | None:
    """One shipment across systems: its state, every event (who said what when, flagged),
    the commands the hub sent about it, its dead letters and its cases."""
    with store.read() as conn:
        row = conn.execute(select(shipments).where(shipments.c.key == key)).first()
        if row is None:
            return None
        event_rows = conn.execute(
            select(events)
            .where(events.c.subject == key)
            .order_by(events.c.occurred_at, events.c.time, events.c.seq)
            .limit(1000)
        ).all()
        command_rows = conn.execute(
            select(
                outbox.c.command_id,
                outbox.c.endpoint,
                outbox.c.kind,
                outbox.c.status,
                outbox.c.attempts,
                outbox.c.last_error,
                outbox.c.created_at,
                outbox.c.delivered_at,
                outbox.c.payload,
            )
            .where(outbox.c.subject == key)
            .order_by(outbox.c.seq)
            .limit(500)
        ).all()
        dead_rows = conn.execute(
            select(dead_letters).where(dead_letters.c.subject == key).order_by(dead_letters.c.seq)
        ).all()
        case_rows = conn.execute(
            select(cases).where(cases.c.subject == key).order_by(cases.c.opened_at)
        ).all()
        document_rows = conn.execute(  # proofs of delivery and invoices read as its own
            select(documents).where(documents.c.shipment_key == key).order_by(documents.c.seq)
        ).all()
    document = _json(row.document)
    now = utcnow()
    timeline = []
    sale_order_link = None
    for e in event_rows:
        link = None
        odoo = _ODOO_EVENT.match(e.event_id)
        if odoo is not None:
            link = odoo_link(_odoo_endpoint(settings, e.partner), odoo.group(1), int(odoo.group(2)))
            if odoo.group(1) == "sale.order" and sale_order_link is None:
                sale_order_link = link
        event_data = _json(e.data)
        timeline.append(
            {
                "id": e.event_id,
                "partner": e.partner,
                "source": e.source,
                "type": e.type,
                "milestone": e.milestone,
                "occurred_at": e.occurred_at or e.time,
                "recorded_at": e.recorded_at,
                "outcome": e.outcome,
                "receipt_id": e.receipt_id,
                "correlation_id": e.correlation_id,
                "detail": _detail(event_data),
                "odoo_link": link,
            }
        )
    return {
        **reads.summary(row, document),
        "sale_order_link": sale_order_link,
        "odoo_url": odoo_base_url(settings),
        "flows": document.get("flows") if isinstance(document.get("flows"), dict) else {},
        "timeline": timeline,
        "commands": [
            {**{k: v for k, v in c._mapping.items() if k != "payload"}, "what": _what(c)}
            for c in command_rows
        ],
        "dead_letters": [
            {
                "command_id": d.command_id,
                "endpoint": d.endpoint,
                "kind": d.kind,
                "attempts": d.attempts,
                "last_error": d.last_error,
                "dead_at": d.dead_at,
            }
            for d in dead_rows
        ],
        "cases": [_case(c, now) for c in case_rows],
        "documents": [_document_row(d) for d in document_rows],
    }


def _document_row(d: Any) -> dict[str, Any]:
    """A document read as the shipment's, for its page: what, how sure, what is missing."""
    result = _json(d.result)
    return {
        "document_id": d.document_id,
        "partner": d.partner,
        "kind": d.kind,
        "status": d.status,
        "confidence": d.confidence,
        "received_at": d.received_at,
        "unread": result.get("unread", []) if isinstance(result, dict) else [],
        "file": f"/v1/documents/{d.document_id}/file",
    }


def event_data(store: Store, key: str) -> dict[str, str]:
    """Each event's stored CloudEvent by id, for the timeline's 'show the JSON' panes."""
    with store.read() as conn:
        rows = conn.execute(
            select(events.c.event_id, events.c.data)
            .where(events.c.subject == key)
            .order_by(events.c.seq)
            .limit(1000)
        ).all()
    return {r.event_id: r.data[:20_000] for r in rows}


def command_label(kind: str) -> str:
    """A command's kind in the canonical vocabulary: milestone notifications are written
    with kind `webhook`; workflow commands carry their CloudEvent type."""
    if kind == "webhook":
        return "milestone notification"
    return kind.removeprefix("intermodal.")


def _what(command: Any) -> str:
    """What a command says: its kind, and for a milestone notification which milestone."""
    label = command_label(command.kind)
    payload = _json(bytes(command.payload)[:65_536]) if command.payload else {}
    data = payload.get("data") if isinstance(payload, dict) else None
    if isinstance(data, dict) and isinstance(data.get("milestone"), str):
        return f"{label}: {data['milestone']}"
    return label


def _detail(data: Any) -> str:
    """A one-line summary of an event's data for the timeline (the full JSON is one click on)."""
    if isinstance(data, dict) and isinstance(data.get("data"), dict):
        data = data["data"]  # the stored event is the whole CloudEvent
    if not isinstance(data, dict):
        return ""
    parts = []
    for name in ("reason", "tracking_number", "state", "code", "amount", "currency"):
        value = data.get(name)
        if isinstance(value, str | int | float) and value != "":
            parts.append(f"{name}={value}")
    location = data.get("location")
    if isinstance(location, dict) and isinstance(location.get("city"), str):
        parts.append(f"at {location['city']}")
    return ", ".join(parts)[:300]


# -- cases -------------------------------------------------------------------------------
def _case(c: Any, now: datetime) -> dict[str, Any]:
    detail = _json(c.detail)
    data = detail.get("data") if isinstance(detail, dict) else None
    return {
        "document_url": data.get("document_url") if isinstance(data, dict) else None,
        "case_id": c.case_id,
        "subject": c.subject,
        "kind": c.kind,
        "team": c.team,
        "status": c.status,
        "reason": c.reason,
        "opened_at": c.opened_at,
        "closed_at": c.closed_at,
        "age": age(c.opened_at, now) if c.status == "open" else age(c.closed_at, now) + " ago",
        "detail": _json(c.detail),
        "final_kind": c.final_kind,
    }


@dataclass(frozen=True)
class CaseFilter:
    kind: str | None = None
    team: str | None = None
    status: str | None = "open"


def list_cases(store: Store, wanted: CaseFilter, limit: int = 200) -> dict[str, Any]:
    """Cases oldest first (the longest-waiting on top), with counts per kind and team."""
    where = []
    if wanted.kind:
        where.append(cases.c.kind == wanted.kind)
    if wanted.team:
        where.append(cases.c.team == wanted.team)
    if wanted.status:
        where.append(cases.c.status == wanted.status)
    now = utcnow()
    with store.read() as conn:
        rows = conn.execute(
            select(cases).where(*where).order_by(cases.c.opened_at, cases.c.seq).limit(limit)
        ).all()
        total = conn.execute(select(func.count()).select_from(cases).where(*where)).scalar_one()
        teams = [t for (t,) in conn.execute(select(cases.c.team).distinct().order_by(cases.c.team))]
        by_owner = conn.execute(
            select(cases.c.team, cases.c.kind, func.count(), func.min(cases.c.opened_at))
            .where(cases.c.status == "open")
            .group_by(cases.c.team, cases.c.kind)
            .order_by(cases.c.team, cases.c.kind)
        ).all()
    return {
        "items": [_case(c, now) for c in rows],
        "total": int(total),
        "teams": teams,
        "by_owner": [
            {"team": t, "kind": k, "count": int(n), "oldest": age(oldest, now)}
            for t, k, n, oldest in by_owner
        ],
    }


# -- reconciliation ----------------------------------------------------------------------
def reconciliation(store: Store, limit: int = 20) -> list[dict[str, Any]]:
    with store.read() as conn:
        rows = conn.execute(
            select(
                reconciliation_runs.c.run_id,
                reconciliation_runs.c.started_at,
                reconciliation_runs.c.finished_at,
                reconciliation_runs.c.status,
                reconciliation_runs.c.figures,
            )
            .order_by(reconciliation_runs.c.seq.desc())
            .limit(limit)
        ).all()
    return [{**dict(r._mapping), "figures": _figures(r.figures)} for r in rows]


def _figures(text: str) -> list[dict[str, Any]]:
    figures = _json(text)
    if not isinstance(figures, dict):
        return []
    rows = []
    for category, value in sorted(figures.items()):
        value = value if isinstance(value, dict) else {"count": value}
        rows.append(
            {
                "category": str(category),
                "count": value.get("count"),
                "value": value.get("value"),
                "currency": value.get("currency"),
            }
        )
    return rows


def reconciliation_run(store: Store, run_id: str) -> dict[str, Any] | None:
    with store.read() as conn:
        row = conn.execute(
            select(reconciliation_runs).where(reconciliation_runs.c.run_id == run_id)
        ).first()
    if row is None:
        return None
    report = _json(row.report)
    sections = []
    if isinstance(report, dict):
        for category, items in sorted(report.items()):
            items = items if isinstance(items, list) else [items]
            dicts = [i if isinstance(i, dict) else {"value": i} for i in items[:500]]
            columns = list(dict.fromkeys(k for d in dicts for k in d))[:12]
            sections.append(
                {
                    "category": str(category),
                    "total": len(items),
                    "columns": columns,
                    "rows": [[_cell(d.get(c)) for c in columns] for d in dicts],
                }
            )
    return {
        "run_id": row.run_id,
        "started_at": row.started_at,
        "finished_at": row.finished_at,
        "status": row.status,
        "figures": _figures(row.figures),
        "sections": sections,
    }


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str | int | float | bool):
        return str(value)
    return orjson.dumps(value).decode()[:200]


# -- partners ----------------------------------------------------------------------------
def partner_health(store: Store, settings: Settings) -> list[dict[str, Any]]:
    """Per partner: last message, messages per hour and day, rejected, and what its events
    turned out to be (late, duplicate, ownership violations). The hub's own messages are
    not a partner's and are left out."""
    now = utcnow()
    hour, day = _since(now, hours=1), _since(now, days=1)
    with store.read() as conn:
        messages = conn.execute(
            select(
                inbox.c.partner,
                func.max(inbox.c.received_at),
                func.count(),
                _count_if(inbox.c.status == "rejected"),
            ).group_by(inbox.c.partner)
        ).all()
        recent = conn.execute(
            select(
                inbox.c.partner,
                func.count(),
                _count_if(inbox.c.received_at >= hour),
            )
            .where(inbox.c.received_at >= day)
            .group_by(inbox.c.partner)
        ).all()
        outcomes = conn.execute(
            select(events.c.partner, events.c.outcome, func.count()).group_by(
                events.c.partner, events.c.outcome
            )
        ).all()
    by_partner: dict[str, dict[str, Any]] = {}

    def entry(name: str) -> dict[str, Any]:
        return by_partner.setdefault(
            name,
            {
                "partner": name,
                "kind": settings.partners[name].kind
                if name in settings.partners
                else "unconfigured",
                "last": None,
                "messages": 0,
                "rejected": 0,
                "day": 0,
                "hour": 0,
                **{o: 0 for o in OUTCOMES},
            },
        )

    for name in settings.partners:
        entry(name)
    for name, last, count, rejected in messages:
        e = entry(name)
        e.update(last=last, messages=int(count), rejected=int(rejected or 0))
    for name, count, in_hour in recent:
        entry(name).update(day=int(count), hour=int(in_hour or 0))
    for name, outcome, count in outcomes:
        if outcome in OUTCOMES:
            entry(name)[outcome] = int(count)
    result = []
    for e in sorted(by_partner.values(), key=lambda x: x["partner"]):
        if _is_hub_itself(e["partner"], settings):
            continue
        e["freshness"] = age(e["last"], now)
        applied_total = sum(e[o] for o in OUTCOMES)
        e["problem_rate"] = (
            f"{100 * (e['violation'] + e['late']) / applied_total:.1f}%" if applied_total else "-"
        )
        result.append(e)
    return result
