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

import ctypes
import ctypes.util
import sys
from collections.abc import Callable

_trim: Callable[[int], int] | None = None
if sys.platform.startswith("linux"):
    try:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        _trim = _libc.malloc_trim  # glibc only; musl has none
    except (OSError, AttributeError):
        _trim = None


def release_free_memory() -> bool:
    """Return free heap pages to the OS (glibc); False where that is not possible."""
    if _trim is None:
        return False
    _trim(0)
    return True
