"""The audit chains, one per partition, on SQLite and PostgreSQL: appends to several chains
verify intact; each way of tampering (edit, delete, insert, move, re-hash) is named by
chain and row; a database written by the single-chain code still verifies after the
migration; appenders of different chains do not wait for each other on PostgreSQL."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import orjson
import pytest
from alembic import command
from alembic.config import Config
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import OperationalError

import intermodal.store
from intermodal.security.audit import (
    GENESIS,
    AuditEntry,
    ChainHead,
    append,
    heads,
    row_hash,
    verify,
)
from intermodal.store import Store, open_store
from intermodal.store.tables import audit

MIGRATIONS = Path(intermodal.store.__file__).parent / "migrations"


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = open_store(db_url)
    yield s
    s.dispose()


def entry(chain: int, n: int = 0) -> AuditEntry:
    return AuditEntry("acme", "shipment.state", f"S{chain}-{n}", {"to": "delivered", "n": n}, chain)


def write(store: Store, chains: list[int]) -> None:
    """One transaction appending one entry per chain listed, in that order."""
    with store.write() as conn:
        append(store, conn, [entry(chain, n) for n, chain in enumerate(chains)])


def row_at(store: Store, chain: int, chain_seq: int) -> Any:
    with store.read() as conn:
        return conn.execute(
            select(audit).where(audit.c.chain == chain, audit.c.chain_seq == chain_seq)
        ).one()


def tail(store: Store, chain: int) -> int:
    with store.read() as conn:
        return int(
            conn.execute(
                select(func.coalesce(func.max(audit.c.chain_seq), 0)).where(audit.c.chain == chain)
            ).scalar_one()
        )


# Ways of tampering, each returning (chain, seq) of the row verify must name.


def edit(store: Store, chain: int, chain_seq: int) -> tuple[int, int]:
    row = row_at(store, chain, chain_seq)
    with store.engine.begin() as conn:
        conn.execute(update(audit).where(audit.c.seq == row.seq).values(detail='{"to":"lost"}'))
    return chain, row.seq


def delete(store: Store, chain: int, chain_seq: int) -> tuple[int, int]:
    """Delete a row that has a successor: the successor is where the chain breaks."""
    row, successor = row_at(store, chain, chain_seq), row_at(store, chain, chain_seq + 1)
    with store.engine.begin() as conn:
        conn.execute(audit.delete().where(audit.c.seq == row.seq))
    return chain, successor.seq


def insert(store: Store, chain: int, chain_seq: int) -> tuple[int, int]:
    """Forge a row at `chain_seq`, correctly hashed and linked, and renumber the rows from
    there on to make room (in two steps: uniqueness is checked row by row)."""
    prev = row_at(store, chain, chain_seq - 1).hash if chain_seq > 1 else GENESIS
    at, detail = "2026-12-05T10:00:00.000000Z", '{"to":"delivered"}'
    digest = row_hash(chain, chain_seq, at, "mallory", "shipment.state", "S9", detail, prev)
    with store.engine.begin() as conn:
        later = (audit.c.chain == chain) & (audit.c.chain_seq >= chain_seq)
        conn.execute(update(audit).where(later).values(chain_seq=audit.c.chain_seq + 1_000_000))
        moved = (audit.c.chain == chain) & (audit.c.chain_seq > 1_000_000)
        conn.execute(update(audit).where(moved).values(chain_seq=audit.c.chain_seq - 999_999))
        inserted = conn.execute(
            audit.insert().values(
                chain=chain,
                chain_seq=chain_seq,
                at=at,
                actor="mallory",
                action="shipment.state",
                subject="S9",
                detail=detail,
                prev_hash=prev,
                hash=digest,
            )
        ).inserted_primary_key
    assert inserted is not None
    return chain, int(inserted[0])


def move(store: Store, chain: int, chain_seq: int, to: int) -> tuple[int, int]:
    """Move a row to the end of another chain."""
    row, end = row_at(store, chain, chain_seq), tail(store, to)
    with store.engine.begin() as conn:
        conn.execute(
            update(audit).where(audit.c.seq == row.seq).values(chain=to, chain_seq=end + 1)
        )
    return to, row.seq


def rehash(store: Store, chain: int, chain_seq: int) -> tuple[int, int]:
    """Edit a row and recompute its hash: its successor no longer links to it."""
    row = row_at(store, chain, chain_seq)
    digest = row_hash(
        chain, chain_seq, row.at, row.actor, row.action, row.subject, "{}", row.prev_hash
    )
    with store.engine.begin() as conn:
        conn.execute(update(audit).where(audit.c.seq == row.seq).values(detail="{}", hash=digest))
    return chain, row.seq


def test_appends_to_several_chains_in_any_order_verify_intact(store: Store) -> None:
    for chains in ([0, 3, 1], [3], [1, 1, 0], [7, 3, 7, 0], [3, 1, 3]):
        write(store, chains)
    report = verify(store, batch=2)  # small batches: the walk pages within each chain
    assert (report.ok, report.rows, report.chains, report.problem) == (True, 14, 4, None)
    with store.read() as conn:
        rows = conn.execute(select(audit).order_by(audit.c.chain, audit.c.chain_seq)).all()
    for chain in (0, 1, 3, 7):
        mine = [r for r in rows if r.chain == chain]
        assert [r.chain_seq for r in mine] == list(range(1, len(mine) + 1))
        assert [r.seq for r in mine] == sorted(r.seq for r in mine)  # seq grows along a chain
        assert mine[0].prev_hash == GENESIS
        assert all(b.prev_hash == a.hash for a, b in pairwise(mine))
    # Within one transaction, a chain's entries keep the order they were given in.
    assert [r.subject for r in rows if r.chain == 3][-2:] == ["S3-0", "S3-2"]
    assert heads(store) == [
        ChainHead(r.chain, r.chain_seq, r.hash)
        for r in rows
        if r.chain_seq == max(x.chain_seq for x in rows if x.chain == r.chain)
    ]


def test_no_rows_verify_intact_in_no_chain(store: Store) -> None:
    report = verify(store)
    assert (report.ok, report.rows, report.chains) == (True, 0, 0)
    assert heads(store) == []


def test_a_chain_outside_postgresql_int4_is_refused() -> None:
    with pytest.raises(ValueError, match="audit chain -1"):
        entry(-1)
    with pytest.raises(ValueError, match="outside"):
        entry(2**31)


@pytest.mark.parametrize("tamper", ["edit", "delete", "insert", "move", "rehash", "oldest"])
def test_each_tampering_is_named_by_chain_and_row(store: Store, tamper: str) -> None:
    for _ in range(4):
        write(store, [0, 1, 2])
    assert verify(store).ok
    if tamper == "edit":
        expected, words = edit(store, 1, 2), "was edited"
    elif tamper == "delete":
        expected, words = delete(store, 1, 2), "were deleted: the chain skips positions 2..2"
    elif tamper == "insert":
        expected, words = insert(store, 1, 2), "was inserted at position 2"
    elif tamper == "move":
        expected, words = move(store, 1, 2, to=2), "was moved here from chain 1"
    elif tamper == "rehash":
        expected, words = rehash(store, 1, 2), "was replaced"
    else:
        expected, words = delete(store, 1, 1), "the chain skips positions 1..1"
    report = verify(store)
    assert not report.ok
    assert (report.chain, report.seq) == expected, report.problem
    assert words in (report.problem or ""), report.problem
    assert f"in chain {expected[0]}, " in (report.problem or "")
    assert f"row {expected[1]}" in (report.problem or "")
    # A moved row also leaves a gap where it was: two chains broken, the earlier row named.
    assert report.broken_chains == (2 if tamper == "move" else 1)
    assert report.rows == 12 + (tamper == "insert") - (tamper in ("delete", "oldest"))


def test_a_row_renumbered_after_deleting_its_predecessor_is_named(store: Store) -> None:
    for _ in range(5):
        write(store, [0, 5])
    gone, successor = row_at(store, 5, 2), row_at(store, 5, 3)
    with store.engine.begin() as conn:
        conn.execute(audit.delete().where(audit.c.seq == gone.seq))
        later = (audit.c.chain == 5) & (audit.c.chain_seq > 2)
        conn.execute(update(audit).where(later).values(chain_seq=audit.c.chain_seq - 1))
    report = verify(store)
    assert (report.chain, report.seq) == (5, successor.seq)
    assert "were deleted and it was renumbered from position 3 to 2" in (report.problem or "")


def test_the_earliest_bad_row_of_several_broken_chains_is_named(store: Store) -> None:
    for _ in range(3):
        write(store, [0, 1, 2, 3])
    late = edit(store, 3, 2)
    early = edit(store, 2, 3)
    delete(store, 1, 1)  # chain 1's position 2 is named: a later row than chain 3's
    report = verify(store)
    first = min([late, early, (1, row_at(store, 1, 2).seq)], key=lambda found: found[1])
    assert (report.chain, report.seq, report.broken_chains) == (*first, 3)


def migrate_to(store: Store, revision: str, down: bool = False) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with store.engine.begin() as conn:
        config.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(config, revision)


def legacy_rows(count: int) -> list[dict[str, Any]]:
    """Rows as the single-chain code wrote them: seq = the tail + 1, hashed with seq."""
    rows, prev = [], GENESIS
    for seq in range(1, count + 1):
        at, detail = f"2026-12-01T10:00:0{seq}.000000Z", orjson.dumps({"n": seq}).decode()
        material = orjson.dumps([seq, at, "hub", "shipment.state", f"S{seq}", detail, prev])
        digest = hashlib.sha256(material).hexdigest()
        rows.append(
            {
                "seq": seq,
                "at": at,
                "actor": "hub",
                "action": "shipment.state",
                "subject": f"S{seq}",
                "detail": detail,
                "prev_hash": prev,
                "hash": digest,
            }
        )
        prev = digest
    return rows


def legacy_intact(store: Store) -> bool:
    """The single-chain verify in short: seq 1, 2, 3..., each hashed with seq and linked."""
    prev = GENESIS
    with store.read() as conn:
        for n, r in enumerate(conn.execute(text("SELECT * FROM audit ORDER BY seq")), 1):
            material = orjson.dumps([r.seq, r.at, r.actor, r.action, r.subject, r.detail, prev])
            if r.seq != n or r.prev_hash != prev or hashlib.sha256(material).hexdigest() != r.hash:
                return False
            prev = r.hash
    return True


def test_a_database_written_by_the_single_chain_code_still_verifies(db_url: str) -> None:
    store = Store(db_url)
    try:
        migrate_to(store, "0011")
        with store.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO audit VALUES "
                    "(:seq, :at, :actor, :action, :subject, :detail, :prev_hash, :hash)"
                ),
                legacy_rows(5),
            )
        assert legacy_intact(store)
        store.migrate()
        report = verify(store)
        assert (report.ok, report.rows, report.chains) == (True, 5, 1)
        with store.read() as conn:
            placed = conn.execute(select(audit.c.seq, audit.c.chain, audit.c.chain_seq)).all()
        assert sorted(placed) == [(n, 0, n) for n in range(1, 6)]

        write(store, [0, 4, 0])
        assert verify(store).ok and verify(store).chains == 2
        newest = row_at(store, 0, 7)
        assert newest.seq > 5 and newest.prev_hash == row_at(store, 0, 6).hash
        assert edit(store, 0, 2) == (0, 2)
        report = verify(store)
        assert (report.chain, report.seq) == (0, 2) and "row 2 was edited" in (report.problem or "")
    finally:
        store.dispose()


def test_downgrade_returns_chain_0_to_the_single_chain_or_refuses(db_url: str) -> None:
    store = open_store(db_url)
    try:
        write(store, [0, 0])
        if store.dialect == "postgresql":  # a rolled-back append leaves a hole in seq
            with pytest.raises(RuntimeError), store.write() as conn:
                append(store, conn, [entry(0)])
                raise RuntimeError("rolled back")
        write(store, [0])
        write(store, [3])
        with pytest.raises(RuntimeError, match="1 audit row"):
            migrate_to(store, "0011", down=True)
        with store.engine.begin() as conn:
            conn.execute(audit.delete().where(audit.c.chain == 3))
        migrate_to(store, "0011", down=True)
        assert legacy_intact(store)
    finally:
        store.dispose()


def test_appends_to_different_chains_do_not_wait_for_each_other(pg_url: str) -> None:
    store = open_store(pg_url)
    try:
        with store.engine.connect() as holder, holder.begin():
            append(store, holder, [entry(1)])  # chain 1 stays locked until this commits
            with store.engine.connect() as other, other.begin():
                other.execute(text("SET LOCAL lock_timeout = '5s'"))
                append(store, other, [entry(2), entry(0)])
            with (
                store.engine.connect() as same,
                pytest.raises(OperationalError, match="lock timeout"),
                same.begin(),
            ):
                same.execute(text("SET LOCAL lock_timeout = '200ms'"))
                append(store, same, [entry(1)])
        report = verify(store)
        assert (report.ok, report.rows, report.chains) == (True, 3, 3)
    finally:
        store.dispose()


def test_an_append_to_several_chains_holds_every_one_of_them(pg_url: str) -> None:
    """The chains' locks are taken in one statement: each of them, not only the first."""
    store = open_store(pg_url)
    try:
        with store.engine.connect() as holder, holder.begin():
            append(store, holder, [entry(9), entry(3), entry(5)])
            for chain in (3, 5, 9):
                with (
                    store.engine.connect() as same,
                    pytest.raises(OperationalError, match="lock timeout"),
                    same.begin(),
                ):
                    same.execute(text("SET LOCAL lock_timeout = '200ms'"))
                    append(store, same, [entry(chain, 1)])
            with store.engine.connect() as other, other.begin():
                other.execute(text("SET LOCAL lock_timeout = '5s'"))
                append(store, other, [entry(4), entry(6)])
        report = verify(store)
        assert (report.ok, report.rows, report.chains) == (True, 5, 5)
    finally:
        store.dispose()


# For the property test: transactions of appends over random chains, then one tampering.
_transactions = st.lists(
    st.lists(st.integers(0, 4), min_size=1, max_size=5), min_size=1, max_size=8
)


def test_verify_names_the_tampered_row_whatever_the_interleaving(store: Store) -> None:
    @settings(
        max_examples=30,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        transactions=_transactions,
        tamper=st.sampled_from(["edit", "delete", "insert", "move"]),
        data=st.data(),
    )
    def check(transactions: list[list[int]], tamper: str, data: st.DataObject) -> None:
        with store.engine.begin() as conn:
            conn.execute(audit.delete())
        for chains in transactions:
            write(store, chains)
        assert verify(store).ok
        with store.read() as conn:
            places = conn.execute(select(audit.c.chain, audit.c.chain_seq)).all()
        ends = {c: max(p for cc, p in places if cc == c) for c, _ in places}
        if tamper == "edit":
            chain, chain_seq = data.draw(st.sampled_from(sorted(places)))
            expected = edit(store, chain, chain_seq)
        elif tamper == "delete":  # not a chain's newest row: truncation is not detected yet
            inner = sorted((c, p) for c, p in places if p < ends[c])
            assume(inner)
            expected = delete(store, *data.draw(st.sampled_from(inner)))
        elif tamper == "insert":  # before an existing row: forged appends are not detected yet
            expected = insert(store, *data.draw(st.sampled_from(sorted(places))))
        else:
            chain, chain_seq = data.draw(st.sampled_from(sorted(places)))
            to = data.draw(st.sampled_from([c for c in [*ends, max(ends) + 1] if c != chain]))
            expected = move(store, chain, chain_seq, to)
        report = verify(store)
        assert not report.ok
        assert (report.chain, report.seq) == expected, report.problem

    check()
