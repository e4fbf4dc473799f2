"""The learned arrival-time model: training, judging it against the baseline, versions.

Three gradient-boosted tree ensembles (scikit-learn's `HistGradientBoostingRegressor`,
quantile loss at 0.1, 0.5 and 0.9) predict the minutes from a snapshot to the delivery:
the median is the ETA (it minimises the absolute error the bench measures), the other two
its interval. Histogram boosting handles what snapshots have: categories (the lane's ends,
the carrier) without one-hot columns, and missing values (no recent speed, no pickup
window) without imputation. It trains on tens of thousands of rows in seconds on two cores.

Every training makes a version (the `eta_models` table): its held-out MAE and the
baseline's on the same rows, how often the truth fell inside [p10, p90], the baseline's
calibrated interval, and, when the model beat the baseline by `min_gain`, the model
itself. Only such a version is ever used; a model that does not beat the baseline is kept
as a record with the reason, and the baseline goes on.

Why a table and not files under a data directory: every node that serves the API and the
leader that refreshes ETAs must see the same model, and several hubs may share one
PostgreSQL database but no disk; the version, its metrics and its model commit together,
so no node ever reads a model without its score. The model is a pickle (scikit-learn's
own persistence); it is loaded only when its SHA-256 matches and it was written by the
scikit-learn running now (pickles do not cross versions), else the baseline is used and
the reason says "retrain". Whoever can write the hub's tables already decides what the
hub sends to Odoo; the table adds no way in that the database did not have.
"""

from __future__ import annotations

import hashlib
import math
import pickle
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from statistics import median
from typing import Any

import numpy as np
import orjson
from sqlalchemy import Connection, select, update

from intermodal.engine.ids import iso
from intermodal.errors import IntermodalError
from intermodal.foresight.eta import BaselineSettings, Snapshot, baseline_minutes
from intermodal.store.tables import eta_models

QUANTILES = (0.1, 0.5, 0.9)
CATEGORICAL = ("origin", "destination", "carrier")
NUMERIC = (
    "local_hour", "weekday", "remaining_km", "speed_kmh", "elapsed_min", "dwell_min",
    "stops_left", "baseline_min",
)  # fmt: skip
FEATURES = CATEGORICAL + NUMERIC
MAX_CATEGORIES = 250
"""Histogram boosting bins a categorical feature into at most 255 values; rarer places
and carriers than the 250 most frequent read as missing."""


class ModelError(IntermodalError):
    """A stored model that cannot be used (corrupt, or from another scikit-learn)."""

    code = "eta_model"


@dataclass(frozen=True)
class TrainingParams:
    max_iter: int = 300
    learning_rate: float = 0.1
    max_leaf_nodes: int = 31
    min_samples_leaf: int = 20
    seed: int = 0
    threads: int = 1
    """OpenMP threads for fitting and predicting. One by default: the leader trains beside
    the appliers, and on a busy machine OpenMP's waiting threads made a fit ten times
    slower (13 s against 1.2 s for 5,000 rows on two loaded cores)."""


@dataclass
class EtaModel:
    """The fitted ensembles and the category codes they were fitted with."""

    vocabulary: dict[str, dict[str, int]]
    regressors: list[Any]  # sklearn.ensemble.HistGradientBoostingRegressor
    baseline: BaselineSettings
    version: int | None = None
    threads: int = 1
    columns: tuple[int, ...] = tuple(range(len(FEATURES)))
    """The features it was fitted on: those with at least one known value in training (a
    history of milestones only has no speeds, and histogram binning refuses a column
    with no value at all)."""

    def matrix(self, snapshots: Sequence[Snapshot]) -> np.ndarray:
        return features(snapshots, self.vocabulary, self.baseline)[:, self.columns]

    def predict(self, snapshots: Sequence[Snapshot]) -> np.ndarray:
        """(n, 3) minutes to the delivery at p10, p50, p90, sorted per row."""
        if not snapshots:
            return np.zeros((0, 3))
        x = self.matrix(snapshots)
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=self.threads):
            out: np.ndarray = np.column_stack([r.predict(x) for r in self.regressors])
        out = np.maximum(out, 0.0)
        out.sort(axis=1)
        return out


def _nan(value: float | None) -> float:
    return math.nan if value is None else float(value)


def features(
    snapshots: Sequence[Snapshot], vocabulary: dict[str, dict[str, int]], base: BaselineSettings
) -> np.ndarray:
    rows = np.empty((len(snapshots), len(FEATURES)), dtype=np.float64)
    origins, destinations, carriers = (vocabulary[c] for c in CATEGORICAL)
    for i, s in enumerate(snapshots):
        local = s.local
        rows[i] = (
            origins.get(s.origin, math.nan),
            destinations.get(s.destination, math.nan),
            carriers.get(s.carrier or "", math.nan),
            local.hour + local.minute / 60,
            local.weekday(),
            s.remaining_km,
            _nan(s.speed_kmh),
            s.elapsed_min,
            _nan(s.dwell_min),
            s.stops_left,
            baseline_minutes(s, base),
        )
    return rows


def vocabulary_of(snapshots: Sequence[Snapshot]) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {c: {} for c in CATEGORICAL}
    for s in snapshots:
        for name, value in (("origin", s.origin), ("destination", s.destination),
                            ("carrier", s.carrier or "")):  # fmt: skip
            counts[name][value] = counts[name].get(value, 0) + 1
    return {
        name: {
            value: code
            for code, (value, _) in enumerate(
                sorted(found.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_CATEGORIES]
            )
        }
        for name, found in counts.items()
    }


def fit(
    samples: Sequence[tuple[Snapshot, float]],
    base: BaselineSettings,
    params: TrainingParams = TrainingParams(),
) -> EtaModel:
    """Fit the three quantile ensembles on (snapshot, minutes that remained)."""
    from sklearn.ensemble import HistGradientBoostingRegressor
    from threadpoolctl import threadpool_limits

    snapshots = [s for s, _ in samples]
    vocabulary = vocabulary_of(snapshots)
    x = features(snapshots, vocabulary, base)
    columns = tuple(i for i in range(x.shape[1]) if not np.isnan(x[:, i]).all())
    x = x[:, columns]
    y = np.array([m for _, m in samples], dtype=np.float64)
    mask = [FEATURES[i] in CATEGORICAL for i in columns]
    regressors = []
    for q in QUANTILES:
        regressor = HistGradientBoostingRegressor(
            loss="quantile",
            quantile=q,
            max_iter=params.max_iter,
            learning_rate=params.learning_rate,
            max_leaf_nodes=params.max_leaf_nodes,
            min_samples_leaf=params.min_samples_leaf,
            categorical_features=mask,
            early_stopping=False,
            random_state=params.seed,
        )
        with threadpool_limits(limits=params.threads):
            regressors.append(regressor.fit(x, y))
    return EtaModel(vocabulary, regressors, base, threads=params.threads, columns=columns)


@dataclass(frozen=True)
class Evaluation:
    """A model and the baseline scored on the same held-out rows."""

    model_mae_min: float
    baseline_mae_min: float
    coverage: float
    """Share of held-out truths inside the model's [p10, p90]."""
    baseline_coverage: float
    baseline_low: float
    baseline_high: float
    """The baseline's interval factors calibrated here: p10 and p90 of truth / baseline."""
    rows: int

    @property
    def ratio(self) -> float:
        return self.model_mae_min / self.baseline_mae_min if self.baseline_mae_min else math.inf


def evaluate(
    model: EtaModel, samples: Sequence[tuple[Snapshot, float]], base: BaselineSettings
) -> Evaluation:
    snapshots = [s for s, _ in samples]
    truth = np.array([m for _, m in samples], dtype=np.float64)
    predicted = model.predict(snapshots)
    baseline = np.array([baseline_minutes(s, base) for s in snapshots], dtype=np.float64)
    ratios = truth / np.maximum(baseline, 1.0)
    low = float(min(1.0, np.quantile(ratios, 0.1)))
    high = float(max(1.0, np.quantile(ratios, 0.9)))
    inside = (truth >= predicted[:, 0]) & (truth <= predicted[:, 2])
    base_inside = (truth >= baseline * low) & (truth <= baseline * high)
    return Evaluation(
        model_mae_min=float(np.mean(np.abs(predicted[:, 1] - truth))),
        baseline_mae_min=float(np.mean(np.abs(baseline - truth))),
        coverage=float(np.mean(inside)),
        baseline_coverage=float(np.mean(base_inside)),
        baseline_low=low,
        baseline_high=high,
        rows=len(samples),
    )


@dataclass(frozen=True)
class Trained:
    """One training's outcome: the model, its score, and whether it may be used."""

    model: EtaModel | None
    evaluation: Evaluation | None
    accepted: bool
    reason: str
    train_trips: int
    held_out_trips: int
    train_rows: int
    trained_at: datetime
    baseline: BaselineSettings = field(default_factory=BaselineSettings)
    """The baseline it was judged against (with the lanes' speeds learnt)."""
    extra: dict[str, Any] = field(default_factory=dict)


def train(
    train_samples: Sequence[tuple[Snapshot, float]],
    held_out_samples: Sequence[tuple[Snapshot, float]],
    base: BaselineSettings,
    now: datetime,
    train_trips: int,
    held_out_trips: int,
    min_trips: int = 200,
    min_gain: float = 0.05,
    params: TrainingParams = TrainingParams(),
) -> Trained:
    """Fit on the training rows, score on the held-out ones, accept only a model whose
    held-out MAE is below the baseline's by more than `min_gain` (a share). The baseline
    it is judged against uses the lanes' speeds learnt from the same training rows."""
    base = replace(base, lane_speeds_kmh={**base.lane_speeds_kmh, **lane_speeds(train_samples)})
    counts: dict[str, Any] = {"train_trips": train_trips, "held_out_trips": held_out_trips,
              "train_rows": len(train_samples), "trained_at": now}  # fmt: skip
    if train_trips + held_out_trips < min_trips or not held_out_samples or not train_samples:
        why = (
            f"not enough history: {train_trips + held_out_trips} delivered trip(s) with"
            f" placeable stops, {min_trips} needed"
        )
        return Trained(None, None, False, why, **counts, baseline=base)
    model = fit(train_samples, base, params)
    scored = evaluate(model, held_out_samples, base)
    if scored.model_mae_min < scored.baseline_mae_min * (1 - min_gain):
        why = (
            f"held-out MAE {scored.model_mae_min:.1f} min against the baseline's"
            f" {scored.baseline_mae_min:.1f} min on {scored.rows} held-out snapshot(s)"
        )
        return Trained(model, scored, True, why, **counts, baseline=base)
    why = (
        f"does not beat the baseline: held-out MAE {scored.model_mae_min:.1f} min against"
        f" {scored.baseline_mae_min:.1f} min (needs {min_gain:.0%} better)"
    )
    return Trained(model, scored, False, why, **counts, baseline=base)


def lane_speeds(samples: Sequence[tuple[Snapshot, float]], min_trips: int = 3) -> dict[str, float]:
    """Each lane's default speed: the median over its trips of distance / time from the
    pickup to the delivery, rests and traffic included (what a planner would quote)."""
    found: dict[str, list[float]] = {}
    for snapshot, minutes in samples:
        if snapshot.elapsed_min == 0 and snapshot.stops_left == 1 and minutes > 0:
            lane = f"{snapshot.origin}>{snapshot.destination}"
            found.setdefault(lane, []).append(snapshot.remaining_km / (minutes / 60))
    return {
        lane: round(median(speeds), 2) for lane, speeds in found.items() if len(speeds) >= min_trips
    }


# -- versions ---------------------------------------------------------------------------------
def save(conn: Connection, trained: Trained) -> int:
    """Record the training as a new version; an accepted one becomes the active model and
    the previous active one is retired. Returns the version number."""
    scored = trained.evaluation
    metrics: dict[str, Any] = {
        "train_rows": trained.train_rows,
        "lane_speeds_kmh": dict(trained.baseline.lane_speeds_kmh),
        **trained.extra,
    }
    if scored is not None:
        metrics.update(
            coverage=round(scored.coverage, 4),
            baseline_coverage=round(scored.baseline_coverage, 4),
            baseline_low=round(scored.baseline_low, 4),
            baseline_high=round(scored.baseline_high, 4),
            held_out_rows=scored.rows,
        )
    blob = digest = None
    if trained.accepted and trained.model is not None:
        blob = pickle.dumps(trained.model, protocol=pickle.HIGHEST_PROTOCOL)
        digest = hashlib.sha256(blob).hexdigest()
        conn.execute(
            update(eta_models).where(eta_models.c.status == "active").values(status="retired")
        )
    result = conn.execute(
        eta_models.insert().values(
            trained_at=iso(trained.trained_at),
            status="active" if trained.accepted else "rejected",
            reason=trained.reason[:2000],
            train_trips=trained.train_trips,
            held_out_trips=trained.held_out_trips,
            model_mae_min=scored.model_mae_min if scored else None,
            baseline_mae_min=scored.baseline_mae_min if scored else None,
            metrics=orjson.dumps(metrics).decode(),
            sklearn_version=sklearn_version() or "",
            model=blob,
            model_sha256=digest,
        )
    )
    version = result.inserted_primary_key[0] if result.inserted_primary_key else None
    assert version is not None
    return int(version)


def versions(conn: Connection, limit: int = 20) -> list[dict[str, Any]]:
    """The newest versions, without their models: what `intermodal` and the docs show."""
    columns = [c for c in eta_models.c if c.name not in ("model",)]
    rows = conn.execute(select(*columns).order_by(eta_models.c.version.desc()).limit(limit)).all()
    return [{**row._asdict(), "metrics": orjson.loads(row.metrics)} for row in rows]


@dataclass(frozen=True)
class Choice:
    """What the ETAs use now: a model (with its version) or nothing, and why."""

    model: EtaModel | None
    version: int | None
    reason: str
    calibration: tuple[float, float] | None = None
    """The baseline's interval (low, high) calibrated by the version's training, if any."""
    lane_speeds_kmh: dict[str, float] = field(default_factory=dict)
    """The lanes' default speeds that training learnt (the baseline uses them)."""

    def baseline(self, settings: BaselineSettings) -> BaselineSettings:
        """The configured baseline with what training learnt: lane speeds, interval."""
        low, high = self.calibration or (settings.low, settings.high)
        lanes = {**settings.lane_speeds_kmh, **self.lane_speeds_kmh}
        return replace(settings, low=low, high=high, lane_speeds_kmh=lanes)


MISSING = "scikit-learn is not installed (pip install 'intermodal[foresight]')"


def sklearn_version() -> str | None:
    """The scikit-learn this process would train and load with; None when it is not
    installed (it is the `foresight` extra: without it every ETA is the baseline's)."""
    try:
        import sklearn
    except ImportError:
        return None
    return str(sklearn.__version__)


def active_version(conn: Connection) -> int | None:
    found = conn.execute(
        select(eta_models.c.version)
        .where(eta_models.c.status == "active")
        .order_by(eta_models.c.version.desc())
        .limit(1)
    ).scalar()
    return int(found) if found is not None else None


def choose(conn: Connection, cached: EtaModel | None = None) -> Choice:
    """The active model (loaded, or `cached` when it is that version), or why none; with
    the baseline's lane speeds and interval from the active version, else the newest."""
    newest = conn.execute(
        select(eta_models.c.version, eta_models.c.status, eta_models.c.reason, eta_models.c.metrics)
        .order_by(eta_models.c.version.desc())
        .limit(1)
    ).first()
    if newest is None:
        return Choice(None, None, "no model trained yet")
    learnt = _learnt(newest.metrics)
    version = active_version(conn)
    if version is None:
        return Choice(None, None, f"model v{newest.version} not used: {newest.reason}", *learnt)
    row = conn.execute(select(eta_models).where(eta_models.c.version == version)).one()
    learnt = _learnt(row.metrics)
    reason = f"model v{version}: {row.reason}"
    if version != newest.version:
        reason += f" (v{newest.version} was not used: {newest.reason})"
    if cached is not None and cached.version == version:
        return Choice(cached, version, reason, *learnt)
    try:
        model = load(row)
    except ModelError as exc:
        return Choice(None, None, f"model v{version} not used: {exc}", *learnt)
    return Choice(model, version, reason, *learnt)


def _learnt(metrics: str) -> tuple[tuple[float, float] | None, dict[str, float]]:
    found = orjson.loads(metrics)
    calibration = None
    if "baseline_low" in found and "baseline_high" in found:
        calibration = float(found["baseline_low"]), float(found["baseline_high"])
    lanes = {str(k): float(v) for k, v in (found.get("lane_speeds_kmh") or {}).items()}
    return calibration, lanes


def load(row: Any) -> EtaModel:
    """The model of a version row; ModelError when it cannot be trusted to load."""
    if row.model is None:
        raise ModelError("the version holds no model")
    running = sklearn_version()
    if running is None:
        raise ModelError(MISSING)
    if row.sklearn_version != running:
        raise ModelError(
            f"trained with scikit-learn {row.sklearn_version}, running {running}: retrain"
        )
    blob = bytes(row.model)
    if hashlib.sha256(blob).hexdigest() != row.model_sha256:
        raise ModelError("its stored checksum does not match: retrain")
    model = pickle.loads(blob)  # noqa: S301 - our own table, checksum checked (module doc)
    if not isinstance(model, EtaModel):
        raise ModelError("the stored object is not an arrival-time model")
    model.version = int(row.version)
    return model
