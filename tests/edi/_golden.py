"""Golden EDI documents: written by hand from the published X12 004010 and EDIFACT
D00B/D01B segment layouts (element positions as carrier implementation guides give them)."""

from __future__ import annotations

from pathlib import Path

GOLDEN = Path(__file__).parent / "golden"


def golden(name: str) -> bytes:
    return (GOLDEN / name).read_bytes()


X12_GOLDEN = sorted(p.name for p in GOLDEN.glob("*.x12"))
EDIFACT_GOLDEN = sorted(p.name for p in GOLDEN.glob("*.edi"))
# documents that hold an envelope error on purpose
BROKEN = {"se01_mismatch.x12", "iftsta_wrong_unt.edi"}
