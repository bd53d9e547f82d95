"""A guard against PySide6 releases that die of many signal emissions.

PySide6-Essentials 6.12.0 on Python 3.11 aborts the whole process after about 2,000
emissions (``Fatal Python error: bool_dealloc``). A broken release therefore does not
fail this test: it kills the test run, which is the point: CI catches it, not a user.
"""

from __future__ import annotations

import threading
import time

import pytest
from PySide6.QtCore import QObject, Slot
from pytestqt.qtbot import QtBot

import app.gui.poller
from app.core import TaskChanged, TaskState
from app.gui import MainWindow
from app.gui.poller import FacadePoller

BATCHES = 30_000


class ScriptedFacade:
    """Answers ``poll_events`` as a facade would, one event per call, ``total`` times."""

    def __init__(self, total: int) -> None:
        self._left = total
        self._lock = threading.Lock()

    def poll_events(self, timeout: float | None = 0.0) -> list[object]:
        with self._lock:
            if self._left > 0:
                self._left -= 1
                n = self._left
                return [TaskChanged(f"storm-{n}", TaskState.DONE, None, "", time.time())]
        time.sleep(min(timeout or 0.0, 0.01))
        return []


class Counter(QObject):
    """Lives in the GUI thread: the poller's batches reach it by queued connection."""

    def __init__(self) -> None:
        super().__init__()
        self.batches = 0
        self.events = 0
        self.counts_changed = 0

    @Slot(list)
    def on_batch(self, events: list[object]) -> None:
        self.batches += 1
        self.events += len(events)

    @Slot()
    def on_counts_changed(self) -> None:
        self.counts_changed += 1


@pytest.mark.timeout(90)
def test_tens_of_thousands_of_emissions_through_the_poller(
    qtbot: QtBot, window: MainWindow, monkeypatch: pytest.MonkeyPatch
) -> None:
    """30,000 batches (a ``Signal(list)``) from the app's own poller thread, each received
    by the window's own slot, then 30,000 of the model's ``counts_changed`` (a ``Signal()``)
    into the window's status bar: the two kinds of signal the defect was seen with."""
    monkeypatch.setattr(app.gui.poller, "PACE_MS", 0)  # no pacing: a batch per poll
    counter = Counter()
    poller = FacadePoller(ScriptedFacade(BATCHES))  # type: ignore[arg-type]
    poller.events_polled.connect(counter.on_batch)
    poller.events_polled.connect(window.show_events)
    poller.start()
    try:
        qtbot.waitUntil(lambda: counter.batches == BATCHES, timeout=60_000)
    finally:
        poller.stop()
    assert counter.events == BATCHES
    assert window.model.rowCount() == 0  # the facade never recorded those IDs

    window.model.counts_changed.connect(counter.on_counts_changed)
    for _ in range(BATCHES):
        window.model.counts_changed.emit()
    assert counter.counts_changed == BATCHES
