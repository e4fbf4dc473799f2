"""Reading documents: fields from every layout of the generated PODs and invoices (PDF text
through pypdf), values in the forms carriers print them, what could not be read, hostile
files inside the reading process, its time budget, and one small scan through OCR."""

from __future__ import annotations

import random
import zlib
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from intermodal.foresight.documents import (
    amounts_in,
    extract,
    parse_amount,
    parse_datetime,
    read_name,
)
from intermodal.foresight.documents_reading import (
    READER_NAME,
    ReadingProcess,
    ReadingStopped,
    ReadLimits,
    TextLine,
    UnreadableDocument,
    check_document,
    read_document,
)
from intermodal_sim.documents import (
    NOISE_LEVELS,
    InvoiceSpec,
    PodSpec,
    invoice_pdf,
    pod_pdf,
    pod_text,
    random_invoice,
    random_pod,
    scan,
)

LIMITS = ReadLimits(5_000_000, 20_000_000, 5, 60.0, 3072)


def _lines(*texts: str, confidence: float = 1.0) -> list[TextLine]:
    return [TextLine(t, confidence, 1) for t in texts]


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize("layout", [0, 1, 2])
def test_every_pod_layout_reads_whole_from_its_pdf(layout: int) -> None:
    spec = PodSpec(**{**random_pod(random.Random(layout)).__dict__, "layout": layout})
    body = pod_pdf(spec)
    assert check_document(body, "application/pdf", LIMITS) == "application/pdf"
    reading = read_document(body, "application/pdf", LIMITS)
    found = extract(reading.lines)
    assert reading.method == "pdf_text" and found.kind == "pod"
    assert spec.reference in [r.value for r in found.references]
    assert found.fields["signed_by"].value == spec.signed_by
    assert found.fields["delivered_at"].value == _stamp(spec.delivered_at)
    assert found.unread == [] and found.confidence >= 0.9


@pytest.mark.parametrize("layout", [0, 1, 2])
def test_every_invoice_layout_reads_whole_from_its_pdf(layout: int) -> None:
    spec = InvoiceSpec(**{**random_invoice(random.Random(10 + layout)).__dict__, "layout": layout})
    found = extract(read_document(invoice_pdf(spec), "application/pdf", LIMITS).lines)
    assert found.kind == "invoice"
    assert found.references[0].value == spec.reference
    assert found.fields["invoice_number"].value == spec.invoice_number
    assert found.fields["invoice_date"].value == spec.invoice_date.isoformat()
    assert found.fields["currency"].value == spec.currency
    assert Decimal(found.fields["total"].value) == spec.total
    assert {c.code: c.amount for c in found.lines} == {c.code: c.amount for c in spec.lines}
    assert {c.code: c.kind for c in found.lines} == {c.code: c.kind for c in spec.lines}
    assert found.unread == [], found.unread


def test_ocr_spacing_and_labels_without_spaces() -> None:
    """RapidOCR drops the spaces between English words; labels and names survive it."""
    found = extract(
        _lines(
            "PROOFOFDELIVERY",
            "Shipment:SHP-20261104-0042",
            "Signedby:MariaGonzalez",
            "Delivered:2026-11-0414:32UTC",
            confidence=0.9,
        )
    )
    assert found.kind == "pod" and found.references[0].value == "SHP-20261104-0042"
    assert found.fields["signed_by"].value == "Maria Gonzalez"
    assert found.fields["delivered_at"].value == "2026-11-04T14:32:00Z"
    assert found.confidence == 0.9  # OCR's own certainty carries through


def test_what_cannot_be_read_is_said_and_lowers_confidence() -> None:
    found = extract(_lines("INVOICE", "Invoice No: 4471", "Freight 1,000.00", "Total 1,100.00"))
    assert any(u.startswith("reference:") for u in found.unread)
    assert any(u.startswith("invoice_date:") for u in found.unread)
    assert any(u.startswith("currency:") for u in found.unread)
    assert any("add up to 1000.00" in n for n in found.notes)  # lines vs printed total
    assert found.confidence < 0.6
    unknown = extract(_lines("Weather report", "Sunny, 21 degrees"))
    assert unknown.kind == "unknown" and unknown.confidence == 0.0
    assert extract(_lines("Weather report"), hint="pod").kind == "pod"


def test_labels_do_not_hide_inside_words() -> None:
    found = extract(_lines("Proof of delivery", "Transfer 88 pallets", "Profile 1234"))
    assert found.references == []  # neither `ref` in Transfer nor `pro` in Profile


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("$1,234.56", "1234.56"),
        ("1.234,56 EUR", "1234.56"),
        ("1 234,56", "1234.56"),
        ("USD 95.50", "95.50"),
        ("1,2O4.5O", "1204.50"),  # OCR's O for 0
        ("75", "75.00"),
    ],
)
def test_amounts_in_the_forms_carriers_print(text: str, amount: str) -> None:
    assert amounts_in(text)[-1][0] == Decimal(amount)


@given(st.decimals(min_value=0, max_value=10**9, places=2))
@hsettings(max_examples=60)
def test_amounts_round_trip_in_both_conventions(value: Decimal) -> None:
    us = f"{value:,.2f}"
    eu = us.replace(",", " ").replace(".", ",").replace(" ", ".")
    assert parse_amount(us) == (value, 1.0)
    assert parse_amount(eu) == (value, 1.0)


@pytest.mark.parametrize(
    ("text", "expected", "note"),
    [
        ("2026-11-04 14:32 UTC", "2026-11-04T14:32:00Z", None),
        ("11/04/2026 2:32 PM CST", "2026-11-04T20:32:00Z", "month first"),
        ("04.11.2026 14:32", "2026-11-04T14:32:00Z", "no time zone"),
        ("Nov 4, 2026 14:32 +01:00", "2026-11-04T13:32:00Z", None),
        ("25/12/2026 08:00 GMT", "2026-12-25T08:00:00Z", None),  # 25 cannot be a month
        ("DateDelivered:03/13/202610:03AMCST", "2026-03-13T16:03:00Z", None),  # OCR glued
    ],
)
def test_dates_in_the_forms_carriers_print(text: str, expected: str, note: str | None) -> None:
    parsed = parse_datetime(text)
    assert parsed is not None
    at, _certainty, notes = parsed
    assert _stamp(at) == expected
    if note:
        assert any(note in n for n in notes)
    assert parse_datetime("31/31/2026") is None


def test_names_are_put_back_into_words() -> None:
    assert read_name("MariaGonzalez") == "Maria Gonzalez"
    assert read_name("  O'Neil-Smith  ") == "O'Neil-Smith"
    assert read_name("Tomasz.Byrne") == "Tomasz Byrne"  # OCR's dot for a space
    assert read_name("____ 42") is None


# -- hostile files, inside the reader ------------------------------------------------------
def _pdf(objects: list[bytes], root: int = 1) -> bytes:
    """A small PDF with a correct cross-reference table, from its objects' bodies."""
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        root,
        xref,
    )
    return bytes(out)


def test_javascript_behind_escaped_names_is_refused_by_the_reader() -> None:
    """`/#4A#61vaScript` is `/JavaScript` to a PDF reader (names may escape any byte as
    #XX) but not to the door's byte scan; the reader, which parses the names, refuses it."""
    body = _pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R /OpenAction 3 0 R >>",
            b"<< /Type /Pages /Kids [] /Count 0 >>",
            b"<< /S /#4A#61vaScript /J#53 (app.alert(1)) >>",
        ]
    )
    assert b"JavaScript" not in body and b"/JS" not in body
    check_document(body, None, LIMITS)  # passes the door
    with pytest.raises(UnreadableDocument) as refused:
        read_document(body, "application/pdf", LIMITS)
    assert refused.value.status == "refused" and "JavaScript" in str(refused.value)


def test_a_deflate_bomb_in_a_pdf_is_refused_not_inflated() -> None:
    squeezer = zlib.compressobj(9)
    chunk = b"\0" * (1 << 20)
    bomb = b"".join(squeezer.compress(chunk) for _ in range(120)) + squeezer.flush()
    body = _pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
            b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(bomb) + bomb + b"\nendstream",
        ]
    )
    assert len(body) < 300_000  # 120 MiB of page content in a small file
    with pytest.raises(UnreadableDocument) as refused:
        read_document(body, "application/pdf", LIMITS)
    assert refused.value.status == "refused" and "decompression bomb" in str(refused.value)


def test_the_reading_process_keeps_to_its_budget_and_recovers() -> None:
    """A reading past `read_seconds` is stopped (the child killed), and the next document
    gets a fresh process."""
    body = pod_pdf(random_pod(random.Random(3)))
    slow = ReadingProcess(ReadLimits(5_000_000, 20_000_000, 5, 0.01, 3072))
    try:
        with pytest.raises(UnreadableDocument) as late:
            slow.read(body, "application/pdf")  # starting the process alone takes longer
        assert "longer than 0.01 s" in str(late.value)
        slow.limits = LIMITS
        reading = slow.read(body, "application/pdf")
        assert reading.method == "pdf_text" and reading.lines
        assert slow._process is not None  # `ps` tells it from the hub's other processes
        assert Path(f"/proc/{slow._process.pid}/comm").read_bytes().strip() == READER_NAME
        with pytest.raises(UnreadableDocument):
            slow.read(b"%PDF-1.4 nothing here %%EOF", "application/pdf")
        assert slow.read(body, "application/pdf").lines  # one bad file fails alone
    finally:
        slow.close()
    with pytest.raises(ReadingStopped):  # the hub stopping: nothing to mark on the document
        slow.read(body, "application/pdf")


# -- OCR: one small scan ---------------------------------------------------------------------
def test_a_scanned_pod_is_read_by_ocr() -> None:
    spec = PodSpec(**{**random_pod(random.Random(21)).__dict__, "layout": 0})
    image = scan(pod_text(spec)[:6], NOISE_LEVELS["light"], seed=1)
    assert check_document(image, "image/jpeg", LIMITS) == "image/jpeg"
    reading = read_document(image, "image/jpeg", LIMITS)
    found = extract(reading.lines)
    assert reading.method == "ocr" and found.kind == "pod"
    assert spec.reference in [r.value for r in found.references]
    assert found.fields["signed_by"].value == spec.signed_by
    assert 0 < found.confidence < 1  # OCR's scores, never a PDF's certainty


# -- any bytes at the door -------------------------------------------------------------------
_PREFIXES = [
    b"",
    b"%PDF-1.7\n",
    b"\x89PNG\r\n\x1a\n",
    b"\xff\xd8\xff\xe0",
    b"II*\x00",
    b"PK\x03\x04",
]


@given(st.sampled_from(_PREFIXES), st.binary(max_size=600), st.booleans())
@hsettings(max_examples=150, deadline=None)
def test_any_bytes_get_a_type_or_a_named_refusal(prefix: bytes, rest: bytes, end: bool) -> None:
    """Whatever arrives, the door answers with a type it reads or a DocumentRefused with
    a status and a message: never another exception (a 500)."""
    from intermodal.foresight.documents_reading import CONTENT_TYPES, DocumentRefused

    body = prefix + rest + (b"\n%%EOF\n" if end else b"")
    try:
        found = check_document(body, None, LIMITS)
    except DocumentRefused as refused:
        assert refused.status in (413, 415, 422) and str(refused)
    else:
        assert found in CONTENT_TYPES
