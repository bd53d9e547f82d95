"""The worker panel names a failed initializer, with its error, from the facade's own
events."""

from __future__ import annotations

import time

from pytestqt.qtbot import QtBot

from app.core import WorkerDied
from app.core.events import Event
from app.gui.worker_panel import WorkerPanel
from app.testing import FacadeFactory
from tests.core import lifecycle_calls as calls

DEADLINE = 30.0


def _poll_until_deaths(facade: object, events: list[Event], count: int) -> None:
    end = time.monotonic() + DEADLINE
    while sum(isinstance(e, WorkerDied) for e in events) < count:
        assert time.monotonic() < end, f"fewer than {count} deaths within {DEADLINE} s"
        events.extend(facade.poll_events(0.1))  # type: ignore[attr-defined]


def test_the_panel_names_a_failed_initializer_and_its_error(
    qtbot: QtBot, monitor_facade: FacadeFactory
) -> None:
    facade = monitor_facade(1, initializer=calls.fail_init, initargs=("no database",))
    panel = WorkerPanel()
    qtbot.addWidget(panel)
    panel.set_facade(facade)
    events: list[Event] = []
    _poll_until_deaths(facade, events, 1)
    assert panel.note_events(events)
    panel.refresh(0)
    assert panel.table.item(0, 2).text() == "initializer failed: ValueError: no database"
    assert "exit code 1" in panel.table.item(0, 2).toolTip()
