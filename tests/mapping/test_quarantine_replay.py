"""A JSON carrier end to end through a running hub: mapped, an unreadable update
quarantined while the others apply, the mapping fixed, the message replayed."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import orjson
from typer.testing import CliRunner

from intermodal.cli import app
from intermodal.config import Settings
from intermodal.ingress.signatures import sign
from intermodal.mapping.quarantine import list_quarantined
from intermodal.security.secrets import Secret, webhook_key
from intermodal.store import open_store
from intermodal_sim.testing import running_hub, wait_until
from tests.conftest import ADMIN, ADMIN_TOKEN_REF, new_secret

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "partners"


def _post(
    url: str, key: bytes, msg_id: str, body: bytes, partner: str = "swiftparcel"
) -> httpx.Response:
    """POST a Standard Webhooks-signed body to `partner`'s webhook route."""
    ts = int(time.time())
    return httpx.post(
        f"{url}/v1/webhooks/{partner}",
        content=body,
        headers={
            "content-type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(ts),
            "webhook-signature": sign(key, msg_id, ts, body),
        },
    )


def test_quarantine_then_fix_mapping_then_replay(
    db_url: str, tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    shutil.copy(EXAMPLES / "swiftparcel" / "mapping.yaml", tmp_path / "swift.yaml")
    secret = new_secret()
    settings = make_settings(
        {
            "hub": {"database": db_url, "admin_token": ADMIN_TOKEN_REF},
            "partners": {
                "swiftparcel": {
                    "webhook_secrets": ["env:SWIFT_SECRET"],
                    "mapping": "swift.yaml",
                }
            },
        },
        env={"SWIFT_SECRET": secret},
    )
    key = webhook_key(Secret(secret))
    sample = orjson.loads((EXAMPLES / "swiftparcel" / "sample.json").read_bytes())
    sample["updates"].append(
        {"update_id": "u-4", "code": "XX9", "occurred": "2024-01-05T12:00:00Z"}
    )
    body = orjson.dumps(sample)
    store = open_store(db_url)
    with running_hub(settings) as url:
        answer = _post(url, key, "m1", body)
        assert answer.status_code == 202
        receipt_id = answer.json()["receipt_id"]
        assert _post(url, key, "m1", body).status_code == 200  # duplicate: stored once

        def quarantined() -> bool:
            return list_quarantined(store)[1] == 1

        wait_until(quarantined, timeout=10)
        (item,) = list_quarantined(store)[0]
        assert item["status"] == "applied"  # the readable updates are applied meanwhile
        (skipped,) = item["skipped"]
        assert skipped["path"] == "$.updates[3].code" and "XX9" not in skipped["reason"]
        assert "not in the status table" in skipped["reason"]
        assert "applied without 1 item" in item["error"]
        shipment = httpx.get(f"{url}/v1/shipments/SHIP-1001", headers=ADMIN).json()
        assert shipment["state"] == "in_transit"
        receipt = httpx.get(f"{url}/v1/receipts/{receipt_id}", headers=ADMIN).json()
        assert receipt["skipped"] == item["skipped"]
        assert [e["outcome"] for e in receipt["events"]] == ["applied", "applied"]

        # fix the mapping (the running hub re-reads it) and replay through the CLI
        mapping = tmp_path / "swift.yaml"
        mapping.write_text(
            mapping.read_text() + "  XX9: {milestone: exception, reason: parcel held}\n"
        )
        result = CliRunner().invoke(
            app, ["quarantine", "replay", "--all", "--db", db_url, "--config", str(settings.source)]
        )
        assert result.exit_code == 0, result.output
        started = time.monotonic()

        def applied() -> bool:
            response = httpx.get(f"{url}/v1/shipments/SHIP-1001", headers=ADMIN)
            return response.status_code == 200 and response.json()["state"] == "exception"

        wait_until(applied, timeout=10)
        assert time.monotonic() - started < 2.0
        assert list_quarantined(store)[1] == 0
        receipt = httpx.get(f"{url}/v1/receipts/{receipt_id}", headers=ADMIN).json()
        assert (receipt["status"], receipt["error"], receipt["skipped"]) == ("applied", None, [])
        outcomes = sorted((e["id"], e["outcome"]) for e in receipt["events"])
        assert outcomes == [
            ("swift-u-1", "applied"),
            ("swift-u-1", "duplicate"),  # applied the first time: a duplicate by its id now
            ("swift-u-2", "applied"),
            ("swift-u-2", "duplicate"),
            ("swift-u-4", "applied"),
        ]
    listed = CliRunner().invoke(app, ["quarantine", "list", "--json", "--db", db_url])
    assert listed.exit_code == 0 and orjson.loads(listed.stdout)["total"] == 0
    store.dispose()
