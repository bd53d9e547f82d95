"""Recording a run against a hostile caller: two facades on one file, the disk filling
mid-run, results whose ``repr`` misbehaves."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core import WorkingProcessFacade, read_run
from tests.core.helpers import all_final, wait_for
from tests.core.tasks_for_tests import SquareTask

pytestmark = pytest.mark.timeout(120)


def test_a_file_being_recorded_is_refused_to_a_second_facade(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    first_tasks = [SquareTask(f"a{n}", n) for n in range(3)]
    with WorkingProcessFacade(record=path) as first:
        for task in first_tasks:
            first.process_task(task)
        with pytest.raises(OSError, match="being recorded"):
            WorkingProcessFacade(record=path)
        wait_for(first, all_final(first_tasks))
    run = read_run(path)
    assert run.complete and run.problems == []
    assert list(run.tasks()) == ["a0", "a1", "a2"]
    with WorkingProcessFacade(record=path) as again:  # once ended, it may be replaced
        again.process_task(SquareTask("b", 2))
    assert list(read_run(path).tasks()) == ["b"]
