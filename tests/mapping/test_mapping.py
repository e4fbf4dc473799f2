"""Mappings as pure functions: a partner's bytes in, canonical events or a located error out."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from intermodal.canonical.model import MilestoneType
from intermodal.cli import app
from intermodal.engine.normalize import NormalizeError
from intermodal.mapping import load_mapping
from intermodal.mapping.spec import MappingError, mapping_from_data

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "partners"
GOLDEN = Path(__file__).resolve().parents[1] / "edi" / "golden"


def swift() -> bytes:
    return (EXAMPLES / "swiftparcel" / "sample.json").read_bytes()


def test_json_carrier_maps_codes_through_the_status_table() -> None:
    mapping = load_mapping(EXAMPLES / "swiftparcel" / "mapping.yaml", "swiftparcel")
    events = mapping.parse(swift())
    assert [e.id for e in events] == ["swift-u-1", "swift-u-2"]  # LBL: known, no milestone
    assert [e.data.milestone for e in events] == [  # type: ignore[union-attr]
        MilestoneType.PICKED_UP,
        MilestoneType.IN_TRANSIT,
    ]
    assert {e.subject for e in events} == {"SHIP-1001"}


def test_unknown_status_code_names_the_json_path() -> None:
    mapping = load_mapping(EXAMPLES / "swiftparcel" / "mapping.yaml", "swiftparcel")
    doc = orjson.loads(swift())
    doc["updates"][1]["code"] = "ZZ"
    with pytest.raises(NormalizeError) as caught:
        mapping.parse(orjson.dumps(doc))
    assert caught.value.path == "$.updates[1].code"
    assert "is not in the status table" in caught.value.reason
    assert "ZZ" not in caught.value.reason  # the path says where: receipts carry no values


def test_no_message_kind_matches_and_bad_json_are_located() -> None:
    mapping = load_mapping(EXAMPLES / "swiftparcel" / "mapping.yaml", "swiftparcel")
    with pytest.raises(NormalizeError, match="no message kind"):
        mapping.parse(b'{"kind": "invoice"}')
    with pytest.raises(NormalizeError) as caught:
        mapping.parse(b"{not json")
    assert caught.value.path == "$"


def test_x12_214_statuses_become_milestones_in_utc() -> None:
    mapping = load_mapping(EXAMPLES / "ridgeline" / "mapping.yaml", "ridgeline")
    events = mapping.parse((EXAMPLES / "ridgeline" / "sample_214.x12").read_bytes())
    assert [e.data.milestone for e in events] == [MilestoneType.PICKED_UP] * 2  # type: ignore[union-attr]
    # 07:45 CT on 5 January (CST, UTC-6) is 13:45 UTC
    assert events[0].data.occurred_at.isoformat() == "2024-01-05T13:45:00+00:00"  # type: ignore[union-attr]
    assert events[0].data.reason == "normal status"  # type: ignore[union-attr]


def test_x12_unknown_status_names_segment_and_element() -> None:
    mapping = load_mapping(EXAMPLES / "ridgeline" / "mapping.yaml", "ridgeline")
    raw = (EXAMPLES / "ridgeline" / "sample_214.x12").read_bytes().replace(b"AT7*AF", b"AT7*QQ")
    with pytest.raises(NormalizeError) as caught:
        mapping.parse(raw)
    assert "segment 13 (AT7" in caught.value.path
    assert caught.value.path.endswith("element AT701")
    assert "not in the status table" in caught.value.reason and "QQ" not in caught.value.reason


def test_x12_envelope_error_is_a_normalize_error_with_its_element() -> None:
    mapping = load_mapping(EXAMPLES / "ridgeline" / "mapping.yaml", "ridgeline")
    with pytest.raises(NormalizeError) as caught:
        mapping.parse((GOLDEN / "se01_mismatch.x12").read_bytes())
    assert "SE01" in caught.value.path


def test_edifact_iftsta_reader() -> None:
    mapping = mapping_from_data(
        {
            "reader": "edifact_iftsta",
            "messages": [
                {
                    "name": "iftsta",
                    "each": "statuses",
                    "event": {
                        "id": "'eu-' & interchange & '-' & message",
                        "subject": "consignment",
                        "time": "occurred_at",
                        "status": "code",
                    },
                }
            ],
            "statuses": {21: "delivered"},
        },
        "eucarrier",
    )
    (event,) = mapping.parse((GOLDEN / "iftsta_d01b_escapes.edi").read_bytes())
    assert event.subject == "SHIP-204-0001"
    assert event.data.milestone is MilestoneType.DELIVERED  # type: ignore[union-attr]


def test_mapping_file_mistakes_are_listed() -> None:
    with pytest.raises(MappingError) as caught:
        mapping_from_data(
            {
                "reader": "nope",
                "messages": [{"name": "m", "event": {"id": "a +", "subject": "s", "time": "t"}}],
            },
            "p",
        )
    text = str(caught.value)
    assert "give exactly one of 'status'" in text


def test_mapping_try_prints_events_or_the_error(tmp_path: Path) -> None:
    runner = CliRunner()
    config = str(EXAMPLES / "hub.yaml")
    sample = str(EXAMPLES / "swiftparcel" / "sample.json")
    ok = runner.invoke(app, ["mapping", "try", "swiftparcel", sample, "--config", config])
    assert ok.exit_code == 0, ok.output
    assert ok.stdout.count("intermodal.shipment.milestone") == 2
    broken = tmp_path / "broken.json"
    broken.write_bytes(swift().replace(b'"IT"', b'"ZZ"'))
    bad = runner.invoke(app, ["mapping", "try", "swiftparcel", str(broken), "--config", config])
    assert bad.exit_code == 1
    assert "$.updates[1].code" in bad.stderr and "Traceback" not in bad.output
    # the readable update is printed; the hub would apply it and quarantine the other
    assert bad.stdout.count("intermodal.shipment.milestone") == 1
    said = " ".join(bad.stderr.split())  # the console wraps long lines
    assert "skipped: $.updates[1].code" in said and "1 item(s) cannot be read" in said
    missing = runner.invoke(app, ["mapping", "try", "nobody", sample, "--config", config])
    assert missing.exit_code == 1 and "Traceback" not in missing.output


def test_a_source_that_is_not_a_uri_reference_is_refused_at_load() -> None:
    """CloudEvents 1.0 `source` is a non-empty URI-reference: a mapping whose every event
    would be refused at normalize is refused when it loads, naming the field."""
    raw = {
        "source": "my carrier",
        "messages": [
            {"name": "m", "event": {"id": "id", "subject": "s", "time": "t", "milestone": "m"}}
        ],
    }
    with pytest.raises(MappingError, match="source: 'my carrier' is not a URI-reference"):
        mapping_from_data(raw, "acme")
    raw["source"] = "https://carrier.example/tracking"
    assert mapping_from_data(raw, "acme").source == "https://carrier.example/tracking"
