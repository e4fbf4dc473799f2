"""Reconciliation reports as files: JSON (figures and rows per category) and CSV (one row per
finding, the category in the first column, so a spreadsheet filters by it)."""

from __future__ import annotations

import csv
import io
from typing import Any

import orjson

from intermodal.workflows.reconcile.checks import CATEGORIES
from intermodal.workflows.reconcile.run import Run

CSV_COLUMNS = (
    "category", "shipment", "code", "partner", "amount", "currency", "provisional_amount",
    "final_amount", "difference", "difference_percent", "tolerance_percent", "delivered_at",
    "age_days", "invoice_status", "state", "final_at",
)  # fmt: skip


def as_json(run: Run) -> bytes:
    body: dict[str, Any] = {
        "run_id": run.run_id,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "currency": run.report.currency,
        "figures": run.report.figures,
        "rows": run.report.rows,
    }
    return orjson.dumps(body, option=orjson.OPT_INDENT_2) + b"\n"


def as_csv(run: Run) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for category in CATEGORIES:
        for row in run.report.rows[category]:
            writer.writerow({"category": category, **row})
    return out.getvalue().encode()
