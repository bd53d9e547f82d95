"""Volume: big results, many tasks, several threads at once. No deadlock, nothing missing."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import pytest

from app.core import TaskChanged, TaskState
from app.testing import FacadeFactory
from tests.core.tasks_for_tests import BigResultTask, SquareTask

MB = 1 << 20


@pytest.mark.timeout(90)
def test_200_results_of_1_mb_collected_without_deadlock(monitor_facade: FacadeFactory) -> None:
    w = monitor_facade()
    tasks = [BigResultTask(f"big{i}", MB, i % 256) for i in range(200)]
    for t in tasks:
        assert w.process_task(t)
    # No polling at all: collect_tasks must drain results while it waits and joins.
    collected = w.collect_tasks()
    assert len(collected) == 200
    for i, t in enumerate(collected):
        assert t.state is TaskState.DONE, (t, t.error)
        assert isinstance(t.result, bytes) and len(t.result) == MB
        assert t.result[0] == t.result[-1] == i % 256
    assert not w.worker_info()[0].alive


@pytest.mark.timeout(120)
def test_100000_tiny_tasks_none_missing(monitor_facade: FacadeFactory) -> None:
    n = 100_000
    w = monitor_facade()
    tasks = [SquareTask(f"t{i}", i) for i in range(n)]
    start = time.perf_counter()
    for t in tasks:
        assert w.process_task(t)
    submit = time.perf_counter() - start
    collected = w.collect_tasks()
    assert len(collected) == n
    assert all(a is b for a, b in zip(collected, tasks, strict=True))
    states = Counter(t.state for t in collected)
    assert states == {TaskState.DONE: n}
    bad = [t.ID for t in collected if t.result != t.n * t.n]
    assert not bad, f"{len(bad)} wrong results, e.g. {bad[:5]}"
    assert w.worker_info()[0].tasks_done == n
    assert submit < 30.0, f"submitting {n} tasks took {submit:.1f} s"


@pytest.mark.timeout(90)
def test_four_threads_submit_while_another_polls(monitor_facade: FacadeFactory) -> None:
    per_thread = 1000
    threads_n = 4
    w = monitor_facade(workers=2)
    expected_ids = {f"th{k}-{i}" for k in range(threads_n) for i in range(per_thread)}
    events: list[Any] = []
    done_ids: set[str] = set()
    stop = threading.Event()
    errors: list[BaseException] = []
    outcomes: dict[str, bool] = {}
    outcomes_lock = threading.Lock()
    barrier = threading.Barrier(threads_n + 1)

    def poller() -> None:
        try:
            deadline = time.monotonic() + 60.0
            while not stop.is_set() and time.monotonic() < deadline:
                batch = w.poll_events(0.05)
                events.extend(batch)
                for e in batch:
                    if isinstance(e, TaskChanged) and e.state is TaskState.DONE:
                        done_ids.add(e.task_id)
                if done_ids >= expected_ids:
                    return
        except BaseException as exc:  # reported to the main thread
            errors.append(exc)

    def submitter(k: int) -> None:
        try:
            mine = [SquareTask(f"th{k}-{i}", i) for i in range(per_thread)]
            barrier.wait()
            results = {t.ID: w.process_task(t) for t in mine}
            with outcomes_lock:
                outcomes.update(results)
        except BaseException as exc:
            errors.append(exc)

    poll_thread = threading.Thread(target=poller, name="poller")
    submitters = [threading.Thread(target=submitter, args=(k,)) for k in range(threads_n)]
    poll_thread.start()
    for s in submitters:
        s.start()
    barrier.wait()
    for s in submitters:
        s.join(60)
    poll_thread.join(70)
    stop.set()
    assert not poll_thread.is_alive() and not any(s.is_alive() for s in submitters)
    assert not errors, errors
    assert set(outcomes) == expected_ids and all(outcomes.values())

    collected = w.collect_tasks()
    ids = [t.ID for t in collected]
    assert len(ids) == len(set(ids)) == len(expected_ids)
    assert set(ids) == expected_ids
    assert {t.state for t in collected} == {TaskState.DONE}
    assert all(t.result == int(t.ID.split("-")[1]) ** 2 for t in collected)

    changes = [e for e in events if isinstance(e, TaskChanged)]
    assert {e.task_id for e in changes} <= expected_ids
    last_state: dict[str, TaskState] = {}
    done_count: Counter[str] = Counter()
    for e in changes:
        last_state[e.task_id] = e.state
        if e.state is TaskState.DONE:
            done_count[e.task_id] += 1
    assert set(last_state) == expected_ids
    assert set(last_state.values()) == {TaskState.DONE}
    assert set(done_count.values()) == {1}, "a task reported DONE more than once"
