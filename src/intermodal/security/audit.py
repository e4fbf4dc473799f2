"""Tamper-evident audit chains: each row hashes its content and the previous row's hash.

There is one chain per partition (`AuditEntry.chain`: the partition of the shipment an
entry is about, 0 for entries about no shipment), so appliers of different partitions,
on one node or several, append side by side instead of queueing on one lock. A row's
place is (chain, chain_seq), chain_seq counting 1, 2, 3... within its chain; `seq` is
only the row's address, handed out by the database. Appends happen inside the
transaction of the change they record, so the chains and the state cannot disagree.

Anyone who edits, inserts, deletes, renumbers or moves a row after the fact breaks its
chain there; `verify` walks every chain and names the first row that does not fit.

An unkeyed hash cannot show two things: that a chain's newest rows were deleted, and that
rows were appended (or a chain rewritten) by someone who computed the hashes. So:

- **Keyed rows.** With `hub.audit_key`, a row's hash is an HMAC-SHA256 under a key the
  database does not hold, written `hmac:<key id>:<mac>` so that each row says how it was
  sealed. Rows written before the key stay plain SHA-256 (64 hex digits) and verify as
  they did; a chain is keyed from its first `hmac:` row on, and a plain row after it is
  named as forged. A process without the key refuses to append to a keyed chain, and a
  hub without it refuses to start on one, rather than write rows that read as forged.
- **Checkpoints.** The leader signs each chain's newest row into a file outside the
  database (security/audit_checkpoint.py); `verify` given that checkpoint names a chain
  that lost rows it recorded (the newest, or all), a chain rewritten up to them, and a
  plain row written after it.

What still cannot be seen: rows deleted from a chain's end since the last checkpoint,
and anything done by someone who holds the key or can also replace the checkpoint.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import weakref
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import Connection, bindparam, func, select, text

from intermodal.engine.ids import iso, utcnow
from intermodal.errors import ConfigurationError
from intermodal.store import Store
from intermodal.store.store import json_values, rows_in
from intermodal.store.tables import audit

if TYPE_CHECKING:
    from intermodal.config import Settings
    from intermodal.security.secrets import Secret

GENESIS = "0" * 64
MAX_CHAIN = 2**31 - 1
"""Chains are PostgreSQL int4: the column, and the second key of the advisory lock."""
KEYED = "hmac:"
"""How a keyed row's hash starts: `hmac:<key id>:<mac>`; a plain hash is 64 hex digits."""
_KEY_ID_CHARS = 8

_PG_AUDIT_LOCK = 7_201_512
"""Advisory lock class of the chains: `pg_advisory_xact_lock(_PG_AUDIT_LOCK, chain)`
queues the appenders of one chain (from any process) and lets other chains' pass."""
_RENUMBERED_SEARCH = 64
"""How far down a row whose hash does not fit is looked for, when rows before it were
deleted and the rest renumbered."""
_LOCK_CHAINS = text(
    "SELECT pg_advisory_xact_lock(:lock_class, c)"
    " FROM unnest(CAST(:chains AS integer[])) WITH ORDINALITY AS t(c, n) ORDER BY n"
)
"""Each chain's lock, in the order given (ascending: see `append`), in one statement."""
_INSERT = audit.insert()
_TAIL = (
    select(audit.c.chain_seq, audit.c.hash)
    .where(audit.c.chain == bindparam("chain"))
    .order_by(audit.c.chain_seq.desc())
    .limit(1)
)
_TAILS = {
    "sqlite": text(
        "SELECT a.chain, a.chain_seq, a.hash FROM json_each(:chains) AS c JOIN audit AS a"
        " ON a.seq = (SELECT seq FROM audit WHERE chain = c.value"
        " ORDER BY chain_seq DESC LIMIT 1)"
    ),
    "postgresql": text(
        "SELECT c.chain, t.chain_seq, t.hash FROM unnest(CAST(:chains AS integer[])) AS c(chain)"
        " JOIN LATERAL (SELECT chain_seq, hash FROM audit WHERE audit.chain = c.chain"
        " ORDER BY chain_seq DESC LIMIT 1) AS t ON true"
    ),
}
"""The newest row of each of several chains in one statement (one index search each):
a batch of the applier touches up to one chain per partition, and a statement per chain
was a sixth of applying a small batch."""
_HEAD = (
    select(audit.c.seq, audit.c.chain_seq, audit.c.hash, audit.c.at)
    .where(audit.c.chain == bindparam("chain"))
    .order_by(audit.c.chain_seq.desc())
    .limit(1)
)
_AT = select(audit.c.seq, audit.c.hash).where(
    audit.c.chain == bindparam("chain"), audit.c.chain_seq == bindparam("chain_seq")
)


class AuditKeyError(ConfigurationError):
    """The audit keys configured do not fit the chains: a keyed chain and no key."""


@dataclass(frozen=True, slots=True)
class AuditKey:
    """One HMAC-SHA256 key, its padded inner and outer hash states computed once.

    Measured here (best of 30 runs, one row's material): `hmac.new` and `hmac.digest`
    take 1.6 us for the MAC alone, the plain SHA-256 the chains used before 0.4 us;
    starting each row from copies of the two keyed states (RFC 2104 exactly:
    sha256(key ^ opad, sha256(key ^ ipad, message))) takes 0.8 us, and a whole keyed
    row hash 1.8 us against 0.7 us plain. Appending, the difference is lost in the
    noise: 75 us a row either way on SQLite (batches of 20 entries over 64 chains). The
    standard library's `hmac` is the test oracle (tests/security/test_audit_tamper.py).
    """

    id: str
    """A short name for the key, derived from it (an HMAC of a fixed label): safe to
    show, and written into every row it seals."""
    _inner: Any = field(repr=False, compare=False)
    _outer: Any = field(repr=False, compare=False)
    _prefix: str = field(default="", repr=False, compare=False)

    @classmethod
    def of(cls, secret: str | bytes) -> AuditKey:
        key = secret.encode() if isinstance(secret, str) else secret
        if len(key) > _BLOCK:
            key = hashlib.sha256(key).digest()
        key = key.ljust(_BLOCK, b"\0")
        inner = hashlib.sha256(key.translate(_IPAD))
        outer = hashlib.sha256(key.translate(_OPAD))
        key_id = cls("", inner, outer).mac(b"intermodal audit key id").hex()[:_KEY_ID_CHARS]
        return cls(key_id, inner, outer, f"{KEYED}{key_id}:")

    def mac(self, message: bytes) -> bytes:
        inner = self._inner.copy()
        inner.update(message)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return bytes(outer.digest())

    def seal(self, message: bytes) -> str:
        """`hmac:<key id>:<mac in unpadded base64url>`: 57 characters, within the 64 of the
        hash column, and left alone by the log redactor (no `+`, `/` or `=`)."""
        return self._prefix + base64.urlsafe_b64encode(self.mac(message))[:43].decode()


_BLOCK = 64
_IPAD = bytes(b ^ 0x36 for b in range(256))
_OPAD = bytes(b ^ 0x5C for b in range(256))


@dataclass(frozen=True, slots=True)
class AuditKeys:
    """The key new rows and checkpoints are sealed with, and every key that may have
    sealed an older one (`hub.audit_previous_keys`), by id."""

    current: AuditKey
    by_id: Mapping[str, AuditKey]

    @classmethod
    def of(cls, current: str | bytes, previous: Sequence[str | bytes] = ()) -> AuditKeys:
        keys = [AuditKey.of(current), *(AuditKey.of(p) for p in previous)]
        return cls(keys[0], {k.id: k for k in reversed(keys)})


def key_id_of(sealed: str) -> str | None:
    """The id of the key a row's hash (or a checkpoint's signature) names; None if plain."""
    if not sealed.startswith(KEYED):
        return None
    return sealed[len(KEYED) : len(KEYED) + _KEY_ID_CHARS]


def keys_from_settings(settings: Settings) -> AuditKeys | None:
    """The audit keys of resolved settings; None without `hub.audit_key`."""
    if settings.audit_key is None:
        return None
    return AuditKeys.of(
        _value(settings.audit_key), [_value(s) for s in settings.audit_previous_keys]
    )


def _value(secret: Secret) -> str:
    return secret.value


_KEYS: weakref.WeakKeyDictionary[Store, AuditKeys] = weakref.WeakKeyDictionary()
"""The keys each open store's appends are sealed with. Kept beside the store rather than
passed to `append`: every module that records an action appends, and none of them should
have to carry a key it never looks at."""


def use_keys(store: Store, keys: AuditKeys | None) -> None:
    """Seal this store's appends with `keys` from now on (None: plain hashes)."""
    if keys is None:
        _KEYS.pop(store, None)
    else:
        _KEYS[store] = keys


def keys_of(store: Store) -> AuditKeys | None:
    return _KEYS.get(store)


def check_appendable(store: Store) -> None:
    """Refuse (AuditKeyError) a store whose chains are keyed while this process has no
    key: its appends would fail, or, written plain, read as forged. A hub checks at
    start, so the mistake is one clear message instead of failing batches."""
    if keys_of(store) is not None:
        return
    with store.read() as conn:
        for chain in _chains(conn):
            tail = conn.execute(_HEAD, {"chain": chain}).one()
            if tail.hash.startswith(KEYED):
                raise AuditKeyError(
                    f"audit chain {chain} is keyed (its newest row, row {tail.seq}, carries"
                    f" an HMAC under key {key_id_of(tail.hash)}) and hub.audit_key is not"
                    " configured: give the key the chains were written with"
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
    key: AuditKey | None = None,
) -> str:
    """The hash of a row at `chain_seq` in `chain`, linked to `prev`; sealed with `key`
    when given.

    Plain chain 0 hashes what the single chain of earlier versions hashed (its rows had
    seq == chain_seq), so databases written before the chains existed still verify;
    other chains, and every keyed row, hash their chain too, so a row moved between
    chains no longer fits.
    """
    if key is not None:
        return key.seal(orjson.dumps([chain, chain_seq, at, actor, action, subject, detail, prev]))
    if chain == 0:
        material = orjson.dumps([chain_seq, at, actor, action, subject, detail, prev])
    else:
        material = orjson.dumps([chain, chain_seq, at, actor, action, subject, detail, prev])
    return hashlib.sha256(material).hexdigest()


def append(store: Store, conn: Connection, entries: list[AuditEntry]) -> None:
    """Append entries at the end of their chains, in the caller's transaction, sealed
    with the store's key (`use_keys`) if it has one.

    On PostgreSQL each chain is locked until the transaction ends, in ascending chain
    order so that two transactions appending to the same chains cannot deadlock; append
    once per transaction (or to ascending chains) to keep that true. Transactions on
    different chains do not wait for each other. SQLite has one writer at a time anyway.
    """
    if not entries:
        return
    key = keys.current if (keys := _KEYS.get(store)) is not None else None
    by_chain: dict[int, list[AuditEntry]] = {}
    for entry in entries:
        by_chain.setdefault(entry.chain, []).append(entry)
    at = iso(utcnow())
    rows = []
    chains = sorted(by_chain)
    if store.dialect == "postgresql":
        conn.execute(_LOCK_CHAINS, {"lock_class": _PG_AUDIT_LOCK, "chains": chains})
    tails = _tails(conn, chains)
    for chain in chains:
        position, prev = tails.get(chain, (0, GENESIS))
        if key is None and position and prev.startswith(KEYED):
            raise AuditKeyError(
                f"audit chain {chain} is keyed (its newest row, position {position}, carries"
                " an HMAC) and this process has no hub.audit_key: a plain row after it would"
                " read as forged"
            )
        for entry in by_chain[chain]:
            position += 1
            detail = orjson.dumps(entry.detail, option=orjson.OPT_SORT_KEYS).decode()
            digest = row_hash(
                chain, position, at, entry.actor, entry.action, entry.subject, detail, prev, key
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


def _tails(conn: Connection, chains: list[int]) -> dict[int, tuple[int, str]]:
    """(position, hash) of the newest row of each of `chains` that has rows."""
    bound = json_values(chains) if conn.dialect.name == "sqlite" else chains  # ints: never None
    return {
        row.chain: (row.chain_seq, row.hash)
        for row in conn.execute(_TAILS[conn.dialect.name], {"chains": bound})
    }


@dataclass(frozen=True, slots=True)
class ChainHead:
    """A chain's newest row."""

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
class Anchor:
    """What a checkpoint records of one chain: its newest row then, and where the chain
    became keyed (None: no keyed row yet)."""

    chain: int
    seq: int
    chain_seq: int
    hash: str
    at: str
    keyed_from: int | None


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """Every chain's anchor at `written_at`, as read back from a signed checkpoint."""

    written_at: str
    anchors: tuple[Anchor, ...]
    key_id: str = ""


def anchors(store: Store, known: Mapping[int, int] | None = None) -> list[Anchor]:
    """Each chain's anchor now: two index lookups per chain, and once per chain that
    became keyed, a search for its first keyed row (`known` gives those already found,
    by chain, so a checkpoint writer searches each chain once)."""
    found = []
    with store.read() as conn:
        for chain in _chains(conn):
            tail = conn.execute(_HEAD, {"chain": chain}).one()
            keyed_from: int | None = None
            if tail.hash.startswith(KEYED):  # plain rows never follow keyed ones
                keyed_from = (known or {}).get(chain)
                if keyed_from is None:
                    keyed_from = conn.execute(
                        select(func.min(audit.c.chain_seq)).where(
                            audit.c.chain == chain, audit.c.hash.startswith(KEYED)
                        )
                    ).scalar_one()
            found.append(Anchor(chain, tail.seq, tail.chain_seq, tail.hash, tail.at, keyed_from))
    return found


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing wrong, by chain and row (a deleted row is named by the seq it had)."""

    chain: int
    seq: int
    problem: str


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """What `verify` found. When the chains do not verify, `problem` says what happened
    to the row `seq` in chain `chain`: of the first bad rows of the `broken_chains`
    broken chains (a chain that lost rows the checkpoint recorded is broken at the
    newest of them), the one with the smallest seq."""

    rows: int
    chains: int
    ok: bool
    problem: str | None = None
    chain: int | None = None
    seq: int | None = None
    broken_chains: int = 0
    key_id: str | None = None
    """The key new rows are checked against (None: verified without a key)."""
    keyed_rows: int = 0
    plain_rows: int = 0
    """Rows of the chains walked up to their first bad row, keyed and plain."""
    against_checkpoint: tuple[Finding, ...] = ()
    """What the checkpoint (if one was given) shows that the walk cannot: each chain
    whose rows at or before the checkpointed head are gone or rewritten."""


def verify(
    store: Store,
    batch: int = 10_000,
    keys: AuditKeys | None = None,
    checkpoint: Checkpoint | None = None,
) -> VerifyReport:
    """Walk every chain in order and name the first row that was edited, inserted,
    deleted, moved or forged; then compare each chain with `checkpoint`, if given.

    `keys` (default: the store's, `use_keys`) check the keyed rows; without them a keyed
    row cannot be checked and is named. Within a chain, from its first row on:

    - edited: a row's hash does not match its content. If it matches the content at
      another place, the row was moved there: from another chain, or within its chain
      when rows before it were inserted or deleted and the rest renumbered;
    - deleted: the positions skip (or do not start at 1);
    - a row that fits but does not link to its predecessor: if its successor links to
      it, its predecessor was replaced (edited and re-hashed, or deleted and rewritten);
      otherwise the row itself was inserted;
    - forged: a plain row after a keyed one, or (with a checkpoint) after the row the
      checkpoint recorded; a keyed row naming a key that is not configured.

    Memory stays flat: rows are read a batch at a time, and only the current chain's
    last rows and each broken chain's first bad row are kept.
    """
    keys = keys if keys is not None else keys_of(store)
    anchored = {a.chain: a.chain_seq for a in checkpoint.anchors} if checkpoint else None
    rows = keyed = plain = 0
    chains: list[int] = []
    walks: list[_ChainWalk] = []
    with store.read() as conn:
        for chain in _chains(conn):
            chains.append(chain)
            sealed_after = anchored.get(chain, 0) if anchored is not None else None
            walk = _ChainWalk(chain, keys, sealed_after)
            for row in _chain_rows(conn, chain, batch):
                rows += 1
                walk.step(row)
            walk.finish()
            keyed, plain = keyed + walk.keyed, plain + walk.plain
            if walk.fault is not None:
                walks.append(walk)
        late = tuple(_against(conn, checkpoint)) if checkpoint is not None else ()
        found: list[tuple[int, int, str]] = []
        if walks:
            links = _rows_linked_from(conn, walks)
            found = [_explain(walk, chains, links, conn, keys) for walk in walks]
    found += [(f.seq, f.chain, f.problem) for f in late]
    report = VerifyReport(
        rows,
        len(chains),
        ok=not found,
        broken_chains=len({chain for _, chain, _ in found}),
        key_id=keys.current.id if keys is not None else None,
        keyed_rows=keyed,
        plain_rows=plain,
        against_checkpoint=late,
    )
    if not found:
        return report
    seq, chain, problem = min(found)
    return dataclasses.replace(report, problem=problem, chain=chain, seq=seq)


def differences(store: Store, checkpoint: Checkpoint) -> list[Finding]:
    """What the table no longer holds of `checkpoint`, by chain (see `_against`)."""
    with store.read() as conn:
        return list(_against(conn, checkpoint))


def _against(conn: Connection, checkpoint: Checkpoint) -> Iterator[Finding]:
    """Each chain the checkpoint recorded that no longer holds what it recorded: all its
    rows gone, its newest rows gone (truncated), the recorded row gone or different (the
    chain rewritten up to it), or its keyed rows turned plain. Two or three index
    lookups per chain; the rows between are the walk's business."""
    when = f"the checkpoint of {checkpoint.written_at}"
    for a in sorted(checkpoint.anchors, key=lambda a: a.chain):
        where = f"in chain {a.chain}, "
        tail = conn.execute(_HEAD, {"chain": a.chain}).first()
        if tail is None:
            yield Finding(
                a.chain,
                a.seq,
                f"{where}every row was deleted: {when} recorded {a.chain_seq} row(s),"
                f" the newest row {a.seq} (position {a.chain_seq})",
            )
            continue
        if tail.chain_seq < a.chain_seq:
            yield Finding(
                a.chain,
                a.seq,
                f"{where}the newest rows were deleted (truncated):"
                f" {_positions(tail.chain_seq + 1, a.chain_seq)} gone, up to row {a.seq}"
                f" that {when} recorded; the newest left is row {tail.seq} (position"
                f" {tail.chain_seq})",
            )
            continue
        row = conn.execute(_AT, {"chain": a.chain, "chain_seq": a.chain_seq}).first()
        if row is None:
            yield Finding(
                a.chain,
                a.seq,
                f"{where}row {a.seq} (position {a.chain_seq}), the newest when {when} was"
                " written, is gone",
            )
            continue
        if a.keyed_from is not None:
            first = conn.execute(_AT, {"chain": a.chain, "chain_seq": a.keyed_from}).first()
            if first is not None and not first.hash.startswith(KEYED):
                yield Finding(
                    a.chain,
                    first.seq,
                    f"{where}row {first.seq} (position {a.keyed_from}) carries no HMAC,"
                    f" while {when} recorded the chain keyed from there: its rows were"
                    " rewritten without the key",
                )
                continue
        if row.hash != a.hash:
            yield Finding(
                a.chain,
                row.seq,
                f"{where}row {row.seq} (position {a.chain_seq}) is not the row {when}"
                " recorded there (its hash differs): the chain was rewritten up to it, a"
                f" row at or before position {a.chain_seq} edited or replaced and every"
                " later hash recomputed",
            )


def _positions(first: int, last: int) -> str:
    return f"position {first} is" if first == last else f"positions {first}..{last} are"


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


def _fits(row: Any, chain: int, chain_seq: int, keys: AuditKeys | None) -> bool:
    """Whether the row's hash matches its content at position `chain_seq` of `chain`,
    under the key it names if it is keyed (never, when that key is not at hand)."""
    key: AuditKey | None = None
    if (key_id := key_id_of(row.hash)) is not None:
        key = keys.by_id.get(key_id) if keys is not None else None
        if key is None:
            return False
    digest = row_hash(
        chain,
        chain_seq,
        row.at,
        row.actor,
        row.action,
        row.subject,
        row.detail,
        row.prev_hash,
        key,
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
    - "unlinked": `suspect` is the chain's newest row, and nothing follows to decide;
    - "keyless": `row` is keyed and no key was given to check it;
    - "unknown key": `row` names a key that is not among those given;
    - "downgraded": `row` is plain, after the chain's first keyed row `keyed_since`;
    - "unsealed": `row` is plain, after the position a checkpoint recorded
      (`sealed_after`): every row written since a checkpoint was signed is keyed.
    """

    chain: int
    keys: AuditKeys | None = None
    sealed_after: int | None = None
    last: Any = None
    suspect: Any = None
    fault: str | None = None
    row: Any = None
    keyed_since: Any = None
    keyed: int = 0
    plain: int = 0
    """The rows that fit, up to the first bad one, keyed and plain."""

    def step(self, row: Any) -> None:
        if self.fault is not None:
            return
        if self.suspect is not None:
            if row.prev_hash != self.suspect.hash:
                self.fault = "inserted"
            else:
                self.fault = "replaced" if self.last is not None else "headless"
            return
        key_id = key_id_of(row.hash)
        if key_id is not None and (self.keys is None or key_id not in self.keys.by_id):
            self.fault, self.row = ("keyless" if self.keys is None else "unknown key"), row
        elif key_id is None and self.keyed_since is not None:
            self.fault, self.row = "downgraded", row
        elif (
            key_id is None
            and self.sealed_after is not None
            and self.keys is not None
            and row.chain_seq > self.sealed_after
        ):
            self.fault, self.row = "unsealed", row
        elif not _fits(row, self.chain, row.chain_seq, self.keys):
            self.fault, self.row = "mismatch", row
        elif row.chain_seq != (self.last.chain_seq if self.last is not None else 0) + 1:
            self.fault, self.row = "gap", row
        elif row.prev_hash != (self.last.hash if self.last is not None else GENESIS):
            self.suspect = row
        else:
            self.last = row
            if key_id is None:
                self.plain += 1
            else:
                self.keyed += 1
                self.keyed_since = self.keyed_since or row

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
    walk: _ChainWalk,
    chains: list[int],
    links: _Links,
    conn: Connection,
    keys: AuditKeys | None,
) -> tuple[int, int, str]:
    """(seq, chain, what happened) for a broken chain's first bad row."""
    chain, last, suspect, row = walk.chain, walk.last, walk.suspect, walk.row
    where = f"in chain {chain}, "
    if walk.fault == "gap":
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
    if walk.fault == "keyless":
        return (
            row.seq,
            chain,
            f"{where}row {row.seq} (position {row.chain_seq}) is keyed (key"
            f" {key_id_of(row.hash)}) and no hub.audit_key is configured to check it",
        )
    if walk.fault == "unknown key":
        return (
            row.seq,
            chain,
            f"{where}row {row.seq} (position {row.chain_seq}) names audit key"
            f" {key_id_of(row.hash)}, which is neither hub.audit_key nor one of"
            " hub.audit_previous_keys: it was forged, or a retired key is missing",
        )
    if walk.fault == "downgraded":
        since = walk.keyed_since
        return (
            row.seq,
            chain,
            f"{where}row {row.seq} (position {row.chain_seq}) carries no HMAC, while the"
            f" chain is keyed from row {since.seq} (position {since.chain_seq}) on: it was"
            " forged (its hash computed without the key) or rewritten",
        )
    if walk.fault == "unsealed":
        return (
            row.seq,
            chain,
            f"{where}row {row.seq} (position {row.chain_seq}) carries no HMAC, though it"
            f" comes after position {walk.sealed_after}, the newest the checkpoint"
            " recorded, and every row since is keyed: it was forged, or written by a"
            " process without hub.audit_key",
        )
    return _explain_mismatch(row, chains, links, conn, keys)


def _explain_mismatch(
    row: Any, chains: list[int], links: _Links, conn: Connection, keys: AuditKeys | None
) -> tuple[int, int, str]:
    """Name a row whose hash does not match its content: moved, renumbered, edited or
    (keyed) forged.

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
        if (origin, written_at) == (chain, position) or not _fits(row, origin, written_at, keys):
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
        if _fits(row, chain, written_at, keys):
            return (
                row.seq,
                chain,
                f"{where}rows before row {row.seq} were deleted and it was renumbered"
                f" from position {written_at} to {position}",
            )
    if key_id_of(row.hash) is not None:
        return (
            row.seq,
            chain,
            f"{where}row {row.seq} was edited or forged: its HMAC does not match its"
            f" content under key {key_id_of(row.hash)} (position {position})",
        )
    return (
        row.seq,
        chain,
        f"{where}row {row.seq} was edited: its hash does not match its content"
        f" (position {position})",
    )
