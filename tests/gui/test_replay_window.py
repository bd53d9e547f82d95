"""The window on a recorded run: time travel over a finished recording, and watching a
program that records its run while the window follows it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from app.core import CrashTask, SimpleTask, TaskState, WorkingProcessFacade
from app.gui.main_window import MainWindow
from app.testing import WindowFactory

pytestmark = pytest.mark.timeout(90)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def crash_run(tmp_path: Path) -> Path:
    """Two tasks, then one that SIGKILLs its worker, then two on the replacement."""
    path = tmp_path / "crash.jsonl"
    tasks = [SimpleTask("one", 0.05), SimpleTask("two", 0.05), CrashTask("crash", "kill")]
    tasks += [SimpleTask("three", 0.05), SimpleTask("four", 0.05)]
    with WorkingProcessFacade(restart=True, record=path) as w:
        for task in tasks:
            w.process_task(task)
        w.collect_tasks(timeout=30)
    assert [t.state for t in tasks].count(TaskState.DONE) == 4
    return path


def states(window: MainWindow) -> dict[str, TaskState]:
    model = window.model
    return {model.task_at(row).ID: model.task_at(row).state for row in range(model.rowCount())}


def death_index(window: MainWindow) -> int:
    events = window.source.run.events  # type: ignore[union-attr]
    return next(i for i, event in enumerate(events) if event["e"] == "worker_died")


def test_a_recording_opens_at_its_end_with_nothing_that_acts_on_workers(
    monitor_window: WindowFactory, crash_run: Path
) -> None:
    window = monitor_window(run_file=crash_run)
    assert window.recorded is not None
    slider = window.findChild(object, "timeSlider")
    assert slider is window.recorded.bar.slider and slider.value() == slider.maximum() > 0
    assert states(window) == {
        "one": TaskState.DONE,
        "two": TaskState.DONE,
        "crash": TaskState.CRASHED,
        "three": TaskState.DONE,
        "four": TaskState.DONE,
    }
    c = window.controls
    for widget in (c.submit, c.crash, c.collect, c.new_run, c.restart, window.table_bar.cancel):
        assert not widget.isEnabled()
        assert "recording of the past" in widget.toolTip()
    assert not window.has_work_in_flight()
    assert "SIGKILL" in window.explainer.toPlainText()
    assert not window.recorded.bar.live.isVisible()


def test_the_slider_shows_the_run_before_and_after_the_crash(
    monitor_window: WindowFactory, crash_run: Path
) -> None:
    window = monitor_window(run_file=crash_run)
    assert window.recorded is not None
    bar = window.recorded.bar
    death = death_index(window)
    bar.slider.setValue(death)  # the instant before the worker died
    before = states(window)
    assert before["crash"] is TaskState.RUNNING and "three" in before
    assert before["three"] is TaskState.PENDING
    assert window.explainer.toPlainText() == ""
    assert "busy on crash" in window.worker_panel.table.item(0, 2).text()
    assert window.timeline.now() == pytest.approx(window.source.now())  # the cursor
    bar.slider.setValue(death + 1)  # the death, and the fate it decided
    assert states(window)["crash"] is TaskState.CRASHED
    assert "Blamed: 'crash'" in window.explainer.toPlainText()
    assert window.worker_panel.table.item(0, 2).text() == "crashed: SIGKILL"
    assert "died: SIGKILL" in window.console.text.toPlainText()
    bar.step_back.click()  # one step back goes back over the death as a whole
    assert states(window)["crash"] is TaskState.RUNNING
    assert window.console.text.toPlainText().count("died") == 0
    bar.step.click()
    assert states(window)["crash"] is TaskState.CRASHED


def test_play_goes_through_the_run_to_its_end(
    qtbot: QtBot, monitor_window: WindowFactory, crash_run: Path
) -> None:
    window = monitor_window(run_file=crash_run)
    assert window.recorded is not None
    bar = window.recorded.bar
    bar.slider.setValue(0)
    assert states(window) == {}
    bar.speed.setCurrentIndex(bar.speed.findText("16×"))  # noqa: RUF001
    bar.play.click()
    qtbot.waitUntil(lambda: not bar.play.isChecked(), timeout=30_000)
    assert bar.slider.value() == bar.slider.maximum()
    assert states(window)["crash"] is TaskState.CRASHED and len(states(window)) == 5


def test_a_file_that_is_not_a_run_is_refused_before_a_window_opens(tmp_path: Path) -> None:
    from app.core import RunFileError

    path = tmp_path / "notes.txt"
    path.write_text("hello\n")
    with pytest.raises(RunFileError, match="not a run recording"):
        MainWindow.from_run(path)


def test_a_watch_window_follows_a_program_from_outside(
    qtbot: QtBot, monitor_window: WindowFactory, tmp_path: Path
) -> None:
    path = tmp_path / "live.jsonl"
    program = subprocess.Popen(
        [sys.executable, "-m", "tests.core.recording_program", str(path), "40"], cwd=ROOT
    )
    try:
        qtbot.waitUntil(lambda: path.exists() and path.stat().st_size > 0, timeout=30_000)
        window = monitor_window(run_file=path, follow=True)
        assert window.recorded is not None and window.recorded.player.following
        bar = window.recorded.bar
        assert bar.live.isVisible() and bar.live.isChecked()
        assert "another program" in window.controls.submit.toolTip()
        qtbot.waitUntil(lambda: TaskState.DONE in states(window).values(), timeout=30_000)
        bar.slider.setValue(0)  # scrubbing leaves live; the program goes on meanwhile
        assert not bar.live.isChecked() and states(window) == {}
        bar.live.click()  # back to the present
        qtbot.waitUntil(lambda: len(states(window)) == 40, timeout=60_000)
        qtbot.waitUntil(
            lambda: all(s is TaskState.DONE for s in states(window).values()), timeout=30_000
        )
        assert program.wait(30) == 0
        qtbot.waitUntil(lambda: not window.recorded.player.following, timeout=10_000)
        assert "has ended" in window.controls.mode.text()
    finally:
        program.kill()
        program.wait(10)


def test_a_live_run_can_be_paused_scrubbed_and_taken_back_to_live(
    qtbot: QtBot, monitor_window: WindowFactory
) -> None:
    window = monitor_window()
    assert window.review is not None and not window.review.reviewing
    facade = window.facade
    assert facade.record_path is not None  # the window records its runs
    for task in (SimpleTask("one", 0.0), CrashTask("crash", "kill"), SimpleTask("two", 0.0)):
        assert facade.process_task(task)
    qtbot.waitUntil(lambda: states(window).get("crash") is TaskState.CRASHED, timeout=30_000)
    window.controller.restart_workers()  # a worker again, for what comes next
    bar = window.review.bar
    bar.step_back.click()  # the first touch pauses the views at the present
    assert window.review.reviewing and window.recorded is None
    assert window.controls.submit.isEnabled()  # the workers go on, and can be driven
    replay = window.review.view.replay  # type: ignore[union-attr]
    qtbot.waitUntil(lambda: replay.deaths_before(replay.length) == 1, timeout=10_000)
    bar.slider.setValue(replay.death_index(0))  # just before the crash
    assert states(window)["crash"] is TaskState.RUNNING
    assert facade.process_task(SimpleTask("later", 0.0))
    qtbot.waitUntil(lambda: facade.task("later").state is TaskState.DONE, timeout=30_000)
    assert "later" not in states(window)  # the view stays where it was put
    bar.live.click()  # back to the present: the facade's tasks, read again
    assert not window.review.reviewing
    qtbot.waitUntil(lambda: states(window).get("later") is TaskState.DONE, timeout=10_000)
    assert states(window)["crash"] is TaskState.CRASHED


def test_a_run_with_impossible_times_opens_and_scrubs(
    monitor_window: WindowFactory, tmp_path: Path
) -> None:
    """A header from the year 3 billion, and a time no run can have: the window opens
    (the damage named), draws, and moves, instead of looping for ever or overflowing."""
    path = tmp_path / "odd.jsonl"
    path.write_text(
        '{"format":"worker-monitor-run","version":1,"started":1e17,"pid":1}\n'
        '{"t":0.0,"e":"worker_started","worker":0,"pid":7}\n'
        '{"t":0.1,"e":"submit","id":"a","class":"T","attempt":1}\n'
        '{"t":0.2,"e":"state","id":"a","state":"RUNNING","pid":7}\n'
        '{"t":1e12,"e":"state","id":"a","state":"DONE","pid":7}\n'
    )
    window = monitor_window(run_file=path)
    assert window.recorded is not None and window.recorded.replay.run.problems
    window.timeline.grab()  # paints the axis and the bars
    bar = window.recorded.bar
    for value in (0, 2, bar.slider.maximum()):
        bar.slider.setValue(value)
        window.timeline.grab()
    assert states(window) == {"a": TaskState.RUNNING}


def test_watching_a_program_killed_mid_run_says_so_and_stops(
    qtbot: QtBot, monitor_window: WindowFactory, tmp_path: Path
) -> None:
    path = tmp_path / "killed.jsonl"
    program = subprocess.Popen(
        [sys.executable, "-m", "tests.core.recording_program", str(path), "0"], cwd=ROOT
    )
    try:
        qtbot.waitUntil(lambda: path.exists() and path.stat().st_size > 0, timeout=30_000)
        window = monitor_window(run_file=path, follow=True)
        qtbot.waitUntil(lambda: TaskState.DONE in states(window).values(), timeout=30_000)
        program.kill()
        program.wait(10)
        player = window.recorded.player  # type: ignore[union-attr]
        qtbot.waitUntil(lambda: not player.following, timeout=20_000)
        assert "without ending its run" in window.controls.mode.text()
        assert len(states(window)) >= 1  # what was recorded stays shown
    finally:
        program.kill()
        program.wait(10)


def test_a_runs_folder_that_cannot_be_written_leaves_the_run_unrecorded(
    monitor_window: WindowFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    not_a_folder = tmp_path / "afile"
    not_a_folder.write_text("")
    monkeypatch.setenv("WORKER_MONITOR_RUNS", str(not_a_folder))
    window = monitor_window()
    assert window.facade.record_path is None  # the window opened all the same
    assert "not recorded" in window.controls.message.text()
    assert "record=True" not in window.controls.code.text()
    assert window.facade.process_task(SimpleTask("still", 0.0))
