"""EDIFACT intake through a running hub: a portal that sends bare IFTSTA messages (no
UNB/UNZ) is accepted by its `edi.envelope: optional`, deduplicated on resend and mapped;
the same bytes from a partner without the option are refused as before."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx

from intermodal.config import Settings
from intermodal.edi.edifact import parse_edifact
from intermodal_sim.testing import running_hub, wait_until
from tests.conftest import ADMIN, ADMIN_TOKEN_REF, AckReceiver

TOKENS = {
    "portal": "portal-test-token-0123456789abcdef",
    "strict": "strict-test-token-0123456789abcdef",
}

MAPPING = """\
reader: edifact
timezone: Europe/Berlin
messages:
  - name: status
    each: statuses
    event:
      id: "'portal-' & interchange & '-' & message & '-' & code"
      subject: consignment
      time: occurred_at
      status: code
      location: >-
        location_code ? {'city': location_name,
        'country': $substring(location_code, 0, 2)} : undefined
statuses:
  "10": in_transit
  "21": delivered
"""

# What the portal exports: a UNA and two IFTSTA messages, one segment per line, no envelope.
BARE = (
    "UNA:+.? '\n"
    "UNH+STA0815+IFTSTA:D:01B:UN'\n"
    "BGM+23+PORTAL-0815+9'\n"
    "CNI+1+SHIP-4711'\n"
    "STS+1+21'\n"
    "DTM+334:202403041415:203'\n"
    "LOC+175+DEHAM:139:6:Hamburg Süderelbe'\n"
    "LOC+7+DEHAM:139:6:Lager Nord'\n"
    "UNT+8+STA0815'\n"
    "UNH+STA0816+IFTSTA:D:01B:UN'\n"
    "BGM+23+PORTAL-0816+9'\n"
    "CNI+1+SHIP-4712'\n"
    "STS+1+10'\n"
    "DTM+334:202403041520:203'\n"
    "UNT+6+STA0816'\n"
).encode()


def _settings(make_settings: Callable[..., Settings], tmp_path: Path, ack_url: str) -> Settings:
    (tmp_path / "portal.yaml").write_text(MAPPING, encoding="utf-8")
    edi = {"format": "edifact", "ack": True, "ack_endpoint": "portal-edi"}
    return make_settings(
        {
            "hub": {"database": f"sqlite:///{tmp_path / 'hub.db'}", "admin_token": ADMIN_TOKEN_REF},
            "partners": {
                "portal": {
                    "mapping": "portal.yaml",
                    "tokens": [{"token": "env:PORTAL_TOKEN", "scopes": ["events:write"]}],
                    "edi": {**edi, "envelope": "optional"},
                },
                "strict": {
                    "mapping": "portal.yaml",
                    "tokens": [{"token": "env:STRICT_TOKEN", "scopes": ["events:write"]}],
                    "edi": edi,
                },
            },
            "endpoints": {
                "portal-edi": {"kind": "edi", "url": f"{ack_url}/inbound", "milestones": []}
            },
        },
        env={"PORTAL_TOKEN": TOKENS["portal"], "STRICT_TOKEN": TOKENS["strict"]},
    )


def _post(url: str, partner: str, body: bytes) -> httpx.Response:
    headers = {"authorization": f"Bearer {TOKENS[partner]}", "content-type": "application/edifact"}
    return httpx.post(f"{url}/v1/edi/{partner}", content=body, headers=headers)


def test_bare_messages_over_http(
    tmp_path: Path, make_settings: Callable[..., Settings], acks: tuple[AckReceiver, str]
) -> None:
    receiver, ack_url = acks
    settings = _settings(make_settings, tmp_path, ack_url)
    expected = parse_edifact(BARE, envelope="optional").interchanges[0].control_reference
    with running_hub(settings) as url:
        first = _post(url, "portal", BARE)
        assert first.status_code == 202, first.text
        answer = first.json()
        (ic,) = answer["interchanges"]
        assert (ic["control_number"], ic["status"], ic["sets"]) == (expected, "accepted", 2)
        assert [w["code"] for w in answer["warnings"]] == ["envelope_absent"]
        assert answer["acknowledgements"] == 0  # nothing to answer: no UNB05 was sent

        again = _post(url, "portal", BARE)  # the portal's retry
        assert again.status_code == 200, again.text
        assert again.json()["interchanges"][0]["status"] == "duplicate"

        def delivered() -> bool:
            found = httpx.get(f"{url}/v1/shipments/SHIP-4711", headers=ADMIN)
            return found.status_code == 200 and found.json()["state"] == "delivered"

        wait_until(delivered, timeout=10)
        wait_until(
            lambda: httpx.get(f"{url}/v1/shipments/SHIP-4712", headers=ADMIN).status_code == 200
        )
        (event,) = httpx.get(f"{url}/v1/shipments/SHIP-4711/timeline", headers=ADMIN).json()
        assert (event["id"], event["milestone"]) == (f"portal-{expected}-STA0815-21", "delivered")

        refused = _post(url, "strict", BARE)
        assert refused.status_code == 400, refused.text
        assert "expected UNB after UNA" in refused.text
        assert "envelope is optional" in refused.text

        # the same portal's enveloped interchanges are still acknowledged
        enveloped = (
            b"UNB+UNOC:3+PORTAL:ZZZ+HUB:ZZZ+240304:1600+PT0001'UNH+1+IFTSTA:D:01B:UN'"
            b"BGM+23+PORTAL-0817+9'CNI+1+SHIP-4711'STS+1+21'DTM+334:202403041600:203'"
            b"UNT+6+1'UNZ+1+PT0001'"
        )
        assert _post(url, "portal", enveloped).json()["acknowledgements"] == 1
        wait_until(lambda: len(receiver.bodies) >= 1, timeout=10)
    (contrl,) = receiver.bodies
    (answer_ic,) = parse_edifact(contrl).interchanges
    assert answer_ic.recipient == "PORTAL"
    assert answer_ic.groups[0].messages[0].segments[0].values()[0] == "PT0001"
