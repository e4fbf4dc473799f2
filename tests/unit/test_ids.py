"""Sortable ids: one at a time or drawn together, the same form, unique, in time order."""

from __future__ import annotations

import re

from intermodal.engine.ids import sortable_id, sortable_ids

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
