"""The `edi` endpoint kind: X12 / EDIFACT documents (997 and CONTRL acknowledgements, and
later outbound 204s and IFTMINs) posted to a partner as the raw bytes they are.

One command per request: an interchange is a unit the partner's translator accepts or
refuses whole. The idempotency key (and Standard Webhooks `webhook-id`, signed when the
endpoint has a secret) is the command id, so a retried acknowledgement is recognisably
the same one.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import httpx

from intermodal.config import Endpoint
from intermodal.ingress.signatures import sign_all
from intermodal.outbox.policy import retry_after_seconds
from intermodal.outbox.sinks import ClaimedCommand, Result

_RETRYABLE_STATUS = frozenset({408, 425, 429})


def media_type(payload: bytes) -> str:
    """application/edi-x12 for an ISA, application/edifact for UNA/UNB (RFC 1767)."""
    head = payload.lstrip(b"\xef\xbb\xbf \t\r\n")[:3]
    return "application/edi-x12" if head == b"ISA" else "application/edifact"


class EdiSink:
    def __init__(self, endpoint: Endpoint, client: httpx.AsyncClient) -> None:
        self.endpoint = endpoint
        self.client = client

    async def deliver(self, commands: Sequence[ClaimedCommand]) -> list[Result]:
        return [await self._one(command) for command in commands]

    async def _one(self, command: ClaimedCommand) -> Result:
        timestamp = int(time.time())
        headers = {
            "content-type": media_type(command.payload),
            "idempotency-key": command.command_id,
            "webhook-id": command.command_id,
            "webhook-timestamp": str(timestamp),
            "x-correlation-id": command.correlation_id,
        }
        if keys := self.endpoint.signing_keys:  # every active secret, as webhooks are
            headers["webhook-signature"] = sign_all(
                keys, command.command_id, timestamp, command.payload
            )
        try:
            response = await self.client.post(
                self.endpoint.url,
                content=command.payload,
                headers=headers,
                timeout=self.endpoint.timeout_seconds,
            )
        except httpx.HTTPError as exc:
            return Result(command.seq, False, f"{type(exc).__name__}: {exc}"[:500], True)
        status = response.status_code
        if 200 <= status < 300:
            return Result(command.seq, True)
        error = f"HTTP {status}: {response.text[:300]}"
        if status >= 500 or status in _RETRYABLE_STATUS:
            after = retry_after_seconds(response.headers.get("retry-after"))
            return Result(command.seq, False, error, True, after)
        return Result(command.seq, False, error, False)

    async def aclose(self) -> None:
        return None
