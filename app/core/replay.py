"""A recorded run played back: the run as it was at any instant, for the window's replay,
its watch mode and its time travel.

The run's events are indexed once, as they are read: every change of a task keeps a new
version of its record, marked with the event that made it, and every ``CHECKPOINT``
events the counts per state and the workers are kept as they were. The run at an instant
is then found, not refolded: a task's state by bisection over its own versions, the
counts and the workers from the checkpoint before the instant and the few events after
it. Moving anywhere in a run of 100,000 tasks costs about as much as moving one step.
"""

from __future__ import annotations

import bisect
import logging
from array import array
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from app.core.events import (
    Event,
    TaskChanged,
    WorkerDied,
    WorkerInfo,
    WorkerLog,
    WorkerStarted,
    WorkerStats,
)
from app.core.runs import (
    RecordedRun,
    TaskRecord,
    as_bool,
    as_int,
    as_num,
    as_size,
    as_str,
    death_reason_of,
    fold,
    run_start,
)
from app.core.states import TaskState

CHECKPOINT = 2048
"""Events between two kept copies of the counts and the workers."""
_STATES = list(TaskState)
_CODE = {state.name: n for n, state in enumerate(_STATES)}  # by name: str hashes in C
_NAMES = TaskState.__members__
_NO_STATE = -1


class RecordedTask:
    """One task as a recording left it at one moment: read-only, with the names of a
    ``Task`` that the views read (times are seconds since the epoch, as a live task's)."""

    __slots__ = ("ID", "_base", "_record")
    timeout = None
    exception = None

    def __init__(self, record: TaskRecord, base: float) -> None:
        self.ID = record.id
        self._record = record
        self._base = base

    def _now(self) -> TaskRecord:
        return self._record

    def _at(self, moment: float | None) -> float | None:
        return None if moment is None else self._base + moment

    @property
    def state(self) -> TaskState:
        return self._now().state

    @property
    def result(self) -> str | None:
        return self._now().result

    @property
    def error(self) -> str | None:
        return self._now().error

    @property
    def traceback(self) -> str | None:
        return self._now().traceback

    @property
    def exitcode(self) -> int | None:
        return self._now().exitcode

    @property
    def worker_pid(self) -> int | None:
        return self._now().worker_pid

    @property
    def attempts(self) -> int:
        return self._now().attempts

    @property
    def progress(self) -> float | None:
        return self._now().progress

    @property
    def message(self) -> str:
        return self._now().message

    @property
    def submitted_at(self) -> float | None:
        return self._at(self._now().submitted)

    @property
    def started_at(self) -> float | None:
        return self._at(self._now().started)

    @property
    def finished_at(self) -> float | None:
        return self._at(self._now().finished)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.ID!r} {self.state.name}>"


class TaskAtCursor(RecordedTask):
    """A task as the replay's current instant shows it: each read finds its version."""

    __slots__ = ("_replay",)

    def __init__(self, record: TaskRecord, replay: RunReplay, base: float) -> None:
        super().__init__(record, base)
        self._replay = replay

    def _now(self) -> TaskRecord:
        return self._replay.record(self.ID) or self._record


@dataclass
class _Slot:
    index: int
    pid: int | None = None
    alive: bool = False
    exitcode: int | None = None
    task_id: str | None = None
    tasks_done: int = 0
    restarts: int = -1  # the first start is no restart
    started: float | None = None  # when its live process started, since the epoch
    death: WorkerDied | None = None  # how its last process ended
    rss_bytes: int | None = None  # the last sample of its live process
    cpu_percent: float | None = None


class _Workers:
    """The worker slots, folded event by event (cheap to copy: a few slots)."""

    def __init__(self, slots: dict[int, _Slot] | None = None) -> None:
        self.slots = {i: replace(s) for i, s in (slots or {}).items()}
        self.by_pid = {s.pid: s for s in self.slots.values() if s.pid is not None}

    def apply(self, event: Event | None, record: TaskRecord | None) -> None:
        """One event as ``_converted`` made it, and the task version it made, if any."""
        if record is not None:
            slot = self.by_pid.get(record.worker_pid) if record.worker_pid is not None else None
            if slot is None or record.state is TaskState.PENDING:
                return
            if record.state is TaskState.RUNNING:
                slot.task_id = record.id
            elif record.state.is_final:
                if slot.task_id == record.id:
                    slot.task_id = None
                if record.state in (TaskState.DONE, TaskState.FAILED):
                    slot.tasks_done += 1
            return
        if type(event) is WorkerStarted:
            slot = self.slots.setdefault(event.index, _Slot(event.index))
            slot.pid, slot.alive, slot.exitcode, slot.task_id = event.pid, True, None, None
            slot.restarts += 1
            slot.started = event.time
            slot.death = None
            slot.rss_bytes = slot.cpu_percent = None
            self.by_pid[event.pid] = slot
        elif type(event) is WorkerStats:
            slot = self.slots.get(event.index)
            if slot is not None and slot.alive and slot.pid == event.pid:
                slot.rss_bytes, slot.cpu_percent = event.rss_bytes, event.cpu_percent
        elif type(event) is WorkerDied:
            slot = self.slots.setdefault(event.index, _Slot(event.index, event.pid))
            slot.alive, slot.task_id = False, None
            slot.exitcode = event.exitcode
            slot.death = event
            slot.rss_bytes = slot.cpu_percent = None


class RunReplay:
    """The run of ``run`` (a ``RecordedRun``, still growing if it is followed) as it was
    after its first ``cursor`` events. ``index()`` takes in what was read: at the start,
    and after each read of a growing run."""

    def __init__(self, run: RecordedRun) -> None:
        self.run = run
        self.cursor = 0
        self._indexed = 0
        self._times: list[float] = []  # each event's time, kept monotonic for bisect
        self._latest: dict[str, TaskRecord] = {}
        self._versions: dict[str, list[TaskRecord]] = {}
        self._marks: dict[str, list[int]] = {}  # the event index of each version
        self._tasks: list[TaskAtCursor] = []  # in the order they first appeared
        self._firsts: list[int] = []  # the event index at which each of them appeared
        self._row: dict[str, int] = {}
        self._old = array("b")  # per event: the task's state before it, or -1
        self._new = array("b")  # per event: the task's state after it, or -1
        self._counts = [0] * len(_STATES)
        self._counts_at: list[list[int]] = []  # before events 0, CHECKPOINT, 2 * ...
        self._workers = _Workers()
        self._workers_at: list[dict[int, _Slot]] = []
        self._shown: list[int] = []  # events the console shows: logs, starts, deaths
        self._deaths: list[int] = []
        self._stats: list[int] = []  # the WorkerStats events: memory and CPU samples
        self._slot_of: dict[int, int] = {}  # worker pid -> slot

    @property
    def base(self) -> float:
        """When the run began, in seconds since the epoch (0 when the header lacks it)."""
        return run_start(self.run.header)

    @property
    def path(self) -> Path:
        return self.run.path

    @property
    def length(self) -> int:
        """How many events are indexed (so far, when the run is followed)."""
        return self._indexed

    # -- indexing ---------------------------------------------------------------------
    @property
    def behind(self) -> int:
        """Events read but not indexed yet."""
        return len(self.run.events) - self._indexed

    def index(self, limit: int | None = None) -> list[Event]:
        """Indexes the events read since the last call (at most ``limit`` of them);
        returns them as ``Event`` records (for a view that is built once and then only
        looks at an instant)."""
        events = self.run.events
        end = len(events) if limit is None else min(len(events), self._indexed + limit)
        base = self.base
        made: list[Event] = []
        last = self._times[-1] if self._times else 0.0
        for i in range(self._indexed, end):
            if i % CHECKPOINT == 0:
                self._counts_at.append(list(self._counts))
                self._workers_at.append(_Workers(self._workers.slots).slots)
            event = events[i]
            last = max(last, float(event["t"]))
            self._times.append(last)
            record = self._add(i, event, base)
            converted = _converted(event, record, base)
            self._workers.apply(converted, record)
            if converted is not None:
                made.append(converted)
                if type(converted) is WorkerStats:
                    self._stats.append(i)
                elif type(converted) is not TaskChanged:
                    self._shown.append(i)
                    if type(converted) is WorkerStarted:
                        self._slot_of[converted.pid] = converted.index
                    if type(converted) is WorkerDied:
                        self._deaths.append(i)
        self._indexed = end
        return made

    def _add(self, i: int, event: dict[str, Any], base: float) -> TaskRecord | None:
        kind = event["e"]
        if kind != "submit" and kind != "state":
            self._old.append(_NO_STATE)
            self._new.append(_NO_STATE)
            return None
        task_id = event["id"]
        old = self._latest.get(task_id)
        if old is None:
            record = fold(self._latest, event)
            self._versions[task_id] = [record]
            self._marks[task_id] = [i]
            self._row[task_id] = len(self._tasks)
            self._tasks.append(TaskAtCursor(record, self, base))
            self._firsts.append(i)
            self._old.append(_NO_STATE)
        else:
            self._latest[task_id] = _copied(old)  # a new version: the old one stays as it was
            record = fold(self._latest, event)
            self._versions[task_id].append(record)
            self._marks[task_id].append(i)
            was = _CODE[old.state._name_]
            self._old.append(was)
            self._counts[was] -= 1
        now = _CODE[record.state._name_]
        self._new.append(now)
        self._counts[now] += 1
        return record

    # -- moving -----------------------------------------------------------------------
    def seek(self, index: int) -> int:
        """Moves to just after the ``index``-th event (see ``whole``); the new cursor."""
        self.cursor = self.whole(max(0, min(index, self.length)))
        return self.cursor

    def whole(self, index: int) -> int:
        """``index``, moved past the fates a death decided: a live poll hands a worker's
        death and its task's end over together, and the explainer tells them together."""
        events = self.run.events
        if index == 0 or events[index - 1]["e"] != "worker_died":
            return index
        pid = events[index - 1].get("pid")
        while index < self.length:
            event = events[index]
            # Its task's fate, the tasks it held requeued, the queue LOST when no worker
            # is left: state changes of no other worker, none a task's start.
            if event["e"] != "state" or event.get("pid") not in (pid, None):
                break
            if event["state"] == "RUNNING":
                break
            index += 1
        return index

    def time_of(self, index: int) -> float:
        """Seconds from the run's start to its ``index``-th event (0 before the first)."""
        if index <= 0 or not self._times:
            return 0.0
        return self._times[min(index, len(self._times)) - 1]

    def index_at(self, seconds: float) -> int:
        """How many events happened at or before ``seconds`` into the run."""
        return bisect.bisect_right(self._times, seconds)

    def now(self) -> float:
        """The replay's instant, in seconds since the epoch."""
        return self.base + self.time_of(self.cursor)

    # -- the run at the cursor ---------------------------------------------------------
    def record(self, task_id: str) -> TaskRecord | None:
        """The task's record as it was at the cursor (None: not submitted yet)."""
        marks = self._marks.get(task_id)
        if marks is None:
            return None
        n = bisect.bisect_left(marks, self.cursor)
        return self._versions[task_id][n - 1] if n else None

    @property
    def tasks(self) -> list[TaskAtCursor]:
        """The tasks known at the cursor, in submission order."""
        return self._tasks[: bisect.bisect_left(self._firsts, self.cursor)]

    def tasks_from(self, start: int) -> list[TaskAtCursor]:
        return self.tasks[start:]

    def task(self, task_id: str) -> TaskAtCursor:
        row = self._row.get(task_id)
        if row is None or self._firsts[row] >= self.cursor:
            raise KeyError(task_id)
        return self._tasks[row]

    @property
    def rows(self) -> dict[str, int]:
        """Each task's place in submission order (known at the cursor or not)."""
        return self._row

    def worker_of(self, pid: int) -> int | None:
        """The slot of the worker process ``pid`` (None: not a worker of this run)."""
        return self._slot_of.get(pid)

    def shown_from(self, n: int) -> int:
        """Where the last ``n`` events the console shows before the cursor begin."""
        k = bisect.bisect_left(self._shown, self.cursor)
        return self._shown[max(0, k - n)] if k else self.cursor

    def _checkpoint(self) -> int:
        """The last checkpoint at or before the cursor (the first when none is kept)."""
        return min(self.cursor // CHECKPOINT, max(0, len(self._counts_at) - 1))

    def counts(self) -> Counter[TaskState]:
        """How many tasks were in each state at the cursor."""
        if not self._counts_at:
            return Counter()
        start = self._checkpoint() * CHECKPOINT
        counts = list(self._counts_at[start // CHECKPOINT])
        old, new = self._old, self._new
        for i in range(start, self.cursor):
            if new[i] != _NO_STATE:
                if old[i] != _NO_STATE:
                    counts[old[i]] -= 1
                counts[new[i]] += 1
        return Counter({_STATES[n]: c for n, c in enumerate(counts) if c})

    def _workers_now(self) -> _Workers:
        start = self._checkpoint() * CHECKPOINT
        slots = self._workers_at[start // CHECKPOINT] if self._workers_at else {}
        workers = _Workers(slots)
        events, base = self.run.events, self.base
        for i in range(start, self.cursor):
            record = self._made_by(i)
            workers.apply(_converted(events[i], record, base), record)
        return workers

    def _made_by(self, i: int) -> TaskRecord | None:
        """The task version the ``i``-th event made (None: not a task's event)."""
        if self._new[i] == _NO_STATE:
            return None
        task_id = self.run.events[i]["id"]
        return self._versions[task_id][bisect.bisect_left(self._marks[task_id], i)]

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
                rss_bytes=s.rss_bytes,
                cpu_percent=s.cpu_percent,
            )
            for _, s in sorted(self._workers_now().slots.items())
        ]

    def worker_history(self) -> tuple[dict[int, float], dict[int, WorkerDied]]:
        """When each slot's live process started (seconds since the epoch), and how each
        slot's last process died, at the cursor."""
        slots = self._workers_now().slots.values()
        started = {s.index: s.started for s in slots if s.alive and s.started is not None}
        return started, {s.index: s.death for s in slots if s.death is not None}

    def events_between(self, first: int, last: int, kinds: str = "all") -> list[Event]:
        """The events [first, last) as ``Event`` records; ``kinds="shown"``: only those
        the console shows (logs, worker starts and deaths), ``"deaths"``: only deaths
        and the fates each decided, ``"stats"``: only ``WorkerStats`` (each worker's
        memory and CPU samples, as a live facade reported them)."""
        events, base = self.run.events, self.base
        if kinds == "shown":
            indexes = self._shown[bisect.bisect_left(self._shown, first) :]
        elif kinds == "stats":
            indexes = self._stats[bisect.bisect_left(self._stats, first) :]
        elif kinds == "deaths":
            indexes = []
            for d in self._deaths[bisect.bisect_left(self._deaths, first) :]:
                indexes += range(d, self.whole(d + 1))
        else:
            indexes = list(range(first, last))
        made = []
        for i in indexes:
            if i >= last:
                break
            event = events[i]
            record = None
            if self._new[i] != _NO_STATE:
                record = self._versions[event["id"]][
                    bisect.bisect_left(self._marks[event["id"]], i)
                ]
            converted = _converted(event, record, base)
            if converted is not None:
                made.append(converted)
        return made

    def deaths_before(self, index: int) -> int:
        """How many workers died in the first ``index`` events."""
        return bisect.bisect_left(self._deaths, index)

    def death_index(self, n: int) -> int:
        """The event index of the ``n``-th death."""
        return self._deaths[n]

    def latest(self, task_id: str) -> RecordedTask:
        """The task as the last indexed event left it (KeyError if never seen)."""
        return RecordedTask(self._latest[task_id], self.base)


def _copied(record: TaskRecord) -> TaskRecord:
    """A copy of ``record`` (``dataclasses.replace`` is seven times slower)."""
    copy = object.__new__(TaskRecord)
    copy.__dict__.update(record.__dict__)
    return copy


def _converted(event: dict[str, Any], record: TaskRecord | None, base: float) -> Event | None:
    """The ``Event`` a live facade gave for this recorded line (None: none did)."""
    kind = event["e"]
    when = base + event["t"]
    if record is not None:
        return TaskChanged(record.id, record.state, record.progress, record.message, when)
    if kind in ("worker_started", "worker_died"):
        index, pid = as_int(event.get("worker")), as_int(event.get("pid"))
        if index is None or pid is None:
            return None
        if kind == "worker_started":
            return WorkerStarted(index, pid, when)
        exitcode = as_int(event.get("exitcode"))
        return WorkerDied(
            index,
            pid,
            exitcode,
            as_str(event.get("signal")),
            when,
            death_reason_of(event),
            rss_bytes=as_size(event.get("rss")),
            oom_killed=as_bool(event.get("oom")),
            oom_evidence=as_str(event.get("oom_evidence")),
            cause=as_str(event.get("cause")),
        )
    if kind == "worker_stats":
        index, pid = as_int(event.get("worker")), as_int(event.get("pid"))
        rss, cpu = as_size(event.get("rss")), as_num(event.get("cpu"))
        if index is None or pid is None or rss is None or cpu is None:
            return None
        return WorkerStats(index, pid, rss, cpu, when)
    if kind == "log":
        pid, message = as_int(event.get("pid")), as_str(event.get("message"))
        if pid is None or message is None:
            return None
        return WorkerLog(pid, as_int(event.get("level")) or logging.INFO, message, when)
    return None  # "end", "dropped", or a kind a later version adds
