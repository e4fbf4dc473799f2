"""time-ordered meaning keys: an event's meaning key becomes `mk_` + its time in
milliseconds (12 hex digits) + the hash it had, so the unique index on the keys grows at
its end instead of taking a random page per event (engine/applier.py, `meaning_key`).

Existing keys are rewritten from each row's `time` (the ISO text the applier stored, the
same instant the key is computed from), so an event re-sent after the upgrade under a new
id still meets its first copy. The hash part is unchanged: a key maps to exactly one new
key, and the unique index stays unique throughout. Rows are rewritten in chunks of 5,000
by `seq`; a key that is not the old form (`mk_` + 32 hex digits) is left as it is.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05 19:00:00
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

_CHUNK = 5000
_OLD_LENGTH = 3 + 32
_NEW_LENGTH = 3 + 12 + 32
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)
_HEX = frozenset("0123456789abcdef")


def _millis(stored: str) -> int | None:
    """The stored time's whole milliseconds since 1970 (0 before it), as
    `ids.epoch_millis` computes them from the event's time; None if it does not parse."""
    try:
        value = datetime.fromisoformat(stored)
    except (TypeError, ValueError):
        return None
    if value.tzinfo is None:  # stored times are UTC with a Z; a bare one is read as UTC
        value = value.replace(tzinfo=UTC)
    return max(0, (value - _EPOCH) // _MILLISECOND)


def _rewrite(new_key: Callable[[str, str], str | None]) -> None:
    bind = op.get_bind()
    after = -1
    while True:
        rows = bind.execute(
            sa.text(
                "SELECT seq, time, meaning_key FROM events WHERE seq > :after"
                " ORDER BY seq LIMIT :chunk"
            ),
            {"after": after, "chunk": _CHUNK},
        ).all()
        if not rows:
            return
        after = rows[-1].seq
        changes = []
        for row in rows:
            key = new_key(row.time, row.meaning_key)
            if key is not None and key != row.meaning_key:
                changes.append({"b_seq": row.seq, "b_key": key})
        if changes:
            bind.execute(
                sa.text("UPDATE events SET meaning_key = :b_key WHERE seq = :b_seq"), changes
            )


def _ordered(time: str, key: str) -> str | None:
    if len(key) != _OLD_LENGTH or not key.startswith("mk_") or not _HEX.issuperset(key[3:]):
        return None
    millis = _millis(time)
    return None if millis is None else f"mk_{millis:012x}{key[3:]}"


def _hashed(_time: str, key: str) -> str | None:
    if len(key) != _NEW_LENGTH or not key.startswith("mk_") or not _HEX.issuperset(key[3:]):
        return None
    return f"mk_{key[15:]}"


def upgrade() -> None:
    _rewrite(_ordered)


def downgrade() -> None:
    _rewrite(_hashed)
