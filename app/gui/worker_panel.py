"""The worker panel: each worker process's life at a glance."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.core import WorkerDied, WorkerStarted
from app.core.errors import signal_name
from app.core.events import Event, WorkerLog
from app.core.front import FacadeFront
from app.core.lifecycle import initializer_failure
from app.gui import formatting

_COLUMNS = ("Worker", "PID", "State", "Done", "Uptime", "Restarts")


class WorkerPanel(QWidget):
    """One row per worker slot: pid, what it does now, tasks done, uptime, restarts.

    A handful of rows refreshed a few times a second: a plain table widget is enough.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("workerPanel")
        self._facade: FacadeFront | None = None
        self._started: dict[int, float] = {}  # slot -> when its current process started
        self._deaths: dict[int, WorkerDied] = {}  # slot -> how its last process died
        self._init_errors: dict[int, str] = {}  # pid -> how its initializer failed
        self.clock: Callable[[], float] = time.time  # a replay's instant, when replaying
        self.table = QTableWidget(0, len(_COLUMNS), self)
        self.table.setHorizontalHeaderLabels(list(_COLUMNS))
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        for column, width in enumerate((72, 64, 0, 48, 72, 64)):
            if width:
                self.table.setColumnWidth(column, width)
        self.table.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.queued = QLabel(self)
        self.queued.setObjectName("queuedLabel")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table)
        layout.addWidget(self.queued)

    def set_facade(self, facade: FacadeFront | None) -> None:
        self._facade = facade
        self._started.clear()
        self._deaths.clear()
        self._init_errors.clear()
        self.refresh(0)

    def show_history(self, started: dict[int, float], deaths: dict[int, WorkerDied]) -> None:
        """A replay's instant: when each slot's process started, how each last died."""
        self._started = dict(started)
        self._deaths = dict(deaths)

    def note_events(self, events: list[Event]) -> bool:
        """Remembers starts and deaths; True if the panel should refresh now."""
        seen = False
        for event in events:
            if type(event) is WorkerStarted:
                self._started[event.index] = event.time
                self._deaths.pop(event.index, None)
                seen = True
            elif type(event) is WorkerDied:
                self._deaths[event.index] = event
                seen = True
            elif type(event) is WorkerLog and event.level >= logging.ERROR:
                failure = initializer_failure(event.message)
                if failure is not None:
                    self._init_errors[event.pid] = failure
        return seen

    def refresh(self, queued: int) -> None:
        facade = self._facade
        infos = facade.worker_info() if facade is not None else []
        self.table.setRowCount(len(infos))
        now = self.clock()
        for row, info in enumerate(infos):
            death = self._deaths.get(info.index)
            if info.alive:
                if not info.ready:
                    state = "starting"
                elif info.task_id is not None:
                    state = f"busy on {info.task_id}"
                else:
                    state = "idle"
                if info.queued:
                    state += f" (+{info.queued} sent ahead)"
                started = self._started.get(info.index)
                uptime = formatting.seconds(now - started) if started else ""
            else:
                state = "dead"
                if death is not None and death.reason == "recycled":
                    state = "recycled"
                elif death is not None and death.reason != "crashed":
                    detail = self._init_errors.get(death.pid)
                    state = f"dead: {death.reason}" + (f": {detail}" if detail else "")
                # A cluster may tell the exit code after the death: the snapshot has it.
                code = info.exitcode if death is None or death.exitcode is None else None
                why = (
                    death.signal_name or f"exit code {death.exitcode}"
                    if death is not None and death.exitcode is not None
                    else signal_name(code) or (f"exit code {code}" if code is not None else None)
                )
                if why:
                    state = f"{state} ({why})"
                uptime = ""
            cells = (
                f"worker-{info.index}",
                "" if info.pid is None else str(info.pid),
                state,
                str(info.tasks_done),
                uptime,
                str(info.restarts),
            )
            for col, text in enumerate(cells):
                item = self.table.item(row, col)
                if item is None:
                    item = QTableWidgetItem(text)
                    item.setToolTip(text)  # a cell elides "busy on <a long ID>"
                    self.table.setItem(row, col, item)
                elif item.text() != text:
                    item.setText(text)
                    item.setToolTip(text)
        self.queued.setText(f"Queued tasks: {queued}")
