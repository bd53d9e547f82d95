"""The timeline's lanes, bars and geometry, built from a real facade's events."""

from __future__ import annotations

import time

import pytest

from app.core import CrashTask, SimpleTask, TaskState, WorkingProcessFacade
from app.teaching.timeline import MARKS, Bar, Geometry, Lane, Timeline, bar_at


@pytest.mark.timeout(60)
def test_lanes_bars_and_death_markers_from_a_real_run() -> None:
    facade = WorkingProcessFacade(restart=True)
    timeline = Timeline(facade.task)
    tasks = [
        SimpleTask("a", 0.1),
        SimpleTask("b", 0.1),
        CrashTask("crash", "exit"),
        SimpleTask("c", 0.1),
    ]
    try:
        for task in tasks:
            assert facade.process_task(task)
        end = time.monotonic() + 30
        while not all(t.state.is_final for t in tasks):
            assert time.monotonic() < end, facade.tasks
            timeline.apply_events(facade.poll_events(0.1))
        facade.collect_tasks()
        timeline.apply_events(facade.poll_events(0.0))
    finally:
        facade.close()

    first, second = timeline.lanes
    assert (first.index, second.index) == (0, 0)
    assert not first.replacement and second.replacement
    assert [(b.task_id, b.state) for b in first.bars] == [
        ("a", TaskState.DONE),
        ("b", TaskState.DONE),
        ("crash", TaskState.CRASHED),
    ]
    assert [(b.task_id, b.state) for b in second.bars] == [("c", TaskState.DONE)]
    assert first.death == "exit code 3" and second.death == "stopped"
    # A real crash draws as a crash; the end of the run as a calm stop.
    assert first.reason == "crashed" and first.mark == MARKS["crashed"]
    assert first.mark_label() == "exit code 3"
    assert second.reason == "stopped" and second.mark is not None
    assert second.mark.tone == "calm" and second.after == "crashed"
    assert first.end is not None and second.start >= first.end

    geometry = Geometry(t0=first.start, px_per_s=400.0)
    now = time.time()
    rects = [geometry.bar_rect(0, bar, now) for bar in first.bars]
    assert all(r[1] == geometry.row_y(0) + 3 for r in rects)  # all in the first row
    assert [r[0] for r in rects] == sorted(r[0] for r in rects)  # in order of time
    crash_x, _y, crash_w, _h = rects[-1]
    death_x = geometry.x(first.end)
    assert abs(death_x - (crash_x + crash_w)) <= 2  # the marker where the worker died
    c_rect = geometry.bar_rect(1, second.bars[0], now)
    assert c_rect[1] == geometry.row_y(1) + 3 and c_rect[0] >= death_x

    # hit-testing: the middle of a bar finds it; the gap above the lanes finds nothing
    x, y, w, h = rects[1]
    hit = bar_at(timeline, geometry, x + w / 2, y + h / 2, now)
    assert hit is not None and hit[1].task_id == "b"
    assert bar_at(timeline, geometry, x + w / 2, 2, now) is None
    assert timeline.find("c") == (1, second.bars[0])


def test_only_visible_bars_are_looked_at() -> None:
    timeline = Timeline(lambda task_id: SimpleTask(task_id, 0))
    lane = Lane(0, 1, 0.0)
    for n in range(10_000):
        lane.bars.append(Bar(f"t{n}", n * 1.0, n * 1.0 + 0.5, TaskState.DONE))
        lane._starts.append(n * 1.0)
    timeline.lanes.append(lane)
    shown = lane.visible_bars(5000.2, 5003.0, now=1e9)
    assert [b.task_id for b in shown] == ["t5000", "t5001", "t5002", "t5003"]


def test_pixel_runs_when_bars_are_thinner_than_pixels() -> None:
    lane = Lane(0, 1, 0.0)
    for n in range(10_000):  # 10,000 tasks of 0.9 ms, every other one FAILED
        state = TaskState.FAILED if n % 2 else TaskState.DONE
        start = n * 0.001 + 0.00035
        lane.bars.append(Bar(f"t{n}", start, start + 0.0009, state))
        lane._starts.append(start)
    geometry = Geometry(t0=0.0, px_per_s=100.0)  # ten tasks per pixel column
    runs = lane.pixel_runs(geometry, 2000, now=100.0)
    # 10 s of bars (the last ends just past 10 s): each column the colour of its last task
    assert runs == [(0, 1001, TaskState.FAILED)]
    zoomed = Geometry(t0=0.0, px_per_s=10_000.0)  # ten columns per task
    columns = lane.pixel_runs(zoomed, 40, now=100.0)
    assert [(r[0], r[2]) for r in columns] == [
        (3, TaskState.DONE),
        (13, TaskState.FAILED),
        (23, TaskState.DONE),
        (33, TaskState.FAILED),
    ]


def test_a_task_retried_on_another_worker_within_one_batch_moves_lanes() -> None:
    """Dask reruns a task whose worker died: RUNNING, PENDING, RUNNING may share a batch."""
    from app.core import TaskChanged, WorkerDied, WorkerStarted

    task = SimpleTask("t", 0)
    timeline = Timeline(lambda task_id: task)
    timeline.apply_events([WorkerStarted(0, 101, 1.0), WorkerStarted(1, 202, 1.0)])
    task.worker_pid, task.started_at = 101, 2.0
    timeline.apply_events([TaskChanged("t", TaskState.RUNNING, None, "", 2.0)])
    task.worker_pid, task.started_at = 202, 3.5
    timeline.apply_events(
        [
            WorkerDied(0, 101, None, None, 3.0),
            TaskChanged("t", TaskState.PENDING, None, "Dask retries it", 3.0),
            TaskChanged("t", TaskState.RUNNING, None, "", 3.5),
        ]
    )
    first = next(lane for lane in timeline.lanes if lane.pid == 101)
    second = next(lane for lane in timeline.lanes if lane.pid == 202)
    assert [(b.start, b.end, b.state) for b in first.bars] == [(2.0, 3.0, TaskState.PENDING)]
    assert first.death == "died"
    assert [(b.start, b.end) for b in second.bars] == [(3.5, None)]
