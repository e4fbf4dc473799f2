# ruff: noqa: RUF001  (the en dash is the non-Latin-1 character under test)
"""Bare EDIFACT messages (UNH..UNT without UNB/UNZ), as GS1 examples and some portals send
them: refused unless the envelope is optional, then read as one interchange whose
reference a resend of the same bytes gets again."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from intermodal.edi.control import MemoryControlNumbers
from intermodal.edi.edifact import acknowledge, generate_edifact, parse_edifact
from intermodal.edi.errors import EdiError, EdiSyntaxError, EnvelopeError
from intermodal.mapping.readers import ReadContext, read_edifact

# A carrier portal's export: UNA, then two status messages one per line, no envelope.
BARE = (
    b"UNA:+.? '\n"
    b"UNH+STA0815+IFTSTA:D:01B:UN'\n"
    b"BGM+23+PORTAL-0815+9'\n"
    b"CNI+1+SHIP-4711'\n"
    b"STS+1+21'\n"
    b"DTM+334:202403041415:203'\n"
    b"LOC+175+DEHAM:139:6+:::Hamburg Waltershof'\n"
    b"UNT+7+STA0815'\n"
    b"UNH+STA0816+IFTSTA:D:01B:UN'\n"
    b"BGM+23+PORTAL-0816+9'\n"
    b"CNI+1+SHIP-4712'\n"
    b"STS+1+10'\n"
    b"DTM+334:202403041520:203'\n"
    b"UNT+6+STA0816'\n"
)


def test_bare_messages_are_refused_unless_the_envelope_is_optional() -> None:
    for mode in ("reject", "warn"):
        with pytest.raises(EdiSyntaxError, match="expected UNB after UNA, found 'UNH") as caught:
            parse_edifact(BARE, mode)  # type: ignore[arg-type]
        assert "envelope is optional" in caught.value.message
    with pytest.raises(EdiSyntaxError, match="expected UNA or UNB, found 'UNH"):
        parse_edifact(BARE.split(b"\n", 1)[1])


@pytest.mark.parametrize("mode", ["reject", "warn"])
def test_bare_messages_read_as_one_interchange_from_the_partner(mode: str) -> None:
    doc = parse_edifact(BARE, mode, partner="portal", envelope="optional")  # type: ignore[arg-type]
    (ic,) = doc.interchanges
    assert ic.bare and ic.una
    assert (ic.sender, ic.syntax_id) == ("portal", "UNOC")
    assert [m.reference for m in ic.messages()] == ["STA0815", "STA0816"]
    assert ic.control_reference.startswith("STA0815.STA0816#")
    assert len(ic.control_reference.rsplit("#", 1)[1]) == 12
    (warning,) = doc.warnings
    assert warning.code == "envelope_absent"
    assert "2 message(s)" in warning.message and "portal" in warning.message
    assert ic.problems == [] and all(m.problems == [] for m in ic.messages())


def test_the_same_bytes_get_the_same_reference_and_other_bytes_another() -> None:
    def reference(data: bytes) -> str:
        return parse_edifact(data, envelope="optional").interchanges[0].control_reference

    first = reference(BARE)
    assert reference(BARE) == first
    assert reference(b"\xef\xbb\xbf\r\n" + BARE + b"\n\n") == first  # BOM and blank lines
    assert reference(BARE.replace(b"SHIP-4712", b"SHIP-4713")) != first
    without_una = BARE.split(b"\n", 1)[1]
    assert reference(without_una) != first  # a different document, with the same messages
    assert reference(without_una).split("#")[0] == first.split("#")[0]


def test_bare_utf8_is_read_as_unow_and_latin1_as_unoc() -> None:
    text = BARE.decode().replace("Hamburg Waltershof", "Hamburg Süderelbe – Kai 7")
    doc = parse_edifact(text.encode("utf-8"), envelope="optional")
    (ic,) = doc.interchanges
    assert (ic.syntax_id, ic.syntax_version) == ("UNOW", "4")
    place = next(s for s in ic.groups[0].messages[0].segments if s.tag == "LOC")
    assert place.value(3, 4) == "Hamburg Süderelbe – Kai 7"
    latin = text.replace(" – ", " ").encode("latin-1")
    (ic,) = parse_edifact(latin, envelope="optional").interchanges
    assert ic.syntax_id == "UNOC"
    place = next(s for s in ic.groups[0].messages[0].segments if s.tag == "LOC")
    assert place.value(3, 4) == "Hamburg Süderelbe Kai 7"
    assert "UNOC assumed" in parse_edifact(latin, envelope="optional").warnings[0].message


def test_envelope_trailers_among_bare_messages_are_problems() -> None:
    data = BARE + b"UNZ+2+X'\n"
    with pytest.raises(EnvelopeError, match="UNZ among messages that came without UNB"):
        parse_edifact(data, envelope="optional")
    doc = parse_edifact(data, "warn", envelope="optional")
    assert [w.code for w in doc.warnings] == ["unexpected_segment", "envelope_absent"]
    assert len(list(doc.interchanges[0].messages())) == 2


def test_a_bare_interchange_is_written_back_bare_and_answered_by_no_contrl() -> None:
    doc = parse_edifact(BARE, envelope="optional")
    written = generate_edifact(doc, newline=True)
    assert written == BARE  # UNA, the messages, and nothing made up
    assert acknowledge(doc, control=MemoryControlNumbers(), partner="portal") == []


def test_bare_messages_followed_by_an_interchange() -> None:
    enveloped = (
        b"UNB+UNOC:3+PORTAL:ZZZ+HUB:ZZZ+240304:1600+7'UNH+1+IFTSTA:D:01B:UN'"
        b"BGM+23+X+9'UNT+3+1'UNZ+1+7'"
    )
    doc = parse_edifact(BARE + enveloped, envelope="optional")
    bare, full = doc.interchanges
    assert bare.bare and not full.bare
    assert full.control_reference == "7"
    assert (
        bare.control_reference
        == parse_edifact(BARE, envelope="optional").interchanges[0].control_reference
    )


def test_the_reader_maps_bare_messages() -> None:
    read = read_edifact(BARE, ReadContext("portal", timezone="Europe/Berlin"))
    first, second = read["statuses"]
    reference = parse_edifact(BARE, envelope="optional").interchanges[0].control_reference
    assert (first["interchange"], first["message"]) == (reference, "STA0815")
    assert (first["consignment"], first["code"], first["location_code"]) == (
        "SHIP-4711",
        "21",
        "DEHAM",
    )
    assert first["occurred_at"] == "2024-03-04T13:15:00+00:00"
    assert (second["consignment"], second["code"]) == ("SHIP-4712", "10")
    assert "location_code" not in second


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from([b"UNH", b"UNH+", b"UNA:+.? 'UNH+", b"\xef\xbb\xbfUNH+1+"]),
    st.binary(max_size=300),
)
def test_any_bare_bytes_raise_only_edi_errors_and_warn_mode_no_envelope_error(
    start: bytes, rest: bytes
) -> None:
    data = start + rest
    with contextlib.suppress(EdiError):
        parse_edifact(data, envelope="optional")
    try:
        parse_edifact(data, "warn", envelope="optional")
    except EnvelopeError as exc:  # pragma: no cover - the property under test
        raise AssertionError(f"warn mode raised {exc}") from exc
    except EdiError:
        pass
