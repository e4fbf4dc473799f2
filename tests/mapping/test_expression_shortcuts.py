"""Texts joined with `&` and `p ? a : b` over plain paths are read without JSONata (the
high-rate feeds' ids and subjects); whatever the item, the answer is JSONata's own."""

from __future__ import annotations

from typing import Any

import jsonata  # type: ignore[import-untyped]
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from intermodal.mapping.expressions import Expression, plain

SHORTCUTS = [
    "'vehicle:' & device",
    "shipment ? shipment : 'vehicle:' & device",
    "a.b & '-' & c",
    "a ? 'x:y' : b.c",
    '"dq" & a & "-" & b',
    "a.b ? a.b : a.c",
    "a ? b : c",
    "type = 'positions'",
    'a.b = "x"',
    "a = ''",
]
NOT_SHORTCUTS = [
    "'lone'", "a", "true ? a : b", "a & null", "a ? b", "$doc.a & b", "a[0] & b", "a = b",
    "a = 1", "a != 'x'", "null = 'x'",
]  # fmt: skip

values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-5, 5),
        st.floats(-2, 2, allow_nan=False),
        st.text(max_size=4),
        st.just(""),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=2), st.dictionaries(st.sampled_from("abc"), inner, max_size=2)
    ),
    max_leaves=4,
)
items = st.dictionaries(
    st.sampled_from(["a", "b", "c", "device", "shipment", "type"]),
    st.one_of(values, st.sampled_from(["positions", "x", ""])),
    max_size=5,
)


def jsonata_says(source: str, item: Any) -> Any:
    return plain(jsonata.Jsonata(source).evaluate(item))


@pytest.mark.parametrize("source", SHORTCUTS)
def test_the_shortcut_is_taken(source: str) -> None:
    assert Expression(source)._shortcut is not None


@pytest.mark.parametrize("source", NOT_SHORTCUTS)
def test_other_expressions_go_to_jsonata(source: str) -> None:
    assert Expression(source)._shortcut is None


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(SHORTCUTS), items)
def test_a_shortcut_answers_as_jsonata_does(source: str, item: dict[str, Any]) -> None:
    expression = Expression(source)
    try:
        expected = jsonata_says(source, item)
    except Exception:  # JSONata refuses (e.g. `&` on an object): so must the expression
        with pytest.raises(Exception):
            expression.evaluate(item)
        return
    assert expression.evaluate(item) == expected


def test_the_feed_subject_reads_both_ways() -> None:
    subject = Expression("shipment ? shipment : 'vehicle:' & device")
    assert subject.evaluate({"device": "TRK-1"}) == "vehicle:TRK-1"
    assert subject.evaluate({"device": "TRK-1", "shipment": "SHP-9"}) == "SHP-9"
    assert subject.evaluate({"device": "TRK-1", "shipment": ""}) == "vehicle:TRK-1"
    assert subject.evaluate({"device": 7, "shipment": None}) == "vehicle:7"  # via JSONata
