"""Carrier JSON in the wild: scans with offsets and without, one that cannot be read. The
readable scans are applied, the others quarantined with path and reason on the receipt,
and applied by a replay once the mapping is fixed. EDI sets dropped for envelope faults
say so in the reason."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from typer.testing import CliRunner

from intermodal.cli import app
from intermodal.config import Settings
from intermodal.engine.normalize import NormalizeError
from intermodal.mapping.quarantine import get_quarantined, list_quarantined
from intermodal.mapping.spec import load_mapping, mapping_from_data
from intermodal.security.secrets import Secret, webhook_key
from intermodal.store import open_store
from intermodal_sim.testing import running_hub, wait_until
from tests.conftest import ADMIN, ADMIN_TOKEN_REF, new_secret
from tests.mapping.test_quarantine_replay import _post

GOLDEN = Path(__file__).resolve().parents[1] / "edi" / "golden"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "partners"

# A FedEx-style track reply, written for this test. Scan times come with an offset, or
# without one and with the scan location's zone, or (Memphis) with neither.
SCANS = "$.output.completeTrackResults.trackResults.scanEvents"
TRACK_REPLY: dict[str, Any] = {
    "transactionId": "9d1f0c4e-4a55-4f0e-9d6b-1f2a3b4c5d6e",
    "output": {
        "completeTrackResults": [
            {
                "trackingNumber": "794843185271",
                "trackResults": [
                    {
                        "additionalTrackingInfo": {
                            "packageIdentifiers": [
                                {"type": "CUSTOMER_REFERENCE", "values": ["SO-7731"]}
                            ]
                        },
                        "scanEvents": [
                            {
                                "date": "2024-03-09T18:41:00-06:00",
                                "eventType": "DL",
                                "eventDescription": "Delivered",
                                "scanLocation": {"city": "AUSTIN", "countryCode": "US"},
                            },
                            {
                                "date": "2024-03-09T08:02:00",
                                "eventType": "OD",
                                "eventDescription": "On FedEx vehicle for delivery",
                                "scanLocation": {
                                    "city": "AUSTIN",
                                    "countryCode": "US",
                                    "timeZone": "America/Chicago",
                                },
                            },
                            {
                                "date": "2024-03-08T23:15:00",
                                "eventType": "IT",
                                "eventDescription": "In transit",
                                "scanLocation": {"city": "MEMPHIS", "countryCode": "US"},
                            },
                            {
                                "date": "2024-03-08T16:30:00Z",
                                "eventType": "SE",
                                "eventDescription": "Shipment exception: weather delay",
                                "scanLocation": {"city": "MEMPHIS", "countryCode": "US"},
                            },
                            {
                                "date": "2024-03-08T10:05:00-08:00",
                                "eventType": "PU",
                                "eventDescription": "Picked up",
                                "scanLocation": {"city": "RENO", "countryCode": "US"},
                            },
                        ],
                    }
                ],
            }
        ]
    },
}
MAPPING = """\
reader: json
source: fedexish
messages:
  - name: track
    each: "output.completeTrackResults.trackResults.scanEvents"
    event:
      id: "'fx-' & $doc.output.completeTrackResults[0].trackingNumber & '-' & eventType"
      subject: >-
        $doc.output.completeTrackResults[0].trackResults[0].additionalTrackingInfo
        .packageIdentifiers[type = 'CUSTOMER_REFERENCE'].values[0]
      time: "date"
      zone: "scanLocation.timeZone"
      status: "eventType"
      location: "{'city': scanLocation.city, 'country': scanLocation.countryCode}"
statuses:
  PU: picked_up
  IT: in_transit
  OD: out_for_delivery
  DL: delivered
"""
FIX = "  SE: {milestone: exception, reason: weather delay}\ntimezone: America/Chicago\n"


def test_readable_scans_map_and_the_others_are_listed_with_path_and_reason() -> None:
    mapping = mapping_from_data(_yaml(MAPPING), "fedexish")
    normalized = mapping.normalize(orjson.dumps(TRACK_REPLY))
    assert [event.id for event, _ in normalized] == [
        "fx-794843185271-DL",
        "fx-794843185271-OD",
        "fx-794843185271-PU",
    ]
    assert [event.time.astimezone(UTC) for event, _ in normalized] == [
        datetime(2024, 3, 10, 0, 41, tzinfo=UTC),
        datetime(2024, 3, 9, 14, 2, tzinfo=UTC),  # 08:02 CST, the scan location's zone
        datetime(2024, 3, 8, 18, 5, tzinfo=UTC),
    ]
    memphis, exception = normalized.skipped
    assert memphis.path == f"{SCANS}[2].date" and "has no UTC offset" in memphis.reason
    assert exception.path == f"{SCANS}[3].eventType" and "is not in the status table" in (
        exception.reason
    )
    with pytest.raises(NormalizeError) as caught:  # parse: all or nothing
        mapping.parse(orjson.dumps(TRACK_REPLY))
    assert caught.value.path == memphis.path and caught.value.skipped == normalized.skipped


def test_a_message_with_nothing_readable_is_rejected_with_every_path() -> None:
    reply = orjson.loads(orjson.dumps(TRACK_REPLY))
    scans = reply["output"]["completeTrackResults"][0]["trackResults"][0]["scanEvents"]
    for scan in scans:
        scan["eventType"] = "ZZ"
    with pytest.raises(NormalizeError) as caught:
        mapping_from_data(_yaml(MAPPING), "fedexish").normalize(orjson.dumps(reply))
    assert caught.value.path == f"{SCANS}[0].eventType"
    assert "and 4 more items that cannot be read" in caught.value.reason
    assert all(f"{SCANS}[{i}]" in caught.value.reason for i in range(1, 5))


def test_a_failing_each_is_the_whole_messages_problem() -> None:
    raw = _yaml(MAPPING)
    raw["messages"][0]["each"] = "$error('carrier API error')"
    with pytest.raises(NormalizeError) as caught:
        mapping_from_data(raw, "fedexish").normalize(orjson.dumps(TRACK_REPLY))
    assert caught.value.reason.startswith("track.each:")
    assert "carrier API error" in caught.value.reason


def test_mixed_zone_reply_through_the_hub_receipt_then_fix_and_replay(
    db_url: str, tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    mapping = tmp_path / "fedexish.yaml"
    mapping.write_text(MAPPING)
    secret = new_secret()
    settings = make_settings(
        {
            "hub": {"database": db_url, "admin_token": ADMIN_TOKEN_REF},
            "partners": {
                "fedexish": {"webhook_secrets": ["env:FX_SECRET"], "mapping": "fedexish.yaml"}
            },
        },
        env={"FX_SECRET": secret},
    )
    key = webhook_key(Secret(secret))
    store = open_store(db_url)
    with running_hub(settings) as url:
        answer = _post(url, key, "track-1", orjson.dumps(TRACK_REPLY), "fedexish")
        assert answer.status_code == 202, answer.text
        receipt_url = f"{url}/v1/receipts/{answer.json()['receipt_id']}"

        def processed() -> bool:
            return bool(httpx.get(receipt_url, headers=ADMIN).json()["processed_at"])

        wait_until(processed, timeout=10)
        receipt = httpx.get(receipt_url, headers=ADMIN).json()
        assert receipt["status"] == "applied"
        assert [e["id"] for e in receipt["events"]] == [
            "fx-794843185271-DL",
            "fx-794843185271-OD",
            "fx-794843185271-PU",
        ]
        assert [s["path"] for s in receipt["skipped"]] == [
            f"{SCANS}[2].date",
            f"{SCANS}[3].eventType",
        ]
        assert "no UTC offset" in receipt["skipped"][0]["reason"]
        assert receipt["error"].startswith("applied without 2 items that cannot be read")
        shipment = httpx.get(f"{url}/v1/shipments/SO-7731", headers=ADMIN).json()
        assert shipment["state"] == "delivered"
        shown = get_quarantined(store, receipt["receipt_id"])
        assert shown is not None and shown["skipped"] == receipt["skipped"]

        mapping.write_text(mapping.read_text() + FIX)  # the running hub re-reads it
        replayed = CliRunner().invoke(
            app,
            ["quarantine", "replay", "--id", receipt["receipt_id"], "--db", db_url,
             "--config", str(settings.source)],
        )  # fmt: skip
        assert replayed.exit_code == 0, replayed.output

        def skipped_applied() -> bool:
            return len(httpx.get(receipt_url, headers=ADMIN).json()["events"]) == 8

        wait_until(skipped_applied, timeout=10)
        receipt = httpx.get(receipt_url, headers=ADMIN).json()
        assert (receipt["status"], receipt["error"], receipt["skipped"]) == ("applied", None, [])
        replayed_events = receipt["events"][3:]
        assert sorted(e["id"][-2:] for e in replayed_events) == ["DL", "IT", "OD", "PU", "SE"]
        for event in replayed_events:  # applied before: duplicates by id; the others new
            duplicate = event["id"][-2:] in ("DL", "OD", "PU")
            assert (event["outcome"] == "duplicate") == duplicate, event
        # newest first in the reply: the older scans are kept as late, the state is delivered
        shipment = httpx.get(f"{url}/v1/shipments/SO-7731", headers=ADMIN).json()
        assert shipment["state"] == "delivered"
        timeline = httpx.get(f"{url}/v1/shipments/SO-7731/timeline", headers=ADMIN).json()
        memphis = next(e for e in timeline if e["id"] == "fx-794843185271-IT")
        # 23:15 in Memphis (CST, the mapping's timezone now) is 05:15 UTC the next day
        assert datetime.fromisoformat(memphis["occurred_at"]) == datetime(
            2024, 3, 9, 5, 15, tzinfo=UTC
        )
        assert list_quarantined(store)[1] == 0
    store.dispose()


# -- EDI sets dropped for envelope faults --------------------------------------------------


def _edi_mapping(reader: str) -> dict[str, Any]:
    return {
        "reader": reader,
        "messages": [
            {
                "name": "statuses",
                "when": "$count(statuses) > 0",
                "each": "statuses",
                "event": {"id": "code", "subject": "'S'", "time": "occurred_at", "status": "code"},
            }
        ],
        "statuses": {"X6": "in_transit", "21": "delivered"},
    }


def test_an_x12_set_dropped_in_warn_mode_says_so_instead_of_no_match() -> None:
    raw = (GOLDEN / "se01_mismatch.x12").read_bytes().replace(b"SE*6*0002", b"SE*41*0002")
    mapping = mapping_from_data(_edi_mapping("x12"), "ridgeline", "warn")
    with pytest.raises(NormalizeError) as caught:
        mapping.normalize(raw)
    reason = caught.value.reason
    assert reason.startswith("set dropped: SE01 says")
    assert "set 0001 has 6" in reason and "'41'" in reason and "set 0002 has 6" in reason
    assert "no message kind" not in reason
    assert "element SE01" in caught.value.path
    # the ridgeline example maps statuses without a `when`: nothing left is no "applied"
    ridgeline = load_mapping(EXAMPLES / "ridgeline" / "mapping.yaml", "ridgeline", "warn")
    with pytest.raises(NormalizeError) as caught:
        ridgeline.normalize(raw)
    assert caught.value.reason.startswith("set dropped: SE01 says")
    # one good set left: it is mapped, the dropped one answered by the 997
    assert [e.subject for e in ridgeline.parse((GOLDEN / "se01_mismatch.x12").read_bytes())] == [
        "SHIP-204-0002"
    ]


def test_an_edifact_message_dropped_in_warn_mode_says_so() -> None:
    raw = (GOLDEN / "iftsta_wrong_unt.edi").read_bytes()
    mapping = mapping_from_data(_edi_mapping("edifact"), "eucarrier", "warn")
    with pytest.raises(NormalizeError) as caught:
        mapping.normalize(raw)
    assert caught.value.reason.startswith("message dropped: UNT01 says")
    assert "element UNT01" in caught.value.path


def test_a_dropped_set_is_the_quarantine_reason_through_the_hub(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    (tmp_path / "ridgeline.yaml").write_text((EXAMPLES / "ridgeline" / "mapping.yaml").read_text())
    db_url = f"sqlite:///{tmp_path / 'hub.db'}"
    settings = make_settings(
        {
            "hub": {"database": db_url},
            "partners": {
                "ridgeline": {
                    "tokens": [{"token": "env:RIDGELINE_TOKEN", "scopes": ["events:write"]}],
                    "mapping": "ridgeline.yaml",
                    "edi": {"format": "x12", "mode": "warn"},
                }
            },
        },
        env={"RIDGELINE_TOKEN": "ridgeline-test-token-0123456789abcdef"},
    )
    raw = (GOLDEN / "se01_mismatch.x12").read_bytes().replace(b"SE*6*0002", b"SE*41*0002")
    store = open_store(db_url)
    with running_hub(settings, dispatch=False) as url:
        answer = httpx.post(
            f"{url}/v1/edi/ridgeline",
            content=raw,
            headers={
                "authorization": "Bearer ridgeline-test-token-0123456789abcdef",
                "content-type": "application/edi-x12",
            },
        )
        assert answer.status_code < 300, answer.text

        def quarantined() -> bool:
            return list_quarantined(store)[1] == 1

        wait_until(quarantined, timeout=10)
        (item,) = list_quarantined(store)[0]
        assert item["status"] == "rejected"
        assert item["error"].split(": ", 1)[1].startswith("set dropped: SE01 says")
    store.dispose()


def _yaml(text: str) -> dict[str, Any]:
    import yaml

    loaded: dict[str, Any] = yaml.safe_load(text)
    return loaded
