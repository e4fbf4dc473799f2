"""What the assists made of the day: positions, arrival times, early warnings, anomalies
and exception classification, read from where they ended up (the hub's store and its
/metrics), set beside what the script planted (the only figures taken from the script).
"""

from __future__ import annotations

import asyncio
import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
import orjson
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from intermodal.connectors.odoo.client import Connection, OdooClient
from intermodal.foresight import eta_model
from intermodal.security.secrets import Secret
from intermodal.store import Store
from intermodal.store.tables import (
    case_classifications,
    cases,
    documents,
    eta_outcomes,
    positions_latest,
)
from intermodal_sim.demo.day import Script, Tally
from intermodal_sim.demo.world import World


@dataclass
class Warning:
    key: str
    opened_at: datetime
    breach_at: datetime | None
    """When the SLA breach case opened (else None: the load was delivered in time)."""


@dataclass
class Assists:
    positions: Counter[str] = field(default_factory=Counter)
    """The telematics partner's fixes by outcome, from the hub's /metrics."""
    refused: Counter[str] = field(default_factory=Counter)
    tracked: int = 0
    """Shipments with a latest position."""
    track_points: int = 0
    outcomes: list[Any] = field(default_factory=list)
    """eta_outcomes rows."""
    model: dict[str, Any] | None = None
    """The newest eta_models row (without its model)."""
    warnings: list[Warning] = field(default_factory=list)
    anomalies: list[tuple[str, str, datetime]] = field(default_factory=list)
    """(detector, subject, opened at) of every anomaly case."""
    classified: list[tuple[str, str, str]] = field(default_factory=list)
    """(shipment, suggested kind, decided by) of the day's classified exception cases."""
    unclassified: int = 0
    documents: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    """(kind, method, status) -> documents."""
    invoices: Counter[str] = field(default_factory=Counter)
    """Invoices read: matched or disputed."""
    attachments: int = 0
    """Files attached to pickings in Odoo (the proofs of delivery)."""

    def lines(self, script: Script, tally: Tally) -> list[tuple[str, str]]:
        return [
            ("positions received", self._positions()),
            ("ETA error, first on the road", self._eta()),
            ("ETA model", self._model(tally)),
            ("predicted delays", self._warnings()),
            ("anomalies planted / found", self._planted(script, tally)),
            ("  others found", self._others(script, tally)),
            ("exceptions classified right", self._classified(tally)),
            ("documents read", self._documents(tally)),
            ("  invoices matched / disputed", self._invoices()),
        ]

    def _positions(self) -> str:
        received = sum(self.positions.values())
        if not received:
            return "none"
        kept = self.positions["latest"] + self.positions["tracked"]
        refused = ", ".join(f"{r} {n}" for r, n in sorted(self.refused.items()))
        return (
            f"{received:,} fixes: {kept:,} kept ({self.track_points:,} track points,"
            f" {self.tracked} loads), {self.positions['thinned']:,} thinned,"
            f" {self.positions['duplicate']:,} duplicates,"
            f" {self.positions['refused']} refused ({refused or 'none'})"
        )

    def _eta(self) -> str:
        rows = [r for r in self.outcomes if r.error_min is not None]
        if not rows:
            return "no load delivered after an ETA on the road"
        issued = statistics.fmean(r.error_min for r in rows)
        methods = Counter(r.first_method or "baseline" for r in rows)
        base = [r.baseline_error_min for r in rows if r.baseline_error_min is not None]
        baseline = f"{statistics.fmean(base):.2f} min" if base else "n/a"
        by = ", ".join(f"{m} {n}" for m, n in sorted(methods.items()))
        return (
            f"mean {issued:.2f} min as issued ({by}), baseline's {baseline},"
            f" over {len(rows)} deliveries"
        )

    def _model(self, tally: Tally) -> str:
        row = self.model
        if row is None:
            return "none trained"
        if row["model_mae_min"] is None:
            return f"v{row['version']} {row['status']}: {row['reason']}"
        trips = row["train_trips"] + row["held_out_trips"]
        how = tally.model or f"trained on {trips} trips"
        return (
            f"v{row['version']} {row['status']}: held-out MAE {row['model_mae_min']:.2f} min"
            f" vs the baseline's {row['baseline_mae_min']:.2f} min ({how})"
        )

    def _warnings(self) -> str:
        if not self.warnings:
            return "none opened"
        before = [w for w in self.warnings if w.breach_at and w.opened_at < w.breach_at]
        after = [w for w in self.warnings if w.breach_at and w.opened_at >= w.breach_at]
        in_time = [w for w in self.warnings if w.breach_at is None]
        text = f"{len(self.warnings)} opened: {len(before)} before their SLA breach"
        if before:
            leads = [
                (w.breach_at - w.opened_at).total_seconds() / 60 for w in before if w.breach_at
            ]
            text += f" (by {statistics.fmean(leads):.2f} min on average)"
        if after:
            text += f", {len(after)} after it"
        if in_time:
            text += f", {len(in_time)} on loads delivered in time"
        return text

    def _is_planted(self, finding: tuple[str, str, datetime], script: Script, tally: Tally) -> str:
        """Which planted anomaly a finding is (`quiet`, `dwell`, `burst`), or ''."""
        detector, subject, opened = finding
        if detector == "dwell" and subject in script.stalled:
            return "dwell"
        slack = timedelta(seconds=script.unit * 0.1)
        if detector == "quiet" and subject == "partner:tms" and "outage" in tally.windows:
            start, end = tally.windows["outage"]
            return "quiet" if start <= opened <= end + slack else ""
        if detector == "burst" and _storm_subject(subject) and tally.storm:
            start, end = tally.windows.get("storm", (opened, opened))
            return "burst" if start <= opened <= end + slack else ""
        return ""

    def _planted(self, script: Script, tally: Tally) -> str:
        found = {
            (kind, f[1]) for f in self.anomalies if (kind := self._is_planted(f, script, tally))
        }
        quiet = int(any(kind == "quiet" for kind, _ in found))
        dwells = sum(1 for kind, _ in found if kind == "dwell")
        burst = int(any(kind == "burst" for kind, _ in found))
        parts = [
            f"quiet TMS (the outage) 1/{quiet}",
            f"long dwells (stalled loads) {len(script.stalled)}/{dwells}",
            f"burst (the storm) 1/{burst}" if tally.storm else "no storm",
        ]
        return ", ".join(parts)

    def _others(self, script: Script, tally: Tally) -> str:
        others: dict[str, list[str]] = {}
        for finding in sorted(self.anomalies):
            if not self._is_planted(finding, script, tally):
                others.setdefault(finding[0], []).append(finding[1])
        parts = []
        for detector, subjects in others.items():
            named = list(dict.fromkeys(subjects))  # a subject found again after it cleared
            more = ", ..." if len(named) > 3 else ""
            parts.append(f"{detector} {len(subjects)} ({', '.join(named[:3])}{more})")
        return ", ".join(parts) or "none"

    def _classified(self, tally: Tally) -> str:
        judged = [(key, kind) for key, kind, _ in self.classified if key in tally.truth]
        if not judged:
            return "none classified"
        right = sum(1 for key, kind in judged if tally.truth[key] == kind)
        text = f"{right} of {len(judged)} ({right / len(judged):.0%})"
        if self.unclassified:
            text += f"; {self.unclassified} closed before a pass classified them"
        return text

    def _documents(self, tally: Tally) -> str:
        if not self.documents:
            return "none"
        parts = []
        for kind in ("pod", "invoice"):
            methods: Counter[str] = Counter()
            for (k, method, _), n in self.documents.items():
                if k == kind:
                    methods[_METHODS.get(method, method)] += n
            if methods:
                how = ", ".join(f"{m} {n}" for m, n in sorted(methods.items()))
                parts.append(f"{sum(methods.values())} {_KINDS[kind]} ({how})")
        statuses: Counter[str] = Counter()
        for (_, _, status), n in self.documents.items():
            statuses[status] += n
        sent = sum(tally.documents.values())
        states = ", ".join(f"{s} {n}" for s, n in sorted(statuses.items()))
        return (
            f"{'; '.join(parts)} of {sent} sent; {states};"
            f" {self.attachments} proofs attached to Odoo pickings"
        )

    def _invoices(self) -> str:
        if not self.invoices:
            return "no invoice read"
        return f"{self.invoices['matched']} / {self.invoices['disputed']}"


_METHODS = {"pdf_text": "PDF text", "ocr": "OCR", "pdf_ocr": "scanned PDF by OCR"}
_KINDS = {"pod": "proofs of delivery", "invoice": "invoices"}


def _storm_subject(subject: str) -> bool:
    """The storm's burst: on the drivers' app, or on a lane into Europe."""
    if subject == "partner:epod":
        return True
    return subject.startswith("lane:") and subject.rsplit(">", 1)[-1] in {"BE", "NL", "DE"}


def read_assists(world: World, store: Store) -> Assists:
    found = Assists()
    found.attachments = asyncio.run(_odoo_attachments(world))
    found.positions, found.refused = _position_metrics(world)
    kinds = set(world.settings.foresight.classify.kinds) if world.settings.foresight else set()
    with store.read() as conn:
        for row in conn.execute(select(positions_latest.c.track_points)):
            found.tracked += 1
            found.track_points += int(row.track_points or 0)
        found.outcomes = list(conn.execute(select(eta_outcomes)))
        for row in conn.execute(
            select(documents.c.kind, documents.c.method, documents.c.status, documents.c.result)
        ):
            found.documents[(row.kind or "unknown", row.method or "-", row.status)] += 1
            match = orjson.loads(row.result or "{}").get("match")
            if row.kind == "invoice" and isinstance(match, dict):
                found.invoices["disputed" if match.get("disputed") else "matched"] += 1
        newest = eta_model.versions(conn, limit=1)
        found.model = newest[0] if newest else None
        columns = ("case_id", "subject", "kind", "opened_at", "reason", "detail")
        rows = list(conn.execute(select(*(cases.c[c] for c in columns))))
        suggested = {
            r.case_id: (r.kind, r.decided_by)
            for r in conn.execute(
                select(
                    case_classifications.c.case_id,
                    case_classifications.c.kind,
                    case_classifications.c.decided_by,
                )
            )
        }
    breaches = {
        r.subject: datetime.fromisoformat(r.opened_at)
        for r in rows
        if r.kind == "sla_breach" and "delivered expected" in (r.reason or "")
    }
    for r in rows:
        if r.kind == "predicted_delay":
            opened = datetime.fromisoformat(r.opened_at)
            found.warnings.append(Warning(r.subject, opened, breaches.get(r.subject)))
        elif r.kind == "anomaly":
            detector = str(orjson.loads(r.detail or "{}").get("detector", "?"))
            found.anomalies.append((detector, r.subject, datetime.fromisoformat(r.opened_at)))
        elif r.kind in kinds:
            if r.case_id in suggested:
                kind, decided_by = suggested[r.case_id]
                found.classified.append((r.subject, kind, decided_by))
            else:
                found.unclassified += 1
    return found


def _position_metrics(world: World) -> tuple[Counter[str], Counter[str]]:
    """The hub's counts of the telematics partner's fixes, by outcome and refusal reason
    (they include the fixes refused before any shipment held them: `unassigned`)."""
    text = httpx.get(f"{world.hub_url}/metrics", timeout=10).text
    outcomes: Counter[str] = Counter()
    refused: Counter[str] = Counter()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.labels.get("partner") != "telematics" or not sample.name.endswith("_total"):
                continue
            if sample.name == "intermodal_positions_total":
                outcomes[sample.labels["outcome"]] += int(sample.value)
            elif sample.name == "intermodal_positions_refused_total":
                refused[sample.labels["reason"]] += int(sample.value)
    return outcomes, refused


async def _odoo_attachments(world: World) -> int:
    """Files attached to delivery pickings in Odoo: the proofs of delivery the hub sent."""
    async with httpx.AsyncClient(timeout=30) as http:
        odoo = world.odoo
        client = OdooClient(Connection(odoo.url, odoo.db, Secret(odoo.api_key)), http)
        found = await client.call(
            "ir.attachment",
            "search_read",
            domain=[["res_model", "=", "stock.picking"]],
            fields=["name"],
        )
    # a paper goes to each of the order's deliveries (a backorder too): count it once
    return len({row["name"] for row in found})
