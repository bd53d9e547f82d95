"""A worker's result stream damaged by its task: the worker ends, its running task is
CRASHED and says why, and the facade goes on (README, "Forked children")."""

from __future__ import annotations

import pytest

from app.core import TaskState
from app.testing import FacadeFactory
from tests.core.helpers import all_final, wait_for
from tests.core.tasks_for_hardening import RAW_FRAMES, RawFrameTask
from tests.core.tasks_for_tests import SquareTask


@pytest.mark.timeout(90)
@pytest.mark.parametrize("how", sorted(RAW_FRAMES))
def test_a_damaged_result_stream_ends_its_worker_never_the_facade(
    monitor_facade: FacadeFactory, how: str
) -> None:
    w = monitor_facade(restart=True)
    t = RawFrameTask(f"raw-{how}", how)
    later = SquareTask("later", 6)
    assert w.process_task(t) and w.process_task(later)
    wait_for(w, all_final([t, later]), deadline=40)
    assert t.state is TaskState.CRASHED, (t.state, t.error)
    assert "result stream was damaged" in (t.error or ""), t.error
    assert later.state is TaskState.DONE and later.result == 36, (later.state, later.error)
    assert w.process_task(SquareTask("after", 2))  # the facade still takes work
