"""Tamper-evident audit chains: each row hashes its content and the previous row's hash.

There is one chain per partition (`AuditEntry.chain`: the partition of the shipment an
entry is about, 0 for entries about no shipment), so appliers of different partitions,
on one node or several, append side by side instead of queueing on one lock. A row's
place is (chain, chain_seq), chain_seq counting 1, 2, 3... within its chain; `seq` is
only the row's address, handed out by the database. Appends happen inside the
transaction of the change they record, so the chains and the state cannot disagree.

Anyone who edits, inserts, deletes, renumbers or moves a row after the fact breaks its
chain there; `verify` walks every chain and names the first row that does not fit.

What an unkeyed chain cannot show: that a chain's newest rows were deleted (truncation),
or that rows were appended by someone who computed their hashes. Both need something
kept away from the database: a keyed hash (HMAC) per row, and checkpoints of each
chain's head recorded elsewhere and compared by a later verify. `heads` returns those
heads for such a checkpoint to record; neither the key nor the checkpoints exist yet.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, bindparam, select, text

from intermodal.engine.ids import iso, utcnow
from intermodal.store import Store
from intermodal.store.store import rows_in
from intermodal.store.tables import audit

GENESIS = "0" * 64
MAX_CHAIN = 2**31 - 1
"""Chains are PostgreSQL int4: the column, and the second key of the advisory lock."""

_PG_AUDIT_LOCK = 7_201_512
"""Advisory lock class of the chains: `pg_advisory_xact_lock(_PG_AUDIT_LOCK, chain)`
queues the appenders of one chain (from any process) and lets other chains' pass."""
_RENUMBERED_SEARCH = 64
"""How far down a row whose hash does not fit is looked for, when rows before it were
deleted and the rest renumbered."""
_LOCK_CHAIN = text("SELECT pg_advisory_xact_lock(:lock_class, :chain)")
_INSERT = audit.insert()
_TAIL = (
    select(audit.c.chain_seq, audit.c.hash)
    .where(audit.c.chain == bindparam("chain"))
    .order_by(audit.c.chain_seq.desc())
    .limit(1)
)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    actor: str
    action: str
    subject: str | None
    detail: dict[str, Any]
    chain: int = 0
    """The chain the entry joins: the partition of the shipment it is about, else 0."""

    def __post_init__(self) -> None:
        if not 0 <= self.chain <= MAX_CHAIN:
            raise ValueError(f"audit chain {self.chain} is outside 0..{MAX_CHAIN}")


def row_hash(
    chain: int,
    chain_seq: int,
    at: str,
    actor: str,
    action: str,
    subject: str | None,
    detail: str,
    prev: str,
) -> str:
    """The hash of a row at `chain_seq` in `chain`, linked to `prev`.

    Chain 0 hashes what the single chain of earlier versions hashed (its rows had
    seq == chain_seq), so databases written before the chains existed still verify;
    other chains hash their number too, so a row moved between chains no longer fits.
    """
    if chain == 0:
        material = orjson.dumps([chain_seq, at, actor, action, subject, detail, prev])
    else:
        material = orjson.dumps([chain, chain_seq, at, actor, action, subject, detail, prev])
    return hashlib.sha256(material).hexdigest()


def append(store: Store, conn: Connection, entries: list[AuditEntry]) -> None:
    """Append entries at the end of their chains, in the caller's transaction.

    On PostgreSQL each chain is locked until the transaction ends, in ascending chain
    order so that two transactions appending to the same chains cannot deadlock; append
    once per transaction (or to ascending chains) to keep that true. Transactions on
    different chains do not wait for each other. SQLite has one writer at a time anyway.
    """
    if not entries:
        return
    by_chain: dict[int, list[AuditEntry]] = {}
    for entry in entries:
        by_chain.setdefault(entry.chain, []).append(entry)
    at = iso(utcnow())
    rows = []
    for chain in sorted(by_chain):
        if store.dialect == "postgresql":
            conn.execute(_LOCK_CHAIN, {"lock_class": _PG_AUDIT_LOCK, "chain": chain})
        tail = conn.execute(_TAIL, {"chain": chain}).first()
        position, prev = (tail.chain_seq, tail.hash) if tail else (0, GENESIS)
        for entry in by_chain[chain]:
            position += 1
            detail = orjson.dumps(entry.detail, option=orjson.OPT_SORT_KEYS).decode()
            digest = row_hash(
                chain, position, at, entry.actor, entry.action, entry.subject, detail, prev
            )
            rows.append(
                {
                    "chain": chain,
                    "chain_seq": position,
                    "at": at,
                    "actor": entry.actor,
                    "action": entry.action,
                    "subject": entry.subject,
                    "detail": detail,
                    "prev_hash": prev,
                    "hash": digest,
                }
            )
            prev = digest
    store.execute_many(conn, _INSERT, rows)  # plain values: straight to the driver on SQLite


@dataclass(frozen=True, slots=True)
class ChainHead:
    """A chain's newest row: what a checkpoint records to detect later truncation."""

    chain: int
    chain_seq: int
    hash: str


def heads(store: Store) -> list[ChainHead]:
    """Each chain's newest row, by chain: one index lookup per chain."""
    found = []
    with store.read() as conn:
        for chain in _chains(conn):
            tail = conn.execute(_TAIL, {"chain": chain}).one()
            found.append(ChainHead(chain, tail.chain_seq, tail.hash))
    return found


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """What `verify` found. When the chains do not verify, `problem` says what happened
    to the row `seq` in chain `chain`: of the first bad rows of the `broken_chains`
    broken chains, the one with the smallest seq."""

    rows: int
    chains: int
    ok: bool
    problem: str | None = None
    chain: int | None = None
    seq: int | None = None
    broken_chains: int = 0


def verify(store: Store, batch: int = 10_000) -> VerifyReport:
    """Walk every chain in order and name the first row that was edited, inserted,
    deleted or moved.

    Within a chain, from its first row on:

    - edited: a row's hash does not match its content. If it matches the content at
      another place, the row was moved there: from another chain, or within its chain
      when rows before it were inserted or deleted and the rest renumbered;
    - deleted: the positions skip (or do not start at 1);
    - a row that fits but does not link to its predecessor: if its successor links to
      it, its predecessor was replaced (edited and re-hashed, or deleted and rewritten);
      otherwise the row itself was inserted.

    Memory stays flat: rows are read a batch at a time, and only the current chain's
    last rows and each broken chain's first bad row are kept.
    """
    rows = 0
    chains: list[int] = []
    walks: list[_ChainWalk] = []
    with store.read() as conn:
        for chain in _chains(conn):
            chains.append(chain)
            walk = _ChainWalk(chain)
            for row in _chain_rows(conn, chain, batch):
                rows += 1
                walk.step(row)
            walk.finish()
            if walk.fault is not None:
                walks.append(walk)
        if not walks:
            return VerifyReport(rows, len(chains), True)
        links = _rows_linked_from(conn, walks)
        found = [_explain(walk, chains, links, conn) for walk in walks]
    seq, chain, problem = min(found)
    return VerifyReport(rows, len(chains), False, problem, chain, seq, len(walks))


def _chains(conn: Connection) -> Iterator[int]:
    """The chains in ascending order, found by one index seek each (no table scan)."""
    after = -1
    while True:
        chain: int | None = conn.execute(
            select(audit.c.chain).where(audit.c.chain > after).order_by(audit.c.chain).limit(1)
        ).scalar()
        if chain is None:
            return
        yield chain
        after = chain


def _chain_rows(conn: Connection, chain: int, batch: int) -> Iterator[Any]:
    position = 0
    while True:
        found = conn.execute(
            select(audit)
            .where(audit.c.chain == chain, audit.c.chain_seq > position)
            .order_by(audit.c.chain_seq)
            .limit(batch)
        ).all()
        if not found:
            return
        yield from found
        position = found[-1].chain_seq


def _fits(row: Any, chain: int, chain_seq: int) -> bool:
    """Whether the row's hash matches its content at position `chain_seq` of `chain`."""
    digest = row_hash(
        chain, chain_seq, row.at, row.actor, row.action, row.subject, row.detail, row.prev_hash
    )
    return bool(digest == row.hash)


@dataclass(slots=True)
class _ChainWalk:
    """One chain's walk: the last row that fit, and the first bad row once found.

    `fault` is what stopped the walk, at `row` or around `suspect` (a row that fits
    but does not link to `last`, the row before it; its successor decides):

    - "mismatch": `row`'s hash does not match its content (`_explain` tells edited
      from moved);
    - "gap": `row`'s position is not the one after `last`'s;
    - "replaced": the successor links to `suspect`, so `last` was replaced;
    - "headless": the same, but `suspect` is the chain's first row;
    - "inserted": the successor does not link to `suspect` either;
    - "unlinked": `suspect` is the chain's newest row, and nothing follows to decide.
    """

    chain: int
    last: Any = None
    suspect: Any = None
    fault: str | None = None
    row: Any = None

    def step(self, row: Any) -> None:
        if self.fault is not None:
            return
        if self.suspect is not None:
            if row.prev_hash != self.suspect.hash:
                self.fault = "inserted"
            else:
                self.fault = "replaced" if self.last is not None else "headless"
            return
        if not _fits(row, self.chain, row.chain_seq):
            self.fault, self.row = "mismatch", row
            return
        if row.chain_seq != (self.last.chain_seq if self.last is not None else 0) + 1:
            self.fault, self.row = "gap", row
            return
        if row.prev_hash != (self.last.hash if self.last is not None else GENESIS):
            self.suspect = row
            return
        self.last = row

    def finish(self) -> None:
        if self.fault is None and self.suspect is not None:
            self.fault = "unlinked"


_Links = dict[str, list[tuple[int, int]]]
"""A hash -> the (chain, chain_seq) of the rows that have it."""


def _rows_linked_from(conn: Connection, walks: list[_ChainWalk]) -> _Links:
    """Where the rows whose hash does not fit say they were written: after the rows
    their `prev_hash` names. No index on hash: one scan, and only for broken chains."""
    wanted = sorted(
        {w.row.prev_hash for w in walks if w.fault == "mismatch" and w.row.prev_hash != GENESIS}
    )
    links: _Links = {}
    query = select(audit.c.hash, audit.c.chain, audit.c.chain_seq)
    for r in rows_in(conn, query, audit.c.hash, wanted):
        links.setdefault(r.hash, []).append((r.chain, r.chain_seq))
    return links


def _explain(
    walk: _ChainWalk, chains: list[int], links: _Links, conn: Connection
) -> tuple[int, int, str]:
    """(seq, chain, what happened) for a broken chain's first bad row."""
    chain, last, suspect = walk.chain, walk.last, walk.suspect
    where = f"in chain {chain}, "
    if walk.fault == "gap":
        row = walk.row
        after = last.chain_seq if last is not None else 0
        return (
            row.seq,
            chain,
            f"{where}rows before row {row.seq} were deleted: the chain skips positions"
            f" {after + 1}..{row.chain_seq - 1}",
        )
    if walk.fault == "replaced":
        return (
            last.seq,
            chain,
            f"{where}row {last.seq} (position {last.chain_seq}) was replaced (edited and"
            f" re-hashed, or deleted and rewritten): row {suspect.seq} after it no longer"
            f" links to it, while the row after row {suspect.seq} links to row {suspect.seq}",
        )
    if walk.fault == "headless":
        return (
            suspect.seq,
            chain,
            f"{where}row {suspect.seq}, the chain's first (position {suspect.chain_seq}),"
            " does not link to the start of the chain: rows before it were deleted and the"
            " rest renumbered and re-hashed",
        )
    if walk.fault == "inserted":
        return (
            suspect.seq,
            chain,
            f"{where}row {suspect.seq} (position {suspect.chain_seq}) was inserted: it links"
            " to neither the row before it nor the row after it",
        )
    if walk.fault == "unlinked":
        before = f"row {last.seq}" if last is not None else "the start of the chain"
        return (
            suspect.seq,
            chain,
            f"{where}row {suspect.seq}, the chain's newest (position {suspect.chain_seq}),"
            f" does not link to {before}: it was inserted, or the row before it was edited"
            " and re-hashed",
        )
    return _explain_mismatch(walk.row, chains, links, conn)


def _explain_mismatch(
    row: Any, chains: list[int], links: _Links, conn: Connection
) -> tuple[int, int, str]:
    """Name a row whose hash does not match its content: moved, renumbered or edited.

    The row's own link says where it was written: right after the row whose hash is
    its `prev_hash` (at position 1 of some chain when that is GENESIS). If its content
    fits there, it was moved, and the rows that now sit where it was written were
    inserted.
    """
    chain, position = row.chain, row.chain_seq
    if row.prev_hash == GENESIS:
        places = [(c, 1) for c in chains]
    else:
        places = [(c, p + 1) for c, p in links.get(row.prev_hash, [])]
    where = f"in chain {chain}, "
    for origin, written_at in places:
        if (origin, written_at) == (chain, position) or not _fits(row, origin, written_at):
            continue
        if origin != chain:
            return (
                row.seq,
                chain,
                f"{where}row {row.seq} (position {position}) was moved here from chain"
                f" {origin}, where it was written at position {written_at}",
            )
        if written_at > position:
            return (
                row.seq,
                chain,
                f"{where}rows before row {row.seq} were deleted and it was renumbered"
                f" from position {written_at} to {position}",
            )
        inserted = conn.execute(
            select(audit.c.seq).where(audit.c.chain == chain, audit.c.chain_seq == written_at)
        ).scalar()
        if inserted is not None:
            return (
                inserted,
                chain,
                f"{where}row {inserted} was inserted at position {written_at}"
                f" (positions {written_at}..{position - 1} were inserted): row {row.seq}"
                f" after them was renumbered from position {written_at} to {position}",
            )
    # Its predecessor is gone: the row may still be where it was written, less the rows
    # deleted before it.
    for written_at in range(position + 1, position + 1 + _RENUMBERED_SEARCH):
        if _fits(row, chain, written_at):
            return (
                row.seq,
                chain,
                f"{where}rows before row {row.seq} were deleted and it was renumbered"
                f" from position {written_at} to {position}",
            )
    return (
        row.seq,
        chain,
        f"{where}row {row.seq} was edited: its hash does not match its content"
        f" (position {position})",
    )
