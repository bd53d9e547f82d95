"""Playing a recording back: at any instant the replay shows the run as it was then,
and at its end as ``collect_tasks`` left it."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core import CrashTask, TaskState, WorkerDied, WorkingProcessFacade, read_run
from app.core.events import TaskChanged, WorkerLog, WorkerStarted
from app.core.replay import RunReplay
from tests.core.helpers import all_final, wait_for
from tests.core.tasks_for_tests import SquareTask

pytestmark = pytest.mark.timeout(120)


def recorded_crash(path: Path) -> list[str]:
    """A run with a task before, a crash, and a task after it on the replacement."""
    tasks = [SquareTask("before", 3), CrashTask("crash", "exit"), SquareTask("after", 4)]
    with WorkingProcessFacade(restart=True, record=path) as w:
        for task in tasks:
            assert w.process_task(task)
        wait_for(w, all_final(tasks), 30)
    return [task.state.name for task in w.tasks]


def test_the_end_of_a_replay_is_what_collect_tasks_returned(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    collected = recorded_crash(path)
    replay = RunReplay(read_run(path))
    events = replay.index()
    assert replay.seek(replay.length) == replay.length == len(replay.run.events)
    assert [t.state.name for t in replay.tasks] == collected == ["DONE", "CRASHED", "DONE"]
    assert replay.task("before").result == "9" and replay.task("crash").exitcode is not None
    assert {type(e) for e in events} >= {TaskChanged, WorkerStarted, WorkerDied}
    workers = replay.worker_info()
    assert len(workers) == 1 and workers[0].restarts == 1
    assert not workers[0].alive and workers[0].exitcode == 0  # stopped at the collect
    assert replay.now() >= replay.base


def test_seeking_back_shows_the_run_before_the_crash(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    recorded_crash(path)
    replay = RunReplay(read_run(path))
    replay.index()
    replay.seek(replay.length)
    crash = replay.task("crash")
    death = next(i for i, e in enumerate(replay.run.events) if e["e"] == "worker_died")
    replay.seek(death)  # just before the death
    assert replay.deaths_before(replay.cursor) == 0
    assert replay.task("crash") is crash and crash.state is TaskState.RUNNING
    assert replay.task("after").state is TaskState.PENDING
    (worker,) = replay.worker_info()
    assert worker.alive and worker.task_id == "crash" and worker.tasks_done == 1
    # One step on: the death, and the fate it decided, together (as a live poll has them).
    replay.seek(death + 1)
    assert replay.cursor >= death + 2 and replay.whole(death + 1) == replay.cursor
    told = replay.events_between(0, replay.cursor, "deaths")
    assert type(told[0]) is WorkerDied and told[1] == TaskChanged(
        "crash", TaskState.CRASHED, None, told[1].message, told[1].time
    )
    # 'after', if it had been sent ahead to the dead worker, is requeued in the same step
    assert all(e.state is TaskState.PENDING for e in told[2:])  # type: ignore[union-attr]
    assert not replay.worker_info()[0].alive and crash.state is TaskState.CRASHED
    started, deaths = replay.worker_history()
    assert started == {} and deaths[0].exitcode == 3  # the crash task exited with 3
    assert replay.time_of(death + 1) >= replay.time_of(death)
    assert replay.index_at(replay.time_of(death + 1)) >= death + 1
    assert replay.seek(0) == 0 and replay.tasks == [] and replay.counts() == {}
    with pytest.raises(KeyError):
        replay.task("crash")


def test_a_replay_ignores_what_it_cannot_use(tmp_path: Path) -> None:
    path = tmp_path / "odd.jsonl"
    path.write_text(
        '{"format":"worker-monitor-run","version":1,"started":1000.0}\n'
        '{"t":0.1,"e":"worker_started","worker":"zero","pid":5}\n'
        '{"t":0.2,"e":"log","pid":7,"level":20,"message":"hello"}\n'
        '{"t":0.3,"e":"submit","id":"a","class":"T","attempt":1}\n'
        '{"t":0.4,"e":"state","id":"a","state":"RUNNING","pid":99}\n'
        '{"t":0.5,"e":"from-the-future","x":1}\n'
    )
    replay = RunReplay(read_run(path))
    events = replay.index()
    replay.seek(10)
    assert [type(e) for e in events] == [WorkerLog, TaskChanged, TaskChanged]
    assert events[0].time == pytest.approx(1000.2)
    assert replay.task("a").state is TaskState.RUNNING and replay.worker_info() == []


def test_a_death_and_every_fate_it_decided_are_one_step(tmp_path: Path) -> None:
    """No worker left: the crash and the queued tasks LOST with it, at one instant."""
    path = tmp_path / "lost.jsonl"
    tasks = [CrashTask("crash", "exit")] + [SquareTask(f"q{n}", n) for n in range(4)]
    with WorkingProcessFacade(record=path) as w:  # restart=False: nobody takes the queue
        for task in tasks:
            w.process_task(task)
        wait_for(w, all_final(tasks), 30)
    assert [t.state for t in tasks[1:]] == [TaskState.LOST] * 4
    replay = RunReplay(read_run(path))
    replay.index()
    death = next(i for i, e in enumerate(replay.run.events) if e["e"] == "worker_died")
    replay.seek(death + 1)
    states = {t.ID: t.state for t in replay.tasks}
    assert states == {"crash": TaskState.CRASHED, **{f"q{n}": TaskState.LOST for n in range(4)}}
    told = replay.events_between(0, replay.cursor, "deaths")
    assert sum(isinstance(e, TaskChanged) and e.state is TaskState.LOST for e in told) == 4
