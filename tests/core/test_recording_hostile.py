"""Recording a run against a hostile caller: two facades on one file, the disk filling
mid-run, results whose ``repr`` misbehaves."""

from __future__ import annotations

import errno
import fcntl
import os
import re
import stat
from pathlib import Path

import pytest

from app.core import WorkingProcessFacade, read_run, recording
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


def test_a_failed_write_counts_the_events_it_was_writing(tmp_path: Path) -> None:
    """A full disk: the events of the write that failed are counted as lost too."""
    w = WorkingProcessFacade(record=tmp_path / "run.jsonl")
    recorder = w._recorder
    assert recorder is not None

    def disk_full(text: str) -> None:
        if text:
            raise OSError(28, "No space left on device")

    recorder._write = disk_full  # type: ignore[method-assign]
    task = SquareTask("only", 3)
    with w:
        assert w.process_task(task)
        wait_for(w, lambda: bool(w.record_problems))
        wait_for(w, all_final([task]))
    lost = int(re.search(r"\((.*)\); (\d+) event", w.record_problems[0]).group(2))  # type: ignore[union-attr]
    assert lost >= 1, w.record_problems


class _Sneaky(str):
    """A long str whose slicing and length raise: a result may be any object."""

    def __getitem__(self, key: object) -> str:
        raise RuntimeError("no slicing")

    def __len__(self) -> int:
        raise RuntimeError("no length")


class _SneakyBytes(bytes):
    def __getitem__(self, key: object) -> bytes:  # type: ignore[override]
        raise RuntimeError("no slicing")


def test_a_result_whose_slicing_or_length_raises_is_described() -> None:
    assert recording.result_text(_Sneaky("x" * 5000)) == ("<repr failed: RuntimeError>", None)
    assert recording.result_text(_SneakyBytes(b"x" * 5000)) == (
        "<repr failed: RuntimeError>",
        None,
    )


@pytest.mark.parametrize("folder", [False, True])
def test_run_files_are_0600_whatever_the_umask(tmp_path: Path, folder: bool) -> None:
    old = os.umask(0o377)
    try:
        w = WorkingProcessFacade(record=tmp_path / "runs" if folder else tmp_path / "run.jsonl")
    finally:
        os.umask(old)
    with w:
        pass
    assert w.record_path is not None
    assert stat.S_IMODE(os.stat(w.record_path).st_mode) == 0o600


def test_a_file_system_without_locks_or_modes_still_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Some network and FUSE file systems refuse flock (ENOLCK) or chmod (EPERM)."""

    def unsupported(*args: object) -> None:
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", unsupported)
    monkeypatch.setattr(os, "fchmod", unsupported)
    path = tmp_path / "run.jsonl"
    for _ in range(2):  # a new file, then an earlier run replaced
        with WorkingProcessFacade(record=path) as w:
            w.process_task(SquareTask("x", 2))
        assert read_run(path).complete
