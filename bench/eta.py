"""Arrival times: the learned model against the distance/speed baseline, on held-out history.

The workload is simulated history (`intermodal.foresight.history`, seeded): trips on 40
lanes in North America and Europe by three carriers, with drivers' hours, Sunday bans,
traffic by local hour and incidents. The newest 20% of trips (by delivery) are held out;
the model trains on the rest exactly as the hub's retrain job does (`eta_model.train`:
three quantile ensembles, the baseline's lane speeds learnt from the same training trips).

Figures, each for ours (the model) and the peer (the baseline) in the same run:

1. **ETA error**: mean absolute error, in minutes, of the delivery ETA at every held-out
   snapshot (at the pickup, then every hour of telematics), and how often the truth fell
   inside [p10, p90].
2. **Early warning**: each held-out trip replayed with a refresh every 30 minutes from
   the pickup until it is delivered or its SLA deadline passes, through the same
   `warnings.decide` as the hub (p10 past the deadline opens; two recovered refreshes
   close). Lead time: how long before the deadline the first case opened, median over the
   trips that did breach; precision: the share of trips warned about that did breach;
   recall: the share of breaching trips warned about before the deadline.

    python bench/eta.py [--quick] [--trips N] [--seed S]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from _common import print_header, result_line

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from intermodal.config import EarlyWarningConfig
from intermodal.foresight import eta_model, history, warnings
from intermodal.foresight.eta import (
    Anchor,
    BaselineSettings,
    Estimate,
    PlacedStop,
    Route,
    estimate,
    legs,
    place_key,
    snapshot_of,
)

REFRESH = timedelta(minutes=30)


def route_of(trip: history.Trip) -> Route:
    lane = trip.lane
    stops = (
        PlacedStop(1, "pickup", place_key(*lane.origin), lane.origin_point, "city",
                   trip.window_start, None),
        PlacedStop(2, "delivery", place_key(*lane.destination), lane.destination_point, "city",
                   None, None),
    )  # fmt: skip
    return Route(trip.trip_id, stops, trip.carrier, trip.picked_up_at)


def replay(
    trips: list[history.Trip], model: eta_model.EtaModel, base: BaselineSettings
) -> dict[str, list[tuple[history.Trip, list[Estimate]]]]:
    """Each trip's estimates at every refresh, by the model and by the baseline."""
    steps = []
    for trip in trips:
        route, fixes, i = route_of(trip), trip.fixes, -1
        end = min(trip.delivered_at, trip.deadline)
        now = trip.picked_up_at + REFRESH
        while now < end:
            while i + 1 < len(fixes) and fixes[i + 1].at <= now:
                i += 1
            if i >= 0:
                fix = fixes[i]
                anchor = Anchor(fix.point, fix.at, "telematics", fix.speed_kmh)
            else:
                anchor = Anchor(route.stops[0].point, trip.picked_up_at, "pickup")
            distances = legs(route, anchor)
            steps.append(
                (trip, route, anchor, distances, snapshot_of(route, anchor, distances), now)
            )
            now += REFRESH
    predicted = model.predict([s[4] for s in steps])
    out: dict[str, dict[str, list[Estimate]]] = {"model": {}, "baseline": {}}
    for step, minutes in zip(steps, predicted, strict=True):
        trip, route, anchor, distances, snapshot, now = step
        learned = (float(minutes[0]), float(minutes[1]), float(minutes[2]))
        for name, found in (("model", learned), ("baseline", None)):
            out[name].setdefault(trip.trip_id, []).append(
                estimate(route, anchor, distances, snapshot, now, base, found, 1)
            )
    by_id = {t.trip_id: t for t in trips}
    return {name: [(by_id[k], v) for k, v in found.items()] for name, found in out.items()}


def warn(
    replayed: list[tuple[history.Trip, list[Estimate]]], config: EarlyWarningConfig
) -> tuple[list[float], int, int, int]:
    """(lead minutes of the breaching trips warned about, warned, warned and late, late)."""
    leads, warned, right = [], 0, 0
    for trip, estimates in replayed:
        case, streak, first = "none", 0, None
        for found in estimates:
            decision = warnings.decide(found, trip.deadline, streak, case, config,  # type: ignore[arg-type]
                                       found.computed_at)  # fmt: skip
            streak = decision.streak
            if decision.action == "open":
                case = "open"
                first = first or found.computed_at
            elif decision.action == "close":
                case = "none"
        if first is not None:
            warned += 1
            if trip.late:
                right += 1
                leads.append((trip.deadline - first).total_seconds() / 60)
    late = sum(1 for trip, _ in replayed if trip.late)
    return leads, warned, right, late


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller history (< 1 minute)")
    parser.add_argument("--trips", type=int, default=None)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    trips_n = args.trips or (1200 if args.quick else 5000)
    print_header("arrival times: learned model vs distance/speed baseline", args.quick)

    started = time.perf_counter()
    trips = history.simulate(trips_n, seed=args.seed, days=40 if args.quick else 150)
    training, held_out = history.split(trips, 0.2)
    train_samples, held_samples = history.samples(training), history.samples(held_out)
    simulated = time.perf_counter() - started
    late = sum(t.late for t in trips)
    print(f"history: {len(trips)} trips ({late} late), {len(train_samples)} training and"
          f" {len(held_samples)} held-out snapshots, simulated in {simulated:.1f} s")  # fmt: skip

    started = time.perf_counter()
    params = eta_model.TrainingParams(max_iter=150 if args.quick else 300)
    trained = eta_model.train(
        train_samples, held_samples, BaselineSettings(), held_out[0].delivered_at,
        len(training), len(held_out), params=params,
    )  # fmt: skip
    took = time.perf_counter() - started
    scored = trained.evaluation
    assert scored is not None and trained.model is not None
    print(f"training: {took:.1f} s (3 ensembles x {params.max_iter} rounds, 1 thread);"
          f" {'accepted' if trained.accepted else 'rejected'}: {trained.reason}")  # fmt: skip
    print(f"ETA MAE on held-out snapshots: model {scored.model_mae_min:.1f} min,"
          f" baseline {scored.baseline_mae_min:.1f} min")  # fmt: skip
    print(f"truth inside [p10, p90]: model {scored.coverage:.0%},"
          f" baseline {scored.baseline_coverage:.0%} (calibrated band"
          f" x{scored.baseline_low:.2f}..x{scored.baseline_high:.2f})")  # fmt: skip

    base = replace(trained.baseline, low=scored.baseline_low, high=scored.baseline_high)
    replayed = replay(held_out, trained.model, base)
    config = EarlyWarningConfig()
    figures = {}
    for name in ("model", "baseline"):
        leads, warned, right, late_n = warn(replayed[name], config)
        precision = right / warned if warned else 0.0
        recall = right / late_n if late_n else 0.0
        median = statistics.median(leads) if leads else 0.0
        figures[name] = (median, precision, recall)
        print(f"early warning ({name}): {late_n} of {len(held_out)} held-out trips breached;"
              f" warned {warned}, of which {right} breached: precision {precision:.0%},"
              f" recall {recall:.0%}, median lead {median:.0f} min")  # fmt: skip

    print(result_line("eta", "mae", scored.model_mae_min, "min", scored.baseline_mae_min))
    print(
        result_line("eta", "coverage_p10_p90", scored.coverage, "share", scored.baseline_coverage)
    )
    print(result_line("eta_warning", "lead_time_median", figures["model"][0], "min",
                      figures["baseline"][0]))  # fmt: skip
    print(result_line("eta_warning", "precision", figures["model"][1], "share",
                      figures["baseline"][1]))  # fmt: skip
    print(result_line("eta_warning", "recall", figures["model"][2], "share",
                      figures["baseline"][2]))  # fmt: skip


if __name__ == "__main__":
    main()
