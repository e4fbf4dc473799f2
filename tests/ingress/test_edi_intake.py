"""EDI intake through a running hub: X12 214 over HTTP and a watched folder, into events,
with the 997 delivered back through the outbox; broken and hostile input never 5xx."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import httpx
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from intermodal.config import Settings
from intermodal.edi.x12 import parse_x12
from intermodal_sim.testing import running_hub, wait_until
from tests.conftest import ADMIN, ADMIN_TOKEN_REF, AckReceiver

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "partners"
GOLDEN = Path(__file__).resolve().parents[1] / "edi" / "golden"
TOKEN = "ridgeline-test-token-0123456789abcdef"
AUTH = {"authorization": f"Bearer {TOKEN}", "content-type": "application/edi-x12"}


def _settings(
    make_settings: Callable[..., Settings], tmp_path: Path, db_url: str, ack_url: str
) -> Settings:
    shutil.copy(EXAMPLES / "ridgeline" / "mapping.yaml", tmp_path / "ridgeline.yaml")
    return make_settings(
        {
            "hub": {"database": db_url, "admin_token": ADMIN_TOKEN_REF},
            "partners": {
                "ridgeline": {
                    "tokens": [{"token": "env:RIDGELINE_TOKEN", "scopes": ["events:write"]}],
                    "mapping": "ridgeline.yaml",
                    "edi": {
                        "format": "x12",
                        "ack": True,
                        "ack_endpoint": "ridgeline-edi",
                        "inbox_folder": "inbox",
                        "poll_seconds": 0.2,
                    },
                }
            },
            "endpoints": {
                "ridgeline-edi": {"kind": "edi", "url": f"{ack_url}/inbound", "milestones": []}
            },
        },
        env={"RIDGELINE_TOKEN": TOKEN},
    )


def test_x12_carrier_end_to_end_with_997_and_folder(
    db_url: str,
    tmp_path: Path,
    make_settings: Callable[..., Settings],
    acks: tuple[AckReceiver, str],
) -> None:
    receiver, ack_url = acks
    settings = _settings(make_settings, tmp_path, db_url, ack_url)
    body = (EXAMPLES / "ridgeline" / "sample_214.x12").read_bytes()
    with running_hub(settings) as url:
        first = httpx.post(f"{url}/v1/edi/ridgeline", content=body, headers=AUTH)
        assert first.status_code == 202, first.text
        (ic,) = first.json()["interchanges"]
        assert ic["control_number"] == "000000214" and ic["status"] == "accepted"
        assert ic["sender"] == "02:CARRIERSCAC"
        assert first.json()["acknowledgements"] == 1
        assert first.json()["acknowledgements_not_written"] == []
        again = httpx.post(f"{url}/v1/edi/ridgeline", content=body, headers=AUTH)
        assert again.status_code == 200 and again.json()["interchanges"][0]["status"] == "duplicate"

        def picked_up() -> bool:
            r = httpx.get(f"{url}/v1/shipments/SHIP-204-0001", headers=ADMIN)
            return r.status_code == 200 and r.json()["state"] == "picked_up"

        wait_until(picked_up, timeout=10)
        wait_until(lambda: len(receiver.bodies) >= 1, timeout=10)
        (ack,) = parse_x12(receiver.bodies[0]).interchanges
        assert ack.groups[0].transactions[0].set_id == "997"
        ak = {s.tag: s.values() for s in ack.groups[0].transactions[0].segments}
        assert ak["AK1"] == ["QM", "214"] and ak["AK9"][0] == "A"

        # the same carrier drops a second interchange into its folder
        second = body.replace(b"000000214", b"000000215").replace(b"SHIP-204-0001", b"SHIP-9")
        (tmp_path / "inbox").mkdir(exist_ok=True)
        (tmp_path / "inbox" / "batch.x12").write_bytes(second)
        (tmp_path / "inbox" / "junk.x12").write_bytes(b"hello")

        def shipment_nine() -> bool:
            return httpx.get(f"{url}/v1/shipments/SHIP-9", headers=ADMIN).status_code == 200

        wait_until(shipment_nine, timeout=10)
        wait_until(lambda: (tmp_path / "inbox" / "processed" / "batch.x12").exists(), timeout=10)
        wait_until(lambda: (tmp_path / "inbox" / "rejected" / "junk.x12").exists(), timeout=10)
        assert (tmp_path / "inbox" / "rejected" / "junk.x12.error.txt").read_text()
        wait_until(lambda: len(receiver.bodies) >= 2, timeout=10)
    assert len(receiver.bodies) == 2  # one 997 per interchange, none for the duplicate


def test_broken_envelope_names_segment_and_element(
    tmp_path: Path, make_settings: Callable[..., Settings], acks: tuple[AckReceiver, str]
) -> None:
    settings = _settings(make_settings, tmp_path, f"sqlite:///{tmp_path / 'h.db'}", acks[1])
    with running_hub(settings, dispatch=False) as url:
        bad = httpx.post(
            f"{url}/v1/edi/ridgeline",
            content=(GOLDEN / "se01_mismatch.x12").read_bytes(),
            headers=AUTH,
        )
        assert bad.status_code == 422
        assert "SE01" in bad.text and "segment" in bad.text
        assert httpx.post(f"{url}/v1/edi/ridgeline", content=b"x", headers=AUTH).status_code == 400
        no_auth = httpx.post(
            f"{url}/v1/edi/ridgeline", content=b"x", headers={"content-type": "text/plain"}
        )
        assert no_auth.status_code == 401
        # A name nobody has answers as another partner's EDI endpoint would this token.
        assert httpx.post(f"{url}/v1/edi/nobody", content=b"x", headers=AUTH).status_code == 403

        base = (EXAMPLES / "ridgeline" / "sample_214.x12").read_bytes()

        @hsettings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
        @given(
            st.one_of(
                st.binary(max_size=300),
                st.builds(
                    lambda cut, junk: base[:cut] + junk + base[cut:],
                    st.integers(0, len(base)),
                    st.binary(max_size=8),
                ),
            )
        )
        def never_5xx(data: bytes) -> None:
            response = httpx.post(f"{url}/v1/edi/ridgeline", content=data, headers=AUTH)
            assert response.status_code < 500, response.text

        never_5xx()
