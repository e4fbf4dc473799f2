"""Standard Webhooks signatures (https://www.standardwebhooks.com), checked on raw bytes.

Hand-written rather than calling the `standardwebhooks` package because the hub must try
several active secrets per partner (rotation) against one header that may carry several
signatures, and report *why* a message was refused; the package is our test oracle.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Sequence

from intermodal.errors import Unauthorized

MAX_MESSAGE_ID = 256


class SignatureError(Unauthorized):
    """Why a webhook was refused; `status` is the HTTP status to answer with (400 for a
    malformed header, 401 for a signature that does not prove the sender)."""

    def __init__(self, message: str, status: int = 401) -> None:
        super().__init__(message)
        self.status = status
        self.http_status = status
        self.code = "bad_signature" if status == 401 else "bad_request"


def sign(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """The `v1,<base64>` signature of a message, as a sender puts it in `webhook-signature`."""
    mac = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


def sign_all(keys: Sequence[bytes], message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header for a message signed with each key, space-separated,
    as the spec allows: a receiver holding any one of the keys can verify it."""
    return " ".join(sign(key, message_id, timestamp, body) for key in keys)


def verify(
    keys: Sequence[bytes],
    message_id: str | None,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    tolerance: int = 300,
    now: float | None = None,
) -> None:
    """Raise SignatureError unless one `v1` signature matches one of the keys."""
    if not message_id or not timestamp or not signature:
        missing = [
            name
            for name, value in (
                ("webhook-id", message_id),
                ("webhook-timestamp", timestamp),
                ("webhook-signature", signature),
            )
            if not value
        ]
        raise SignatureError(f"missing header(s): {', '.join(missing)}", 401)
    if len(message_id) > MAX_MESSAGE_ID or not message_id.isprintable():
        raise SignatureError(
            f"webhook-id must be at most {MAX_MESSAGE_ID} printable characters", 400
        )
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        raise SignatureError("webhook-timestamp must be whole seconds since the epoch", 400)
    sent = int(timestamp)
    current = time.time() if now is None else now
    if sent < current - tolerance:
        raise SignatureError(f"webhook-timestamp is more than {tolerance}s old", 401)
    if sent > current + tolerance:
        raise SignatureError(f"webhook-timestamp is more than {tolerance}s in the future", 401)
    if not keys:
        raise SignatureError("this partner has no webhook secret configured", 401)
    signed = f"{message_id}.{timestamp}.".encode() + body
    expected = [base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()) for key in keys]
    for candidate in signature.split(" "):
        version, _, value = candidate.partition(",")
        if version != "v1" or not value:
            continue
        given = value.encode("ascii", "replace")
        for digest in expected:
            if hmac.compare_digest(digest, given):
                return
    raise SignatureError("no valid v1 signature for this partner's secrets", 401)
