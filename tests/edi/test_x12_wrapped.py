"""X12 envelopes as partners wrap and pad them: line breaks and whitespace of any kind in
the fixed-width ISA, wrapped segments, and acknowledgements that never fail on what was
received (a 997 that cannot be written would turn a stored interchange into a 4xx)."""

from __future__ import annotations

import shutil
import string
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from intermodal.config import Settings
from intermodal.edi.control import MemoryControlNumbers
from intermodal.edi.errors import EdiError, EdiSyntaxError
from intermodal.edi.x12 import (
    Delimiters,
    Interchange,
    acknowledge,
    generate_x12,
    parse_x12,
    writable,
)
from intermodal_sim.testing import running_hub, wait_until
from tests.conftest import ADMIN, ADMIN_TOKEN_REF, AckReceiver
from tests.edi._golden import golden

AT = datetime(2024, 3, 13, 9, 30, tzinfo=UTC)
FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "partners"


def _ack(data: bytes) -> bytes:
    """The 997s answering `data`, as bytes, with fresh control numbers and a fixed time."""
    doc = parse_x12(data, "warn")
    return generate_x12(acknowledge(doc, control=MemoryControlNumbers(), partner="p", at=AT))


def _envelope(ic: Interchange) -> tuple[str, ...]:
    return (
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
        ic.control_number,
        ic.ack_requested,
        ic.usage,
    )


# -- realistic documents ---------------------------------------------------------------------
def test_a_file_of_80_column_records_reads_like_the_unwrapped_one() -> None:
    data = golden("214_wrapped_80_columns.x12")
    assert b"*081\r\n5*" in data  # the break falls inside ISA10, the time
    doc = parse_x12(data)
    (ic,) = doc.interchanges
    assert (ic.sender, ic.receiver, ic.date, ic.time) == ("RDGL", "SHIPPERID", "240313", "0815")
    assert ic.delimiters == Delimiters("*", ">", "~")
    (_, _, tx) = next(doc.transactions())
    at7 = next(s for s in tx.segments if s.tag == "AT7")
    assert at7.values() == ["D1", "NS", "", "", "20240312", "1502", "CT"]  # "2024\r\n0312"
    assert tx.control_number == "0001"  # "ST*214\r\n*0001"
    assert [(w.code, w.where.segment_number) for w in doc.warnings] == [
        ("isa_width", 1),
        ("line_breaks", 3),
    ]
    unwrapped = data.replace(b"\r\n", b"")
    assert parse_x12(unwrapped).interchanges == doc.interchanges
    assert _ack(data) == _ack(unwrapped)


def test_an_isa_broken_after_the_receiver_keeps_no_whitespace_in_the_id() -> None:
    data = golden("214_isa_broken_after_receiver.x12")
    doc = parse_x12(data)
    (ic,) = doc.interchanges
    assert ic.receiver == "SHIPPERID" and ic.control_number == "000000733"
    assert [w.code for w in doc.warnings] == ["isa_width"]
    (answer,) = acknowledge(doc, control=MemoryControlNumbers(), partner="p", at=AT)
    assert (answer.sender, answer.receiver) == ("SHIPPERID", "RDGL")
    assert parse_x12(generate_x12(answer)).interchanges == [answer]


@pytest.mark.parametrize(
    ("old", "new", "code"),
    [
        (b"SHIPPERID      *", b"SHIPPERID\t\t\t\t\t\t*", "isa_padding"),  # tabs for spaces
        (b"SHIPPERID      *", "SHIPPERID\u00a0\u2003    *".encode(), "isa_padding"),
        (b"SHIPPERID      *", b"SHIPPERID     \n*", "isa_padding"),  # a break for a space
        (b"SHIPPERID      *", b"SHIP\r\nPERID      *", "isa_width"),  # a break inserted
        (b"ISA*", b"ISA\r\n*", "isa_width"),  # right after the tag
        (b"*P*>~", b"*P*>\r\n~", "isa_width"),  # between ISA16 and the terminator
        (b"SHIPPERID      *", b"SHIPPERID*", "isa_width"),  # no padding at all
        (b"SHIPPERID      *", b"SHIP\nPERID*", "isa_width"),  # no padding, and wrapped
    ],
)
def test_whitespace_in_the_isa_reads_and_acknowledges_the_same(
    old: bytes, new: bytes, code: str
) -> None:
    clean = golden("214_multi_loop.x12")
    data = clean.replace(old, new, 1)
    assert data != clean
    doc = parse_x12(data)
    assert [w.code for w in doc.warnings] == [code]
    assert doc.interchanges == parse_x12(clean).interchanges
    assert _ack(data) == _ack(clean)


def test_a_newline_terminated_file_keeps_its_newline_terminator() -> None:
    doc = parse_x12(golden("214_newline_terminated.x12"))
    assert doc.interchanges[0].delimiters.segment == "\n"
    assert doc.warnings == []


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"ISA\n\n", "ISA segment cut short"),
        (b"ISA\n*", "fewer than 16 elements"),
        (b"ISA*00*\n*00**ZZ*A*ZZ*B*240101*1200*U*00401*000000001*0*P*", "before ISA16"),
        (b"ISA\r\n1" + b"1" * 200, "cannot be the element separator"),
    ],
)
def test_a_wrapped_isa_cut_short_is_a_syntax_error(data: bytes, fragment: str) -> None:
    for mode in ("reject", "warn"):
        with pytest.raises(EdiSyntaxError, match=fragment):
            parse_x12(data, mode)  # type: ignore[arg-type]


# -- acknowledgements never fail on received values -------------------------------------------
def test_writable_fits_received_values_to_the_element() -> None:
    d = Delimiters("*", ">", "~")
    assert writable("SHIPPERID", 15, d) == "SHIPPERID"
    assert writable(" SHIPPER\nID\t", 15, d) == "SHIPPERID"
    assert writable("A*B>C~D", 15, d) == "A B C D"
    assert writable("A-VERY-LONG-RECEIVER-ID", 15, d) == "A-VERY-LONG-REC"
    assert writable("ABCDEFGHIJKLMN OPQ", 15, d) == "ABCDEFGHIJKLMN"  # no trailing space
    assert writable("MÜLLER\u2028", 15, d) == "MÜLLER"


def test_an_interchange_with_odd_envelope_values_is_still_acknowledged() -> None:
    # warn mode keeps what reject mode refuses: long ids, a component separator in GS02,
    # an unknown usage code, a control number that is not a number
    data = (
        b"ISA*00**00**ZZ*A-SENDER-ID-LONGER-THAN-15*ZZ*RECV>1*240313*0930*U*00401*00000073X"
        b"*0*Q*>~GS*QM*SEND>ER*RECV*20240313*0930*7>3*X*004010~ST*214*00>1~B10*P*S*RDGL~"
        b"SE*3*00>1~GE*1*7>3~IEA*1*00000073X~"
    )
    doc = parse_x12(data, "warn")
    (ic,) = doc.interchanges
    assert ic.sender == "A-SENDER-ID-LONGER-THAN-15"
    (answer,) = acknowledge(doc, control=MemoryControlNumbers(), partner="p", at=AT)
    assert (answer.receiver, answer.sender, answer.usage) == ("A-SENDER-ID-LON", "RECV 1", "P")
    again = parse_x12(generate_x12(answer))
    assert again.interchanges == [answer] and again.warnings == []
    (tx,) = again.interchanges[0].groups[0].transactions
    assert [s.values() for s in tx.segments][:2] == [["QM", "7 3"], ["214", "00 1"]]


# -- properties ------------------------------------------------------------------------------
# Whitespace a partner's system may put where the standard wants spaces: every kind.
EDGE_SPACE = st.text(
    st.sampled_from([" ", "\t", "\v", "\f", "\r", "\n", "\u00a0", "\u2003", "\u3000", "\x85"]),
    max_size=4,
)
BREAKS = st.sampled_from(["\n", "\r\n", "\r"])
IDS = st.text(string.ascii_uppercase + string.digits + "-", min_size=1, max_size=15)


@st.composite
def whitespace_isa(draw: st.DrawFn) -> tuple[str, str]:
    """A clean interchange and the same one with whitespace around every ISA field (and
    line breaks anywhere after the tag): both as text."""
    sender, receiver = draw(IDS), draw(IDS)
    fields = [
        "00", "", "00", "", "ZZ", sender, "02", receiver,
        "240313", "0930", "U", "00401", "000000731", "0", draw(st.sampled_from("PT")),
    ]  # fmt: skip
    widths = (2, 10, 2, 10, 2, 15, 2, 15, 6, 4, 1, 5, 9, 1, 1)
    clean = "ISA*" + "*".join(v.ljust(w) for v, w in zip(fields, widths, strict=True)) + "*>"
    wrapped_fields = []
    for value, width in zip(fields, widths, strict=True):
        if draw(st.booleans()):  # keep the standard's padding, or replace it
            wrapped_fields.append(value.ljust(width))
        else:
            wrapped_fields.append(draw(EDGE_SPACE) + value + draw(EDGE_SPACE))
    wrapped = "ISA*" + "*".join(wrapped_fields) + "*>"
    for _ in range(draw(st.integers(0, 4))):  # wrap the lines anywhere after the tag
        at = draw(st.integers(3, len(wrapped)))
        wrapped = wrapped[:at] + draw(BREAKS) + wrapped[at:]
    body = (
        "~GS*QM*SENDER*RECEIVER*20240313*0930*731*X*004010~ST*214*0001~"
        "B10*PRO-1*SHIP-1*RDGL~LX*1~AT7*X3*NS***20240313*0915*CT~SE*5*0001~GE*1*731~"
        "IEA*1*000000731~\n"
    )
    return clean + body, wrapped + body


@FAST
@given(whitespace_isa())
def test_any_whitespace_in_isa_fields_parses_and_acknowledges_the_same(
    case: tuple[str, str],
) -> None:
    clean, wrapped = case
    expected = parse_x12(clean.encode())
    got = parse_x12(wrapped.encode())  # reject mode: nothing to reject
    (want,), (have,) = expected.interchanges, got.interchanges
    assert _envelope(have) == _envelope(want)
    assert got.interchanges == expected.interchanges
    assert _ack(wrapped.encode()) == _ack(clean.encode())


# Anything a partner may put in an envelope value: delimiters, whitespace, control characters,
# letters of any script, and lengths past what the element holds.
ANY_VALUE = st.text(
    st.sampled_from(
        [
            *(string.ascii_letters + string.digits + "*>~^:|-. \t\r\n\v\x00\x1c"),
            *("\u00a0", "é", "Ł", "東", "\u2028"),
            "\udce9",  # becomes byte 0xE9, which is not UTF-8
        ]
    ),
    max_size=20,
)


@st.composite
def received_interchange(draw: st.DrawFn) -> bytes:
    """An interchange with any envelope values, its ISA fields padded to their widths or not."""
    el, comp, term = draw(st.sampled_from([("*", ">", "~"), ("|", "^", "\n"), ("*", ":", "'")]))
    fixed = draw(st.booleans())
    widths = (2, 10, 2, 10, 2, 15, 2, 15, 6, 4, 1, 5, 9, 1, 1)
    isa = [draw(ANY_VALUE) for _ in widths]
    if fixed:
        isa = [v[:w].ljust(w) for v, w in zip(isa, widths, strict=True)]
    gs = [draw(ANY_VALUE) for _ in range(8)]
    st01, st02 = draw(ANY_VALUE), draw(ANY_VALUE)
    text = (
        "ISA" + el + el.join(isa) + el + comp + term
        + "GS" + el + el.join(gs) + term
        + "ST" + el + st01 + el + st02 + term
        + "B10" + el + draw(ANY_VALUE) + term
        + "SE" + el + "3" + el + st02 + term
        + "GE" + el + "1" + el + gs[5] + term
        + "IEA" + el + "1" + el + isa[12] + term
    )  # fmt: skip
    return text.encode("utf-8", "surrogateescape")


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(received_interchange())
def test_whatever_the_parser_accepts_can_be_acknowledged(data: bytes) -> None:
    try:
        doc = parse_x12(data, "warn")
    except EdiError:
        assume(False)
        return
    answers = acknowledge(doc, control=MemoryControlNumbers(), partner="p", at=AT)
    out = generate_x12(answers)  # never raises: the property under test
    again = parse_x12(out)  # and the answer is clean X12
    assert again.interchanges == answers
    assert again.warnings == []
    for received, answer in zip((ic for ic in doc.interchanges if ic.groups), answers, strict=True):
        assert answer.receiver == writable(received.sender, 15, received.delimiters)
        assert len(answer.groups[0].transactions) == len(received.groups)


# -- through the hub: a wrapped ISA is stored, applied, acknowledged and answered 202 ----------


def test_a_wrapped_isa_over_http_is_accepted_and_acknowledged(
    sqlite_url: str,
    tmp_path: Path,
    make_settings: Callable[..., Settings],
    acks: tuple[AckReceiver, str],
) -> None:
    receiver, ack_url = acks
    shutil.copy(EXAMPLES / "ridgeline" / "mapping.yaml", tmp_path / "ridgeline.yaml")
    settings_ = make_settings(
        {
            "hub": {"database": sqlite_url, "admin_token": ADMIN_TOKEN_REF},
            "partners": {
                "ridgeline": {
                    "tokens": [{"token": "env:RIDGELINE_TOKEN", "scopes": ["events:write"]}],
                    "mapping": "ridgeline.yaml",
                    "edi": {"format": "x12", "ack": True, "ack_endpoint": "ridgeline-edi"},
                }
            },
            "endpoints": {
                "ridgeline-edi": {"kind": "edi", "url": f"{ack_url}/inbound", "milestones": []}
            },
        },
        env={"RIDGELINE_TOKEN": "t0ken-for-the-wrapped-x12-test-0123"},
    )
    headers = {
        "authorization": "Bearer t0ken-for-the-wrapped-x12-test-0123",
        "content-type": "application/edi-x12",
    }
    body = golden("214_isa_broken_after_receiver.x12")
    with running_hub(settings_) as url:
        first = httpx.post(f"{url}/v1/edi/ridgeline", content=body, headers=headers)
        assert first.status_code == 202, first.text
        assert [w["code"] for w in first.json()["warnings"]] == ["isa_width"]
        assert first.json()["acknowledgements"] == 1
        again = httpx.post(f"{url}/v1/edi/ridgeline", content=body, headers=headers)
        assert again.status_code == 200, again.text

        def arrived() -> bool:
            return httpx.get(f"{url}/v1/shipments/SHIP-2024-0313", headers=ADMIN).status_code == 200

        wait_until(arrived, timeout=10)
        wait_until(lambda: len(receiver.bodies) >= 1, timeout=10)
    (ack,) = parse_x12(receiver.bodies[0]).interchanges
    assert (ack.sender, ack.receiver) == ("SHIPPERID", "RDGL")
