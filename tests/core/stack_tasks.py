"""Tasks whose stacks the tests of ``stack()`` take: each one waits somewhere known."""

from __future__ import annotations

import os
import re
import threading
import time


def nap(seconds: float) -> str:
    time.sleep(seconds)  # the line the stack names
    return "rested"


def spin(seconds: float) -> int:
    end = time.monotonic() + seconds
    turns = 0
    while time.monotonic() < end:  # a pure-Python loop
        turns += 1
    return turns


def wait_on_lock(seconds: float) -> bool:
    lock = threading.Lock()
    lock.acquire()
    return lock.acquire(timeout=seconds)  # never released: it waits here


def helper_loop(stop: threading.Event) -> None:
    stop.wait(60)  # the helper thread waits here


def with_helper(seconds: float) -> list[str]:
    stop = threading.Event()
    helper = threading.Thread(target=helper_loop, args=(stop,), name="stack-helper")
    helper.start()
    try:
        time.sleep(seconds)
        return [t.name for t in threading.enumerate()]
    finally:
        stop.set()
        helper.join()


def threads_seen() -> list[str]:
    """The names of the threads a task sees in its worker."""
    return sorted(t.name for t in threading.enumerate())


def hold_the_gil(n: int) -> bool:
    """One long C call that never lets go of the GIL: a regular expression with
    catastrophic backtracking, 2**n steps (``re`` keeps the GIL for the whole match; 24
    takes about 0.7 s here, 40 about half a day)."""
    return re.match(r"(a+)+$", "a" * n + "b") is not None


def nap_then_hold_the_gil(seconds: float, n: int) -> bool:
    """Naps first (a Dask worker's event loop then tells the client the task began: it
    cannot while the GIL is held), then holds the GIL as ``hold_the_gil`` does."""
    time.sleep(seconds)
    return hold_the_gil(n)


def fork_and_nap(seconds: float) -> int:
    """Forks a child that naps, and naps too; returns the child's exit code."""
    pid = os.fork()
    if pid == 0:
        time.sleep(seconds)
        os._exit(0)
    time.sleep(seconds)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def deep(depth: int, seconds: float) -> int:
    """Recurses ``depth`` calls deep, then naps at the bottom."""
    if depth <= 0:
        time.sleep(seconds)  # the bottom of the recursion
        return 0
    return deep(depth - 1, seconds) + 1


def hide_threads(seconds: float) -> str:
    """Holds the lock of ``threading``'s own thread list for ``seconds``: the stack thread,
    which reads the threads' names under it, cannot answer meanwhile."""
    with threading._active_limbo_lock:  # type: ignore[attr-defined]
        time.sleep(seconds)
    return "done"
