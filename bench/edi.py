"""EDI: X12 214 status messages parsed per second, against pyx12 in the same run.

The workload is one file holding many 214 transaction sets (12 segments each: B10, L11,
N1/N3/N4, LX, AT7, MS1, MS2, AT8, and the ST/SE envelope), 500 sets per functional group and
10 groups per interchange, as a carrier's batch of status updates arrives. Each system
reads the whole file from bytes in memory, segment by segment, with the envelope checks
(SE01 count, ST02 = SE02, GE01/GE02, IEA01/IEA02): the time per run is divided into the
number of 214s.

- hub: `intermodal.edi.x12.parse_x12(data, "reject")`, building the full document
  (interchanges -> groups -> transaction sets -> segments -> elements -> components).
- peer: pyx12's `X12Reader` (pyx12 4.0.0, a maintained X12 library), iterating every segment
  of the same file; it tokenizes, builds a Segment object per segment and runs the same
  envelope checks. It was chosen over badx12 (unmaintained since 2018) and over a naive
  `split` (which checks nothing and is printed for reference only). pyx12 is a dev/bench
  dependency; without it the naive split is the peer and the line says so.

A second figure measures 214s parsed AND mapped to validated canonical events
(`examples/partners/ridgeline/mapping.yaml`: the x12_214 reader, JSONata field expressions,
the AT7 status table) on a smaller file of one interchange per 500 sets. Its peer is
pyx12 reading the same file (segments only, no mapping: no peer maps X12 to our model),
so the ratio shows what mapping costs on top of a maintained parser.

    python bench/edi.py [--quick]
"""

from __future__ import annotations

import argparse
import gc
import io
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from _common import print_header, result_line

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from intermodal.edi.control import MemoryControlNumbers
from intermodal.edi.errors import Segment
from intermodal.edi.x12 import Party, build_interchange, generate_x12, parse_x12
from intermodal.mapping import load_mapping

STATUSES = ("X3", "AF", "X6", "X1", "D1")
CITIES = (("CHICAGO", "IL"), ("JOLIET", "IL"), ("SPRINGFIELD", "IL"), ("ST. LOUIS", "MO"))


def status_214(index: int) -> list[Segment]:
    city, state = CITIES[index % len(CITIES)]
    minute = index % 60
    return [
        Segment.of("B10", f"PRO{index:08d}", f"SHIP{index:08d}", "ABCD"),
        Segment.of("L11", f"PO{index:07d}", "PO"),
        Segment.of("N1", "SH", "ACME SHIPPING", "93", "ACME01"),
        Segment.of("N3", "100 MAIN ST"),
        Segment.of("N4", "CHICAGO", "IL", "60601", "US"),
        Segment.of("LX", "1"),
        Segment.of(
            "AT7",
            STATUSES[index % len(STATUSES)],
            "NS",
            "",
            "",
            "20240105",
            f"12{minute:02d}",
            "CT",
        ),
        Segment.of("MS1", city, state, "US"),
        Segment.of("MS2", "ABCD", f"TRL{index % 500:04d}"),
        Segment.of("AT8", "G", "L", str(1000 + index % 9000), "10"),
    ]


def build_file(count: int, per_group: int = 500, groups_per_interchange: int = 10) -> bytes:
    control = MemoryControlNumbers()
    at = datetime(2024, 1, 5, 12, 0, tzinfo=UTC)
    out = []
    per_interchange = per_group * groups_per_interchange
    for start in range(0, count, per_interchange):
        ic = build_interchange(
            [],
            sender=Party("02", "ABCD"),
            receiver=Party("ZZ", "SHIPPERID"),
            control=control,
            partner="bench",
            at=at,
        )
        stop = min(count, start + per_interchange)
        for group_start in range(start, stop, per_group):
            batch = build_interchange(
                [
                    ("214", status_214(i))
                    for i in range(group_start, min(stop, group_start + per_group))
                ],
                sender=Party("02", "ABCD"),
                receiver=Party("ZZ", "SHIPPERID"),
                control=control,
                partner="bench",
                at=at,
            )
            ic.groups.extend(batch.groups)
        out.append(generate_x12(ic, newline=True))
    return b"".join(out)


def hub_parse(data: bytes) -> int:
    doc = parse_x12(data, "reject")
    return sum(1 for _ in doc.transactions())


_MAPPING = load_mapping(
    Path(__file__).resolve().parent.parent / "examples/partners/ridgeline/mapping.yaml", "bench"
)


def hub_map(data: bytes) -> int:
    """Parse and map: one canonical event per AT7 (one AT7 per 214 in this workload)."""
    return len(_MAPPING.parse(data))


def pyx12_parse(data: bytes) -> int:
    import pyx12.x12file

    reader = pyx12.x12file.X12Reader(io.StringIO(data.decode("ascii")))
    sets = 0
    for segment in reader:
        if segment.get_seg_id() == "ST":
            sets += 1
    errors = reader.pop_errors() if hasattr(reader, "pop_errors") else []
    if errors:
        raise RuntimeError(f"pyx12 found errors in a valid file: {errors[:3]}")
    return sets


def naive_parse(data: bytes) -> int:
    """What one writes first: split on '~' then '*'; no delimiter detection, no checks."""
    text = data.decode("ascii")
    segments = [s.strip().split("*") for s in text.split("~")]
    return sum(1 for s in segments if s[0] == "ST")


def measure(name: str, parse: Callable[[bytes], int], data: bytes, count: int, runs: int) -> float:
    assert parse(data) == count, f"{name} counted a different number of 214s"
    rates = []
    for _ in range(runs):
        gc.collect()
        start = time.perf_counter()
        parse(data)
        elapsed = time.perf_counter() - start
        rates.append(count / elapsed)
    median = statistics.median(rates)
    print(
        f"  {name:<6} {count} x 214 in {count / median:.3f}s (median of {runs}) "
        f"-> {median:,.0f} msgs/s (best {max(rates):,.0f})"
    )
    sys.stdout.flush()
    return median


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller file, fewer runs (< 1 min)")
    args = parser.parse_args(argv)
    count, runs = (10_000, 3) if args.quick else (100_000, 3)
    print_header("edi: X12 214 parse", args.quick)
    data = build_file(count)
    print(f"workload: {count} x 214 in one file, {len(data) / 1e6:.1f} MB, 12 segments each")
    hub = measure("hub", hub_parse, data, count, runs)
    try:
        import pyx12  # noqa: F401

        peer_name = "pyx12"
        peer = measure("pyx12", pyx12_parse, data, count, runs)
    except ImportError:
        peer_name = "naive"
        peer = 0.0
        print("  pyx12 not installed: the naive split is the peer")
    naive = measure("naive", naive_parse, data, count, runs)
    if peer_name == "naive":
        peer = naive
    print(f"peer: {peer_name}")
    print(result_line("edi", "x12_214_parse", hub, "msgs/s", peer))
    mapped_count = count // 10
    mapped_data = build_file(mapped_count, per_group=500, groups_per_interchange=1)
    print(f"workload: {mapped_count} x 214 parsed and mapped to canonical events")
    mapped = measure("mapped", hub_map, mapped_data, mapped_count, runs)
    map_peer = (
        measure(peer_name, pyx12_parse, mapped_data, mapped_count, runs)
        if peer_name == "pyx12"
        else measure("naive", naive_parse, mapped_data, mapped_count, runs)
    )
    print(f"peer: {peer_name} (parse only)")
    print(result_line("edi", "x12_214_to_events", mapped, "msgs/s", map_peer))


if __name__ == "__main__":
    main(sys.argv[1:])
