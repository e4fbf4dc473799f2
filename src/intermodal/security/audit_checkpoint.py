"""Signed checkpoints of the audit chains' newest rows, kept outside the database.

A keyed chain shows every row edited, inserted or forged, but not its own end: whoever
can delete rows can delete a chain's newest ones, or all of them, and what is left still
links up. The checkpoint is that end, written down elsewhere: each chain's newest row
(chain, seq, position, hash, time) and where it became keyed, signed with the audit key
(HMAC-SHA256, like the rows), so that someone who can write the file but lacks the key
cannot make it agree with a shortened chain. `intermodal audit verify` compares the
table with the newest checkpoint (`audit.verify(checkpoint=...)`).

Who writes it: the leader (the node holding the `leader` lease, hub.py), every
`hub.audit_checkpoint_seconds` and when it stops, to `hub.audit_checkpoint` (0600,
written beside and renamed over the last one, so a reader never sees half of one), and
the same document into its log as the `audit_checkpoint` field of a line, so a log
shipped off the machine keeps copies the file's neighbours cannot reach. Several nodes
may share one file on shared storage or each keep their own: every checkpoint anchors
positions that can only grow, so an older one still anchors what it recorded.

A writer never overwrites evidence: when the table no longer holds what the last
checkpoint recorded, or the file there is not a checkpoint signed with a known key, it
keeps the file as it is and logs an error until an operator looks (`audit verify`).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from intermodal.engine.ids import iso, utcnow
from intermodal.errors import IntermodalError
from intermodal.security.audit import (
    Anchor,
    AuditKey,
    AuditKeys,
    Checkpoint,
    Finding,
    anchors,
    differences,
    key_id_of,
)
from intermodal.security.secrets import write_secret_file
from intermodal.store import Store

log = logging.getLogger(__name__)

FORMAT = "intermodal-audit-checkpoint/1"
_SIGNED = b"intermodal audit checkpoint\n"
"""Put before the signed bytes, so a checkpoint's signature can never pass for a row's."""
MAX_BYTES = 16 * 1024 * 1024
"""A checkpoint of 4096 chains is under 1 MiB; anything much larger is not one."""


class CheckpointInvalid(IntermodalError):
    """The file at the checkpoint's place is not a checkpoint signed with a known key."""

    code = "audit_checkpoint_invalid"

    def __init__(self, path: Path, why: str) -> None:
        self.path = str(path)
        super().__init__(f"audit checkpoint {path}: {why}")


class _Chain(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    chain: int = Field(ge=0)
    seq: int
    chain_seq: int = Field(ge=1)
    hash: str
    at: str
    keyed_from: int | None


class _Document(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    format: str
    written_at: str
    chains: list[_Chain]


def document(checkpoint: Checkpoint, key: AuditKey) -> dict[str, Any]:
    """The checkpoint as written: its body, and the body's signature under `key`."""
    body: dict[str, Any] = {
        "format": FORMAT,
        "written_at": checkpoint.written_at,
        "chains": [
            {
                "chain": a.chain,
                "seq": a.seq,
                "chain_seq": a.chain_seq,
                "hash": a.hash,
                "at": a.at,
                "keyed_from": a.keyed_from,
            }
            for a in checkpoint.anchors
        ],
    }
    return {**body, "signature": _sign(body, key)}


def _sign(body: dict[str, Any], key: AuditKey) -> str:
    return key.seal(_SIGNED + orjson.dumps(body, option=orjson.OPT_SORT_KEYS))


def read_checkpoint(path: Path, keys: AuditKeys) -> Checkpoint | None:
    """The checkpoint at `path`; None when there is no file; CheckpointInvalid when the
    file is not one, or its signature does not match its content under the key it names.

    The file may also be a log line of the hub's (one JSON object carrying the checkpoint
    as its `audit_checkpoint` field), as copied from a log kept elsewhere.
    """
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_BYTES + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CheckpointInvalid(path, f"cannot be read: {exc.strerror}") from None
    if len(raw) > MAX_BYTES:
        raise CheckpointInvalid(path, f"larger than {MAX_BYTES} bytes: not a checkpoint")
    try:
        found = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise CheckpointInvalid(path, "not JSON") from None
    if isinstance(found, dict) and isinstance(found.get("audit_checkpoint"), dict):
        found = found["audit_checkpoint"]  # a log line that carries one
    if not isinstance(found, dict) or not isinstance(found.get("signature"), str):
        raise CheckpointInvalid(path, "no signature: not a checkpoint")
    body = {k: v for k, v in found.items() if k != "signature"}
    signature: str = found["signature"]
    key_id = key_id_of(signature)
    key = keys.by_id.get(key_id) if key_id is not None else None
    if key is None:
        raise CheckpointInvalid(
            path,
            f"signed with key {key_id}, which is neither hub.audit_key nor one of"
            " hub.audit_previous_keys: forged, or a retired key is missing",
        )
    if not hmac.compare_digest(_sign(body, key).encode(), signature.encode()):
        raise CheckpointInvalid(
            path, "its signature does not match its content: the file was forged or edited"
        )
    try:
        parsed = _Document.model_validate(body)
    except ValidationError as exc:  # signed, yet not this format: a future version's
        problem = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in problem["loc"])
        raise CheckpointInvalid(path, f"{where}: {problem['msg']}") from None
    if parsed.format != FORMAT:
        raise CheckpointInvalid(path, f"format {parsed.format!r}: this hub reads {FORMAT}")
    return Checkpoint(
        parsed.written_at,
        tuple(
            Anchor(c.chain, c.seq, c.chain_seq, c.hash, c.at, c.keyed_from) for c in parsed.chains
        ),
        key.id,
    )


def write_checkpoint(path: Path, checkpoint: Checkpoint, key: AuditKey) -> dict[str, Any]:
    """Write the signed checkpoint to `path` (0600; a new file renamed over the old one)
    and return the document written."""
    written = document(checkpoint, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = orjson.dumps(written, option=orjson.OPT_INDENT_2).decode()
    write_secret_file(path, text, overwrite=True)
    return written


class CheckpointWriter:
    """Writes the checkpoint of one store's chains, on a schedule (`run`, the leader's)
    and on demand (`write`, at shutdown and from `intermodal audit checkpoint`)."""

    def __init__(self, store: Store, keys: AuditKeys, path: Path, every_seconds: float) -> None:
        self.store = store
        self.keys = keys
        self.path = path
        self.every_seconds = every_seconds
        self._keyed_from: dict[int, int] = {}
        """Where each chain became keyed, once found: it never moves."""

    def write(self) -> Checkpoint:
        """Check the table against the last checkpoint, then write the new one.

        Raises CheckpointInvalid when the last one cannot be trusted and
        CheckpointRefused when the table lost what it recorded: both leave the file as
        it is, as evidence. The new heads are read after the last checkpoint, so rows
        appended meanwhile only make them newer.
        """
        previous = read_checkpoint(self.path, self.keys)
        if previous is not None:
            lost = differences(self.store, previous)
            if lost:
                raise CheckpointRefused(self.path, lost)
            for a in previous.anchors:
                if a.keyed_from is not None:
                    self._keyed_from.setdefault(a.chain, a.keyed_from)
        found = anchors(self.store, self._keyed_from)
        for a in found:
            if a.keyed_from is not None:
                self._keyed_from[a.chain] = a.keyed_from
        checkpoint = Checkpoint(iso(utcnow()), tuple(found), self.keys.current.id)
        written = write_checkpoint(self.path, checkpoint, self.keys.current)
        log.info(
            "audit checkpoint: %d chain(s) anchored in %s",
            len(found),
            self.path,
            extra={"audit_checkpoint": written},
        )
        return checkpoint

    def write_logged(self) -> Checkpoint | None:
        """`write`, its refusals and failures logged instead of raised: the hub goes on
        applying whatever becomes of the checkpoint."""
        try:
            return self.write()
        except (CheckpointInvalid, CheckpointRefused) as exc:
            log.error("%s; not overwritten: run `intermodal audit verify`", exc)
        except Exception:  # a full disk, the store down: try again next round
            log.exception("audit checkpoint %s not written; trying again later", self.path)
        return None

    async def run(self) -> None:
        """Write a checkpoint now and every `every_seconds`, until cancelled."""
        while True:
            await asyncio.to_thread(self.write_logged)
            await asyncio.sleep(self.every_seconds)


class CheckpointRefused(IntermodalError):
    """The table no longer holds what the last checkpoint recorded."""

    code = "audit_checkpoint_refused"

    def __init__(self, path: Path, lost: list[Finding]) -> None:
        self.path = str(path)
        self.chains = [f.chain for f in lost]
        super().__init__(
            f"the audit table no longer holds what checkpoint {path} recorded: {lost[0].problem}"
            + (f" (and {len(lost) - 1} more chain(s))" if len(lost) > 1 else "")
        )
