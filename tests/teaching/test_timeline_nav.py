"""Walking the timeline's bars by keyboard moves, as numbers."""

from __future__ import annotations

import math

import pytest

from app.core import SimpleTask, TaskChanged, TaskState, WorkerStarted
from app.teaching.timeline import Timeline
from app.teaching.timeline_nav import MOVES, Spot, move, nearest

# Two processes: lane 0 ran a (1-2), b (2-4), c (5-6); lane 1 ran x (1.5-3.5), y (4.5-7).
RUNS = {
    101: [("a", 1.0, 2.0), ("b", 2.0, 4.0), ("c", 5.0, 6.0)],
    202: [("x", 1.5, 3.5), ("y", 4.5, 7.0)],
}


def two_lanes(empty_between: bool = False) -> Timeline:
    """The runs of ``RUNS``; ``empty_between`` puts a process that ran nothing between
    the two lanes."""
    tasks: dict[str, SimpleTask] = {}
    timeline = Timeline(tasks.__getitem__)
    if empty_between:
        starts = [WorkerStarted(0, 101, 0.5), WorkerStarted(1, 303, 0.5)]
        starts.append(WorkerStarted(2, 202, 0.5))
    else:
        starts = [WorkerStarted(0, 101, 0.5), WorkerStarted(1, 202, 0.5)]
    timeline.apply_events(starts)
    for pid, runs in RUNS.items():
        for task_id, start, end in runs:
            task = tasks[task_id] = SimpleTask(task_id, 0)
            task.worker_pid, task.started_at, task.finished_at = pid, start, end
            timeline.apply_events([TaskChanged(task_id, TaskState.RUNNING, None, "", start)])
            timeline.apply_events([TaskChanged(task_id, TaskState.DONE, None, "", end)])
    return timeline


def task_at(timeline: Timeline, spot: Spot | None) -> str:
    assert spot is not None
    return timeline.lanes[spot.row].bars[spot.index].task_id


def walk(timeline: Timeline, start: Spot | None, moves: str, now: float = math.inf) -> list[str]:
    """The task of each spot a series of moves (space-separated) lands on."""
    seen, spot = [], start
    for how in moves.split():
        spot = move(timeline, spot, how, now)
        seen.append(task_at(timeline, spot))
    return seen


def test_left_right_along_a_lane_and_stop_at_its_ends() -> None:
    timeline = two_lanes()
    assert walk(timeline, Spot(0, 0), "right right right left home end") == [
        "b",
        "c",
        "c",  # off the end: stays
        "b",
        "a",
        "c",
    ]


def test_up_down_go_to_the_bar_nearest_in_time() -> None:
    timeline = two_lanes()
    # From b (2-4, middle 3) down: x spans 3. From c (middle 5.5): y spans it.
    assert walk(timeline, Spot(0, 1), "down up") == ["x", "b"]
    assert walk(timeline, Spot(0, 2), "down") == ["y"]
    # From a (middle 1.5): x begins at 1.5. From y (middle 5.75) up: c spans it.
    assert walk(timeline, Spot(0, 0), "down") == ["x"]
    assert walk(timeline, Spot(1, 1), "up up") == ["c", "c"]  # no lane above: stays


def test_a_lane_without_bars_is_skipped() -> None:
    timeline = two_lanes(empty_between=True)
    assert [len(lane.bars) for lane in timeline.lanes] == [3, 0, 2]
    assert walk(timeline, Spot(0, 1), "down up") == ["x", "b"]
    assert walk(timeline, Spot(0, 2), "down down") == ["y", "y"]  # nothing below: stays


def test_first_and_last_of_the_run_and_a_start_from_nowhere() -> None:
    timeline = two_lanes()
    assert walk(timeline, Spot(1, 1), "first") == ["a"]
    assert walk(timeline, Spot(0, 0), "last") == ["c"]  # began last (5.0 > 4.5)
    assert walk(timeline, None, "right") == ["c"]  # no spot yet: the latest bar
    assert walk(timeline, None, "first") == ["a"]
    assert walk(timeline, Spot(7, 0), "left") == ["c"]  # a spot that is gone
    assert walk(timeline, Spot(0, 99), "up") == ["c"]


def test_a_replay_instant_hides_the_bars_not_yet_begun() -> None:
    timeline = two_lanes()
    now = 3.0  # a, b and x had begun; c and y had not
    assert walk(timeline, Spot(0, 0), "end right", now) == ["b", "b"]
    assert walk(timeline, None, "last", now) == ["b"]
    assert walk(timeline, Spot(0, 1), "down", now) == ["x"]
    assert nearest(timeline.lanes[1], 6.0, now) == 0  # y is not there yet
    assert walk(timeline, Spot(0, 2), "left", now) == ["b"]  # c is unseen: from the latest
    assert move(timeline, None, "last", 0.0) is None  # before any bar


def test_no_bars_and_unknown_moves() -> None:
    empty = Timeline(lambda task_id: SimpleTask(task_id, 0))
    for how in MOVES:
        assert move(empty, None, how, math.inf) is None
    with pytest.raises(ValueError, match="unknown move 'sideways'"):
        move(two_lanes(), Spot(0, 0), "sideways", math.inf)
