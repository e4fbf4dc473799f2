"""How charges merge into a shipment's document: the carrier's final invoice replaces the
quote whatever their times, the quote stays beside it, and nothing provisional replaces a
final charge."""

from __future__ import annotations

from typing import Any

from intermodal.canonical.events import parse_event
from intermodal.engine.applier import _merge_document
from intermodal.engine.apply import EventOutcome


def charge(status: str, amount: str, time: str) -> Any:
    return parse_event(
        {
            "specversion": "1.0",
            "id": f"c-{status}-{amount}-{time}",
            "source": "carrier",
            "type": "intermodal.charge.recorded",
            "subject": "S-1",
            "time": time,
            "data": {
                "code": "freight",
                "kind": "freight",
                "amount": {"amount": amount, "currency": "USD"},
                "status": status,
            },
        }
    )


def test_a_final_invoice_dated_before_the_quote_still_replaces_it() -> None:
    doc: dict[str, Any] = {}
    assert _merge_document(doc, charge("provisional", "100.00", "2026-11-30T15:00:00Z")) is (
        EventOutcome.APPLIED
    )
    # the 210 is dated by day: midnight, hours before the quote's second
    final = charge("final", "107.00", "2026-11-30T00:00:00Z")
    assert _merge_document(doc, final) is EventOutcome.APPLIED
    slot = doc["charges"]["freight"]
    assert slot["data"]["status"] == "final"
    assert slot["data"]["amount"]["amount"] == "107.00"
    assert slot["provisional"]["amount"]["amount"] == "100.00"


def test_nothing_provisional_replaces_a_final_charge_and_newer_finals_keep_the_quote() -> None:
    doc: dict[str, Any] = {}
    _merge_document(doc, charge("provisional", "100.00", "2026-11-30T15:00:00Z"))
    _merge_document(doc, charge("final", "107.00", "2026-11-30T16:00:00Z"))
    late_quote = charge("provisional", "90.00", "2026-11-30T17:00:00Z")
    assert _merge_document(doc, late_quote) is EventOutcome.LATE
    older_final = charge("final", "105.00", "2026-11-30T15:30:00Z")
    assert _merge_document(doc, older_final) is EventOutcome.LATE
    corrected = charge("final", "104.00", "2026-11-30T18:00:00Z")
    assert _merge_document(doc, corrected) is EventOutcome.APPLIED
    slot = doc["charges"]["freight"]
    assert slot["data"]["amount"]["amount"] == "104.00"
    assert slot["provisional"]["amount"]["amount"] == "100.00"
