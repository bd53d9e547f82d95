"""The timeline's data: one lane per worker process, from spawn to death, and a bar per
task it ran. Qt-free and geometry-aware, so what the view draws can be tested as numbers.

Built from the facade's events: ``WorkerStarted`` opens a lane, ``WorkerDied`` closes it
with a mark that tells why (a recycling is no crash), ``TaskChanged`` to RUNNING opens a
bar on the lane of the task's worker, the task's next state closes the bar with that
outcome, and ``WorkerStats`` adds to the lane's memory graph.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from app.core import TaskChanged, TaskState, WorkerDied, WorkerStarted, WorkerStats
from app.core.events import Event
from app.core.task import Task


@dataclass
class Bar:
    task_id: str
    start: float
    end: float | None = None  # None while the task runs
    state: TaskState = TaskState.RUNNING


MEMORY_POINTS = 1024
"""Most points a lane keeps of its memory graph: hours of samples cost no more."""
FIRST_STEP = 0.25
"""Seconds within which samples merge at first (the sampler sends two a second at most)."""


class MemorySeries:
    """One process's resident memory over time, in bounded room.

    Samples less than ``step`` seconds after the last point merge into it, keeping the
    highest (a graph of memory must not lose its peaks); when more than ``MEMORY_POINTS``
    points would be kept, ``step`` doubles and the points merge again. So the whole life
    keeps one even resolution, however long the process lives.
    """

    __slots__ = ("_highest", "step", "times", "values")

    def __init__(self) -> None:
        self.times: list[float] = []
        self.values: list[int] = []
        self._highest: list[int] = []  # the highest value up to each point
        self.step = FIRST_STEP

    def add(self, when: float, rss: int) -> None:
        """One sample; one earlier than the last point merges into it (clocks may step)."""
        times, values = self.times, self.values
        if times and when < times[-1] + self.step:
            if rss > values[-1]:
                values[-1] = rss
                self._highest[-1] = max(self._highest[-1], rss)
            return
        times.append(when)
        values.append(rss)
        self._highest.append(max(rss, self._highest[-1]) if self._highest else rss)
        while len(self.times) > MEMORY_POINTS:
            self._coarsen()

    def _coarsen(self) -> None:
        self.step *= 2
        times: list[float] = []
        values: list[int] = []
        for when, value in zip(self.times, self.values, strict=True):
            if times and when < times[-1] + self.step:
                values[-1] = max(values[-1], value)
            else:
                times.append(when)
                values.append(value)
        self.times, self.values = times, values
        highest: list[int] = []
        for value in values:
            highest.append(max(value, highest[-1]) if highest else value)
        self._highest = highest

    def upto(self, now: float) -> int:
        """How many points were sampled by ``now`` (a replay stands at an instant)."""
        return bisect.bisect_right(self.times, now)

    def peak(self, now: float = math.inf) -> tuple[float, int] | None:
        """When the highest value up to ``now`` was first reached, and that value."""
        n = self.upto(now)
        if not n:
            return None
        top = self._highest[n - 1]
        first = bisect.bisect_left(self._highest, top, 0, n)  # non-decreasing
        return self.times[first], top

    def value_at(self, when: float) -> int | None:
        """The last point's value at or before ``when`` (None before the first)."""
        n = self.upto(when)
        return self.values[n - 1] if n else None


@dataclass(frozen=True)
class Mark:
    """How the end of a process is drawn: a shape as well as a colour, so that the kinds
    stay apart for colour-blind eyes and in grey print."""

    shape: str  # "cross", "slashed circle", "hourglass", "warning triangle",
    # "circular arrow", "square"
    tone: str  # "alarm" (red), "warning" (amber), "calm" (the lane's own neutral colour)
    meaning: str  # for the legend and the tooltip


MARKS: dict[str, Mark] = {
    "crashed": Mark(
        "cross",
        "alarm",
        "crashed: the process died on its own, by a signal or an exit in the middle of its "
        "work; the task it ran, if any, is blamed",
    ),
    "killed": Mark(
        "slashed circle",
        "warning",
        "killed: the parent killed it (Kill now, a collect that ran out, a close, a forced cancel)",
    ),
    "timeout": Mark(
        "hourglass",
        "warning",
        "timeout: the parent killed it because its task ran past its timeout",
    ),
    "initializer failed": Mark(
        "warning triangle",
        "alarm",
        "initializer failed: the initializer raised before the first task; no task is "
        "blamed, and the slot is not respawned in a loop",
    ),
    "recycled": Mark(
        "circular arrow",
        "calm",
        "recycled: max_tasks_per_child or max_memory_per_child was reached and the process "
        "exited cleanly, to be replaced; nothing is lost or blamed",
    ),
    "stopped": Mark(
        "square",
        "calm",
        "stopped: a clean exit the parent asked for (the end of a run)",
    ),
}


@dataclass
class Lane:
    """One worker process: ``index`` is its slot; a replacement gets a lane of its own."""

    index: int
    pid: int
    start: float
    end: float | None = None  # when it died
    death: str = ""  # "SIGKILL", "exit code 3", "stopped"...
    reason: str = ""  # why it ended: one of ``DEATH_REASONS``
    cause: str | None = None  # for a kill, the parent's act: ``WorkerDied.cause``
    rss_at_death: int | None = None  # its last memory sample
    oom_killed: bool | None = None  # the out-of-memory killer: likely, ruled out, unknown
    replacement: bool = False  # it took the slot of a process that died
    after: str = ""  # why the process before it in its slot ended
    bars: list[Bar] = field(default_factory=list)
    memory: MemorySeries = field(default_factory=MemorySeries)
    _starts: list[float] = field(default_factory=list)

    @property
    def mark(self) -> Mark | None:
        """How its end is drawn (None while it lives)."""
        return MARKS.get(self.reason) if self.end is not None else None

    def mark_label(self) -> str:
        """The words beside its end mark: the signal or exit code of a crash, else why."""
        if self.reason != "crashed":
            return self.reason
        if self.oom_killed:
            return f"{self.death}, out of memory?"
        return self.death

    def visible_range(self, t_from: float, t_to: float, now: float) -> tuple[int, int]:
        """Indexes [first, last) of the bars that overlap [t_from, t_to], by bisection: a
        lane's bars follow one another (a worker runs one task at a time). Nothing after
        ``now`` shows: a replay stands at an instant of a run known to its end."""
        first = bisect.bisect_left(self._starts, t_from)
        if first and bar_end(self.bars[first - 1], now) > t_from:
            first -= 1  # the bar that began before the window and runs into it
        return first, bisect.bisect_right(self._starts, min(t_to, now))

    def begun(self, when: float) -> int:
        """How many of its bars had begun by ``when`` (they are in order of start)."""
        return bisect.bisect_right(self._starts, when)

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
            if i < 0 or bar_end(bars[i], now) < geometry.t(px):
                continue
            state = bars[i].state if ended(bars[i], now) else TaskState.RUNNING
            if runs and runs[-1][1] == px and runs[-1][2] is state:
                runs[-1] = (runs[-1][0], px + 1, state)
            else:
                runs.append((px, px + 1, state))
        return runs


def bar_end(bar: Bar, now: float) -> float:
    """Where the bar ends as of ``now``: its task's end, or ``now`` while it runs."""
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
        self.memory_peak = 0  # the highest memory sample of any process: the graphs' scale

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
            elif type(event) is WorkerStats:
                changed |= self._sampled(event)
        for task_id, (state, when) in last.items():
            changed |= self._task_changed(task_id, state, when)
        return changed

    def _started(self, event: WorkerStarted) -> None:
        if not isinstance(event.time, int | float) or not math.isfinite(event.time):
            return  # no time to draw it at (a damaged recording): its events find no lane
        before = [lane for lane in self.lanes if lane.index == event.index]
        lane = Lane(event.index, event.pid, event.time, replacement=bool(before))
        if before:
            lane.after = max(before, key=lambda b: b.start).reason
        self.lanes.append(lane)
        self.lanes.sort(key=lambda lane: (lane.index, lane.start))
        self._lane_of_pid[event.pid] = lane
        if self.first_time is None or event.time < self.first_time:
            self.first_time = event.time  # the earliest: a start told late still shows

    def _died(self, event: WorkerDied) -> None:
        lane = self._lane_of_pid.get(event.pid)
        if lane is None:
            return
        lane.end = event.time
        reason = event.reason
        lane.reason = reason if isinstance(reason, str) and reason in MARKS else "crashed"
        lane.cause = event.cause if isinstance(event.cause, str) else None
        lane.rss_at_death = _bytes(event.rss_bytes)
        lane.oom_killed = event.oom_killed if isinstance(event.oom_killed, bool) else None
        if event.signal_name:
            lane.death = event.signal_name
        elif event.exitcode == 0 and not any(b.end is None for b in lane.bars):
            lane.death = "stopped"
            if lane.reason == "crashed":  # a clean exit between tasks: the end of a run
                lane.reason = "stopped"
        elif event.exitcode is None:
            lane.death = "died"  # a cluster may report the exit code later, or never
        else:
            lane.death = f"exit code {event.exitcode}"

    def _sampled(self, event: WorkerStats) -> bool:
        """A memory sample on its process's lane; one that makes no sense is left out
        (no lane, no finite time, a size that is not a whole number of bytes)."""
        lane = self._lane_of_pid.get(event.pid)
        rss = _bytes(event.rss_bytes)
        when = event.time
        if lane is None or rss is None or not isinstance(when, int | float):
            return False
        if not math.isfinite(when) or (lane.end is not None and when > lane.end):
            return False
        lane.memory.add(when, rss)
        if rss > self.memory_peak:
            self.memory_peak = rss
        return True

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


def _bytes(value: object) -> int | None:
    """A memory size as a count of bytes, or None when it is none (a bool, a float, < 0,
    or beyond any 64-bit counter: drawing scales it by a float, which it would overflow)."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**64:
        return value
    return None


@dataclass(frozen=True)
class Geometry:
    """Where things are drawn: time to x, lane to y."""

    t0: float  # the time at x = 0
    px_per_s: float
    row_height: int = 28
    top: int = 18  # room for the time axis
    band: int = 9  # the memory graph's height, along the bottom of a lane

    def x(self, t: float) -> float:
        return (t - self.t0) * self.px_per_s

    def t(self, x: float) -> float:
        return self.t0 + x / self.px_per_s

    def row_y(self, row: int) -> int:
        return self.top + row * self.row_height

    def bar_band(self, row: int) -> tuple[int, int]:
        """(y, height) of a lane's bars, above its memory graph."""
        return self.row_y(row) + 3, self.row_height - self.band - 5

    def bar_rect(self, row: int, bar: Bar, now: float) -> tuple[float, float, float, float]:
        """(x, y, width, height) of a bar; at least 2 px wide, so a fast task still shows."""
        left = self.x(bar.start)
        width = max(2.0, self.x(bar_end(bar, now)) - left)
        y, height = self.bar_band(row)
        return (left, y, width, height)

    def memory_base(self, row: int) -> int:
        """The y of the memory graph's baseline (zero bytes) in a lane."""
        return self.row_y(row) + self.row_height - 1

    def memory_polygon(
        self, row: int, lane: Lane, peak: int, t_from: float, t_to: float, now: float
    ) -> list[tuple[float, float]]:
        """The filled outline of a lane's memory over [t_from, t_to], sampled up to
        ``now``, ``peak`` bytes reaching the band's full height (and any sample at least
        one pixel): one point per pixel column at most (the highest in it), closed along
        the baseline."""
        memory = lane.memory
        if peak <= 0:
            return []
        last = min(memory.upto(now), bisect.bisect_right(memory.times, t_to) + 1)
        first = max(0, bisect.bisect_left(memory.times, t_from) - 1)
        if last <= first:
            return []
        base, scale = self.memory_base(row), self.band / peak
        columns: list[tuple[float, float]] = []
        for when, value in zip(memory.times[first:last], memory.values[first:last], strict=True):
            # At least a pixel high: a small process beside a huge one still shows.
            x, y = float(round(self.x(when))), base - max(1.0, min(peak, value) * scale)
            if columns and columns[-1][0] == x:
                if y < columns[-1][1]:
                    columns[-1] = (x, y)
            else:
                columns.append((x, y))
        if len(columns) == 1:  # one sample: a sliver, not nothing
            columns.append((columns[0][0] + 2, columns[0][1]))
        return [(columns[0][0], base), *columns, (columns[-1][0], base)]

    def row_at(self, y: float, rows: int) -> int | None:
        row = int((y - self.top) // self.row_height)
        return row if 0 <= row < rows and y >= self.top else None


def mark_at(
    timeline: Timeline, geometry: Geometry, x: float, y: float, now: float
) -> tuple[Lane, str] | None:
    """The end mark ("end") or replacement's start mark ("start") under a point."""
    row = geometry.row_at(y, len(timeline.lanes))
    if row is None:
        return None
    lane = timeline.lanes[row]
    died = lane_end(lane, now)
    if died is not None and abs(x - geometry.x(died)) <= 6:
        return lane, "end"
    if lane.replacement and lane.start <= now and abs(x - geometry.x(lane.start)) <= 4:
        return lane, "start"
    return None


def memory_at(
    timeline: Timeline, geometry: Geometry, x: float, y: float, now: float
) -> tuple[Lane, float, int] | None:
    """The lane whose memory graph is under a point, with the sample shown there (when it
    was taken, and its value)."""
    row = geometry.row_at(y, len(timeline.lanes))
    if row is None or y < geometry.memory_base(row) - geometry.band:
        return None
    lane = timeline.lanes[row]
    died = lane_end(lane, now)
    t = min(geometry.t(x), now if died is None else died)
    n = lane.memory.upto(t)
    if not n:
        return None
    return lane, lane.memory.times[n - 1], lane.memory.values[n - 1]


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
