"""Normalize: turn a stored inbox message into canonical events (step 3 of the spine).

The applier calls a `Normalizer` for every message. The default reads canonical CloudEvents
(what partners send until they have a mapping); partner mappings (JSONata, X12, EDIFACT)
provide their own and fall back to this one. A message that cannot be normalized raises
`NormalizeError`: it stays in the inbox, marked rejected with the reason (quarantine),
and can be replayed once the mapping is fixed.
"""

from __future__ import annotations

from typing import Any, Protocol

from intermodal.canonical.events import CanonicalEvent, EventError, decode_json, parse_decoded
from intermodal.errors import InvalidInput

Normalized = list[tuple[CanonicalEvent, dict[str, Any]]]
"""Each event with the JSON object the timeline shows for it (the partner's own when the
message was canonical already, the mapping's output otherwise)."""


class NormalizeError(InvalidInput, ValueError):
    """Why a message could not become canonical events, and where in it."""

    def __init__(self, reason: str, path: str = "") -> None:
        super().__init__(f"{path}: {reason}" if path else reason)
        self.reason = reason
        self.path = path


class Normalizer(Protocol):
    def __call__(
        self, partner: str, channel: str, content_type: str, body: bytes
    ) -> Normalized: ...


def canonical(partner: str, channel: str, content_type: str, body: bytes) -> Normalized:
    """The message is canonical CloudEvents already (one object or an array)."""
    try:
        raw = decode_json(body)  # kept as sent: the timeline shows the partner's own JSON
        events = parse_decoded(raw, max_events=100_000)
    except EventError as exc:
        raise NormalizeError(str(exc)) from None
    items = raw if isinstance(raw, list) else [raw]
    return list(zip(events, items, strict=True))
