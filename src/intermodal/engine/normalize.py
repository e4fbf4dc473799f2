"""Normalize: turn a stored inbox message into canonical events (step 3 of the spine).

The applier calls a `Normalizer` for every message. The default reads canonical CloudEvents
(what partners send until they have a mapping); partner mappings (JSONata, X12, EDIFACT)
provide their own and fall back to this one. A message that cannot be normalized raises
`NormalizeError`: it stays in the inbox, marked rejected with the reason (quarantine),
and can be replayed once the mapping is fixed.

A mapped message whose items are read one by one (a carrier's scans) can also come back
with some items `skipped`: those that cannot be read, each with its path and reason. The
applier applies the others and marks the message applied with the skipped items recorded
in the inbox row's `error` column (`skipped_record`); a message with nothing readable
raises as before. Canonical CloudEvents stay all or nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from intermodal.canonical.events import CanonicalEvent, EventError, decode_json, parse_decoded
from intermodal.errors import InvalidInput

_RECORDED = 1000  # skipped items kept in the record; the count says how many there were
_REASON_CHARS = 500


@dataclass(frozen=True, slots=True)
class Skipped:
    """One item of a message that could not become an event: where, and why."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}" if self.path else self.reason


class Normalized(list[tuple[CanonicalEvent, dict[str, Any]]]):
    """Each event with the JSON object the timeline shows for it (the partner's own when the
    message was canonical already, the mapping's output otherwise), and the items of the
    message that could not be read (`skipped`, in message order).

    A list, so that code which only wants the events iterates it as before."""

    __slots__ = ("skipped",)

    def __init__(
        self,
        pairs: Iterable[tuple[CanonicalEvent, dict[str, Any]]] = (),
        skipped: Iterable[Skipped] = (),
    ) -> None:
        super().__init__(pairs)
        self.skipped: list[Skipped] = list(skipped)


class NormalizeError(InvalidInput, ValueError):
    """Why a message could not become canonical events, and where in it; `skipped`: every
    unreadable item when the message had several and none could be read."""

    def __init__(self, reason: str, path: str = "", skipped: Iterable[Skipped] = ()) -> None:
        super().__init__(f"{path}: {reason}" if path else reason)
        self.reason = reason
        self.path = path
        self.skipped: list[Skipped] = list(skipped)


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
    return Normalized(zip(events, items, strict=True))


def skipped_record(skipped: list[Skipped]) -> str:
    """What an applied message's inbox `error` holds when some of its items were skipped:
    JSON `{"skipped": [{"path", "reason"}...], "count": n}` (the first 1000 items; `count`
    is all of them). The inbox has no column of its own for this: a message is either
    pending, applied or rejected, and one applied without some items is still applied."""
    items = [{"path": s.path, "reason": s.reason[:_REASON_CHARS]} for s in skipped[:_RECORDED]]
    return orjson.dumps({"skipped": items, "count": len(skipped)}).decode()


def skipped_in(error: str | None) -> tuple[list[Skipped], int] | None:
    """The skipped items an applied message's `error` records, and how many there were;
    None when it records none (a message applied whole, or a rejection's reason)."""
    if not error or not error.startswith('{"skipped"'):
        return None
    try:
        found = orjson.loads(error)
        items = [Skipped(str(i["path"]), str(i["reason"])) for i in found["skipped"]]
        return items, int(found.get("count", len(items)))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None


def skipped_summary(skipped: list[Skipped], count: int) -> str:
    """One line for people: how many items were skipped, and the first few with why."""
    shown = "; ".join(str(s) for s in skipped[:3])
    more = f"; and {count - 3} more" if count > 3 else ""
    noun = "item" if count == 1 else "items"
    return f"applied without {count} {noun} that cannot be read: {shown}{more}"
