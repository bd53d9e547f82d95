"""A run on Dask is recorded as a local one is: the same file, the same fates."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core import CrashTask, TaskState, read_run
from tests.cluster.conftest import DaskFactory
from tests.cluster.test_dask_facade import poll_until
from tests.core.helpers import assert_recorded_as_collected
from tests.core.tasks_for_tests import RaiseTask, SquareTask

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(180)]


def test_a_dask_run_is_recorded_as_collect_tasks_tells_it(
    make_dask: DaskFactory, tmp_path: Path
) -> None:
    path = tmp_path / "dask.jsonl"
    facade = make_dask(record=path)
    assert facade.record_path == path
    tasks = [SquareTask("square", 5), RaiseTask("bad"), CrashTask("boom", "exit")]
    assert facade.process_task(tasks[0])
    poll_until(facade, lambda _: tasks[0].state.is_final, "square final")  # before any death
    for task in tasks[1:]:
        assert facade.process_task(task)
    poll_until(facade, lambda _: all(t.state.is_final for t in tasks), "every task final")
    assert facade.resubmit("bad")
    poll_until(facade, lambda _: tasks[1].state.is_final, "bad final again")
    collected = facade.collect_tasks()
    assert [t.state for t in collected] == [TaskState.DONE, TaskState.FAILED, TaskState.CRASHED]
    run = read_run(path)
    assert run.complete and run.problems == [] and facade.record_problems == []
    assert run.header["backend"] == "dask" and run.header["workers"] == 2
    assert_recorded_as_collected(collected, run)
    assert run.tasks()["bad"].attempts == 2
    assert len(run.deaths()) >= 4  # Dask ran the killer on four workers
    retries = [
        e["message"]
        for e in run.events
        if e["e"] == "state" and e["id"] == "boom" and "Dask retries it" in e.get("message", "")
    ]
    assert len(retries) == 3  # as the facade's own events tell them
