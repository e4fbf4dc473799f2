"""The learned model: trained and judged on held-out simulated history, versioned in the
store, used only while it beats the baseline; a model that is worse falls back.

Training here is small (a few hundred trips, 40 boosting rounds): enough for the model
to beat the distance/speed baseline by far, fast enough for the suite.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sklearn
from sqlalchemy import select, update

from intermodal.foresight import eta_model, history
from intermodal.foresight.eta import BaselineSettings, Snapshot
from intermodal.store import Store, open_store
from intermodal.store.tables import eta_models

NOW = datetime(2026, 6, 1, tzinfo=UTC)
SMALL = eta_model.TrainingParams(max_iter=30)
Samples = list[tuple[Snapshot, float]]


@pytest.fixture(scope="module")
def trips() -> tuple[list[history.Trip], list[history.Trip]]:
    return history.split(history.simulate(200, seed=11, days=30))


@pytest.fixture(scope="module")
def samples(trips: tuple[list[history.Trip], list[history.Trip]]) -> tuple[Samples, Samples]:
    training, held_out = trips
    return history.samples(training), history.samples(held_out)


@pytest.fixture(scope="module")
def good(samples: tuple[Samples, Samples]) -> eta_model.Trained:
    training, held_out = samples
    return eta_model.train(training, held_out, BaselineSettings(), NOW, 160, 40, params=SMALL)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    found = open_store(f"sqlite:///{tmp_path / 'hub.db'}")
    yield found
    found.dispose()


def test_a_model_that_beats_the_baseline_on_held_out_history_is_accepted(
    good: eta_model.Trained, samples: tuple[Samples, Samples]
) -> None:
    assert good.accepted and good.model is not None and good.evaluation is not None
    scored = good.evaluation
    assert scored.model_mae_min < scored.baseline_mae_min * 0.95
    assert scored.rows == len(samples[1])
    assert 0.5 <= scored.coverage <= 1.0  # the truth falls inside [p10, p90] most of the time
    assert scored.baseline_low <= 1.0 <= scored.baseline_high
    assert "held-out MAE" in good.reason
    assert good.baseline.lane_speeds_kmh  # the baseline it was judged against knows the lanes
    predicted = good.model.predict([s for s, _ in samples[1][:50]])
    assert predicted.shape == (50, 3)
    assert (predicted[:, 0] <= predicted[:, 1]).all() and (predicted[:, 1] <= predicted[:, 2]).all()


def test_a_model_worse_than_the_baseline_is_recorded_and_never_used(
    samples: tuple[Samples, Samples], store: Store
) -> None:
    training, held_out = samples
    rng = random.Random(3)
    noise = [(s, rng.uniform(0, 6000)) for s, _ in training]  # truths that teach nothing
    worse = eta_model.train(noise, held_out, BaselineSettings(), NOW, 160, 40, params=SMALL)
    assert not worse.accepted and worse.evaluation is not None
    assert worse.evaluation.model_mae_min >= worse.evaluation.baseline_mae_min * 0.95
    assert worse.reason.startswith("does not beat the baseline")
    with store.write() as conn:
        version = eta_model.save(conn, worse)
    with store.read() as conn:
        choice = eta_model.choose(conn)
        row = conn.execute(select(eta_models).where(eta_models.c.version == version)).one()
    assert choice.model is None and choice.version is None
    assert choice.reason.startswith(f"model v{version} not used: does not beat the baseline")
    assert row.status == "rejected" and row.model is None
    assert row.model_mae_min == pytest.approx(worse.evaluation.model_mae_min)
    assert choice.calibration is not None  # the baseline's interval is still calibrated


def test_too_little_history_trains_nothing_and_says_so(samples: tuple[Samples, Samples]) -> None:
    training, held_out = samples
    found = eta_model.train(training[:20], held_out[:5], BaselineSettings(), NOW, 8, 2)
    assert not found.accepted and found.model is None
    assert found.reason == (
        "not enough history: 10 delivered trip(s) with placeable stops, 200 needed"
    )


def test_versions_are_numbered_the_newest_accepted_is_used_and_the_reason_shown(
    good: eta_model.Trained, samples: tuple[Samples, Samples], store: Store
) -> None:
    training, held_out = samples
    rng = random.Random(4)
    worse = eta_model.train([(s, rng.uniform(0, 6000)) for s, _ in training], held_out,
                            BaselineSettings(), NOW, 160, 40, params=SMALL)  # fmt: skip
    with store.write() as conn:
        first = eta_model.save(conn, good)
        second = eta_model.save(conn, good)
        third = eta_model.save(conn, worse)
    assert (first, second, third) == (1, 2, 3)
    with store.read() as conn:
        choice = eta_model.choose(conn)
        statuses = {v["version"]: v["status"] for v in eta_model.versions(conn)}
    assert statuses == {1: "retired", 2: "active", 3: "rejected"}
    assert choice.version == 2 and choice.model is not None and choice.model.version == 2
    assert choice.reason.startswith("model v2: held-out MAE")
    assert "(v3 was not used: does not beat the baseline" in choice.reason
    with store.read() as conn:  # the same version again: the loaded model is reused
        assert eta_model.choose(conn, choice.model).model is choice.model
    tuned = choice.baseline(BaselineSettings(low=0.5, high=9.0))
    assert (tuned.low, tuned.high) == choice.calibration
    assert tuned.lane_speeds_kmh == good.baseline.lane_speeds_kmh


def test_a_model_from_another_scikit_learn_or_with_a_bad_checksum_is_not_loaded(
    good: eta_model.Trained, store: Store
) -> None:
    with store.write() as conn:
        version = eta_model.save(conn, good)
        conn.execute(update(eta_models).values(sklearn_version="0.0.1"))
    with store.read() as conn:
        choice = eta_model.choose(conn)
    assert choice.model is None
    assert choice.reason == (
        f"model v{version} not used: trained with scikit-learn 0.0.1, running"
        f" {sklearn.__version__}: retrain"
    )
    with store.write() as conn:
        conn.execute(update(eta_models).values(sklearn_version=sklearn.__version__,
                                               model_sha256="0" * 64))  # fmt: skip
    with store.read() as conn:
        assert eta_model.choose(conn).reason.endswith("its stored checksum does not match: retrain")
