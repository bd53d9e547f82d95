"""``stack()`` on the Dask backend: every thread of the worker running the task, asked by
``Client.run`` on that worker; the same errors as the local facade."""

from __future__ import annotations

import time

import pytest

from app.cluster.facade import DaskFacade
from app.core import TaskState
from app.core.task import CallTask
from tests.cluster.conftest import DaskFactory
from tests.core import stack_tasks

DEADLINE = 30.0


def _until(facade: DaskFacade, predicate: object, what: str) -> None:
    end = time.monotonic() + DEADLINE
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < end, f"{what} did not happen within {DEADLINE} s"
        facade.poll_events(0.05)


@pytest.mark.timeout(120)
def test_the_stack_of_a_task_on_a_dask_worker(make_dask: DaskFactory) -> None:
    facade = make_dask(workers=1)
    nap = CallTask("nap", stack_tasks.nap, (3.0,), {})
    queued = CallTask("queued", stack_tasks.nap, (0.0,), {})
    assert facade.process_task(nap) and facade.process_task(queued)
    _until(facade, lambda: nap.state is TaskState.RUNNING, "nap runs")
    end = time.monotonic() + DEADLINE
    text = facade.stack("nap", timeout=10.0)
    while "time.sleep(seconds)" not in text and time.monotonic() < end:
        text = facade.stack("nap", timeout=10.0)
    first = text.split("\nThread ", 1)[0]
    assert ", running the task:" in first.splitlines()[0], text
    assert "in nap\n    time.sleep(seconds)" in first, text
    assert "\nThread '" in text  # Dask's own threads follow: every thread of the worker
    with pytest.raises(ValueError, match="'queued' is PENDING"):
        facade.stack("queued")
    with pytest.raises(ValueError, match="no task with ID 'nobody'"):
        facade.stack("nobody")
    with pytest.raises(ValueError, match="timeout must be a positive, finite number"):
        facade.stack("nap", timeout=float("nan"))
    _until(facade, lambda: queued.state.is_final, "both done")
    with pytest.raises(ValueError, match=r"'nap' has finished \(DONE\)"):
        facade.stack("nap")
    assert [t.state for t in facade.collect_tasks(DEADLINE)] == [TaskState.DONE] * 2


@pytest.mark.timeout(120)
def test_a_dask_worker_whose_task_holds_the_gil_times_out(make_dask: DaskFactory) -> None:
    """The worker answers on its event loop, which a task holding the GIL stops."""
    facade = make_dask(workers=1)
    # About 6 s in one C call, after a nap in which the worker says the task began.
    gil = CallTask("gil", stack_tasks.nap_then_hold_the_gil, (1.0, 27), {})
    assert facade.process_task(gil)
    _until(facade, lambda: gil.state is TaskState.RUNNING, "gil runs")
    error = None
    end = time.monotonic() + DEADLINE
    while error is None and gil.state is TaskState.RUNNING and time.monotonic() < end:
        try:
            facade.stack("gil", timeout=0.5)
        except TimeoutError as exc:
            error = exc
    assert error is not None, "the worker always answered"
    assert "did not answer within 0.5 s" in str(error)
    _until(facade, lambda: gil.state.is_final, "gil done")
    assert gil.state is TaskState.DONE and gil.result is False
    assert facade.collect_tasks(DEADLINE) == [gil]
