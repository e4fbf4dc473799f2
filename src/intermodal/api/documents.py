"""Reads of received documents: what was read from one, the file itself, a shipment's list.

Operators (a control-tower session, the admin token) read every document; a partner's
token with `shipments:read` or `events:write` reads the documents that partner sent, as
with its receipts. Anything else, like an id that does not exist, is a 404.

The file is served as an attachment, never inline, with `nosniff` and a sandboxing CSP:
it is a partner's upload, and a PDF or image must not run or be taken for a page.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select

from intermodal.api.errors import ApiError
from intermodal.api.http import Reader, hub_of, reader
from intermodal.config import READ_SCOPE, WRITE_SCOPE
from intermodal.foresight.documents_reading import EXTENSIONS
from intermodal.store import Store
from intermodal.store.tables import documents, inbox

router = APIRouter(tags=["documents"])

DOCUMENT_SCOPES = frozenset({READ_SCOPE, WRITE_SCOPE})

_READ_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "no credentials, or a bearer token nobody was given"},
    403: {"description": "a partner token without the scope this read needs"},
    404: {"description": "no such document, or one another partner sent"},
}


def document_record(row: Any) -> dict[str, Any]:
    """A documents row as the API and the tower show it."""
    return {
        "document_id": row.document_id,
        "partner": row.partner,
        "receipt_id": row.receipt_id,
        "filename": row.filename,
        "content_type": row.content_type,
        "size_bytes": row.size_bytes,
        "sha256": row.sha256,
        "received_at": row.received_at,
        "status": row.status,
        "kind": row.kind,
        "method": row.method,
        "confidence": row.confidence,
        "shipment_key": row.shipment_key,
        "read_at": row.read_at,
        "read_seconds": row.read_seconds,
        "error": row.error,
        "result": orjson.loads(row.result or "{}"),
        "links": {
            "self": f"/v1/documents/{row.document_id}",
            "file": f"/v1/documents/{row.document_id}/file",
        },
    }


def _visible(who: Reader, row: Any) -> bool:
    return who.partner is None or row.partner == who.partner


def shipment_documents(store: Store, key: str) -> list[dict[str, Any]]:
    """Every document read as this shipment's, oldest first."""
    with store.read() as conn:
        rows = conn.execute(
            select(documents).where(documents.c.shipment_key == key).order_by(documents.c.seq)
        ).all()
    return [document_record(r) for r in rows]


@router.get(
    "/v1/documents/{document_id}",
    summary="A received document: its status, what was read and how sure",
    responses=_READ_ERRORS,
)
async def get_document(document_id: str, request: Request) -> dict[str, Any]:
    who = reader(request, DOCUMENT_SCOPES)
    with hub_of(request).store.read() as conn:
        row = conn.execute(select(documents).where(documents.c.document_id == document_id)).first()
    if row is None or not _visible(who, row):
        raise ApiError(404, "not_found", f"no document '{document_id}'")
    return document_record(row)


@router.get(
    "/v1/documents/{document_id}/file",
    summary="The received file itself, as sent (served as an attachment)",
    responses={**_READ_ERRORS, 200: {"content": {ct: {} for ct in EXTENSIONS}}},
    response_class=Response,
)
async def get_document_file(document_id: str, request: Request) -> Response:
    who = reader(request, DOCUMENT_SCOPES)
    with hub_of(request).store.read() as conn:
        columns = (documents.c.partner, documents.c.content_type, documents.c.filename)
        row = conn.execute(
            select(*columns, inbox.c.body)
            .select_from(documents.join(inbox, inbox.c.receipt_id == documents.c.receipt_id))
            .where(documents.c.document_id == document_id)
        ).first()
    if row is None or not _visible(who, row):
        raise ApiError(404, "not_found", f"no document '{document_id}'")
    name = row.filename or f"{document_id}{EXTENSIONS.get(row.content_type, '')}"
    return Response(
        bytes(row.body),
        media_type=row.content_type,
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox; default-src 'none'",
            "Cache-Control": "private, no-store",
        },
    )


@router.get(
    "/v1/shipments/{key}/documents",
    tags=["shipments"],
    summary="The documents read as a shipment's (operators and the admin token)",
    responses=_READ_ERRORS,
)
async def get_shipment_documents(key: str, request: Request) -> list[dict[str, Any]]:
    who = reader(request, DOCUMENT_SCOPES)
    found = shipment_documents(hub_of(request).store, key)
    return [d for d in found if who.partner is None or d["partner"] == who.partner]


__all__ = ["document_record", "router", "shipment_documents"]
