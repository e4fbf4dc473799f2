"""Give memory freed after a burst back to the operating system.

The hub holds no shipment in memory (state lives in the store), but a burst (a
10,000-event batch parsed into models, an apply batch, a dispatcher pass over thousands
of commands) briefly needs tens of megabytes. CPython frees those objects, yet glibc's
malloc keeps the freed pages in its per-thread arenas, so the resident set stays at the
burst's high-water mark for the life of the process: 144 MB above idle after 100,000
shipments in W5 (BENCHMARKS.md), although the live Python heap had grown by a few MB.
`malloc_trim(0)` returns those pages; the hub calls it when its workers go quiet after
having worked, which costs a few milliseconds once per burst and nothing while idle.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from intermodal.processes import libc

_trim: Callable[[int], int] | None = None
if sys.platform.startswith("linux"):
    try:
        _trim = libc().malloc_trim  # glibc only; musl has none
    except (OSError, AttributeError):
        _trim = None


def release_free_memory() -> bool:
    """Return free heap pages to the OS (glibc); False where that is not possible."""
    if _trim is None:
        return False
    _trim(0)
    return True


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a parser builds many small objects.

    Parsing an EDI document (hundreds of thousands of tuples) or a 10,000-event batch
    (10,000 dicts, then 10,000 models) triggers a generation-0 collection every few hundred
    allocations, each scanning what was just built: measured as half of an EDI parse, and
    validating a 10,000-event batch took 90-240 ms with the collector on, 51 ms paused.
    The parsers create no reference cycles, so reference counting frees everything they
    make; only collection is deferred, and only if it was enabled. No `await` may run
    inside: the pause is process-wide.
    """
    enabled = gc.isenabled()
    if enabled:
        gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


_FROZEN = False


def freeze_start_up_heap() -> None:
    """Once per process: move what start-up built out of the cyclic collector's reach.

    Everything imported and built before the first hub starts (FastAPI, SQLAlchemy,
    pydantic schemas, the configuration) lives as long as the process, yet every full
    collection scanned it again. Frozen, a collection scans only what the hub allocated
    since: W1 went from 235 to 199 us of CPU per webhook (BENCHMARKS.md, 2026-11-30).
    The applier process freezes its own.
    """
    global _FROZEN
    if not _FROZEN:
        _FROZEN = True
        gc.freeze()
