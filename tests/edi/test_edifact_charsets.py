# ruff: noqa: RUF001  (Cyrillic, Greek and dashes are the point of these documents)
"""EDIFACT character sets: text is read as the set UNB01 names, whatever does not fit it is
reported with segment and element, and what is written reads back as the same text."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intermodal.edi.control import MemoryControlNumbers
from intermodal.edi.edifact import (
    CHARSETS,
    Party,
    acknowledge,
    build_interchange,
    fits,
    generate_edifact,
    parse_edifact,
)
from intermodal.edi.errors import EnvelopeError, GenerationError, Segment

AT = datetime(2024, 3, 4, 8, 30, tzinfo=UTC)
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def iftmin(
    syntax: str, consignee: str, city: str, remark: str, sender: str = "5412345000013"
) -> str:
    """An IFTMIN from a forwarder to a road carrier, with the consignee's name and town and
    a delivery remark in the language of the destination."""
    version = "4" if syntax in ("UNOW", "UNOY") else "3"
    date = "20240304:0830" if version == "4" else "240304:0830"
    return (
        f"UNB+{syntax}:{version}+{sender}:14+8712345000019:14+{date}+BK24030401'"
        "UNH+1+IFTMIN:D:01B:UN'"
        "BGM+610+BOOK-2024-0304+9'"
        "DTM+137:202403040830:203'"
        f"FTX+DEL+++{remark}'"
        "RFF+CU:PO-99812'"
        "NAD+CZ+5412345000013::9++SPEDITION NORD+HAFENSTRASSE 1+HAMBURG++20457+DE'"
        f"NAD+CN+++{consignee}+RUE DU PORT 4+{city}++13002+FR'"
        "UNT+8+1'"
        "UNZ+1+BK24030401'"
    )


def _body(data: bytes, index: int = 0) -> list[Segment]:
    doc = parse_edifact(data, "warn")
    return doc.interchanges[0].groups[0].messages[index].segments


def _nad_cn(segments: list[Segment]) -> Segment:
    return next(s for s in segments if s.tag == "NAD" and s.value(1) == "CN")


@pytest.mark.parametrize(
    ("syntax", "codec", "consignee", "city", "remark"),
    [
        (
            "UNOC",
            "latin-1",
            "Société Générale Transports",
            "Marseille",
            "Livraison à quai, prévenir M. Lefèvre",
        ),
        ("UNOD", "iso8859-2", "Zakład Łódź Sp. z o.o.", "Łódź", "Dostawa: rampa nr 3, żółta brama"),
        ("UNOE", "iso8859-5", "ООО Северный Путь", "Москва", "Разгрузка с 8 до 17 часов"),
        ("UNOF", "iso8859-7", "Αφοί Παπαδόπουλοι ΑΕ", "Πειραιάς", "Παράδοση στην πύλη Β"),
        ("UNOW", "utf-8", "北京东方物流有限公司", "Ζυρίχη – Zürich", "请在 9:00 前送达 ✓ 東京"),
        ("UNOY", "utf-8", "شركة النقل السريع", "Ελλάδα", "Ünloading at dock 7 — call ahead"),
    ],
)
def test_text_is_read_in_the_declared_set_and_written_back_in_it(
    syntax: str, codec: str, consignee: str, city: str, remark: str
) -> None:
    data = iftmin(syntax, consignee, city, remark.replace(":", "?:")).encode(codec)
    doc = parse_edifact(data)
    assert doc.warnings == []
    segments = doc.interchanges[0].groups[0].messages[0].segments
    assert (_nad_cn(segments).value(4), _nad_cn(segments).value(6)) == (consignee, city)
    assert next(s for s in segments if s.tag == "FTX").value(4) == remark
    assert generate_edifact(doc) == data  # byte for byte, in the partner's own set


def test_the_unb_header_is_decoded_too() -> None:
    """The sender's id in UNB is text of the set as much as any NAD: a UTF-8 one must not
    come out as 'MÃ¼ller' in receipts and CONTRLs."""
    data = iftmin("UNOW", "X", "Y", "Z", sender="MÜLLER-SPEDITION").encode("utf-8")
    (ic,) = parse_edifact(data).interchanges
    assert ic.sender == "MÜLLER-SPEDITION"
    assert generate_edifact(ic) == data


def test_unoa_lower_case_and_accents_are_named_with_segment_and_element() -> None:
    data = iftmin("UNOA", "Société Générale", "MARSEILLE", "LIVRAISON A QUAI").encode("utf-8")
    with pytest.raises(EnvelopeError) as caught:
        parse_edifact(data)
    assert (caught.value.code, caught.value.element, caught.value.segment_position) == (
        "encoding",
        "NAD04",
        7,
    )
    assert "NAD element 4: 'é' and lower-case letters are not in UNOA" in caught.value.message
    doc = parse_edifact(data, "warn")
    (warning,) = doc.warnings
    assert warning.where.segment_tag == "NAD" and warning.where.interchange == "BK24030401"
    # the text is what the sender meant, not the bytes read one by one
    assert _nad_cn(_body(data)).value(4) == "Société Générale"


@pytest.mark.parametrize("codec", ["utf-8", "latin-1"])
def test_an_accent_in_unoa_reads_as_the_character_sent(codec: str) -> None:
    data = iftmin("UNOA", "CAFÉ DU PORT", "MARSEILLE", "A QUAI").encode(codec)
    doc = parse_edifact(data, "warn")
    assert [w.message for w in doc.warnings] == [
        "NAD element 4: 'É' is not in UNOA (level A: upper-case letters, digits, space and"
        " . , - ( ) / = ' + : ? ! \" % & * ; < >)"
    ]
    assert _nad_cn(_body(data)).value(4) == "CAFÉ DU PORT"


def test_bytes_that_are_not_utf8_in_unow_become_replacement_characters() -> None:
    data = iftmin("UNOW", "Zürich AG", "ZÜRICH", "OK").encode("utf-8")
    broken = data.replace("Zürich AG".encode(), b"Z\xfcrich AG")  # Latin-1 'ü' in a UTF-8 file
    with pytest.raises(EnvelopeError, match=r"byte 0xFC is not UTF-8 \(UNOW\)") as caught:
        parse_edifact(broken)
    assert caught.value.element == "NAD04"
    assert _nad_cn(_body(broken)).value(4) == "Z\ufffdrich AG"


def test_windows_1252_declared_as_unoc_is_reported_not_passed_on() -> None:
    """Windows-1252 puts its curly quotes and the euro sign where ISO 8859-1 has control
    characters: read as declared, they would reach Odoo as invisible controls."""
    data = iftmin("UNOC", "Müller GmbH", "Köln", "Bitte “Tor 3” nutzen, 5 € Gebühr").encode(
        "cp1252"
    )
    doc = parse_edifact(data, "warn")
    (warning,) = doc.warnings
    assert warning.code == "encoding" and warning.where.element == "FTX04"
    assert "control character U+0093 is not text in UNOC" in warning.message
    assert "Windows-1252 would read it as '“'" in warning.message
    assert _nad_cn(_body(data)).value(4) == "Müller GmbH"


def test_a_byte_iso_8859_3_does_not_define() -> None:
    data = iftmin("UNOG", "Ħal Far", "Birżebbuġa", "OK").encode("iso8859-3")
    assert _nad_cn(_body(data)).value(4) == "Ħal Far"
    broken = data.replace(b"OK'", b"O\xa5K'")  # 0xA5 is unassigned in ISO 8859-3
    with pytest.raises(EnvelopeError, match=r"byte 0xA5 is not ISO 8859-3 \(UNOG\)"):
        parse_edifact(broken)


def test_unox_and_unknown_sets_are_named() -> None:
    for syntax, fragment in (("UNOX", "ISO 2022"), ("UNOZ", "unknown syntax identifier 'UNOZ'")):
        data = iftmin("UNOC", "A", "B", "C").replace("UNOC", syntax).encode("latin-1")
        with pytest.raises(EnvelopeError, match=fragment) as caught:
            parse_edifact(data)
        assert caught.value.element == "UNB01-1"


def test_generation_names_the_element_it_cannot_write() -> None:
    for syntax, value in (
        ("UNOC", "Łódź"),
        ("UNOE", "Zürich"),
        ("UNOW", "bell\x07"),
        ("UNOC", "\x85"),
    ):
        ic = build_interchange(
            [("IFTSTA", [Segment.of("NAD", "CN", "", "", value)])],
            sender=Party("A"),
            recipient=Party("B"),
            control=MemoryControlNumbers(),
            partner="acme",
            at=AT,
            syntax_id=syntax,
            syntax_version="4" if syntax == "UNOW" else "3",
        )
        with pytest.raises(GenerationError, match=syntax) as caught:
            generate_edifact(ic)
        assert caught.value.element == "NAD04"


def test_a_contrl_echoes_ids_the_declared_set_cannot_hold() -> None:
    """A partner declaring UNOA with a lower-case sender id (warn mode keeps it) still gets
    its CONTRL: in UNOC, with the id as sent."""
    data = iftmin("UNOA", "ACME", "MARSEILLE", "A QUAI", sender="spedition-nord").encode()
    doc = parse_edifact(data, "warn")
    assert doc.warnings[0].where.element == "UNB02-1"
    (answer,) = acknowledge(doc, control=MemoryControlNumbers(), partner="acme", at=AT)
    assert (answer.syntax_id, answer.recipient) == ("UNOC", "spedition-nord")
    assert parse_edifact(generate_edifact(answer)).interchanges == [answer]


# -- properties --------------------------------------------------------------------------------
def repertoire(syntax: str) -> str:
    """Every character the set holds as text (one byte each for the 8-bit sets)."""
    codec = CHARSETS[syntax]
    if codec == "utf-8":
        return ""  # drawn from all of Unicode below
    chars = []
    for byte in range(256):
        try:
            char = bytes([byte]).decode("latin-1" if codec == "ascii" else codec)
        except UnicodeDecodeError:
            continue
        if fits(char, syntax) and char not in "\r\n\t":
            chars.append(char)
    return "".join(chars)


def text_of(syntax: str) -> st.SearchStrategy[str]:
    if CHARSETS[syntax] == "utf-8":
        unicode = st.characters(blacklist_categories=("Cs", "Cc"))
        return st.text(unicode, max_size=16)
    return st.text(repertoire(syntax), max_size=16)


@FAST
@given(
    st.sampled_from(sorted(CHARSETS)).flatmap(
        lambda s: st.tuples(st.just(s), st.lists(text_of(s), min_size=1, max_size=6))
    )
)
def test_any_text_of_the_declared_set_round_trips(case: tuple[str, list[str]]) -> None:
    syntax, values = case
    ic = build_interchange(
        [
            (
                "IFTSTA",
                [
                    Segment.of("FTX", "AAI", "", "", values),
                    Segment.of("NAD", "CN", "", "", *values),
                ],
            )
        ],
        sender=Party("SENDER"),
        recipient=Party("RECIPIENT"),
        control=MemoryControlNumbers(),
        partner="acme",
        at=AT,
        syntax_id=syntax,
        syntax_version="4" if CHARSETS[syntax] == "utf-8" else "3",
    )
    data = generate_edifact(ic)
    doc = parse_edifact(data)
    assert doc.warnings == []
    assert doc.interchanges == [ic]
    assert generate_edifact(doc) == data


SEPARATOR_BYTES = b"'+:?"


@FAST
@given(
    st.sampled_from(["UNOA", "UNOB", "UNOC", "UNOD", "UNOW"]),
    st.binary(max_size=24).map(lambda b: bytes(c for c in b if c not in SEPARATOR_BYTES + b"\r\n")),
)
def test_any_bytes_are_read_exactly_or_reported(syntax: str, value: bytes) -> None:
    """Whatever bytes a partner puts in a value: the text is exactly what the declared set
    says they are, or the value is reported with its element; never silently something
    else."""
    head = f"UNB+{syntax}:4+A+B+20240304:0830+1'UNH+1+IFTSTA:D:01B:UN'FTX+AAI+++".encode()
    data = head + value + b"'UNT+3+1'UNZ+1+1'"
    doc = parse_edifact(data, "warn")
    text = doc.interchanges[0].groups[0].messages[0].segments[0].value(4)
    codec = CHARSETS[syntax]
    if codec == "ascii":  # a 7-bit set: a byte above 127 is read as UTF-8, else ISO 8859-1
        try:
            meant = value.decode("utf-8")
        except UnicodeDecodeError:
            meant = value.decode("latin-1")
        readable = True
    else:
        meant = value.decode(codec, "replace")
        try:
            readable = value.decode(codec) == meant
        except UnicodeDecodeError:
            readable = False
    assert text == meant
    if readable and fits(meant, syntax):
        assert doc.warnings == []
    else:
        (warning,) = doc.warnings
        assert (warning.code, warning.where.element) == ("encoding", "FTX04")
