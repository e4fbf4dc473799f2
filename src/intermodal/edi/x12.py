"""ANSI X12 004010: parse and generate 204, 210, 214, 990 and 997 interchanges.

The parser is hand-written on purpose. It is on the hot path (every carrier status comes
through it), the grammar is small (delimiters from the ISA, then split), and the reports
must name segment numbers and element positions, which general X12 libraries either do not
track or tie to HIPAA maps. It reads any transaction set; `SUPPORTED_SETS` lists the ones
the hub maps and acknowledges as supported.

Reading follows what partners actually send, not only what the standard says:
- delimiters come from the ISA: the element separator is the 4th character, the component
  separator is ISA16 and the segment terminator the character after it. The ISA is
  fixed-width (106 characters) by the standard; when a partner wraps it over lines, the
  line breaks inside it are layout and are dropped, and when its padding is missing it is
  read by splitting on the element separator; either way a warning says so;
- every ISA and GS value, and the ST and trailer control numbers, are identifiers and codes:
  leading and trailing whitespace of any kind (tabs, line breaks, Unicode spaces) is
  trimmed from them;
- a newline may be the terminator, and CR/LF after terminators is ignored, as is a UTF-8
  byte-order mark. When the terminator is not a line break, line breaks inside segments
  are layout too (fixed-length records of 80 characters) and are dropped, with a warning;
- text is UTF-8; a byte that is not is read as ISO 8859-1, with a warning that names the
  segment and element it sits in, so a Latin-1 name never turns into silent mojibake;
- several interchanges per file, each with its own delimiters; several groups and sets.

Envelope checks (SE01 = segments ST..SE inclusive, SE02 = ST02, GE01 = sets, GE02 = GS06,
IEA01 = groups, IEA02 = ISA13) raise `EnvelopeError` in reject mode and become warnings in
warn mode, attached to the transaction set or group they concern so that a 997 can reject
exactly those. Bytes that cannot be read as X12 at all raise `EdiSyntaxError` in both modes.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NoReturn

from intermodal.edi.control import ControlNumberSource
from intermodal.edi.errors import (
    EdiError,
    EdiSyntaxError,
    EdiWarning,
    EnvelopeError,
    GenerationError,
    Location,
    Mode,
    Segment,
    gc_paused,
)

# Transaction set -> functional identifier code (GS01) it travels under.
SUPPORTED_SETS: dict[str, str] = {
    "204": "SM",  # Motor Carrier Load Tender
    "210": "IM",  # Motor Carrier Freight Details and Invoice
    "214": "QM",  # Transportation Carrier Shipment Status Message
    "990": "GF",  # Response to a Load Tender
    "997": "FA",  # Functional Acknowledgment
}
VERSION = "004010"
ISA_VERSION = "00401"

# ISA element widths (ISA01..ISA16) and the positions of its 16 element separators.
_ISA_WIDTHS = (2, 10, 2, 10, 2, 15, 2, 15, 6, 4, 1, 5, 9, 1, 1, 1)
_ISA_SEPARATORS: tuple[int, ...] = tuple(
    3 + sum(_ISA_WIDTHS[:i]) + i for i in range(len(_ISA_WIDTHS))
)
_ISA_LENGTH = _ISA_SEPARATORS[-1] + 3  # ... ISA16, terminator: 106
_TAG = re.compile(r"[A-Z][A-Z0-9]{1,2}")
_ENVELOPE_TAGS = frozenset({"ST", "GS", "GE", "IEA"})
_BOM = "\ufeff"
_LINE_BREAKS = "\r\n"
_ISA_WINDOW = 400  # characters searched for the 16 ISA elements: far beyond any ISA, wrapped or not
# A byte that is not UTF-8 is decoded (surrogateescape) as U+DC80..U+DCFF; it is then read as
# the ISO 8859-1 character of the same byte. One character for one byte either way, so
# offsets in the text stay offsets in the bytes.
_NOT_UTF8 = re.compile("[\udc80-\udcff]+")
_AS_LATIN1 = {0xDC00 + byte: chr(byte) for byte in range(0x80, 0x100)}
_ENCODING_WARNINGS = 20  # per document; past that, one line counts the rest


@dataclass(frozen=True, slots=True)
class Delimiters:
    """The three X12 delimiters; 004010 has no repetition separator (ISA11 is "U")."""

    element: str = "*"
    component: str = ">"
    segment: str = "~"

    def problem(self) -> str | None:
        """Why these cannot delimit X12, or None if they can."""
        chars = (self.element, self.component, self.segment)
        if any(len(c) != 1 for c in chars):
            return "each delimiter must be a single character"
        if len(set(chars)) != 3:
            return f"delimiters must differ: {chars!r}"
        if any(c.isalnum() or c == " " for c in chars):
            return f"delimiters may not be letters, digits or spaces: {chars!r}"
        if self.element in "\r\n" or self.component in "\r\n":
            return "only the segment terminator may be a line break"
        return None


@dataclass(slots=True)
class Transaction:
    """One transaction set (ST..SE); `segments` are those between ST and SE."""

    set_id: str
    control_number: str
    segments: list[Segment] = field(default_factory=list)
    number: int = field(default=0, compare=False)  # file segment number of its ST
    declared_count: int | None = field(default=None, compare=False)  # SE01 as found
    problems: list[EdiWarning] = field(default_factory=list, compare=False)

    @property
    def segment_count(self) -> int:
        """What SE01 must say: ST and SE included."""
        return len(self.segments) + 2


@dataclass(slots=True)
class Group:
    """One functional group (GS..GE) of transaction sets of one kind."""

    functional_id: str
    sender: str
    receiver: str
    date: str
    time: str
    control_number: str
    agency: str = "X"
    version: str = VERSION
    transactions: list[Transaction] = field(default_factory=list)
    number: int = field(default=0, compare=False)
    declared_count: int | None = field(default=None, compare=False)  # GE01 as found
    problems: list[EdiWarning] = field(default_factory=list, compare=False)


@dataclass(slots=True)
class Interchange:
    """One interchange (ISA..IEA). Sender and receiver are kept without ISA padding."""

    sender_qualifier: str
    sender: str
    receiver_qualifier: str
    receiver: str
    date: str  # YYMMDD
    time: str  # HHMM
    control_number: str  # ISA13, 9 digits
    groups: list[Group] = field(default_factory=list)
    authorization_qualifier: str = "00"
    authorization: str = ""
    security_qualifier: str = "00"
    security: str = ""
    standards_id: str = "U"
    version: str = ISA_VERSION
    ack_requested: str = "0"
    usage: str = "P"  # P production, T test
    delimiters: Delimiters = field(default_factory=Delimiters)
    acknowledgements: list[Segment] = field(default_factory=list)  # TA1 segments
    number: int = field(default=0, compare=False)
    declared_count: int | None = field(default=None, compare=False)  # IEA01 as found
    problems: list[EdiWarning] = field(default_factory=list, compare=False)


@dataclass(slots=True)
class X12Document:
    """Everything one file held, and the warnings collected while reading it."""

    interchanges: list[Interchange] = field(default_factory=list)
    warnings: list[EdiWarning] = field(default_factory=list, compare=False)

    def transactions(self) -> Iterator[tuple[Interchange, Group, Transaction]]:
        for interchange in self.interchanges:
            for group in interchange.groups:
                for transaction in group.transactions:
                    yield interchange, group, transaction


# -- parsing ---------------------------------------------------------------------------------
def parse_x12(
    data: bytes | str,
    mode: Mode = "reject",
    *,
    partner: str | None = None,
    document: str | None = None,
) -> X12Document:
    """Read every interchange in `data`.

    Raises `EdiSyntaxError` when the bytes are not X12, and in reject mode `EnvelopeError`
    at the first envelope problem; in warn mode those become `X12Document.warnings` (and
    the `problems` of the set, group or interchange concerned). Never raises anything but
    an `EdiError`.
    """
    with gc_paused():
        return _Parser(data, mode, partner, document).run()


def looks_like_x12(data: bytes) -> bool:
    return data.lstrip(b"\xef\xbb\xbf \t\r\n")[:3] == b"ISA"


class _Parser:
    def __init__(
        self, data: bytes | str, mode: Mode, partner: str | None, document: str | None
    ) -> None:
        self.mode = mode
        self.partner = partner
        self.document = document
        self.warnings: list[EdiWarning] = []
        # True while the text may hold bytes that are not UTF-8 (see _NOT_UTF8): only then
        # does each segment pay for a search for them.
        self.mixed = False
        self.encoding_reports = 0
        if isinstance(data, str):
            text = data
        else:
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                text = data.decode("utf-8", "surrogateescape")
                self.mixed = True
        self.text = text[1:] if text.startswith(_BOM) else text
        self.number = 0  # segments read so far in the whole file
        self.tags: set[str] = set()
        self.breaks: dict[str, bool] = {}  # terminator -> does a line break follow anything else

    # reports -------------------------------------------------------------------------
    def where(
        self,
        number: int | None = None,
        tag: str | None = None,
        element: str | None = None,
        position: int | None = None,
        interchange: Interchange | None = None,
        group: Group | None = None,
        transaction: Transaction | None = None,
    ) -> Location:
        return Location(
            self.partner,
            self.document,
            number,
            position,
            tag,
            element,
            transaction.control_number if transaction else None,
            group.control_number if group else None,
            interchange.control_number if interchange else None,
        )

    def syntax(self, message: str, where: Location) -> NoReturn:
        raise EdiSyntaxError("syntax", message, where)

    def note(self, code: str, message: str, where: Location | None = None) -> None:
        """Something worth telling that is never a reason to reject."""
        self.warnings.append(EdiWarning(code, message, where or self.where()))

    def problem(
        self, code: str, message: str, where: Location, *owners: Transaction | Group | Interchange
    ) -> None:
        """An envelope problem: raised in reject mode, collected in warn mode."""
        if self.mode == "reject":
            raise EnvelopeError(code, message, where)
        warning = EdiWarning(code, message, where)
        self.warnings.append(warning)
        for owner in owners:
            owner.problems.append(warning)

    # the file --------------------------------------------------------------------------
    def run(self) -> X12Document:
        text = self.text
        doc = X12Document(warnings=self.warnings)
        pos = _skip_space(text, 0)
        if pos >= len(text):
            self.syntax("empty document: expected an ISA segment", self.where())
        while pos < len(text):
            if not text.startswith("ISA", pos):
                if not doc.interchanges:
                    self.syntax(
                        f"expected an ISA segment, found {text[pos : pos + 20]!r}",
                        self.where(self.number + 1),
                    )
                last = doc.interchanges[-1]
                if text[pos] == last.delimiters.segment:  # a stray terminator: harmless
                    pos = _skip_space(text, pos + 1)
                    continue
                self.problem(
                    "unexpected_segment",
                    f"data after IEA that is not an ISA: {text[pos : pos + 20]!r}",
                    self.where(self.number + 1, interchange=last),
                    last,
                )
                found = text.find("ISA", pos)
                if found < 0:
                    break
                pos = found
            interchange, pos = self.interchange(pos)
            doc.interchanges.append(interchange)
            text = self.text  # read as ISO 8859-1 from here if its delimiters said so
            pos = _skip_space(text, pos)
        more = self.encoding_reports - _ENCODING_WARNINGS
        if more > 0:
            self.note(
                "encoding",
                f"{more} more elements held bytes that are not UTF-8 (read as ISO 8859-1)",
            )
        return doc

    def read_isa(self, pos: int) -> tuple[list[str], Delimiters, int]:
        """ISA elements 01..16, the delimiters, and where the next segment starts.

        ISA01..ISA15 come back trimmed of whitespace of any kind, ISA16 (a delimiter) as it
        is. The standard's fixed layout is tried first on the text as it is, then on the
        text without its line breaks (a partner that wraps its lines wraps the ISA too, and
        a break shifts every position after it), and last the elements are found by the
        element separator (an ISA without its padding).
        """
        text = self.text
        number = self.number + 1
        at = self.where(number, "ISA")
        head = text[pos : pos + _ISA_LENGTH]
        el = head[3:4]
        if len(head) == _ISA_LENGTH and _separates(el) and _fixed(head, el):
            values = _fixed_values(head)
            isa16_at = pos + _ISA_LENGTH - 2
            layout = None
        else:
            view, offsets = _without_line_breaks(text, pos, pos + _ISA_WINDOW)
            if len(view) < 4:
                self.syntax("ISA segment cut short", at)
            el = view[3]
            if not _separates(el):
                self.syntax(f"{el!r} cannot be the element separator", at)
            if len(view) >= _ISA_LENGTH - 1 and _fixed(view, el):
                values = _fixed_values(view)
                isa16 = _ISA_LENGTH - 2
                layout = "the ISA is wrapped over lines; read without its line breaks"
            else:
                values = []
                cursor = 3
                for _ in range(15):
                    nxt = view.find(el, cursor + 1)
                    if nxt < 0:
                        self.syntax(
                            f"ISA has fewer than 16 elements separated by {el!r}",
                            self.where(number, "ISA", f"ISA{len(values) + 1:02d}"),
                        )
                    values.append(view[cursor + 1 : nxt])
                    cursor = nxt
                values.append(view[cursor + 1 : cursor + 2])
                isa16 = cursor + 1
                if values[15] == "":
                    self.syntax(
                        "ISA segment cut short before ISA16", self.where(number, "ISA", "ISA16")
                    )
                layout = "ISA is not fixed-width (106 characters); read by its element separator"
                if offsets[isa16] - pos != isa16:
                    layout += ", without its line breaks"
            isa16_at = offsets[isa16]
        term_at = isa16_at + 1
        if term_at >= len(text) or values[15] == "":
            self.syntax("ISA segment cut short before ISA16", self.where(number, "ISA", "ISA16"))
        term_at, moved = _terminator(text, term_at, el, values[15])
        if moved and layout is None:
            layout = "a line break separates ISA16 from the segment terminator"
        if layout is not None:
            self.note("isa_width", layout, self.where(number, "ISA"))
        values = self.trim_isa(values, number)
        delimiters = Delimiters(el, values[15], text[term_at])
        if any(_NOT_UTF8.match(c) for c in (el, values[15], text[term_at])):
            delimiters = self.single_byte(delimiters, number)
        why = delimiters.problem()
        if why is not None:
            self.syntax(why, self.where(number, "ISA", "ISA16"))
        self.number = number
        return values, delimiters, term_at + 1

    def trim_isa(self, values: list[str], number: int) -> list[str]:
        """ISA01..ISA15 without whitespace around them (ISA16 is a delimiter: as it is).

        Padding other than spaces (a tab, a line break where a space belongs) is trimmed
        too, and told once: it is the partner's to fix, never a reason to fail later."""
        trimmed: list[str] = []
        odd: list[str] = []
        for index, value in enumerate(values[:15], 1):
            if self.mixed and _NOT_UTF8.search(value):
                value = self.as_latin1(value, self.where(number, "ISA", f"ISA{index:02d}"))
            if "\r" in value or "\n" in value:
                value = value.replace("\r", "").replace("\n", "")
                odd.append(f"ISA{index:02d}")
            clean = value.strip()
            if clean != value.strip(" ") and f"ISA{index:02d}" not in odd:
                odd.append(f"ISA{index:02d}")
            trimmed.append(clean)
        if odd:
            self.note(
                "isa_padding",
                f"{', '.join(odd)} padded with whitespace other than spaces; trimmed",
                self.where(number, "ISA"),
            )
        trimmed.append(values[15])
        return trimmed

    def single_byte(self, d: Delimiters, number: int) -> Delimiters:
        """Delimiters that are bytes outside UTF-8 (0x85, 0x9F, ...): the partner writes a
        single-byte character set, so from here on every such byte is ISO 8859-1."""
        self.text = self.text.translate(_AS_LATIN1)
        self.mixed = False
        shown = ", ".join(
            f"0x{ord(c) - 0xDC00:02X}"
            for c in (d.element, d.component, d.segment)
            if _NOT_UTF8.match(c)
        )
        self.note(
            "encoding",
            f"delimiter byte {shown} is not UTF-8; the document is read as ISO 8859-1",
            self.where(number, "ISA"),
        )
        return Delimiters(*(c.translate(_AS_LATIN1) for c in (d.element, d.component, d.segment)))

    def as_latin1(self, value: str, where: Location) -> str:
        """`value` with each byte that is not UTF-8 read as ISO 8859-1, and a warning that
        names the element (the first `_ENCODING_WARNINGS` of a document; `run` counts the rest)."""
        read = value.translate(_AS_LATIN1)
        self.encoding_reports += 1
        if self.encoding_reports <= _ENCODING_WARNINGS:
            bad = [m.group() for m in _NOT_UTF8.finditer(value)]
            shown = ", ".join(f"0x{ord(c) - 0xDC00:02X}" for run in bad for c in run)
            many = sum(len(run) for run in bad) > 1
            self.note(
                "encoding",
                f"{'bytes' if many else 'byte'} {shown} {'are' if many else 'is'} not UTF-8; "
                f"read as ISO 8859-1: {read!r}",
                where,
            )
        return read

    def wrapped(self, term: str) -> bool:
        """Whether some line break in the document follows anything but `term`: only then may
        a segment hold one, and only then does each segment pay for looking. Counted once
        per terminator (C-speed counts), each CR LF as one break."""
        found = self.breaks.get(term)
        if found is None:
            text = self.text
            breaks = text.count("\n") - text.count("\r\n") + text.count("\r")
            found = breaks != text.count(term + "\n") + text.count(term + "\r")
            self.breaks[term] = found
        return found

    def segment_as_latin1(
        self,
        raw: str,
        el: str,
        number: int,
        position: int | None,
        ic: Interchange,
        group: Group | None,
        tx: Transaction | None,
    ) -> str:
        parts = raw.split(el)
        tag = parts[0].translate(_AS_LATIN1)
        for index in range(1, len(parts)):
            if _NOT_UTF8.search(parts[index]):
                where = self.where(number, tag, f"{tag}{index:02d}", position, ic, group, tx)
                parts[index] = self.as_latin1(parts[index], where)
        return el.join([tag, *parts[1:]])

    def interchange(self, start: int) -> tuple[Interchange, int]:
        values, d, pos = self.read_isa(start)
        isa_number = self.number
        ic = Interchange(
            sender_qualifier=values[4],
            sender=values[5],
            receiver_qualifier=values[6],
            receiver=values[7],
            date=values[8],
            time=values[9],
            control_number=values[12],
            authorization_qualifier=values[0],
            authorization=values[1],
            security_qualifier=values[2],
            security=values[3],
            standards_id=values[10],
            version=values[11],
            ack_requested=values[13],
            usage=values[14],
            delimiters=d,
            number=isa_number,
        )
        control = ic.control_number
        if not (len(control) == 9 and control.isascii() and control.isdigit()):
            self.problem(
                "control_number",
                f"ISA13 must be 9 digits, found {control!r}",
                self.where(isa_number, "ISA", "ISA13", interchange=ic),
                ic,
            )
        text = self.text
        el, comp, term = d.element, d.component, d.segment
        strip = "".join(c for c in "\r\n" if c != term) or "\x00"
        # With a terminator that is not a line break, a line break inside a segment is
        # layout (fixed-length records), never data: X12 has no line breaks in values.
        unwrap = term not in _LINE_BREAKS and self.wrapped(term)
        unwrapped = False
        tags = self.tags
        group: Group | None = None
        tx: Transaction | None = None
        orphan = False  # inside an ST..SE that had no group (warn mode skips it)
        body: list[Segment] = []
        length = len(text)
        while pos < length:
            end = text.find(term, pos)
            if end < 0:
                end = length
            raw = text[pos:end]
            seg_start = pos
            pos = end + 1
            stripped = raw.lstrip(strip)
            if stripped is not raw:
                seg_start += len(raw) - len(stripped)
            raw = stripped.rstrip(strip)
            if not raw:
                continue
            number = self.number + 1
            if unwrap and ("\n" in raw or "\r" in raw):
                raw = raw.replace("\r", "").replace("\n", "")
                if not unwrapped:
                    unwrapped = True
                    self.note(
                        "line_breaks",
                        "line breaks inside segments (wrapped lines) are dropped, "
                        "from this segment on",
                        self.where(
                            number, raw.split(el, 1)[0], interchange=ic, group=group, transaction=tx
                        ),
                    )
            if self.mixed and _NOT_UTF8.search(raw):
                position = len(body) + 2 if tx is not None else None
                raw = self.segment_as_latin1(raw, el, number, position, ic, group, tx)
            parts = raw.split(el)
            tag = parts[0]
            if tag not in tags:
                if not _TAG.fullmatch(tag):
                    self.syntax(
                        f"{tag[:20]!r} is not a segment identifier",
                        self.where(number, interchange=ic, group=group, transaction=tx),
                    )
                tags.add(tag)
            if tag == "ISA":
                # another interchange starts before this one ended
                self.close_open(ic, group, tx, number)
                return ic, seg_start
            self.number = number
            if tx is not None:
                if tag == "SE":
                    self.close_transaction(ic, group, tx, parts, number)
                    tx = None
                    body = []
                    continue
                if tag not in _ENVELOPE_TAGS:
                    if comp in raw or parts[-1] == "":
                        elements = _elements(parts, comp)
                    else:  # the common case: no composites, no trailing empties; all in C
                        elements = tuple(zip(parts))[1:]
                    body.append(Segment(tag, elements, number, len(body) + 2))
                    continue
                self.problem(
                    "missing_trailer",
                    f"transaction set {tx.control_number} has no SE before this {tag}",
                    self.where(number, tag, interchange=ic, group=group, transaction=tx),
                    tx,
                )
                tx = None
            if orphan:
                if tag not in ("SE", "GS", "GE", "IEA"):
                    continue
                orphan = False
                if tag == "SE":
                    continue
            if tag == "ST":
                if group is None:
                    self.problem(
                        "unexpected_segment",
                        "ST outside a functional group (no GS before it)",
                        self.where(number, "ST", interchange=ic),
                        ic,
                    )
                    orphan = True
                    continue
                tx = self.open_transaction(ic, group, parts, number)
                body = tx.segments
            elif tag == "GS":
                if group is not None:
                    self.problem(
                        "missing_trailer",
                        f"group {group.control_number} has no GE before this GS",
                        self.where(number, "GS", interchange=ic, group=group),
                        group,
                    )
                group = self.open_group(ic, parts, number)
            elif tag == "GE":
                if group is None:
                    self.problem(
                        "unexpected_segment",
                        "GE without a GS",
                        self.where(number, "GE", interchange=ic),
                        ic,
                    )
                    continue
                self.close_group(ic, group, parts, number)
                group = None
            elif tag == "IEA":
                if group is not None:
                    self.problem(
                        "missing_trailer",
                        f"group {group.control_number} has no GE before IEA",
                        self.where(number, "IEA", interchange=ic, group=group),
                        group,
                    )
                self.close_interchange(ic, parts, number)
                return ic, pos
            elif tag == "TA1" and group is None:
                ic.acknowledgements.append(Segment(tag, _elements(parts, comp), number))
            else:
                self.problem(
                    "unexpected_segment",
                    f"{tag} outside a transaction set",
                    self.where(number, tag, interchange=ic, group=group),
                    *([group] if group else [ic]),
                )
        self.close_open(ic, group, tx, self.number, at_end=True)
        return ic, pos

    def close_open(
        self,
        ic: Interchange,
        group: Group | None,
        tx: Transaction | None,
        number: int,
        at_end: bool = False,
    ) -> None:
        what = "the end of the file" if at_end else "the next ISA"
        if tx is not None:
            self.problem(
                "missing_trailer",
                f"transaction set {tx.control_number} has no SE before {what}",
                self.where(number, interchange=ic, group=group, transaction=tx),
                tx,
            )
        if group is not None:
            self.problem(
                "missing_trailer",
                f"group {group.control_number} has no GE before {what}",
                self.where(number, interchange=ic, group=group),
                group,
            )
        self.problem(
            "missing_trailer",
            f"interchange {ic.control_number} has no IEA before {what}",
            self.where(number, interchange=ic),
            ic,
        )

    def open_group(self, ic: Interchange, parts: list[str], number: int) -> Group:
        values = [v.strip() for v in parts[1:9]]
        values += [""] * (8 - len(values))
        group = Group(
            functional_id=values[0],
            sender=values[1],
            receiver=values[2],
            date=values[3],
            time=values[4],
            control_number=values[5],
            agency=values[6],
            version=values[7],
            number=number,
        )
        ic.groups.append(group)
        for index, name in ((0, "GS01"), (5, "GS06"), (7, "GS08")):
            if values[index] == "":
                self.problem(
                    "header",
                    f"{name} is missing",
                    self.where(number, "GS", name, interchange=ic, group=group),
                    group,
                )
        return group

    def close_group(self, ic: Interchange, group: Group, parts: list[str], number: int) -> None:
        at = self.where(number, "GE", "GE01", interchange=ic, group=group)
        declared = _count(parts, 1)
        group.declared_count = declared
        if declared != len(group.transactions):
            self.problem(
                "transaction_count",
                f"GE01 says {_said(parts, 1)} transaction sets, group {group.control_number} "
                f"has {len(group.transactions)}",
                at,
                group,
            )
        if _field(parts, 2).strip() != group.control_number:
            self.problem(
                "control_mismatch",
                f"GE02 {_said(parts, 2)} does not match GS06 {group.control_number!r}",
                self.where(number, "GE", "GE02", interchange=ic, group=group),
                group,
            )

    def close_interchange(self, ic: Interchange, parts: list[str], number: int) -> None:
        declared = _count(parts, 1)
        ic.declared_count = declared
        if declared != len(ic.groups):
            self.problem(
                "group_count",
                f"IEA01 says {_said(parts, 1)} functional groups, interchange "
                f"{ic.control_number} has {len(ic.groups)}",
                self.where(number, "IEA", "IEA01", interchange=ic),
                ic,
            )
        if _field(parts, 2).strip() != ic.control_number:
            self.problem(
                "control_mismatch",
                f"IEA02 {_said(parts, 2)} does not match ISA13 {ic.control_number!r}",
                self.where(number, "IEA", "IEA02", interchange=ic),
                ic,
            )

    def open_transaction(
        self, ic: Interchange, group: Group, parts: list[str], number: int
    ) -> Transaction:
        tx = Transaction(_field(parts, 1).strip(), _field(parts, 2).strip(), number=number)
        group.transactions.append(tx)
        if not (len(tx.set_id) == 3 and tx.set_id.isdigit()):
            self.problem(
                "set_id",
                f"ST01 must be a 3-digit transaction set identifier, found {_said(parts, 1)}",
                self.where(number, "ST", "ST01", 1, ic, group, tx),
                tx,
            )
        if not 4 <= len(tx.control_number) <= 9:
            self.problem(
                "control_number",
                f"ST02 must be 4 to 9 characters, found {_said(parts, 2)}",
                self.where(number, "ST", "ST02", 1, ic, group, tx),
                tx,
            )
        return tx

    def close_transaction(
        self,
        ic: Interchange,
        group: Group | None,
        tx: Transaction,
        parts: list[str],
        number: int,
    ) -> None:
        count = tx.segment_count
        tx.declared_count = declared = _count(parts, 1)
        if declared != count:
            self.problem(
                "segment_count",
                f"SE01 says {_said(parts, 1)} segments, transaction set {tx.control_number} "
                f"has {count} (ST to SE inclusive)",
                self.where(number, "SE", "SE01", count, ic, group, tx),
                tx,
            )
        if _field(parts, 2).strip() != tx.control_number:
            self.problem(
                "control_mismatch",
                f"SE02 {_said(parts, 2)} does not match ST02 {tx.control_number!r}",
                self.where(number, "SE", "SE02", count, ic, group, tx),
                tx,
            )


def _separates(el: str) -> bool:
    """Whether `el` can be the element separator (the character after "ISA")."""
    return len(el) == 1 and not el.isalnum() and el not in " \r\n"


def _fixed(isa: str, el: str) -> bool:
    """Whether `isa` (from "ISA" on) has the standard's layout: `el` at the 16 fixed places."""
    return all(isa[i] == el for i in _ISA_SEPARATORS)


_ISA_BOUNDS = (*_ISA_SEPARATORS, _ISA_SEPARATORS[-1] + 2)


def _fixed_values(isa: str) -> list[str]:
    return [isa[_ISA_BOUNDS[i] + 1 : _ISA_BOUNDS[i + 1]] for i in range(16)]


def _without_line_breaks(text: str, start: int, stop: int) -> tuple[str, list[int]]:
    """text[start:stop] without CR and LF, and the offset in `text` of each character kept."""
    offsets = [i for i in range(start, min(stop, len(text))) if text[i] not in _LINE_BREAKS]
    return "".join(text[i] for i in offsets), offsets


def _terminator(text: str, at: int, el: str, comp: str) -> tuple[int, bool]:
    """Where the segment terminator after ISA16 is, and whether line breaks came first.

    The character after ISA16 is the terminator, but a wrapped ISA may put a line break
    there before the real one ("...*>" newline "~GS*..."): a punctuation character right
    after the line breaks cannot start a segment (tags are letters and digits), so it is
    the terminator. Otherwise the line break itself is (a newline-terminated file)."""
    if text[at] not in _LINE_BREAKS:
        return at, False
    after = at
    while after < len(text) and text[after] in _LINE_BREAKS:
        after += 1
    if after < len(text):
        c = text[after]
        if not c.isalnum() and not c.isspace() and c not in (el, comp):
            return after, True
    return at, False


def _skip_space(text: str, pos: int) -> int:
    length = len(text)
    while pos < length and text[pos] in " \t\r\n\x00\x1a":  # \x1a: DOS end-of-file
        pos += 1
    return pos


def _elements(parts: list[str], comp: str) -> tuple[tuple[str, ...], ...]:
    elements = [(e,) if comp not in e else _trim(tuple(e.split(comp))) for e in parts[1:]]
    while elements and elements[-1] == ("",):
        elements.pop()
    return tuple(elements)


def _trim(components: tuple[str, ...]) -> tuple[str, ...]:
    end = len(components)
    while end > 1 and components[end - 1] == "":
        end -= 1
    return components[:end]


def _field(parts: list[str], position: int) -> str:
    return parts[position] if position < len(parts) else ""


def _said(parts: list[str], position: int) -> str:
    return repr(parts[position]) if position < len(parts) else "nothing"


def _count(parts: list[str], position: int) -> int | None:
    raw = _field(parts, position).strip()
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 12 else None


# -- generation ------------------------------------------------------------------------------
def generate_x12(
    document: X12Document | Interchange | Sequence[Interchange],
    *,
    delimiters: Delimiters | None = None,
    newline: bool = False,
    encoding: str = "utf-8",
) -> bytes:
    """Write interchanges as X12, computing SE01, GE01 and IEA01 and echoing control numbers.

    Control numbers are taken as they are in the model (use `build_interchange` to
    allocate new ones). `delimiters` overrides each interchange's own; `newline` writes a
    line break after every terminator. A value that contains a delimiter or a line break
    cannot be written in X12 (it has no escape character) and raises `GenerationError`.
    """
    if isinstance(document, X12Document):
        interchanges: Sequence[Interchange] = document.interchanges
    elif isinstance(document, Interchange):
        interchanges = [document]
    else:
        interchanges = document
    out: list[str] = []
    for ic in interchanges:
        d = delimiters or ic.delimiters
        why = d.problem()
        if why is not None:
            raise GenerationError("delimiters", why)
        _Writer(d, "\n" if newline and d.segment != "\n" else "", out).interchange(ic)
    try:
        return "".join(out).encode(encoding)
    except UnicodeEncodeError as exc:
        raise GenerationError("encoding", f"cannot be written in {encoding}: {exc}") from None


class _Writer:
    def __init__(self, d: Delimiters, eol: str, out: list[str]) -> None:
        self.d = d
        self.end = d.segment + eol
        self.out = out
        self.forbidden = {d.element, d.component, d.segment, "\r", "\n"}

    def check(self, value: str, where: str) -> str:
        if self.forbidden.intersection(value):
            raise GenerationError(
                "delimiter_in_value",
                f"{value!r} holds a delimiter or line break, which X12 cannot escape",
                Location(segment_tag=where[:-2] or None, element=where),
            )
        return value

    def segment(self, tag: str, elements: Sequence[Sequence[str]], position: int = 0) -> None:
        if not _TAG.fullmatch(tag) or tag == "ISA":
            raise GenerationError(
                "segment", f"{tag!r} is not a segment identifier", Location(segment_tag=tag)
            )
        parts = [tag]
        comp = self.d.component
        for index, element in enumerate(elements, 1):
            ref = f"{tag}{index:02d}"
            if len(element) == 1:
                parts.append(self.check(element[0], ref))
            else:
                parts.append(comp.join(self.check(c, ref) for c in element))
        self.out.append(self.d.element.join(parts) + self.end)

    def interchange(self, ic: Interchange) -> None:
        isa = [
            ic.authorization_qualifier,
            ic.authorization,
            ic.security_qualifier,
            ic.security,
            ic.sender_qualifier,
            ic.sender,
            ic.receiver_qualifier,
            ic.receiver,
            ic.date,
            ic.time,
            ic.standards_id,
            ic.version,
            ic.control_number.rjust(9, "0"),
            ic.ack_requested,
            ic.usage,
        ]
        fixed = []
        for index, (value, width) in enumerate(zip(isa, _ISA_WIDTHS, strict=False), 1):
            self.check(value, f"ISA{index:02d}")
            if len(value) > width:
                raise GenerationError(
                    "isa_width",
                    f"{value!r} is longer than the {width} characters ISA{index:02d} holds",
                    Location(segment_tag="ISA", element=f"ISA{index:02d}"),
                )
            fixed.append(value.ljust(width))
        self.out.append("ISA" + self.d.element + self.d.element.join(fixed) + self.d.element)
        self.out.append(self.d.component + self.end)
        for ta1 in ic.acknowledgements:
            self.segment(ta1.tag, ta1.elements)
        for group in ic.groups:
            self.group(group)
        self.segment("IEA", [(str(len(ic.groups)),), (ic.control_number.rjust(9, "0"),)])

    def group(self, group: Group) -> None:
        self.segment(
            "GS",
            [
                (group.functional_id,),
                (group.sender,),
                (group.receiver,),
                (group.date,),
                (group.time,),
                (group.control_number,),
                (group.agency,),
                (group.version,),
            ],
        )
        for tx in group.transactions:
            self.segment("ST", [(tx.set_id,), (tx.control_number,)])
            for segment in tx.segments:
                self.segment(segment.tag, segment.elements)
            self.segment("SE", [(str(tx.segment_count),), (tx.control_number,)])
        self.segment("GE", [(str(len(group.transactions)),), (group.control_number,)])


# -- building outbound interchanges ----------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Party:
    """An ISA identity: qualifier (ISA05/07: 02 SCAC, ZZ mutually defined, ...) and id."""

    qualifier: str
    id: str


def build_interchange(
    transactions: Sequence[tuple[str, Sequence[Segment]]],
    *,
    sender: Party,
    receiver: Party,
    control: ControlNumberSource,
    partner: str,
    at: datetime | None = None,
    usage: str = "P",
    ack_requested: str = "0",
    group_sender: str | None = None,
    group_receiver: str | None = None,
    delimiters: Delimiters | None = None,
) -> Interchange:
    """An interchange holding `transactions` (set id, body segments), ready to generate.

    One functional group per kind of set (a group holds one functional identifier).
    ISA13 and GS06 come from `control` (kinds "ISA" and "GS" for `partner`), so they
    increase across calls and restarts; ST02 counts 0001, 0002, ... within each group,
    which is all the standard asks (unique within the group).
    """
    now = (at or datetime.now(UTC)).astimezone(UTC)
    ic = Interchange(
        sender_qualifier=sender.qualifier,
        sender=sender.id,
        receiver_qualifier=receiver.qualifier,
        receiver=receiver.id,
        date=now.strftime("%y%m%d"),
        time=now.strftime("%H%M"),
        control_number=f"{control.next(partner, 'ISA'):09d}",
        ack_requested=ack_requested,
        usage=usage,
        delimiters=delimiters or Delimiters(),
    )
    by_function: dict[str, Group] = {}
    for set_id, segments in transactions:
        functional_id = SUPPORTED_SETS.get(set_id)
        if functional_id is None:
            raise GenerationError(
                "unsupported_set",
                f"transaction set {set_id!r} is not one of {sorted(SUPPORTED_SETS)}",
            )
        group = by_function.get(functional_id)
        if group is None:
            group = Group(
                functional_id=functional_id,
                sender=group_sender or sender.id,
                receiver=group_receiver or receiver.id,
                date=now.strftime("%Y%m%d"),
                time=now.strftime("%H%M%S"),  # GS05 may carry seconds (element 337: 4-8)
                control_number=str(control.next(partner, "GS")),
            )
            by_function[functional_id] = group
            ic.groups.append(group)
        control_number = f"{len(group.transactions) + 1:04d}"
        group.transactions.append(Transaction(set_id, control_number, list(segments)))
    return ic


# -- 997 functional acknowledgements ---------------------------------------------------------
# Problem codes -> AK502 (Transaction Set Syntax Error Code, element 718).
_AK5_CODES = {
    "unsupported_set": "1",
    "missing_trailer": "2",
    "control_mismatch": "3",
    "segment_count": "4",
    "set_id": "6",
    "control_number": "7",
}
# Problem codes -> AK905 (Functional Group Syntax Error Code, element 716).
_AK9_CODES = {
    "missing_trailer": "3",
    "control_mismatch": "4",
    "transaction_count": "5",
    "header": "6",
}


def acknowledgement_997(
    group: Group,
    supported: Collection[str] = tuple(SUPPORTED_SETS),
    *,
    delimiters: Delimiters | None = None,
) -> list[Segment]:
    """The body of a 997 answering `group`: AK1, AK2/AK5 per set, AK9.

    A set is rejected (AK501 R) when it had problems (parse in warn mode to keep them) or
    is not in `supported`; the group is accepted (A), accepted with errors (E), partially
    accepted (P) or rejected (R) accordingly. The control numbers and codes echoed come
    from the partner and are made writable with `delimiters` (see `writable`).
    """
    d = delimiters or Delimiters()
    body = [
        Segment.of("AK1", writable(group.functional_id, 2, d), writable(group.control_number, 9, d))
    ]
    accepted = 0
    for tx in group.transactions:
        codes = [_AK5_CODES.get(p.code, "5") for p in tx.problems]
        if tx.set_id not in supported:
            codes.insert(0, "1")
        unique = list(dict.fromkeys(codes))[:5]  # AK502..AK506
        body.append(Segment.of("AK2", writable(tx.set_id, 3, d), writable(tx.control_number, 9, d)))
        if unique:
            body.append(Segment.of("AK5", "R", *unique))
        else:
            body.append(Segment.of("AK5", "A"))
            accepted += 1
    received = len(group.transactions)
    group_codes = list(dict.fromkeys(_AK9_CODES.get(p.code, "6") for p in group.problems))[:5]
    if received and accepted == 0:
        status = "R"
    elif accepted < received:
        status = "P"
    elif group_codes:
        status = "E"
    else:
        status = "A"
    included = group.declared_count if group.declared_count is not None else received
    body.append(
        Segment.of("AK9", status, str(included), str(received), str(accepted), *group_codes)
    )
    return body


_USAGE = frozenset({"P", "T", "I"})  # ISA15: production, test, information


def writable(value: str, width: int, d: Delimiters) -> str:
    """`value`, received from a partner, as an answer can write it: characters that are not
    printable (line breaks, tabs, control characters, Unicode spaces other than the space)
    dropped, delimiters replaced by a space, trimmed, and cut to `width`, the most the
    element holds (ISA06 15, GS02 15, AK102 9, ...).

    An acknowledgement echoes what it answers, and whatever was received must not stop
    it: the interchange it answers is already stored. A value we had to change cannot
    match what the partner sent, but the 997 still says which group and sets it answers
    by the control numbers, which the parser only trims.
    """
    if (
        value.isprintable()
        and d.element not in value
        and d.component not in value
        and d.segment not in value
        and len(value) <= width
        and value == value.strip()
    ):
        return value
    delimiters = (d.element, d.component, d.segment)
    kept = "".join(" " if c in delimiters else c for c in value if c.isprintable())
    return kept.strip()[:width].rstrip()


def acknowledge(
    document: X12Document,
    *,
    control: ControlNumberSource,
    partner: str,
    at: datetime | None = None,
    supported: Collection[str] = tuple(SUPPORTED_SETS),
) -> list[Interchange]:
    """One interchange per received interchange, holding a 997 for each of its groups,
    addressed back to its sender (sender and receiver swapped, GS02/GS03 too).

    Never fails on what was received: every echoed value goes through `writable`, so
    `generate_x12` can always write the answer (ids of any length or content, odd usage
    codes, control numbers that hold a delimiter)."""
    answers = []
    for ic in document.interchanges:
        if not ic.groups:
            continue
        d = ic.delimiters
        first = ic.groups[0]
        answers.append(
            build_interchange(
                [("997", acknowledgement_997(g, supported, delimiters=d)) for g in ic.groups],
                sender=Party(writable(ic.receiver_qualifier, 2, d), writable(ic.receiver, 15, d)),
                receiver=Party(writable(ic.sender_qualifier, 2, d), writable(ic.sender, 15, d)),
                control=control,
                partner=partner,
                at=at,
                usage=ic.usage if ic.usage in _USAGE else "P",
                group_sender=writable(first.receiver, 15, d),
                group_receiver=writable(first.sender, 15, d),
                delimiters=d,
            )
        )
    return answers


__all__ = [
    "SUPPORTED_SETS",
    "Delimiters",
    "EdiError",
    "Group",
    "Interchange",
    "Party",
    "Segment",
    "Transaction",
    "X12Document",
    "acknowledge",
    "acknowledgement_997",
    "build_interchange",
    "generate_x12",
    "looks_like_x12",
    "parse_x12",
    "writable",
]
