"""Proofs of delivery and freight invoices as carriers send them: PDFs and scans.

Deterministic: a seed gives the same documents on every machine (fpdf2's core Helvetica
for PDFs, Pillow's bundled font for images, no system fonts), so the tests and
bench/documents.py know exactly what each document says (`PodSpec`, `InvoiceSpec`) and
can score what the hub read from it.

Each kind comes in three layouts that differ where carriers differ: label wording
("Signed by", "Received by", "Consignee signature"), date forms (ISO, US slashed with a
local zone, European dotted), money forms (`$1,000.00`, `1.000,00 EUR`, a quantity and
rate table), one or two fields per line. A scan (`scan`) draws the same lines on a page
and then makes it look scanned: a slight rotation, blur, speckle noise and JPEG
compression, in the amounts a `Noise` says.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

from fpdf import FPDF
from PIL import Image, ImageDraw, ImageFilter, ImageFont

CARRIERS = ("Ridgeline Freight", "Swift Parcel", "Northwind Logistics", "Blue Anchor Lines")
FIRST = ("Maria", "James", "Aisha", "Tomasz", "Lena", "Carlos", "Yuki", "Owen", "Fatima", "Hugo")
LAST = ("Gonzalez", "Smith", "Okafor", "Nowak", "Schmidt", "Rossi", "Tanaka", "Byrne", "Haddad")
ACCESSORIALS = (
    ("Liftgate service", "liftgate"),
    ("Detention", "detention"),
    ("Residential delivery", "residential"),
    ("Inside delivery", "inside_delivery"),
)
CENTRAL = timezone(timedelta(hours=-6))


@dataclass(frozen=True)
class PodSpec:
    """What a proof of delivery says."""

    reference: str
    tracking: str
    signed_by: str
    delivered_at: datetime
    carrier: str
    consignee: str
    layout: int = 0


@dataclass(frozen=True)
class InvoiceLine:
    description: str
    kind: str
    code: str
    amount: Decimal


@dataclass(frozen=True)
class InvoiceSpec:
    """What a freight invoice says."""

    invoice_number: str
    invoice_date: date
    reference: str
    tracking: str
    currency: str
    lines: tuple[InvoiceLine, ...]
    carrier: str
    layout: int = 0

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), Decimal(0))


@dataclass(frozen=True)
class Noise:
    """How scanned a scan looks."""

    rotation: float = 0.0
    """Degrees, either way."""
    blur: float = 0.0
    """Gaussian blur radius in pixels."""
    speckle: float = 0.0
    """Share of pixels flipped to black or white."""
    jpeg_quality: int = 95
    name: str = "clean"


NOISE_LEVELS = {
    "clean": Noise(),
    "light": Noise(0.6, 0.4, 0.002, 75, "light"),
    "medium": Noise(1.2, 0.8, 0.01, 45, "medium"),
    "heavy": Noise(2.0, 1.1, 0.03, 25, "heavy"),
}


# -- specs ----------------------------------------------------------------------------------
def random_pod(rng: random.Random, reference: str | None = None) -> PodSpec:
    key = reference or f"SHP-{rng.randint(100000, 999999)}"
    at = datetime(2026, rng.randint(1, 12), rng.randint(1, 28), rng.randint(6, 19),
                  rng.randint(0, 59), tzinfo=UTC)  # fmt: skip
    return PodSpec(
        reference=key,
        tracking=f"{rng.randint(10**9, 10**10 - 1)}",
        signed_by=f"{rng.choice(FIRST)} {rng.choice(LAST)}",
        delivered_at=at,
        carrier=rng.choice(CARRIERS),
        consignee=f"{rng.choice(LAST)} Trading Co",
        layout=rng.randrange(3),
    )


def random_invoice(
    rng: random.Random,
    reference: str | None = None,
    amounts: dict[str, Decimal] | None = None,
    currency: str | None = None,
) -> InvoiceSpec:
    """An invoice for `reference` with `amounts` per code (`freight`, `fuel`, an
    accessorial's code) when given, else a freight line, a fuel line and maybe one
    accessorial with amounts of their own."""
    layout = rng.randrange(3)
    if amounts is None:
        freight = Decimal(rng.randint(40000, 400000)) / 100
        amounts = {
            "freight": freight,
            "fuel": (freight * Decimal("0.12")).quantize(Decimal("0.01")),
        }
        if rng.random() < 0.6:
            _description, code = rng.choice(ACCESSORIALS)
            amounts[code] = Decimal(rng.randint(2500, 25000)) / 100
    names = dict((code, description) for description, code in ACCESSORIALS)
    freight_word = ("Linehaul freight", "Freight charge", "Base freight")[layout]
    fuel_word = ("Fuel surcharge", "Fuel surcharge", "FSC")[layout]
    lines = []
    for code, amount in amounts.items():
        if code == "freight":
            lines.append(InvoiceLine(freight_word, "freight", "freight", amount))
        elif code == "fuel":
            lines.append(InvoiceLine(fuel_word, "fuel", "fuel", amount))
        else:
            lines.append(InvoiceLine(names.get(code, code.title()), "accessorial", code, amount))
    return InvoiceSpec(
        invoice_number=f"INV-{rng.randint(10000, 99999)}",
        invoice_date=date(2026, rng.randint(1, 12), rng.randint(1, 28)),
        reference=reference or f"SHP-{rng.randint(100000, 999999)}",
        tracking=f"{rng.randint(10**7, 10**8 - 1)}",
        currency=currency or ("EUR" if layout == 1 else "USD"),
        lines=tuple(lines),
        carrier=rng.choice(CARRIERS),
        layout=layout,
    )


# -- text -----------------------------------------------------------------------------------
def _us(amount: Decimal) -> str:
    return f"{amount:,.2f}"


def _eu(amount: Decimal) -> str:
    return f"{amount:,.2f}".replace(",", " ").replace(".", ",").replace(" ", ".")


def pod_text(spec: PodSpec) -> list[str]:
    """The lines a proof of delivery prints, in its layout."""
    at = spec.delivered_at
    if spec.layout == 0:
        return [
            f"{spec.carrier}          PROOF OF DELIVERY",
            f"Shipment: {spec.reference}          Tracking: {spec.tracking}",
            f"Consignee: {spec.consignee}",
            "Pieces: 4          Weight: 1,250 kg",
            f"Delivered: {at:%Y-%m-%d %H:%M} UTC",
            f"Signed by: {spec.signed_by}",
            "Received in good condition.",
        ]
    if spec.layout == 1:
        local = at.astimezone(CENTRAL)
        clock = local.strftime("%I:%M %p").lstrip("0")
        return [
            f"DELIVERY RECEIPT  -  {spec.carrier}",
            f"PRO Number: {spec.tracking}",
            f"Reference: {spec.reference}",
            f"Date Delivered: {local:%m/%d/%Y} {clock} CST",
            f"Received by: {spec.signed_by}",
            f"Consignee: {spec.consignee}",
        ]
    return [
        f"{spec.carrier}  -  Proof of Delivery",
        f"Consignment No: {spec.reference}",
        f"Delivery date: {at:%d.%m.%Y %H:%M} UTC",
        f"Consignee: {spec.consignee}",
        f"Consignee signature: {spec.signed_by}",
    ]


def invoice_text(spec: InvoiceSpec) -> list[str]:
    """The lines a freight invoice prints, in its layout."""
    if spec.layout == 0:
        sign = "$" if spec.currency == "USD" else f"{spec.currency} "
        return [
            f"{spec.carrier}          FREIGHT INVOICE",
            f"Invoice No: {spec.invoice_number}          "
            f"Invoice Date: {spec.invoice_date:%m/%d/%Y}",
            f"Shipment: {spec.reference}          BOL: {spec.tracking}",
            "Bill To: Intermodal Forwarding Inc",
            "Description                         Amount",
            *(f"{line.description:<32}{sign}{_us(line.amount)}" for line in spec.lines),
            f"Total Due ({spec.currency})              {sign}{_us(spec.total)}",
        ]
    if spec.layout == 1:
        return [
            f"{spec.carrier} GmbH          Invoice",
            f"Invoice number: {spec.invoice_number}",
            f"Date: {spec.invoice_date:%d.%m.%Y}",
            f"Your reference: {spec.reference}",
            f"Currency: {spec.currency}",
            *(f"{line.description:<32}{_eu(line.amount)}" for line in spec.lines),
            f"Total                           {_eu(spec.total)} {spec.currency}",
        ]
    return [
        f"INVOICE {spec.invoice_number}          dated {spec.invoice_date:%b} "
        f"{spec.invoice_date.day}, {spec.invoice_date.year}",
        f"Shipment Ref: {spec.reference}          PRO: {spec.tracking}",
        "Item                 Qty     Rate          Amount",
        *(
            f"{line.description:<21}1       {line.amount:.2f}     {line.amount:.2f} {spec.currency}"
            for line in spec.lines
        ),
        f"Amount due                            {spec.total:.2f} {spec.currency}",
    ]


# -- PDFs -----------------------------------------------------------------------------------
def text_pdf(lines: list[str], title: str = "document") -> bytes:
    """A one-page PDF with these lines in a monospaced layout (columns stay columns)."""
    pdf = FPDF(format="letter")
    pdf.set_creation_date(datetime(2026, 1, 1, tzinfo=UTC))  # the same bytes every run
    pdf.set_title(title)
    pdf.add_page()
    pdf.set_font("Courier", size=10)
    for line in lines:
        pdf.cell(
            0, 6, line.encode("latin-1", "replace").decode("latin-1"), new_x="LMARGIN", new_y="NEXT"
        )
    return bytes(pdf.output())


def pod_pdf(spec: PodSpec) -> bytes:
    return text_pdf(pod_text(spec), "Proof of delivery")


def invoice_pdf(spec: InvoiceSpec) -> bytes:
    return text_pdf(invoice_text(spec), "Freight invoice")


def scanned_pdf(scan: bytes) -> bytes:
    """A PDF with no text, only a page image: what a scanner's "scan to PDF" makes."""
    pdf = FPDF(format="letter")
    pdf.set_creation_date(datetime(2026, 1, 1, tzinfo=UTC))
    pdf.add_page()
    pdf.image(io.BytesIO(scan), x=0, y=0, w=pdf.w)
    return bytes(pdf.output())


# -- scans ----------------------------------------------------------------------------------
@dataclass
class _Page:
    width: int = 1275  # letter at 150 dpi
    height: int = 1650
    margin: int = 90
    line_height: int = 44
    size: int = 26
    lines: list[str] = field(default_factory=list)


def scan(lines: list[str], noise: Noise, seed: int = 0, fmt: str = "JPEG") -> bytes:
    """The lines drawn on a letter page at 150 dpi, then scanned as `noise` says; JPEG (the
    usual) or PNG bytes."""
    page = _Page(lines=lines)
    image = Image.new("L", (page.width, page.height), 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=page.size)
    for index, line in enumerate(lines):
        y = page.margin + index * page.line_height
        x = page.margin
        for column in _columns(line):
            draw.text((x + column[0] * 15, y), column[1], fill=0, font=font)
    rng = random.Random(seed)
    if noise.rotation:
        angle = rng.uniform(-noise.rotation, noise.rotation)
        image = image.rotate(angle, resample=Image.Resampling.BICUBIC, expand=False, fillcolor=255)
    if noise.blur:
        image = image.filter(ImageFilter.GaussianBlur(noise.blur))
    if noise.speckle:
        pixels = image.load()
        assert pixels is not None
        count = int(page.width * page.height * noise.speckle)
        for _ in range(count):
            x, y = rng.randrange(page.width), rng.randrange(page.height)
            pixels[x, y] = 0 if rng.random() < 0.5 else 255
    out = io.BytesIO()
    if fmt == "PNG":
        image.save(out, "PNG")
    else:
        image.save(out, "JPEG", quality=noise.jpeg_quality)
    return out.getvalue()


def _columns(line: str) -> list[tuple[int, str]]:
    """A line's runs of text and the character column each starts at, so that a wide gap
    (a layout's next column) stays wide in the proportional font."""
    out: list[tuple[int, str]] = []
    column = 0
    for chunk in line.split("  "):
        if chunk.strip():
            out.append((column, chunk.strip()))
        column += len(chunk) + 2
    return out


__all__ = [
    "NOISE_LEVELS",
    "InvoiceLine",
    "InvoiceSpec",
    "Noise",
    "PodSpec",
    "invoice_pdf",
    "invoice_text",
    "pod_pdf",
    "pod_text",
    "random_invoice",
    "random_pod",
    "scan",
    "scanned_pdf",
    "text_pdf",
]
