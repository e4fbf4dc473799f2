"""UN/EDIFACT (syntax 3 and 4): parse and generate interchanges of IFTSTA and IFTMIN messages.

Hand-written rather than built on pydifact (checked at 0.2.3): pydifact tokenizes one
character at a time through Python generators (an order of magnitude slower than splitting
with `str.find`), reports errors as line/column rather than segment number and element
position, and neither checks UNT/UNZ counts and references nor validates the UNOA
character set, which is most of what this module is for. The grammar itself is small.

What it reads:
- the UNA service string advice (component, element, decimal mark, release, reserved,
  terminator); without UNA the ISO 9735 defaults `:+.? '` apply;
- the release character: `?'`, `?+`, `?:` and `??` stand for the character itself;
- the character set named in UNB01 (code list 0001): UNOA and UNOB (ISO 646 levels A and
  B, 7-bit), UNOC (ISO 8859-1), UNOD..UNOK (other ISO 8859 parts), UNOW and UNOY (UTF-8).
  Bytes are split on the (ASCII) separators first and each value decoded after, which is
  exact for every one of these encodings and lets a bad byte be reported with its segment
  and element. Text values come out as Unicode, UNB included; a value that does not fit
  the declared set (a lower-case letter or an accent in UNOA, bytes that are not UTF-8 in
  UNOW, a control character such as a Windows-1252 quote in UNOC) is an `encoding`
  problem naming segment and element, and its text is kept as well as it can be read
  (undecodable bytes become U+FFFD), never as silent mojibake;
- bare messages (UNH..UNT without UNB/UNZ, after an optional UNA) when the caller allows
  it (`envelope="optional"`): they are read as one interchange with a synthetic UNB whose
  sender is the partner and whose control reference is made of the message references
  and a hash of the bytes, so the same bytes sent twice get the same reference;
- numbers with a decimal comma or point (`Segment.decimal`), as ISO 9735 allows either;
- the syntax 4 repetition separator (UNA5, usually `*`) is escaped when writing; when
  reading, repeated elements are kept as one value (IFTSTA/IFTMIN D00B/D01B do not use
  repetitions);
- interchanges with functional groups (UNG..UNE) or without (the messages then sit in one
  implicit group, so interchange -> groups -> messages has one shape for both).

Checks, raised in reject mode and collected in warn mode like the X12 ones: UNT01 = segments
UNH..UNT inclusive, UNT02 = UNH01, UNE01 = messages, UNE02 = UNG05, UNZ01 = groups (or
messages when there are no groups), UNZ02 = UNB05, and the character set. Identifiers in
the envelope (UNB sender and recipient, UNG05, UNH01, the message type) are read without
surrounding spaces, since padding a fixed-width id is a common partner habit; UNB05 is kept
as sent (a CONTRL echoes it) and compared with UNZ02 trimmed.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal, NoReturn

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
    element_ref,
    gc_paused,
)

SUPPORTED_MESSAGES = ("IFTSTA", "IFTMIN")
SUPPORTED_DIRECTORIES = ("00B", "01B")

Envelope = Literal["required", "optional"]
"""Per-partner choice: whether bare messages (no UNB/UNZ) are read or refused."""

# Syntax identifier (UNB01-1) -> Python codec for its values.
CHARSETS: dict[str, str] = {
    "UNOA": "ascii",
    "UNOB": "ascii",
    "UNOC": "latin-1",
    "UNOD": "iso8859-2",
    "UNOE": "iso8859-5",
    "UNOF": "iso8859-7",
    "UNOG": "iso8859-3",
    "UNOH": "iso8859-4",
    "UNOI": "iso8859-6",
    "UNOJ": "iso8859-8",
    "UNOK": "iso8859-9",
    "UNOW": "utf-8",
    "UNOY": "utf-8",
}
# What each set is, in the words an operator looks up.
_CHARSET_NAMES = {
    "UNOA": "level A: upper-case letters, digits, space and . , - ( ) / = ' + : ? ! \" % & * ; < >",
    "UNOB": "level B: ISO 646 printable characters",
    "UNOC": "ISO 8859-1",
    "UNOD": "ISO 8859-2",
    "UNOE": "ISO 8859-5",
    "UNOF": "ISO 8859-7",
    "UNOG": "ISO 8859-3",
    "UNOH": "ISO 8859-4",
    "UNOI": "ISO 8859-6",
    "UNOJ": "ISO 8859-8",
    "UNOK": "ISO 8859-9",
    "UNOW": "UTF-8",
    "UNOY": "ISO 10646, read as UTF-8",
}
# Level A: upper-case letters, digits, space and these marks (ISO 9735, annex A).
UNOA_CHARACTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,-()/='+:?!\"%&*;<>")
UNOB_CHARACTERS = frozenset(chr(c) for c in range(32, 127))
_ALLOWED = {"UNOA": UNOA_CHARACTERS, "UNOB": UNOB_CHARACTERS}
# C0 controls but tab and line breaks (line breaks are how many partners end segments),
# DEL and the C1 controls: not text in any set. In ISO 8859-1 bytes 0x80-0x9F are C1
# controls, which is where Windows-1252 text declared as UNOC shows (its quotes and euro).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_TAG = re.compile(r"[A-Z][A-Z0-9]{2}")
_BARE_HINT = " (messages without UNB are read only where the envelope is optional)"
_ENVELOPE = ("UNB", "UNG", "UNE", "UNH", "UNT", "UNZ", "UNA")


def read_value(value: str, syntax_id: str) -> tuple[str, str | None]:
    """One value as received (one character per byte) as text of the set `syntax_id`
    names, and what is wrong with it (None when it fits the set).

    A 7-bit set (UNOA, UNOB) cannot hold a byte above 127; such bytes are read as UTF-8
    when they are UTF-8 and as ISO 8859-1 otherwise, so the problem can show the character
    the sender meant ('é'), not the bytes. Bytes a codec has no character for become
    U+FFFD. An unknown syntax identifier reads as ISO 8859-1 (its own problem is reported
    once, on UNB01).
    """
    allowed = _ALLOWED.get(syntax_id)
    codec = CHARSETS.get(syntax_id, "latin-1")
    text = value
    if not value.isascii():
        raw = value.encode("latin-1")
        if allowed is not None:
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                text = value
        elif codec != "latin-1":
            try:
                text = raw.decode(codec)
            except UnicodeDecodeError as exc:
                bad = raw[exc.start : exc.end]
                shown = " ".join(f"0x{b:02X}" for b in bad)
                what = f"bytes {shown} are" if len(bad) > 1 else f"byte {shown} is"
                return (
                    raw.decode(codec, "replace"),
                    f"{what} not {_CHARSET_NAMES[syntax_id]} ({syntax_id})",
                )
    if allowed is not None:
        if allowed.issuperset(text):
            return text, None
        outside = dict.fromkeys(c for c in text if c not in allowed)  # in order, once each
        lower = any("a" <= c <= "z" for c in outside)
        named = "".join(c for c in outside if not "a" <= c <= "z")[:8]
        what = " and ".join(
            ([repr(named)] if named else []) + (["lower-case letters"] if lower else [])
        )
        verb = "is" if len(named) == 1 and not lower else "are"
        return text, f"{what} {verb} not in {syntax_id} ({_CHARSET_NAMES[syntax_id]})"
    control = _CONTROL.search(text)
    if control is None:
        return text, None
    char = control.group()
    why = f"control character U+{ord(char):04X} is not text in {syntax_id}"
    if codec == "latin-1" and "\x80" <= char <= "\x9f":
        with contextlib.suppress(UnicodeDecodeError):  # five bytes have no cp1252 character
            why += f" (Windows-1252 would read it as {char.encode('latin-1').decode('cp1252')!r})"
    return text, why


def fits(value: str, syntax_id: str) -> bool:
    """Whether `value` can be written in `syntax_id` and read back as the same text."""
    allowed = _ALLOWED.get(syntax_id)
    if allowed is not None:
        return allowed.issuperset(value)
    if _CONTROL.search(value):
        return False
    if value.isascii():
        return True
    try:
        value.encode(CHARSETS.get(syntax_id, "latin-1"))
    except UnicodeEncodeError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class Separators:
    """The UNA characters. `release` None means the interchange has no release character."""

    component: str = ":"
    element: str = "+"
    decimal: str = "."
    release: str | None = "?"
    reserved: str = " "  # UNA5: reserved in syntax 3, the repetition separator in syntax 4
    segment: str = "'"

    def problem(self) -> str | None:
        chars = [self.component, self.element, self.segment]
        if self.release is not None:
            chars.append(self.release)
        if any(len(c) != 1 for c in [*chars, self.decimal, self.reserved]):
            return "each service character must be a single character"
        if self.reserved != " ":
            chars.append(self.reserved)
        if len(set(chars)) != len(chars):
            return f"service characters must differ: {''.join(chars)!r}"
        if any(c.isalnum() or c == " " for c in chars):
            return f"service characters may not be letters, digits or spaces: {chars!r}"
        if any(c in "\r\n" for c in chars if c != self.segment):
            return "only the segment terminator may be a line break"
        if self.decimal not in ",.":
            return f"the decimal mark must be ',' or '.', not {self.decimal!r}"
        return None

    def una(self) -> str:
        return (
            "UNA"
            + self.component
            + self.element
            + self.decimal
            + (self.release or " ")
            + self.reserved
            + self.segment
        )


DEFAULT_SEPARATORS = Separators()


@dataclass(slots=True)
class Message:
    """One message (UNH..UNT); `segments` are those between UNH and UNT."""

    reference: str  # UNH01
    identifier: tuple[str, ...]  # UNH02: type, version, release, agency[, association...]
    segments: list[Segment] = field(default_factory=list)
    extra: tuple[tuple[str, ...], ...] = ()  # UNH03 onwards, as found
    number: int = field(default=0, compare=False)
    declared_count: int | None = field(default=None, compare=False)
    problems: list[EdiWarning] = field(default_factory=list, compare=False)

    @property
    def type(self) -> str:
        return self.identifier[0].strip() if self.identifier else ""

    @property
    def directory(self) -> str:
        """`D01B` from version `D` and release `01B`."""
        return "".join(self.identifier[1:3])

    @property
    def segment_count(self) -> int:
        return len(self.segments) + 2


@dataclass(slots=True)
class Group:
    """A functional group (UNG..UNE), or the implicit one (`header` None) of an interchange
    whose messages are not grouped."""

    header: Segment | None = None
    messages: list[Message] = field(default_factory=list)
    number: int = field(default=0, compare=False)
    declared_count: int | None = field(default=None, compare=False)
    problems: list[EdiWarning] = field(default_factory=list, compare=False)

    @property
    def implicit(self) -> bool:
        return self.header is None

    @property
    def reference(self) -> str:
        """UNG05, or '' for the implicit group."""
        return self.header.value(5).strip() if self.header else ""

    @property
    def functional_id(self) -> str:
        """UNG01 (message group identification), or the messages' type when implicit."""
        if self.header is not None:
            return self.header.value(1)
        return self.messages[0].type if self.messages else ""


@dataclass(slots=True)
class Interchange:
    """One interchange (UNB..UNZ). `header` is the UNB segment as found or built.

    `bare` marks messages that came without UNB/UNZ: the header is then made up by the
    parser (see `parse_edifact`), is not written back, and no CONTRL answers it, since the
    partner sent no interchange reference a CONTRL could name.
    """

    header: Segment
    groups: list[Group] = field(default_factory=list)
    separators: Separators = DEFAULT_SEPARATORS
    una: bool = False  # whether a UNA segment preceded it (and will be written)
    bare: bool = False
    number: int = field(default=0, compare=False)
    declared_count: int | None = field(default=None, compare=False)
    problems: list[EdiWarning] = field(default_factory=list, compare=False)

    @property
    def syntax_id(self) -> str:
        return self.header.value(1, 1).strip()

    @property
    def syntax_version(self) -> str:
        return self.header.value(1, 2).strip()

    @property
    def sender(self) -> str:
        return self.header.value(2, 1).strip()

    @property
    def recipient(self) -> str:
        return self.header.value(3, 1).strip()

    @property
    def control_reference(self) -> str:
        """UNB05, the interchange control reference (what UNZ02 must repeat), as sent: a
        CONTRL echoes it and stored keys were made from it; compare it trimmed."""
        return self.header.value(5)

    @property
    def grouped(self) -> bool:
        return any(not g.implicit for g in self.groups)

    def messages(self) -> Iterator[Message]:
        for group in self.groups:
            yield from group.messages


@dataclass(slots=True)
class EdifactDocument:
    interchanges: list[Interchange] = field(default_factory=list)
    warnings: list[EdiWarning] = field(default_factory=list, compare=False)

    def messages(self) -> Iterator[tuple[Interchange, Group, Message]]:
        for interchange in self.interchanges:
            for group in interchange.groups:
                for message in group.messages:
                    yield interchange, group, message


# -- parsing ---------------------------------------------------------------------------------
def parse_edifact(
    data: bytes | str,
    mode: Mode = "reject",
    *,
    partner: str | None = None,
    document: str | None = None,
    envelope: Envelope = "required",
) -> EdifactDocument:
    """Read every interchange in `data` (bytes as received; str only if already decoded).

    Raises `EdiSyntaxError` when the bytes cannot be read as EDIFACT, and in reject mode
    `EnvelopeError` at the first envelope or character-set problem; in warn mode those are
    collected in `warnings`. Never raises anything but an `EdiError`.

    With `envelope="optional"` a document that starts with UNH (after an optional UNA) is
    read as one *bare* interchange: sender `partner`, character set UNOW when its bytes
    are UTF-8 and not all ASCII, else UNOC, and a control reference of the message
    references and 12 hex digits of the SHA-256 of its bytes. A warning
    (`envelope_absent`, in either mode) says so. Without the option such a document is an
    `EdiSyntaxError`, as any other that does not start with UNA or UNB.
    """
    if isinstance(data, str):
        try:
            raw = data.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates: keep what can be kept
            raw = data.encode("utf-8", "replace")
    else:
        raw = data
    with gc_paused():
        return _Parser(raw, mode, partner, document, envelope).run()


def looks_like_edifact(data: bytes) -> bool:
    return data.lstrip(b"\xef\xbb\xbf \t\r\n")[:3] in (b"UNA", b"UNB")


class _Parser:
    def __init__(
        self,
        data: bytes,
        mode: Mode,
        partner: str | None,
        document: str | None,
        envelope: Envelope = "required",
    ) -> None:
        if data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        self.data = data
        # Latin-1 maps every byte to one character, so separators (ASCII) split exactly;
        # each value is then decoded with the interchange's own character set.
        self.text = data.decode("latin-1")
        # One scan of the whole document, so that segments of a clean one are not searched
        # for control characters one by one.
        self.controls = _CONTROL.search(self.text) is not None
        self.mode = mode
        self.partner = partner
        self.document = document
        self.envelope = envelope
        self.warnings: list[EdiWarning] = []
        self.number = 0
        self.end = 0  # just past the terminator of the last segment read

    def where(
        self,
        number: int | None = None,
        tag: str | None = None,
        element: str | None = None,
        position: int | None = None,
        interchange: Interchange | None = None,
        group: Group | None = None,
        message: Message | None = None,
    ) -> Location:
        return Location(
            self.partner,
            self.document,
            number,
            position,
            tag,
            element,
            message.reference if message else None,
            (group.reference or None) if group else None,
            (interchange.control_reference.strip() or None) if interchange else None,
        )

    def syntax(self, message: str, where: Location) -> NoReturn:
        raise EdiSyntaxError("syntax", message, where)

    def problem(
        self, code: str, message: str, where: Location, *owners: Message | Group | Interchange
    ) -> None:
        if self.mode == "reject":
            raise EnvelopeError(code, message, where)
        warning = EdiWarning(code, message, where)
        self.warnings.append(warning)
        for owner in owners:
            owner.problems.append(warning)

    def run(self) -> EdifactDocument:
        text = self.text
        doc = EdifactDocument(warnings=self.warnings)
        pos = _skip_space(text, 0)
        if pos >= len(text):
            self.syntax("empty document: expected UNA or UNB", self.where())
        while pos < len(text):
            if not (text.startswith("UNA", pos) or text.startswith("UNB", pos)):
                if not doc.interchanges:
                    if not (self.envelope == "optional" and text.startswith("UNH", pos)):
                        self.syntax(
                            f"expected UNA or UNB, found {text[pos : pos + 20]!r}"
                            + (_BARE_HINT if text.startswith("UNH", pos) else ""),
                            self.where(self.number + 1),
                        )
                else:
                    last = doc.interchanges[-1]
                    if text[pos] == last.separators.segment:
                        pos = _skip_space(text, pos + 1)
                        continue
                    self.problem(
                        "unexpected_segment",
                        f"data after UNZ that is not an interchange: {text[pos : pos + 20]!r}",
                        self.where(self.number + 1, interchange=last),
                        last,
                    )
                    found = min(
                        (i for i in (text.find("UNA", pos), text.find("UNB", pos)) if i >= 0),
                        default=-1,
                    )
                    if found < 0:
                        break
                    pos = found
            interchange, pos = self.interchange(pos, first=not doc.interchanges)
            doc.interchanges.append(interchange)
            pos = _skip_space(text, pos)
        return doc

    def read_una(self, pos: int) -> tuple[Separators, int]:
        text = self.text
        number = self.number + 1
        chars = text[pos + 3 : pos + 9]
        if len(chars) < 6:
            self.syntax("UNA segment cut short (it has 6 service characters)", self.where(number))
        release = None if chars[3] == " " else chars[3]
        separators = Separators(chars[0], chars[1], chars[2], release, chars[4], chars[5])
        why = separators.problem()
        if why is not None:
            self.syntax(why, self.where(number, "UNA"))
        self.number = number
        self.end = pos + 9
        return separators, pos + 9

    def interchange(self, start: int, first: bool) -> tuple[Interchange, int]:
        """One interchange from `start` (UNA, UNB, or UNH for bare messages), and where the
        next one starts."""
        text = self.text
        una = text.startswith("UNA", start)
        bare = False
        if una:
            sep, pos = self.read_una(start)
            pos = _skip_space(text, pos)
            if not text.startswith("UNB", pos):
                found_unh = text.startswith("UNH", pos)
                if not (first and found_unh and self.envelope == "optional"):
                    self.syntax(
                        f"expected UNB after UNA, found {text[pos : pos + 20]!r}"
                        + (_BARE_HINT if found_unh else ""),
                        self.where(self.number + 1),
                    )
                bare = True
        else:
            sep, pos = DEFAULT_SEPARATORS, start
            bare = not text.startswith("UNB", pos)  # run() sends UNH here only when allowed
        ic: Interchange | None = None
        syntax_id = "UNOC"
        if bare:
            ic, syntax_id = self.open_bare(start, sep, una)
        ic, pos = self.segments(ic, pos, sep, una, syntax_id)
        if ic.bare:
            self.close_bare(ic, start)
        return ic, pos

    def segments(
        self,
        ic: Interchange | None,
        pos: int,
        sep: Separators,
        una: bool,
        syntax_id: str,
    ) -> tuple[Interchange, int]:
        text = self.text
        term, el, comp, rel = sep.segment, sep.element, sep.component, sep.release
        strip = "".join(c for c in "\r\n" if c != term) or "\x00"
        allowed, transcode = _ALLOWED.get(syntax_id), CHARSETS[syntax_id] != "latin-1"
        group: Group | None = None
        msg: Message | None = None
        orphan = False
        length = len(text)
        while pos < length:
            end = _find_unescaped(text, term, pos, rel)
            if end < 0:
                end = length
            raw = text[pos:end]
            seg_start = pos
            pos = end + 1
            if raw[:1] in "\r\n" or raw[-1:] in "\r\n":
                stripped = raw.lstrip(strip)
                seg_start += len(raw) - len(stripped)
                raw = stripped.rstrip(strip)
            if not raw:
                continue
            number = self.number + 1
            tag = raw[:3]
            if not _TAG.fullmatch(tag) or (len(raw) > 3 and raw[3] not in (el, comp)):
                self.syntax(
                    f"{raw[:20]!r} does not start with a segment tag",
                    self.where(number, interchange=ic, group=group, message=msg),
                )
            if ic is not None and tag in ("UNA", "UNB"):
                self.close_open(ic, group, msg, number, at_end=False)
                return ic, seg_start
            self.number = number
            self.end = pos
            elements = self.elements(raw, sep, number, tag, ic, group, msg)
            if ic is None:
                if tag != "UNB":
                    self.syntax(f"expected UNB, found {tag}", self.where(number, tag))
                ic = Interchange(Segment(tag, elements, number), separators=sep, una=una)
                ic.number = number
                syntax_id = self.open_interchange(ic, raw)
                allowed, transcode = _ALLOWED.get(syntax_id), CHARSETS[syntax_id] != "latin-1"
                continue
            if self.undecoded(raw, allowed, transcode):
                elements = self.decode(elements, syntax_id, number, tag, ic, group, msg)
            if msg is not None:
                if tag == "UNT":
                    self.close_message(ic, group, msg, elements, number)
                    msg = None
                    continue
                if tag not in ("UNH", "UNG", "UNE", "UNZ"):
                    msg.segments.append(Segment(tag, elements, number, len(msg.segments) + 2))
                    continue
                self.problem(
                    "missing_trailer",
                    f"message {msg.reference} has no UNT before this {tag}",
                    self.where(number, tag, interchange=ic, group=group, message=msg),
                    msg,
                )
                msg = None
            if orphan:
                if tag not in ("UNT", "UNG", "UNE", "UNZ"):
                    continue
                orphan = False
                if tag == "UNT":
                    continue
            if ic.bare and tag in ("UNG", "UNE", "UNZ"):
                self.problem(
                    "unexpected_segment",
                    f"{tag} among messages that came without UNB",
                    self.where(number, tag),
                    ic,
                )
                continue
            if tag == "UNH":
                if group is None:
                    if ic.grouped:
                        self.problem(
                            "unexpected_segment",
                            "UNH outside a functional group in an interchange that has groups",
                            self.where(number, "UNH", interchange=ic),
                            ic,
                        )
                        orphan = True
                        continue
                    if not ic.groups:
                        ic.groups.append(Group(number=number))
                    group = ic.groups[-1]
                msg = self.open_message(ic, group, elements, number)
            elif tag == "UNG":
                if group is not None and not group.implicit:
                    self.problem(
                        "missing_trailer",
                        f"group {group.reference} has no UNE before this UNG",
                        self.where(number, "UNG", interchange=ic, group=group),
                        group,
                    )
                elif group is not None or ic.groups:
                    self.problem(
                        "unexpected_segment",
                        "UNG after messages that are not in a group",
                        self.where(number, "UNG", interchange=ic),
                        ic,
                    )
                group = Group(Segment(tag, elements, number), number=number)
                ic.groups.append(group)
                if group.reference == "":
                    self.problem(
                        "header",
                        "UNG05 (group reference number) is missing",
                        self.where(number, "UNG", "UNG05", interchange=ic, group=group),
                        group,
                    )
            elif tag == "UNE":
                if group is None or group.implicit:
                    self.problem(
                        "unexpected_segment",
                        "UNE without a UNG",
                        self.where(number, "UNE", interchange=ic),
                        ic,
                    )
                    continue
                self.close_group(ic, group, elements, number)
                group = None
            elif tag == "UNZ":
                if group is not None and not group.implicit:
                    self.problem(
                        "missing_trailer",
                        f"group {group.reference} has no UNE before UNZ",
                        self.where(number, "UNZ", interchange=ic, group=group),
                        group,
                    )
                self.close_interchange(ic, elements, number)
                return ic, pos
            else:
                self.problem(
                    "unexpected_segment",
                    f"{tag} outside a message",
                    self.where(number, tag, interchange=ic, group=group),
                    *([group] if group else [ic]),
                )
        if ic is None:
            self.syntax("UNA without a UNB", self.where(self.number))
        self.close_open(ic, group, msg, self.number, at_end=True)
        return ic, pos

    def elements(
        self,
        raw: str,
        sep: Separators,
        number: int,
        tag: str,
        ic: Interchange | None,
        group: Group | None,
        msg: Message | None,
    ) -> tuple[tuple[str, ...], ...]:
        """The elements after the tag, split and unescaped."""
        el, comp, rel = sep.element, sep.component, sep.release
        body = raw[4:]
        if len(raw) <= 4:
            return ()
        if rel is None or rel not in body:
            parts = body.split(el)
            elements = [(p,) if comp not in p else _trim(tuple(p.split(comp))) for p in parts]
        else:
            elements = []
            for index, part in enumerate(_split_unescaped(body, el, rel), 1):
                components = []
                for sub, piece in enumerate(_split_unescaped(part, comp, rel), 1):
                    value = _unescape(piece, rel)
                    if value is None:
                        self.syntax(
                            f"release character {rel!r} at the end of the segment",
                            self.where(
                                number,
                                tag,
                                element_ref(tag, index, sub if sub > 1 else None),
                                msg.segment_count if msg else None,
                                ic,
                                group,
                                msg,
                            ),
                        )
                    components.append(value)
                elements.append(_trim(tuple(components)))
        while elements and elements[-1] == ("",):
            elements.pop()
        return tuple(elements)

    def undecoded(self, raw: str, allowed: frozenset[str] | None, transcode: bool) -> bool:
        """Whether a segment's values need `decode`: most segments are ASCII that fits the
        set, and ISO 8859-1 needs no decoding at all (one byte is one character)."""
        if allowed is not None:
            return not allowed.issuperset(raw)  # the default separators are level A too
        if transcode and not raw.isascii():
            return True
        return self.controls and _CONTROL.search(raw) is not None

    def decode(
        self,
        elements: tuple[tuple[str, ...], ...],
        syntax_id: str,
        number: int,
        tag: str,
        ic: Interchange | None,
        group: Group | None,
        msg: Message | None,
    ) -> tuple[tuple[str, ...], ...]:
        """Values as text of the interchange's character set; each that does not fit it
        is reported with its segment and element."""
        out = []
        for index, element in enumerate(elements, 1):
            comps = []
            for sub, value in enumerate(element, 1):
                text, why = read_value(value, syntax_id)
                if why is not None:
                    ref = element_ref(tag, index, sub if len(element) > 1 else None)
                    position = msg.segment_count if msg else None  # the segment being read
                    owners: list[Message | Group | Interchange] = (
                        [msg] if msg else [group] if group else [ic] if ic else []
                    )
                    self.problem(
                        "encoding",
                        f"{tag} element {index}: {why}",
                        self.where(number, tag, ref, position, ic, group, msg),
                        *owners,
                    )
                comps.append(text)
            out.append(tuple(comps))
        return tuple(out)

    def open_interchange(self, ic: Interchange, raw: str) -> str:
        """Check UNB, read its values in the set it names, and return that set."""
        number = ic.number
        syntax_id = ic.syntax_id
        if syntax_id not in CHARSETS:
            known = "UNOA, UNOB, UNOC ... UNOK, UNOW, UNOY"
            what = (
                "UNOX (ISO 2022 code extension) is not supported"
                if syntax_id == "UNOX"
                else f"unknown syntax identifier {syntax_id!r}"
            )
            self.problem(
                "syntax_id",
                f"{what} (expected one of {known})",
                self.where(number, "UNB", "UNB01-1", interchange=ic),
                ic,
            )
            syntax_id = "UNOC"  # one byte, one character: nothing is lost
        if ic.control_reference.strip() == "":
            self.problem(
                "control_number",
                "UNB05 (interchange control reference) is missing",
                self.where(number, "UNB", "UNB05", interchange=ic),
                ic,
            )
        sep = ic.separators
        if CHARSETS[syntax_id] == "utf-8" and not sep.una().isascii():
            # a byte above 127 is part of a multi-byte character in UTF-8: it cannot
            # separate anything without cutting characters in two
            self.problem(
                "encoding",
                f"service characters {sep.una()[3:]!r} must be ASCII in {syntax_id}",
                self.where(ic.number - 1, "UNA", interchange=ic),
                ic,
            )
        if self.undecoded(raw, _ALLOWED.get(syntax_id), CHARSETS[syntax_id] != "latin-1"):
            ic.header = Segment(
                "UNB",
                self.decode(ic.header.elements, syntax_id, number, "UNB", ic, None, None),
                number,
            )
        return syntax_id

    def open_bare(self, start: int, sep: Separators, una: bool) -> tuple[Interchange, str]:
        """The interchange bare messages are read into; its control reference is set by
        `close_bare` once the messages are known."""
        rest = self.data[start:]
        syntax_id = "UNOC"
        if not rest.isascii():
            with contextlib.suppress(UnicodeDecodeError):
                rest.decode("utf-8")
                syntax_id = "UNOW"
        header = Segment.of(
            "UNB", [syntax_id, "4" if syntax_id == "UNOW" else "3"], self.partner or ""
        )
        ic = Interchange(header, separators=sep, una=una, bare=True)
        ic.number = self.number + 1
        return ic, syntax_id

    def close_bare(self, ic: Interchange, start: int) -> None:
        """Give bare messages their control reference: what a resend of the same bytes
        gets again (the inbox deduplicates on it), and readable in a receipt."""
        digest = hashlib.sha256(self.data[start : self.end]).hexdigest()[:12]
        references = ".".join(m.reference for m in ic.messages())
        control = f"{references[:40]}#{digest}" if references else digest
        syntax = ic.header.elements[0]
        ic.header = Segment.of("UNB", list(syntax), ic.sender, "", "", control)
        count = sum(1 for _ in ic.messages())
        self.warnings.append(
            EdiWarning(
                "envelope_absent",
                f"no UNB/UNZ envelope: {count} message(s) read as one interchange from "
                f"{ic.sender or 'the sender'} with control reference {control!r}, "
                f"character set {syntax[0]} assumed",
                self.where(ic.number, "UNH", interchange=ic),
            )
        )

    def close_open(
        self,
        ic: Interchange,
        group: Group | None,
        msg: Message | None,
        number: int,
        at_end: bool,
    ) -> None:
        what = "the end of the file" if at_end else "the next interchange"
        if msg is not None:
            self.problem(
                "missing_trailer",
                f"message {msg.reference} has no UNT before {what}",
                self.where(number, interchange=ic, group=group, message=msg),
                msg,
            )
        if group is not None and not group.implicit:
            self.problem(
                "missing_trailer",
                f"group {group.reference} has no UNE before {what}",
                self.where(number, interchange=ic, group=group),
                group,
            )
        if not ic.bare:
            self.problem(
                "missing_trailer",
                f"interchange {ic.control_reference} has no UNZ before {what}",
                self.where(number, interchange=ic),
                ic,
            )

    def open_message(
        self,
        ic: Interchange,
        group: Group,
        elements: tuple[tuple[str, ...], ...],
        number: int,
    ) -> Message:
        reference = elements[0][0].strip() if elements else ""
        identifier = elements[1] if len(elements) > 1 else ()
        msg = Message(reference, identifier, extra=elements[2:], number=number)
        group.messages.append(msg)
        if reference == "":
            self.problem(
                "control_number",
                "UNH01 (message reference number) is missing",
                self.where(number, "UNH", "UNH01", 1, ic, group, msg),
                msg,
            )
        if len(identifier) < 4 or "" in identifier[:4]:
            self.problem(
                "message_id",
                "UNH02 must give type, version, release and agency (e.g. IFTSTA:D:01B:UN)",
                self.where(number, "UNH", "UNH02", 1, ic, group, msg),
                msg,
            )
        return msg

    def close_message(
        self,
        ic: Interchange,
        group: Group | None,
        msg: Message,
        elements: tuple[tuple[str, ...], ...],
        number: int,
    ) -> None:
        count = msg.segment_count
        said = _value(elements, 1)
        msg.declared_count = declared = _count(said)
        if declared != count:
            self.problem(
                "segment_count",
                f"UNT01 says {said!r} segments, message {msg.reference} has {count} "
                "(UNH to UNT inclusive)",
                self.where(number, "UNT", "UNT01", count, ic, group, msg),
                msg,
            )
        if _value(elements, 2).strip() != msg.reference:
            self.problem(
                "control_mismatch",
                f"UNT02 {_value(elements, 2)!r} does not match UNH01 {msg.reference!r}",
                self.where(number, "UNT", "UNT02", count, ic, group, msg),
                msg,
            )

    def close_group(
        self, ic: Interchange, group: Group, elements: tuple[tuple[str, ...], ...], number: int
    ) -> None:
        said = _value(elements, 1)
        group.declared_count = declared = _count(said)
        if declared != len(group.messages):
            self.problem(
                "transaction_count",
                f"UNE01 says {said!r} messages, group {group.reference} has {len(group.messages)}",
                self.where(number, "UNE", "UNE01", interchange=ic, group=group),
                group,
            )
        if _value(elements, 2).strip() != group.reference:
            self.problem(
                "control_mismatch",
                f"UNE02 {_value(elements, 2)!r} does not match UNG05 {group.reference!r}",
                self.where(number, "UNE", "UNE02", interchange=ic, group=group),
                group,
            )

    def close_interchange(
        self, ic: Interchange, elements: tuple[tuple[str, ...], ...], number: int
    ) -> None:
        said = _value(elements, 1)
        ic.declared_count = declared = _count(said)
        if ic.grouped:
            expected, what = len(ic.groups), "functional groups"
        else:
            expected, what = sum(len(g.messages) for g in ic.groups), "messages"
        if declared != expected:
            self.problem(
                "group_count",
                f"UNZ01 says {said!r}, interchange {ic.control_reference} has {expected} {what}",
                self.where(number, "UNZ", "UNZ01", interchange=ic),
                ic,
            )
        if _value(elements, 2).strip() != ic.control_reference.strip():
            self.problem(
                "control_mismatch",
                f"UNZ02 {_value(elements, 2)!r} does not match UNB05 {ic.control_reference!r}",
                self.where(number, "UNZ", "UNZ02", interchange=ic),
                ic,
            )


def _skip_space(text: str, pos: int) -> int:
    length = len(text)
    while pos < length and text[pos] in " \t\r\n\x00\x1a":
        pos += 1
    return pos


def _escaped(text: str, start: int, at: int, rel: str) -> bool:
    """Whether the character at `at` is preceded by an odd run of release characters."""
    k = at
    while k > start and text[k - 1] == rel:
        k -= 1
    return (at - k) % 2 == 1


def _find_unescaped(text: str, char: str, pos: int, rel: str | None) -> int:
    found = text.find(char, pos)
    if rel is None:
        return found
    while found > pos and text[found - 1] == rel and _escaped(text, pos, found, rel):
        found = text.find(char, found + 1)
    return found


def _split_unescaped(text: str, sep: str, rel: str) -> list[str]:
    parts = []
    start = 0
    while True:
        found = _find_unescaped(text, sep, start, rel)
        if found < 0:
            parts.append(text[start:])
            return parts
        parts.append(text[start:found])
        start = found + 1


def _unescape(value: str, rel: str) -> str | None:
    """Drop release characters; None if the value ends on a lone one."""
    if rel not in value:
        return value
    out = []
    i = 0
    length = len(value)
    while i < length:
        c = value[i]
        if c == rel:
            if i + 1 >= length:
                return None
            out.append(value[i + 1])
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _trim(components: tuple[str, ...]) -> tuple[str, ...]:
    end = len(components)
    while end > 1 and components[end - 1] == "":
        end -= 1
    return components[:end]


def _value(elements: tuple[tuple[str, ...], ...], position: int) -> str:
    if position > len(elements) or not elements[position - 1]:
        return ""
    return elements[position - 1][0]


def _count(raw: str) -> int | None:
    raw = raw.strip()
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 12 else None


# -- generation ------------------------------------------------------------------------------
def generate_edifact(
    document: EdifactDocument | Interchange | Sequence[Interchange],
    *,
    separators: Separators | None = None,
    newline: bool = False,
) -> bytes:
    """Write interchanges, computing UNT01, UNE01 and UNZ01 and echoing the references.

    Values are escaped with the release character and encoded in the character set UNB01
    names; UNA is written when the interchange had one or its separators are not the
    defaults. A value outside that character set (or a control character, which no set
    holds as text) raises `GenerationError` naming the element. A bare interchange is
    written as it came: its messages, without UNB and UNZ.
    """
    if isinstance(document, EdifactDocument):
        interchanges: Sequence[Interchange] = document.interchanges
    elif isinstance(document, Interchange):
        interchanges = [document]
    else:
        interchanges = document
    out = bytearray()
    for ic in interchanges:
        sep = separators or ic.separators
        why = sep.problem()
        if why is not None:
            raise GenerationError("separators", why)
        codec = CHARSETS.get(ic.syntax_id, "latin-1")
        if codec == "utf-8" and not sep.una().isascii():
            raise GenerationError(
                "separators", f"service characters must be ASCII in {ic.syntax_id}"
            )
        writer = _Writer(sep, "\n" if newline and sep.segment != "\n" else "", ic.syntax_id)
        text = writer.interchange(ic, una=ic.una or sep != DEFAULT_SEPARATORS)
        try:
            out += text.encode(codec)
        except UnicodeEncodeError as exc:  # a service character outside the set
            raise GenerationError(
                "encoding",
                f"{text[exc.start : exc.end]!r} cannot be written in {ic.syntax_id} ({codec})",
            ) from None
    return bytes(out)


class _Writer:
    def __init__(self, sep: Separators, eol: str, syntax_id: str) -> None:
        self.sep = sep
        self.end = sep.segment + eol
        self.allowed = _ALLOWED.get(syntax_id)
        self.syntax_id = syntax_id if syntax_id in CHARSETS else "UNOC"
        specials = [sep.component, sep.element, sep.segment]
        if sep.reserved != " ":  # syntax 4 repetition separator: data must escape it too
            specials.append(sep.reserved)
        if sep.release is not None:
            specials.insert(0, sep.release)
        self.specials = specials
        self.lines: list[str] = []

    def escape(self, value: str, ref: str) -> str:
        if self.allowed is not None and not self.allowed.issuperset(value):
            raise GenerationError(
                "encoding",
                f"{value!r} holds characters outside {self.syntax_id}",
                Location(segment_tag=ref[:3], element=ref),
            )
        if "\r" in value or "\n" in value:
            raise GenerationError(
                "line_break",
                f"{value!r} holds a line break, which would not survive reading back",
                Location(segment_tag=ref[:3], element=ref),
            )
        if self.allowed is None and not fits(value, self.syntax_id):
            raise GenerationError(
                "encoding",
                f"{value!r} cannot be written in {self.syntax_id} "
                f"({_CHARSET_NAMES[self.syntax_id]})",
                Location(segment_tag=ref[:3], element=ref),
            )
        rel = self.sep.release
        for char in self.specials:
            if char in value:
                if rel is None:
                    raise GenerationError(
                        "delimiter_in_value",
                        f"{value!r} holds {char!r} and the interchange has no release character",
                        Location(segment_tag=ref[:3], element=ref),
                    )
                value = value.replace(char, rel + char)
        return value

    def segment(self, tag: str, elements: Sequence[Sequence[str]]) -> None:
        if not _TAG.fullmatch(tag) or tag == "UNA":
            raise GenerationError(
                "segment", f"{tag!r} is not a segment tag", Location(segment_tag=tag)
            )
        parts = [tag]
        comp = self.sep.component
        for index, element in enumerate(elements, 1):
            ref = element_ref(tag, index)
            parts.append(comp.join(self.escape(c, ref) for c in element))
        self.lines.append(self.sep.element.join(parts) + self.end)

    def interchange(self, ic: Interchange, una: bool) -> str:
        if una:
            self.lines.append(self.sep.una() + ("\n" if self.end != self.sep.segment else ""))
        if not ic.bare:
            self.segment("UNB", ic.header.elements)
        grouped = ic.grouped
        for group in ic.groups:
            if group.header is not None:
                self.segment("UNG", group.header.elements)
            for msg in group.messages:
                self.segment("UNH", [(msg.reference,), msg.identifier, *msg.extra])
                for segment in msg.segments:
                    self.segment(segment.tag, segment.elements)
                self.segment("UNT", [(str(msg.segment_count),), (msg.reference,)])
            if group.header is not None:
                self.segment("UNE", [(str(len(group.messages)),), (group.reference,)])
        if not ic.bare:
            count = len(ic.groups) if grouped else sum(len(g.messages) for g in ic.groups)
            self.segment("UNZ", [(str(count),), (ic.control_reference,)])
        return "".join(self.lines)


# -- building outbound interchanges ----------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Party:
    """A UNB identification: id and code qualifier (14 = GS1/EAN, ZZZ = mutually defined)."""

    id: str
    qualifier: str = "ZZZ"


def build_interchange(
    messages: Sequence[tuple[str, Sequence[Segment]]],
    *,
    sender: Party,
    recipient: Party,
    control: ControlNumberSource,
    partner: str,
    at: datetime | None = None,
    syntax_id: str = "UNOC",
    syntax_version: str = "3",
    directory: str = "D01B",
    test: bool = False,
    separators: Separators = DEFAULT_SEPARATORS,
) -> Interchange:
    """An interchange of ungrouped messages (type, body segments), ready to generate.

    UNB05 comes from `control` (kind "UNB" for `partner`) so it increases across calls and
    restarts; UNH01 counts 1, 2, ... within the interchange, which is what it must be
    unique within. `directory` is e.g. "D01B" or "D00B" ("D3" for a syntax 3 CONTRL).
    """
    now = (at or datetime.now(UTC)).astimezone(UTC)
    date = now.strftime("%y%m%d" if syntax_version < "4" else "%Y%m%d")
    elements: list[str | Sequence[str]] = [
        [syntax_id, syntax_version],
        [sender.id, sender.qualifier],
        [recipient.id, recipient.qualifier],
        [date, now.strftime("%H%M")],
        str(control.next(partner, "UNB")),
    ]
    if test:
        elements += ["", "", "", "", "", "1"]  # UNB11 test indicator
    header = Segment.of("UNB", *elements)
    group = Group()
    for index, (message_type, segments) in enumerate(messages, 1):
        identifier = (message_type, directory[:1], directory[1:], "UN")
        group.messages.append(Message(str(index), identifier, list(segments)))
    groups = [group] if group.messages else []  # an empty implicit group reads back as none
    return Interchange(header, groups, separators, una=separators != DEFAULT_SEPARATORS)


# -- CONTRL syntax and service reports -----------------------------------------------------
# Problem codes -> syntax error code (data element 0085).
_CONTRL_CODES = {
    "segment_count": "29",  # control count does not match number of instances received
    "transaction_count": "29",
    "group_count": "29",
    "control_mismatch": "28",  # references do not match
    "encoding": "21",  # invalid character(s)
    "missing_trailer": "13",  # missing
    "control_number": "13",
    "header": "13",
    "message_id": "12",  # invalid value
    "syntax_id": "2",  # syntax version or level not supported
}
_ACCEPTED, _REJECTED = "7", "4"  # action codes (0083): acknowledged / rejected


def contrl(interchange: Interchange) -> list[Segment]:
    """The body of a CONTRL answering `interchange`: UCI, then UCF per group, UCM per message.

    A message with problems (parse in warn mode to keep them) is rejected (UCM action 4,
    with the 0085 syntax error code of its first problem); the others are acknowledged (7).
    The interchange itself is rejected only for its own problems (UNZ counts, UNB05).
    """

    def code_of(problems: list[EdiWarning]) -> list[str]:
        return [_CONTRL_CODES.get(problems[0].code, "18")] if problems else []  # 18: unspecified

    own = code_of(interchange.problems)
    body = [
        Segment.of(
            "UCI",
            interchange.control_reference,
            list(interchange.header.elements[1]) if len(interchange.header) > 1 else "",
            list(interchange.header.elements[2]) if len(interchange.header) > 2 else "",
            _REJECTED if own else _ACCEPTED,
            *own,
        )
    ]
    for group in interchange.groups:
        if group.header is not None:
            codes = code_of(group.problems)
            body.append(
                Segment.of(
                    "UCF",
                    group.reference,
                    list(group.header.elements[1]) if len(group.header) > 1 else "",
                    list(group.header.elements[2]) if len(group.header) > 2 else "",
                    _REJECTED if codes else _ACCEPTED,
                    *codes,
                )
            )
        for message in group.messages:
            codes = code_of(message.problems)
            body.append(
                Segment.of(
                    "UCM",
                    message.reference,
                    list(message.identifier),
                    _REJECTED if codes else _ACCEPTED,
                    *codes,
                )
            )
    return body


def acknowledge(
    document: EdifactDocument,
    *,
    control: ControlNumberSource,
    partner: str,
    at: datetime | None = None,
) -> list[Interchange]:
    """One interchange per received interchange holding its CONTRL, addressed back to the
    sender, with the same separators and in the same character set when what it echoes
    fits there (else UNOC, else UNOW: a partner who put a lower-case id in UNOA still gets
    its id back). Bare interchanges get none: the partner sent no UNB05 to answer."""
    answers = []
    for ic in document.interchanges:
        if ic.bare:
            continue
        header = ic.header
        body = contrl(ic)
        sender = Party(header.value(3, 1).strip(), header.value(3, 2).strip() or "ZZZ")
        recipient = Party(header.value(2, 1).strip(), header.value(2, 2).strip() or "ZZZ")
        echoed = [sender.id, recipient.id, *(v for seg in body for e in seg.elements for v in e)]
        declared = ic.syntax_id if ic.syntax_id in CHARSETS else "UNOC"
        syntax_id = next(
            (c for c in (declared, "UNOC", "UNOW") if all(_writable(v, c) == v for v in echoed)),
            declared,
        )
        if not all(_writable(v, syntax_id) == v for v in echoed):  # no set holds them all
            body = [
                Segment(s.tag, tuple(tuple(_writable(v, syntax_id) for v in e) for e in s.elements))
                for s in body
            ]
            sender = Party(_writable(sender.id, syntax_id), sender.qualifier)
            recipient = Party(_writable(recipient.id, syntax_id), recipient.qualifier)
        answers.append(
            build_interchange(
                [("CONTRL", body)],
                sender=sender,
                recipient=recipient,
                control=control,
                partner=partner,
                at=at,
                syntax_id=syntax_id,
                syntax_version="4" if syntax_id == "UNOW" else ic.syntax_version or "3",
                directory="D3",
                separators=ic.separators,
            )
        )
    return answers


def _writable(value: str, syntax_id: str) -> str:
    """`value` with '?' for each character `syntax_id` cannot hold (and each line break),
    so that an answer echoing what a partner sent can always be written."""
    if "\r" not in value and "\n" not in value and fits(value, syntax_id):
        return value
    return "".join(c if c not in "\r\n" and fits(c, syntax_id) else "?" for c in value)


__all__ = [
    "CHARSETS",
    "DEFAULT_SEPARATORS",
    "SUPPORTED_MESSAGES",
    "EdiError",
    "EdifactDocument",
    "Envelope",
    "Group",
    "Interchange",
    "Message",
    "Party",
    "Segment",
    "Separators",
    "acknowledge",
    "build_interchange",
    "contrl",
    "fits",
    "generate_edifact",
    "looks_like_edifact",
    "parse_edifact",
    "read_value",
]
