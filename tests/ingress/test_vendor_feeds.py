"""The shipped EasyPost and Shippo partners end to end: the example configuration as a user
copies it (`examples/partners/<name>/hub.yaml`, its mapping and `signature:` preset), the
sample payload signed the way the vendor documents it, and the milestones on the shipment.

The signatures are computed here from the vendors' documentation, not with the hub's own
`vendor_signatures`, so the shipped configuration is checked against the documents:
https://docs.easypost.com/guides/webhooks-guide (hex HMAC-SHA256 of the raw body in
`X-Hmac-Signature`, secret NFKD-normalised) and
https://docs.goshippo.com/docs/tracking/webhooksecurity (`Shippo-Auth-Signature:
t=<seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`).
"""

from __future__ import annotations

import hashlib
import hmac
import shutil
import time
import unicodedata
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml

from intermodal.config import load_config
from intermodal_sim.testing import running_hub, wait_until
from tests.conftest import ADMIN, ADMIN_TOKEN_REF

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "partners"


def _easypost(secret: str, body: bytes) -> dict[str, str]:
    key = unicodedata.normalize("NFKD", secret).encode()
    return {"X-Hmac-Signature": "hmac-sha256-hex=" + hmac.new(key, body, "sha256").hexdigest()}


def _shippo(secret: str, body: bytes) -> dict[str, str]:
    sent = int(time.time())
    digest = hmac.new(secret.encode(), f"{sent}.".encode() + body, hashlib.sha256).hexdigest()
    return {"Shippo-Auth-Signature": f"t={sent},v1={digest}"}


SIGNERS = {"easypost": _easypost, "shippo": _shippo}
SAMPLES = {"easypost": "sample_tracker_updated.json", "shippo": "sample_track_updated.json"}


def _hub_config(name: str, folder: Path, monkeypatch: pytest.MonkeyPatch, secret: str) -> Path:
    """The example's own hub.yaml and mapping, with only the database moved to `folder`."""
    shipped = EXAMPLES / name
    shutil.copy(shipped / "mapping.yaml", folder / "mapping.yaml")
    config = yaml.safe_load((shipped / "hub.yaml").read_text(encoding="utf-8"))
    config["hub"]["database"] = f"sqlite:///{folder / 'hub.db'}"
    config["hub"]["admin_token"] = ADMIN_TOKEN_REF  # to read the receipt and the shipment
    (folder / "hub.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    monkeypatch.setenv(f"{name.upper()}_WEBHOOK_SECRET", secret)
    return folder / "hub.yaml"


@pytest.mark.parametrize("name", ["easypost", "shippo"])
def test_the_shipped_partner_takes_a_signed_sample_into_milestones(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "whsec-Zürich-ﬁ-" + name  # NFKD changes it: EasyPost's rule is exercised
    settings = load_config(_hub_config(name, tmp_path, monkeypatch, secret))
    body = (EXAMPLES / name / SAMPLES[name]).read_bytes()
    sample: Any = orjson.loads(body)
    with running_hub(settings, dispatch=False) as url, httpx.Client(base_url=url) as client:
        headers = {"content-type": "application/json", **SIGNERS[name](secret, body)}
        first = client.post(f"/v1/webhooks/{name}", content=body, headers=headers)
        assert first.status_code == 202, first.text
        again = client.post(f"/v1/webhooks/{name}", content=body, headers=headers)
        assert again.status_code == 200 and again.json()["duplicate"] is True
        forged = client.post(f"/v1/webhooks/{name}", content=body + b" ", headers=headers)
        assert forged.status_code == 401, forged.text
        unsigned = client.post(
            f"/v1/webhooks/{name}", content=body, headers={"content-type": "application/json"}
        )
        assert unsigned.status_code == 401

        receipt_url = f"/v1/receipts/{first.json()['receipt_id']}"
        wait_until(lambda: client.get(receipt_url, headers=ADMIN).json()["status"] != "pending")
        receipt = client.get(receipt_url, headers=ADMIN).json()
        assert receipt["status"] == "applied", receipt
        assert receipt["events"], receipt
        applied = [e for e in receipt["events"] if e["outcome"] == "applied"]
        assert applied, receipt["events"]
        key = applied[0]["subject"]
        expected = (
            sample["result"]["tracking_code"]
            if name == "easypost"
            else sample["data"]["metadata"] or sample["data"]["tracking_number"]
        )
        assert key == expected
        shipment = client.get(f"/v1/shipments/{key}", headers=ADMIN).json()
        assert shipment["milestones"], shipment
        assert shipment["state"] == "delivered", shipment
