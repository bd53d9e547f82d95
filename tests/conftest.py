"""Shared fixtures for the whole suite.

``no_child_process_left`` (autouse) fails any test that leaves a child process alive.
Qt fixtures, when added, belong below the process fixtures and should stay independent.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import psutil
import pytest

CHILD_EXIT_DEADLINE = 5.0
"""Seconds a test's child processes get to disappear after the test has ended."""
CHILD_POLL_INTERVAL = 0.02


def _live_children() -> list[psutil.Process]:
    """Children of this process that are still running (zombies, and the resource tracker
    and forkserver of multiprocessing, which live as long as the test session, do not
    count)."""
    alive = []
    for child in psutil.Process().children(recursive=True):
        try:
            if child.status() == psutil.STATUS_ZOMBIE:
                continue
            # multiprocessing's own services live as long as the test session.
            if any("resource_tracker" in p or "forkserver" in p for p in child.cmdline()):
                continue
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
        except psutil.AccessDenied:
            pass
        alive.append(child)
    return alive


def _describe(proc: psutil.Process) -> str:
    try:
        return f"pid {proc.pid}: {' '.join(proc.cmdline())[:200]}"
    except psutil.Error:
        return f"pid {proc.pid}"


@pytest.fixture(autouse=True)
def no_child_process_left() -> Iterator[None]:
    """After each test, fail it if a child process is still alive after a short deadline.

    Leftovers are killed (so one leak does not fail the tests after it) and listed.
    """
    yield
    deadline = time.monotonic() + CHILD_EXIT_DEADLINE
    leftovers = _live_children()
    while leftovers and time.monotonic() < deadline:
        # Poll without reaping: whoever started a child keeps the right to join it.
        time.sleep(CHILD_POLL_INTERVAL)
        leftovers = _live_children()
    if not leftovers:
        return
    described = [_describe(p) for p in leftovers]
    for proc in leftovers:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(leftovers, timeout=CHILD_EXIT_DEADLINE)
    pytest.fail(
        f"{len(leftovers)} child process(es) still alive {CHILD_EXIT_DEADLINE} s after the "
        f"test: {'; '.join(described)}",
        pytrace=False,
    )
