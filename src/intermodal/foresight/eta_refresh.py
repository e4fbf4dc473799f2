"""The leader's arrival-time jobs: refresh every active shipment's ETA, retrain the model.

**Refresh** (`EtaRefresher`, every `foresight.eta.refresh_seconds`): for each shipment
neither delivered nor cancelled nor returned, place its stops, read its newest position
(`observed_position`, the one seam for positions), estimate (eta.py: the model when one
beat the baseline, else the baseline) and store the estimate (`eta_predictions`). In the
same transaction, once the goods are on the road (`picked_up`):

- an ETA that moved by `change_minutes` or more from the last one sent is sent again:
  the delivery's `scheduled_date` in Odoo (the `odoo` role; Odoo 19 keeps the value on a
  done transfer without touching its moves: `stock.picking._set_scheduled_date` skips
  `done` pickings, addons/stock/models/stock_picking.py), an `intermodal.notify` with
  event `eta.changed` to the `notify` role, and an `intermodal.shipment.eta` CloudEvent to
  each endpoint subscribed to `eta.changed`;
- the early warning (warnings.py) opens or closes its `predicted_delay` case, with an
  Odoo activity and the customers told.

Everything leaves through the outbox, with ids derived from the shipment and the ETA (or
the case), like every command of the flows. The applier stays the only writer of
shipments: this job writes its own table, outbox rows and cases, and checks in each
write that this node still leads.

**Retrain** (`EtaTrainer`, every `foresight.eta.model.retrain_hours`): the delivered
shipments of the last `history_days` become snapshots (at the pickup, then at each
located milestone or position) with the minutes that truly remained; the newest share is
held out; a new version is recorded whether or not it beat the baseline (eta_model.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import orjson
from sqlalchemy import Connection, and_, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from intermodal.canonical.events import EventType
from intermodal.config import EtaConfig, ForesightConfig, Settings
from intermodal.engine.ids import iso, sortable_id, stable_id, utcnow
from intermodal.foresight import eta_model, positions, warnings
from intermodal.foresight.eta import (
    MILESTONE_ACCURACY_M,
    Anchor,
    BaselineSettings,
    Estimate,
    Route,
    Snapshot,
    anchor_of,
    estimate,
    legs,
    plan_route,
    position_source,
    snapshot_of,
)
from intermodal.foresight.geo import Position, locate
from intermodal.outbox.command import OutboundCommand, enqueue
from intermodal.store import Store
from intermodal.store.store import rows_in
from intermodal.store.tables import cases, eta_outcomes, eta_predictions, events, shipments
from intermodal.workflows.notifications import case_notifications, notification, wants

log = logging.getLogger(__name__)

PositionReader = Callable[[Connection, str], Position | None]
TrackReader = Callable[[Connection, str], Sequence[Position]]
_PAGE = 500
_FINISHED = ("delivered",)


# -- positions: the one seam ------------------------------------------------------------------
def _located_milestones(conn: Connection, key: str, limit: int | None = None) -> list[Position]:
    """Positions placed from the shipment's applied milestones that name a place, newest
    first."""
    query = (
        select(events.c.occurred_at, events.c.data)
        .where(
            events.c.subject == key,
            events.c.type == EventType.SHIPMENT_MILESTONE.value,
            events.c.outcome == "applied",
        )
        .order_by(events.c.occurred_at.desc(), events.c.seq.desc())
    )
    if limit is not None:
        query = query.limit(limit)
    found = []
    for row in conn.execute(query):
        try:
            item = orjson.loads(row.data)
        except orjson.JSONDecodeError:
            continue
        data = item.get("data") if isinstance(item, dict) else None
        location = data.get("location") if isinstance(data, dict) else None
        if not isinstance(location, dict) or not row.occurred_at:
            continue
        country, city = location.get("country"), location.get("city")
        if not isinstance(country, str) or not isinstance(city, str | None):
            continue  # not an address the canonical model would have taken
        placed = locate(country, city)
        if placed is None:
            continue
        point, precision = placed
        accuracy = MILESTONE_ACCURACY_M if precision == "city" else 10 * MILESTONE_ACCURACY_M
        found.append(
            Position(
                key, point.latitude, point.longitude,
                datetime.fromisoformat(row.occurred_at), accuracy_m=accuracy,
            )
        )  # fmt: skip
    return found


def milestone_position(conn: Connection, key: str) -> Position | None:
    """The place of the newest applied milestone that names one (a carrier's scan "in
    transit at Denver"), at the time it happened."""
    found = _located_milestones(conn, key, limit=20)
    return found[0] if found else None


def observed_position(conn: Connection, key: str) -> Position | None:
    """Where the shipment was last seen: THE function the refresh job reads positions
    through. The newer of the telematics feed's latest fix (`positions.latest`) and the
    place of the newest milestone that names one; nothing else in the ETA code reads
    positions."""
    found = [p for p in (positions.latest(conn, key), milestone_position(conn, key)) if p]
    return max(found, key=lambda p: p.recorded_at) if found else None


def observed_track(conn: Connection, key: str) -> Sequence[Position]:
    """Every known position of a shipment, newest first, for training: the telematics
    feed's thinned track (`positions.track`) and the milestones' places."""
    merged = [*positions.track(conn, key), *_located_milestones(conn, key)]
    return sorted(merged, key=lambda p: p.recorded_at, reverse=True)


# -- refresh ----------------------------------------------------------------------------------
def baseline_settings(config: EtaConfig) -> BaselineSettings:
    return BaselineSettings(
        default_speed_kmh=config.default_speed_kmh,
        min_speed_kmh=config.min_speed_kmh,
        dwell_per_stop_min=config.dwell_per_stop_minutes,
        low=config.baseline_low,
        high=config.baseline_high,
    )


@dataclass
class RefreshResult:
    estimated: int = 0
    without_eta: int = 0
    published: int = 0
    opened: int = 0
    closed: int = 0
    finished: int = 0
    commands: int = 0
    by_method: dict[str, int] = field(default_factory=dict)


@dataclass
class _Work:
    """One shipment in this pass: what was read and what the pass decided."""

    key: str
    document: dict[str, Any]
    main_milestone: str | None
    picked_up_at: datetime | None
    """The picked_up milestone's time (else the main milestone's, when it is further)."""
    previous: Any
    estimate: Estimate | None = None
    reason: str = ""
    deadline: datetime | None = None
    on_road: bool = False
    """Picked up: only then is an ETA sent, scored or warned about (a position seen
    before the pickup still plans the route through the pickup stop)."""


class EtaRefresher:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        positions: PositionReader = observed_position,
        leads: Callable[[Connection], bool] | None = None,
        on_commands: Callable[[int], None] | None = None,
    ) -> None:
        config = settings.foresight or ForesightConfig()
        self.store = store
        self.config = config
        self.positions = positions
        self.leads = leads
        self.on_commands = on_commands
        self._model: eta_model.EtaModel | None = None
        workflows = settings.workflows
        roles = workflows.roles if workflows is not None else None
        self.odoo = roles.odoo if roles is not None and config.eta.odoo != "off" else None
        self.notify = roles.notify if roles is not None else None
        flow_endpoints = {roles.odoo, roles.tms, roles.notify, roles.customs} if roles else set()
        self.subscribers = [e for e in settings.endpoints.values() if e.name not in flow_endpoints]
        teams = {str(k): v for k, v in (workflows.teams if workflows else {}).items()}
        self.team = teams.get(warnings.KIND, "operations")

    def refresh(self, now: datetime | None = None) -> RefreshResult:
        """One pass over every active shipment; returns what it did."""
        now = now or utcnow()
        result = RefreshResult()
        with self.store.read() as conn:
            choice = eta_model.choose(conn, self._model)
        self._model = choice.model
        base = choice.baseline(baseline_settings(self.config.eta))
        after = ""
        while True:
            with self.store.read() as conn:
                page = self._page(conn, after)
                if not page:
                    break
                after = page[-1].key
                work = self._read(conn, page)
                anchors = self._estimate(conn, work, choice, base, now)
            del anchors
            self._write(work, now, result)
        self._finish(now, result)
        if result.commands and self.on_commands is not None:
            self.on_commands(result.commands)
        return result

    async def run(self) -> None:
        """Refresh every `refresh_seconds` until cancelled."""
        every = self.config.eta.refresh_seconds
        while True:
            try:
                result = await asyncio.to_thread(self.refresh)
                if result.published or result.opened or result.closed:
                    log.info(
                        "eta: %d estimated, %d published, %d warning(s) opened, %d closed",
                        result.estimated, result.published, result.opened, result.closed,
                    )  # fmt: skip
            except Exception:
                log.exception("eta refresh failed; next try in %ss", every)
            await asyncio.sleep(every)

    # -- reading ---------------------------------------------------------------------------
    @staticmethod
    def _active() -> Any:
        return and_(
            shipments.c.terminal_milestone.is_(None),
            or_(shipments.c.main_milestone.is_(None), shipments.c.main_milestone.not_in(_FINISHED)),
        )

    def _page(self, conn: Connection, after: str) -> list[Any]:
        return list(
            conn.execute(
                select(
                    shipments.c.key, shipments.c.main_milestone, shipments.c.main_at,
                    shipments.c.document,
                )
                .where(self._active(), shipments.c.key > after)
                .order_by(shipments.c.key)
                .limit(_PAGE)
            )
        )  # fmt: skip

    def _read(self, conn: Connection, page: list[Any]) -> list[_Work]:
        keys = [row.key for row in page]
        previous = {
            r.key: r for r in rows_in(conn, select(eta_predictions), eta_predictions.c.key, keys)
        }
        picked = pickup_times(conn, keys)
        return [
            _Work(
                row.key,
                orjson.loads(row.document),
                row.main_milestone,
                picked.get(row.key)
                or (datetime.fromisoformat(row.main_at) if row.main_at else None),
                previous.get(row.key),
            )
            for row in page
        ]

    def _estimate(
        self,
        conn: Connection,
        work: list[_Work],
        choice: eta_model.Choice,
        base: BaselineSettings,
        now: datetime,
    ) -> int:
        """Estimate each shipment of the page (the model's predictions in one batch)."""
        planned: list[tuple[_Work, Route, Anchor, Any, Snapshot]] = []
        for item in work:
            route = plan_route(item.key, item.document, item.main_milestone, item.picked_up_at)
            if isinstance(route, str):
                item.reason = route
                continue
            item.on_road = route.picked_up_at is not None
            anchor = anchor_of(route, self.positions(conn, item.key), now)
            distances = legs(route, anchor)
            planned.append((item, route, anchor, distances, snapshot_of(route, anchor, distances)))
        on_road = [p for p in planned if p[1].picked_up_at is not None]
        learned: dict[str, tuple[float, float, float]] = {}
        if choice.model is not None and on_road:
            predicted = choice.model.predict([p[4] for p in on_road])
            learned = {p[0].key: (float(r[0]), float(r[1]), float(r[2]))
                       for p, r in zip(on_road, predicted, strict=True)}  # fmt: skip
        for item, route, anchor, distances, snapshot in planned:
            found = learned.get(item.key)
            if found is not None:
                reason = choice.reason
            elif route.picked_up_at is None:
                reason = "baseline: not picked up yet (planned times)"
            else:
                reason = f"baseline: {choice.reason}"
            item.estimate = estimate(
                route, anchor, distances, snapshot, now, base, found, choice.version, reason
            )
            item.deadline = warnings.deadline_of(item.document)
        return len(planned)

    # -- writing ---------------------------------------------------------------------------
    def _write(self, work: list[_Work], now: datetime, result: RefreshResult) -> None:
        stamp = iso(now)
        correlation = sortable_id("corr")
        with self.store.write() as conn:
            if self.leads is not None and not self.leads(conn):
                return
            still = {
                r.key
                for r in rows_in(
                    conn, select(shipments.c.key).where(self._active()), shipments.c.key,
                    [w.key for w in work],
                )
            }  # fmt: skip
            case_states = self._case_states(conn, work)
            rows: list[dict[str, Any]] = []
            commands: list[OutboundCommand] = []
            opened: list[dict[str, Any]] = []
            closed: list[tuple[str, str]] = []
            for item in work:
                if item.key not in still:
                    continue  # delivered or cancelled while this pass estimated
                row = self._row(item, stamp)
                if item.estimate is None:
                    result.without_eta += 1
                else:
                    result.estimated += 1
                    method = item.estimate.method
                    result.by_method[method] = result.by_method.get(method, 0) + 1
                    commands.extend(self._publish(item, row, stamp, correlation, result))
                self._warn(item, row, case_states, now, opened, closed, commands, correlation)
                rows.append(row)
            _upsert(conn, rows)
            if opened:
                self.store.execute_many(
                    conn, self.store.insert_ignoring(cases, ["case_id"]), opened
                )
                documents = {w.key: w.document for w in work}
                commands.extend(case_notifications(self.subscribers, opened, documents, stamp))
            commands.extend(self._close(conn, closed, {w.key: w.document for w in work}, stamp))
            enqueue(conn, commands)
        result.opened += len(opened)
        result.closed += len(closed)
        result.commands += len(commands)

    def _row(self, item: _Work, stamp: str) -> dict[str, Any]:
        previous = item.previous
        row: dict[str, Any] = {
            "key": item.key,
            "computed_at": stamp,
            "method": None,
            "model_version": None,
            "eta": None,
            "eta_p10": None,
            "eta_p90": None,
            "deadline": iso(item.deadline) if item.deadline else None,
            "detail": orjson.dumps(
                {"computed_at": stamp, "method": None, "reason": item.reason}
            ).decode(),
            "published_eta": previous.published_eta if previous is not None else None,
            "published_at": previous.published_at if previous is not None else None,
            "warning_case_id": previous.warning_case_id if previous is not None else None,
            "warning_streak": previous.warning_streak if previous is not None else 0,
            **_first(previous),
        }
        found = item.estimate
        if found is not None and row["first_at"] is None and item.on_road:
            # The first estimate on the road is the one scored at delivery: the last one,
            # minutes before arrival, would make any method look right.
            row.update(
                first_at=stamp,
                first_method=found.method,
                first_eta=iso(found.delivery.at),
                first_baseline_eta=iso(found.baseline_at) if found.baseline_at else None,
            )
        if found is not None:
            row.update(
                method=found.method,
                model_version=found.model_version,
                eta=iso(found.delivery.at),
                eta_p10=iso(found.delivery.p10),
                eta_p90=iso(found.delivery.p90),
                detail=orjson.dumps(found.to_json()).decode(),
            )
        return row

    def _publish(
        self, item: _Work, row: dict[str, Any], stamp: str, correlation: str, result: RefreshResult
    ) -> list[OutboundCommand]:
        """The ETA-change commands when it moved enough since the last one sent (and the
        goods are on the road: before that Odoo's scheduled date is the warehouse's plan)."""
        found = item.estimate
        if found is None or not item.on_road:
            return []
        eta = found.delivery.at
        sent = row["published_eta"]
        if sent is not None:
            moved = abs((eta - datetime.fromisoformat(sent)).total_seconds()) / 60
            if moved < self.config.eta.change_minutes:
                return []
        row["published_eta"], row["published_at"] = iso(eta), stamp
        result.published += 1
        key, when = item.key, iso(eta)
        commands: list[OutboundCommand] = []
        if self.odoo is not None:
            commands.append(
                _command(self.odoo, "intermodal.odoo.picking.update", key,
                         {"scheduled_date": when}, f"eta:{when}", correlation, stamp)
            )  # fmt: skip
        if not self.config.eta.notify:
            return commands
        data: dict[str, Any] = {
            "shipment": key,
            "event": "eta.changed",
            "eta": when,
            "eta_p10": iso(found.delivery.p10),
            "eta_p90": iso(found.delivery.p90),
            "previous_eta": sent,
            "method": found.method,
        }
        reference = _customer_reference(item.document)
        if reference:
            data["customer_reference"] = reference
        if self.notify is not None:
            commands.append(
                _command(self.notify, "intermodal.notify", key, data, f"eta:{when}", correlation,
                         stamp)
            )  # fmt: skip
        cause = stable_id("eta", key, when)
        commands.extend(
            notification(e.name, "eta.changed", key, data, cause, correlation, stamp)
            for e in self.subscribers
            if wants(e, "eta.changed", key, item.document)
        )
        return commands

    def _case_states(self, conn: Connection, work: list[_Work]) -> dict[str, str]:
        ids = [w.previous.warning_case_id for w in work
               if w.previous is not None and w.previous.warning_case_id]  # fmt: skip
        query = select(cases.c.case_id, cases.c.status)
        return {r.case_id: r.status for r in rows_in(conn, query, cases.c.case_id, ids)}

    def _warn(
        self,
        item: _Work,
        row: dict[str, Any],
        case_states: dict[str, str],
        now: datetime,
        opened: list[dict[str, Any]],
        closed: list[tuple[str, str]],
        commands: list[OutboundCommand],
        correlation: str,
    ) -> None:
        config = self.config.warnings
        if not config.enabled:
            return
        case_id = row["warning_case_id"]
        case: Literal["open", "closed", "none"] = "none"
        if case_id is not None:
            case = "open" if case_states.get(case_id) == "open" else "closed"
        if case == "none" and not item.on_road:
            row["warning_streak"] = 0  # planned times warn of nothing yet
            return
        previous = item.previous
        before = previous.deadline if previous is not None else None
        decision = warnings.decide(
            item.estimate, item.deadline, row["warning_streak"], case, config, now,
            datetime.fromisoformat(before) if before else None,
        )  # fmt: skip
        row["warning_streak"] = decision.streak
        if decision.action == "open" and item.estimate is not None and item.deadline is not None:
            new = warnings.case_row(
                item.key, item.estimate, item.deadline, config, self.team, decision.why
            )
            opened.append(new)
            row["warning_case_id"] = new["case_id"]
            commands.extend(self._opened(item, new, correlation))
        elif decision.action == "close" and case_id is not None:
            closed.append((case_id, decision.why))
            row["warning_case_id"] = None
            if self.notify is not None and config.notify:
                data = {"shipment": item.key, "event": "delay.cleared", "case_id": case_id,
                        "reason": decision.why}  # fmt: skip
                commands.append(
                    _command(self.notify, "intermodal.notify", item.key, data,
                             f"cleared:{case_id}", correlation, iso(now))
                )  # fmt: skip
        elif decision.action == "forget":
            row["warning_case_id"] = None

    def _opened(self, item: _Work, case: dict[str, Any], correlation: str) -> list[OutboundCommand]:
        """The Odoo activity and the customer's notice of a predicted delay."""
        config, found = self.config.warnings, item.estimate
        assert found is not None and item.deadline is not None
        commands = []
        stamp, case_id = case["opened_at"], case["case_id"]
        late = round((found.delivery.at - item.deadline).total_seconds() / 60)
        if self.odoo is not None and config.odoo_activity:
            activity = {
                "summary": f"Shipment {item.key}: predicted {late} min late"[:256],
                "note": case["reason"],
                "deadline": found.computed_at.date().isoformat(),
            }
            commands.append(
                _command(self.odoo, "intermodal.odoo.activity.create", item.key, activity,
                         f"case:{case_id}", correlation, stamp)
            )  # fmt: skip
        if self.notify is not None and config.notify:
            data: dict[str, Any] = {
                "shipment": item.key,
                "event": "delay.predicted",
                "case_id": case_id,
                "eta": iso(found.delivery.at),
                "due": iso(item.deadline),
            }
            reference = _customer_reference(item.document)
            if reference:
                data["customer_reference"] = reference
            commands.append(
                _command(self.notify, "intermodal.notify", item.key, data, f"case:{case_id}",
                         correlation, stamp)
            )  # fmt: skip
        return commands

    def _close(
        self,
        conn: Connection,
        closed: list[tuple[str, str]],
        documents: dict[str, dict[str, Any]],
        stamp: str,
    ) -> list[OutboundCommand]:
        """Close the cases (their detail says why) and tell the `case.closed` subscribers."""
        if not closed:
            return []
        reasons = dict(closed)
        columns = ("case_id", "subject", "kind", "team", "reason", "opened_at", "detail")
        query = select(*(cases.c[c] for c in columns)).where(cases.c.status == "open")
        found = [dict(r._mapping) for r in rows_in(conn, query, cases.c.case_id, list(reasons))]
        for case in found:
            detail = orjson.loads(case.pop("detail"))
            detail["closed_because"] = reasons[case["case_id"]]
            conn.execute(
                update(cases)
                .where(cases.c.case_id == case["case_id"], cases.c.status == "open")
                .values(status="closed", closed_at=stamp, detail=orjson.dumps(detail).decode())
            )
        targets = [
            e for e in self.subscribers if e.events is not None and "case.closed" in e.events
        ]
        return case_notifications(targets, found, documents, stamp, event="case.closed")

    def _finish(self, now: datetime, result: RefreshResult) -> None:
        """Shipments delivered, cancelled or gone since their last ETA: close their warning
        and drop their row (an ETA is for shipments on their way)."""
        stamp = iso(now)
        with self.store.write() as conn:
            if self.leads is not None and not self.leads(conn):
                return
            joined = eta_predictions.outerjoin(shipments, shipments.c.key == eta_predictions.c.key)
            gone = conn.execute(
                select(
                    eta_predictions.c.key,
                    eta_predictions.c.warning_case_id,
                    eta_predictions.c.eta,
                    eta_predictions.c.first_at,
                    eta_predictions.c.first_method,
                    eta_predictions.c.first_eta,
                    eta_predictions.c.first_baseline_eta,
                    shipments.c.document,
                    shipments.c.main_milestone,
                    shipments.c.main_at,
                    shipments.c.terminal_milestone,
                )
                .select_from(joined)
                .where(or_(shipments.c.key.is_(None), ~self._active()))
            ).all()
            if not gone:
                return
            closed = []
            documents: dict[str, dict[str, Any]] = {}
            for row in gone:
                documents[row.key] = orjson.loads(row.document) if row.document else {}
                if row.warning_case_id:
                    what = row.terminal_milestone or row.main_milestone or "removed"
                    closed.append((row.warning_case_id, f"the shipment is {what}"))
            commands = self._close(conn, closed, documents, stamp)
            outcomes = [o for o in (_outcome(row, stamp) for row in gone) if o is not None]
            if outcomes:
                self.store.execute_many(
                    conn, self.store.insert_ignoring(eta_outcomes, ["key"]), outcomes
                )
            keys = [row.key for row in gone]
            for start in range(0, len(keys), _PAGE):
                conn.execute(
                    delete(eta_predictions).where(
                        eta_predictions.c.key.in_(keys[start : start + _PAGE])
                    )
                )
            enqueue(conn, commands)
        result.finished += len(gone)
        result.closed += len(closed)
        result.commands += len(commands)


def _first(previous: Any) -> dict[str, Any]:
    names = ("first_at", "first_method", "first_eta", "first_baseline_eta")
    return {n: getattr(previous, n) if previous is not None else None for n in names}


def _outcome(row: Any, stamp: str) -> dict[str, Any] | None:
    """How far the first on-road ETA (and the baseline's beside it) was from the real
    arrival, for a shipment that finished delivered after being estimated on the road."""
    if row.main_milestone != "delivered" or not row.main_at or row.first_eta is None:
        return None
    arrived = datetime.fromisoformat(row.main_at)

    def error(at: str | None) -> float | None:
        if at is None:
            return None
        return round(abs((datetime.fromisoformat(at) - arrived).total_seconds()) / 60, 1)

    return {
        "key": row.key,
        "delivered_at": row.main_at,
        "first_at": row.first_at,
        "first_method": row.first_method,
        "first_eta": row.first_eta,
        "first_baseline_eta": row.first_baseline_eta,
        "error_min": error(row.first_eta),
        "baseline_error_min": error(row.first_baseline_eta),
        "last_error_min": error(row.eta),
        "recorded_at": stamp,
    }


def _customer_reference(document: dict[str, Any]) -> str | None:
    refs = ((document.get("shipment") or {}).get("data") or {}).get("references") or {}
    found = refs.get("customer_reference")
    return found if isinstance(found, str) else None


def _command(
    endpoint: str, type_: str, key: str, data: dict[str, Any], cause: str, correlation: str,
    now: str,
) -> OutboundCommand:  # fmt: skip
    """A command to a role endpoint, shaped like the flows' (workflows/engine.py); its id
    derives from endpoint, type, shipment and cause, so a repeated pass writes it once."""
    command_id = stable_id("cmd", "foresight", endpoint, type_, key, cause)
    envelope = {
        "specversion": "1.0",
        "id": command_id,
        "source": "intermodal",
        "type": type_,
        "subject": key,
        "time": now,
        "datacontenttype": "application/json",
        "data": data,
        "flow": "foresight",
        "causationid": cause[:1024],
    }
    return OutboundCommand(command_id, endpoint, type_, key, orjson.dumps(envelope), correlation,
                           now)  # fmt: skip


def _upsert(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    insert = dialect.insert(eta_predictions)
    columns = {c.name: insert.excluded[c.name] for c in eta_predictions.c if c.name != "key"}
    conn.execute(insert.on_conflict_do_update(index_elements=["key"], set_=columns), rows)


def pickup_times(conn: Connection, keys: list[str]) -> dict[str, datetime]:
    """When each shipment was picked up: its earliest picked_up milestone (applied, or
    late: a late report of it still says when it happened)."""
    query = select(events.c.subject, events.c.occurred_at).where(
        events.c.type == EventType.SHIPMENT_MILESTONE.value,
        events.c.milestone == "picked_up",
        events.c.outcome.in_(("applied", "late")),
    )
    picked: dict[str, datetime] = {}
    for r in rows_in(conn, query, events.c.subject, keys):
        at = datetime.fromisoformat(r.occurred_at)
        if r.subject not in picked or at < picked[r.subject]:
            picked[r.subject] = at
    return picked


# -- retrain ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class TripHistory:
    key: str
    delivered_at: datetime
    samples: list[tuple[Snapshot, float]]


def delivered_history(
    conn: Connection, since: datetime, track: TrackReader = observed_track
) -> list[TripHistory]:
    """The delivered shipments since `since` as training trips: a snapshot at the pickup
    and at every later known position before the delivery, with the minutes that truly
    remained. Shipments whose stops cannot be placed, or with no pickup time, are left out."""
    done = conn.execute(
        select(shipments.c.key, shipments.c.main_at, shipments.c.document).where(
            shipments.c.main_milestone == "delivered",
            shipments.c.terminal_milestone.is_(None),
            shipments.c.main_at >= iso(since),
        )
    ).all()
    picked = pickup_times(conn, [row.key for row in done])
    trips = []
    for row in done:
        pickup = picked.get(row.key)
        delivered = datetime.fromisoformat(row.main_at)
        if pickup is None or delivered <= pickup:
            continue
        route = plan_route(row.key, orjson.loads(row.document), "picked_up", pickup)
        if isinstance(route, str):
            continue
        anchors = [Anchor(route.stops[0].point, pickup, "pickup")]
        anchors += [
            Anchor(p.point, p.recorded_at, position_source(p), p.speed_kmh)
            for p in track(conn, row.key)
            if pickup < p.recorded_at < delivered
        ]
        samples = []
        for anchor in anchors:
            snapshot = snapshot_of(route, anchor, legs(route, anchor))
            samples.append((snapshot, (delivered - anchor.at).total_seconds() / 60))
        trips.append(TripHistory(row.key, delivered, samples))
    return trips


class EtaTrainer:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        track: TrackReader = observed_track,
        leads: Callable[[Connection], bool] | None = None,
    ) -> None:
        self.store = store
        self.config = (settings.foresight or ForesightConfig()).eta
        self.track = track
        self.leads = leads

    def train_once(self, now: datetime | None = None) -> int | None:
        """Train and record one version; its number (None when this node stopped leading,
        or when scikit-learn is not installed: the baseline then goes on, and says why)."""
        now = now or utcnow()
        model = self.config.model
        if eta_model.sklearn_version() is None:
            log.warning("eta model not trained: %s", eta_model.MISSING)
            return None
        with self.store.read() as conn:
            trips = delivered_history(conn, now - timedelta(days=model.history_days), self.track)
        trips.sort(key=lambda t: (t.delivered_at, t.key))
        cut = len(trips) - max(1, round(len(trips) * model.held_out)) if trips else 0
        training, held_out = trips[:cut], trips[cut:]
        trained = eta_model.train(
            [s for t in training for s in t.samples],
            [s for t in held_out for s in t.samples],
            baseline_settings(self.config),
            now,
            len(training),
            len(held_out),
            min_trips=model.min_trips,
            min_gain=model.min_gain,
            params=eta_model.TrainingParams(max_iter=model.max_iter, threads=model.threads),
        )
        with self.store.write() as conn:
            if self.leads is not None and not self.leads(conn):
                return None
            version = eta_model.save(conn, trained)
        log.info("eta model v%d (%s): %s", version,
                 "used" if trained.accepted else "not used", trained.reason)  # fmt: skip
        return version

    def due_in(self, now: datetime | None = None) -> float:
        """Seconds until the next training is due (0: now)."""
        now = now or utcnow()
        with self.store.read() as conn:
            newest = eta_model.versions(conn, limit=1)
        if not newest:
            return 0.0
        last = datetime.fromisoformat(newest[0]["trained_at"])
        due = last + timedelta(hours=self.config.model.retrain_hours)
        return max(0.0, (due - now).total_seconds())

    async def run(self, first_delay: float = 30.0) -> None:
        """Retrain whenever due, forever: a version older than `retrain_hours` (or none)
        makes a training `first_delay` seconds after this node starts leading."""
        await asyncio.sleep(first_delay)
        while True:
            try:
                wait = await asyncio.to_thread(self.due_in)
                if wait <= 0:
                    await asyncio.to_thread(self.train_once)
                    wait = self.config.model.retrain_hours * 3600
            except Exception:
                log.exception("eta retraining failed; next try in an hour")
                wait = 3600.0
            await asyncio.sleep(min(wait, 3600.0))
