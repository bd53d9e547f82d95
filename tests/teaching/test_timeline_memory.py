"""The timeline's memory graphs and end marks, from event objects as a facade posts them.

The sampler that posts ``WorkerStats`` and gives ``WorkerDied`` its reason lives in the
core; these tests build the events themselves, as the live route hands them over.
"""

from __future__ import annotations

import math

import pytest

from app.core import TaskState, WorkerDied, WorkerStarted, WorkerStats
from app.core.events import DEATH_REASONS, TaskChanged
from app.core.task import Task
from app.teaching.timeline import (
    FIRST_STEP,
    MARKS,
    MEMORY_POINTS,
    Geometry,
    MemorySeries,
    Timeline,
    mark_at,
    memory_at,
)

MB = 1024 * 1024
T0 = 1_700_000_000.0


def no_task(task_id: str) -> Task:
    raise KeyError(task_id)


def test_every_reason_has_a_mark_of_its_own_shape() -> None:
    """Colour-blind safe: no two kinds of end share a shape, and a recycling is calm."""
    assert set(MARKS) == set(DEATH_REASONS)
    assert len({mark.shape for mark in MARKS.values()}) == len(MARKS)
    assert MARKS["recycled"].tone == "calm" and MARKS["crashed"].tone == "alarm"
    assert all(reason in mark.meaning for reason, mark in MARKS.items())


def test_memory_series_stays_bounded_over_hours_and_keeps_its_peak() -> None:
    series = MemorySeries()
    hours = 10
    spike_at = T0 + 3 * 3600 + 0.5  # one sample far above the rest
    for k in range(hours * 3600 * 2):  # two samples a second
        when = T0 + k / 2
        series.add(when, 2 * MB * 1000 if when == spike_at else 100 * MB + k)
    assert len(series.times) <= MEMORY_POINTS
    assert len(series.times) == len(series.values)
    assert series.times == sorted(series.times)
    peak = series.peak()
    assert peak is not None and peak[1] == 2000 * MB  # merged, never lost
    assert abs(peak[0] - spike_at) <= series.step
    assert series.step > FIRST_STEP
    # An even resolution: the first hour keeps as many points as the last.
    first = series.upto(T0 + 3600)
    last = len(series.times) - series.upto(T0 + (hours - 1) * 3600)
    assert abs(first - last) <= 2


def test_memory_series_at_an_instant_and_out_of_order_samples() -> None:
    series = MemorySeries()
    series.add(T0, 10 * MB)
    series.add(T0 + 1, 50 * MB)
    series.add(T0 + 2, 20 * MB)
    series.add(T0 + 1.5, 70 * MB)  # a clock that stepped back: merges into the last point
    assert series.times == [T0, T0 + 1, T0 + 2]
    assert series.values == [10 * MB, 50 * MB, 70 * MB]
    assert series.peak(T0 + 1.5) == (T0 + 1, 50 * MB)  # a replay at 1.5 s sees no more
    assert series.peak(T0 - 1) is None
    assert series.value_at(T0 + 1.9) == 50 * MB
    assert series.value_at(T0 - 1) is None


def run_with_every_end() -> Timeline:
    """Two slots: slot 0 recycled twice (memory growing), slot 1 ending every other way."""
    timeline = Timeline(no_task)
    events: list[WorkerStarted | WorkerStats | WorkerDied | TaskChanged] = []
    for n, pid in enumerate((100, 101, 102)):
        start = T0 + 10 * n
        events.append(WorkerStarted(0, pid, start))
        events += [WorkerStats(0, pid, (50 + 10 * k) * MB, 90.0, start + k / 2) for k in range(10)]
        if n < 2:
            events.append(WorkerDied(0, pid, 0, None, start + 9, "recycled", 140 * MB, False))
    ends = [
        ("crashed", -9, "SIGKILL", True),
        ("timeout", -9, "SIGKILL", False),
        ("killed", -15, "SIGTERM", None),
        ("initializer failed", 1, None, None),
    ]
    for n, (reason, code, signal, oom) in enumerate(ends):
        pid, start = 200 + n, T0 + 5 * n
        events.append(WorkerStarted(1, pid, start))
        events.append(WorkerStats(1, pid, 400 * MB * (n + 1), 99.0, start + 1))
        events.append(WorkerDied(1, pid, code, signal, start + 4, reason, 300 * MB, oom))
    events.sort(key=lambda e: e.time)
    timeline.apply_events(events)
    return timeline


def test_lanes_get_their_memory_and_their_ends_from_the_events() -> None:
    timeline = run_with_every_end()
    by_pid = {lane.pid: lane for lane in timeline.lanes}
    first = by_pid[100]
    assert first.memory.values == [(50 + 10 * k) * MB for k in range(10)]
    assert first.memory.times == [T0 + k / 2 for k in range(10)]
    assert first.reason == "recycled" and first.rss_at_death == 140 * MB
    assert first.mark == MARKS["recycled"] and first.mark_label() == "recycled"
    assert by_pid[101].replacement and by_pid[101].after == "recycled"
    assert by_pid[102].mark is None  # still alive
    assert timeline.memory_peak == 1600 * MB  # the run's highest sample, any process
    oom = by_pid[200]
    assert oom.mark == MARKS["crashed"] and oom.oom_killed is True
    assert oom.mark_label() == "SIGKILL, out of memory?"
    assert [by_pid[p].mark_label() for p in (201, 202, 203)] == [
        "timeout",
        "killed",
        "initializer failed",
    ]
    assert {by_pid[p].mark.shape for p in (200, 201, 202, 203) if by_pid[p].mark} == {
        "cross",
        "hourglass",
        "slashed circle",
        "warning triangle",
    }


def test_samples_that_make_no_sense_are_left_out() -> None:
    timeline = Timeline(no_task)
    timeline.apply_events([WorkerStarted(0, 7, T0)])
    bad = [
        WorkerStats(0, 8, 10 * MB, 1.0, T0 + 1),  # no such process
        WorkerStats(0, 7, -1, 1.0, T0 + 1),
        WorkerStats(0, 7, True, 1.0, T0 + 1),
        WorkerStats(0, 7, 1.5e9, 1.0, T0 + 1),  # type: ignore[arg-type]
        WorkerStats(0, 7, 10 * MB, 1.0, math.nan),
        WorkerStats(0, 7, 10 * MB, 1.0, math.inf),
        WorkerStats(0, 7, 10 * MB, 1.0, "soon"),  # type: ignore[arg-type]
    ]
    assert not timeline.apply_events(bad)
    assert timeline.lanes[0].memory.times == [] and timeline.memory_peak == 0
    assert not timeline.apply_events([WorkerStats(0, 7, 2**64, 1.0, T0 + 1)])  # no counter
    huge = 2**63  # absurd, but a number of bytes: kept, and the scale follows it
    assert timeline.apply_events([WorkerStats(0, 7, huge, 1.0, T0 + 2)])
    assert timeline.memory_peak == huge
    timeline.apply_events([WorkerDied(0, 7, 0, None, T0 + 3, "no such reason", -5, "yes")])  # type: ignore[arg-type]
    lane = timeline.lanes[0]
    assert lane.reason == "stopped"  # unknown reason, clean exit between tasks
    assert lane.rss_at_death is None and lane.oom_killed is None
    assert not timeline.apply_events([WorkerStats(0, 7, MB, 1.0, T0 + 4)])  # after its end
    timeline.apply_events([WorkerStarted(1, 9, T0), WorkerDied(1, 9, 1, None, T0 + 1, ["x"])])  # type: ignore[arg-type]
    assert timeline.lanes[-1].reason == "crashed"  # a reason that is no text at all


def test_a_process_told_late_still_begins_the_timeline() -> None:
    timeline = Timeline(no_task)
    timeline.apply_events([WorkerStarted(0, 7, T0 + 5)])
    timeline.apply_events([WorkerStarted(1, 8, T0)])  # started first, told second
    assert timeline.first_time == T0


def test_an_unknown_reason_with_a_task_running_reads_as_a_crash() -> None:
    task = Task("t")
    task.worker_pid, task.started_at = 7, T0 + 0.5
    timeline = Timeline({"t": task}.__getitem__)
    timeline.apply_events(
        [WorkerStarted(0, 7, T0), TaskChanged("t", TaskState.RUNNING, None, "", T0 + 0.5)]
    )
    timeline.apply_events([WorkerDied(0, 7, 0, None, T0 + 1, "no such reason")])
    assert timeline.lanes[0].reason == "crashed"
    assert timeline.lanes[0].mark_label() == "exit code 0"


def test_the_memory_graph_in_pixels_up_to_the_instant() -> None:
    timeline = run_with_every_end()
    g = Geometry(t0=T0, px_per_s=100.0)
    row = next(i for i, lane in enumerate(timeline.lanes) if lane.pid == 100)
    lane = timeline.lanes[row]
    base = g.memory_base(row)
    outline = g.memory_polygon(row, lane, 140 * MB, T0, T0 + 100, T0 + 100)
    assert outline[0] == (0.0, base) and outline[-1] == (450.0, base)  # closed on the base
    top = outline[1:-1]
    assert [x for x, _ in top] == [50.0 * k for k in range(10)]
    assert top[-1][1] == pytest.approx(base - g.band)  # 140 MB of 140: the band's top
    assert top[0][1] == pytest.approx(base - g.band * 50 / 140)
    assert all(y <= base - 1 for _x, y in top)  # each sample at least one pixel high
    # A replay at 2.2 s: the samples after it are not drawn yet.
    early = g.memory_polygon(row, lane, 140 * MB, T0, T0 + 100, T0 + 2.2)
    assert [x for x, _ in early[1:-1]] == [0.0, 50.0, 100.0, 150.0, 200.0]
    # Zoomed far out: one point per pixel column, the highest in it.
    far = Geometry(t0=T0, px_per_s=0.1)
    squeezed = far.memory_polygon(row, lane, 140 * MB, T0, T0 + 1000, T0 + 100)
    assert len(squeezed) == 4  # one column (and its sliver) between the two base points
    assert squeezed[1][1] == pytest.approx(base - g.band)
    assert g.memory_polygon(row, lane, 0, T0, T0 + 100, T0 + 100) == []


def test_hovering_a_mark_or_a_memory_graph_finds_it() -> None:
    timeline = run_with_every_end()
    g = Geometry(t0=T0, px_per_s=100.0)
    row = next(i for i, lane in enumerate(timeline.lanes) if lane.pid == 100)
    lane = timeline.lanes[row]
    assert lane.end is not None
    y_bars = g.bar_band(row)[0] + 2
    assert mark_at(timeline, g, g.x(lane.end) + 3, y_bars, T0 + 100) == (lane, "end")
    assert mark_at(timeline, g, g.x(lane.end) + 3, y_bars, T0 + 5) is None  # not yet
    assert mark_at(timeline, g, g.x(lane.end) - 50, y_bars, T0 + 100) is None
    replacement = timeline.lanes[row + 1]
    assert mark_at(timeline, g, g.x(replacement.start), g.bar_band(row + 1)[0], T0 + 100) == (
        replacement,
        "start",
    )
    y_band = g.memory_base(row) - 2
    found = memory_at(timeline, g, g.x(T0 + 1.2), y_band, T0 + 100)
    assert found == (lane, T0 + 1.0, 70 * MB)
    assert memory_at(timeline, g, g.x(T0 + 1.2), y_bars, T0 + 100) is None  # on the bars
    assert memory_at(timeline, g, g.x(T0 - 1), y_band, T0 + 100) is None  # before any
