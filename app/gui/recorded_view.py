"""A window that shows a recorded run instead of driving one: the time bar above the
table, every control that would act on workers disabled with a word on why, and each move
of the player shown in every view (the table, the workers, the timeline and its cursor,
the console and the crash explainer), as they were at that instant."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Slot
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractSpinBox,
    QComboBox,
    QLineEdit,
    QWidget,
)

from app.core.events import Event, WorkerDied, WorkerStarted
from app.gui.console_view import Line
from app.gui.run_player import RunPlayer
from app.gui.time_bar import TimeBar


class RecordedView(QObject):
    """Puts the run recorded at ``path`` in ``window`` (``follow``: while it is written)."""

    def __init__(self, window: Any, path: str | Path, follow: bool) -> None:
        """``window`` is the ``MainWindow`` whose views it feeds (not imported: a cycle)."""
        super().__init__(window)
        self.window = window
        self.bar = TimeBar(window)
        self.player = RunPlayer(path, follow, self.bar, self)
        self.replay = self.player.replay
        name = self.player.path.name
        if self.player.following:
            self.why = f"This run belongs to another program (watching {name})."
        else:
            self.why = f"This run is a recording of the past ({name})."
        window.setWindowTitle(f"Worker monitor: {name}")
        window.model.clock = window.worker_panel.clock = self.replay.now
        window.rate_label.hide()  # a rate of results means nothing while scrubbing
        self._read_only()
        self.player.moved.connect(self._moved)
        self.player.followed_to_end.connect(self._ended)

    def start(self) -> None:
        self._moved(True, [])
        self.player.start()

    def _read_only(self) -> None:
        w = self.window
        tip = f"{self.why} Its workers cannot be driven from here."
        widgets: list[QWidget] = [w.table_bar.cancel, w.table_bar.resubmit]
        for kind in (QAbstractButton, QAbstractSpinBox, QComboBox, QLineEdit):
            widgets += w.controls.findChildren(kind)
        for widget in widgets:
            widget.setEnabled(False)
            widget.setToolTip(tip)
        for _button, action in w.mirrors:
            action.setEnabled(False)
            action.setToolTip(tip)
        w.scenarios_menu.setEnabled(False)
        w.controls.mode.setText(self.why)
        w.controls.code.setText(f"read_run({str(self.player.path)!r})")

    @Slot(bool, list)
    def _moved(self, reset: bool, events: list[Event]) -> None:
        w = self.window
        replay = self.replay
        if reset:
            w.model.set_facade(replay)  # type: ignore[arg-type]
            w.worker_panel.set_facade(replay)  # type: ignore[arg-type]
            w.timeline.reset(w.known_task)
            w.console.clear()
            w.explainer.clear()
            w.details.clear()
        if events:
            w.show_events(events)
            pid = replay.run.header.get("pid")
            parent = pid if isinstance(pid, int) else 0
            lines = [_said(e, parent) for e in events if type(e) in (WorkerStarted, WorkerDied)]
            w.console.add_lines(lines)
        w.model.flush()  # a scrub is seen at once, not at the table's next beat
        w.timeline.freeze(replay.now())
        w.refresh_workers()

    @Slot()
    def _ended(self) -> None:
        self.why = f"The program's run has ended ({self.player.path.name})."
        self.window.controls.mode.setText(self.why)

    def stop(self) -> None:
        self.player.stop()


def _said(event: WorkerStarted | WorkerDied, parent: int) -> Line:
    """The parent's console line of a worker's start or death (the recording keeps the
    event, not the parent's words)."""
    who = f"worker-{event.index} (pid {event.pid})"
    if isinstance(event, WorkerStarted):
        return Line(event.time, "parent", parent, logging.INFO, f"{who} started")
    how = event.signal_name or f"exit code {event.exitcode}"
    return Line(event.time, "parent", parent, logging.WARNING, f"{who} died: {how}")
