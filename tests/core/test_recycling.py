"""``max_tasks_per_child`` and ``max_memory_per_child``: a worker leaves cleanly and is
replaced at once, whatever ``restart`` says; nothing is requeued, lost or blamed (tasks
sent ahead that it had not started go back to the queue)."""

from __future__ import annotations

import logging
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from app.core import TaskChanged, TaskState, WorkerDied, WorkerLog, WorkerStarted, read_run
from app.core.replay import RunReplay
from app.core.runs import RecordedRun
from app.testing import FacadeFactory
from tests.core import lifecycle_calls as calls
from tests.core.helpers import all_final, wait_for

DEADLINE = 60.0


def _deaths(events: list[Any]) -> list[WorkerDied]:
    return [e for e in events if isinstance(e, WorkerDied)]


def _requeued(events: list[Any]) -> list[str]:
    return [
        e.task_id for e in events if isinstance(e, TaskChanged) and e.message.startswith("requeued")
    ]


def test_recycled_after_n_tasks_each_pid_runs_at_most_n(
    monitor_facade: FacadeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "app.core")
    facade = monitor_facade(2, restart=False, max_tasks_per_child=3)
    futures = [facade.submit(calls.pid_of, n) for n in range(20)]
    results = [f.result(DEADLINE) for f in futures]
    assert [n for n, _ in results] == list(range(20))
    events: list[Any] = []
    wait_for(facade, lambda: len(_deaths(events)) >= 6, DEADLINE, into=events)
    before_collect = _deaths(events)
    tasks = facade.collect_tasks(DEADLINE)
    events += facade.poll_events()
    assert all(t.state is TaskState.DONE for t in tasks)
    assert [t.worker_pid for t in tasks] == [pid for _, pid in results]
    ran = Counter(t.worker_pid for t in tasks)
    assert max(ran.values()) <= 3
    recycled = {pid for pid, n in ran.items() if n == 3}
    assert len(recycled) >= 6  # 20 tasks, 3 a process: at least 6 processes ran 3
    assert before_collect and all(d.reason == "recycled" for d in before_collect)
    deaths = _deaths(events)
    assert {d.pid for d in deaths if d.reason == "recycled"} == recycled
    assert all(d.exitcode == 0 and d.signal_name is None for d in deaths)
    assert {d.reason for d in deaths} == {"recycled", "stopped"}
    assert not _requeued(events)  # never sent more than it would run
    # Each recycled worker was replaced, whatever restart says (restart=False here).
    assert sum(isinstance(e, WorkerStarted) for e in events) == 2 + len(recycled)
    said = [r.getMessage() for r in caplog.records if "recycled after 3 tasks" in r.getMessage()]
    assert len(said) == len(recycled)


def test_a_long_queue_is_never_sent_past_the_count_nothing_requeued(
    monitor_facade: FacadeFactory,
) -> None:
    facade = monitor_facade(1, max_tasks_per_child=50)
    futures = [facade.submit(calls.pid_of, n) for n in range(500)]
    assert [f.result(DEADLINE)[0] for f in futures] == list(range(500))
    events = wait_for(facade, all_final(facade.tasks), DEADLINE)
    tasks = facade.collect_tasks(DEADLINE)
    events += facade.poll_events()
    assert all(t.state is TaskState.DONE for t in tasks)
    ran = Counter(t.worker_pid for t in tasks)
    assert sorted(ran.values()) == [50] * 10
    assert not _requeued(events)
    reasons = [d.reason for d in _deaths(events)]
    assert reasons.count("recycled") == 10 and set(reasons) <= {"recycled", "stopped"}


def test_recycled_above_the_memory_cap_later_tasks_run_on_a_new_pid(
    monitor_facade: FacadeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "app.core")
    facade = monitor_facade(1, max_memory_per_child=100_000_000)
    first = facade.submit(calls.pid_of, 0)
    hog = facade.submit(calls.hold_memory, 200)
    after = [facade.submit(calls.pid_of, n) for n in range(1, 6)]
    old_pid = first.result(DEADLINE)[1]
    assert hog.result(DEADLINE) == old_pid  # the task that grows it runs to its end
    new_pids = {f.result(DEADLINE)[1] for f in after}
    events = wait_for(facade, all_final(facade.tasks), DEADLINE)
    tasks = facade.collect_tasks(DEADLINE)
    events += facade.poll_events()
    assert all(t.state is TaskState.DONE for t in tasks)
    assert len(new_pids) == 1 and old_pid not in new_pids
    deaths = _deaths(events)
    assert [(d.pid, d.reason, d.exitcode) for d in deaths] == [
        (old_pid, "recycled", 0),
        (*new_pids, "stopped", 0),
    ]
    (said,) = [r.getMessage() for r in caplog.records if "resident above" in r.getMessage()]
    assert f"(pid {old_pid}) recycled: " in said and "above the 100 MB cap" in said
    megabytes = int(said.split("recycled: ")[1].split(" MB")[0])
    assert 200 <= megabytes < 400


def test_a_memory_recycling_requeues_what_was_sent_ahead(
    monitor_facade: FacadeFactory,
) -> None:
    """Fast tasks make the engine send many ahead; the worker that leaves after the big
    one holds some it never started: they go back to the queue, never lost or blamed."""
    facade = monitor_facade(1, restart=False, max_memory_per_child=100_000_000)
    futures = [facade.submit(calls.pid_of, n) for n in range(300)]
    futures[0].result(DEADLINE)
    futures.append(facade.submit(calls.hold_memory, 200))
    futures += [facade.submit(calls.pid_of, n) for n in range(300, 800)]
    values = [f.result(DEADLINE) for f in futures]
    events = wait_for(facade, all_final(facade.tasks), DEADLINE)
    tasks = facade.collect_tasks(DEADLINE)
    events += facade.poll_events()
    assert all(t.state is TaskState.DONE for t in tasks)
    assert len(tasks) == 801
    hog_pid = values[300]
    requeued = _requeued(events)
    assert requeued, "the worker held no task it had not started: the test proves nothing"
    assert all(facade.task(i).worker_pid != hog_pid for i in requeued)
    assert all(
        e.message == "requeued: worker-0 was recycled before starting it"
        for e in events
        if isinstance(e, TaskChanged) and e.task_id in requeued and e.message
    )
    recycled = [d for d in _deaths(events) if d.reason == "recycled"]
    assert [d.pid for d in recycled] == [hog_pid]
    assert not any(t.attempts != 1 for t in tasks)


def test_the_reason_is_recorded_and_read_back(
    monitor_facade: FacadeFactory, tmp_path: Path
) -> None:
    path = tmp_path / "run.jsonl"
    facade = monitor_facade(1, max_tasks_per_child=1, record=path)
    assert [facade.submit(calls.pid_of, n).result(DEADLINE)[0] for n in range(2)] == [0, 1]
    tasks = facade.collect_tasks(DEADLINE)
    assert [t.state for t in tasks] == [TaskState.DONE] * 2
    run = read_run(path)
    reasons = [d["reason"] for d in run.deaths()]
    assert reasons[:2] == ["recycled", "recycled"] and set(reasons) <= {"recycled", "stopped"}
    replayed = [e for e in _replayed_events(run) if isinstance(e, WorkerDied)]
    assert [d.reason for d in replayed] == reasons
    # A run recorded before deaths had a reason reads as "crashed".
    old = tmp_path / "old.jsonl"
    old.write_text(re.sub(r',"reason":"[a-z ]+"', "", path.read_text()))
    old_run = read_run(old)
    assert [d["reason"] for d in old_run.deaths()] == ["crashed"] * len(reasons)
    assert [d.reason for d in _replayed_events(old_run) if isinstance(d, WorkerDied)] == [
        "crashed"
    ] * len(reasons)


def _replayed_events(run: RecordedRun) -> list[Any]:
    return list(RunReplay(run).index())


def test_cancelling_tasks_sent_ahead_keeps_the_count_in_step(
    monitor_facade: FacadeFactory,
) -> None:
    """A task taken back from a worker's window is not run there, and the parent's count
    of what the worker will run must stay its own: else a worker waits for a task that
    never comes, or is sent one it will not run."""
    facade = monitor_facade(2, max_tasks_per_child=4)
    futures = [facade.submit(calls.pid_of, n) for n in range(120)]
    cancelled: set[str] = set()
    for i, future in enumerate(futures):
        if future.task_id not in cancelled:
            future.result(DEADLINE)
        # The next tasks are the likeliest to sit in a window, sent but not started.
        if i % 3 == 0 and i + 2 < len(futures) and facade.cancel(futures[i + 2].task_id):
            cancelled.add(futures[i + 2].task_id)
    events = wait_for(facade, all_final(facade.tasks), DEADLINE)
    tasks = facade.collect_tasks(DEADLINE)
    events += facade.poll_events()
    for task in tasks:
        expected = TaskState.CANCELLED if task.ID in cancelled else TaskState.DONE
        assert task.state is expected, task
    assert cancelled  # some were still waiting: the test exercised the take-back
    ran = Counter(t.worker_pid for t in tasks if t.state is TaskState.DONE)
    assert max(ran.values()) <= 4
    assert {d.reason for d in _deaths(events)} <= {"recycled", "stopped"}
    assert not _requeued(events)


def test_a_cap_below_any_worker_recycles_after_every_task_and_loses_nothing(
    monitor_facade: FacadeFactory,
) -> None:
    facade = monitor_facade(2, max_memory_per_child=1)
    futures = [facade.submit(calls.pid_of, n) for n in range(10)]
    values = [f.result(DEADLINE) for f in futures]
    events = wait_for(facade, all_final(facade.tasks), DEADLINE)
    tasks = facade.collect_tasks(DEADLINE)
    events += facade.poll_events()
    assert [n for n, _ in values] == list(range(10))
    assert all(t.state is TaskState.DONE and t.attempts == 1 for t in tasks)
    assert len({pid for _, pid in values}) == 10  # one process a task
    assert {d.reason for d in _deaths(events)} <= {"recycled", "stopped"}


def test_a_worker_killed_on_its_way_out_is_still_replaced_and_loses_nothing(
    monitor_facade: FacadeFactory,
) -> None:
    facade = monitor_facade(1, restart=False, max_tasks_per_child=1)
    first = facade.submit(calls.kill_me_at_exit, 0)
    rest = [facade.submit(calls.pid_of, n) for n in range(1, 4)]
    killed_pid = first.result(DEADLINE)[1]
    assert [f.result(DEADLINE)[0] for f in rest] == [1, 2, 3]
    events = wait_for(facade, all_final(facade.tasks), DEADLINE)
    tasks = facade.collect_tasks(DEADLINE)
    events += facade.poll_events()
    assert all(t.state is TaskState.DONE for t in tasks)
    died = next(d for d in _deaths(events) if d.pid == killed_pid)
    assert (died.reason, died.signal_name) == ("crashed", "SIGKILL")  # not a clean exit
    assert killed_pid not in {f.result(0)[1] for f in rest}


def test_a_thread_left_running_does_not_hold_a_recycled_worker(
    monitor_facade: FacadeFactory,
) -> None:
    """Its clean exit would join the thread for ever: it is cut short after a second,
    with a warning, and the next task runs on the replacement."""
    facade = monitor_facade(1, max_tasks_per_child=1)
    first = facade.submit(calls.leave_a_thread_running, 0)
    second = facade.submit(calls.pid_of, 1)
    old_pid = first.result(DEADLINE)[1]
    assert second.result(10)[1] != old_pid
    events = wait_for(facade, all_final(facade.tasks), DEADLINE)
    tasks = facade.collect_tasks(DEADLINE)
    events += facade.poll_events()
    assert [t.state for t in tasks] == [TaskState.DONE] * 2
    died = next(d for d in _deaths(events) if d.pid == old_pid)
    assert (died.reason, died.exitcode) == ("recycled", 0)
    (warned,) = [
        e for e in events if isinstance(e, WorkerLog) and "exit did not end within" in e.message
    ]
    assert warned.pid == old_pid and "left-behind" in warned.message
