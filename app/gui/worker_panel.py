"""The worker panel: each worker process's life at a glance, with the memory and CPU it
uses, and for a dead one why it ended and the last memory it had."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from PySide6.QtGui import QBrush
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.core import WorkerDied, WorkerStarted, WorkerStats
from app.core.errors import signal_name
from app.core.events import Event, WorkerLog
from app.core.front import FacadeFront
from app.core.lifecycle import initializer_failure
from app.gui import formatting
from app.gui.worker_text import death_story, death_words, usage

_COLUMNS = ("Worker", "PID", "State", "Memory", "CPU", "Done", "Uptime", "Restarts")
_WIDTHS = (66, 56, 0, 62, 44, 44, 66, 60)  # 0: the State column takes what is left
_STATE, _MEMORY = 2, 3


class WorkerPanel(QWidget):
    """One row per worker slot: pid, what it does now, memory, CPU, tasks done, uptime,
    restarts.

    A handful of rows refreshed a few times a second: a plain table widget is enough.
    Memory and CPU come from the snapshot (``WorkerInfo``), else from the slot's last
    ``WorkerStats`` event; the events alone never cause a refresh (the tick does).
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("workerPanel")
        self._facade: FacadeFront | None = None
        self._started: dict[int, float] = {}  # slot -> when its current process started
        self._deaths: dict[int, WorkerDied] = {}  # slot -> how its last process died
        self._init_errors: dict[int, str] = {}  # pid -> how its initializer failed
        self._samples: dict[int, WorkerStats] = {}  # slot -> its last memory/CPU sample
        self.clock: Callable[[], float] = time.time  # a replay's instant, when replaying
        self.table = QTableWidget(0, len(_COLUMNS), self)
        self.table.setHorizontalHeaderLabels(list(_COLUMNS))
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        for column, width in enumerate(_WIDTHS):
            if width:
                self.table.setColumnWidth(column, width)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(_STATE, QHeaderView.ResizeMode.Stretch)
        header.setMinimumSectionSize(36)
        tips = {
            "Memory": "Resident memory (RSS) of the worker process; for a dead one, its "
            "last sample",
            "CPU": "CPU use of the worker process, in percent of one core",
            "State": "What the worker does now; for a dead one, why it ended",
        }
        for column, name in enumerate(_COLUMNS):
            if name in tips:
                self.table.horizontalHeaderItem(column).setToolTip(tips[name])
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
        self._samples.clear()
        self.refresh(0)

    def show_history(self, started: dict[int, float], deaths: dict[int, WorkerDied]) -> None:
        """A replay's instant: when each slot's process started, how each last died."""
        self._started = dict(started)
        self._deaths = dict(deaths)

    def note_events(self, events: list[Event]) -> bool:
        """Remembers starts, deaths and samples; True if the panel should refresh now
        (a start or a death: a sample waits for the next tick)."""
        seen = False
        for event in events:
            if type(event) is WorkerStats:
                self._samples[event.index] = event
            elif type(event) is WorkerStarted:
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
            tip = ""
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
                # A cluster may tell the exit code after the death: the snapshot has it.
                if death is not None:
                    state = death_words(death, info.exitcode)
                    tip = death_story(death, info.exitcode)
                    detail = self._init_errors.get(death.pid)
                    if detail:
                        state = f"{state}: {detail}"
                        tip = f"{tip}\n\n{detail}"
                else:
                    code = info.exitcode
                    why = signal_name(code) or (f"exit code {code}" if code is not None else "")
                    state = f"dead ({why})" if why else "dead"
                uptime = ""
            use = usage(info, self._samples.get(info.index), death)
            cells = (
                f"worker-{info.index}",
                "" if info.pid is None else str(info.pid),
                state,
                use.memory,
                use.cpu,
                str(info.tasks_done),
                uptime,
                str(info.restarts),
            )
            tips = {_STATE: tip or state, _MEMORY: use.tip}
            for col, text in enumerate(cells):
                item = self.table.item(row, col)
                if item is None:
                    item = QTableWidgetItem(text)
                    self.table.setItem(row, col, item)
                elif item.text() != text:
                    item.setText(text)
                tip_text = tips.get(col, text)  # a cell elides "busy on <a long ID>"
                if item.toolTip() != tip_text:
                    item.setToolTip(tip_text)
            memory = self.table.item(row, _MEMORY)
            memory.setForeground(self.palette().placeholderText() if use.last else QBrush())
        self.queued.setText(f"Queued tasks: {queued}")
