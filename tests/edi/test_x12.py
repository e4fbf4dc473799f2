"""X12 004010: golden documents, envelope checks in both modes, round trips, 997s."""

from __future__ import annotations

import gc
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from intermodal.edi.control import MemoryControlNumbers
from intermodal.edi.errors import (
    EdiError,
    EdiSyntaxError,
    EnvelopeError,
    GenerationError,
    Segment,
)
from intermodal.edi.x12 import (
    SUPPORTED_SETS,
    Delimiters,
    Party,
    acknowledge,
    acknowledgement_997,
    build_interchange,
    generate_x12,
    parse_x12,
)
from tests.edi._golden import BROKEN, X12_GOLDEN, golden

AT = datetime(2024, 1, 5, 14, 30, tzinfo=UTC)


# -- golden documents ---------------------------------------------------------------------
def test_204_load_tender_with_crlf_between_segments() -> None:
    doc = parse_x12(golden("204_load_tender.x12"))
    (ic,) = doc.interchanges
    assert (ic.sender_qualifier, ic.sender, ic.receiver) == ("02", "SHIPPERID", "CARRIERSCAC")
    assert ic.control_number == "000000101"
    assert ic.delimiters == Delimiters("*", ">", "~")
    (group,) = ic.groups
    assert (group.functional_id, group.control_number, group.version) == ("SM", "101", "004010")
    (tx,) = group.transactions
    assert (tx.set_id, tx.control_number, tx.segment_count) == ("204", "0001", 20)
    b2 = tx.segments[0]
    assert b2.tag == "B2"
    assert b2.value(2) == "ABCD"  # B202 SCAC
    assert b2.value(4) == "SHIP-204-0001"  # B204 shipment identification number
    assert b2.value(6) == "PP"  # B206 method of payment
    stops = [s for s in tx.segments if s.tag == "S5"]
    assert [(s.value(1), s.value(2)) for s in stops] == [("1", "LD"), ("2", "UL")]
    l3 = tx.segments[-1]
    assert l3.tag == "L3"
    assert l3.implied_decimal(5, 2) == Decimal("1250.00")  # L305 charge, N2
    assert l3.number == 21 and l3.position == 19
    assert doc.warnings == []


def test_210_freight_invoice_implied_decimals() -> None:
    doc = parse_x12(golden("210_freight_invoice.x12"))
    (_, _, tx) = next(doc.transactions())
    b3 = tx.segments[0]
    assert b3.value(2) == "INV-88123"  # B302 invoice number
    assert b3.implied_decimal(7, 2) == Decimal("1345.50")  # B307 net amount due, N2
    assert b3.value(11) == "ABCD"  # B311 SCAC
    charges = [s.implied_decimal(4, 2) for s in tx.segments if s.tag == "L1"]
    assert charges == [Decimal("1250.00"), Decimal("95.50")]  # L104, N2
    l0 = next(s for s in tx.segments if s.tag == "L0")
    assert l0.decimal(4) == Decimal("10000")  # L004 weight, R


def test_214_newline_only_terminators() -> None:
    doc = parse_x12(golden("214_newline_terminated.x12"))
    (ic,) = doc.interchanges
    assert ic.delimiters == Delimiters("*", ":", "\n")
    (_, _, tx) = next(doc.transactions())
    statuses = [(s.value(1), s.value(5), s.value(6)) for s in tx.segments if s.tag == "AT7"]
    assert statuses == [("X3", "20240105", "0745"), ("AF", "20240105", "0810")]
    assert tx.segment_count == 15


def test_214_plus_as_component_separator() -> None:
    doc = parse_x12(golden("214_plus_component.x12"))
    (ic,) = doc.interchanges
    assert ic.delimiters == Delimiters("|", "+", "~")
    (_, _, tx) = next(doc.transactions())
    k1 = next(s for s in tx.segments if s.tag == "K1")
    assert k1.elements[1] == ("DOCK 4", "DOOR 2")
    assert k1.value(2, 2) == "DOOR 2"
    assert k1.value(1) == "SIGNED BY J. DOE"


def test_990_group_with_accept_decline_and_counter_offer() -> None:
    doc = parse_x12(golden("990_accept_decline_counter.x12"))
    (group,) = doc.interchanges[0].groups
    assert group.functional_id == "GF"
    assert [t.control_number for t in group.transactions] == ["0001", "0002", "0003"]
    b1s = [t.segments[0] for t in group.transactions]
    assert all(b.tag == "B1" for b in b1s)
    # B104 reservation action code: A accepted, D declined, C counter proposal made
    assert [b.value(4) for b in b1s] == ["A", "D", "C"]
    assert [b.value(2) for b in b1s] == ["SHIP-204-0001", "SHIP-204-0002", "SHIP-204-0003"]
    counter = group.transactions[2]
    assert counter.segments[-1].values() == ["COUNTER OFFER", "LINEHAUL 1350.00 USD"]


def test_997_acknowledgement_reads_back() -> None:
    doc = parse_x12(golden("997_acknowledgement.x12"))
    (_, group, tx) = next(doc.transactions())
    assert group.functional_id == "FA" and tx.set_id == "997"
    assert [s.tag for s in tx.segments] == ["AK1", "AK2", "AK5", "AK9"]
    assert tx.segments[0].values() == ["SM", "101"]


def test_two_interchanges_with_their_own_delimiters() -> None:
    doc = parse_x12(golden("two_interchanges.x12"))
    first, second = doc.interchanges
    assert first.delimiters == Delimiters("*", ">", "~")
    assert second.delimiters == Delimiters("^", "\\", "'")
    assert (first.control_number, second.control_number) == ("000000301", "000000302")
    cities = [tx.segments[-1].value(1) for _, _, tx in doc.transactions()]
    assert cities == ["SPRINGFIELD", "ST. LOUIS"]
    assert second.number == 11  # segment numbers run over the whole file


def test_unpadded_isa_and_byte_order_mark() -> None:
    doc = parse_x12(golden("unpadded_isa_bom.x12"))
    (ic,) = doc.interchanges
    assert (ic.sender, ic.receiver, ic.usage) == ("ABCD", "SHIPPERID", "T")
    assert ic.authorization == "" and ic.control_number == "000000501"
    assert [w.code for w in doc.warnings] == ["isa_width"]


def test_two_sets_in_one_group_are_numbered_from_their_st() -> None:
    doc = parse_x12(golden("se01_mismatch.x12"), "warn")
    (group,) = doc.interchanges[0].groups
    first, second = group.transactions
    assert (first.number, second.number) == (3, 9)
    assert [s.position for s in second.segments] == [2, 3, 4, 5]
    assert [s.number for s in second.segments] == [10, 11, 12, 13]


# -- envelope checks --------------------------------------------------------------------------
def test_se01_mismatch_rejected_with_segment_and_element() -> None:
    with pytest.raises(EnvelopeError) as caught:
        parse_x12(golden("se01_mismatch.x12"), "reject", partner="acme", document="f.x12")
    err = caught.value
    assert err.code == "segment_count"
    assert (err.segment_number, err.segment_position, err.element) == (8, 6, "SE01")
    assert err.partner == "acme" and err.document == "f.x12"
    assert str(err).startswith("partner acme, document f.x12, segment 8 (SE, position 6")
    assert "SE01 says '9' segments" in str(err)


def test_se01_mismatch_warned_and_document_returned() -> None:
    doc = parse_x12(golden("se01_mismatch.x12"), "warn")
    (warning,) = doc.warnings
    assert (warning.code, warning.where.element, warning.where.segment_number) == (
        "segment_count",
        "SE01",
        8,
    )
    first, second = doc.interchanges[0].groups[0].transactions
    assert first.problems == [warning] and second.problems == []
    assert first.declared_count == 9


def _swap(name: str, old: bytes, new: bytes) -> bytes:
    data = golden(name)
    assert old in data
    return data.replace(old, new, 1)


@pytest.mark.parametrize(
    ("old", "new", "code", "number", "element"),
    [
        (b"SE*6*0001", b"SE*6*0009", "control_mismatch", 8, "SE02"),
        (b"SE*6*0001", b"SE*six*0001", "segment_count", 8, "SE01"),
        (b"GE*1*301", b"GE*2*301", "transaction_count", 9, "GE01"),
        (b"GE*1*301", b"GE*1*399", "control_mismatch", 9, "GE02"),
        (b"IEA*1*000000301", b"IEA*3*000000301", "group_count", 10, "IEA01"),
        (b"IEA*1*000000301", b"IEA*1*000000399", "control_mismatch", 10, "IEA02"),
        (b"*000000301*", b"*00000030X*", "control_number", 1, "ISA13"),
        (b"ST*214*0001", b"ST*21A*0001", "set_id", 3, "ST01"),
    ],
)
def test_each_envelope_check_names_its_element(
    old: bytes, new: bytes, code: str, number: int, element: str
) -> None:
    data = _swap("two_interchanges.x12", old, new)
    with pytest.raises(EnvelopeError) as caught:
        parse_x12(data)
    assert (caught.value.code, caught.value.segment_number, caught.value.element) == (
        code,
        number,
        element,
    )
    doc = parse_x12(data, "warn")
    # the first warning is the one reject mode raised (ISA13 also breaks IEA02 = ISA13)
    assert (doc.warnings[0].code, doc.warnings[0].where.element) == (code, element)
    assert len(doc.warnings) == (2 if element == "ISA13" else 1)
    assert len(doc.interchanges) == 2


def test_missing_trailers_in_warn_mode_close_what_is_open() -> None:
    data = golden("two_interchanges.x12").replace(b"SE*6*0001~\nGE*1*301~\n", b"")
    with pytest.raises(EnvelopeError) as caught:
        parse_x12(data)
    assert caught.value.code == "missing_trailer" and caught.value.segment_number == 8
    doc = parse_x12(data, "warn")
    assert [w.code for w in doc.warnings] == ["missing_trailer", "missing_trailer"]
    assert len(doc.interchanges) == 2
    assert len(doc.interchanges[0].groups[0].transactions[0].segments) == 4


def test_truncated_file_reports_missing_iea() -> None:
    data = golden("214_newline_terminated.x12")
    cut = data[: data.index(b"GE*")]
    with pytest.raises(EnvelopeError, match="no GE"):
        parse_x12(cut)
    doc = parse_x12(cut, "warn")
    assert [w.code for w in doc.warnings] == ["missing_trailer", "missing_trailer"]


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"", "empty document"),
        (b"GS*QM*A*B~", "expected an ISA"),
        (b"ISA*00*", "ISA has fewer than 16 elements"),
        (b"ISA*00*          *00*          *ZZ*A", "ISA has fewer than 16 elements"),
        (b"ISA1" + b"1" * 200, "cannot be the element separator"),
    ],
)
def test_unreadable_documents_are_syntax_errors_in_both_modes(data: bytes, fragment: str) -> None:
    for mode in ("reject", "warn"):
        with pytest.raises(EdiSyntaxError, match=fragment):
            parse_x12(data, mode)  # type: ignore[arg-type]


def test_bad_segment_tag_names_the_segment_number() -> None:
    data = _swap("214_newline_terminated.x12", b"LX*1\n", b"lx*1\n")
    with pytest.raises(EdiSyntaxError) as caught:
        parse_x12(data, "warn")
    assert caught.value.segment_number == 8


def test_latin1_bytes_are_read_with_a_warning() -> None:
    data = _swap("214_newline_terminated.x12", b"MS1*CHICAGO", b"MS1*CH\xc9CAGO")
    doc = parse_x12(data)
    assert [w.code for w in doc.warnings] == ["encoding"]
    cities = [s.value(1) for _, _, tx in doc.transactions() for s in tx.segments]
    assert "CHÉCAGO" in cities


def test_segment_number_helpers_report_their_position() -> None:
    doc = parse_x12(golden("204_load_tender.x12"))
    b2 = doc.interchanges[0].groups[0].transactions[0].segments[0]
    with pytest.raises(EdiError) as caught:
        b2.implied_decimal(4, 2)  # B204 is an identifier, not a number
    assert (caught.value.segment_number, caught.value.element) == (4, "B204")


# -- round trips ------------------------------------------------------------------------------
SAMPLE_SETS: dict[str, list[Segment]] = {
    "204": [
        Segment.of("B2", "", "ABCD", "", "SHIP-1", "", "PP"),
        Segment.of("B2A", "00"),
        Segment.of("S5", "1", "LD", "10000", "L"),
        Segment.of("N1", "SH", "ACME", "93", "ACME01"),
    ],
    "210": [
        Segment.of("B3", "", "INV-1", "SHIP-1", "PP", "L", "20240107", "134550"),
        Segment.of("L3", "10000", "G", "", "", "134550"),
    ],
    "214": [
        Segment.of("B10", "PRO-1", "SHIP-1", "ABCD"),
        Segment.of("AT7", "X1", "NS", "", "", "20240105", "1200", "CT"),
        Segment.of("MS1", "CHICAGO", "IL", "US"),
    ],
    "990": [Segment.of("B1", "ABCD", "SHIP-1", "20240104", "A")],
    "997": [
        Segment.of("AK1", "SM", "7"),
        Segment.of("AK2", "204", "0001"),
        Segment.of("AK5", "A"),
        Segment.of("AK9", "A", "1", "1", "1"),
    ],
}


@pytest.mark.parametrize("set_id", sorted(SUPPORTED_SETS))
def test_generate_then_parse_is_the_identity(set_id: str) -> None:
    control = MemoryControlNumbers()
    ic = build_interchange(
        [(set_id, SAMPLE_SETS[set_id]), (set_id, SAMPLE_SETS[set_id][:1])],
        sender=Party("02", "ABCD"),
        receiver=Party("ZZ", "SHIPPERID"),
        control=control,
        partner="acme",
        at=AT,
    )
    for newline in (False, True):
        doc = parse_x12(generate_x12(ic, newline=newline))
        assert doc.interchanges == [ic]
        assert doc.warnings == []
    (group,) = ic.groups
    assert group.functional_id == SUPPORTED_SETS[set_id]
    assert [t.control_number for t in group.transactions] == ["0001", "0002"]
    assert (ic.date, ic.time, group.date) == ("240105", "1430", "20240105")


@pytest.mark.parametrize("name", sorted(set(X12_GOLDEN) - BROKEN))
def test_parse_generate_parse_is_the_identity(name: str) -> None:
    first = parse_x12(golden(name))
    again = parse_x12(generate_x12(first))
    assert again == first
    assert generate_x12(again) == generate_x12(first)


def test_control_numbers_increase_across_interchanges() -> None:
    control = MemoryControlNumbers()
    numbers = [
        build_interchange(
            [("214", SAMPLE_SETS["214"]), ("990", SAMPLE_SETS["990"])],
            sender=Party("02", "ABCD"),
            receiver=Party("ZZ", "X"),
            control=control,
            partner="acme",
            at=AT,
        )
        for _ in range(3)
    ]
    assert [ic.control_number for ic in numbers] == ["000000001", "000000002", "000000003"]
    assert [g.control_number for ic in numbers for g in ic.groups] == [str(i) for i in range(1, 7)]


def test_values_holding_a_delimiter_cannot_be_generated() -> None:
    ic = build_interchange(
        [("214", [Segment.of("MS1", "CHICAGO~IL")])],
        sender=Party("02", "ABCD"),
        receiver=Party("ZZ", "X"),
        control=MemoryControlNumbers(),
        partner="acme",
        at=AT,
    )
    with pytest.raises(GenerationError) as caught:
        generate_x12(ic)
    assert caught.value.element == "MS101"
    with pytest.raises(GenerationError, match="delimiters must differ"):
        generate_x12(ic, delimiters=Delimiters("*", "*", "~"))


def test_isa_values_too_long_are_refused() -> None:
    ic = build_interchange(
        [],
        sender=Party("02", "A" * 16),
        receiver=Party("ZZ", "X"),
        control=MemoryControlNumbers(),
        partner="acme",
        at=AT,
    )
    with pytest.raises(GenerationError) as caught:
        generate_x12(ic)
    assert caught.value.element == "ISA06"


# -- 997 ------------------------------------------------------------------------------------
def test_997_accepts_a_clean_group() -> None:
    doc = parse_x12(golden("990_accept_decline_counter.x12"))
    body = acknowledgement_997(doc.interchanges[0].groups[0])
    assert [s.values() for s in body] == [
        ["GF", "990"],
        ["990", "0001"],
        ["A"],
        ["990", "0002"],
        ["A"],
        ["990", "0003"],
        ["A"],
        ["A", "3", "3", "3"],
    ]


def test_997_rejects_exactly_the_set_with_a_wrong_se01() -> None:
    doc = parse_x12(golden("se01_mismatch.x12"), "warn")
    (answer,) = acknowledge(doc, control=MemoryControlNumbers(), partner="acme", at=AT)
    assert (answer.sender, answer.receiver) == ("SHIPPERID", "CARRIERSCAC")
    (group,) = answer.groups
    assert group.functional_id == "FA"
    (tx,) = group.transactions
    assert [s.values() for s in tx.segments] == [
        ["QM", "401"],
        ["214", "0001"],
        ["R", "4"],  # AK502 4: number of included segments does not match actual count
        ["214", "0002"],
        ["A"],
        ["P", "2", "2", "1"],
    ]
    # and the 997 itself is a valid document
    again = parse_x12(generate_x12(answer))
    assert again.interchanges == [answer]


def test_997_rejects_sets_not_supported() -> None:
    doc = parse_x12(golden("214_newline_terminated.x12"))
    body = acknowledgement_997(doc.interchanges[0].groups[0], supported=("204",))
    assert [s.values() for s in body][1:] == [["214", "0001"], ["R", "1"], ["R", "1", "1", "0"]]


def test_garbage_collection_is_back_on_after_a_parse_and_after_an_error() -> None:
    assert gc.isenabled()
    parse_x12(golden("204_load_tender.x12"))
    assert gc.isenabled()
    with pytest.raises(EdiError):
        parse_x12(b"ISA*")
    assert gc.isenabled()
