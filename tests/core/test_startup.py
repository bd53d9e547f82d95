"""A worker that dies while starting: no respawn loop, a clear word, tasks LOST."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

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
