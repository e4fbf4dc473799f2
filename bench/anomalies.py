"""Anomaly detection: precision and recall on planted anomalies, against fixed thresholds.

Each scenario is a stream of the simulator's world (intermodal_sim.anomaly_streams: a
chatty parcel carrier with exceptions every hour, a road carrier that always reports
in_transit before picked_up, a WMS silent every night, a customs broker writing every
forty minutes, lanes of hours and of days) with some of four anomalies planted at its end:
a partner gone quiet, a carrier's burst of exceptions, a shipment stuck far past its lane's
usual dwell, a carrier sending deliveries before out-for-delivery. The stream is written
into a hub's SQLite store as the hub would hold it; the history is read back through the
detectors' own reader, and both sides judge the same history at the stream's end:

- ours: `intermodal.foresight.anomalies.detect` with the default configuration;
- peer: the fixed-threshold rules an operator would set once for every partner: silent
  for more than 30 minutes; 8 or more exceptions in the last hour (per partner and lane);
  at one milestone for more than 48 hours; 3 or more milestones in the last hour reported
  after a later one of the main chain.

A finding is right when it names a planted anomaly (or a lane its carrier's burst shows
on); each planted anomaly not named is missed. Precision, recall and F1 over every
scenario, per detector and overall; also the time one pass takes (read + detect).

    python bench/anomalies.py [--quick]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import defaultdict
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import print_header, result_line
from intermodal.canonical.model import MAIN_CHAIN
from intermodal.config import AnomaliesConfig
from intermodal.foresight.anomalies import History, HistoryReader, detect
from intermodal.store import open_store
from intermodal_sim.anomaly_streams import PARTNERS, load, stream

RANK = {m.value: i for i, m in enumerate(MAIN_CHAIN)}
EXCEPTIONS = ("exception", "delivery_failed")


def naive(history: History) -> set[str]:
    """Fixed thresholds, the same for every partner, lane and carrier."""
    now = history.now
    hour = now - timedelta(hours=1)
    found = set()
    for partner, times in history.received.items():
        if times and now - max(times) > timedelta(minutes=30):
            found.add(f"quiet:partner:{partner}")
    counts: dict[str, int] = defaultdict(int)
    for r in history.reports:
        if r.milestone in EXCEPTIONS and hour < r.recorded_at <= now:
            counts[f"partner:{r.partner}"] += 1
            lane = history.lanes.get(r.subject)
            if lane is not None:
                counts[f"lane:{lane}"] += 1
    found |= {f"burst:{key}" for key, n in counts.items() if n >= 8}
    for shipment in history.active:
        if now - shipment.since > timedelta(hours=48):
            found.add(f"dwell:{shipment.key}")
    highest: dict[tuple[str, str], int] = {}
    late: dict[str, int] = defaultdict(int)
    for r in sorted(history.reports, key=lambda r: r.seq):
        if r.milestone not in RANK or r.recorded_at > now:
            continue
        key = (r.partner, r.subject)
        if RANK[r.milestone] < highest.get(key, -1) and r.recorded_at > hour:
            late[r.partner] += 1
        highest[key] = max(highest.get(key, -1), RANK[r.milestone])
    found |= {f"order:partner:{p}" for p, n in late.items() if n >= 3}
    return found


class Score:
    def __init__(self) -> None:
        self.tp: dict[str, int] = defaultdict(int)
        self.fp: dict[str, int] = defaultdict(int)
        self.fn: dict[str, int] = defaultdict(int)

    def add(self, found: set[str], planted: set[str], explained: set[str]) -> None:
        for key in found:
            detector = key.split(":", 1)[0]
            if key in planted:
                self.tp[detector] += 1
            elif key not in explained:
                self.fp[detector] += 1
        for key in planted - found:
            self.fn[key.split(":", 1)[0]] += 1

    def figures(self, detector: str | None = None) -> tuple[float, float, float]:
        def total(counts: dict[str, int]) -> int:
            return counts[detector] if detector else sum(counts.values())

        tp, fp, fn = total(self.tp), total(self.fp), total(self.fn)
        precision = tp / (tp + fp) if tp + fp else 1.0
        recall = tp / (tp + fn) if tp + fn else 1.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return precision, recall, f1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter scenarios (< 1 min)")
    args = parser.parse_args()
    print_header("anomalies: planted anomalies found, against fixed thresholds", args.quick)
    scenarios, days = (6, 2.0) if args.quick else (30, 14.0)
    config = AnomaliesConfig()
    ours, peer = Score(), Score()
    passes: list[float] = []
    planted_total = 0
    with tempfile.TemporaryDirectory() as folder:
        for seed in range(scenarios):
            s = stream(seed, days=days)
            store = open_store(f"sqlite:///{folder}/hub-{seed}.db")
            load(store, s)
            started = time.perf_counter()
            history = HistoryReader(store, PARTNERS, config).read(s.now)
            found = {f.key for f in detect(history, config)}
            passes.append(time.perf_counter() - started)
            store.dispose()
            planted = {p.key for p in s.planted}
            explained = {key for p in s.planted for key in p.also}
            planted_total += len(planted)
            ours.add(found, planted, explained)
            theirs = naive(history)
            peer.add(theirs, planted, explained)
            print(
                f"seed {seed:2d} {s.now:%a %H:%M} planted {sorted(planted)}"
                f" | ours missed {sorted(planted - found)} extra"
                f" {sorted(found - planted - explained)}"
                f" | fixed missed {len(planted - theirs)} extra"
                f" {len(theirs - planted - explained)}"
            )
    print(f"{scenarios} scenarios of {days:g} days, {planted_total} planted anomalies")
    print(f"{'detector':10s} {'ours P/R/F1':>20s} {'fixed thresholds P/R/F1':>26s}")
    for detector in ("quiet", "burst", "dwell", "order"):
        a, b = ours.figures(detector), peer.figures(detector)
        ours_figures = " ".join(f"{x:6.2f}" for x in a)
        print(f"{detector:10s} {ours_figures} {b[0]:12.2f} {b[1]:6.2f} {b[2]:6.2f}")
    p, r, f = ours.figures()
    pp, pr, pf = peer.figures()
    print(f"one pass (read the history + detect): median {sorted(passes)[len(passes) // 2]:.2f} s")
    print(result_line("anomalies", "precision", p, "share", pp))
    print(result_line("anomalies", "recall", r, "share", pr))
    print(result_line("anomalies", "f1", f, "share", pf))


if __name__ == "__main__":
    main()
