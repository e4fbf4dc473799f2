"""Fields read from a proof of delivery or a freight invoice, each with how sure it is.

The input is a document's lines as read (documents_reading.py: a PDF's text layer, or
OCR of a scan); the output (`extract`) is its kind, its fields and, as plainly, what could
not be read. Everything here is a pure function of the lines, so a reading can be
replayed and the rules tested on text alone.

How a field is found, and why it is not one regular expression over the raw text:
- **Labels without spaces.** A label ("Signed by", "Invoice No.") is looked for in a
  squashed form of the line (lower case, letters and digits only), so `Signed by:`,
  `SIGNED BY` and OCR's `Signedby:` are the same label, and its value is what follows it
  on the line up to the next column (two spaces, or another known label), or the next
  line when the label stands alone.
- **Values normalised by type.** Amounts in either convention (`1,234.56`, `1.234,56`,
  `1 234,56`, `$1,234.56`, `USD 1,234.56`), digits OCR read as letters (`O`, `l`, `S`
  inside a number), dates in the forms carriers print (`2026-11-04`, `11/04/2026`,
  `04.11.2026`, `Nov 4, 2026`, with or without a time and zone), names put back into
  words (`MariaGonzalez` -> `Maria Gonzalez`).
- **Cross-checks.** An invoice's lines must add up to its total; when they do not, the
  total is kept and the difference is reported, and the confidence drops.

A slashed date is read month first (`11/04/2026` is November 4th, as the US carriers
print it) unless its first number cannot be a month. A time without a zone is read as
UTC, and the record says so.

Confidence is per field: the reader's own (OCR's score for the line; 1.0 for a PDF's text)
times how directly the value was read (1.0 as printed, less when digits were repaired, a
value came from the next line, or a date was ambiguous). The document's confidence is the
mean over the fields its kind needs, an unread one counting as 0.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from intermodal.foresight.documents_reading import TextLine

Kind = Literal["pod", "invoice", "unknown"]

POD_FIELDS = ("reference", "delivered_at", "signed_by")
INVOICE_FIELDS = ("reference", "invoice_number", "invoice_date", "currency", "lines", "total")


@dataclass(frozen=True, slots=True)
class Field:
    """One field read: its value (text, an ISO date-time, a decimal as text), the text it
    was read from, and how sure the reading is (0..1)."""

    value: str
    confidence: float
    source: str

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "confidence": round(self.confidence, 3), "source": self.source}


@dataclass(frozen=True, slots=True)
class ChargeLine:
    """One charge of an invoice: its canonical kind and code, as described, and amount."""

    kind: str
    code: str
    description: str
    amount: Decimal
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "code": self.code,
            "description": self.description,
            "amount": str(self.amount),
            "confidence": round(self.confidence, 3),
        }


@dataclass(slots=True)
class Extraction:
    """What a document says, as far as it could be read."""

    kind: Kind
    fields: dict[str, Field] = field(default_factory=dict)
    references: list[Field] = field(default_factory=list)
    """Every shipment reference the document names, best first (the shipment's key, its
    tracking number, an order number): the reader looks each up."""
    lines: list[ChargeLine] = field(default_factory=list)
    unread: list[str] = field(default_factory=list)
    """Fields the document's kind needs that could not be read, and why, one sentence each."""
    notes: list[str] = field(default_factory=list)
    """What was read with a caveat (a time without a zone, lines that do not add up)."""

    @property
    def confidence(self) -> float:
        wanted = (
            POD_FIELDS if self.kind == "pod" else INVOICE_FIELDS if self.kind == "invoice" else ()
        )
        if not wanted:
            return 0.0
        total = 0.0
        for name in wanted:
            if name == "reference":
                total += self.references[0].confidence if self.references else 0.0
            elif name == "lines":
                total += min((c.confidence for c in self.lines), default=0.0)
            elif name in self.fields:
                total += self.fields[name].confidence
        return round(total / len(wanted), 3)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "confidence": self.confidence,
            "fields": {name: f.to_dict() for name, f in self.fields.items()},
            "references": [r.to_dict() for r in self.references],
            "lines": [c.to_dict() for c in self.lines],
            "unread": list(self.unread),
            "notes": list(self.notes),
        }


# -- squashing and labels -----------------------------------------------------------------
def squash(text: str) -> str:
    """Lower-case letters and digits only: how labels are compared."""
    return "".join(ch for ch in text.lower() if ch.isalnum())


def _squash_map(text: str) -> tuple[str, list[int]]:
    """The squashed text, and for each of its characters the index in `text`."""
    chars, where = [], []
    for index, ch in enumerate(text):
        if ch.isalnum():
            chars.append(ch.lower())
            where.append(index)
    return "".join(chars), where


REFERENCE_LABELS: tuple[tuple[str, float], ...] = (
    ("shipmentkey", 1.0),
    ("shipmentno", 1.0),
    ("shipmentnumber", 1.0),
    ("shipmentref", 1.0),
    ("shipmentid", 1.0),
    ("shipment", 1.0),
    ("consignmentno", 0.95),
    ("consignment", 0.95),
    ("trackingnumber", 0.95),
    ("trackingno", 0.95),
    ("tracking", 0.95),
    ("pronumber", 0.9),
    ("prono", 0.9),
    ("pro", 0.9),
    ("billoflading", 0.9),
    ("bolno", 0.9),
    ("bol", 0.9),
    ("waybill", 0.9),
    ("ordernumber", 0.85),
    ("orderno", 0.85),
    ("orderref", 0.85),
    ("order", 0.85),
    ("yourreference", 0.85),
    ("customerreference", 0.85),
    ("reference", 0.8),
    ("ref", 0.8),
)
"""Labels that introduce a shipment reference, with how much a match by each is worth."""

SIGNER_LABELS = (
    "signedby",
    "receivedby",
    "consigneesignature",
    "signatureof",
    "receivername",
    "printname",
    "printedname",
    "signatory",
    "signature",
    "signed",
)
DELIVERED_LABELS = (
    "deliveredat",
    "deliveredon",
    "dateofdelivery",
    "datedelivered",
    "deliverydatetime",
    "deliverydate",
    "deliverytime",
    "deliveredtime",
    "receivedon",
    "receivedat",
    "signedon",
    "signedat",
    "delivered",
)
INVOICE_NUMBER_LABELS = (
    "invoicenumber",
    "invoiceno",
    "invoicenr",
    "invoiceid",
    "freightbillno",
    "freightbillnumber",
    "billno",
    "invoice",
    "inv",
)
INVOICE_DATE_LABELS = (
    "invoicedate",
    "dateofinvoice",
    "billingdate",
    "issuedate",
    "issued",
    "dated",
    "date",
)
CURRENCY_LABELS = ("currency", "curr")
TOTAL_LABELS = (
    "totaldue",
    "amountdue",
    "balancedue",
    "invoicetotal",
    "grandtotal",
    "totalamount",
    "totalusd",
    "totaleur",
    "total",
)
SUBTOTAL_LABELS = ("subtotal", "nettotal", "totalbeforetax")

CHARGE_WORDS: tuple[tuple[str, str, str], ...] = (
    # squashed word, canonical kind, code
    ("fuelsurcharge", "fuel", "fuel"),
    ("fuel", "fuel", "fuel"),
    ("fsc", "fuel", "fuel"),
    ("linehaul", "freight", "freight"),
    ("basefreight", "freight", "freight"),
    ("freightcharge", "freight", "freight"),
    ("freight", "freight", "freight"),
    ("transport", "freight", "freight"),
    ("liftgate", "accessorial", "liftgate"),
    ("detention", "accessorial", "detention"),
    ("residential", "accessorial", "residential"),
    ("insidedelivery", "accessorial", "inside_delivery"),
    ("lumper", "accessorial", "lumper"),
    ("layover", "accessorial", "layover"),
    ("redelivery", "accessorial", "redelivery"),
    ("appointment", "accessorial", "appointment"),
    ("waitingtime", "accessorial", "waiting_time"),
    ("storage", "accessorial", "storage"),
    ("hazmat", "accessorial", "hazmat"),
    ("tolls", "accessorial", "tolls"),
    ("toll", "accessorial", "tolls"),
    ("accessorial", "accessorial", "accessorial"),
)
"""Words that name a charge line, the canonical charge kind and the code it is filed
under (one charge per code: two freight legs add up to one freight charge)."""

_ALL_LABELS = tuple(
    sorted(
        {
            *(label for label, _ in REFERENCE_LABELS),
            *SIGNER_LABELS,
            *DELIVERED_LABELS,
            *INVOICE_NUMBER_LABELS,
            *INVOICE_DATE_LABELS,
            *TOTAL_LABELS,
            *SUBTOTAL_LABELS,
            *CURRENCY_LABELS,
            "carrier",
            "consignee",
            "shipper",
            "page",
            "time",
            "pieces",
            "weight",
        },
        key=len,
        reverse=True,
    )
)
_SHORT_LABELS = frozenset({"ref", "pro", "bol", "inv", "date", "curr", "time", "page", "signed"})
"""Labels short enough to hide inside other words: taken only at a word's start."""


@dataclass(frozen=True, slots=True)
class _Hit:
    line: int
    label: str
    value: str
    next_line: bool


def _label_at(text: str, label: str) -> tuple[int, int] | None:
    """Where `label` (squashed) starts and ends in `text`'s original characters, or None.

    A label must start a word of the line (not hide inside one: `ref` in `Transfer`), and
    the short ones must also end at a word's end (`pro` is not `Proof`)."""
    squashed, where = _squash_map(text)
    start = 0
    while (at := squashed.find(label, start)) != -1:
        start = at + 1
        first = where[at]
        if first > 0 and text[first - 1].isalnum():
            continue  # inside a word
        last = where[at + len(label) - 1]
        if label in _SHORT_LABELS and last + 1 < len(text) and text[last + 1].isalpha():
            continue
        return first, last + 1
    return None


def _value_after(text: str, end: int) -> str:
    """The value after a label: up to the next column (two spaces) or the next label."""
    rest = text[end:]
    rest = re.sub(r"^[\s:#.\-=|]*(?:no\.?\s*[:#]?\s*)?", "", rest, flags=re.IGNORECASE)
    rest = re.split(r"\s{2,}|\t|\s\|\s", rest, maxsplit=1)[0]
    squashed, where = _squash_map(rest)
    cut = len(rest)
    for label in _ALL_LABELS:
        if len(label) < 5:
            continue  # short words are common inside values
        at = squashed.find(label, 1)
        while at != -1:
            origin = where[at]
            if origin > 0 and (rest[origin - 1].isspace() or not rest[origin - 1].isalnum()
                               or rest[origin].isupper()):  # fmt: skip
                cut = min(cut, origin)
                break
            at = squashed.find(label, at + 1)
    return rest[:cut].strip(" :#.-=|")


def find_label(lines: Sequence[TextLine], labels: Iterable[str], every: bool = False) -> list[_Hit]:
    """Every line where one of `labels` (tried longest first, at most one per line unless
    `every`) starts a word, with the value after it (or on the next line when nothing
    follows)."""
    ordered = sorted(labels, key=len, reverse=True)
    hits = []
    for index, line in enumerate(lines):
        taken: list[tuple[int, int]] = []
        for label in ordered:
            found = _label_at(line.text, label)
            if found is None:
                continue
            start, end = found
            if any(a <= start < b for a, b in taken):
                continue  # inside a longer label or a value already taken (`BOL` in `BOL-77`)
            value = _value_after(line.text, end)
            value_at = line.text.find(value, end) if value else end
            taken.append((start, value_at + len(value)))
            if value:
                hits.append(_Hit(index, label, value, False))
            elif index + 1 < len(lines):
                following = re.split(r"\s{2,}", lines[index + 1].text.strip(), maxsplit=1)[0]
                if following:
                    hits.append(_Hit(index, label, following, True))
            if not every:
                break
    return hits


# -- values --------------------------------------------------------------------------------
_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{1,127}")
_DIGIT_LIKE = str.maketrans({"O": "0", "o": "0", "D": "0", "l": "1", "I": "1", "|": "1",
                             "S": "5", "B": "8", "Z": "2"})  # fmt: skip


def read_reference(value: str) -> str | None:
    """A shipment reference from a label's value: the first token a shipment key may be
    (letters, digits and `._:/-`, with a digit in it), trailing punctuation dropped."""
    for found in _KEY.findall(value):
        token = str(found).rstrip("._:/-")
        if len(token) >= 3 and any(ch.isdigit() for ch in token):
            return token
    return None


_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")
_NAME = re.compile(r"[^\W\d_][\w'\u2019.\- ]*", re.UNICODE)


def read_name(value: str) -> str | None:
    """A person's name: letters, spaces, apostrophes, hyphens and dots, with words split
    where OCR glued them (`MariaGonzalez`); None when nothing name-like is there."""
    found = _NAME.search(value)
    if found is None:
        return None
    name = found.group().strip(" .-")
    name = re.sub(r"\d.*$", "", name).strip(" .-")
    name = re.sub(r"(?<=[a-z])\.(?=[A-Z][a-z])", " ", name)  # OCR's dot for a space
    name = _CAMEL.sub(" ", name)
    name = re.sub(r"\s+", " ", name)
    words = name.split(" ")
    if not words or len(name) < 2 or len(name) > 120:
        return None
    if squash(name) in ("", "x", "na", "none", "signature"):
        return None
    return name


_MONEY = re.compile(
    r"(?P<neg>[-(])?\s*(?P<sym>[$€£])?\s*"
    r"(?P<num>\d[\dOolISB]{0,2}(?:[.,' \u00a0]\d[\dOolISB]{2})*(?:[.,]\d[\dOolISB])?"
    r"|\d+(?:[.,]\d{2})?)"
    r"(?![.,]?\d)(?!\s?%)"
)
_SYMBOLS = {"$": "USD", "€": "EUR", "£": "GBP"}
_CODES = (
    "USD",
    "EUR",
    "GBP",
    "CAD",
    "MXN",
    "CHF",
    "PLN",
    "SEK",
    "DKK",
    "NOK",
    "CZK",
    "HUF",
    "JPY",
    "CNY",
    "AUD",
)


def parse_amount(text: str) -> tuple[Decimal, float] | None:
    """A money amount and how sure the reading is: 1.0 as printed, 0.8 when digits OCR
    read as letters were repaired. Both decimal conventions are read: the separator
    followed by exactly two digits at the end is the decimal point."""
    raw = text.strip()
    repaired = raw.translate(_DIGIT_LIKE)
    certainty = 1.0 if repaired == raw else 0.8
    digits = re.sub(r"[\s'\u00a0]", "", repaired)
    if not re.fullmatch(r"\d[\d.,]*", digits):
        return None
    decimal_part = ""
    match = re.search(r"[.,](\d{2})$", digits)
    if match is not None:
        decimal_part = match.group(1)
        digits = digits[: match.start()]
    elif re.search(r"[.,]\d{1}$", digits) or re.search(r"[.,]\d{4,}$", digits):
        return None
    whole = re.sub(r"[.,]", "", digits)
    if not whole.isdigit():
        return None
    try:
        value = Decimal(f"{whole}.{decimal_part or '00'}")
    except InvalidOperation:
        return None
    return value, certainty


def amounts_in(text: str) -> list[tuple[Decimal, float, str | None]]:
    """Every money amount on a line, left to right, with its certainty and the currency
    its symbol or a neighbouring code names (None when neither does)."""
    found = []
    for match in _MONEY.finditer(text):
        parsed = parse_amount(match.group("num"))
        if parsed is None:
            continue
        value, certainty = parsed
        if match.group("neg"):
            value = -value
        currency = _SYMBOLS.get(match.group("sym") or "")
        if currency is None:
            around = text[max(0, match.start() - 5) : match.end() + 5].upper()
            currency = next((code for code in _CODES if code in around), None)
        found.append((value, certainty, currency))
    return found


def find_currency(lines: Sequence[TextLine]) -> Field | None:
    """The invoice's currency: a `Currency:` label, else the code or symbol most lines use."""
    for hit in find_label(lines, CURRENCY_LABELS):
        named = re.search(r"\b([A-Z]{3})\b", hit.value.upper())
        if named and named.group(1) in _CODES:
            return Field(named.group(1), lines[hit.line].confidence, lines[hit.line].text)
    counts: dict[str, int] = {}
    first: dict[str, TextLine] = {}
    for line in lines:
        upper = line.text.upper()
        for code in _CODES:
            if re.search(rf"(?<![A-Z]){code}(?![A-Z])", upper):
                counts[code] = counts.get(code, 0) + 1
                first.setdefault(code, line)
        for symbol, code in _SYMBOLS.items():
            if symbol in line.text:
                counts[code] = counts.get(code, 0) + 1
                first.setdefault(code, line)
    if not counts:
        return None
    code = max(counts, key=lambda c: counts[c])
    return Field(code, first[code].confidence * 0.9, first[code].text)


_MONTHS = {
    name: index
    for index, names in enumerate(
        [("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"),
         ("may",), ("jun", "june"), ("jul", "july"), ("aug", "august"),
         ("sep", "sept", "september"), ("oct", "october"), ("nov", "november"),
         ("dec", "december")],
        start=1,
    )
    for name in names
}  # fmt: skip
_ZONES = {
    "utc": 0, "gmt": 0, "z": 0, "cet": 60, "cest": 120, "bst": 60, "est": -300, "edt": -240,
    "cst": -360, "cdt": -300, "mst": -420, "mdt": -360, "pst": -480, "pdt": -420,
}  # fmt: skip
_ISO_DATE = re.compile(r"(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})")
_NUM_DATE = re.compile(
    r"(?<!\d)(?P<a>\d{1,2})(?P<sep>[/.\-])(?P<b>\d{1,2})(?P=sep)"
    r"(?P<y>\d{4}(?=\d{1,2}[:.h]\d{2})|\d{4}(?!\d)|\d{2}(?!\d))"
)
"""A numeric date; its year may run into the time where OCR dropped the space
(`03/13/202610:03`)."""
_WORD_DATE = re.compile(
    r"(?:(?P<d1>\d{1,2})\s*(?:st|nd|rd|th)?[\s\-]*(?P<mon1>[A-Za-z]{3,9})\.?[\s\-,]*(?P<y1>\d{4})"
    r"|(?P<mon2>[A-Za-z]{3,9})\.?\s*(?P<d2>\d{1,2})(?:st|nd|rd|th)?,?\s*(?P<y2>\d{4}))"
)
_CLOCK = (
    r"(?P<h>\d{1,2})[:.h](?P<mi>\d{2})(?::(?P<s>\d{2}))?\s*(?P<ampm>[AaPp]\.?[Mm]\.?)?"
    r"\s*(?P<zone>(?:UTC|GMT|Z|[ECMP][SD]T|CES?T|BST)(?![A-Za-z])|[+-]\d{2}:?\d{2})?"
)
_TIME = re.compile(r"(?<!\d)" + _CLOCK)
_TIME_AFTER_DATE = re.compile(r"[\sT,]*(?:at\s*)?" + _CLOCK)
"""A time right after its date, where OCR may have dropped the space (`2026-11-0414:32`)."""


def parse_datetime(text: str, need_time: bool = True) -> tuple[datetime, float, list[str]] | None:
    """A date (and time, and zone) as printed, as an aware datetime; its certainty and any
    caveat (no time when `need_time`, no zone, an ambiguous slashed date). None when no
    date is there."""
    notes: list[str] = []
    certainty = 1.0
    date_end = 0
    found = _ISO_DATE.search(text)
    year = month = day = 0
    if found is not None:
        year, month, day = int(found["y"]), int(found["m"]), int(found["d"])
        date_end = found.end()
    elif (found := _NUM_DATE.search(text)) is not None:
        a, b, y = int(found["a"]), int(found["b"]), int(found["y"])
        year = y + 2000 if y < 100 else y
        if found["sep"] == "." or a > 12:  # 04.11.2026: day first, as Europe prints it
            day, month = a, b
        else:
            month, day = a, b
            if b <= 12 and a != b:
                certainty = 0.9
                notes.append("a slashed date was read month first")
        date_end = found.end()
    elif (found := _WORD_DATE.search(text)) is not None:
        name = (found["mon1"] or found["mon2"] or "").lower()
        if name not in _MONTHS:
            return None
        month = _MONTHS[name]
        day = int(found["d1"] or found["d2"])
        year = int(found["y1"] or found["y2"])
        date_end = found.end()
    else:
        return None
    hour = minute = second = 0
    zone: timezone | None = None
    clock = _TIME_AFTER_DATE.match(text, date_end) or _TIME.search(text, date_end)
    if clock is not None:
        hour, minute = int(clock["h"]), int(clock["mi"])
        second = int(clock["s"] or 0)
        ampm = (clock["ampm"] or "").lower().replace(".", "")
        if ampm == "pm" and hour < 12:
            hour += 12
        if ampm == "am" and hour == 12:
            hour = 0
        zone_text = (clock["zone"] or "").lower()
        if zone_text in _ZONES:
            zone = timezone(timedelta(minutes=_ZONES[zone_text]))
        elif zone_text:
            sign = -1 if zone_text[0] == "-" else 1
            digits = zone_text[1:].replace(":", "")
            zone = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    elif need_time:
        notes.append("no time of day: read as midnight")
        certainty *= 0.9
    if zone is None:
        zone = UTC
        if clock is not None:
            notes.append("no time zone: read as UTC")
    try:
        value = datetime(year, month, day, hour, minute, second, tzinfo=zone)
    except ValueError:
        return None
    if not 1990 <= year <= 2100:
        return None
    return value.astimezone(UTC), certainty, notes


# -- the document's kind -------------------------------------------------------------------
_POD_WORDS = ("proofofdelivery", "deliveryreceipt", "podnumber", "deliverynote", "signedby",
              "receivedby", "receivedingoodcondition", "consigneesignature")  # fmt: skip
_INVOICE_WORDS = ("invoice", "amountdue", "totaldue", "balancedue", "freightbill",
                  "remitto", "paymentterms", "billto")  # fmt: skip


def classify(lines: Sequence[TextLine], hint: str | None = None) -> Kind:
    """Proof of delivery or invoice, by the words it uses (or the sender's `hint`)."""
    if hint in ("pod", "invoice"):
        return hint  # type: ignore[return-value]
    text = squash(" ".join(line.text for line in lines[:80]))
    pod = sum(text.count(word) for word in _POD_WORDS)
    invoice = sum(text.count(word) for word in _INVOICE_WORDS)
    if pod == invoice == 0:
        return "unknown"
    return "pod" if pod > invoice else "invoice"


# -- extraction ----------------------------------------------------------------------------
def extract(lines: Sequence[TextLine], hint: str | None = None) -> Extraction:
    """Read the fields of a document from its lines (module docstring)."""
    kind = classify(lines, hint)
    result = Extraction(kind)
    result.references = _references(lines)
    if kind == "unknown":
        result.unread.append(
            "kind: neither a proof of delivery nor an invoice by its words"
            " (send the header x-document-kind: pod or invoice)"
        )
    if not result.references:
        result.unread.append(
            "reference: no shipment, tracking, PRO, bill of lading or order number found"
        )
    if kind == "pod":
        _pod_fields(lines, result)
    elif kind == "invoice":
        _invoice_fields(lines, result)
    return result


def _references(lines: Sequence[TextLine]) -> list[Field]:
    weights = dict(REFERENCE_LABELS)
    found: dict[str, Field] = {}
    for hit in find_label(lines, weights, every=True):
        reference = read_reference(hit.value)
        if reference is None:
            continue
        confidence = (
            lines[hit.line].confidence * weights[hit.label] * (0.9 if hit.next_line else 1.0)
        )
        current = found.get(reference)
        if current is None or current.confidence < confidence:
            found[reference] = Field(reference, confidence, lines[hit.line].text)
    return sorted(found.values(), key=lambda f: -f.confidence)


def _first(lines: Sequence[TextLine], labels: Iterable[str], read: Any) -> tuple[Any, Field] | None:
    """The first readable value of the most specific label: labels are tried in the order
    given (`Invoice date` before a bare `Date`, which may be a due date), each over every line."""
    for label in labels:
        for hit in find_label(lines, (label,)):
            value = read(hit.value)
            if value is not None:
                line = lines[hit.line]
                confidence = line.confidence * (0.9 if hit.next_line else 1.0)
                return value, Field("", confidence, line.text)
    return None


def _pod_fields(lines: Sequence[TextLine], result: Extraction) -> None:
    signer = _first(lines, SIGNER_LABELS, read_name)
    if signer is not None:
        name, where = signer
        result.fields["signed_by"] = Field(name, where.confidence, where.source)
    else:
        result.unread.append("signed_by: no signer's name next to a signature label")
    when = _first(lines, DELIVERED_LABELS, parse_datetime)
    if when is not None:
        (at, certainty, notes), where = when
        result.fields["delivered_at"] = Field(_iso(at), where.confidence * certainty, where.source)
        result.notes.extend(f"delivered_at: {note}" for note in notes)
    else:
        result.unread.append("delivered_at: no delivery date next to a delivery label")


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _invoice_fields(lines: Sequence[TextLine], result: Extraction) -> None:
    number = _first(lines, INVOICE_NUMBER_LABELS, read_reference)
    if number is not None:
        value, where = number
        result.fields["invoice_number"] = Field(value, where.confidence, where.source)
    else:
        result.unread.append("invoice_number: no invoice number next to an invoice label")
    when = _first(lines, INVOICE_DATE_LABELS, lambda text: parse_datetime(text, need_time=False))
    if when is not None:
        (at, certainty, notes), where = when
        result.fields["invoice_date"] = Field(
            at.date().isoformat(), where.confidence * certainty, where.source
        )
        result.notes.extend(f"invoice_date: {n}" for n in notes if "zone" not in n)
    else:
        result.unread.append("invoice_date: no date next to an invoice date label")
    currency = find_currency(lines)
    if currency is not None:
        result.fields["currency"] = currency
    else:
        result.unread.append("currency: no currency code or symbol")
    result.lines = _charge_lines(lines)
    if not result.lines:
        result.unread.append("lines: no freight, fuel or accessorial line with an amount")
    total = _total(lines)
    listed = sum((c.amount for c in result.lines), Decimal(0))
    if total is not None:
        result.fields["total"] = total
        difference = Decimal(total.value) - listed
        if result.lines and abs(difference) > Decimal("0.01"):
            result.notes.append(
                f"total: the lines add up to {listed}, the printed total is {total.value}"
                f" (a difference of {difference}); a line may be missing or misread"
            )
            result.fields["total"] = Field(total.value, total.confidence * 0.6, total.source)
            result.lines = [
                ChargeLine(c.kind, c.code, c.description, c.amount, c.confidence * 0.6)
                for c in result.lines
            ]
    elif result.lines:
        result.fields["total"] = Field(str(listed), min(c.confidence for c in result.lines) * 0.7,
                                       "sum of the lines")  # fmt: skip
        result.notes.append("total: no printed total; the sum of the lines is used")
    else:
        result.unread.append("total: no total amount")


def _charge_lines(lines: Sequence[TextLine]) -> list[ChargeLine]:
    """One charge per charge line (a charge word and an amount at its end), lines with the
    same code added up. Totals, subtotals, taxes and the header are not charge lines."""
    by_code: dict[str, ChargeLine] = {}
    for line in lines:
        squashed = squash(line.text)
        if any(label in squashed for label in (*TOTAL_LABELS, *SUBTOTAL_LABELS, "amountdue")):
            continue
        word = next((w for w in CHARGE_WORDS if w[0] in squashed), None)
        if word is None:
            continue
        amounts = amounts_in(line.text)
        if not amounts:
            continue
        amount, certainty, _currency = amounts[-1]  # the amount column is the last
        description = _description(line.text)
        _squashed, kind, code = word
        confidence = line.confidence * certainty
        current = by_code.get(code)
        if current is not None:
            amount += current.amount
            description = f"{current.description}; {description}"
            confidence = min(confidence, current.confidence)
        by_code[code] = ChargeLine(kind, code, description[:256], amount, confidence)
    return list(by_code.values())


def _description(text: str) -> str:
    words = re.split(r"\s{2,}", text.strip())
    first = words[0] if words else text
    first = re.sub(r"[$€£]?\s*\d[\d.,]*\s*$", "", first).strip(" :-")
    return _CAMEL.sub(" ", first) or text.strip()


def _total(lines: Sequence[TextLine]) -> Field | None:
    """The printed total: the amount on the last total line (a total due comes after a
    subtotal and the taxes)."""
    candidates = []
    for hit in find_label(lines, TOTAL_LABELS):
        line = lines[hit.line]
        if any(label in squash(line.text) for label in SUBTOTAL_LABELS):
            continue
        amounts = amounts_in(line.text if not hit.next_line else hit.value)
        if amounts:
            amount, certainty, _currency = amounts[-1]
            candidates.append(Field(str(amount), line.confidence * certainty, line.text))
    return candidates[-1] if candidates else None


__all__ = [
    "ChargeLine",
    "Extraction",
    "Field",
    "amounts_in",
    "classify",
    "extract",
    "parse_amount",
    "parse_datetime",
    "read_name",
    "read_reference",
    "squash",
]
