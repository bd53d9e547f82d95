"""``python -m app open FILE`` and ``python -m app watch [FILE]`` from a terminal: problems
said before any window opens, and a window that opens on the run and quits on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from app.core import SimpleTask, WorkingProcessFacade

pytestmark = pytest.mark.timeout(60)
ROOT = Path(__file__).resolve().parents[2]


def app(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )


def test_open_refuses_a_missing_or_foreign_file_with_one_line(tmp_path: Path) -> None:
    missing = app("open", str(tmp_path / "nowhere.jsonl"))
    assert missing.returncode == 2 and "No such file" in missing.stderr
    foreign = tmp_path / "notes.jsonl"
    foreign.write_text('{"hello": 1}\n')
    refused = app("open", str(foreign))
    assert refused.returncode == 2 and "not a run recording" in refused.stderr
    assert "Traceback" not in missing.stderr + refused.stderr


def test_watch_without_a_live_run_says_how_to_make_one(tmp_path: Path) -> None:
    env = dict(os.environ, WORKER_MONITOR_RUNS=str(tmp_path))
    done = app("watch", env=env)
    assert done.returncode == 2
    assert "no run is being recorded" in done.stderr and "WORKER_MONITOR_RECORD=1" in done.stderr


def test_open_shows_the_run_and_quits_on_sigterm(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    with WorkingProcessFacade(record=path) as w:
        w.process_task(SimpleTask("one", 0.0))
        w.collect_tasks(timeout=30)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONUNBUFFERED="1")
    window = subprocess.Popen(
        [sys.executable, "-m", "app", "open", str(path)],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert window.stderr is not None
        for line in window.stderr:
            if f"replaying {path}" in line:
                break
        window.send_signal(signal.SIGTERM)
        assert window.wait(timeout=30) == 0
    finally:
        window.kill()
        window.wait(timeout=10)
        if window.stderr is not None:
            window.stderr.close()
