"""Times in partners' JSON: zones named by the mapping or the payload, split date and time.

Carrier tracking APIs mix times with an offset (`2024-01-05T08:10:00-05:00`) and without
(`2024-01-05T08:10:00`, or UPS's `20240105` + `081000`), sometimes in one message. A time
without an offset is only an instant once someone says whose clock it is: the scan's own
location (an event's `zone:` expression over the payload) or the partner's clock (the
mapping's `timezone:`). These helpers are pure; `spec.py` decides which zone applies.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from intermodal.errors import InvalidInput

_OFFSET = re.compile(r"^([+-])(\d{1,2})(?::?(\d{2}))?$")  # USPS writes -7:00, some APIs -07
_COMPACT_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_ZONE_SUFFIX = r"(?P<zone>Z|[+-]\d{2}(?::?\d{2})?)?"
_COMPACT_TIME = re.compile(r"^(?P<h>\d{2})(?P<m>\d{2})(?P<s>\d{2})?" + _ZONE_SUFFIX + "$")
_ISO_TIME = re.compile(
    r"^(?P<h>\d{2}):(?P<m>\d{2})(?::(?P<s>\d{2})(?:\.(?P<f>\d{1,9}))?)?" + _ZONE_SUFFIX + "$"
)
_MAX_OFFSET = timedelta(hours=18)  # ISO 8601 / RFC 3339 offsets stay within +-18:00


class TimeInputError(InvalidInput, ValueError):
    """A date, time or zone a mapping was given that is not one; `argument` says which.

    The message says what was expected and never repeats the value: it ends up in the
    message's receipt and in the quarantine, and a payload's value can be personal data
    (the quarantine shows the payload itself to an operator)."""

    def __init__(self, argument: str, message: str) -> None:
        super().__init__(message)
        self.argument = argument


_NOT_A_ZONE = "zone is not an IANA time zone name or a +HH:MM offset (e.g. America/Chicago, -05:00)"
_NOT_AN_OFFSET = "not a UTC offset within 18 hours, with minutes below 60"


def iana_zone(name: str) -> ZoneInfo:
    """An IANA zone by name (`Europe/Paris`, `UTC`); ValueError naming it otherwise."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(
            f"'{name}' is not an IANA time zone name (e.g. America/Chicago, Europe/Paris, UTC)"
        ) from None


@lru_cache(maxsize=1024)
def zone_of(value: str) -> tzinfo:
    """A zone as payloads give it: an IANA name, `Z`, or an offset `+HH:MM` / `-HHMM`, or
    the shorter spellings carriers use (`-7:00`, `-07`).

    Cached: a carrier names the same few zones in every message, and an offset or name is
    read once per process rather than once per scan."""
    text = value.strip()
    if text in ("Z", "z"):
        return UTC
    offset = _OFFSET.match(text)
    if offset is not None:
        return _fixed(offset.group(1), offset.group(2), offset.group(3) or "00", text)
    try:
        return iana_zone(text)
    except ValueError:
        raise ValueError(
            f"'{value}' is not an IANA time zone name or a +HH:MM offset"
            " (e.g. America/Chicago, -05:00)"
        ) from None


def _fixed(sign: str, hours: str, minutes: str, text: str) -> tzinfo:
    if int(minutes) >= 60:
        raise ValueError(f"'{text}' is not a UTC offset: minutes must be below 60")
    delta = timedelta(hours=int(hours), minutes=int(minutes))
    if delta > _MAX_OFFSET:
        raise ValueError(f"'{text}' is not a UTC offset: more than 18 hours")
    return timezone(-delta if sign == "-" else delta)


def has_no_zone(value: Any) -> bool:
    """True for text that reads as an ISO 8601 date or date-time without an offset.

    Anything else (an aware time, a number, text that is no time at all) is left for the
    canonical model to accept or refuse with its own message."""
    if not isinstance(value, str):
        return False
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return False
    return parsed.tzinfo is None


def localized(value: str, zone: tzinfo) -> str:
    """A zone-less ISO 8601 time read on `zone`'s clock, as ISO 8601 with its offset.

    A wall-clock time in a zone's daylight-saving gap or overlap takes the offset in force
    before the change (`fold=0`), as the X12 and EDIFACT readers do."""
    return datetime.fromisoformat(value).replace(tzinfo=zone).isoformat()


def join_datetime(date: Any, time: Any, zone: Any = None) -> str | None:
    """`$datetime(date, time[, zone])`: a carrier's split date and time as one ISO 8601 time.

    The date is `YYYYMMDD` or `YYYY-MM-DD`; the time `HHMM`, `HHMMSS`, `HH:MM`,
    `HH:MM:SS` or `HH:MM:SS.fff`, optionally followed by its own offset (`Z`, `+01:00`,
    `-0500`). An offset on the time wins, since it is what the partner stated; otherwise
    `zone` (an IANA name or an offset) gives one; without either the result has no offset,
    and the event's `zone:` or the mapping's `timezone:` applies to it like to any other
    zone-less time. A missing date or time (undefined in JSONata, null or "") gives
    undefined, as JSONata's own functions do, so a required field reports "gave nothing".
    """
    if date in (None, "") or time in (None, ""):
        return None
    day = _date_of(date)
    hour, minute, second, micros, stated = _time_parts(time)
    try:
        moment = day.replace(hour=hour, minute=minute, second=second, microsecond=micros)
    except ValueError as exc:
        raise TimeInputError("time", f"time is not a time of day: {exc}") from None
    if stated is not None:
        return moment.replace(tzinfo=stated).isoformat()
    if zone in (None, ""):
        return moment.isoformat()
    if not isinstance(zone, str):
        raise TimeInputError("zone", f"zone must be text, not {type(zone).__name__}")
    try:
        return moment.replace(tzinfo=zone_of(zone)).isoformat()
    except ValueError:
        raise TimeInputError("zone", _NOT_A_ZONE) from None


def _date_of(date: Any) -> datetime:
    found = None
    if isinstance(date, str):
        found = _COMPACT_DATE.match(date) or _ISO_DATE.match(date)
    if found is None:
        raise TimeInputError("date", "date is neither YYYYMMDD nor YYYY-MM-DD text")
    try:
        return datetime(int(found.group(1)), int(found.group(2)), int(found.group(3)))
    except ValueError as exc:
        raise TimeInputError("date", f"date is not a real date: {exc}") from None


def _time_parts(time: Any) -> tuple[int, int, int, int, tzinfo | None]:
    found = None
    if isinstance(time, str):
        found = _COMPACT_TIME.match(time) or _ISO_TIME.match(time)
    if found is None:
        raise TimeInputError(
            "time", "time is neither HHMM[SS] nor HH:MM[:SS[.fff]] text (offset optional)"
        )
    parts = found.groupdict()
    micros = int((parts.get("f") or "0")[:6].ljust(6, "0"))  # nanoseconds: cut, not rounded
    suffix, stated = parts["zone"], None
    if suffix is not None:
        try:
            stated = zone_of(suffix + ":00" if len(suffix) == 3 else suffix)  # "+05"
        except ValueError:
            raise TimeInputError("time", f"time's offset: {_NOT_AN_OFFSET}") from None
    return int(parts["h"]), int(parts["m"]), int(parts["s"] or 0), micros, stated
