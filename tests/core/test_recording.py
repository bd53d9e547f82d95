"""Recording a run: what the file holds matches what ``collect_tasks`` returns, for every
way a worker can die; where the file goes; and a slow or failing disk never holds up or
breaks the facade."""

from __future__ import annotations

import logging
import os
import stat
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from app.core import (
    CrashTask,
    SimpleTask,
    Task,
    TaskState,
    WorkingProcessFacade,
    read_run,
    recording,
)
from app.core.run_paths import RECORD_ENV, RUNS_ENV, chosen_path, runs_folder
from tests.core.helpers import all_final, assert_recorded_as_collected, wait_for
from tests.core.tasks_for_tests import RaiseTask, SquareTask

pytestmark = pytest.mark.timeout(120)


@pytest.mark.parametrize("way", ["exception", "exit", "exit0", "kill", "segfault", "hang"])
def test_the_recording_tells_each_death_as_collect_tasks_does(tmp_path: Path, way: str) -> None:
    path = tmp_path / "run.jsonl"
    crash = CrashTask("crash", way, timeout=1.0 if way == "hang" else None)
    tasks: list[Task] = [SquareTask("before", 3), crash, SquareTask("after", 4), RaiseTask("bad")]
    with WorkingProcessFacade(restart=True, record=path) as w:
        for task in tasks:
            assert w.process_task(task)
        wait_for(w, all_final(tasks), 30)
        assert w.resubmit("bad")  # a second attempt, recorded as such
        wait_for(w, all_final(tasks), 30)
    assert w.record_path == path and w.record_problems == []
    run = read_run(path)
    assert run.complete and run.problems == []
    assert run.header["format"] == "worker-monitor-run" and run.header["version"] == 1
    assert run.header["backend"] == "local" and run.header["workers"] == 1
    assert run.header["pid"] == os.getpid()
    assert_recorded_as_collected(w.tasks, run)
    assert run.tasks()["bad"].attempts == 2 and "ZeroDivisionError" in run.tasks()["bad"].traceback
    deaths = run.deaths()
    died = next(d for d in deaths if d["pid"] == crash.worker_pid)
    if way != "exception" or crash.exitcode is not None:
        expected = {"kill": "SIGKILL", "segfault": "SIGSEGV", "hang": "SIGKILL"}.get(way)
        assert died["signal"] == expected
    assert run.events[-1]["e"] == "end" and run.events[-1]["how"] == "collected"


def test_lost_and_cancelled_tasks_are_recorded_so(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    blocker = SimpleTask("blocker", 30.0)
    crash = CrashTask("crash", "kill")
    queued = [SquareTask(f"queued-{n}", n) for n in range(3)]
    w = WorkingProcessFacade(record=path)
    try:
        assert w.process_task(blocker)
        for task in [crash, *queued]:
            w.process_task(task)
        assert w.cancel("queued-2")
        wait_for(w, lambda: blocker.state is TaskState.RUNNING)
        w.close()
    finally:
        w.close()
    run = read_run(path)
    assert run.events[-1]["how"] == "closed"
    assert_recorded_as_collected(w.tasks, run)
    states = {task_id: r.state for task_id, r in run.tasks().items()}
    assert states["blocker"] is TaskState.TIMED_OUT
    assert states["queued-2"] is TaskState.CANCELLED


def test_a_worker_left_without_workers_makes_lost_tasks(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    crash = CrashTask("crash", "exit")
    queued = [SquareTask(f"queued-{n}", n) for n in range(3)]
    with WorkingProcessFacade(record=path) as w:  # restart=False: nobody is left
        for task in [crash, *queued]:
            w.process_task(task)
        wait_for(w, all_final([crash, *queued]))
    assert [t.state for t in queued] == [TaskState.LOST] * 3
    run = read_run(path)
    assert_recorded_as_collected(w.tasks, run)
    assert run.tasks()["crash"].exitcode == 3


def test_results_are_text_cut_at_the_documented_size() -> None:
    assert recording.result_text(None) == ("None", None)
    assert recording.result_text({"a": 1}) == ("{'a': 1}", None)
    text, length = recording.result_text("x" * 5000)
    assert len(text) == recording.RESULT_CHARS and length == 5000
    text, length = recording.result_text(list(range(5000)))
    assert len(text) == recording.RESULT_CHARS and length == len(repr(list(range(5000))))

    class Unprintable:
        def __repr__(self) -> str:
            raise RuntimeError("no")

    assert recording.result_text(Unprintable()) == ("<repr failed: RuntimeError>", None)


# -- where it goes ---------------------------------------------------------------------------
@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for name in (RECORD_ENV, RUNS_ENV, "XDG_STATE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return monkeypatch


def test_record_choices_and_the_environment(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    home_runs = tmp_path / "home" / ".local" / "state" / "worker-monitor" / "runs"
    assert runs_folder() == home_runs
    assert chosen_path(None) is None  # unset: no recording
    assert chosen_path(True) == (home_runs, True)
    assert chosen_path(False) is None
    assert chosen_path(tmp_path / "a.jsonl") == (tmp_path / "a.jsonl", False)
    assert chosen_path(str(tmp_path / "b.jsonl")) == (tmp_path / "b.jsonl", False)
    assert chosen_path(str(tmp_path / "new") + "/") == (tmp_path / "new", True)
    assert chosen_path(tmp_path) == (tmp_path, True)  # an existing folder
    clean_env.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert runs_folder() == tmp_path / "state" / "worker-monitor" / "runs"
    clean_env.setenv("XDG_STATE_HOME", "relative/state")  # not absolute: ignored
    assert runs_folder() == home_runs
    clean_env.setenv(RUNS_ENV, str(tmp_path / "mine"))
    assert runs_folder() == tmp_path / "mine"
    for value, expected in [
        ("1", (tmp_path / "mine", True)),
        ("0", None),
        ("", None),
        (str(tmp_path / "c.jsonl"), (tmp_path / "c.jsonl", False)),
        (str(tmp_path), (tmp_path, True)),
    ]:
        clean_env.setenv(RECORD_ENV, value)
        assert chosen_path(None) == expected, value
        assert chosen_path(False) is None  # False never records, whatever the environment
    with pytest.raises(TypeError):
        chosen_path(3)  # type: ignore[arg-type]


def test_the_environment_records_to_a_new_private_file(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    runs = tmp_path / "deep" / "runs"
    clean_env.setenv(RECORD_ENV, "1")
    clean_env.setenv(RUNS_ENV, str(runs))
    old = os.umask(0)  # the modes do not depend on the umask
    try:
        first = WorkingProcessFacade()
        second = WorkingProcessFacade()
    finally:
        os.umask(old)
    first.collect_tasks()
    second.collect_tasks()
    assert first.record_path is not None and second.record_path is not None
    assert first.record_path.parent == runs and first.record_path != second.record_path
    assert first.record_path.name.startswith("run-") and first.record_path.suffix == ".jsonl"
    for folder in (runs, runs.parent):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(first.record_path.stat().st_mode) == 0o600
    assert read_run(first.record_path).complete
    clean_env.setenv(RECORD_ENV, str(tmp_path / "named.jsonl"))
    with WorkingProcessFacade() as third:
        pass
    assert third.record_path == tmp_path / "named.jsonl"
    with WorkingProcessFacade(record=False) as unrecorded:
        pass
    assert unrecorded.record_path is None


def test_path_problems_are_clear_errors_at_construction(tmp_path: Path) -> None:
    precious = tmp_path / "notes.txt"
    precious.write_text("not a run\n")
    with pytest.raises(OSError, match="not a run recording"):
        WorkingProcessFacade(record=precious)
    assert precious.read_text() == "not a run\n"
    with pytest.raises(OSError, match=r"notes\.txt"):
        WorkingProcessFacade(record=precious / "run.jsonl")  # a file where a folder should be
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(OSError, match="not a regular file"):
        WorkingProcessFacade(record=fifo)
    with pytest.raises(TypeError):
        WorkingProcessFacade(record=1.5)  # type: ignore[arg-type]
    earlier = tmp_path / "earlier.jsonl"
    with WorkingProcessFacade(record=earlier):
        pass
    with WorkingProcessFacade(record=earlier) as again:  # an earlier run is replaced
        again.process_task(SquareTask("x", 2))
    assert list(read_run(earlier).tasks()) == ["x"]


def test_a_write_error_later_is_a_warning_and_a_problem_not_a_crash(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "run.jsonl"
    w = WorkingProcessFacade(record=path)
    recorder = w._recorder
    assert recorder is not None

    def disk_full(text: str) -> None:
        raise OSError(28, "No space left on device")

    recorder._write = disk_full  # type: ignore[method-assign]
    tasks = [SquareTask(f"t{n}", n) for n in range(20)]
    with caplog.at_level(logging.WARNING, logger="app.core"):
        for task in tasks:
            assert w.process_task(task)
        wait_for(w, lambda: bool(w.record_problems))
        wait_for(w, all_final(tasks))
        w.collect_tasks()
    assert [t.state for t in tasks] == [TaskState.DONE] * 20
    assert "No space left on device" in w.record_problems[0]
    assert any("recording stopped" in r.getMessage() for r in caplog.records)
    run = read_run(path)  # the header made it; the rest did not
    assert not run.complete and run.problems == []


def test_process_task_never_waits_for_a_stalled_writer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(recording, "MAX_BACKLOG", 500)
    path = tmp_path / "run.jsonl"
    w = WorkingProcessFacade(record=path)
    recorder = w._recorder
    assert recorder is not None
    release = threading.Event()
    stalled = threading.Event()
    write = recorder._write

    def stuck(text: str) -> None:
        stalled.set()
        release.wait(600)  # a disk that does not answer, for longer than the test may run
        write(text)

    recorder._write = stuck  # type: ignore[method-assign]
    tasks = [SquareTask(f"t{n}", n) for n in range(3000)]
    assert stalled.wait(10)
    try:
        # Were process_task (or the facade's threads) to wait for the writer, this would
        # hang until the test's timeout: the writer is stuck until release.
        for task in tasks:
            assert w.process_task(task)
        wait_for(w, all_final(tasks), 60)
        assert not release.is_set() and recorder._thread.is_alive()
    finally:
        release.set()
    w.collect_tasks()
    run = read_run(path)
    assert run.complete
    assert run.dropped > 0 and run.events[-1]["dropped"] == run.dropped
    assert any("not recorded" in p for p in run.problems)
    assert any("not recorded" in p for p in w.record_problems)


def test_a_dropped_facade_ends_its_file(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    w = WorkingProcessFacade(record=path)
    w.process_task(SquareTask("x", 2))
    finalizer: Any = w._finalizer
    del w
    finalizer()  # what garbage collection does
    run = read_run(path)
    assert run.complete and run.events[-1]["how"] == "abandoned"


def test_lines_reach_the_file_while_the_run_goes_on_a_death_at_once(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    with WorkingProcessFacade(restart=True, record=path) as w:
        ok = SquareTask("ok", 2)
        w.process_task(ok)
        wait_for(w, all_final([ok]))
        seen_done = time.monotonic()
        wait_until_in_file(path, '"state":"DONE"', seen_done)
        crash = CrashTask("crash", "kill")
        w.process_task(crash)
        wait_for(w, all_final([crash]))
        wait_until_in_file(path, '"e":"worker_died"', time.monotonic())


def wait_until_in_file(path: Path, text: str, since: float) -> None:
    """The line is in the file within about the writer's period (0.05 s; 0.5 s allowed)."""
    while text not in path.read_text():
        assert time.monotonic() - since < 0.5, f"{text} not written within 0.5 s"
        time.sleep(0.005)  # polling a file: there is nothing to wait on
