"""Documents through a running hub on loopback: a carrier's proof of delivery and freight
invoice (PDFs) posted over HTTP and dropped in its folder, stored before the 202, read off
the request path into the partner's events; an invoice above the carrier's 210 opens a
billing_dispute case with the document linked, and the POD's attachment command for the
Odoo picking waits in the outbox. Broken, hostile and repeated files get clear answers,
and a refused file is never half stored."""

from __future__ import annotations

import random
import shutil
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import func, select

from intermodal.config import Settings
from intermodal.dashboard import views
from intermodal.store import open_store
from intermodal.store.tables import cases, documents, inbox, outbox
from intermodal_sim.documents import (
    InvoiceSpec,
    PodSpec,
    invoice_pdf,
    pod_pdf,
    random_invoice,
    random_pod,
)
from intermodal_sim.testing import running_hub, wait_until
from tests.conftest import ADMIN, ADMIN_TOKEN_REF

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "partners"
TOKEN = "ridgeline-documents-token-0123456789ab"
OTHER = "swift-documents-token-0123456789abcdef"
AUTH = {"authorization": f"Bearer {TOKEN}"}
KEY = "SHIP-204-0001"  # the shipment of examples/partners/ridgeline/sample_210.x12
PICKING = "WH/OUT/00042"


def hub_settings(make_settings: Callable[..., Settings], tmp_path: Path, db_url: str) -> Settings:
    shutil.copy(EXAMPLES / "ridgeline" / "mapping.yaml", tmp_path / "ridgeline.yaml")
    return make_settings(
        {
            "hub": {"database": db_url, "admin_token": ADMIN_TOKEN_REF},
            "partners": {
                "ridgeline": {
                    "kind": "carrier",
                    "tokens": [{"token": "env:RIDGELINE_TOKEN", "scopes": ["events:write"]}],
                    "mapping": "ridgeline.yaml",
                    "edi": {"format": "x12"},
                    "documents": {"inbox_folder": "documents", "poll_seconds": 0.2},
                },
                "swift": {"tokens": [{"token": "env:SWIFT_TOKEN"}]},
            },
            "endpoints": {"odoo": {"kind": "odoo", "url": "http://127.0.0.1:9/"}},
            "workflows": {"roles": {"odoo": "odoo"}, "flows": ["billing", "documents"]},
            "documents": {"poll_seconds": 0.1, "max_bytes": 2_000_000},
        },
        env={"RIDGELINE_TOKEN": TOKEN, "SWIFT_TOKEN": OTHER},
    )


def _shipment_and_quote() -> list[dict[str, Any]]:
    base = {"specversion": "1.0", "source": "/tests", "subject": KEY}
    return [
        {
            **base,
            "id": "ship-1",
            "type": "intermodal.shipment.upserted",
            "time": "2024-01-03T10:00:00Z",
            "data": {
                "key": KEY,
                "references": {"odoo_picking": PICKING, "carrier_tracking_numbers": ["PRO-7781"]},
            },
        },
        {
            **base,
            "id": "quote-1",
            "type": "intermodal.charge.recorded",
            "time": "2024-01-03T10:00:01Z",
            "data": {
                "code": "freight",
                "kind": "freight",
                "amount": {"amount": "1250.00", "currency": "USD"},
                "status": "provisional",
            },
        },
    ]


def _document(url: str, document_id: str) -> dict[str, Any]:
    response = httpx.get(f"{url}/v1/documents/{document_id}", headers=ADMIN)
    assert response.status_code == 200, response.text
    return dict(response.json())


def _read(url: str, document_id: str) -> dict[str, Any]:
    wait_until(lambda: _document(url, document_id)["status"] != "received", timeout=30)
    return _document(url, document_id)


def test_pod_and_invoice_end_to_end(
    db_url: str, tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    settings = hub_settings(make_settings, tmp_path, db_url)
    rng = random.Random(5)
    pod = PodSpec(**{**random_pod(rng, reference="PRO-7781").__dict__, "layout": 0})
    invoice = random_invoice(
        rng, reference=KEY, amounts={"freight": Decimal("1400.00"), "fuel": Decimal("95.50")}
    )
    invoice = InvoiceSpec(**{**invoice.__dict__, "layout": 0, "currency": "USD"})
    with running_hub(settings, dispatch=False) as url:
        batch = httpx.post(f"{url}/v1/events", json=_shipment_and_quote(), headers=AUTH)
        assert batch.status_code == 202, batch.text
        edi = httpx.post(
            f"{url}/v1/edi/ridgeline",
            content=(EXAMPLES / "ridgeline" / "sample_210.x12").read_bytes(),
            headers={**AUTH, "content-type": "application/edi-x12"},
        )
        assert edi.status_code == 202, edi.text

        def final_210() -> bool:
            r = httpx.get(f"{url}/v1/shipments/{KEY}", headers=ADMIN)
            return r.status_code == 200 and "fuel" in r.text

        wait_until(final_210, timeout=15)

        body = pod_pdf(pod)
        first = httpx.post(
            f"{url}/v1/documents/ridgeline",
            content=body,
            headers={**AUTH, "content-type": "application/pdf", "x-document-filename": "pod.pdf"},
        )
        assert first.status_code == 202, first.text
        pod_id = first.json()["document_id"]
        again = httpx.post(f"{url}/v1/documents/ridgeline", content=body, headers=AUTH)
        assert again.status_code == 200 and again.json()["duplicate"] is True
        assert again.json()["document_id"] == pod_id

        (tmp_path / "documents").mkdir(exist_ok=True)
        (tmp_path / "documents" / "invoice.pdf").write_bytes(invoice_pdf(invoice))
        wait_until(lambda: (tmp_path / "documents" / "processed" / "invoice.pdf").exists(), 15)

        read_pod = _read(url, pod_id)
        assert read_pod["status"] == "read", read_pod
        assert read_pod["kind"] == "pod" and read_pod["method"] == "pdf_text"
        assert read_pod["shipment_key"] == KEY
        assert read_pod["result"]["shipment"]["matched_by"] == "carrier_tracking_numbers"
        fields = read_pod["result"]["fields"]
        assert fields["signed_by"]["value"] == pod.signed_by
        assert fields["delivered_at"]["value"] == pod.delivered_at.strftime("%Y-%m-%dT%H:%M:00Z")
        assert read_pod["confidence"] == 1.0 and read_pod["result"]["unread"] == []

        def pod_events() -> list[dict[str, Any]]:
            timeline = httpx.get(f"{url}/v1/shipments/{KEY}/timeline", headers=ADMIN).json()
            return [e for e in timeline if e["type"] == "intermodal.pod.received"]

        wait_until(lambda: pod_events(), timeout=15)
        (applied,) = pod_events()
        assert applied["partner"] == "ridgeline" and applied["outcome"] == "applied"
        assert applied["id"] == f"doc:{pod_id}:pod"

        file = httpx.get(f"{url}/v1/documents/{pod_id}/file", headers=ADMIN)
        assert file.status_code == 200 and file.content == body
        assert file.headers["content-type"] == "application/pdf"
        assert file.headers["content-disposition"].startswith("attachment")
        assert file.headers["x-content-type-options"] == "nosniff"
        other = {"authorization": f"Bearer {OTHER}"}  # another partner's token
        assert httpx.get(f"{url}/v1/documents/{pod_id}", headers=other).status_code == 404

        listed = httpx.get(f"{url}/v1/shipments/{KEY}/documents", headers=ADMIN).json()
        assert pod_id in [d["document_id"] for d in listed]
        (invoice_doc,) = [d for d in listed if d["kind"] == "invoice"] or [None]
        if invoice_doc is None or invoice_doc["status"] == "received":
            wait_until(
                lambda: any(
                    d["kind"] == "invoice" and d["status"] != "received"
                    for d in httpx.get(f"{url}/v1/shipments/{KEY}/documents", headers=ADMIN).json()
                ),
                timeout=30,
            )
            listed = httpx.get(f"{url}/v1/shipments/{KEY}/documents", headers=ADMIN).json()
            (invoice_doc,) = [d for d in listed if d["kind"] == "invoice"]
        assert invoice_doc["status"] == "read", invoice_doc
        match = invoice_doc["result"]["match"]
        assert match["disputed"] is True
        over = [c for c in match["comparisons"] if c["over"]]
        assert {(c["against"], c["scope"]) for c in over} >= {("edi_210", "freight")}

        store = open_store(db_url)
        try:

            def dispute() -> Any:
                with store.read() as conn:
                    return conn.execute(
                        select(cases).where(
                            cases.c.subject == KEY, cases.c.kind == "billing_dispute"
                        )
                    ).first()

            wait_until(lambda: dispute() is not None, timeout=15)
            case = dispute()
            detail = orjson.loads(case.detail)
            # The billing flow saw the invoice's freight above the quote first (one case
            # per kind); either flow's case links the stored invoice.
            assert detail["flow"] in ("billing", "documents")
            assert (
                detail["data"]["document_url"] == f"/v1/documents/{invoice_doc['document_id']}/file"
            )
            # the tower: the case links the invoice, the shipment lists both documents
            story = views.shipment_story(store, settings, KEY)
            assert story is not None
            assert {d["kind"] for d in story["documents"]} == {"pod", "invoice"}
            assert story["cases"][0]["document_url"] == detail["data"]["document_url"]
            with store.read() as conn:
                # the events read from a file were received with it, when it was sent
                read = conn.execute(
                    select(inbox.c.received_at, documents.c.received_at.label("sent"))
                    .join(documents, inbox.c.message_id == "read:" + documents.c.document_id)
                    .where(inbox.c.partner == "ridgeline")
                ).all()
                assert read and all(r.received_at == r.sent for r in read)
                commands = conn.execute(
                    select(outbox.c.kind, outbox.c.endpoint, outbox.c.payload).where(
                        outbox.c.subject == KEY
                    )
                ).all()
        finally:
            store.dispose()
    attachments = [c for c in commands if c.kind == "intermodal.odoo.attachment.create"]
    assert len(attachments) == 1 and attachments[0].endpoint == "odoo"
    data = orjson.loads(attachments[0].payload)["data"]
    assert data["model"] == "stock.picking" and data["reference"] == PICKING
    assert data["name"] == "pod.pdf" and data["mimetype"] == "application/pdf"
    import base64

    assert base64.b64decode(data["content_base64"]) == body
    activities = [c for c in commands if c.kind == "intermodal.odoo.activity.create"]
    assert any(b"differs from the quote" in c.payload for c in activities)


# -- refused at the door -------------------------------------------------------------------
def _pdf_with(extra: bytes) -> bytes:
    return (
        b"%PDF-1.4\n1 0 obj << /Type /Catalog "
        + extra
        + b" >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
    )


def _png_header(width: int, height: int) -> bytes:
    """A PNG that declares `width` x `height` grey pixels but carries one row: a few
    hundred bytes that would decode to a huge picture (a decompression bomb's shape)."""
    import struct
    import zlib

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    row = zlib.compress(b"\0" * (width + 1))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", row) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def door(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """One hub on SQLite for the refusals (module-scoped: they only read answers)."""
    tmp = tmp_path_factory.mktemp("door")
    shutil.copy(EXAMPLES / "ridgeline" / "mapping.yaml", tmp / "ridgeline.yaml")
    import os

    import yaml

    from intermodal.config import load_config

    os.environ["RIDGELINE_TOKEN"] = TOKEN
    os.environ["SWIFT_TOKEN"] = OTHER
    config = {
        "hub": {"database": f"sqlite:///{tmp / 'door.db'}", "admin_token": ADMIN_TOKEN_REF},
        "partners": {
            "ridgeline": {
                "tokens": [{"token": "env:RIDGELINE_TOKEN", "scopes": ["events:write"]}],
                "documents": {},
            },
            "swift": {"tokens": [{"token": "env:SWIFT_TOKEN"}]},
        },
        "documents": {"max_bytes": 200_000, "max_pixels": 4_000_000, "poll_seconds": 0.1},
    }
    (tmp / "hub.yaml").write_text(yaml.safe_dump(config))
    settings = load_config(tmp / "hub.yaml")
    with running_hub(settings, dispatch=False) as url:
        yield url, f"sqlite:///{tmp / 'door.db'}"


HOSTILE = [
    (b"PK\x03\x04" + b"\0" * 100, None, 415, "ZIP archive"),
    (b"<!DOCTYPE html><script>alert(1)</script>", None, 415, "markup"),
    (b"\x7fELF\x02\x01\x01", None, 415, "executable"),
    (b"just some text", None, 415, "not a PDF, PNG, JPEG or TIFF"),
    (b"", None, 422, "empty"),
    (b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n", None, 422, "%%EOF"),
    (_pdf_with(b"/OpenAction << /S /JavaScript /JS (app.alert(1)) >>"), None, 422, "JavaScript"),
    (_pdf_with(b""), "image/png", 415, "content-type says image/png"),
    (_pdf_with(b""), "text/html", 415, "not a document type"),
    (_png_header(30000, 30000), None, 413, "pixels"),
    (_png_header(3000, 3000), None, 413, "3000x3000 pixels"),
    (_png_header(100, 100)[:60], None, 422, "cannot be decoded"),
    (b"%PDF-1.4" + b"\0" * 250_000, None, 413, "larger than 200000"),
]


@pytest.mark.parametrize(("body", "content_type", "status", "says"), HOSTILE)
def test_refused_files_get_a_clear_answer_and_store_nothing(
    door: tuple[str, str], body: bytes, content_type: str | None, status: int, says: str
) -> None:
    url, db = door
    headers = dict(AUTH)
    if content_type:
        headers["content-type"] = content_type
    store = open_store(db)
    try:
        with store.read() as conn:
            before = conn.execute(select(func.count()).select_from(inbox)).scalar()
        response = httpx.post(f"{url}/v1/documents/ridgeline", content=body, headers=headers)
        assert response.status_code == status, response.text
        assert says in response.json()["error"]["message"]
        with store.read() as conn:
            assert conn.execute(select(func.count()).select_from(inbox)).scalar() == before
    finally:
        store.dispose()


def test_who_may_send_documents(door: tuple[str, str]) -> None:
    url, _db = door
    body = _pdf_with(b"")
    post = lambda partner, headers: httpx.post(  # noqa: E731
        f"{url}/v1/documents/{partner}", content=body, headers=headers
    )
    assert post("ridgeline", {}).status_code == 401
    stranger = {"authorization": "Bearer not-a-token-at-all-0123456789abcdef"}
    assert post("ridgeline", stranger).status_code == 401
    assert post("ridgeline", {"authorization": f"Bearer {OTHER}"}).status_code == 403
    # A partner that sends no documents learns so only once it proved who it is.
    assert post("swift", {"authorization": f"Bearer {OTHER}"}).status_code == 404
    assert post("nobody", AUTH).status_code == 403
    assert post("ridgeline", {**AUTH, "x-document-kind": "menu"}).status_code == 422


def test_an_id_reused_for_other_bytes_is_a_conflict(door: tuple[str, str]) -> None:
    url, _db = door
    headers = {**AUTH, "idempotency-key": "carrier-doc-77"}
    first = httpx.post(f"{url}/v1/documents/ridgeline", content=_pdf_with(b"/A 1"), headers=headers)
    assert first.status_code == 202
    again = httpx.post(f"{url}/v1/documents/ridgeline", content=_pdf_with(b"/A 1"), headers=headers)
    assert again.status_code == 200 and again.json()["document_id"] == first.json()["document_id"]
    other = httpx.post(f"{url}/v1/documents/ridgeline", content=_pdf_with(b"/A 2"), headers=headers)
    assert other.status_code == 409 and "different file" in other.text


def test_a_broken_pdf_is_kept_and_marked_unreadable(door: tuple[str, str]) -> None:
    """It passes the door (a header and an end) but not the parser: stored, marked
    unreadable with the parser's reason, and the operator can still fetch it."""
    url, _db = door
    body = b"%PDF-1.7\n" + bytes(range(256)) * 8 + b"\nxref\nbroken\n%%EOF\n"
    posted = httpx.post(f"{url}/v1/documents/ridgeline", content=body, headers=AUTH)
    assert posted.status_code == 202, posted.text
    found = _read(url, posted.json()["document_id"])
    assert found["status"] in ("unreadable", "refused"), found
    assert found["error"]
    file = httpx.get(f"{url}/v1/documents/{found['document_id']}/file", headers=ADMIN)
    assert file.content == body
    assert httpx.get(f"{url}/v1/documents/{found['document_id']}").status_code == 401


def test_documents_rows_follow_the_inbox(door: tuple[str, str]) -> None:
    """Every documents row has its file in the inbox, as an applied `document` message
    (once applied: the module's other tests may have just sent theirs, or none, when
    pytest-xdist runs this test on a worker of its own)."""
    url, db = door
    posted = httpx.post(f"{url}/v1/documents/ridgeline", content=_pdf_with(b"/F 1"), headers=AUTH)
    assert posted.status_code in (200, 202), posted.text
    store = open_store(db)

    def joined() -> tuple[list[Any], int]:
        with store.read() as conn:
            rows = conn.execute(
                select(documents.c.receipt_id, inbox.c.channel, inbox.c.status).select_from(
                    documents.join(inbox, inbox.c.receipt_id == documents.c.receipt_id)
                )
            ).all()
            total = conn.execute(select(func.count()).select_from(documents)).scalar()
        return list(rows), int(total or 0)

    try:
        wait_until(lambda: all(r.status != "pending" for r in joined()[0]), timeout=30)
        rows, total = joined()
    finally:
        store.dispose()
    assert len(rows) == total and total >= 1
    assert {(r.channel, r.status) for r in rows} == {("document", "applied")}


def test_the_folder_takes_finished_files_and_sets_refused_ones_aside(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    from intermodal.ingress.documents import scan_document_folder

    settings = make_settings(
        {
            "hub": {"database": f"sqlite:///{tmp_path / 'folder.db'}"},
            "partners": {"ridgeline": {"documents": {"inbox_folder": "drop"}}},
            "documents": {"max_bytes": 10_000},
        }
    )
    partner = settings.partners["ridgeline"]
    folder = tmp_path / "drop"
    folder.mkdir()
    (folder / "pod.pdf").write_bytes(_pdf_with(b""))
    (folder / "again.pdf").write_bytes(_pdf_with(b""))  # the same bytes: one document
    (folder / "photo.png").write_bytes(_pdf_with(b"/B 2"))  # a PDF named .png
    (folder / "huge.pdf").write_bytes(b"%PDF-1.4" + b"\0" * 20_000)
    (folder / "archive.zip").write_bytes(b"PK\x03\x04" + b"\0" * 30)
    (folder / "late.pdf.part").write_bytes(b"%PDF-1.4 still being written")
    (folder / ".hidden.pdf").write_bytes(b"%PDF-1.4 still being written")
    store = open_store(settings.hub.database)
    try:
        assert scan_document_folder(store, settings, partner, folder) == 5
        with store.read() as conn:
            stored = conn.execute(select(documents.c.filename, documents.c.status)).all()
    finally:
        store.dispose()
    assert [(r.filename, r.status) for r in stored] == [("again.pdf", "received")]
    assert sorted(p.name for p in (folder / "processed").iterdir()) == ["again.pdf", "pod.pdf"]
    rejected = folder / "rejected"
    assert "content-type says image/png" in (rejected / "photo.png.error.txt").read_text()
    assert "at most 10000" in (rejected / "huge.pdf.error.txt").read_text()
    assert "ZIP archive" in (rejected / "archive.zip.error.txt").read_text()
    assert (folder / "late.pdf.part").exists() and (folder / ".hidden.pdf").exists()
