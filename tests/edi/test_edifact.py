"""EDIFACT: UNA and defaults, release character, decimal comma, character sets, checks."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from intermodal.edi.control import MemoryControlNumbers
from intermodal.edi.edifact import (
    DEFAULT_SEPARATORS,
    EdifactDocument,
    Party,
    Separators,
    acknowledge,
    build_interchange,
    contrl,
    generate_edifact,
    parse_edifact,
)
from intermodal.edi.errors import EdiSyntaxError, EnvelopeError, GenerationError, Segment
from intermodal.mapping.readers import ReadContext, read_edifact
from tests.edi._golden import BROKEN, EDIFACT_GOLDEN, golden

AT = datetime(2024, 1, 5, 12, 10, tzinfo=UTC)


def test_iftsta_with_una_escapes_decimal_comma_and_latin1() -> None:
    doc = parse_edifact(golden("iftsta_d01b_escapes.edi"))
    (ic,) = doc.interchanges
    assert ic.una and ic.separators == Separators(":", "+", ",", "?", " ", "'")
    assert (ic.syntax_id, ic.syntax_version, ic.control_reference) == ("UNOC", "3", "IFTSTA0001")
    assert (ic.sender, ic.recipient) == ("5412345000013", "8712345000019")
    (group,) = ic.groups
    assert group.implicit and group.functional_id == "IFTSTA"
    (msg,) = group.messages
    assert (msg.reference, msg.type, msg.directory) == ("1", "IFTSTA", "D01B")
    assert msg.segment_count == 13
    by_tag = {s.tag: s for s in msg.segments}
    # FTX04: free text with ?' ?+ ?: and ?? escapes
    assert by_tag["FTX"].value(4) == "Bay 3's dock+gate B, forklift :2 ? OK"
    # MEA03: measure with a decimal comma
    assert by_tag["MEA"].decimal(3, 2) == Decimal("1250.5")
    assert by_tag["MEA"].value(3, 1) == "KGM"
    names = [s for s in msg.segments if s.tag == "NAD"]
    assert names[1].value(4) == "Müller Logistik GmbH" and names[1].value(6) == "Köln"
    assert by_tag["LOC"].elements == (
        ("175",),
        ("NLRTM", "139", "6"),
        ("", "", "", "Rotterdam Maasvlakte"),
    )
    assert by_tag["CNI"].number == 8 and by_tag["CNI"].position == 6  # UNA is segment 1


def test_iftmin_without_una_in_a_functional_group() -> None:
    doc = parse_edifact(golden("iftmin_d00b_group.edi"))
    (ic,) = doc.interchanges
    assert not ic.una and ic.separators == DEFAULT_SEPARATORS
    assert ic.syntax_id == "UNOA"
    (group,) = ic.groups
    assert not group.implicit
    assert (group.functional_id, group.reference) == ("IFTMIN", "42")
    assert [m.reference for m in group.messages] == ["M0001", "M0002"]
    assert all(m.directory == "D00B" for m in group.messages)
    weights = [
        (s.decimal(3, 2), m.segments[4].decimal(1, 2))
        for m in group.messages
        for s in m.segments
        if s.tag == "MEA"
    ]
    assert weights == [(Decimal("1250.5"), Decimal("1250.5")), (Decimal("830"), Decimal("830"))]


def test_wrong_unt_rejected_with_segment_and_element() -> None:
    with pytest.raises(EnvelopeError) as caught:
        parse_edifact(golden("iftsta_wrong_unt.edi"), partner="rotterdam-terminal")
    err = caught.value
    assert (err.code, err.segment_number, err.segment_position, err.element) == (
        "segment_count",
        15,
        13,
        "UNT01",
    )
    assert err.partner == "rotterdam-terminal"
    assert "UNT01 says '12' segments, message 1 has 13" in str(err)


def test_wrong_unt_warned_and_document_returned() -> None:
    doc = parse_edifact(golden("iftsta_wrong_unt.edi"), "warn")
    (warning,) = doc.warnings
    assert (warning.code, warning.where.element) == ("segment_count", "UNT01")
    (_, _, msg) = next(doc.messages())
    assert msg.problems == [warning]


def _swap(name: str, old: bytes, new: bytes) -> bytes:
    data = golden(name)
    assert old in data
    return data.replace(old, new, 1)


@pytest.mark.parametrize(
    ("old", "new", "code", "element"),
    [
        (b"UNT+13+M0001'", b"UNT+13+M0009'", "control_mismatch", "UNT02"),
        (b"UNE+2+42'", b"UNE+3+42'", "transaction_count", "UNE01"),
        (b"UNE+2+42'", b"UNE+2+43'", "control_mismatch", "UNE02"),
        (b"UNZ+1+BK0000042'", b"UNZ+2+BK0000042'", "group_count", "UNZ01"),
        (b"UNZ+1+BK0000042'", b"UNZ+1+BK0000043'", "control_mismatch", "UNZ02"),
        (b"TAIL LIFT", b"Tail lift", "encoding", "FTX04"),
        (b"UNB+UNOA:2", b"UNB+UNOQ:2", "syntax_id", "UNB01-1"),
    ],
)
def test_each_check_names_its_element(old: bytes, new: bytes, code: str, element: str) -> None:
    data = _swap("iftmin_d00b_group.edi", old, new)
    with pytest.raises(EnvelopeError) as caught:
        parse_edifact(data)
    assert (caught.value.code, caught.value.element) == (code, element)
    doc = parse_edifact(data, "warn")
    assert (doc.warnings[0].code, doc.warnings[0].where.element) == (code, element)


def test_unoa_reports_the_component_position() -> None:
    data = _swap("iftmin_d00b_group.edi", b"RFF+CU:PO-778812", b"RFF+CU:po-778812")
    with pytest.raises(EnvelopeError) as caught:
        parse_edifact(data)
    assert (caught.value.element, caught.value.segment_number) == ("RFF01-2", 9)


def test_ungrouped_interchange_counts_messages_in_unz() -> None:
    data = _swap("iftsta_d01b_escapes.edi", b"UNZ+1+", b"UNZ+2+")
    with pytest.raises(
        EnvelopeError, match="UNZ01 says '2', interchange IFTSTA0001 has 1 messages"
    ):
        parse_edifact(data)


def test_utf8_interchange_and_invalid_bytes() -> None:
    text = (
        "UNB+UNOW:4+A+B+20240105:1210+7'UNH+1+IFTSTA:D:01B:UN'FTX+AAI+++Łódź 北京'UNT+3+1'UNZ+1+7'"
    )
    doc = parse_edifact(text.encode())
    (_, _, msg) = next(doc.messages())
    assert msg.segments[0].value(4) == "Łódź 北京"
    bad = text.encode().replace("Łódź".encode(), b"\xff\xfe")
    with pytest.raises(EnvelopeError) as caught:
        parse_edifact(bad)
    assert (caught.value.code, caught.value.element, caught.value.segment_number) == (
        "encoding",
        "FTX04",
        3,
    )


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"", "empty document"),
        (b"UNH+1+IFTSTA:D:01B:UN'", "expected UNA or UNB"),
        (b"UNA:+", "UNA segment cut short"),
        (b"UNA::.? 'UNB+UNOC:3'", "must differ"),
        (b"UNA:+.? 'UNH+1'", "expected UNB after UNA"),
        (b"UNB+UNOC:3+A+B+1+1'unh+1'", "does not start with a segment tag"),
        (b"UNB+UNOC:3+A+B+1+1'UNH+1+X:D:01B:UN'FTX+A?", "release character"),
    ],
)
def test_unreadable_documents_are_syntax_errors(data: bytes, fragment: str) -> None:
    for mode in ("reject", "warn"):
        with pytest.raises(EdiSyntaxError, match=fragment):
            parse_edifact(data, mode)  # type: ignore[arg-type]


def test_custom_una_separators() -> None:
    text = (
        "UNA|*.# \n"
        "UNB*UNOC|3*A*B*240105|1210*9\n"
        "UNH*1*IFTSTA|D|01B|UN\n"
        "FTX*AAI***star #* bar #| hash ## quote ' plus +\n"
        "UNT*3*1\n"
        "UNZ*1*9\n"
    )
    doc = parse_edifact(text.encode())
    (ic,) = doc.interchanges
    assert ic.separators == Separators("|", "*", ".", "#", " ", "\n")
    (_, _, msg) = next(doc.messages())
    assert msg.segments[0].value(4) == "star * bar | hash # quote ' plus +"
    assert parse_edifact(generate_edifact(doc)) == doc


@pytest.mark.parametrize("name", sorted(set(EDIFACT_GOLDEN) - BROKEN))
def test_parse_generate_parse_is_the_identity(name: str) -> None:
    first = parse_edifact(golden(name))
    for newline in (False, True):
        again = parse_edifact(generate_edifact(first, newline=newline))
        assert again == first


def test_golden_iftsta_is_regenerated_byte_for_byte() -> None:
    data = golden("iftsta_d01b_escapes.edi")
    assert generate_edifact(parse_edifact(data), newline=True) == data


@pytest.mark.parametrize("message_type", ["IFTSTA", "IFTMIN"])
@pytest.mark.parametrize("directory", ["D00B", "D01B"])
def test_generate_then_parse_is_the_identity(message_type: str, directory: str) -> None:
    body = [
        Segment.of("BGM", "23" if message_type == "IFTSTA" else "610", "REF'1+2:3?", "9"),
        Segment.of("DTM", ["137", "202401051210", "203"]),
        Segment.of("MEA", "AAE", "G", ["KGM", "1250,5"]),
    ]
    control = MemoryControlNumbers()
    ic = build_interchange(
        [(message_type, body), (message_type, body[:1])],
        sender=Party("5412345000013", "14"),
        recipient=Party("CARRIER"),
        control=control,
        partner="acme",
        at=AT,
        directory=directory,
    )
    doc = parse_edifact(generate_edifact(ic))
    assert doc.interchanges == [ic] and doc.warnings == []
    assert [m.reference for m in ic.messages()] == ["1", "2"]
    assert all(m.directory == directory for m in ic.messages())
    following = build_interchange(
        [], sender=Party("A"), recipient=Party("B"), control=control, partner="acme", at=AT
    )
    assert (ic.control_reference, following.control_reference) == ("1", "2")


def test_generation_refuses_what_the_character_set_cannot_hold() -> None:
    ic = build_interchange(
        [("IFTSTA", [Segment.of("FTX", "AAI", "", "", "lower case")])],
        sender=Party("A"),
        recipient=Party("B"),
        control=MemoryControlNumbers(),
        partner="acme",
        at=AT,
        syntax_id="UNOA",
    )
    with pytest.raises(GenerationError) as caught:
        generate_edifact(ic)
    assert caught.value.element == "FTX04"
    latin = build_interchange(
        [("IFTSTA", [Segment.of("FTX", "AAI", "", "", "Łódź")])],
        sender=Party("A"),
        recipient=Party("B"),
        control=MemoryControlNumbers(),
        partner="acme",
        at=AT,
    )
    with pytest.raises(GenerationError, match="UNOC"):
        generate_edifact(latin)


def test_contrl_acknowledges_a_clean_grouped_interchange() -> None:
    doc = parse_edifact(golden("iftmin_d00b_group.edi"))
    (answer,) = acknowledge(doc, control=MemoryControlNumbers(), partner="acme", at=AT)
    assert (answer.sender, answer.recipient) == ("CARRIER01", "SHIPPER01")
    assert answer.syntax_id == "UNOA"
    (_, _, msg) = next(EdifactDocument([answer]).messages())
    assert msg.identifier == ("CONTRL", "D", "3", "UN")
    assert [s.values() for s in msg.segments] == [
        ["BK0000042", "SHIPPER01", "CARRIER01", "7"],
        ["42", "SHIPPER01", "CARRIER01", "7"],
        ["M0001", "IFTMIN", "7"],
        ["M0002", "IFTMIN", "7"],
    ]
    assert parse_edifact(generate_edifact(answer)).interchanges == [answer]


def test_contrl_rejects_the_message_with_a_wrong_unt() -> None:
    doc = parse_edifact(golden("iftsta_wrong_unt.edi"), "warn")
    body = contrl(doc.interchanges[0])
    assert [s.tag for s in body] == ["UCI", "UCM"]
    assert body[0].value(4) == "7"
    assert body[1].values() == ["1", "IFTSTA", "4", "29"]  # 29: control count does not match
    assert body[1].elements[1] == ("IFTSTA", "D", "01B", "UN")


def test_syntax_4_repetition_separator_is_escaped_when_writing() -> None:
    sep = Separators(":", "+", ".", "?", "*", "'")
    ic = build_interchange(
        [("IFTSTA", [Segment.of("FTX", "AAI", "", "", "5 * 3")])],
        sender=Party("A"),
        recipient=Party("B"),
        control=MemoryControlNumbers(),
        partner="acme",
        at=AT,
        syntax_id="UNOC",
        syntax_version="4",
        separators=sep,
    )
    data = generate_edifact(ic)
    assert data.startswith(b"UNA:+.?*'") and b"5 ?* 3" in data
    assert parse_edifact(data).interchanges == [ic]


def test_padded_identifiers_are_trimmed_and_free_text_is_not() -> None:
    """A partner that pads its ids to a fixed width gets the same envelope references and
    the same reading; its delivery remark keeps its spaces."""
    data = golden("iftmin_d00b_group.edi")
    padded = (
        data.replace(b"+SHIPPER01:ZZZ+CARRIER01", b"+ SHIPPER01 :ZZZ+CARRIER01  ", 1)
        .replace(b"+BK0000042'", b"+BK0000042   '", 1)
        .replace(b"UNH+M0001+", b"UNH+  M0001+", 1)
        .replace(b"BGM+610+BOOK-2024-0042+9", b"BGM+610+  BOOK-2024-0042+9", 1)
        .replace(b"RFF+CU:PO-778812'", b"RFF+ CU :PO-778812  '", 1)
        .replace(b"NAD+CZ+ACME01::92", b"NAD+ CZ+ ACME01 ::92", 1)
        .replace(b"FTX+DEL+++TAIL", b"FTX+DEL+++  TAIL", 1)
    )
    (ic,) = parse_edifact(padded).interchanges  # UNZ02 'BK0000042' matches the padded UNB05
    assert (ic.sender, ic.recipient) == ("SHIPPER01", "CARRIER01")
    assert ic.control_reference == "BK0000042   "  # as sent: a CONTRL echoes it
    assert ic.groups[0].messages[0].reference == "M0001"
    first, _ = read_edifact(padded, ReadContext("shipper"))["instructions"]
    clean, _ = read_edifact(data, ReadContext("shipper"))["instructions"]
    assert first["interchange"] == clean["interchange"] == "BK0000042"
    assert first["booking_number"] == clean["booking_number"] == "BOOK-2024-0042"
    assert first["references"] == clean["references"] == {"CU": "PO-778812"}
    assert first["parties"]["CZ"]["code"] == "ACME01"
    assert first["remarks"] == ["  " + clean["remarks"][0]]
