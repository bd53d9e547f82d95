"""A comparison's ``cancel`` event: what lets a window that closes end a run at once,
every contender's processes killed."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from app.teaching.stdlib_runs import CANCEL_POLL, Cancelled, run_compare
from app.testing import live_children

DEADLINE = 300.0  # far beyond the test's time: only the cancel can end the run in time


def wait_for(condition: Any, seconds: float) -> bool:
    until = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > until:
            return False
        time.sleep(0.05)
    return True


@pytest.mark.timeout(60)
def test_a_cancelled_run_ends_soon_and_leaves_no_process() -> None:
    before = {c.pid for c in live_children()}
    cancel = threading.Event()
    ended: list[BaseException | dict[str, Any]] = []

    def run() -> None:
        try:
            ended.append(run_compare("hang-timeout", DEADLINE, cancel))
        except BaseException as exc:
            ended.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        # The three contenders and their pools' workers: the run is well under way.
        assert wait_for(lambda: len({c.pid for c in live_children()} - before) >= 5, 30)
    finally:
        cancel.set()
        set_at = time.monotonic()
        thread.join(20)
    assert not thread.is_alive()
    assert time.monotonic() - set_at < 5 + CANCEL_POLL  # killing and reaping: no deadline
    assert len(ended) == 1 and isinstance(ended[0], Cancelled), ended
    assert wait_for(lambda: not {c.pid for c in live_children()} - before, 5)


def test_a_run_cancelled_before_it_starts_ends_at_once() -> None:
    cancel = threading.Event()
    cancel.set()
    began = time.monotonic()
    with pytest.raises(Cancelled, match="cancelled"):
        run_compare("several-collects", DEADLINE, cancel)
    assert time.monotonic() - began < 15  # three Pythons started, then killed at once
