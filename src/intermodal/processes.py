"""What every child process of the hub does the same way: the workers and the inbox writer
(serve.py), the appliers (engine/applier_process.py), the document reader
(foresight/documents_reading.py).

- **Deaf to Ctrl-C from its first instruction.** Ctrl-C in a terminal, and systemd's or
  Docker's stop, signal the whole process group, and the parent stops its children itself
  (SIGTERM, or closing their pipe) in its own order. A child spawned a moment before is
  still importing the hub, and Python's default SIGINT handler raises KeyboardInterrupt
  there, before the child's main could ignore it: it died with a traceback in the log.
  So the parent starts it with SIGINT blocked (`start_deaf_to_sigint`): a blocked signal
  stays blocked across fork and exec and waits, pending, instead of being delivered. The
  child's main then ignores SIGINT, which discards one that waited, and unblocks it
  (`ignore_sigint`). multiprocessing starts its resource tracker the same way.
- **Dead with its parent** (`die_with_parent`): a SIGKILLed supervisor or core worker
  leaves no orphan behind holding the port, a lease or the writer lock.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import os
import signal
import sys
from multiprocessing import resource_tracker
from multiprocessing.process import BaseProcess

_PR_SET_PDEATHSIG = 1
_PR_SET_NAME = 15


def start_deaf_to_sigint(process: BaseProcess) -> None:
    """`process.start()` with SIGINT blocked in the calling thread, so that the child
    starts with it blocked. The mask is the thread's, so a supervising thread may start
    children too, and the parent loses no Ctrl-C meanwhile: another of its threads takes
    it, or it is delivered when the mask is restored.

    multiprocessing starts its resource tracker at the first `start()` of a process and
    then unblocks SIGINT in the calling thread, whatever the mask was before: so the
    tracker is started first, outside the blocked section."""
    if sys.platform != "win32":
        resource_tracker.ensure_running()
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        process.start()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def ignore_sigint() -> None:
    """In a child's main, first: ignore SIGINT (dropping one that arrived while it
    started), then unblock it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def die_with_parent(parent: int) -> None:
    """Ask the kernel for SIGKILL when the parent dies (Linux); elsewhere the closed pipes
    stop the child at its next look."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        libc().prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(0)


def name_process(name: bytes) -> None:
    """The name `ps -o comm` and /proc/<pid>/comm show (Linux; at most 15 bytes)."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        libc().prctl(_PR_SET_NAME, ctypes.c_char_p(name[:15]), 0, 0, 0)


@functools.cache
def libc() -> ctypes.CDLL:
    """The C library, loaded once a process: `ctypes.util.find_library` runs `ldconfig -p`
    as a child process each time it is asked. Raises OSError where there is none."""
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
