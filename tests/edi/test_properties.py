"""Properties: round trips over any delimiters, escapes and character sets; and no input,
however broken, makes a parser raise anything but an `EdiError`."""

from __future__ import annotations

import contextlib
import string
from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intermodal.edi.cli import parse_document
from intermodal.edi.control import MemoryControlNumbers
from intermodal.edi.edifact import Party as EdifactParty
from intermodal.edi.edifact import Separators, generate_edifact, parse_edifact
from intermodal.edi.edifact import build_interchange as build_edifact
from intermodal.edi.errors import EdiError, EnvelopeError, Segment
from intermodal.edi.x12 import (
    SUPPORTED_SETS,
    Delimiters,
    Party,
    build_interchange,
    generate_x12,
    parse_x12,
)
from tests.edi._golden import EDIFACT_GOLDEN, X12_GOLDEN, golden

AT = datetime(2024, 1, 5, 12, 0, tzinfo=UTC)
PUNCTUATION = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# -- X12 round trips over delimiters ---------------------------------------------------------
@st.composite
def x12_delimiters(draw: st.DrawFn) -> Delimiters:
    element, component = draw(
        st.lists(st.sampled_from(PUNCTUATION), min_size=2, max_size=2, unique=True)
    )
    segment = draw(
        st.sampled_from([c for c in PUNCTUATION + "\n" if c not in (element, component)])
    )
    return Delimiters(element, component, segment)


def x12_value(d: Delimiters) -> st.SearchStrategy[str]:
    banned = {d.element, d.component, d.segment, "\r", "\n"}
    # X12 is written as UTF-8 (plain ASCII for the basic character set), so accents too
    accents = "äöüéçñÅ€"
    alphabet = "".join(
        c
        for c in string.ascii_letters + string.digits + " " + PUNCTUATION + accents
        if c not in banned
    )
    return st.text(alphabet, max_size=12)


@st.composite
def x12_case(draw: st.DrawFn) -> tuple[Delimiters, list[tuple[str, list[Segment]]], bool]:
    d = draw(x12_delimiters())
    tags = st.from_regex(r"[A-Z][A-Z0-9]{1,2}", fullmatch=True).filter(
        lambda t: t not in ("ISA", "IEA", "GS", "GE", "ST", "SE", "TA1")
    )
    element = st.one_of(x12_value(d), st.lists(x12_value(d), min_size=2, max_size=3).map(tuple))
    segment = st.builds(
        lambda tag, elements: Segment.of(tag, *elements), tags, st.lists(element, max_size=6)
    )
    sets = st.lists(
        st.tuples(st.sampled_from(sorted(SUPPORTED_SETS)), st.lists(segment, max_size=5)),
        max_size=4,
    )
    return d, draw(sets), draw(st.booleans())


@FAST
@given(x12_case())
def test_x12_generate_then_parse_over_any_delimiters(
    case: tuple[Delimiters, list[tuple[str, list[Segment]]], bool],
) -> None:
    d, sets, newline = case
    ic = build_interchange(
        sets,
        sender=Party("ZZ", "SENDER"),
        receiver=Party("ZZ", "RECEIVER"),
        control=MemoryControlNumbers(),
        partner="p",
        at=AT,
        delimiters=d,
    )
    data = generate_x12(ic, newline=newline)
    doc = parse_x12(data)
    assert doc.interchanges == [ic]
    assert generate_x12(doc, newline=newline) == data


# -- EDIFACT round trips over separators, escapes and character sets ----------------------
@st.composite
def edifact_separators(draw: st.DrawFn) -> Separators:
    component, element, release, segment = draw(
        st.lists(st.sampled_from(PUNCTUATION), min_size=4, max_size=4, unique=True)
    )
    return Separators(component, element, draw(st.sampled_from(",.")), release, " ", segment)


CHARSETS = {
    "UNOA": "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,-()/='+:?!\"%&*;<>",
    "UNOB": string.ascii_letters + string.digits + " " + PUNCTUATION,
    "UNOC": string.ascii_letters + " " + PUNCTUATION + "äöüßéèçñÅØÆ£¥©",
    "UNOW": string.ascii_letters + " " + PUNCTUATION + "äöüßŁódź\u03b1\u03b2\u03b3北京東京€",
}


@st.composite
def edifact_case(draw: st.DrawFn) -> tuple[str, Separators, list[tuple[str, list[Segment]]], bool]:
    syntax_id = draw(st.sampled_from(sorted(CHARSETS)))
    sep = draw(edifact_separators())
    alphabet = CHARSETS[syntax_id]
    if syntax_id == "UNOA":  # a UNOA document can only carry separators from level A
        allowed = set(alphabet)
        if not {sep.component, sep.element, sep.release or "", sep.segment} <= allowed:
            sep = Separators()
    value = st.text(alphabet, max_size=12)
    element = st.one_of(value, st.lists(value, min_size=2, max_size=3).map(tuple))
    tags = st.from_regex(r"[A-Z][A-Z0-9]{2}", fullmatch=True).filter(
        lambda t: not t.startswith("UN")
    )
    segment = st.builds(lambda t, e: Segment.of(t, *e), tags, st.lists(element, max_size=5))
    messages = st.lists(
        st.tuples(st.sampled_from(["IFTSTA", "IFTMIN"]), st.lists(segment, max_size=5)),
        max_size=3,
    )
    return syntax_id, sep, draw(messages), draw(st.booleans())


@FAST
@given(edifact_case())
def test_edifact_generate_then_parse_over_separators_escapes_and_charsets(
    case: tuple[str, Separators, list[tuple[str, list[Segment]]], bool],
) -> None:
    syntax_id, sep, messages, newline = case
    ic = build_edifact(
        messages,
        sender=EdifactParty("SENDER"),
        recipient=EdifactParty("RECIPIENT"),
        control=MemoryControlNumbers(),
        partner="p",
        at=AT,
        syntax_id=syntax_id,
        syntax_version="4" if syntax_id == "UNOW" else "3",
        separators=sep,
    )
    data = generate_edifact(ic, newline=newline)
    doc = parse_edifact(data)
    assert doc.interchanges == [ic]
    assert doc.warnings == []
    assert generate_edifact(doc, newline=newline) == data


# -- no input crashes a parser ---------------------------------------------------------------
def _only_edi_errors(data: bytes) -> None:
    for mode in ("reject", "warn"):
        for parse in (parse_x12, parse_edifact, parse_document):
            with contextlib.suppress(EdiError):
                parse(data, mode)  # type: ignore[operator]


envelope_starts = st.sampled_from(
    [b"", b"ISA", b"ISA*", b"UNA", b"UNA:+.? '", b"UNB+", b"\xef\xbb\xbfISA"]
)


@settings(max_examples=400, deadline=None)
@given(envelope_starts, st.binary(max_size=400))
def test_arbitrary_bytes_raise_only_edi_errors(start: bytes, rest: bytes) -> None:
    _only_edi_errors(start + rest)


GOLDEN_FILES = X12_GOLDEN + EDIFACT_GOLDEN


@st.composite
def corrupted(draw: st.DrawFn) -> bytes:
    data = bytearray(golden(draw(st.sampled_from(GOLDEN_FILES))))
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, max(0, len(data) - 1)))
        action = draw(st.sampled_from(["replace", "insert", "delete"]))
        byte = draw(st.sampled_from([*b"*~>:+'?\r\n \x00\xff", *b"ISAGEUNZT0129"]))
        if action == "replace" and data:
            data[at] = byte
        elif action == "insert":
            data.insert(at, byte)
        elif data:
            del data[at]
    cut = draw(st.integers(0, len(data)))
    return bytes(data[: cut if draw(st.booleans()) else len(data)])


@settings(max_examples=400, deadline=None)
@given(corrupted())
def test_corrupted_and_truncated_golden_files_raise_only_edi_errors(data: bytes) -> None:
    _only_edi_errors(data)


@settings(max_examples=200, deadline=None)
@given(corrupted())
def test_warn_mode_never_raises_an_envelope_error(data: bytes) -> None:
    for parse in (parse_x12, parse_edifact):
        try:
            parse(data, "warn")
        except EnvelopeError as exc:  # pragma: no cover - the property under test
            raise AssertionError(f"warn mode raised {exc}") from exc
        except EdiError:
            pass
