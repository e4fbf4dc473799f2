"""The reader: each received document read, its fields turned into the partner's events.

Runs on the leader (hub.py, one reader for all nodes), off every request path. Per
document, oldest first:

1. **Read** the stored file in the reading process (documents_reading.py), within
   `documents.read_seconds` and `documents.memory_mb`. A file that cannot be read is
   marked `unreadable` (or `refused` when it is hostile) with the reason; its bytes stay
   in the inbox for a person. A document whose reading was interrupted three times (the
   hub stopped meanwhile) is marked unreadable rather than tried for ever.
2. **Extract** its kind and fields (documents.py), each with its confidence and what
   could not be read.
3. **Find its shipment** by each reference it names, best first: the shipment key, then
   a reference the shipment document holds (tracking number, order, picking, customer
   reference). None found: `unmatched`, nothing asserted.
4. **Assert what it says, through the spine**, in one transaction with the `documents`
   row: an inbox message from the partner (channel `document`, canonical CloudEvents,
   message id `read:<document>`), so the applier applies the fields like any other
   partner's events: `intermodal.pod.received` (ProofOfDelivery: when, who signed, the
   stored file's URL) or `intermodal.charge.recorded` per charge code, final. A reading
   below `documents.min_confidence`, or without the fields an event needs, asserts
   nothing (`incomplete`) and keeps what it read for a person.
5. **Match an invoice** with the shipment's quote (provisional charges) and the
   carrier's 210 (final charges over EDI), documents_matching.py, and tell the flows:
   an internal message (partner `intermodal`, channel `document.read`, written after
   the events) becomes the `document.read` trigger, on which
   workflows/flows/documents.yaml opens a billing_dispute case with the document linked
   when the invoice is over tolerance.
6. **Attach a POD to the Odoo picking**: `pod_attachment_command`, the one place that
   builds the `intermodal.odoo.attachment.create` command, enqueued to the odoo role.

Replays are safe: ids are stable (the document's), so a second reading of the same
document writes nothing new (inbox and outbox keys, a documents row already read).
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import Connection, and_, select, update

from intermodal.config import Settings
from intermodal.engine.ids import iso, stable_id, utcnow
from intermodal.engine.partitions import partition_of
from intermodal.foresight.documents import Extraction, extract
from intermodal.foresight.documents_matching import Amount, InvoiceMatch, Tolerance, match_invoice
from intermodal.foresight.documents_reading import (
    EXTENSIONS,
    Reading,
    ReadingProcess,
    ReadingStopped,
    UnreadableDocument,
    read_limits,
)
from intermodal.outbox.command import OutboundCommand, enqueue
from intermodal.store import Store
from intermodal.store.tables import documents, events, inbox, shipments
from intermodal.workflows.timers import DOCUMENT_READ_CHANNEL, TIMER_PARTNER

log = logging.getLogger(__name__)

ATTACHMENT_COMMAND = "intermodal.odoo.attachment.create"
MAX_ATTEMPTS = 3
_BATCH = 20


def document_url(document_id: str) -> str:
    """Where an authenticated reader (an operator's tower session, the admin token) gets
    the stored file (api/documents.py)."""
    return f"/v1/documents/{document_id}/file"


class DocumentReader:
    """Reads received documents (module docstring); `read_pending` is one pass."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        reading: Callable[[bytes, str], Reading],
        on_written: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.reading = reading
        self.on_written = on_written
        config = settings.documents
        self.tolerance = Tolerance.of(
            config.invoice_tolerance.absolute, config.invoice_tolerance.percent
        )
        self.read = 0

    # -- the loop -------------------------------------------------------------------------
    def read_pending(self) -> int:
        """Read every document still `received`, oldest first; how many were handled."""
        handled = 0
        while True:
            with self.store.read() as conn:
                rows = conn.execute(
                    select(documents)
                    .where(documents.c.status == "received")
                    .order_by(documents.c.seq)
                    .limit(_BATCH)
                ).all()
            if not rows:
                return handled
            for row in rows:
                self.read_one(row)
                handled += 1

    def read_one(self, row: Any) -> str:
        """Read one document row; returns the status it ended in."""
        attempts = self._claim(row.document_id)
        if attempts is None:
            return "taken"  # read meanwhile (another leader, a replay)
        if attempts > MAX_ATTEMPTS:
            return self._fail(
                row, f"reading was interrupted {MAX_ATTEMPTS} times; not tried again", "unreadable"
            )
        with self.store.read() as conn:
            body = conn.execute(
                select(inbox.c.body).where(inbox.c.receipt_id == row.receipt_id)
            ).scalar()
        if body is None:
            return self._fail(row, "the stored file is missing from the inbox", "unreadable")
        try:
            reading = self.reading(bytes(body), row.content_type)
        except ReadingStopped:
            return "received"  # the hub is stopping: read on the next start
        except UnreadableDocument as exc:
            log.warning(
                "document %s of partner %s not read: %s",
                row.document_id,
                row.partner,
                exc,
                extra={"correlation_id": row.correlation_id, "partner": row.partner},
            )
            return self._fail(row, str(exc), exc.status)
        extraction = extract(reading.lines, row.kind)
        status = self._write(row, reading, extraction, bytes(body))
        self.read += 1
        if self.on_written is not None:
            self.on_written()
        log.info(
            "document %s read: %s %s (confidence %.2f)",
            row.document_id,
            extraction.kind,
            status,
            extraction.confidence,
            extra={"correlation_id": row.correlation_id, "partner": row.partner},
        )
        return status

    async def run(self, poll_seconds: float) -> None:
        """Read what arrives, every `poll_seconds`, until cancelled."""
        while True:
            try:
                await asyncio.to_thread(self.read_pending)
            except Exception:
                log.exception("reading documents failed; next try in %ss", poll_seconds)
            await asyncio.sleep(poll_seconds)

    # -- rows -------------------------------------------------------------------------------
    def _claim(self, document_id: str) -> int | None:
        with self.store.write() as conn:
            claimed = conn.execute(
                update(documents)
                .where(documents.c.document_id == document_id, documents.c.status == "received")
                .values(attempts=documents.c.attempts + 1)
                .returning(documents.c.attempts)
            ).first()
        return None if claimed is None else int(claimed.attempts)

    def _fail(self, row: Any, error: str, status: str) -> str:
        with self.store.write() as conn:
            conn.execute(
                update(documents)
                .where(documents.c.document_id == row.document_id, documents.c.status == "received")
                .values(status=status, error=error[:2000], read_at=iso(utcnow()))
            )
        return status

    def _write(self, row: Any, reading: Reading, extraction: Extraction, body: bytes) -> str:
        """Everything a reading causes, in one transaction (module docstring, 3 to 6)."""
        now = utcnow()
        result: dict[str, Any] = {
            **extraction.to_dict(),
            "reading": {
                "method": reading.method,
                "pages": reading.pages,
                "pages_read": reading.pages_read,
                "problems": reading.problems,
                "lines": len(reading.lines),
            },
        }
        with self.store.write() as conn:
            current = conn.execute(
                select(documents.c.status).where(documents.c.document_id == row.document_id)
            ).scalar()
            if current != "received":
                return str(current)
            found = find_shipment(conn, [r.value for r in extraction.references])
            status: str = "unmatched"
            key: str | None = None
            events_out: list[dict[str, Any]] = []
            match: InvoiceMatch | None = None
            if found is not None:
                key, matched_by = found
                result["shipment"] = {"key": key, "matched_by": matched_by}
                status, events_out, why = self._events(row, extraction, key, now)
                if why:
                    result["not_asserted"] = why
                if extraction.kind == "invoice" and status == "read":
                    match = self._match(conn, extraction, key)
                    result["match"] = match.to_dict()
                self._enqueue_messages(conn, row, key, extraction, events_out, match, now)
                if extraction.kind == "pod":
                    command = self._attachment(conn, row, key, body, now)
                    if command is not None:
                        enqueue(conn, [command])
                        result["odoo_attachment"] = command.command_id
            else:
                result["not_asserted"] = "no shipment has any reference this document names"
            result["events"] = [e["id"] for e in events_out]
            conn.execute(
                update(documents)
                .where(documents.c.document_id == row.document_id)
                .values(
                    status=status,
                    kind=extraction.kind,
                    method=reading.method,
                    confidence=extraction.confidence,
                    shipment_key=key,
                    read_at=iso(now),
                    read_seconds=round(reading.seconds, 3),
                    result=orjson.dumps(result).decode(),
                    error=None,
                )
            )
        return status

    # -- events -----------------------------------------------------------------------------
    def _events(
        self, row: Any, extraction: Extraction, key: str, now: datetime
    ) -> tuple[str, list[dict[str, Any]], str]:
        """The canonical events the reading asserts, and its status; with the reason when
        it asserts nothing."""
        minimum = self.settings.documents.min_confidence
        if extraction.kind == "unknown":
            return "incomplete", [], "neither a proof of delivery nor an invoice"
        if extraction.confidence < minimum:
            return (
                "incomplete",
                [],
                f"confidence {extraction.confidence:.2f} is below documents.min_confidence"
                f" {minimum:g}",
            )
        source = f"/documents/{row.partner}"
        url = document_url(row.document_id)
        base = {
            "specversion": "1.0",
            "source": source,
            "subject": key,
            "datacontenttype": "application/json",
            "documentid": row.document_id,
        }
        fields = extraction.fields
        if extraction.kind == "pod":
            if "delivered_at" not in fields:
                return "incomplete", [], "no delivery time was read"
            pod: dict[str, Any] = {
                "delivered_at": fields["delivered_at"].value,
                "document_url": url,
            }
            if "signed_by" in fields:
                pod["signed_by"] = fields["signed_by"].value[:256]
            pod["note"] = (
                f"read from the partner's document ({_method(row)}, confidence"
                f" {extraction.confidence:.2f})"
            )
            event = {
                **base,
                "id": f"doc:{row.document_id}:pod",
                "type": "intermodal.pod.received",
                "time": fields["delivered_at"].value,
                "data": pod,
            }
            return "read", [event], ""
        if "currency" not in fields or not extraction.lines:
            return "incomplete", [], "no currency or no charge lines were read"
        number = fields.get("invoice_number")
        date = fields.get("invoice_date")
        time = f"{date.value}T00:00:00Z" if date is not None else iso(now)
        out = []
        for line in extraction.lines:
            label = f"invoice {number.value}: " if number is not None else "invoice: "
            out.append(
                {
                    **base,
                    "id": f"doc:{row.document_id}:charge:{line.code}",
                    "type": "intermodal.charge.recorded",
                    "time": time,
                    "data": {
                        "code": line.code,
                        "kind": line.kind,
                        "description": (label + line.description)[:256],
                        "amount": {
                            "amount": str(line.amount),
                            "currency": fields["currency"].value,
                        },
                        "status": "final",
                        "document_url": url,
                    },
                }
            )
        return "read", out, ""

    def _enqueue_messages(
        self,
        conn: Connection,
        row: Any,
        key: str,
        extraction: Extraction,
        events_out: list[dict[str, Any]],
        match: InvoiceMatch | None,
        now: datetime,
    ) -> None:
        """The events, as the partner's inbox message, then the flows' `document.read`
        (the applier runs the hub's own triggers after a batch's events anyway).

        One open case per kind: when the billing flow's own check (a final freight charge
        above the quote) opened a billing_dispute on the invoice's charge first, that case
        links the document too, through the charge's `document_url`."""
        insert = self.store.insert_ignoring(inbox, ["partner", "message_id"])
        partition = partition_of(key, self.settings.hub.partitions)
        message_id = f"read:{row.document_id}"
        if events_out:
            conn.execute(
                insert.values(
                    receipt_id=stable_id("rcpt", row.partner, message_id)[:40],
                    partner=row.partner,
                    message_id=message_id,
                    channel="document",
                    content_type="application/json",
                    body=orjson.dumps(events_out),
                    correlation_id=row.correlation_id,
                    # received with the file: reading it is the hub's work, not the
                    # partner's traffic (foresight/anomalies.py judges a partner's quiet
                    # by when its messages came)
                    received_at=row.received_at,
                    status="pending",
                    partition=partition,
                )
            )
        number = extraction.fields.get("invoice_number")
        data: dict[str, Any] = {
            "kind": extraction.kind,
            "document_id": row.document_id,
            "document_url": document_url(row.document_id),
            "confidence": extraction.confidence,
            "asserted": bool(events_out),
        }
        if number is not None:
            data["invoice_number"] = number.value
        if match is not None:
            data["disputed"] = match.disputed
            if match.disputed:
                data["reason"] = match.reason(number.value if number else None)
                data["differences"] = [c.to_dict() for c in match.mismatches][:10]
        body = {
            "subject": key,
            "partner": row.partner,
            "document_id": row.document_id,
            "read_at": iso(now),
            "data": data,
        }
        conn.execute(
            insert.values(
                receipt_id=stable_id("rcpt", TIMER_PARTNER, message_id)[:40],
                partner=TIMER_PARTNER,
                message_id=message_id,
                channel=DOCUMENT_READ_CHANNEL,
                content_type="application/json",
                body=orjson.dumps(body),
                correlation_id=row.correlation_id,
                received_at=iso(now),
                status="pending",
                partition=partition,
            )
        )

    # -- matching ---------------------------------------------------------------------------
    def _match(self, conn: Connection, extraction: Extraction, key: str) -> InvoiceMatch:
        quote, edi_210 = shipment_charges(conn, key)
        fields = extraction.fields
        currency = fields["currency"].value
        lines: dict[str, Decimal] = {c.code: c.amount for c in extraction.lines}
        total = (
            Decimal(fields["total"].value) if "total" in fields else sum(lines.values(), Decimal(0))
        )
        return match_invoice(lines, total, currency, quote, edi_210, self.tolerance)

    # -- Odoo -------------------------------------------------------------------------------
    def _attachment(
        self, conn: Connection, row: Any, key: str, body: bytes, now: datetime
    ) -> OutboundCommand | None:
        workflows = self.settings.workflows
        odoo = workflows.roles.odoo if workflows is not None else None
        if odoo is None:
            return None
        document = conn.execute(select(shipments.c.document).where(shipments.c.key == key)).scalar()
        references = ((orjson.loads(document or "{}").get("shipment") or {}).get("data") or {}).get(
            "references"
        ) or {}
        # Without the picking's name the connector attaches the file to every outgoing
        # delivery of the shipment's order (mappings/ir_attachment.py `attachment_target`).
        picking = references.get("odoo_picking") or None
        name = row.filename or f"POD-{key}{EXTENSIONS.get(row.content_type, '')}"
        return pod_attachment_command(
            odoo, key, picking, name, row.content_type, body, row.document_id,
            row.correlation_id, iso(now),
        )  # fmt: skip


def pod_attachment_command(
    endpoint: str,
    key: str,
    picking: str | None,
    name: str,
    mimetype: str,
    content: bytes,
    document_id: str,
    correlation_id: str,
    now: str,
) -> OutboundCommand:
    """The POD file as an attachment on the Odoo picking (`ir.attachment` with
    res_model `stock.picking`): the one place this command is built. The Odoo connector
    resolves `reference` (the picking's name) to its id, or without one the outgoing
    deliveries of the shipment's order, and creates the attachment."""
    command_id = stable_id("cmd", "documents", "pod_attachment", document_id)
    envelope = {
        "specversion": "1.0",
        "id": command_id,
        "source": "intermodal",
        "type": ATTACHMENT_COMMAND,
        "subject": key,
        "time": now,
        "datacontenttype": "application/json",
        "data": {
            "model": "stock.picking",
            **({"reference": picking} if picking else {}),
            "name": name,
            "mimetype": mimetype,
            "content_base64": base64.b64encode(content).decode("ascii"),
        },
        "causationid": f"doc:{document_id}",
    }
    return OutboundCommand(
        command_id, endpoint, ATTACHMENT_COMMAND, key, orjson.dumps(envelope), correlation_id, now
    )


# -- reading the store --------------------------------------------------------------------
def _like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _names(references: dict[str, Any]) -> set[str]:
    names: set[str] = set()
    for value in references.values():
        if isinstance(value, str):
            names.add(value)
        elif isinstance(value, list):
            names.update(v for v in value if isinstance(v, str))
    return names


def find_shipment(conn: Connection, candidates: list[str]) -> tuple[str, str] | None:
    """The shipment a document names, and by what: its key, or a reference it holds
    (tracking number, order, picking, customer reference), tried in the candidates' order;
    each also in upper case, as OCR may read `SHp-1` for `SHP-1`."""
    for candidate in candidates:
        for name in dict.fromkeys((candidate, candidate.upper())):
            if conn.execute(select(shipments.c.key).where(shipments.c.key == name)).first():
                return name, "key"
            quoted = orjson.dumps(name).decode()
            rows = conn.execute(
                select(shipments.c.key, shipments.c.document)
                .where(shipments.c.document.like("%" + _like(quoted) + "%", escape="\\"))
                .limit(20)
            ).all()
            for found in rows:
                data = (orjson.loads(found.document).get("shipment") or {}).get("data") or {}
                references = data.get("references") or {}
                if name in _names(references):
                    kind = next(
                        k
                        for k, v in references.items()
                        if v == name or (isinstance(v, list) and name in v)
                    )
                    return found.key, kind
    return None


def shipment_charges(conn: Connection, key: str) -> tuple[dict[str, Amount], dict[str, Amount]]:
    """A shipment's quote (the newest provisional charge per code) and the carrier's 210
    (the newest final charge per code that came over EDI), from its applied events; the
    documents' own charges are neither."""
    rows = conn.execute(
        select(events.c.data, events.c.time, inbox.c.channel)
        .select_from(events.join(inbox, inbox.c.seq == events.c.inbox_seq))
        .where(
            and_(
                events.c.subject == key,
                events.c.type == "intermodal.charge.recorded",
                events.c.outcome.in_(("applied", "late")),
            )
        )
        .order_by(events.c.time, events.c.seq)
    ).all()
    quote: dict[str, Amount] = {}
    edi_210: dict[str, Amount] = {}
    for r in rows:
        item = orjson.loads(r.data)
        data = item.get("data") if isinstance(item.get("data"), dict) else item
        try:
            code, status = str(data["code"]), str(data["status"])
            amount = Amount(Decimal(str(data["amount"]["amount"])), str(data["amount"]["currency"]))
        except (KeyError, TypeError, ValueError, ArithmeticError):
            continue
        if status == "provisional":
            quote[code] = amount
        elif status == "final" and r.channel == "edi":
            edi_210[code] = amount
    return quote, edi_210


def _method(row: Any) -> str:
    return "PDF" if row.content_type == "application/pdf" else "scan"


def reading_process(settings: Settings) -> ReadingProcess:
    return ReadingProcess(read_limits(settings))


__all__ = [
    "ATTACHMENT_COMMAND",
    "DocumentReader",
    "document_url",
    "find_shipment",
    "pod_attachment_command",
    "reading_process",
    "shipment_charges",
]
