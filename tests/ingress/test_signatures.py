"""Standard Webhooks verification, with the reference `standardwebhooks` package as oracle."""

from __future__ import annotations

import base64
import secrets
import time
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from standardwebhooks import Webhook

from intermodal.ingress.signatures import SignatureError, sign, verify
from intermodal.security.secrets import Secret, webhook_key


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def key_of(secret: str) -> bytes:
    return webhook_key(Secret(secret))


NOW = 1_790_000_000


def oracle_headers(secret: str, msg_id: str, ts: int, body: bytes) -> dict[str, str]:
    signature = Webhook(secret).sign(msg_id, datetime.fromtimestamp(ts, tz=UTC), body.decode())
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": signature}


@settings(max_examples=200, deadline=None)
@given(
    body=st.text(max_size=300).map(str.encode),
    msg_id=st.text(
        alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=40
    ),
)
def test_we_accept_what_the_reference_signs(body: bytes, msg_id: str) -> None:
    secret = new_secret()
    h = oracle_headers(secret, msg_id, NOW, body)
    verify(
        [key_of(secret)],
        h["webhook-id"],
        h["webhook-timestamp"],
        h["webhook-signature"],
        body,
        now=NOW,
    )


@settings(max_examples=100, deadline=None)
@given(body=st.text(max_size=300).map(str.encode))
def test_the_reference_accepts_what_we_sign(body: bytes) -> None:
    secret = new_secret()
    ts = int(time.time())
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(ts),
        "webhook-signature": sign(key_of(secret), "msg_1", ts, body),
    }
    Webhook(secret).verify(body, headers, json_parse=False)


def test_body_with_trailing_newline_is_signed_as_sent() -> None:
    secret = new_secret()
    body = b'{"a":1}\n'
    h = oracle_headers(secret, "m", NOW, body)
    verify([key_of(secret)], "m", h["webhook-timestamp"], h["webhook-signature"], body, now=NOW)
    with pytest.raises(SignatureError):  # the same body without the newline is another message
        verify(
            [key_of(secret)],
            "m",
            h["webhook-timestamp"],
            h["webhook-signature"],
            body.rstrip(),
            now=NOW,
        )


def test_rotation_accepts_old_and_new_secret() -> None:
    old, new = new_secret(), new_secret()
    keys = [key_of(old), key_of(new)]
    for secret in (old, new):
        h = oracle_headers(secret, "m", NOW, b"{}")
        verify(keys, "m", h["webhook-timestamp"], h["webhook-signature"], b"{}", now=NOW)
    stranger = new_secret()
    h = oracle_headers(stranger, "m", NOW, b"{}")
    with pytest.raises(SignatureError, match="no valid v1 signature"):
        verify(keys, "m", h["webhook-timestamp"], h["webhook-signature"], b"{}", now=NOW)


def test_several_signatures_in_one_header() -> None:
    secret, other = new_secret(), new_secret()
    good = oracle_headers(secret, "m", NOW, b"{}")["webhook-signature"]
    bad = oracle_headers(other, "m", NOW, b"{}")["webhook-signature"]
    header = f"v2,zzz {bad} {good}"
    verify([key_of(secret)], "m", str(NOW), header, b"{}", now=NOW)
    ts = int(time.time())
    live = f"v2,zzz {sign(key_of(other), 'm', ts, b'{}')} {sign(key_of(secret), 'm', ts, b'{}')}"
    Webhook(secret).verify(
        b"{}",
        {"webhook-id": "m", "webhook-timestamp": str(ts), "webhook-signature": live},
        json_parse=False,
    )


@pytest.mark.parametrize(
    ("offset", "ok"), [(-300, True), (-301, False), (300, True), (301, False), (0, True)]
)
def test_tolerance_edges(offset: int, ok: bool) -> None:
    """The window is inclusive at exactly the tolerance, like the reference's `<` test."""
    secret = new_secret()
    h = oracle_headers(secret, "m", NOW + offset, b"{}")
    if ok:
        verify(
            [key_of(secret)], "m", h["webhook-timestamp"], h["webhook-signature"], b"{}", now=NOW
        )
    else:
        with pytest.raises(SignatureError, match=r"old|future"):
            verify(
                [key_of(secret)],
                "m",
                h["webhook-timestamp"],
                h["webhook-signature"],
                b"{}",
                now=NOW,
            )


@pytest.mark.parametrize(("offset", "ok"), [(-310, False), (-290, True), (290, True), (310, False)])
def test_tolerance_agrees_with_the_reference(offset: int, ok: bool) -> None:
    secret = new_secret()
    h = oracle_headers(secret, "m", int(time.time()) + offset, b"{}")
    try:
        Webhook(secret).verify(b"{}", h, json_parse=False)
        reference_ok = True
    except Exception:
        reference_ok = False
    try:
        verify([key_of(secret)], "m", h["webhook-timestamp"], h["webhook-signature"], b"{}")
        ours_ok = True
    except SignatureError:
        ours_ok = False
    assert ours_ok == reference_ok == ok


@pytest.mark.parametrize(
    ("msg_id", "ts", "sig", "status"),
    [
        (None, str(NOW), "v1,x", 401),
        ("m", None, "v1,x", 401),
        ("m", str(NOW), None, 401),
        ("m", "12.5", "v1,x", 400),
        ("m", "-5", "v1,x", 400),
        ("m", "1e9", "v1,x", 400),
        ("m\n", str(NOW), "v1,x", 400),
        ("m" * 300, str(NOW), "v1,x", 400),
        ("m", str(NOW), "v1,", 401),
        ("m", str(NOW), "garbage", 401),
        ("m", str(NOW), "v1,%%%", 401),
    ],
)
def test_malformed_headers_are_refused_with_a_reason(
    msg_id: str | None, ts: str | None, sig: str | None, status: int
) -> None:
    with pytest.raises(SignatureError) as info:
        verify([key_of(new_secret())], msg_id, ts, sig, b"{}", now=NOW)
    assert info.value.status == status
    assert str(info.value)


def test_unpadded_secret_is_read_like_the_reference() -> None:
    raw = secrets.token_bytes(31)
    unpadded = "whsec_" + base64.b64encode(raw).decode().rstrip("=")
    assert key_of(unpadded) == raw
