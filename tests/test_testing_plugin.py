"""The ``app.testing`` plugin as a user meets it: test files of their own, run by pytest.

Each case runs a fresh pytest in a subprocess (``pytester``), so its QApplication, its
workers and its leaks are its own, and a hang would be caught by its timeout.
"""

from __future__ import annotations

import re
from importlib.metadata import entry_points
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
RUN_DEADLINE = 120.0
"""Seconds one inner pytest run may take; each finishes in seconds when all is well."""


def plugin_args() -> list[str]:
    """``-p app.testing`` from a checkout; nothing once installed (twice would fail)."""
    installed = any(ep.value == "app.testing" for ep in entry_points(group="pytest11"))
    return [] if installed else ["-p", "app.testing"]


@pytest.fixture
def inner(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A pytester whose runs import this checkout's ``app`` and run Qt offscreen."""
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    return pytester


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        *plugin_args(), "-p", "no:cacheprovider", *args, timeout=RUN_DEADLINE
    )


LEAKY_TESTS = """
import threading

from app.core import SimpleTask, WorkingProcessFacade

KEPT = []


def test_forgets_to_close_a_facade(facade):
    forgotten = WorkingProcessFacade()
    forgotten.process_task(SimpleTask("forever", 600.0))
    KEPT.append(forgotten)  # never closed: its worker outlives the test


def test_leaves_a_thread(facade):
    threading.Timer(8.0, lambda: None).start()  # still running when the deadline passes


def test_after_the_leaks_starts_clean(facade):
    task = SimpleTask("quick", 0.0)
    facade.process_task(task)
    facade.collect_tasks(timeout=60)
    assert task.state.name == "DONE"
"""


@pytest.mark.timeout(RUN_DEADLINE + 30)
def test_a_leak_fails_its_test_and_names_what_leaked(inner: pytest.Pytester) -> None:
    inner.makepyfile(test_leaky=LEAKY_TESTS)
    result = run(inner)
    result.assert_outcomes(passed=3, errors=2)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_forgets_to_close_a_facade*",
            "*the test left running*1 child process(es), killed now: pid *spawn_main*",
            "*ERROR at teardown of test_leaves_a_thread*",
            "*the test left running*1 non-daemon thread(s): <Timer(*",
        ]
    )


CLOSING_TESTS = """
import pytest
from PySide6.QtWidgets import QDialog, QMessageBox

from app.core import SimpleTask


@pytest.fixture(autouse=True)
def no_dialog(monkeypatch):
    def refuse(self):
        raise AssertionError(f"a modal dialog was opened: {self.windowTitle()!r}")

    monkeypatch.setattr(QMessageBox, "exec", refuse)
    monkeypatch.setattr(QDialog, "exec", refuse)


def busy(qtbot, window):
    for n in range(3):
        assert window.facade.process_task(SimpleTask(f"long-{n}", 600.0))
    running = lambda: any(t.state.name == "RUNNING" for t in window.facade.tasks)
    qtbot.waitUntil(running, timeout=30_000)


def test_close_with_a_long_task_in_flight(qtbot, monitor_window):
    window = monitor_window(workers=2)
    busy(qtbot, window)
    assert not window.close()  # answered "Stay" without a dialog
    assert window.isVisible()


def test_a_long_task_left_in_flight(qtbot, monitor_window):
    busy(qtbot, monitor_window(workers=2))
"""


@pytest.mark.timeout(RUN_DEADLINE + 30)
def test_closing_with_long_tasks_in_flight_is_prompt_and_asks_nothing(
    inner: pytest.Pytester,
) -> None:
    inner.makepyfile(test_closing=CLOSING_TESTS)
    result = run(inner, "--durations=0", "--durations-min=0", "-vv")
    result.assert_outcomes(passed=2)
    teardowns = [float(s) for s in re.findall(r"([\d.]+)s teardown ", result.stdout.str())]
    assert len(teardowns) == 2, result.stdout.str()
    assert max(teardowns) < 15.0, f"teardowns took {teardowns} s (the tasks sleep 600 s)"


DELETING_TESTS = """
import shiboken6

from app.core import SimpleTask


def test_deletes_its_window_later(qtbot, monitor_window):
    window = monitor_window()
    window.facade.process_task(SimpleTask("long", 600.0))
    window.deleteLater()
    qtbot.waitUntil(lambda: not shiboken6.isValid(window), timeout=10_000)


def test_deletes_its_window_at_once(qtbot, monitor_window):
    window = monitor_window(workers=2)
    window.submit_many(1000, 60.0)
    window.controller.collect()
    shiboken6.delete(window)


def test_after_the_deletions_starts_clean(facade):
    task = SimpleTask("quick", 0.0)
    facade.process_task(task)
    facade.collect_tasks(timeout=60)
    assert task.state.name == "DONE"
"""


@pytest.mark.timeout(RUN_DEADLINE + 30)
def test_a_test_that_deletes_its_window_ends_its_run(inner: pytest.Pytester) -> None:
    """Deleting the window (deleteLater, or shiboken6.delete) ends its run first: its
    QThreads destroyed running would abort pytest, and its workers would outlive it."""
    inner.makepyfile(test_deleting=DELETING_TESTS)
    run(inner).assert_outcomes(passed=3)


FACADE_ONLY_TESTS = """
import sys

from app.core import SimpleTask


def test_no_qt_application(facade):
    task = SimpleTask("a", 0.0)
    facade.process_task(task)
    facade.collect_tasks(timeout=60)
    assert task.state.name == "DONE"
    core = sys.modules.get("PySide6.QtCore")
    assert core is None or core.QCoreApplication.instance() is None
"""


@pytest.mark.timeout(RUN_DEADLINE + 30)
def test_the_facade_fixture_creates_no_qt_application(inner: pytest.Pytester) -> None:
    inner.makepyfile(test_facade_only=FACADE_ONLY_TESTS)
    run(inner).assert_outcomes(passed=1)


def readme_example() -> str:
    """The first Python block of the README's section on testing your own tasks."""
    section = README.read_text(encoding="utf-8").split(
        "## Testing your own tasks with pytest-qt", 1
    )[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match, "the README's testing section has no Python example"
    return match.group(1)


@pytest.mark.timeout(RUN_DEADLINE + 30)
def test_the_readme_example_passes(inner: pytest.Pytester) -> None:
    inner.makepyfile(test_thumbnails=readme_example())
    run(inner).assert_outcomes(passed=3)
