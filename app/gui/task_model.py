"""The task table's model: one row per task of the facade, updated a batch at a time.

Rows are only ever appended (tasks are recorded in submission order), so a row's number
never changes and a dict maps task IDs to rows. Cells are formatted on demand: the view
asks only for the few dozen rows on screen, so holding 100,000 formatted rows would cost
memory for nothing.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QModelRoleDataSpan,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
    Slot,
)
from PySide6.QtGui import QColor, QGuiApplication

from app.core import EventsDropped, TaskChanged, TaskState
from app.core.events import Event
from app.core.front import FacadeFront
from app.core.task import Task
from app.gui import formatting, palette
from app.gui.resources import state_icon
from app.gui.throttle import Throttle

COLUMNS = (
    "ID",
    "State",
    "Worker PID",
    "Attempts",
    "Submitted",
    "Started",
    "Finished",
    "Duration",
    "Progress",
    "Result / error",
)
(ID, STATE, PID, ATTEMPTS, SUBMITTED, STARTED, FINISHED, DURATION, PROGRESS, OUTCOME) = range(
    len(COLUMNS)
)
SORT_ROLE = Qt.ItemDataRole.UserRole  # raw values, so sorting is by number, not by text
PROGRESS_ROLE = Qt.ItemDataRole.UserRole + 1  # 0.0-1.0 or None, for the progress delegate
STATE_ROLE = Qt.ItemDataRole.UserRole + 2  # the TaskState, for filters and colours

STATE_COLOURS = {
    TaskState.NEW: "#7f8c8d",
    TaskState.PENDING: "#5d7fa3",
    TaskState.RUNNING: "#2f80ed",
    TaskState.DONE: "#27ae60",
    TaskState.FAILED: "#e67e22",
    TaskState.CRASHED: "#e74c3c",
    TaskState.LOST: "#9b59b6",
    TaskState.CANCELLED: "#95a5a6",
    TaskState.TIMED_OUT: "#d4a017",
    TaskState.REJECTED: "#a93226",
}
_STATE_ORDER = {state: n for n, state in enumerate(TaskState)}
_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
_NUMERIC = frozenset({PID, ATTEMPTS, DURATION})
_Index = QModelIndex | QPersistentModelIndex
FLUSH_MS = 100  # views hear of changes at most ten times a second


class TaskTableModel(QAbstractTableModel):
    """Every task of one facade, as the facade's events reveal them."""

    counts_changed = Signal()  # the number of tasks per state changed

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._facade: FacadeFront | None = None
        self._tasks: list[Task] = []
        self._row_of: dict[str, int] = {}
        self._states: list[TaskState] = []  # per row, as the events said: for the counts
        self._running: set[int] = set()  # rows whose duration ticks
        self.counts: Counter[TaskState] = Counter()
        self.finished_total = 0  # tasks that reached a final state, for results/s
        self._colours: dict[TaskState, QColor] = {}  # the states' text colours, readable
        self._colours_on: tuple[int, int] | None = None  # on these rows (base, alternate)
        self._unshown: list[Task] = []  # recorded, not yet inserted into the views
        self._dirty: set[int] = set()  # shown rows changed since the last flush
        self._flush = Throttle(FLUSH_MS, self._show_changes, self)
        self.clock: Callable[[], float] = time.time  # a replay's instant, when replaying

    # -- feeding ----------------------------------------------------------------------
    def set_facade(self, facade: FacadeFront | None) -> None:
        """Shows another facade's tasks (a new run): the table starts empty."""
        self.beginResetModel()
        self._flush.cancel()
        self._unshown = []
        self._dirty = set()
        self._facade = facade
        self._tasks = []
        self._row_of = {}
        self._states = []
        self._running = set()
        self.counts = Counter()
        self.finished_total = 0
        self.endResetModel()
        self.counts_changed.emit()

    def apply_events(self, events: Iterable[Event]) -> None:
        """Applies one batch: one insert for the new tasks, one update per run of rows."""
        facade = self._facade
        if facade is None:
            return
        row_of = self._row_of
        states = self._states
        counts = self.counts
        first_new = len(self._tasks)  # rows below this are in the views already
        new = self._unshown
        changed = self._dirty
        # Only each task's last state in the batch matters: under load a batch holds the
        # PENDING, RUNNING and DONE of most of its tasks, so this applies a third as much.
        last: dict[str, TaskState] = {}
        resync = False
        for event in events:
            if type(event) is TaskChanged:
                last[event.task_id] = event.state
            elif type(event) is EventsDropped:
                resync = True
        if resync:  # changes were lost: every task's own state is the truth
            for task in facade.tasks:
                last[task.ID] = task.state
        fresh = iter(facade.tasks_from(first_new + len(new)))  # new tasks, in order
        for task_id, state in last.items():
            row = row_of.get(task_id)
            if row is None:
                task = next(fresh, None)
                if task is None or task_id != task.ID:  # not in order: ask for this one
                    try:
                        task = facade.task(task_id)
                    except KeyError:  # not recorded: nothing to show
                        continue
                row = row_of[task_id] = first_new + len(new)  # shown at the next flush
                new.append(task)
                states.append(state)
                counts[state] += 1
            else:
                old = states[row]
                if old is state:
                    if row < first_new:
                        changed.add(row)  # progress, or a change and back within the batch
                    continue
                counts[old] -= 1
                counts[state] += 1
                states[row] = state
                if row < first_new:
                    changed.add(row)
            if state is TaskState.RUNNING:
                self._running.add(row)
            elif state.is_final:
                self._running.discard(row)
                self.finished_total += 1
        # Every insert or update of a visible range repaints the table, and under load a
        # repaint is the costliest thing the GUI thread does: the views hear at once, then
        # at most every FLUSH_MS while changes pour in.
        self._flush()

    def show_at(
        self, tasks: list[Task], counts: Counter[TaskState], row_of: dict[str, int]
    ) -> None:
        """A replay's instant: its first ``len(tasks)`` rows, each read again (only the
        rows on screen are), with the counts per state then. Rows come and go at the end,
        so the selection and the scroll stay where they are."""
        self._flush.cancel()
        self._unshown, self._dirty, self._running = [], set(), set()
        old, new = len(self._tasks), len(tasks)
        if new < old:
            self.beginRemoveRows(QModelIndex(), new, old - 1)
            self._tasks = tasks
            self.endRemoveRows()
        elif new > old:
            self.beginInsertRows(QModelIndex(), old, new - 1)
            self._tasks = tasks
            self.endInsertRows()
        self._tasks = tasks
        self._row_of = row_of
        self.counts = counts
        if min(old, new):
            self.dataChanged.emit(self.index(0, 0), self.index(min(old, new) - 1, len(COLUMNS) - 1))
        self.counts_changed.emit()

    @Slot()
    def flush(self) -> None:
        """Shows the rows and changes applied since the last flush, at once."""
        self._flush.run_now()

    def _show_changes(self) -> None:
        new, self._unshown = self._unshown, []
        changed, self._dirty = self._dirty, set()
        if new:
            first = len(self._tasks)
            self.beginInsertRows(QModelIndex(), first, first + len(new) - 1)
            self._tasks.extend(new)
            self.endInsertRows()
        self._emit_rows_changed(changed, 0, len(COLUMNS) - 1)
        self.counts_changed.emit()

    def settled(self) -> bool:
        """Whether the views show everything applied so far."""
        return not self._unshown and not self._dirty

    def tick(self) -> None:
        """Repaints the durations of running tasks, so they count up live."""
        shown = len(self._tasks)
        rows = [row for row in self._running if row < shown]
        if rows:
            self._emit_rows_changed(rows, DURATION, DURATION)

    def _emit_rows_changed(self, rows: Iterable[int], first: int, last: int) -> None:
        """One dataChanged per run of consecutive rows: a proxy re-examines only those."""
        ordered = sorted(rows)
        if not ordered:
            return
        start = prev = ordered[0]
        for row in ordered[1:]:
            if row != prev + 1:
                self.dataChanged.emit(self.index(start, first), self.index(prev, last))
                start = row
            prev = row
        self.dataChanged.emit(self.index(start, first), self.index(prev, last))

    # -- reading ----------------------------------------------------------------------
    def state_colour(self, state: TaskState) -> QColor:
        """The state's colour for its name in the table, darkened or lightened until it
        reads on the palette's ground (light or dark): the icon beside it keeps the hue."""
        rows = QGuiApplication.palette()
        ground, other = rows.base().color(), rows.alternateBase().color()
        if (ground.rgba(), other.rgba()) != self._colours_on:
            self._colours_on = (ground.rgba(), other.rgba())
            self._colours = {
                state: palette.readable(QColor(code), ground, other)
                for state, code in STATE_COLOURS.items()
            }
        return self._colours[state]

    def task_at(self, row: int) -> Task:
        """The task of ``row``, shown yet or not (see ``row_of``)."""
        shown = len(self._tasks)
        return self._tasks[row] if row < shown else self._unshown[row - shown]

    def row_of(self, task_id: str) -> int | None:
        """The row the task has, or will have at the next flush."""
        row = self._row_of.get(task_id)
        return row if row is not None and row < len(self._tasks) + len(self._unshown) else None

    def tasks(self) -> Sequence[Task]:
        """Every task known to the table, in submission order, shown yet or not."""
        return self._tasks + self._unshown if self._unshown else self._tasks

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._tasks)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section] if 0 <= section < len(COLUMNS) else None
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not (0 <= index.row() < len(self._tasks)):
            return None
        return self._value(self._tasks[index.row()], index.column(), role)

    def multiData(self, index: _Index, roleDataSpan: QModelRoleDataSpan) -> None:
        """Every role of a cell in one call: what Qt's delegates ask for when they paint.

        One call per cell instead of one per role matters in Python: each call from Qt
        takes the GIL, which the facade's threads hold much of the time under load.
        """
        if index.isValid():
            self.fill(index.row(), index.column(), roleDataSpan)

    def fill(self, row: int, column: int, span: QModelRoleDataSpan) -> None:
        """Answers every role of ``span`` for one cell (the proxy calls this directly)."""
        if not (0 <= row < len(self._tasks)):
            for slot in span:
                slot.clearData()
            return
        task = self._tasks[row]
        for slot in span:
            slot.setData(self._value(task, column, slot.role()))

    def _value(self, task: Task, col: int, role: int) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            return _display(task, col, self.clock)
        if role == SORT_ROLE:
            return _sort_key(task, col, self.clock)
        if role == PROGRESS_ROLE:
            return _progress(task)
        if role == STATE_ROLE:
            return task.state
        if col == STATE:
            if role == Qt.ItemDataRole.DecorationRole:
                return state_icon(task.state.name.lower())
            if role == Qt.ItemDataRole.ForegroundRole:
                return self.state_colour(task.state)
        if role == Qt.ItemDataRole.ToolTipRole and col in (OUTCOME, STATE):
            return _tooltip(task)
        if role == Qt.ItemDataRole.TextAlignmentRole and col in _NUMERIC:
            return int(_RIGHT)
        return None


def _duration(task: Task, clock: Callable[[], float]) -> float | None:
    if task.started_at is None:
        return None
    end = task.finished_at if task.finished_at is not None else clock()
    return max(0.0, end - task.started_at)


def _progress(task: Task) -> float | None:
    if task.state is TaskState.DONE:
        return 1.0
    return task.progress


def _display(task: Task, col: int, clock: Callable[[], float]) -> str:
    if col == ID:
        return task.ID
    if col == STATE:
        return task.state.name
    if col == PID:
        return "" if task.worker_pid is None else str(task.worker_pid)
    if col == ATTEMPTS:
        return str(task.attempts)
    if col == SUBMITTED:
        return formatting.clock(task.submitted_at)
    if col == STARTED:
        return formatting.clock(task.started_at)
    if col == FINISHED:
        return formatting.clock(task.finished_at)
    if col == DURATION:
        return formatting.seconds(_duration(task, clock))
    if col == PROGRESS:
        progress = _progress(task)
        return "" if progress is None else f"{progress:.0%}"
    if col == OUTCOME:
        if task.error is not None:
            return formatting.one_line(task.error)
        return formatting.one_line(task.result)
    return ""


def _sort_key(task: Task, col: int, clock: Callable[[], float]) -> Any:
    if col == ID:
        return task.ID
    if col == STATE:
        return _STATE_ORDER[task.state]
    if col == PID:
        return task.worker_pid or 0
    if col == ATTEMPTS:
        return task.attempts
    if col == SUBMITTED:
        return task.submitted_at or 0.0
    if col == STARTED:
        return task.started_at or 0.0
    if col == FINISHED:
        return task.finished_at or 0.0
    if col == DURATION:
        return _duration(task, clock) or 0.0
    if col == PROGRESS:
        return _progress(task) or 0.0
    return _display(task, col, clock)


def _tooltip(task: Task) -> str:
    lines = [f"{task.ID}: {task.state.name}"]
    if task.error:
        lines.append(task.error)
    elif task.result is not None:
        lines.append(formatting.one_line(task.result, 500))
    if task.exitcode is not None:
        lines.append(f"worker exit code {task.exitcode}")
    return "\n".join(lines)
