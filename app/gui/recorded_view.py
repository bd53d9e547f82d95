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

from app.core.events import Event, WorkerDied, WorkerLog, WorkerStarted
from app.gui.console_view import Line
from app.gui.run_player import RunPlayer
from app.gui.throttle import Throttle
from app.gui.time_bar import TimeBar
from app.gui.worker_text import ended_words, reason_of

CONSOLE_LINES = 2000  # the console's lines a move far away shows again
STORIES = 20  # the deaths the explainer tells again after a move
REFILTER_MS = 300  # a filtered table is filtered again at most this often while moving


class RecordedView(QObject):
    """Puts the run recorded at ``path`` in ``window`` (``follow``: while it is written).
    With ``bar``, the window's own run, under review: its controls stay as they are."""

    def __init__(
        self, window: Any, path: str | Path, follow: bool, bar: TimeBar | None = None
    ) -> None:
        """``window`` is the ``MainWindow`` whose views it feeds (not imported: a cycle)."""
        super().__init__(window)
        self.window = window
        self.own_run = bar is not None
        self.bar = bar or TimeBar(window)
        self.player = RunPlayer(path, follow, self.bar, self)
        self.replay = self.player.replay
        name = self.player.path.name
        if self.player.following:
            self.why = f"This run belongs to another program (watching {name})."
        else:
            self.why = f"This run is a recording of the past ({name})."
        window.model.clock = window.worker_panel.clock = self.replay.now
        # A move changes every row at once: filtered again at most every REFILTER_MS
        # (below), not row by row in Python for each of 100,000 rows; and not sorted at
        # all (a sort of 100,000 rows at each move would take seconds).
        window.proxy.setDynamicSortFilter(False)
        window.table.setSortingEnabled(False)
        window.proxy.sort(-1)
        self._refilter = Throttle(REFILTER_MS, window.proxy.invalidate, self)
        if bar is None:
            window.setWindowTitle(f"Worker monitor: {name}")
            window.rate_label.hide()  # a rate of results means nothing while scrubbing
            self._read_only()
        self._shown_to = 0  # the console shows the run's lines up to this event
        self._told = 0  # deaths the explainer tells
        pid = self.replay.run.header.get("pid")
        self._parent = pid if isinstance(pid, int) and not isinstance(pid, bool) else 0
        self.player.grown.connect(self._grown)
        self.player.moved.connect(self._moved)
        self.player.followed_to_end.connect(self._ended)
        self.player.follow_stopped.connect(self._follow_stopped)

    def start(self) -> None:
        w = self.window
        w.model.set_facade(self.replay)
        w.worker_panel.set_facade(self.replay)
        w.timeline.reset(self.replay.latest)  # built once over the whole run
        for view in (w.console, w.explainer, w.details):
            view.clear()
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

    @Slot(list)
    def _grown(self, events: list[Event]) -> None:
        self.window.timeline.apply_events(events)

    @Slot()
    def _moved(self) -> None:
        """Every view as the run was at the replay's instant."""
        w, replay = self.window, self.replay
        w.model.show_at(replay.tasks, replay.counts(), replay.rows)
        if w.proxy.reordering:
            self._refilter()
        w.worker_panel.show_history(*replay.worker_history())
        self._show_console()
        self._tell_deaths()
        w.timeline.freeze(replay.now())
        w.refresh_workers()

    def _show_console(self) -> None:
        """The console's lines up to the instant: the new ones when it moved on a little,
        else the last ``CONSOLE_LINES`` again."""
        replay, console = self.replay, self.window.console
        cursor = replay.cursor
        if self._shown_to <= cursor <= self._shown_to + CONSOLE_LINES:
            first = self._shown_to
        else:
            console.clear()
            first = replay.shown_from(CONSOLE_LINES)
        self._shown_to = cursor
        lines = [self._line(e) for e in replay.events_between(first, cursor, "shown")]
        if lines:
            console.add_lines(lines)

    def _line(self, event: Event) -> Line:
        if isinstance(event, WorkerStarted | WorkerDied):
            return _said(event, self._parent)
        assert isinstance(event, WorkerLog)
        slot = self.replay.worker_of(event.pid)
        source = "worker" if slot is None else f"worker-{slot}"
        return Line(event.time, source, event.pid, event.level, event.message)

    def _tell_deaths(self) -> None:
        """The explainer's stories of the deaths up to the instant (the last few)."""
        replay, w = self.replay, self.window
        told = replay.deaths_before(replay.cursor)
        if told == self._told:
            return
        self._told = told
        w.explainer.clear()
        if told:
            first = replay.death_index(max(0, told - STORIES))
            events = replay.events_between(first, replay.cursor, "deaths")
            w.crash_stories.tell(events, replay, False)

    @Slot()
    def _ended(self) -> None:
        if self.own_run:
            return  # the window says itself how its own run goes
        self.why = f"The program's run has ended ({self.player.path.name})."
        self.window.controls.mode.setText(self.why)

    @Slot(str)
    def _follow_stopped(self, why: str) -> None:
        if self.own_run:
            return
        self.why = f"No longer following {self.player.path.name}: {why}."
        self.window.controls.mode.setText(self.why)
        self.window.controls.mode.setToolTip(self.why)

    def stop(self) -> None:
        self._refilter.cancel()
        self.player.stop()
        self.player.deleteLater()  # its connections to the time bar go with it


def _said(event: WorkerStarted | WorkerDied, parent: int) -> Line:
    """The parent's console line of a worker's start or death (the recording keeps the
    event, not the parent's words)."""
    who = f"worker-{event.index} (pid {event.pid})"
    if isinstance(event, WorkerStarted):
        return Line(event.time, "parent", parent, logging.INFO, f"{who} started")
    calm = reason_of(event) in ("recycled", "stopped")
    level = logging.INFO if calm else logging.WARNING
    return Line(event.time, "parent", parent, level, f"{who} {ended_words(event)}")
