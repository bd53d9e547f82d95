"""A worker that dies while starting: no respawn loop, a clear word, tasks LOST."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from app.core.handle import WorkerHandle

REPO = Path(__file__).resolve().parents[2]

# No ``if __name__ == "__main__":`` guard: each spawned worker re-runs this script, which
# tries to start a facade of its own while still bootstrapping, and dies (exit code 1).
UNGUARDED = textwrap.dedent(
    """
    from app.core import SimpleTask, WorkingProcessFacade

    w = WorkingProcessFacade(restart=True)
    w.process_task(SimpleTask("a", 0.1))
    for t in w.collect_tasks(timeout=30):
        print("RESULT", t.ID, t.state.name, t.error)
    print("WORKERS", len(w.worker_info()), w.worker_info()[0].restarts)
    """
)


@pytest.mark.timeout(60)
def test_worker_dying_while_starting_is_not_restarted_in_a_loop(tmp_path: Path) -> None:
    script = tmp_path / "unguarded.py"
    script.write_text(UNGUARDED)
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=50,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "RESULT a LOST" in done.stdout
    assert "while starting" in done.stdout
    assert "WORKERS 1 0" in done.stdout  # never replaced: a replacement would die the same
    assert "if __name__ == '__main__'" in done.stderr  # the likely cause, named


def test_a_worker_that_fails_to_start_leaves_no_process_and_no_fd(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The second of two workers cannot start: the facade's constructor raises, the first
    worker is killed and reaped, and every descriptor the facade opened is closed."""
    from app.core import WorkingProcessFacade, pool

    started: list[int] = []

    def second_fails(*args: Any, **kwargs: Any) -> WorkerHandle:
        if started:
            raise OSError("no more processes")
        h = WorkerHandle(*args, **kwargs)
        started.append(h.pid)
        return h

    def open_fds() -> set[str]:
        return set(os.listdir("/proc/self/fd"))

    WorkingProcessFacade(1).close()  # one-time resources (resource tracker...) opened now
    gc.collect()  # its shared memory back in multiprocessing's heap, which keeps the arena
    before = open_fds()
    monkeypatch.setattr(pool, "WorkerHandle", second_fails)
    with pytest.raises(OSError, match="no more processes"):
        WorkingProcessFacade(2)
    assert started, "the first worker should have started"
    assert not os.path.exists(f"/proc/{started[0]}"), "the first worker was left running"
    gc.collect()  # the failed facade is garbage in a cycle; its shared memory goes with it
    left = sorted(open_fds() - before)
    assert not left, f"descriptors left open: {[os.readlink(f'/proc/self/fd/{fd}') for fd in left]}"
