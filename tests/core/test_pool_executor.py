"""``ProcessPoolFacade``: the facade built from ``ProcessPoolExecutor``'s own arguments,
as ``python -m app run`` puts it in the standard executor's place."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core import TaskState
from app.core.futures import TaskCrashedError
from app.core.pool_executor import ProcessPoolFacade
from tests.core.calls_for_tests import die, initialize, initialized, pid, square
from tests.core.helpers import finish

DEADLINE = 30.0
ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.fixture
def made() -> Iterator[list[ProcessPoolFacade]]:
    """The executors a test makes, each closed after it."""
    executors: list[ProcessPoolFacade] = []
    yield executors
    for executor in executors:
        executor.close()


def test_max_workers_defaults_to_the_cpu_count(made: list[ProcessPoolFacade]) -> None:
    made.append(executor := ProcessPoolFacade())
    assert len(executor.worker_info()) == (os.cpu_count() or 1)
    assert executor.submit(square, 5).result(DEADLINE) == 25


@pytest.mark.parametrize(
    ("bad", "error", "text"),
    [
        (0, ValueError, "max_workers must be greater than 0"),
        (-1, ValueError, "max_workers must be greater than 0"),
        ("2", TypeError, "max_workers must be an integer"),
        (2.0, TypeError, "max_workers must be an integer"),
        (True, TypeError, "max_workers must be an integer"),
    ],
)
def test_max_workers_is_checked_as_the_standard_executor_does(
    bad: object, error: type[Exception], text: str
) -> None:
    with pytest.raises(error, match=text):
        ProcessPoolFacade(bad)  # type: ignore[arg-type]


def test_mp_context_gives_the_start_method(made: list[ProcessPoolFacade]) -> None:
    made.append(executor := ProcessPoolFacade(1, multiprocessing.get_context("forkserver")))
    assert executor.submit(square, 3).result(DEADLINE) == 9
    with pytest.raises(TypeError, match="mp_context"):
        ProcessPoolFacade(1, mp_context=42)
    with pytest.raises(ValueError, match="unknown start method"):
        ProcessPoolFacade(1, mp_context="teleport")


def test_a_dead_worker_is_replaced_and_only_its_call_fails(
    made: list[ProcessPoolFacade],
) -> None:
    made.append(executor := ProcessPoolFacade(1))
    doomed = executor.submit(die, 3)
    after = [executor.submit(square, n) for n in range(4)]
    crashed = doomed.exception(DEADLINE)
    assert isinstance(crashed, TaskCrashedError) and crashed.exitcode == 3
    assert [f.result(DEADLINE) for f in after] == [0, 1, 4, 9]
    assert executor.worker_info()[0].restarts == 1


def test_max_tasks_per_child_is_refused_with_fork_as_the_standard_executor_does() -> None:
    with pytest.raises(ValueError, match="incompatible with the 'fork'"):
        ProcessPoolFacade(1, multiprocessing.get_context("fork"), max_tasks_per_child=2)


# These two need the facade's own initializer and max_tasks_per_child.
def test_initializer_and_initargs_are_passed_on(made: list[ProcessPoolFacade]) -> None:
    made.append(executor := ProcessPoolFacade(2, None, initialize, ("ready",)))
    assert [executor.submit(initialized).result(DEADLINE) for _ in range(4)] == ["ready"] * 4


def test_max_tasks_per_child_is_passed_on(made: list[ProcessPoolFacade]) -> None:
    made.append(executor := ProcessPoolFacade(1, max_tasks_per_child=2))
    pids = [executor.submit(pid).result(DEADLINE) for _ in range(4)]
    assert pids[0] == pids[1] != pids[2] == pids[3]
    assert all(t.state is TaskState.DONE for t in executor.collect_tasks(DEADLINE))


def test_forked_workers_leave_the_exit_wait_to_their_parent() -> None:
    """A worker started with fork runs ``threading``'s exit hooks as it ends: the exit
    wait it inherited must not act there on its copy of the parent's facades."""
    code = textwrap.dedent(
        """
        import multiprocessing
        from app.core.pool_executor import ProcessPoolFacade
        from tests.core.calls_for_tests import die, square

        pool = ProcessPoolFacade(2, multiprocessing.get_context("fork"))
        pool.submit(die, 3)
        print([pool.submit(square, n).result(30) for n in range(4)])
        """
    )  # no shutdown: the parent's own exit wait collects it
    program = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = finish(program, 60)
    assert program.returncode == 0, err
    assert out == "[0, 1, 4, 9]\n"
    assert "I/O thread died" not in err and "dropped without" not in err
