"""Sortable ids: one at a time or drawn together, the same form, unique, in time order; the
one stored timestamp format."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from intermodal.engine.ids import iso, sortable_id, sortable_ids

_FORM = re.compile(r"^rcpt_[0-9a-f]{12}[0-9a-f]{20}$")


def test_ids_drawn_together_have_the_single_ids_form_and_never_repeat() -> None:
    together = sortable_ids("rcpt", 10_000)
    assert len(together) == 10_000 == len(set(together))
    assert all(_FORM.match(i) for i in together)
    assert _FORM.match(sortable_id("rcpt"))
    assert sortable_ids("rcpt", 0) == []


def test_ids_sort_by_creation_time() -> None:
    earlier = sortable_ids("rcpt", 3)
    later = sortable_id("rcpt")
    # The first 12 hex digits are the millisecond clock: never behind an earlier draw.
    assert all(i[5:17] <= later[5:17] for i in earlier)


def _reference_iso(value: datetime) -> str:
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


@given(
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    st.one_of(
        st.none(),
        st.just(UTC),
        st.integers(-23 * 60, 23 * 60).map(lambda m: timezone(timedelta(minutes=m))),
    ),
)
def test_iso_is_the_utc_isoformat_whatever_the_zone(
    moment: datetime, zone: timezone | None
) -> None:
    # Hand-rolled and cached for speed (engine/ids.py); it must say what isoformat says.
    value = moment.replace(tzinfo=zone)
    assert iso(value) == _reference_iso(value)
    assert iso(value) == _reference_iso(value)  # a second time: from the cache
