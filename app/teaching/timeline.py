"""The timeline's data: one lane per worker process, from spawn to death, and a bar per
task it ran. Qt-free and geometry-aware, so what the view draws can be tested as numbers.

Built from the facade's events: ``WorkerStarted`` opens a lane, ``WorkerDied`` closes it,
``TaskChanged`` to RUNNING opens a bar on the lane of the task's worker, and the task's
next state closes the bar with that outcome.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from app.core import TaskChanged, TaskState, WorkerDied, WorkerStarted
from app.core.events import Event
from app.core.task import Task


@dataclass
class Bar:
    task_id: str
    start: float
    end: float | None = None  # None while the task runs
    state: TaskState = TaskState.RUNNING


@dataclass
class Lane:
    """One worker process: ``index`` is its slot; a replacement gets a lane of its own."""

    index: int
    pid: int
    start: float
    end: float | None = None  # when it died
    death: str = ""  # "SIGKILL", "exit code 3", "stopped"...
    replacement: bool = False  # it took the slot of a process that died
    bars: list[Bar] = field(default_factory=list)
    _starts: list[float] = field(default_factory=list)

    def visible_range(self, t_from: float, t_to: float, now: float) -> tuple[int, int]:
        """Indexes [first, last) of the bars that overlap [t_from, t_to], by bisection: a
        lane's bars follow one another (a worker runs one task at a time). Nothing after
        ``now`` shows: a replay stands at an instant of a run known to its end."""
        first = bisect.bisect_left(self._starts, t_from)
        if first and _end(self.bars[first - 1], now) > t_from:
            first -= 1  # the bar that began before the window and runs into it
        return first, bisect.bisect_right(self._starts, min(t_to, now))

    def visible_bars(self, t_from: float, t_to: float, now: float) -> list[Bar]:
        first, last = self.visible_range(t_from, t_to, now)
        return self.bars[first:last]

    def pixel_runs(
        self, geometry: Geometry, width: int, now: float
    ) -> list[tuple[int, int, TaskState]]:
        """For a zoom where bars are thinner than pixels: per pixel column, the outcome of
        the last bar in it, merged into runs. At most one bisection per column, however
        many thousand bars the lane holds."""
        runs: list[tuple[int, int, TaskState]] = []
        starts, bars = self._starts, self.bars
        for px in range(width):
            right = geometry.t(px + 1)
            i = bisect.bisect_right(starts, min(right, now)) - 1
            if i < 0 or _end(bars[i], now) < geometry.t(px):
                continue
            state = bars[i].state if ended(bars[i], now) else TaskState.RUNNING
            if runs and runs[-1][1] == px and runs[-1][2] is state:
                runs[-1] = (runs[-1][0], px + 1, state)
            else:
                runs.append((px, px + 1, state))
        return runs


def _end(bar: Bar, now: float) -> float:
    return now if bar.end is None or bar.end > now else bar.end


def ended(bar: Bar, now: float) -> bool:
    """Whether the bar's task had ended by ``now`` (later, it is drawn as running)."""
    return bar.end is not None and bar.end <= now


def lane_end(lane: Lane, now: float) -> float | None:
    """When the lane's process died, if it had by ``now``."""
    return lane.end if lane.end is not None and lane.end <= now else None


class Timeline:
    """Lanes and bars of one run, kept up to date batch by batch."""

    def __init__(self, lookup: Callable[[str], Task]) -> None:
        self._lookup = lookup
        self.lanes: list[Lane] = []
        self._lane_of_pid: dict[int, Lane] = {}
        self._open: dict[str, tuple[Lane, Bar]] = {}  # running tasks' bars
        self._last: dict[str, tuple[Lane, Bar]] = {}  # each task's latest bar
        self.first_time: float | None = None

    def apply_events(self, events: Sequence[Event]) -> bool:
        """True when something that shows on the timeline changed.

        Only each task's last state in the batch is looked at (under load a batch holds
        the PENDING, RUNNING and DONE of most of its tasks); a bar's start and end are the
        times the worker itself measured.
        """
        changed = False
        last: dict[str, tuple[TaskState, float]] = {}
        for event in events:
            if type(event) is TaskChanged:
                last[event.task_id] = (event.state, event.time)
            elif type(event) is WorkerStarted:
                self._started(event)
                changed = True
            elif type(event) is WorkerDied:
                self._died(event)
                changed = True
        for task_id, (state, when) in last.items():
            changed |= self._task_changed(task_id, state, when)
        return changed

    def _started(self, event: WorkerStarted) -> None:
        replacement = any(lane.index == event.index for lane in self.lanes)
        lane = Lane(event.index, event.pid, event.time, replacement=replacement)
        self.lanes.append(lane)
        self.lanes.sort(key=lambda lane: (lane.index, lane.start))
        self._lane_of_pid[event.pid] = lane
        if self.first_time is None:
            self.first_time = event.time

    def _died(self, event: WorkerDied) -> None:
        lane = self._lane_of_pid.get(event.pid)
        if lane is None:
            return
        lane.end = event.time
        if event.signal_name:
            lane.death = event.signal_name
        elif event.exitcode == 0 and not any(b.end is None for b in lane.bars):
            lane.death = "stopped"
        elif event.exitcode is None:
            lane.death = "died"  # a cluster may report the exit code later, or never
        else:
            lane.death = f"exit code {event.exitcode}"

    def _task_changed(self, task_id: str, state: TaskState, when: float) -> bool:
        opened = self._open.get(task_id)
        if state is TaskState.RUNNING and opened is not None:
            old_lane, bar = opened
            task = self._task(task_id)
            if task is None or task.worker_pid in (None, old_lane.pid):
                return False  # a progress report: the bar only grows
            # It runs again on another worker (Dask retried it after its worker died, all
            # within one batch): the old bar ends with that worker, a new one opens.
            del self._open[task_id]
            bar.end = max(bar.start, old_lane.end if old_lane.end is not None else when)
            bar.state = TaskState.PENDING
            opened = None
        if state is TaskState.PENDING and opened is None:
            return False  # queued: nothing ran
        if opened is not None:  # it ran: its bar ends, with its outcome
            _lane, bar = self._open.pop(task_id)
            task = self._task(task_id)
            bar.end = task.finished_at if task and task.finished_at else when
            bar.end = max(bar.end, bar.start)
            bar.state = state  # PENDING when it was requeued
            return True
        task = self._task(task_id)
        if task is None or task.started_at is None or state is TaskState.PENDING:
            return False
        lane = self._lane_of_pid.get(task.worker_pid or -1)
        if lane is None:
            return False
        start = task.started_at
        if lane.bars and start < lane._starts[-1]:
            start = lane._starts[-1]  # keep a lane's bars in order, whatever the clocks
        bar = Bar(task_id, start)
        if state is not TaskState.RUNNING:  # began and ended within the batch
            bar.end = max(start, task.finished_at or when)
            bar.state = state
        lane.bars.append(bar)
        lane._starts.append(start)
        self._last[task_id] = (lane, bar)
        if bar.end is None:
            self._open[task_id] = (lane, bar)
        return True

    def _task(self, task_id: str) -> Task | None:
        try:
            return self._lookup(task_id)
        except KeyError:
            return None

    def find(self, task_id: str) -> tuple[int, Bar] | None:
        """The row and the bar of a task's last run, for the view's selection."""
        found = self._last.get(task_id)
        if found is None:
            return None
        lane, bar = found
        return self.lanes.index(lane), bar


@dataclass(frozen=True)
class Geometry:
    """Where things are drawn: time to x, lane to y."""

    t0: float  # the time at x = 0
    px_per_s: float
    row_height: int = 22
    top: int = 18  # room for the time axis

    def x(self, t: float) -> float:
        return (t - self.t0) * self.px_per_s

    def t(self, x: float) -> float:
        return self.t0 + x / self.px_per_s

    def row_y(self, row: int) -> int:
        return self.top + row * self.row_height

    def bar_rect(self, row: int, bar: Bar, now: float) -> tuple[float, float, float, float]:
        """(x, y, width, height) of a bar; at least 2 px wide, so a fast task still shows."""
        left = self.x(bar.start)
        width = max(2.0, self.x(_end(bar, now)) - left)
        return (left, self.row_y(row) + 3, width, self.row_height - 6)

    def row_at(self, y: float, rows: int) -> int | None:
        row = int((y - self.top) // self.row_height)
        return row if 0 <= row < rows and y >= self.top else None


def bar_at(
    timeline: Timeline, geometry: Geometry, x: float, y: float, now: float
) -> tuple[int, Bar] | None:
    """The bar under a point, if any (the hovered or clicked task)."""
    row = geometry.row_at(y, len(timeline.lanes))
    if row is None:
        return None
    t = geometry.t(x)
    slack = 3 / geometry.px_per_s  # a few pixels: thin bars must stay clickable
    for bar in timeline.lanes[row].visible_bars(t - slack, t + slack, now):
        left, _y, width, _h = geometry.bar_rect(row, bar, now)
        if left - 3 <= x <= left + width + 3:
            return row, bar
    return None
