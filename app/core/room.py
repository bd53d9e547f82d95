"""How many worker processes this process can hold.

The facade starts all its workers at once, each a fresh interpreter under spawn, where
the standard executor starts its own as calls come: ``workers=10**6`` would go on
spawning until the machine ran out of memory or this process out of file descriptors,
whichever came first. So the constructors refuse more than the open-file limit holds.
"""

from __future__ import annotations

import resource
import sys

FILES_PER_WORKER = 12
"""File descriptors the parent holds for each worker (its pipes, sentinel, pidfd and
lock), as measured."""
FILES_KEPT = 32
"""File descriptors left for the rest of the program (standard streams, the recording,
the I/O thread's own, the script's files)."""


def worker_room() -> int:
    """How many workers this process can hold (at least 1), by its open-file limit."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return sys.maxsize
    return max(1, (soft - FILES_KEPT) // FILES_PER_WORKER)


def check_room(workers: int, name: str = "workers") -> None:
    """Refuses (``ValueError``) more workers than this process can hold; ``name`` is the
    constructor's argument."""
    room = worker_room()
    if workers > room:
        raise ValueError(
            f"{name}={workers} is more worker processes than this process can hold: "
            f"each takes {FILES_PER_WORKER} file descriptors, and its limit "
            f"(RLIMIT_NOFILE) leaves room for {room}"
        )
