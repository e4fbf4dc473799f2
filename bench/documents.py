"""Documents: fields read right from generated PODs and freight invoices, and time per document.

Generated with intermodal_sim.documents (deterministic: the truth of every field is known),
in its three layouts per kind:

- **PDF text**: the PDFs through pypdf's layout text and our extraction (labels without
  spaces, values normalised by type, foresight/documents.py), against the peer: the
  same PDF's plain text and the regular expressions a first version would use (one label
  spelling per field, the US number and date forms).
- **Scans**: the same documents drawn as scans with noise (rotation, blur, speckle, JPEG),
  read by RapidOCR after our preparation (documents_reading.prepare_for_ocr) and our
  extraction, against OCR of the image as it came and the same naive expressions.

Per field and overall: the share of fields read exactly right (a reference counts when the
document names the shipment's key or its tracking number, as the reader looks both up);
and the time per document.

    python bench/documents.py [--quick]
"""

from __future__ import annotations

import argparse
import io
import random
import re
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from PIL import Image

from intermodal.foresight.documents import extract
from intermodal.foresight.documents_reading import (
    ReadLimits,
    ocr_engine,
    ocr_lines,
    prepare_for_ocr,
    read_document,
)
from intermodal_sim.documents import (
    NOISE_LEVELS,
    InvoiceSpec,
    PodSpec,
    invoice_pdf,
    invoice_text,
    pod_pdf,
    pod_text,
    random_invoice,
    random_pod,
    scan,
)

LIMITS = ReadLimits(20_000_000, 40_000_000, 5, 120.0, 4096)
Spec = PodSpec | InvoiceSpec


# -- truth and scoring -----------------------------------------------------------------------
def truth(spec: Spec) -> dict[str, Any]:
    if isinstance(spec, PodSpec):
        return {
            "reference": {spec.reference, spec.tracking},
            "signed_by": spec.signed_by,
            "delivered_at": spec.delivered_at.strftime("%Y-%m-%dT%H:%M"),
        }
    return {
        "reference": {spec.reference, spec.tracking},
        "invoice_number": spec.invoice_number,
        "invoice_date": spec.invoice_date.isoformat(),
        "currency": spec.currency,
        "total": spec.total,
        "lines": {line.code: line.amount for line in spec.lines},
    }


def ours(lines: list[Any]) -> dict[str, Any]:
    found = extract(lines)
    f = found.fields
    out: dict[str, Any] = {"reference": [r.value for r in found.references]}
    if "signed_by" in f:
        out["signed_by"] = f["signed_by"].value
    if "delivered_at" in f:
        out["delivered_at"] = f["delivered_at"].value[:16]
    for name in ("invoice_number", "invoice_date", "currency"):
        if name in f:
            out[name] = f[name].value
    if "total" in f:
        out["total"] = Decimal(f["total"].value)
    out["lines"] = {c.code: c.amount for c in found.lines}
    return out


_NAIVE_CODES = (("fuel", "fuel"), ("freight", "freight"), ("liftgate", "liftgate"),
                ("detention", "detention"), ("residential", "residential"))  # fmt: skip


def naive(text: str) -> dict[str, Any]:
    """The regular expressions a first version would use on the raw text: one spelling
    per label, US numbers and dates, nothing repaired."""
    out: dict[str, Any] = {}

    def first(pattern: str) -> str | None:
        found = re.search(pattern, text)
        return found.group(1).strip() if found else None

    reference = first(r"(?:Shipment|Reference):\s*(\S+)")
    out["reference"] = [reference] if reference else []
    if signer := first(r"(?:Signed by|Received by):\s*([A-Za-z' -]+)"):
        out["signed_by"] = signer
    if when := first(r"(\d{4}-\d{2}-\d{2} \d{2}:\d{2})"):
        out["delivered_at"] = when.replace(" ", "T")
    if number := first(r"Invoice No:\s*(\S+)"):
        out["invoice_number"] = number
    if day := first(r"(\d{2}/\d{2}/\d{4})"):
        out["invoice_date"] = (
            datetime.strptime(day, "%m/%d/%Y").replace(tzinfo=UTC).date().isoformat()
        )
    if currency := first(r"\b(USD|EUR|GBP)\b"):
        out["currency"] = currency
    if total := first(r"Total[^\n]*?([\d,]+\.\d{2})"):
        out["total"] = Decimal(total.replace(",", ""))
    lines: dict[str, Decimal] = {}
    for line in text.splitlines():
        amount = re.search(r"([\d,]+\.\d{2})\s*$", line)
        word = next((code for w, code in _NAIVE_CODES if w in line.lower()), None)
        if amount and word and "total" not in line.lower():
            lines[word] = lines.get(word, Decimal(0)) + Decimal(amount.group(1).replace(",", ""))
    out["lines"] = lines
    return out


def score(spec: Spec, read: dict[str, Any]) -> dict[str, bool]:
    expected = truth(spec)
    marks = {}
    for name, value in expected.items():
        if name == "reference":
            marks[name] = bool(set(read.get("reference", [])[:3]) & value)
        else:
            marks[name] = read.get(name) == value
    return marks


# -- documents -------------------------------------------------------------------------------
def documents(count: int, seed: int) -> list[Spec]:
    rng = random.Random(seed)
    specs: list[Spec] = []
    for index in range(count):
        specs.append(replace(random_pod(rng), layout=index % 3))
        specs.append(replace(random_invoice(rng), layout=index % 3))
    return specs


def text_of(spec: Spec) -> list[str]:
    return pod_text(spec) if isinstance(spec, PodSpec) else invoice_text(spec)


def pdf_of(spec: Spec) -> bytes:
    return pod_pdf(spec) if isinstance(spec, PodSpec) else invoice_pdf(spec)


def plain_text(body: bytes) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(body)).pages)


def tally(
    specs: list[Spec], read: Callable[[Spec], tuple[dict[str, Any], float]]
) -> tuple[dict[str, list[bool]], float]:
    marks: dict[str, list[bool]] = defaultdict(list)
    seconds = 0.0
    for spec in specs:
        result, took = read(spec)
        seconds += took
        for name, ok in score(spec, result).items():
            marks[name].append(ok)
    return marks, seconds / max(1, len(specs))


def share(marks: dict[str, list[bool]]) -> float:
    every = [ok for oks in marks.values() for ok in oks]
    return 100.0 * sum(every) / max(1, len(every))


def table(title: str, mine: dict[str, list[bool]], peer: dict[str, list[bool]]) -> None:
    print(f"\n{title}")
    print(f"  {'field':<16}{'ours':>10}{'peer':>10}")
    for name in mine:
        a = 100.0 * sum(mine[name]) / len(mine[name])
        b = 100.0 * sum(peer.get(name, [])) / max(1, len(peer.get(name, [])))
        print(f"  {name:<16}{a:>9.1f}%{b:>9.1f}%")
    print(f"  {'overall':<16}{share(mine):>9.1f}%{share(peer):>9.1f}%")


def result(workload: str, metric: str, value: float, unit: str, peer: float) -> None:
    ratio = value / peer if peer else float("inf")
    print(f"RESULT {workload} {metric}={value:.4g} {unit} peer={peer:.4g} ratio={ratio:.3g}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer documents, one noise level")
    args = parser.parse_args()
    pdf_count, scan_count = (15, 1) if args.quick else (60, 4)
    levels = ["medium"] if args.quick else ["clean", "light", "medium", "heavy"]

    specs = documents(pdf_count, seed=2026)
    pdfs = {id(s): pdf_of(s) for s in specs}

    def read_ours(spec: Spec) -> tuple[dict[str, Any], float]:
        started = time.perf_counter()
        lines = read_document(pdfs[id(spec)], "application/pdf", LIMITS).lines
        found = ours(lines)
        return found, time.perf_counter() - started

    def read_naive(spec: Spec) -> tuple[dict[str, Any], float]:
        started = time.perf_counter()
        found = naive(plain_text(pdfs[id(spec)]))
        return found, time.perf_counter() - started

    mine, mine_s = tally(specs, read_ours)
    peer, peer_s = tally(specs, read_naive)
    table(f"PDF text ({len(specs)} documents, 3 layouts per kind)", mine, peer)
    print(f"  time per document: ours {mine_s * 1000:.1f} ms, peer {peer_s * 1000:.1f} ms")
    results = [
        ("documents", "pdf_fields_correct", share(mine), "%", share(peer)),
        ("documents", "pdf_ms_per_document", mine_s * 1000, "ms", peer_s * 1000),
    ]

    engine = ocr_engine()
    scans = documents(scan_count, seed=77)

    def ocr(image: Image.Image) -> list[Any]:
        import numpy as np

        boxes, _ = engine(np.asarray(image.convert("RGB")))
        return ocr_lines(boxes or [], 1)

    for level in levels:
        noise = NOISE_LEVELS[level]
        images = {id(s): scan(text_of(s), noise, seed=i) for i, s in enumerate(scans)}

        def ocr_ours(spec: Spec, images: dict[int, bytes] = images) -> tuple[dict[str, Any], float]:
            started = time.perf_counter()
            image = Image.open(io.BytesIO(images[id(spec)]))
            found = ours(ocr(prepare_for_ocr(image)))
            return found, time.perf_counter() - started

        def ocr_naive(
            spec: Spec, images: dict[int, bytes] = images
        ) -> tuple[dict[str, Any], float]:
            started = time.perf_counter()
            lines = ocr(Image.open(io.BytesIO(images[id(spec)])))
            found = naive("\n".join(line.text for line in lines))
            return found, time.perf_counter() - started

        mine, mine_s = tally(scans, ocr_ours)
        peer, peer_s = tally(scans, ocr_naive)
        table(f"Scans, {level} noise ({len(scans)} documents)", mine, peer)
        print(f"  time per document: ours {mine_s:.2f} s, peer {peer_s:.2f} s")
        results.append(("documents", f"ocr_{level}_fields_correct", share(mine), "%", share(peer)))
        results.append(("documents", f"ocr_{level}_s_per_document", mine_s, "s", peer_s))
    print()
    for row in results:
        result(*row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
