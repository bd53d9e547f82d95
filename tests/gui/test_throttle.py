"""The one pacing object: at most one run per interval, and a call too soon is never lost.

Qt's coarse timers (the default) may fire up to 5 % early: the bounds below allow for it.
"""

from __future__ import annotations

import itertools
import time

from pytestqt.qtbot import QtBot

from app.gui.throttle import Throttle


def test_a_call_runs_at_once_then_calls_too_soon_make_one_trailing_run(qtbot: QtBot) -> None:
    runs: list[tuple[float, str]] = []
    throttle = Throttle(100, lambda word: runs.append((time.monotonic(), word)))
    throttle("first")
    assert [w for _, w in runs] == ["first"]  # nothing ran lately: at once
    throttle("second")
    throttle("third")
    assert throttle.pending and len(runs) == 1
    qtbot.waitUntil(lambda: len(runs) == 2, timeout=2000)
    assert runs[1][1] == "third"  # once, with the latest arguments
    assert runs[1][0] - runs[0][0] >= 0.094
    qtbot.wait(150)
    assert len(runs) == 2 and not throttle.pending


def test_run_now_drops_the_pending_call_and_cancel_drops_it_too(qtbot: QtBot) -> None:
    runs: list[int] = []
    throttle = Throttle(50, lambda: runs.append(1))
    throttle()
    throttle()
    throttle.run_now()
    assert len(runs) == 2 and not throttle.pending
    throttle()
    assert throttle.pending
    throttle.cancel()
    qtbot.wait(120)
    assert len(runs) == 2


def test_later_waits_a_whole_interval_and_a_self_call_makes_a_steady_beat(qtbot: QtBot) -> None:
    beats: list[float] = []

    def beat() -> None:
        throttle()  # the next beat, one interval after this one
        beats.append(time.monotonic())

    throttle = Throttle(40, beat)
    started = time.monotonic()
    throttle.later()
    assert not beats
    qtbot.waitUntil(lambda: len(beats) >= 4, timeout=3000)
    throttle.cancel()
    assert beats[0] - started >= 0.037
    assert all(b - a >= 0.037 for a, b in itertools.pairwise(beats))


def test_wait_turn_sleeps_out_the_rest_of_the_interval() -> None:
    runs: list[float] = []
    throttle = Throttle(60, lambda: runs.append(time.monotonic()))
    throttle.wait_turn()  # never ran: no wait
    throttle.run_now()
    throttle.wait_turn()
    throttle.run_now()
    assert runs[1] - runs[0] >= 0.059
