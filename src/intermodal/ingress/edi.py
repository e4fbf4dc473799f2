"""EDI intake: X12 and EDIFACT documents over HTTP or a watched folder, into the inbox.

`POST /v1/edi/{partner}` (bearer token with `events:write`, or a Standard Webhooks
signature) and each partner's `edi.inbox_folder` go through the same `EdiIntake.receive`:

1. The document is parsed in the request with the partner's mode (reject or warn), so a
   broken envelope is answered 400 (not EDI) or 422 (envelope), naming segment and
   element; nothing is stored.
2. Each interchange becomes one inbox message (channel `edi`, raw bytes as received),
   keyed by its sender and control number (`interchange_key`): a resent interchange is
   stored once. Before the commit the stored interchanges of that sender with that
   number are read (`plan_interchange`): the same bytes are a duplicate; different bytes
   are a conflict (409, nothing stored) unless the partner's `edi.control_numbers`
   policy lets an old enough number be used again, when it is stored under a key of its
   own.
3. The 997 / CONTRL for each stored interchange is written to the outbox, addressed
   to the partner's `edi.ack_endpoint`. It is written at intake, not with the applied
   events: a functional acknowledgement answers the envelope and syntax, which are known
   here, and a mapping problem later (quarantine) is ours to fix, not the partner's to
   resend. It is written after the inbox commit and before the answer, with a command id
   derived from the interchange; if the process dies in between, the partner (or the
   folder watcher) gets no answer and sends again, and the duplicate's pass writes the
   missing acknowledgement: never none, never two.

Once an interchange is durable the answer is 2xx whatever happens next: an
acknowledgement that cannot be built or written is logged and named in the answer
(`acknowledgements_not_written`), and a resend writes it when it then can. A 4xx after
the commit would tell the partner to fix and resend what the hub has already applied.

The folder watcher moves a file to `processed/` once its interchanges are durable in the
inbox, or to `rejected/` (with a `.error.txt` beside it) when it is not EDI the partner's
mode accepts or every new interchange in it conflicts; a store outage leaves the file
where it is for the next pass.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import Connection, select

from intermodal.api.errors import ApiError
from intermodal.api.http import (
    NO_PARTNER_KEYS,
    authenticate_partner,
    correlation_id,
    read_body,
    store_unavailable,
)
from intermodal.config import Partner, Settings
from intermodal.edi import edifact, x12
from intermodal.edi.control import ControlNumbers
from intermodal.edi.errors import EdiError, EdiSyntaxError
from intermodal.engine.ids import iso, sortable_id, stable_id, utcnow
from intermodal.engine.inbox import InboxMessage, Receipt
from intermodal.outbox.command import OutboundCommand, enqueue
from intermodal.store import Store
from intermodal.store.store import rows_in
from intermodal.store.tables import inbox, outbox

if TYPE_CHECKING:
    from intermodal.hub import Hub

log = logging.getLogger(__name__)

CONTENT_TYPES = {"x12": "application/edi-x12", "edifact": "application/edifact"}
ACCEPTED_MEDIA = frozenset({"application/edi-x12", "application/edifact", "text/plain"})
ACK_KIND = "edi.ack"

Submit = Callable[[list[InboxMessage]], Awaitable[list[Receipt]]]


@dataclass(frozen=True, slots=True)
class InterchangeKey:
    """What makes two interchanges the same one: who sent it, and its control number.

    A control number is unique only per sender (ISA13 per ISA05/ISA06, UNB05 per UNB
    S002), so two senders behind one partner may both use 000000214; `message_id` names
    both. `legacy_id` is the key inbox rows had before the sender was part of it
    (`ISA:<ISA13>`, `UNB:<UNB05>`), looked up so that a resend of an interchange stored
    then is still answered as its duplicate.
    """

    message_id: str
    legacy_id: str
    sender: str
    """The sender as a person reads it in an answer: `ZZ:RIDGELINE`, `5790000000001:14`."""
    control_number: str


@dataclass(frozen=True, slots=True)
class Piece:
    """One interchange of a received document: its key, raw bytes and parsed form."""

    key: InterchangeKey
    raw: bytes
    interchange: Any
    sets: int

    @property
    def control_number(self) -> str:
        return self.key.control_number


def _starts(text: str, tag: str, terminators: list[str]) -> list[int]:
    """Offsets where segment `tag` begins: at the start or right after a terminator."""
    found, pos = [], 0
    while (at := text.find(tag, pos)) != -1:
        before = text[:at].rstrip(" \t\r\n\ufeff")
        if not before or before[-1] in terminators:
            found.append(at)
        pos = at + len(tag)
    return found


def split_document(partner: Partner, body: bytes) -> tuple[list[Piece], list[dict[str, Any]]]:
    """Parse `body` in the partner's format and mode; one Piece per interchange.

    Each piece is the interchange's own bytes, cut from the document where the next one
    starts, and checked by parsing it alone; if a cut ever disagrees with the whole-file
    parse (a terminator inside an escaped value), the interchange is written back out from
    its parsed form instead, which the codecs round-trip exactly.
    """
    assert partner.edi is not None
    mode = partner.edi.mode
    text = body.decode("latin-1")  # one char per byte: offsets are byte offsets
    if partner.edi.format == "x12":
        xdoc = x12.parse_x12(body, mode, partner=partner.name)
        interchanges: list[Any] = list(xdoc.interchanges)
        warnings = [w.to_dict() for w in xdoc.warnings]
        terminators = [ic.delimiters.segment for ic in xdoc.interchanges]
        starts = _starts(text, "ISA", terminators)
    else:
        edoc = edifact.parse_edifact(
            body, mode, partner=partner.name, envelope=partner.edi.envelope
        )
        interchanges = list(edoc.interchanges)
        warnings = [w.to_dict() for w in edoc.warnings]
        terminators = [ic.separators.segment for ic in edoc.interchanges]
        starts = [0] if interchanges and interchanges[0].bare else []  # bare ones lead
        for at in _starts(text, "UNB", terminators):
            before = text[:at].rstrip(" \t\r\n")
            una = len(before) - 9  # "UNA" + six service characters, right before the UNB
            starts.append(una if una >= 0 and before[una:].startswith("UNA") else at)
    if not interchanges:
        raise EdiSyntaxError("syntax", "the document holds no interchange")
    pieces = []
    cuts = [*starts, len(body)] if len(starts) == len(interchanges) else None
    for index, ic in enumerate(interchanges):
        raw = body if len(interchanges) == 1 else b""
        if not raw and cuts is not None:
            raw = body[(0 if index == 0 else cuts[index]) : cuts[index + 1]]
        raw = _checked(partner, raw, ic)
        if isinstance(ic, x12.Interchange):
            sets = sum(len(g.transactions) for g in ic.groups)
        else:
            sets = sum(1 for _ in ic.messages())
        pieces.append(Piece(interchange_key(ic), raw, ic, sets))
    return pieces, warnings


def _checked(partner: Partner, raw: bytes, ic: Any) -> bytes:
    assert partner.edi is not None
    try:
        if isinstance(ic, x12.Interchange):
            if raw:
                alone = x12.parse_x12(raw, partner.edi.mode).interchanges
                if len(alone) == 1 and alone[0].control_number == ic.control_number:
                    return raw
            return x12.generate_x12(ic)
        if raw:
            found = edifact.parse_edifact(
                raw, partner.edi.mode, partner=partner.name, envelope=partner.edi.envelope
            ).interchanges
            if len(found) == 1 and found[0].control_reference == ic.control_reference:
                return raw
        return edifact.generate_edifact(ic)
    except EdiError:
        return (
            x12.generate_x12(ic)
            if isinstance(ic, x12.Interchange)
            else edifact.generate_edifact(ic)
        )


# -- inbox keys ---------------------------------------------------------------------------------
# Anything that could read as a separator in a key (':', '+', '~', '%') or is not plain
# ASCII is written %XX, so distinct envelopes never share a key.
_KEY_UNSAFE = re.compile(r"[^A-Za-z0-9 ._/()&@,-]")
_MAX_KEY = 200
"""inbox.message_id holds 256 characters; a longer key is hashed, leaving room for the
`~<n>` of a reused control number."""


def _escape(match: re.Match[str]) -> str:
    return "".join(f"%{byte:02X}" for byte in match.group().encode())


def _key_part(value: str) -> str:
    """One component of a key, trimmed of any whitespace at either end: a wrapped ISA
    and the same ISA unwrapped are one interchange."""
    value = value.strip()
    return value if _KEY_UNSAFE.search(value) is None else _KEY_UNSAFE.sub(_escape, value)


def interchange_key(ic: x12.Interchange | edifact.Interchange) -> InterchangeKey:
    """The inbox key of an interchange: `ISA:<ISA05>:<ISA06>:<ISA13>`, or
    `UNB:<S002 id>:<S002 qualifier>:<UNB05>` (each in its standard's order).

    Several companies may send under one ISA id (a service bureau's or a VAN mailbox's),
    each from its own translator and counter; when a group's GS02 names someone other
    than ISA06, the GS02s join the key (`ISA:ZZ:BUREAU:ACME:000000214`).
    """
    if isinstance(ic, x12.Interchange):
        tag, control = "ISA", ic.control_number
        qualifier, sender = ic.sender_qualifier.strip(), ic.sender.strip()
        applications = sorted({g.sender.strip() for g in ic.groups} - {sender})
        parts = [qualifier, sender]
        shown = f"{qualifier}:{sender}"
        if applications:
            parts.append("+".join(_key_part(a) for a in applications))
            shown += f" (GS02 {', '.join(applications)})"
    else:
        tag, control = "UNB", ic.control_reference
        sender, qualifier = ic.header.value(2, 1).strip(), ic.header.value(2, 2).strip()
        parts = [sender, qualifier]
        shown = f"{sender}:{qualifier}" if qualifier else sender
    key = ":".join([tag, *(_key_part(p) for p in parts), _key_part(control)])
    if len(key) > _MAX_KEY:
        key = f"{tag}:sha256:{hashlib.sha256(key.encode()).hexdigest()}"
    return InterchangeKey(key, f"{tag}:{control}", shown, control.strip())


def _reused_key(key: str, generation: int) -> str:
    """The key of the `generation`th interchange (2, 3, ...) with one control number."""
    return f"{key}~{generation}"


# -- what to do with each interchange --------------------------------------------------------
@dataclass(frozen=True, slots=True)
class StoredInterchange:
    """An inbox row with the same sender and control number as a received interchange."""

    message_id: str
    receipt_id: str
    received_at: str
    same_body: bool
    generation: int
    """1 for the first key, n for `<key>~n`, 0 for a row under the legacy key."""


@dataclass(frozen=True, slots=True)
class ReusePolicy:
    """A partner's `edi.control_numbers`: None rejects any reuse; else the age (seconds)
    the latest interchange with a number must have reached before it is used again."""

    after_seconds: float | None

    @classmethod
    def of(cls, partner: Partner) -> ReusePolicy:
        assert partner.edi is not None
        if partner.edi.control_numbers == "reuse_after":
            return cls(partner.edi.control_number_reuse_after)
        return cls(None)


@dataclass(frozen=True, slots=True)
class Plan:
    """The decision for one interchange before the commit: `store` it under
    `message_id`, answer it as the `duplicate` of a stored row, or refuse it (`conflict`)."""

    action: Literal["store", "duplicate", "conflict"]
    message_id: str
    earlier: StoredInterchange | None = None
    reused: bool = False
    reason: str = ""


def plan_interchange(
    key: InterchangeKey, stored: Sequence[StoredInterchange], policy: ReusePolicy, now: datetime
) -> Plan:
    """What to do with an interchange, given the stored ones of its sender and number.

    The same bytes as any of them is that one's duplicate. Different bytes are a new
    interchange only when nothing holds the number, or when the policy allows reuse and
    the latest holder is older than its age; then it takes the next free key.
    """
    for row in stored:
        if row.same_body:
            return Plan("duplicate", row.message_id, row)
    if not stored:
        return Plan("store", key.message_id)
    latest = max(stored, key=lambda row: (row.received_at, row.generation))
    used = (
        f"control number {key.control_number} of sender {key.sender} was already used"
        f" for a different interchange (receipt {latest.receipt_id}, received"
        f" {latest.received_at})"
    )
    if policy.after_seconds is None:
        return Plan(
            "conflict",
            key.message_id,
            latest,
            reason=f"{used}; this partner does not reuse control numbers"
            " (edi.control_numbers: reject)",
        )
    age = now - datetime.fromisoformat(latest.received_at)
    if age < timedelta(seconds=policy.after_seconds):
        return Plan(
            "conflict",
            key.message_id,
            latest,
            reason=f"{used}, {_span(age.total_seconds())} ago; this partner may reuse a"
            f" number after {_span(policy.after_seconds)}"
            " (edi.control_number_reuse_after)",
        )
    generation = max(row.generation for row in stored) + 1
    message_id = key.message_id if generation <= 1 else _reused_key(key.message_id, generation)
    return Plan("store", message_id, latest, reused=True)


def _span(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.4g}{unit}"
    return f"{seconds:.3g}s"


def _stored_rows(
    conn: Connection, partner: str, names: dict[str, int], raw: bytes
) -> list[StoredInterchange]:
    """The rows among `names` (key -> generation), each compared with `raw` by the
    database, so no stored body travels unless its sender must be read."""
    query = select(
        inbox.c.message_id,
        inbox.c.receipt_id,
        inbox.c.received_at,
        (inbox.c.body == raw).label("same_body"),
    ).where(inbox.c.partner == partner, inbox.c.message_id.in_(list(names)))
    return [
        StoredInterchange(
            r.message_id, r.receipt_id, r.received_at, bool(r.same_body), names[r.message_id]
        )
        for r in conn.execute(query)
    ]


def stored_interchanges(
    conn: Connection, partner: Partner, piece: Piece
) -> list[StoredInterchange]:
    """Every stored interchange of the piece's sender with its control number.

    The reused ones (`<key>~2`, `~3`, ...) are numbered without gaps, so they are read in
    growing windows until one is not full. A row under the legacy key counts when its own
    sender is the piece's (read from its body: two senders' interchanges shared that key).
    """
    key = piece.key
    names = {key.message_id: 1}
    if key.legacy_id != key.message_id:
        names[key.legacy_id] = 0
    found = _stored_rows(conn, partner.name, names, piece.raw)
    legacy = [row for row in found if row.generation == 0 and not row.same_body]
    if legacy and not _same_sender(conn, partner, legacy[0].message_id, key):
        found.remove(legacy[0])
    if any(row.generation == 1 for row in found):
        start, size = 2, 8
        while True:
            window = {_reused_key(key.message_id, n): n for n in range(start, start + size)}
            more = _stored_rows(conn, partner.name, window, piece.raw)
            found += more
            if len(more) < size:
                break
            start, size = start + size, size * 2
    return found


def _same_sender(conn: Connection, partner: Partner, message_id: str, key: InterchangeKey) -> bool:
    """Whether the interchange stored under `message_id` came from `key`'s sender; one
    that no longer parses counts as the same sender (a 409 loses nothing)."""
    assert partner.edi is not None
    body = conn.execute(
        select(inbox.c.body).where(
            inbox.c.partner == partner.name, inbox.c.message_id == message_id
        )
    ).scalar_one()
    try:
        if partner.edi.format == "x12":
            found: list[Any] = list(x12.parse_x12(bytes(body), "warn").interchanges)
        else:
            found = list(edifact.parse_edifact(bytes(body), "warn").interchanges)
    except EdiError:
        return True
    return len(found) != 1 or interchange_key(found[0]).message_id == key.message_id


# -- acknowledgements --------------------------------------------------------------------------
class _InTransaction:
    """Control numbers taken in the caller's transaction, so an ack that is not written
    does not use one up."""

    def __init__(self, numbers: ControlNumbers, conn: Connection) -> None:
        self.numbers, self.conn = numbers, conn

    def next(self, partner: str, kind: str) -> int:
        return self.numbers.next(partner, kind, self.conn)


def acknowledgement(partner: Partner, piece: Piece, control: _InTransaction) -> bytes | None:
    """The 997 (X12) or CONTRL (EDIFACT) answering one interchange, as bytes to send."""
    ic = piece.interchange
    if isinstance(ic, x12.Interchange):
        answers = x12.acknowledge(x12.X12Document([ic]), control=control, partner=partner.name)
        return x12.generate_x12(answers) if answers else None
    replies = edifact.acknowledge(
        edifact.EdifactDocument([ic]), control=control, partner=partner.name
    )
    return edifact.generate_edifact(replies) if replies else None


_STORE_FAILED = (
    "the store could not take the acknowledgement; send the document again to have it written"
)


def _why_not_written(exc: Exception) -> tuple[str, str]:
    """What the partner reads and what the log says about an acknowledgement not written.

    The log gets the error's kind and element only: an EdiError's message quotes the
    received value, and a database error's its statement's parameters (our payload).
    """
    if isinstance(exc, EdiError):
        where = exc.where.element or exc.where.segment_tag or "-"
        return str(exc), f"{type(exc).__name__} {exc.code} at {where}"
    return _STORE_FAILED, type(exc).__name__


@dataclass(slots=True)
class Outcome:
    """One interchange's fate: its plan, then its receipt and acknowledgement."""

    piece: Piece
    plan: Plan
    receipt: Receipt | None = None
    ack_problem: str | None = None

    @property
    def status(self) -> Literal["accepted", "duplicate", "conflict"]:
        if self.plan.action == "conflict":
            return "conflict"
        if self.plan.action == "duplicate":
            return "duplicate"
        return "accepted"

    def to_dict(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "control_number": self.piece.control_number,
            "sender": self.piece.key.sender,
            "receipt_id": self.receipt.receipt_id if self.receipt else None,
            "status": self.status,
            "sets": self.piece.sets,
        }
        if self.plan.reused:
            entry["reused_control_number"] = True
        if self.status == "conflict":
            assert self.plan.earlier is not None
            entry["earlier_receipt_id"] = self.plan.earlier.receipt_id
            entry["reason"] = self.plan.reason
        return entry


@dataclass
class IntakeResult:
    """What the hub did with a document; `status_code` is the one rule HTTP and the
    folder watcher share.

    409 only when nothing new was stored and something was refused: the partner must
    change what it sends. Once any interchange is stored the answer is 202 and lists the
    refused ones: a 4xx would read as "nothing taken" to the partner's gateway, which
    would resend (or give up on) interchanges the hub has already applied.
    """

    outcomes: list[Outcome] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    acknowledgements: int = 0

    @property
    def interchanges(self) -> list[dict[str, Any]]:
        return [o.to_dict() for o in self.outcomes]

    @property
    def conflicts(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "conflict"]

    @property
    def all_duplicates(self) -> bool:
        return all(o.status == "duplicate" for o in self.outcomes)

    @property
    def refused(self) -> bool:
        return bool(self.conflicts) and not any(o.status == "accepted" for o in self.outcomes)

    @property
    def status_code(self) -> int:
        return 409 if self.refused else 200 if self.all_duplicates else 202

    @property
    def not_acknowledged(self) -> list[dict[str, Any]]:
        return [
            {
                "control_number": o.piece.control_number,
                "sender": o.piece.key.sender,
                "receipt_id": o.receipt.receipt_id if o.receipt else None,
                "reason": o.ack_problem,
            }
            for o in self.outcomes
            if o.ack_problem is not None
        ]

    def conflict_message(self) -> str:
        refused = self.conflicts
        if len(refused) == 1:
            return f"nothing was stored: {refused[0].plan.reason}"
        listed = ", ".join(f"{o.piece.control_number} ({o.piece.key.sender})" for o in refused)
        return (
            f"nothing was stored: {len(refused)} interchanges use control numbers their"
            f" senders already used for different interchanges: {listed}"
        )


class EdiIntake:
    """Receives a partner's EDI document: split, store durably, acknowledge."""

    def __init__(self, settings: Settings, store: Store, submit: Submit) -> None:
        self.settings = settings
        self.store = store
        self.submit = submit
        self.numbers = ControlNumbers(store)

    async def receive(self, partner: Partner, body: bytes, correlation: str) -> IntakeResult:
        """Raises EdiError (nothing stored) or the store's error (retry later); after the
        inbox commit it raises nothing."""
        assert partner.edi is not None
        pieces, warnings = split_document(partner, body)
        plans = await asyncio.to_thread(self._plan, partner, pieces)
        result = IntakeResult([Outcome(p, plan) for p, plan in zip(pieces, plans, strict=True)])
        result.warnings = warnings
        await self._store(partner, result.outcomes, correlation)
        if partner.edi.ack and partner.edi.ack_endpoint:
            to_ack = [o for o in result.outcomes if o.status != "conflict"]
            if to_ack:
                result.acknowledgements = await self._acknowledge(partner, to_ack, correlation)
        return result

    def _plan(self, partner: Partner, pieces: list[Piece]) -> list[Plan]:
        """One query for the whole document finds the keys in use (usually none); only an
        interchange whose key is in use is then looked at closely."""
        policy, now = ReusePolicy.of(partner), utcnow()
        keys = list({k for p in pieces for k in (p.key.message_id, p.key.legacy_id)})
        with self.store.read() as conn:
            query = select(inbox.c.message_id).where(inbox.c.partner == partner.name)
            used = {row.message_id for row in rows_in(conn, query, inbox.c.message_id, keys)}
            return [
                plan_interchange(p.key, stored_interchanges(conn, partner, p), policy, now)
                if p.key.message_id in used or p.key.legacy_id in used
                else Plan("store", p.key.message_id)
                for p in pieces
            ]

    async def _store(self, partner: Partner, outcomes: list[Outcome], correlation: str) -> None:
        """Commit the interchanges to store; one already there (stored meanwhile by
        another request) is its duplicate, or a conflict when its bytes differ."""
        assert partner.edi is not None
        content_type = CONTENT_TYPES[partner.edi.format]
        new = [o for o in outcomes if o.plan.action == "store"]
        for o in outcomes:
            if o.plan.action == "duplicate" and o.plan.earlier is not None:
                earlier = o.plan.earlier
                o.receipt = Receipt(earlier.receipt_id, earlier.received_at, True)
        if not new:
            return
        receipts = await self.submit(
            [
                InboxMessage(
                    partner.name, o.plan.message_id, "edi", content_type, o.piece.raw, correlation
                )
                for o in new
            ]
        )
        for o, receipt in zip(new, receipts, strict=True):
            o.receipt = receipt
            if receipt.duplicate:
                earlier = StoredInterchange(
                    o.plan.message_id, receipt.receipt_id, receipt.received_at, False, 1
                )
                o.plan = (
                    Plan(
                        "conflict",
                        o.plan.message_id,
                        earlier,
                        reason=f"control number {o.piece.control_number} of sender"
                        f" {o.piece.key.sender} was just used for a different interchange"
                        f" (receipt {receipt.receipt_id})",
                    )
                    if receipt.conflict
                    else Plan("duplicate", o.plan.message_id, earlier)
                )
                if receipt.conflict:
                    o.receipt = None

    async def _acknowledge(
        self, partner: Partner, outcomes: list[Outcome], correlation: str
    ) -> int:
        """Write the missing acknowledgements; never raises, since the interchanges are
        durable by now: a failure is logged and set on the outcome for the answer."""
        try:
            return await asyncio.to_thread(self._write_acks, partner, outcomes, correlation)
        except Exception as exc:
            reason, logged = _why_not_written(exc)
            log.warning(
                "acknowledgements for partner %s not written (%s); a resend writes them",
                partner.name,
                logged,
            )
            for o in outcomes:
                if o.ack_problem is None:
                    o.ack_problem = reason
            return 0

    def _write_acks(self, partner: Partner, outcomes: list[Outcome], correlation: str) -> int:
        assert partner.edi is not None and partner.edi.ack_endpoint is not None
        now = iso(utcnow())
        with self.store.write() as conn:
            ids = {stable_id("ack", partner.name, o.plan.message_id): o for o in outcomes}
            existing = set(
                conn.execute(
                    select(outbox.c.command_id).where(outbox.c.command_id.in_(list(ids)))
                ).scalars()
            )
            control = _InTransaction(self.numbers, conn)
            commands = []
            for command_id, o in ids.items():
                if command_id in existing:
                    continue
                try:  # a savepoint: a failed build gives back its control numbers
                    with conn.begin_nested():
                        payload = acknowledgement(partner, o.piece, control)
                except Exception as exc:
                    reason, logged = _why_not_written(exc)
                    log.warning(
                        "acknowledgement of receipt %s (partner %s) not built: %s",
                        o.receipt.receipt_id if o.receipt else "-",
                        partner.name,
                        logged,
                    )
                    o.ack_problem = reason
                    continue
                if payload is None:
                    continue
                commands.append(
                    OutboundCommand(
                        command_id,
                        partner.edi.ack_endpoint,
                        ACK_KIND,
                        None,
                        payload,
                        correlation,
                        now,
                    )
                )
            enqueue(conn, commands)
        return len(commands)


def _problem(exc: EdiError, partner: str) -> tuple[int, str, str, list[dict[str, Any]]]:
    located = exc.with_context(partner, None)
    if isinstance(exc, EdiSyntaxError):
        return 400, "bad_edi", str(located), [located.to_dict()]
    return 422, "invalid_envelope", str(located), [located.to_dict()]


def edi_intake_router(settings: Settings, hub: Callable[[], Hub]) -> APIRouter:
    """`POST /v1/edi/{partner}`: raw X12 or EDIFACT, answered 202 once durable."""
    router = APIRouter(tags=["ingress"])
    max_body = settings.hub.max_body_bytes
    intakes: dict[int, EdiIntake] = {}

    def intake() -> EdiIntake:
        running = hub()
        found = intakes.get(id(running))
        if found is None:
            found = intakes[id(running)] = EdiIntake(
                settings, running.store, running.committer.submit
            )
        return found

    @router.post(
        "/v1/edi/{partner}",
        status_code=202,
        summary="Receive an X12 or EDIFACT document (one inbox message per interchange)",
        responses={
            200: {"description": "every interchange was received before"},
            409: {
                "description": "nothing new was stored: a control number this sender already"
                " used for a different interchange (per interchange in `details`)"
            },
        },
    )
    async def edi_document(partner: str, request: Request) -> Response:
        started = time.perf_counter()
        media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media not in ACCEPTED_MEDIA:
            raise ApiError(
                415,
                "unsupported_media_type",
                f"content-type must be one of {', '.join(sorted(ACCEPTED_MEDIA))}",
            )
        body = await read_body(request, max_body)
        config = settings.partners.get(partner)
        # A partner without webhook secrets is checked against keys nothing was signed
        # with, so a signed request does not learn that it has none (or that it exists).
        keys = (config.webhook_keys if config is not None else ()) or NO_PARTNER_KEYS
        if config is None or config.edi is None:
            # A name that is no EDI partner goes through the same checks: the answer does
            # not tell which names exist. Only a partner that proved itself learns that it
            # does not send EDI.
            authenticate_partner(request, "edi", partner, keys, body)
            raise ApiError(404, "unknown_partner", f"partner '{partner}' does not send EDI")
        authenticate_partner(request, "edi", partner, keys, body)
        metrics = hub().metrics
        request.app.state.rate_limits.check(partner, "edi", metrics)
        corr = correlation_id(request.headers)
        try:
            result = await intake().receive(config, body, corr)
        except EdiError as exc:
            metrics.ingress.labels(partner, "edi", "rejected").inc()
            status, code, message, details = _problem(exc, partner)
            raise ApiError(status, code, message, details) from None
        except Exception:
            log.exception("EDI intake of partner %s failed", partner)
            raise store_unavailable() from None
        if result.refused:
            metrics.ingress.labels(partner, "edi", "rejected").inc()
            raise ApiError(
                409,
                "conflict",
                result.conflict_message(),
                result.interchanges,
                headers={"x-correlation-id": corr},
            )
        outcome = "duplicate" if result.all_duplicates else "accepted"
        metrics.received(partner, "edi", outcome, time.perf_counter() - started)
        return JSONResponse(
            {
                "interchanges": result.interchanges,
                "warnings": result.warnings,
                "acknowledgements": result.acknowledgements,
                "acknowledgements_not_written": result.not_acknowledged,
                "correlation_id": corr,
            },
            status_code=result.status_code,
            headers={"x-correlation-id": corr},
        )

    return router


# -- the watched folder ------------------------------------------------------------------------
_SKIP_SUFFIXES = (".tmp", ".part", ".partial", ".filepart")


def move_into(path: Path, folder: Path, note: tuple[str, str] | None = None) -> Path:
    """Move a handled file into `folder` (made if missing), never over another file.

    `note` (a suffix and a text) says why it went there, in a text file next to it,
    written before the file moves: whoever sees the file arrive (an operator's script, a
    test) finds its note already there."""
    folder.mkdir(exist_ok=True)
    target = folder / path.name
    if target.exists():
        target = folder / f"{path.stem}.{sortable_id('dup')}{path.suffix}"
    if note is not None:
        suffix, message = note
        target.with_name(target.name + suffix).write_text(message + "\n", encoding="utf-8")
    path.replace(target)
    return target


async def scan_folder(intake: EdiIntake, partner: Partner, folder: Path) -> int:
    """One pass over the folder: each finished file into the inbox, then moved away.

    A file still being written is skipped: writers should create it under a dot-name or a
    `.tmp` / `.part` suffix and rename it when complete (what SFTP servers and `mv` do).
    A file goes where its HTTP answer would point: `rejected/` with a `.error.txt` for a
    400, 422 or 409; `processed/` for a 200 or 202, with a `.conflicts.txt` beside it
    when some of its interchanges were refused.
    """
    handled = 0
    try:
        names = await asyncio.to_thread(lambda: sorted(p for p in folder.iterdir() if p.is_file()))
    except OSError:
        return 0
    for path in names:
        if path.name.startswith(".") or path.name.lower().endswith(_SKIP_SUFFIXES):
            continue
        try:
            body = await asyncio.to_thread(path.read_bytes)
        except OSError:
            continue
        try:
            result = await intake.receive(partner, body, sortable_id("corr"))
        except EdiError as exc:
            message = str(exc.with_context(partner.name, path.name))
            move_into(path, folder / "rejected", (".error.txt", message))
            log.warning("EDI file rejected: %s", message)
        except Exception:
            log.exception("EDI file %s could not be stored; retrying on the next pass", path)
            return handled
        else:
            if result.refused:
                message = f"document {path.name}: {result.conflict_message()}"
                move_into(path, folder / "rejected", (".error.txt", message))
                log.warning("EDI file of partner %s rejected: %s", partner.name, message)
            elif result.conflicts:
                reasons = "\n".join(o.plan.reason for o in result.conflicts)
                move_into(path, folder / "processed", (".conflicts.txt", reasons))
            else:
                move_into(path, folder / "processed")
        handled += 1
    return handled


async def watch_folder(hub: Hub, partner: Partner) -> None:
    """Scan the partner's inbox folder every `edi.poll_seconds`, forever."""
    assert partner.edi is not None and partner.inbox_folder is not None
    folder = partner.inbox_folder
    folder.mkdir(parents=True, exist_ok=True)
    intake = EdiIntake(hub.settings, hub.store, hub.committer.submit)
    while True:
        try:
            await scan_folder(intake, partner, folder)
        except Exception:  # a full disk or a vanished folder: log, and try again later
            log.exception("scanning the EDI folder of partner %s failed", partner.name)
        await asyncio.sleep(partner.edi.poll_seconds)
