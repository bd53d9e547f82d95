"""More workers than this process can hold are refused before any starts: the facade
starts them all at once, so 10**6 would spawn until the machine gave out."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from app.core import WorkingProcessFacade
from app.core.room import worker_room
from tests.core.helpers import finish

ROOT = Path(__file__).resolve().parent.parent
LIMIT = 256  # open files: room for (256 - 32) // 12 = 18 workers


def _few_files() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (LIMIT, LIMIT))


@pytest.fixture
def few_files() -> Iterator[None]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (LIMIT, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_the_facade_refuses_more_workers_than_its_open_file_limit_holds(
    few_files: None,
) -> None:
    assert worker_room() == 18
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    with pytest.raises(
        ValueError, match=r"workers=1000 is more .*\(RLIMIT_NOFILE\) leaves room for 18"
    ):
        WorkingProcessFacade(1000)
    with pytest.raises(ValueError, match="workers=1000000 is more"):
        WorkingProcessFacade(10**6)
    assert {p.pid for p in psutil.Process().children(recursive=True)} <= before


def test_the_window_command_refuses_them_before_any_window_opens() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "--workers", "1000"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "QT_QPA_PLATFORM": "offscreen"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_few_files,
    )
    out, err = finish(process, 60)
    assert process.returncode == 2, (out, err)
    assert "--workers 1000 is more than this process can hold (18)" in err
    assert "Traceback" not in err
