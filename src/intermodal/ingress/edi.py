"""EDI intake: X12 and EDIFACT documents over HTTP or a watched folder, into the inbox.

`POST /v1/edi/{partner}` (bearer token with `events:write`, or a Standard Webhooks
signature) and each partner's `edi.inbox_folder` go through the same `EdiIntake.receive`:

1. The document is parsed in the request with the partner's mode (reject or warn), so a
   broken envelope is answered 400 (not EDI) or 422 (envelope), naming segment and
   element; nothing is stored.
2. Each interchange becomes one inbox message (channel `edi`, raw bytes as received),
   keyed by (partner, `ISA:<ISA13>` / `UNB:<UNB05>`): a resent interchange is stored once.
3. The 997 / CONTRL for each newly stored interchange is written to the outbox, addressed
   to the partner's `edi.ack_endpoint`. It is written at intake, not with the applied
   events: a functional acknowledgement answers the envelope and syntax, which are known
   here, and a mapping problem later (quarantine) is ours to fix, not the partner's to
   resend. It is written after the inbox commit and before the answer, with a command id
   derived from the interchange; if the process dies in between, the partner (or the
   folder watcher) gets no answer and sends again, and the duplicate's pass writes the
   missing acknowledgement: never none, never two.

The folder watcher moves a file to `processed/` once its interchanges are durable in the
inbox, or to `rejected/` (with a `.error.txt` beside it) when it is not EDI the partner's
mode accepts; a store outage leaves the file where it is for the next pass.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import Connection, select

from intermodal.api.errors import ApiError
from intermodal.api.http import (
    bearer_token,
    correlation_id,
    read_body,
    store_unavailable,
    verify_signature,
)
from intermodal.config import WRITE_SCOPE, Partner, Settings, token_hash
from intermodal.edi import edifact, x12
from intermodal.edi.control import ControlNumbers
from intermodal.edi.errors import EdiError, EdiSyntaxError
from intermodal.engine.ids import iso, sortable_id, stable_id, utcnow
from intermodal.engine.inbox import InboxMessage, Receipt
from intermodal.outbox.command import OutboundCommand, enqueue
from intermodal.store import Store
from intermodal.store.tables import outbox

if TYPE_CHECKING:
    from intermodal.hub import Hub

log = logging.getLogger(__name__)

CONTENT_TYPES = {"x12": "application/edi-x12", "edifact": "application/edifact"}
ACCEPTED_MEDIA = frozenset({"application/edi-x12", "application/edifact", "text/plain"})
ACK_KIND = "edi.ack"

Submit = Callable[[list[InboxMessage]], Awaitable[list[Receipt]]]


@dataclass(frozen=True, slots=True)
class Piece:
    """One interchange of a received document: its inbox key, raw bytes and parsed form."""

    message_id: str
    control_number: str
    raw: bytes
    interchange: Any
    sets: int


@dataclass
class IntakeResult:
    interchanges: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    acknowledgements: int = 0

    @property
    def all_duplicates(self) -> bool:
        return all(i["status"] == "duplicate" for i in self.interchanges)


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
            control, tag, sets = (
                ic.control_number,
                "ISA",
                sum(len(g.transactions) for g in ic.groups),
            )
        else:
            control, tag, sets = ic.control_reference, "UNB", sum(1 for _ in ic.messages())
        pieces.append(Piece(f"{tag}:{control}", control, raw, ic, sets))
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


class EdiIntake:
    """Receives a partner's EDI document: split, store durably, acknowledge."""

    def __init__(self, settings: Settings, store: Store, submit: Submit) -> None:
        self.settings = settings
        self.store = store
        self.submit = submit
        self.numbers = ControlNumbers(store)

    async def receive(self, partner: Partner, body: bytes, correlation: str) -> IntakeResult:
        """Raises EdiError (nothing stored) or the store's error (retry later)."""
        assert partner.edi is not None
        pieces, warnings = split_document(partner, body)
        content_type = CONTENT_TYPES[partner.edi.format]
        receipts = await self.submit(
            [
                InboxMessage(partner.name, p.message_id, "edi", content_type, p.raw, correlation)
                for p in pieces
            ]
        )
        result = IntakeResult(warnings=warnings)
        to_ack = []
        for piece, receipt in zip(pieces, receipts, strict=True):
            status = (
                "conflict" if receipt.conflict else "duplicate" if receipt.duplicate else "accepted"
            )
            result.interchanges.append(
                {
                    "control_number": piece.control_number,
                    "receipt_id": receipt.receipt_id,
                    "status": status,
                    "sets": piece.sets,
                }
            )
            if status != "conflict":
                to_ack.append(piece)
        if partner.edi.ack and partner.edi.ack_endpoint and to_ack:
            result.acknowledgements = await asyncio.to_thread(
                self._write_acks, partner, to_ack, correlation
            )
        return result

    def _write_acks(self, partner: Partner, pieces: list[Piece], correlation: str) -> int:
        assert partner.edi is not None and partner.edi.ack_endpoint is not None
        now = iso(utcnow())
        written = 0
        with self.store.write() as conn:
            ids = {stable_id("ack", partner.name, p.message_id): p for p in pieces}
            existing = set(
                conn.execute(
                    select(outbox.c.command_id).where(outbox.c.command_id.in_(list(ids)))
                ).scalars()
            )
            control = _InTransaction(self.numbers, conn)
            commands = []
            for command_id, piece in ids.items():
                if command_id in existing:
                    continue
                payload = acknowledgement(partner, piece, control)
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
            written = len(commands)
        return written


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

    def authenticate(partner: str, keys: tuple[bytes, ...], request: Request, body: bytes) -> None:
        headers = request.headers
        if "webhook-signature" in headers:
            verify_signature(keys, headers, body, settings.hub.signature_tolerance_seconds)
            return
        token = bearer_token(headers)
        entry = settings.tokens.get(token_hash(token)) if token else None
        if entry is None:
            raise ApiError(
                401,
                "unauthorized",
                "a valid bearer token or a webhook signature is required",
                headers={"WWW-Authenticate": "Bearer"},
            )
        owner, scopes = entry
        if owner != partner:
            raise ApiError(
                403, "forbidden", f"this token belongs to another partner, not '{partner}'"
            )
        if WRITE_SCOPE not in scopes:
            raise ApiError(403, "forbidden", f"this token lacks the '{WRITE_SCOPE}' scope")

    @router.post(
        "/v1/edi/{partner}",
        status_code=202,
        summary="Receive an X12 or EDIFACT document (one inbox message per interchange)",
        responses={200: {"description": "every interchange was received before"}},
    )
    async def edi_document(partner: str, request: Request) -> Response:
        config = settings.partners.get(partner)
        if config is None or config.edi is None:
            raise ApiError(404, "unknown_partner", f"no EDI partner named '{partner}'")
        started = time.perf_counter()
        metrics = hub().metrics
        media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media not in ACCEPTED_MEDIA:
            raise ApiError(
                415,
                "unsupported_media_type",
                f"content-type must be one of {', '.join(sorted(ACCEPTED_MEDIA))}",
            )
        body = await read_body(request, max_body)
        authenticate(partner, config.webhook_keys, request, body)
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
        outcome = "duplicate" if result.all_duplicates else "accepted"
        metrics.received(partner, "edi", outcome, time.perf_counter() - started)
        return JSONResponse(
            {
                "interchanges": result.interchanges,
                "warnings": result.warnings,
                "acknowledgements": result.acknowledgements,
                "correlation_id": corr,
            },
            status_code=200 if result.all_duplicates else 202,
            headers={"x-correlation-id": corr},
        )

    return router


# -- the watched folder ------------------------------------------------------------------------
_SKIP_SUFFIXES = (".tmp", ".part", ".partial", ".filepart")


def _move(path: Path, folder: Path) -> Path:
    folder.mkdir(exist_ok=True)
    target = folder / path.name
    if target.exists():
        target = folder / f"{path.stem}.{sortable_id('dup')}{path.suffix}"
    path.replace(target)
    return target


async def scan_folder(intake: EdiIntake, partner: Partner, folder: Path) -> int:
    """One pass over the folder: each finished file into the inbox, then moved away.

    A file still being written is skipped: writers should create it under a dot-name or a
    `.tmp` / `.part` suffix and rename it when complete (what SFTP servers and `mv` do).
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
            await intake.receive(partner, body, sortable_id("corr"))
        except EdiError as exc:
            target = _move(path, folder / "rejected")
            message = str(exc.with_context(partner.name, path.name))
            target.with_name(target.name + ".error.txt").write_text(
                message + "\n", encoding="utf-8"
            )
            log.warning("EDI file rejected: %s", message)
        except Exception:
            log.exception("EDI file %s could not be stored; retrying on the next pass", path)
            return handled
        else:
            _move(path, folder / "processed")
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
