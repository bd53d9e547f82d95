"""The runs folder: live runs told from finished ones, and its size kept under a cap
without ever removing a run that is being written."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.core import SimpleTask, WorkingProcessFacade
from app.core.run_folder import is_live, list_runs, prune_runs

pytestmark = pytest.mark.timeout(60)


def finished_run(folder: Path, name: str, size: int, age: float) -> Path:
    path = folder / name
    path.write_bytes(b'{"format":"worker-monitor-run","version":1}\n' + b" " * size + b"\n")
    stamp = 1_700_000_000 + age
    os.utime(path, (stamp, stamp))
    return path


def test_the_oldest_finished_runs_go_first_and_a_live_one_never(tmp_path: Path) -> None:
    old = finished_run(tmp_path, "run-old.jsonl", 4000, 1)
    middle = finished_run(tmp_path, "run-middle.jsonl", 4000, 2)
    new = finished_run(tmp_path, "run-new.jsonl", 4000, 3)
    (tmp_path / "notes.txt").write_text("not a run")
    data = tmp_path / "my-dataset.jsonl"  # the user's own JSON Lines: never a run to prune
    data.write_text('{"x": 1}\n' * 2000)
    os.utime(data, (1_500_000_000, 1_500_000_000))
    (tmp_path / "link.jsonl").symlink_to(new)
    with WorkingProcessFacade(record=tmp_path / "run-live.jsonl") as w:
        live = w.record_path
        assert live is not None
        os.utime(live, (1_600_000_000, 1_600_000_000))  # the oldest of all, and live
        assert is_live(live) and not is_live(old)
        runs = list_runs(tmp_path)
        assert [r.path for r in runs] == [new, middle, old, live]
        assert [r.live for r in runs] == [False, False, False, True]
        removed = prune_runs(9000, tmp_path)
        assert removed == [old]  # the live run is older still, and stays
        assert prune_runs(0, tmp_path) == [middle, new]
        assert live.exists() and w.process_task(SimpleTask("after", 0.0))
    assert not is_live(live)  # the writer is done: its lock is gone
    assert (tmp_path / "notes.txt").exists() and (tmp_path / "link.jsonl").is_symlink()
    assert data.exists() and prune_runs(0, tmp_path) == [live]  # the run, once finished
    assert data.exists() and is_live(tmp_path / "link.jsonl") is False


def test_a_missing_folder_holds_no_runs(tmp_path: Path) -> None:
    assert list_runs(tmp_path / "nowhere") == [] and prune_runs(0, tmp_path / "nowhere") == []
