"""X12 text as partners write it: UTF-8, ISO 8859-1, and files that mix them. Valid UTF-8
is read as UTF-8; a byte that is not is read as ISO 8859-1 with a warning that names its
segment and element, never as silent mojibake."""

from __future__ import annotations

import pytest

from intermodal.config import EdiConfig, Partner
from intermodal.edi.control import MemoryControlNumbers
from intermodal.edi.x12 import acknowledge, generate_x12, parse_x12
from intermodal.ingress.edi import split_document
from tests.edi._golden import golden


def _values(data: bytes, tag: str, position: int) -> list[str]:
    doc = parse_x12(data, "warn")
    return [
        s.value(position) for _, _, tx in doc.transactions() for s in tx.segments if s.tag == tag
    ]


def test_utf8_names_are_read_as_utf8_without_warnings() -> None:
    data = golden("214_utf8_names.x12")
    doc = parse_x12(data)
    assert doc.warnings == []
    assert _values(data, "N1", 2) == ["TRANSPORTES CASTAÑEDA"]
    assert _values(data, "MS1", 1) == ["SAN LUIS POTOSÍ", "QUERÉTARO"]


def test_latin1_names_are_read_with_a_warning_per_element() -> None:
    data = golden("214_latin1_names.x12")
    assert b"B\xc9LANGER" in data  # ISO 8859-1 on disk
    doc = parse_x12(data)  # reject mode: a character set is never a reason to reject
    assert _values(data, "N1", 2) == ["TRANSPORTS BÉLANGER"]
    assert _values(data, "MS1", 1) == ["TROIS-RIVIÈRES", "MONTRÉAL"]
    reports = [
        (w.code, w.where.segment_tag, w.where.element, w.where.segment_number) for w in doc.warnings
    ]
    assert reports == [
        ("encoding", "N1", "N102", 5),
        ("encoding", "MS1", "MS101", 8),
        ("encoding", "MS1", "MS101", 11),
    ]
    first = str(doc.warnings[0])
    assert "segment 5 (N1, position 3 in its set), element N102" in first
    assert "byte 0xC9 is not UTF-8; read as ISO 8859-1: 'TRANSPORTS BÉLANGER'" in first
    assert doc.warnings[0].where.transaction == "0001"


def test_one_latin1_byte_does_not_turn_the_utf8_text_into_mojibake() -> None:
    data = golden("214_utf8_names.x12").replace(b"QUER\xc3\x89TARO", b"QUER\xc9TARO")
    doc = parse_x12(data)
    assert _values(data, "N1", 2) == ["TRANSPORTES CASTAÑEDA"]  # not 'CASTAÃ\x91EDA'
    assert _values(data, "MS1", 1) == ["SAN LUIS POTOSÍ", "QUERÉTARO"]
    ((where, message),) = [(w.where.element, w.message) for w in doc.warnings]
    assert where == "MS101" and "0xC9" in message


def test_latin1_in_the_isa_names_the_isa_element() -> None:
    data = golden("214_multi_loop.x12").replace(b"SHIPPERID      *", b"SHIPPER\xc9       *", 1)
    doc = parse_x12(data)
    assert doc.interchanges[0].receiver == "SHIPPERÉ"
    ((warning),) = doc.warnings
    assert (warning.where.segment_tag, warning.where.element) == ("ISA", "ISA08")


def test_a_delimiter_outside_utf8_makes_the_document_latin1() -> None:
    # a single-byte system that ends segments with 0x85 (NEL)
    text = golden("214_latin1_names.x12").replace(b"~\n", b"\x85")
    doc = parse_x12(text)
    assert doc.interchanges[0].delimiters.segment == "\x85"
    assert _values(text, "MS1", 1) == ["TROIS-RIVIÈRES", "MONTRÉAL"]
    ((warning),) = doc.warnings
    assert "delimiter byte 0x85 is not UTF-8" in warning.message
    # and its 997 can be written and read back
    answers = acknowledge(doc, control=MemoryControlNumbers(), partner="p")
    assert parse_x12(generate_x12(answers)).interchanges == answers


def test_encoding_warnings_stop_at_twenty_and_count_the_rest() -> None:
    segments = [b"ST*214*0001", b"B10*PRO-118821*SHIP-2024-0221*TBEL"]
    for loop in range(1, 31):
        segments += [b"LX*%d" % loop, b"AT7*X6*NS***20240220*1200*ET", b"MS1*MONTR\xc9AL*QC*CA"]
    segments.append(b"SE*%d*0001" % (len(segments) + 1))
    isa = golden("214_latin1_names.x12").split(b"\n")[0]
    data = b"~\n".join(
        [
            isa[:-1],
            b"GS*QM*TBEL*SHIPPERID*20240220*0930*88*X*004010",
            *segments,
            b"GE*1*88",
            b"IEA*1*000000088",
            b"",
        ]
    )
    doc = parse_x12(data)
    assert [w.where.element for w in doc.warnings] == ["MS101"] * 20 + [None]
    assert doc.warnings[-1].message == (
        "10 more elements held bytes that are not UTF-8 (read as ISO 8859-1)"
    )
    assert set(_values(data, "MS1", 1)) == {"MONTRÉAL"}


@pytest.mark.parametrize("first", ["214_latin1_names.x12", "214_wrapped_80_columns.x12"])
def test_intake_still_cuts_interchanges_at_their_bytes(first: str) -> None:
    body = golden(first) + golden("214_utf8_names.x12")
    partner = Partner(
        "tbel",
        "carrier",
        (),
        frozenset(),
        edi=EdiConfig(format="x12", mode="reject"),
    )
    pieces, _ = split_document(partner, body)
    assert [p.control_number for p in pieces] == [
        parse_x12(golden(first)).interchanges[0].control_number,
        "000000089",
    ]
    assert b"".join(p.raw for p in pieces) == body  # cut from the bytes, not rewritten
    assert pieces[1].raw == golden("214_utf8_names.x12")
