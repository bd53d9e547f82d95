"""A recorded run played back: the run as it was at any instant, for the window's replay,
its watch mode and its time travel.

``RunReplay`` keeps a cursor into the run's events. Moving it forward folds the events
passed over; moving it back starts again from the first event (folding is cheap: a run
of 100,000 tasks refolds in well under a second). Each move returns the events the views
must apply, as the same ``Event`` records a live facade's ``poll_events`` gives, so the
views cannot tell a replay from a live run. It reads the calls of a facade that only
look (``tasks``, ``task``, ``tasks_from``, ``worker_info``); it has no way to act.
"""

from __future__ import annotations

import bisect
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.core.events import Event, TaskChanged, WorkerDied, WorkerInfo, WorkerLog, WorkerStarted
from app.core.runs import RecordedRun, TaskRecord, fold, number, value_of
from app.core.states import TaskState

_STATES = TaskState.__members__


class RecordedTask:
    """One task as the replay's instant shows it: read-only, with the names of a ``Task``
    that the views read (times are seconds since the epoch, as a live task's)."""

    __slots__ = ("ID", "_base", "_record")
    timeout = None
    exception = None

    def __init__(self, record: TaskRecord, base: float) -> None:
        self.ID = record.id
        self._record = record
        self._base = base

    def _at(self, moment: float | None) -> float | None:
        return None if moment is None else self._base + moment

    @property
    def state(self) -> TaskState:
        return self._record.state

    @property
    def result(self) -> str | None:
        return self._record.result

    @property
    def error(self) -> str | None:
        return self._record.error

    @property
    def traceback(self) -> str | None:
        return self._record.traceback

    @property
    def exitcode(self) -> int | None:
        return self._record.exitcode

    @property
    def worker_pid(self) -> int | None:
        return self._record.worker_pid

    @property
    def attempts(self) -> int:
        return self._record.attempts

    @property
    def progress(self) -> float | None:
        return self._record.progress

    @property
    def message(self) -> str:
        return self._record.message

    @property
    def task_class(self) -> str | None:
        return self._record.task_class

    @property
    def submitted_at(self) -> float | None:
        return self._at(self._record.submitted)

    @property
    def started_at(self) -> float | None:
        return self._at(self._record.started)

    @property
    def finished_at(self) -> float | None:
        return self._at(self._record.finished)

    def __repr__(self) -> str:
        return f"<RecordedTask {self.ID!r} {self.state.name}>"


@dataclass
class _Slot:
    index: int
    pid: int | None = None
    alive: bool = False
    exitcode: int | None = None
    task_id: str | None = None
    tasks_done: int = 0
    restarts: int = -1  # the first start is no restart


class RunReplay:
    """The run of ``run`` (a ``RecordedRun``, still growing if it is followed) as it was
    after its first ``cursor`` events."""

    def __init__(self, run: RecordedRun) -> None:
        self.run = run
        self.cursor = 0
        self._times: list[float] = []  # each event's time, for bisect
        self._fresh()

    def _fresh(self) -> None:
        self._records: dict[str, TaskRecord] = {}
        self._tasks: dict[str, RecordedTask] = {}
        self._order: list[RecordedTask] = []
        self._slots: dict[int, _Slot] = {}
        self._pids: dict[int, _Slot] = {}
        self.cursor = 0

    @property
    def base(self) -> float:
        """When the run began, in seconds since the epoch (0 when the header lacks it)."""
        started = number(self.run.header.get("started"))
        return 0.0 if started is None else started

    @property
    def path(self) -> Path:
        return self.run.path

    @property
    def length(self) -> int:
        """How many events the run has (so far, when it is followed)."""
        return len(self.run.events)

    def time_of(self, index: int) -> float:
        """Seconds from the run's start to its ``index``-th event (0 before the first)."""
        self._index_times()
        if index <= 0 or not self._times:
            return 0.0
        return self._times[min(index, len(self._times)) - 1]

    def index_at(self, seconds: float) -> int:
        """How many events happened at or before ``seconds`` into the run."""
        self._index_times()
        return bisect.bisect_right(self._times, seconds)

    def _index_times(self) -> None:
        events = self.run.events
        if len(self._times) < len(events):
            # read_run checked every time: a finite number. Kept monotonic for bisect.
            last = self._times[-1] if self._times else 0.0
            for event in events[len(self._times) :]:
                last = max(last, float(event["t"]))
                self._times.append(last)

    def now(self) -> float:
        """The replay's instant, in seconds since the epoch."""
        return self.base + self.time_of(self.cursor)

    def seek(self, index: int) -> tuple[bool, list[Event]]:
        """Moves to just after the ``index``-th event. Returns whether the views must
        start again (a move back), and the events they must apply."""
        index = self.whole(max(0, min(index, self.length)))
        reset = index < self.cursor
        if reset:
            self._fresh()
        events = self.run.events[self.cursor : index]
        self.cursor = index
        base = self.base
        out = []
        for event in events:
            made = self._apply(event, base)
            if made is not None:
                out.append(made)
        return reset, out

    def whole(self, index: int) -> int:
        """``index``, moved past the fates a death decided: a live poll hands a worker's
        death and its task's end over together, and the explainer tells them together."""
        events = self.run.events
        if index == 0 or events[index - 1]["e"] != "worker_died":
            return index
        pid = events[index - 1].get("pid")
        while index < len(events):
            event = events[index]
            if event["e"] != "state" or event.get("pid") != pid:
                break
            if not _STATES[event["state"]].is_final:
                break
            index += 1
        return index

    # -- what a facade's views read -------------------------------------------------
    @property
    def tasks(self) -> list[RecordedTask]:
        return list(self._order)

    def tasks_from(self, start: int) -> list[RecordedTask]:
        return self._order[start:]

    def task(self, task_id: str) -> RecordedTask:
        return self._tasks[task_id]

    def worker_info(self) -> list[WorkerInfo]:
        return [
            WorkerInfo(
                index=s.index,
                pid=s.pid,
                alive=s.alive,
                exitcode=s.exitcode,
                task_id=s.task_id,
                tasks_done=s.tasks_done,
                restarts=max(0, s.restarts),
                ready=s.alive,
                queued=0,
            )
            for _, s in sorted(self._slots.items())
        ]

    # -- folding ----------------------------------------------------------------------
    def _apply(self, event: dict[str, Any], base: float) -> Event | None:
        kind = event["e"]
        when = base + event["t"]
        if kind in ("submit", "state"):
            task_id = event["id"]
            record = fold(self._records, event)
            if task_id not in self._tasks:
                task = self._tasks[task_id] = RecordedTask(record, base)
                self._order.append(task)
            self._follow_worker(record, kind)
            return TaskChanged(task_id, record.state, record.progress, record.message, when)
        if kind == "worker_started":
            index, pid = value_of(event, "worker", int), value_of(event, "pid", int)
            if index is None or pid is None:
                return None
            slot = self._slots.setdefault(index, _Slot(index))
            slot.pid, slot.alive, slot.exitcode, slot.task_id = pid, True, None, None
            slot.restarts += 1
            self._pids[pid] = slot
            return WorkerStarted(index, pid, when)
        if kind == "worker_died":
            index, pid = value_of(event, "worker", int), value_of(event, "pid", int)
            if index is None or pid is None:
                return None
            slot = self._slots.setdefault(index, _Slot(index, pid))
            slot.alive, slot.task_id = False, None
            slot.exitcode = value_of(event, "exitcode", int)
            signal_name = value_of(event, "signal", str)
            return WorkerDied(index, pid, slot.exitcode, signal_name, when)
        if kind == "log":
            pid, message = value_of(event, "pid", int), value_of(event, "message", str)
            if pid is None or message is None:
                return None
            level = value_of(event, "level", int) or logging.INFO
            return WorkerLog(pid, level, message, when)
        return None  # "end", "dropped", or a kind a later version adds

    def _follow_worker(self, record: TaskRecord, kind: str) -> None:
        """Which worker runs what, and how many each finished, from the tasks' pids."""
        slot = self._pids.get(record.worker_pid) if record.worker_pid is not None else None
        if kind == "submit" or slot is None:
            return
        if record.state is TaskState.RUNNING:
            slot.task_id = record.id
        elif record.state.is_final:
            if slot.task_id == record.id:
                slot.task_id = None
            if record.state in (TaskState.DONE, TaskState.FAILED):
                slot.tasks_done += 1
