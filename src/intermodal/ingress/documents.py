"""Documents in: `POST /v1/documents/{partner}` and each partner's watched folder.

A carrier's proof of delivery (a PDF or a photo) or freight invoice (a PDF) arrives as
the raw file, authenticated like the partner's other uploads (a Standard Webhooks
signature, or its bearer token with `events:write`; api/http.py `authenticate_partner`),
and only from a partner configured with a `documents` section.

1. **At the door** (foresight/documents_reading.py `check_document`): the size
   (`documents.max_bytes`, 413), what the bytes are (PDF, PNG, JPEG, TIFF; anything else
   415, and a Content-Type that disagrees with the bytes 415 too), an image's declared
   dimensions (`documents.max_pixels`, 413), a PDF's end marker and plain JavaScript
   (422). A refused file is not stored: the sender still has it and the answer says why.
2. **Stored before the answer.** The file becomes an inbox row (channel `document`, the
   raw bytes) and a `documents` row (status `received`) in one transaction, keyed by the
   sender's id for it (`webhook-id` when signed, else an `Idempotency-Key` header, else
   the file's SHA-256): the same file again is answered 200 with the first receipt, the
   same id with other bytes 409. The answer, 202, comes only after the commit.
3. **Read later.** The inbox row is stored as applied: the file itself carries no events.
   The reader (foresight/documents_reader.py) reads it off the request path, within its
   time budget, and what it reads enters the spine as the partner's events.

The folder watcher takes a partner's files the same way (`documents.inbox_folder`), and,
like the EDI folder, moves each to `processed/` once stored or to `rejected/` with a
`.error.txt` naming the problem. Nothing is deleted: a refused file stays there.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select

from intermodal.api.errors import ApiError
from intermodal.api.http import (
    NO_PARTNER_KEYS,
    authenticate_partner,
    correlation_id,
    hub_of,
    read_body,
    settings_of,
    store_unavailable,
)
from intermodal.config import Partner, Settings
from intermodal.engine.ids import iso, sortable_id, utcnow
from intermodal.foresight.documents_reading import (
    EXTENSIONS,
    DocumentRefused,
    check_document,
    read_limits,
)
from intermodal.ingress.edi import move_into
from intermodal.store import Store
from intermodal.store.tables import documents, inbox

if TYPE_CHECKING:
    from intermodal.hub import Hub

log = logging.getLogger(__name__)

CHANNEL = "document"
KIND_HEADER = "x-document-kind"
FILENAME_HEADER = "x-document-filename"
_FILENAME = re.compile(r"[^A-Za-z0-9._ ()-]")
_ID = re.compile(r"[A-Za-z0-9._:/@+=-]{1,200}")

router = APIRouter(tags=["documents"])


@dataclass(frozen=True, slots=True)
class IncomingDocument:
    partner: str
    message_id: str
    content_type: str
    body: bytes
    correlation_id: str
    filename: str | None
    kind_hint: str | None


@dataclass(frozen=True, slots=True)
class StoredDocument:
    document_id: str
    receipt_id: str
    received_at: str
    duplicate: bool
    conflict: bool = False


def store_document(store: Store, doc: IncomingDocument) -> StoredDocument:
    """The file as an inbox row and its `documents` row, in one transaction; a message id
    already stored is answered with its first receipt (same bytes) or as a conflict."""
    digest = hashlib.sha256(doc.body).hexdigest()
    now = iso(utcnow())
    with store.write() as conn:
        same = (inbox.c.body == doc.body).label("same")
        stored = select(inbox.c.receipt_id, inbox.c.received_at, same).where(
            inbox.c.partner == doc.partner, inbox.c.message_id == doc.message_id
        )
        found = conn.execute(stored).first()
        if found is None:
            receipt_id = sortable_id("rcpt")
            inserted = conn.execute(
                store.insert_ignoring(inbox, ["partner", "message_id"])
                .values(
                    receipt_id=receipt_id,
                    partner=doc.partner,
                    message_id=doc.message_id,
                    channel=CHANNEL,
                    content_type=doc.content_type,
                    body=doc.body,
                    correlation_id=doc.correlation_id,
                    received_at=now,
                    # The file carries no events of its own: the reader's events do.
                    status="applied",
                    processed_at=now,
                )
                .returning(inbox.c.seq)
            ).first()
            if inserted is not None:
                document_id = sortable_id("doc")
                conn.execute(
                    documents.insert().values(
                        document_id=document_id,
                        partner=doc.partner,
                        receipt_id=receipt_id,
                        message_id=doc.message_id,
                        filename=doc.filename,
                        content_type=doc.content_type,
                        size_bytes=len(doc.body),
                        sha256=digest,
                        received_at=now,
                        correlation_id=doc.correlation_id,
                        status="received",
                        kind=doc.kind_hint,
                    )
                )
                return StoredDocument(document_id, receipt_id, now, False)
            found = conn.execute(stored).one()  # stored meanwhile by another request
        if not found.same:
            return StoredDocument("", found.receipt_id, found.received_at, True, conflict=True)
        first = conn.execute(
            select(documents.c.document_id).where(documents.c.receipt_id == found.receipt_id)
        ).scalar()
        return StoredDocument(str(first or ""), found.receipt_id, found.received_at, True)


def _filename(value: str | None) -> str | None:
    """A file name to keep: its last path part, in safe characters, at most 200 long."""
    if not value:
        return None
    name = value.replace("\\", "/").rsplit("/", 1)[-1].strip()
    name = _FILENAME.sub("_", name)[:200].strip(" .")
    return name or None


def _disposition_filename(value: str | None) -> str | None:
    if not value:
        return None
    found = re.search(r'filename\*?=(?:UTF-8\'\')?"?([^";]+)"?', value, re.IGNORECASE)
    return found.group(1) if found else None


def kind_hint(value: str | None) -> str | None:
    """The sender's `x-document-kind` (pod or invoice); anything else is a 422."""
    if value is None or not value.strip():
        return None
    kind = value.strip().lower()
    if kind in ("pod", "proof_of_delivery", "proof-of-delivery"):
        return "pod"
    if kind in ("invoice", "freight_invoice", "freight-invoice"):
        return "invoice"
    raise ApiError(422, "invalid_kind", f"{KIND_HEADER} must be pod or invoice, not '{value[:40]}'")


def message_id_of(headers: Any, body: bytes) -> str:
    """The sender's id for this file: `webhook-id` (signed), `Idempotency-Key`, or the
    file's SHA-256 (so the same file posted twice is one document)."""
    for name in ("webhook-id", "idempotency-key"):
        given = headers.get(name)
        if isinstance(given, str) and given:
            if not _ID.fullmatch(given):
                raise ApiError(
                    400, "bad_request", f"{name} must be 1 to 200 letters, digits or ._:/@+=-"
                )
            return given
    return "sha256:" + hashlib.sha256(body).hexdigest()


def _document_links(document_id: str) -> dict[str, str]:
    return {"self": f"/v1/documents/{document_id}", "file": f"/v1/documents/{document_id}/file"}


@router.post(
    "/v1/documents/{partner}",
    status_code=202,
    summary="Receive a proof of delivery or a freight invoice (PDF, PNG, JPEG or TIFF)",
    responses={
        200: {"description": "this file (or this id) was received before: the first receipt"},
        409: {"description": "this id was already used for a different file"},
        413: {"description": "the file, or the image it declares, is too large"},
        415: {"description": "not a PDF, PNG, JPEG or TIFF by its bytes, or not what it says"},
        422: {"description": "a broken or hostile file (truncated, JavaScript), named"},
    },
)
async def receive_document(partner: str, request: Request) -> Response:
    settings = settings_of(request)
    started = time.perf_counter()
    body = await read_body(request, settings.documents.max_bytes)
    config = settings.partners.get(partner)
    # A name that sends no documents goes through the same checks: the answer does not
    # tell which names exist (as for EDI).
    keys = (config.webhook_keys if config is not None else ()) or NO_PARTNER_KEYS
    authenticate_partner(request, "documents", partner, keys, body)
    if config is None or config.documents is None:
        raise ApiError(404, "unknown_partner", f"partner '{partner}' does not send documents")
    hub = hub_of(request)
    request.app.state.rate_limits.check(partner, CHANNEL, hub.metrics)
    corr = correlation_id(request.headers)
    headers = request.headers
    try:
        declared = headers.get("content-type")
        content_type = check_document(body, declared, read_limits(settings))
    except DocumentRefused as exc:
        hub.metrics.ingress.labels(partner, CHANNEL, "rejected").inc()
        raise ApiError(exc.status, exc.code, str(exc), headers={"x-correlation-id": corr}) from None
    doc = IncomingDocument(
        partner,
        message_id_of(headers, body),
        content_type,
        body,
        corr,
        _filename(headers.get(FILENAME_HEADER))
        or _filename(_disposition_filename(headers.get("content-disposition"))),
        kind_hint(headers.get(KIND_HEADER)),
    )
    try:
        stored = await asyncio.to_thread(store_document, hub.store, doc)
    except Exception:
        log.exception("storing a document of partner %s failed", partner)
        raise store_unavailable() from None
    if stored.conflict:
        hub.metrics.ingress.labels(partner, CHANNEL, "conflict").inc()
        raise ApiError(
            409,
            "conflict",
            f"this id was already used for a different file (receipt {stored.receipt_id})",
            headers={"x-correlation-id": corr},
        )
    result = "duplicate" if stored.duplicate else "accepted"
    hub.metrics.received(partner, CHANNEL, result, time.perf_counter() - started)
    log.info(
        "document %s",
        result,
        extra={"partner": partner, "correlation_id": corr, "receipt_id": stored.receipt_id},
    )
    return JSONResponse(
        {
            "document_id": stored.document_id,
            "receipt_id": stored.receipt_id,
            "received_at": stored.received_at,
            "duplicate": stored.duplicate,
            "content_type": content_type,
            "size_bytes": len(body),
            "links": _document_links(stored.document_id),
            "correlation_id": corr,
        },
        status_code=200 if stored.duplicate else 202,
        headers={"x-correlation-id": corr},
    )


# -- the watched folder ----------------------------------------------------------------------
_SKIP_SUFFIXES = (".tmp", ".part", ".partial", ".filepart", ".error.txt")


def _guess_type(path: Path) -> str | None:
    """What a file's name says it is, for the same agreement check as a Content-Type."""
    suffix = path.suffix.lower()
    for content_type, extension in EXTENSIONS.items():
        if suffix == extension or (suffix, extension) in ((".jpeg", ".jpg"), (".tiff", ".tif")):
            return content_type
    return None


def scan_document_folder(store: Store, settings: Settings, partner: Partner, folder: Path) -> int:
    """One pass over a partner's document folder: each finished file stored and moved to
    `processed/`, or moved to `rejected/` with why; a store outage leaves the file for the
    next pass. Returns how many files were handled."""
    limits = read_limits(settings)
    handled = 0
    try:
        names = sorted(p for p in folder.iterdir() if p.is_file())
    except OSError:
        return 0
    for path in names:
        if path.name.startswith(".") or path.name.lower().endswith(_SKIP_SUFFIXES):
            continue
        try:
            size = path.stat().st_size
            if size > limits.max_bytes:  # never read a huge file into memory
                raise DocumentRefused(
                    413, "payload_too_large",
                    f"the document is {size} bytes; at most {limits.max_bytes} are taken",
                )  # fmt: skip
            body = path.read_bytes()
            content_type = check_document(body, _guess_type(path), limits)
        except OSError:
            continue  # vanished or unreadable meanwhile: the next pass sees
        except DocumentRefused as exc:
            move_into(path, folder / "rejected", (".error.txt", f"{path.name}: {exc}"))
            log.warning("document file of partner %s rejected: %s", partner.name, exc)
            handled += 1
            continue
        doc = IncomingDocument(
            partner.name,
            "sha256:" + hashlib.sha256(body).hexdigest(),
            content_type,
            body,
            sortable_id("corr"),
            _filename(path.name),
            None,
        )
        try:
            store_document(store, doc)
        except Exception:
            log.exception("document file %s could not be stored; retrying on the next pass", path)
            return handled
        move_into(path, folder / "processed")
        handled += 1
    return handled


async def watch_document_folder(hub: Hub, partner: Partner) -> None:
    """Scan the partner's document folder every `documents.poll_seconds`, forever."""
    assert partner.documents is not None and partner.documents_folder is not None
    folder = partner.documents_folder
    folder.mkdir(parents=True, exist_ok=True)
    while True:
        try:
            await asyncio.to_thread(scan_document_folder, hub.store, hub.settings, partner, folder)
        except Exception:
            log.exception("scanning the document folder of partner %s failed", partner.name)
        await asyncio.sleep(partner.documents.poll_seconds)


__all__ = [
    "CHANNEL",
    "IncomingDocument",
    "StoredDocument",
    "router",
    "scan_document_folder",
    "store_document",
    "watch_document_folder",
]
