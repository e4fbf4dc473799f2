"""The Odoo client and the write_date cursor against the Odoo test server on 17, 18 and 19.

- `create` over JSON-RPC sends its values positionally: Odoo's call_kw reads `args[0]`
  (odoo/service/model.py call_kw, 18/19; odoo/api.py _call_kw_model_create, 17), and the
  test server fails a keyword `vals_list` with IndexError as Odoo does.
- The cursor reads every change exactly once although Odoo stores write_date to the
  microsecond and reads it to the second (odoo/sql_db.py BaseCursor.now,
  fields.Datetime.to_string): any page size, any number of records sharing a second, and a
  resume from any saved position.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from intermodal.connectors.odoo.client import Connection, OdooClient
from intermodal.connectors.odoo.cursor import Position, domain_since, pages_after, position_of
from intermodal.ingress.odoo_capture import CAPTURE_FIELDS, events_from_record
from intermodal.security.secrets import Secret
from intermodal_sim.odoo.testing import RunningSim, running_sim

MAJORS = (17, 18, 19)
MODEL = "uom.uom"  # no `active` field, nothing in the seed depends on its rows
MAX_RECORDS = 14


@pytest.fixture(scope="module")
def sims() -> Iterator[dict[int, RunningSim]]:
    with (
        running_sim(version=17) as s17,
        running_sim(version=18) as s18,
        running_sim(version=19) as s19,
    ):
        yield {17: s17, 18: s18, 19: s19}


def client_of(sim: RunningSim, http: httpx.AsyncClient) -> OdooClient:
    """The protocol the server's version picks: JSON-2 on 19, JSON-RPC before."""
    return OdooClient(Connection(sim.url, sim.db, Secret(sim.api_key), login="admin"), http)


@pytest.mark.parametrize("major", MAJORS)
def test_create_sends_values_the_way_each_protocol_needs(
    sims: dict[int, RunningSim], major: int
) -> None:
    sim = sims[major]

    async def run() -> tuple[str, Any, int]:
        async with httpx.AsyncClient() as http:
            client = client_of(sim, http)
            created = await client.call(
                "res.partner", "create", vals_list=[{"name": "Positional", "ref": f"POS-{major}"}]
            )
            count = await client.call(
                "res.partner", "search_count", domain=[["ref", "=", f"POS-{major}"]]
            )
            return await client.detect(), created, count

    protocol, created, count = asyncio.run(run())
    # JSON-2 keeps the named parameter, which its controller binds by name (json2.py).
    assert protocol == ("json2" if major >= 19 else "jsonrpc")
    assert isinstance(created, list) and len(created) == 1 and count == 1


def test_incoterm_display_name_reaches_the_order_terms(sims: dict[int, RunningSim]) -> None:
    """account.incoterms reads '[DDP] DELIVERED DUTY PAID' (account_incoterms.py
    _compute_display_name); the capture mapping takes the code from it."""
    sim = sims[18]

    async def run() -> dict[str, Any]:
        async with httpx.AsyncClient() as http:
            client = client_of(sim, http)
            [ddp] = await client.call("account.incoterms", "search", domain=[["code", "=", "DDP"]])
            [order] = await client.call(
                "sale.order",
                "create",
                vals_list=[
                    {
                        "partner_id": 1,
                        "incoterm": ddp,
                        "client_order_ref": "INC-1",
                        "order_line": [[0, 0, {"product_id": 3}]],
                    }
                ],
            )
            await client.call("sale.order", "action_confirm", ids=[order])
            [row] = await client.call(
                "sale.order", "read", ids=[order], fields=CAPTURE_FIELDS["sale.order"]
            )
            return dict(row)

    row = asyncio.run(run())
    assert row["incoterm"][1] == "[DDP] DELIVERED DUTY PAID"
    [upserted, _booked] = events_from_record("sale.order", row, "odoo/test")
    assert upserted["data"]["incoterm"] == "DDP"


def _stamp(second: int, fraction: int) -> str:
    micro = (0, 1, 250_000, 999_999)[fraction]
    text = f"2032-01-01 10:00:{second:02d}"
    return f"{text}.{micro:06d}" if micro else text


def _replace_rows(sim: RunningSim, stamps: list[tuple[int, int]]) -> list[int]:
    """The model's records become exactly these, written at these (second, fraction)s."""
    db = sim.server.db
    with db.transaction():
        db.execute(f"DELETE FROM {MODEL.replace('.', '_')}")
        ids = []
        for index, (second, fraction) in enumerate(stamps):
            cursor = db.execute(
                f"INSERT INTO {MODEL.replace('.', '_')} (name, create_uid, write_uid, "
                "create_date, write_date) VALUES (?, 1, 1, ?, ?)",
                (f"unit {index}", _stamp(second, fraction), _stamp(second, fraction)),
            )
            ids.append(int(cursor.lastrowid or 0))
    return ids


async def _read(
    sim: RunningSim, cursor: Position | None, page_size: int
) -> tuple[list[list[int]], list[Position], int]:
    async with httpx.AsyncClient() as http:
        client = client_of(sim, http)
        pages, positions = [], []
        async for rows in pages_after(client, MODEL, ["name"], cursor, 0, page_size):
            pages.append([int(row["id"]) for row in rows])
            positions.append(position_of(rows[-1]))
            # The keyset `write_date > W or (write_date = W and id > I)` over values read to
            # the second loops forever on a full page of one second; fail instead of hanging.
            assert len(pages) <= 2 * MAX_RECORDS + 2, "the cursor keeps re-reading pages"
        pending = await client.call(MODEL, "search_count", domain=domain_since(cursor, 0))
    return pages, positions, int(pending)


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@example(major=18, page_size=2, stamps=[(0, 2)] * 5, resume=1)  # a full page in one second
@example(major=19, page_size=3, stamps=[(1, 0), (0, 3), (1, 0), (0, 1), (1, 2)], resume=2)
@given(
    major=st.sampled_from(MAJORS),
    page_size=st.integers(1, 5),
    stamps=st.lists(st.tuples(st.integers(0, 2), st.integers(0, 3)), max_size=MAX_RECORDS),
    resume=st.integers(0, 12),
)
def test_cursor_reads_every_change_once(
    sims: dict[int, RunningSim],
    major: int,
    page_size: int,
    stamps: list[tuple[int, int]],
    resume: int,
) -> None:
    """Any page size, any spread of records over few seconds (equal timestamps included,
    ids unrelated to write order): one pass reads each record once, positions never go
    back, and a pass resumed from any saved position reads exactly the rest."""
    sim = sims[major]
    ids = _replace_rows(sim, stamps)
    pages, positions, pending = asyncio.run(_read(sim, None, page_size))
    read = [rid for page in pages for rid in page]
    assert sorted(read) == sorted(ids) and pending == len(ids)
    assert positions == sorted(positions)
    cut = resume % (len(pages) + 1)
    position = positions[cut - 1] if cut else None
    rest, _, pending = asyncio.run(_read(sim, position, page_size))
    before = [rid for page in pages[:cut] for rid in page]
    after = [rid for page in rest for rid in page]
    assert sorted(before + after) == sorted(ids) and pending == len(after)
